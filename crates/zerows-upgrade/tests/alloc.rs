//! Proof of the zero-allocation promise: a counting global allocator around a full server
//! upgrade and a full client handshake over in-memory streams.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::MemStream;
use zerows_upgrade::Key;
use zerows_upgrade::client::{self, ClientRequest};
use zerows_upgrade::server::{
    self, AcceptedExtensions, ExtensionOffers, HeaderWriter, HookResult, Hooks, Protocols, Upgrader,
};

struct Counting;

thread_local! {
    /// Tests run on several threads: each counts only its own allocations, and only inside
    /// the measured region. `const` thread-locals without destructors never allocate.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.with(Cell::get))
}

#[test]
fn the_counter_counts() {
    let (b, n) = allocations(|| std::hint::black_box(Box::new([7u8; 32])));
    assert_eq!(*b, [7u8; 32]);
    assert_eq!(n, 1, "the counting allocator must see a Box");
}

/// Hooks that exercise every callback, including formatted response headers and extensions.
struct Busy {
    headers: usize,
}

impl Hooks for Busy {
    fn on_request(&mut self, target: &str) -> HookResult {
        assert_eq!(target, "/chat?room=1");
        Ok(())
    }
    fn on_host(&mut self, host: &[u8]) -> HookResult {
        assert_eq!(host, b"localhost:8080");
        Ok(())
    }
    fn on_header(&mut self, _name: &str, _value: &[u8]) -> HookResult {
        self.headers += 1;
        Ok(())
    }
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        zerows_upgrade::origin::AllowList::new(&["http://localhost:8080"]).check(origin, host)
    }
    fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
        offered.find(|p| *p == "chat.v1")
    }
    fn negotiate_extensions(
        &mut self,
        offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> HookResult {
        for e in offered {
            if e.name() == "permessage-deflate" && accepted.is_empty() {
                accepted.push_extension(&e).expect("fits");
            }
        }
        Ok(())
    }
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header_fmt(
            "Set-Cookie",
            format_args!("sid={:08x}; HttpOnly", 0xdead_beef_u32),
        );
    }
}

const REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\n\
    Host: localhost:8080\r\n\
    Connection: Upgrade\r\n\
    Upgrade: websocket\r\n\
    Origin: http://localhost:8080\r\n\
    Sec-WebSocket-Version: 13\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
    Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n\
    \r\n\x81\x80\x00\x00\x00\x00";

#[test]
fn server_upgrade_allocates_nothing() {
    let mut stream = MemStream::split(REQUEST, &[100, 7, 1]);
    let mut upgrader = Upgrader::with_hooks(Busy { headers: 0 });
    let mut buf = [0u8; 2048];
    let ((protocol, ext, leftover), n) = allocations(|| {
        let up = server::accept(&mut stream, &mut upgrader, &mut buf).expect("accepted");
        (
            up.protocol() == Some("chat.v1"),
            up.extensions().is_some(),
            up.leftover().len(),
        )
    });
    assert_eq!(n, 0, "a server upgrade must not allocate");
    assert!(protocol && ext);
    assert_eq!(leftover, 6);
    assert_eq!(upgrader.hooks().headers, 9);
    let out = std::str::from_utf8(stream.output()).unwrap();
    assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
    assert!(
        out.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    );
    assert!(out.contains("Set-Cookie: sid=deadbeef; HttpOnly\r\n"));
}

#[test]
fn server_rejection_allocates_nothing() {
    let bad = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let mut stream = MemStream::new(bad);
    let mut buf = [0u8; 1024];
    let (r, n) =
        allocations(|| server::accept(&mut stream, &mut Upgrader::new(), &mut buf).map(|_| ()));
    assert_eq!(n, 0);
    assert_eq!(r.unwrap_err().status().map(|s| s.as_u16()), Some(426));
    assert!(
        stream
            .output()
            .starts_with(b"HTTP/1.1 426 Upgrade Required\r\n")
    );
}

const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
    \r\n\x81\x02hi";

#[test]
fn client_handshake_allocates_nothing() {
    let mut stream = MemStream::split(RESPONSE, &[10, 50]);
    let mut buf = [0u8; 1024];
    let key = Key::from_nonce(*b"the sample nonce");
    let ((protocol, ext, leftover), n) = allocations(|| {
        let request = ClientRequest::new("server.example.com", "/chat", key)
            .protocols(&["chat", "superchat"])
            .extensions("permessage-deflate; client_max_window_bits")
            .origin("http://example.com")
            .headers(&[("Authorization", "Bearer abc")]);
        let hs = client::handshake(&mut stream, &request, &mut buf).expect("handshake");
        let ext = hs
            .negotiated()
            .extensions()
            .next()
            .map(|e| e.name() == "permessage-deflate");
        (
            hs.protocol() == Some("chat"),
            ext,
            hs.leftover() == b"\x81\x02hi",
        )
    });
    assert_eq!(n, 0, "a client handshake must not allocate");
    assert!(protocol && leftover);
    assert_eq!(ext, Some(true));
    assert!(
        stream
            .output()
            .starts_with(b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n")
    );
}

#[test]
fn random_key_allocates_nothing() {
    let (k, n) = allocations(Key::random);
    assert_eq!(n, 0);
    assert!(zerows_upgrade::is_valid_key(k.unwrap().as_bytes()));
}
