//! The `json` feature: `send_json`/`read_json` on the blocking connection, the tokio connection
//! and the halves of each, against tungstenite as the peer over loopback TCP. The same script
//! runs through all four: borrowed fields point into the connection's buffer, bad JSON is an
//! error of that read only (no close frame, the next read works), binary JSON is accepted, a
//! value that cannot be serialized sends nothing. A counting allocator gives the cost per message.
#![cfg(feature = "json")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::thread;

use serde::{Deserialize, Serialize};
use serde_json::error::Category;
use tungstenite::Message as TMessage;
use zerows_util::{Config, Error, Role, WebSocket};

/// What the peer sends: `text` borrows from the connection's buffer unless it has escapes.
#[derive(Debug, Deserialize)]
struct Chat<'a> {
    room: &'a str,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct Reply<'a> {
    ok: bool,
    room: &'a str,
}

/// The messages the peer sends, in order (`None`: a ping).
fn peer_messages() -> Vec<Option<TMessage>> {
    vec![
        Some(TMessage::text(r#"{"room":"lobby","text":"hello"}"#)),
        Some(TMessage::text(r#"{"room":"lobby","#)), // cut short
        Some(TMessage::text(r#"{"room":7,"text":"x"}"#)), // wrong shape
        None,
        Some(TMessage::binary(&br#"{"room":"bin","text":"ary"}"#[..])),
        Some(TMessage::binary(&b"{\"room\":\"\xff\",\"text\":\"x\"}"[..])), // not UTF-8
        Some(TMessage::text(r#"{"room":"esc","text":"a\"b"}"#)),
    ]
}

/// The tungstenite client: sends [`peer_messages`], then collects what it receives until the
/// server's `after` text, closes, and returns everything it got.
fn peer(addr: SocketAddr) -> Vec<TMessage> {
    let stream = TcpStream::connect(addr).unwrap();
    let (mut c, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    for m in peer_messages() {
        c.send(m.unwrap_or_else(|| TMessage::Ping(b"p".to_vec().into())))
            .unwrap();
    }
    let mut got = Vec::new();
    loop {
        match c.read() {
            Ok(m) => {
                let last = m == TMessage::text("after");
                got.push(m);
                if last {
                    c.close(None).unwrap();
                }
            }
            Err(tungstenite::Error::ConnectionClosed) => return got,
            Err(e) => panic!("peer: {e}"),
        }
    }
}

/// What the peer must have received: the reply to the first message, the pong, `after`, and the
/// echo of its own close — no close frame of ours for the bad messages.
fn expected() -> Vec<TMessage> {
    vec![
        TMessage::text(r#"{"ok":true,"room":"lobby"}"#),
        TMessage::Pong(b"p".to_vec().into()),
        TMessage::text("after"),
        TMessage::Close(None),
    ]
}

fn json_category(r: Result<Chat<'_>, Error>) -> Category {
    match r {
        Err(Error::Json(e)) => e.classify(),
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

/// The server side of the conversation, on any reader and writer (the same connection, or its
/// two halves), blocking or async (`$($aw)*` is `.await` or nothing).
macro_rules! server_script {
    ($read:expr, $write:expr, $($aw:tt)*) => {{
        let chat: Chat<'_> = $read.read_json()$($aw)*.unwrap();
        assert_eq!((chat.room, &*chat.text), ("lobby", "hello"));
        assert!(matches!(chat.text, Cow::Borrowed(_)), "no copy: {chat:?}");
        $write.send_json(&Reply { ok: true, room: "lobby" })$($aw)*.unwrap();

        assert_eq!(json_category($read.read_json()$($aw)*), Category::Eof);
        assert_eq!(json_category($read.read_json()$($aw)*), Category::Data);
        // The ping before it was answered on the way; binary JSON is accepted.
        let chat: Chat<'_> = $read.read_json()$($aw)*.unwrap();
        assert_eq!((chat.room, &*chat.text), ("bin", "ary"));
        assert_eq!(json_category($read.read_json()$($aw)*), Category::Syntax);
        let chat: Chat<'_> = $read.read_json()$($aw)*.unwrap();
        assert_eq!((chat.room, &*chat.text), ("esc", "a\"b"));
        assert!(matches!(chat.text, Cow::Owned(_)), "an escape needs a copy");

        // Keys that are not strings cannot be JSON: nothing is sent.
        let bad: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!($write.send_json(&bad)$($aw)*, Err(Error::Json(_))));
        $write.send_text("after")$($aw)*.unwrap();
        // The peer's close ends a JSON read as it ends `read_into`.
        assert!(matches!($read.read_json::<Chat<'_>>()$($aw)*, Err(Error::Closed)));
    }};
}

/// Runs `server` on the accepted stream while a tungstenite client plays [`peer`].
fn with_peer(server: impl FnOnce(TcpStream) + Send + 'static) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || server(listener.accept().unwrap().0));
    let got = peer(addr);
    server.join().unwrap();
    assert_eq!(got, expected());
}

#[test]
fn blocking_connection_reads_and_sends_json_and_survives_bad_json() {
    with_peer(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        server_script!(ws, ws,);
    });
}

#[test]
fn blocking_halves_read_and_send_json() {
    with_peer(|stream| {
        let (mut read, write) = WebSocket::accept(stream).unwrap().split().unwrap();
        server_script!(read, write,);
    });
}

#[cfg(feature = "tokio")]
fn tokio_server(stream: TcpStream, split: bool) {
    use zerows_util::AsyncWebSocket;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        stream.set_nonblocking(true).unwrap();
        let stream = tokio::net::TcpStream::from_std(stream).unwrap();
        let mut ws = AsyncWebSocket::accept(stream).await.unwrap();
        if split {
            let (mut read, write) = ws.split();
            server_script!(read, write, .await);
        } else {
            server_script!(ws, ws, .await);
        }
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_connection_reads_and_sends_json_and_survives_bad_json() {
    with_peer(|stream| tokio_server(stream, false));
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_halves_read_and_send_json() {
    with_peer(|stream| tokio_server(stream, true));
}

#[test]
fn owned_types_deserialize_too() {
    #[derive(Deserialize, PartialEq, Debug)]
    struct Owned {
        room: String,
        n: u32,
    }
    let (a, b) = UnixStream::pair().unwrap();
    let mut client = WebSocket::from_raw(a, Role::Client, &[], Config::default());
    let mut server = WebSocket::from_raw(b, Role::Server, &[], Config::default());
    client
        .send_json(&serde_json::json!({"room": "x", "n": 2}))
        .unwrap();
    client.send_json(&[1, 2, 3]).unwrap();
    let owned: Owned = server.read_json().unwrap();
    drop(client);
    // The value outlives the next read (which fails: the peer is gone).
    let v: serde_json::Value = server.read_json().unwrap();
    assert!(server.read_json::<Owned>().is_err());
    assert_eq!(
        owned,
        Owned {
            room: "x".into(),
            n: 2
        }
    );
    assert_eq!(v, serde_json::json!([1, 2, 3]));
}

// ---- allocations per message ------------------------------------------------------------------

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on.
    static COUNT: Cell<(bool, u64)> = const { Cell::new((false, 0)) };
}

fn count_one() {
    let _ = COUNT.try_with(|c| {
        let (on, n) = c.get();
        if on {
            c.set((on, n + 1));
        }
    });
}

// SAFETY: defers to the system allocator; the counter is a const-initialised thread-local Cell,
// which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting<T>(f: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|c| c.set((true, 0)));
    let r = f();
    let n = COUNT.with(|c| {
        let (_, n) = c.get();
        c.set((false, 0));
        n
    });
    (r, n)
}

#[test]
fn the_counter_counts() {
    let (b, n) = counting(|| Box::new(7u64));
    assert_eq!(*b, 7);
    assert_eq!(n, 1);
}

#[derive(Serialize, Deserialize)]
struct Tick<'a> {
    seq: u64,
    room: &'a str,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

const TEXT: &str = "the quick brown fox jumps over the lazy dog";

/// One round: the client sends a `Tick`, the server reads it (borrowed) and answers with one,
/// the client reads the answer.
fn round(client: &mut WebSocket<UnixStream>, server: &mut WebSocket<UnixStream>, seq: u64) {
    let tick = Tick {
        seq,
        room: "lobby",
        text: Cow::Borrowed(TEXT),
    };
    client.send_json(&tick).unwrap();
    let got: Tick<'_> = server.read_json().unwrap();
    assert!(got.seq == seq && got.room == "lobby" && matches!(got.text, Cow::Borrowed(TEXT)));
    server.send_json(&tick).unwrap();
    let back: Tick<'_> = client.read_json().unwrap();
    assert_eq!(back.seq, seq);
}

const WARMUP: u64 = 100;
const ROUNDS: u64 = 10_000;

/// With the pooled buffers of the default `Config`, JSON costs no allocation per message in
/// steady state: serialized into a pooled buffer, deserialized from the connection's buffer.
#[test]
fn json_round_trips_allocate_nothing_in_steady_state() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut client = WebSocket::from_raw(a, Role::Client, &[], Config::default());
    let mut server = WebSocket::from_raw(b, Role::Server, &[], Config::default());
    for seq in 0..WARMUP {
        round(&mut client, &mut server, seq);
    }
    let ((), n) = counting(|| {
        for seq in WARMUP..WARMUP + ROUNDS {
            round(&mut client, &mut server, seq);
        }
    });
    eprintln!("pooled: {n} allocations for {ROUNDS} rounds (2 JSON messages sent and read each)");
    assert_eq!(n, 0, "{n} allocations for {ROUNDS} rounds");
}

/// Without a pool, `send_json` allocates its buffer once per message (the price the docs state:
/// one allocation up to 256 bytes of JSON), and nothing else does: reading stays
/// allocation-free.
#[test]
fn without_a_pool_each_send_allocates_its_buffer() {
    let (a, b) = UnixStream::pair().unwrap();
    let config = Config::default().without_pool();
    let mut client = WebSocket::from_raw(a, Role::Client, &[], config.clone());
    let mut server = WebSocket::from_raw(b, Role::Server, &[], config);
    for seq in 0..WARMUP {
        round(&mut client, &mut server, seq);
    }
    let ((), n) = counting(|| {
        for seq in WARMUP..WARMUP + ROUNDS {
            round(&mut client, &mut server, seq);
        }
    });
    eprintln!("without pool: {n} allocations for {ROUNDS} rounds (2 sends each)");
    assert_eq!(n, 2 * ROUNDS);
}

/// The same rounds over tokio (a current-thread runtime, so the counter sees every allocation;
/// `tokio::io::duplex` as the transport).
#[cfg(feature = "tokio")]
#[test]
fn async_json_round_trips_allocate_nothing_in_steady_state() {
    use zerows_util::AsyncWebSocket;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = tokio::io::duplex(64 << 10);
        let mut client = AsyncWebSocket::from_raw(a, Role::Client, &[], Config::default());
        let mut server = AsyncWebSocket::from_raw(b, Role::Server, &[], Config::default());
        let tick = |seq| Tick {
            seq,
            room: "lobby",
            text: Cow::Borrowed(TEXT),
        };
        let mut n = 0;
        for seq in 0..WARMUP + ROUNDS {
            if seq == WARMUP {
                COUNT.with(|c| c.set((true, 0)));
            }
            client.send_json(&tick(seq)).await.unwrap();
            let got: Tick<'_> = server.read_json().await.unwrap();
            assert!(got.seq == seq && matches!(got.text, Cow::Borrowed(TEXT)));
            server.send_json(&tick(seq)).await.unwrap();
            let back: Tick<'_> = client.read_json().await.unwrap();
            assert_eq!(back.seq, seq);
        }
        COUNT.with(|c| {
            n = c.get().1;
            c.set((false, 0));
        });
        eprintln!("tokio, pooled: {n} allocations for {ROUNDS} rounds");
        assert_eq!(n, 0, "{n} allocations for {ROUNDS} rounds");
    });
}
