//! The memory bounds `docs/security.md` ("Limits") promises for a connection's read side, measured
//! with a counting allocator: what a peer can make a connection hold is bounded by what it sent and
//! by the configured limits, not by the sizes it declares.
//!
//! - The message buffer holds at most `max(64 KiB, 2 × the bytes of the message received so far)`,
//!   and never more than `max_message_size`: a frame that declares 16 MiB after 40,000 bytes costs
//!   80,000 bytes, not the 16 MiB it announces (nor the ~4× that `Vec`'s doubling on top of a
//!   reservation used to give, found by the audit of issue 16).
//! - A message of exactly `max_message_size` peaks at the limit plus the read buffer, however it is
//!   fragmented.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use zerows_frame::{OpCode, Role, encode_frame_vec};
use zerows_util::{Config, Error, Message, WebSocket};

struct Counting;
thread_local! {
    /// (counting, live bytes, peak live bytes) of allocations made by this thread.
    static LIVE: Cell<(bool, i64, i64)> = const { Cell::new((false, 0, 0)) };
}
fn track(delta: i64) {
    let _ = LIVE.try_with(|c| {
        let (on, live, peak) = c.get();
        if on {
            let live = live + delta;
            c.set((on, live, peak.max(live)));
        }
    });
}
// SAFETY: defers to the system allocator; the counter is a const thread-local Cell.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as i64);
        // SAFETY: same contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as i64));
        // SAFETY: same contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the change in size: the bounds are on what the buffers hold. (A realloc that
        // moves a block briefly holds the old one too, during the copy; for the large blocks that
        // matter glibc grows in place with mremap.)
        track(new_size as i64 - layout.size() as i64);
        // SAFETY: same contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// The most heap memory this thread allocated and held at once while `f` ran, counting only blocks
/// allocated inside `f` (the connection is created before, so its buffers all come from here).
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|c| c.set((true, 0, 0)));
    let r = f();
    let (_, _, peak) = LIVE.with(|c| c.replace((false, 0, 0)));
    (r, peak.max(0) as usize)
}

const READ_BUFFER: usize = 16 << 10;
/// Small allocations besides the buffers (none expected today; room for a boxed error).
const SLACK: usize = 1024;

/// A fresh server connection (no buffer taken yet) and the peer's socket.
fn server(config: Config) -> (WebSocket<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ws = WebSocket::from_raw(
        a,
        Role::Server,
        &[],
        config.close_timeout(Duration::from_millis(50)),
    );
    (ws, b)
}

/// Writes `bytes` from another thread (the socket buffer is smaller than the larger inputs), then
/// half-closes.
fn send_then_eof(mut peer: UnixStream, bytes: Vec<u8>) -> thread::JoinHandle<UnixStream> {
    thread::spawn(move || {
        let _ = peer.write_all(&bytes);
        let _ = peer.shutdown(Shutdown::Write);
        peer
    })
}

fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_vec(
        &mut out,
        opcode,
        fin,
        Some([0x5a, 0x11, 0xc3, 0x07]),
        payload,
    );
    out
}

/// A masked binary frame header declaring `len` bytes.
fn declared_header(len: u64) -> Vec<u8> {
    let mut out = vec![0x82, 0x80 | 127];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0x5a, 0x11, 0xc3, 0x07]);
    out
}

#[test]
fn a_declared_frame_costs_at_most_twice_what_arrived_beyond_64_kib() {
    for received in [
        0usize, 1_000, 5_000, 40_000, 70_000, 100_000, 300_000, 1_000_000,
    ] {
        let (mut ws, peer) = server(Config::default());
        let mut bytes = declared_header(16 << 20);
        bytes.resize(bytes.len() + received, 0xab);
        let peer = send_then_eof(peer, bytes);
        let (result, peak) = peak_during(|| ws.read().map(|_| ()));
        assert!(
            matches!(result, Err(Error::AbnormalClosure)),
            "{received}: {result:?}"
        );
        let bound = READ_BUFFER + (64 << 10).max(2 * received) + SLACK;
        assert!(
            peak <= bound,
            "{received} bytes of a 16 MiB frame: held {peak} bytes, bound {bound}"
        );
        drop(peer.join());
    }
}

#[test]
fn a_message_at_the_limit_peaks_at_the_limit_plus_the_read_buffer() {
    const LIMIT: usize = 1 << 20;
    let message: Vec<u8> = (0..LIMIT).map(|i| (i % 251) as u8).collect();
    let shapes: [(&str, Vec<usize>); 5] = [
        ("one frame", vec![LIMIT]),
        ("16 × 64 KiB", vec![64 << 10; 16]),
        ("1024 × 1 KiB", vec![1 << 10; 1024]),
        ("100 B then the rest", vec![100, LIMIT - 100]),
        ("uneven", vec![5, 300_000, 7, 700_000, 1, LIMIT - 1_000_013]),
    ];
    for (name, sizes) in shapes {
        assert_eq!(sizes.iter().sum::<usize>(), LIMIT, "{name}");
        let (mut ws, peer) = server(Config::default().max_message_size(LIMIT as u64));
        let mut bytes = Vec::new();
        let mut at = 0;
        for (i, &n) in sizes.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            bytes.extend(client_frame(op, i + 1 == sizes.len(), &message[at..at + n]));
            at += n;
        }
        let peer = send_then_eof(peer, bytes);
        let (got, peak) = peak_during(|| match ws.read() {
            Ok(Message::Binary(b)) => b == &message[..],
            other => panic!("{name}: {other:?}"),
        });
        assert!(got, "{name}: payload differs");
        let bound = LIMIT + READ_BUFFER + SLACK;
        assert!(
            peak <= bound,
            "{name}: a {LIMIT}-byte message held {peak} bytes at its peak, bound {bound}"
        );
        drop(peer.join());
    }
}

#[test]
fn the_counter_sees_a_buffer() {
    let (v, peak) = peak_during(|| vec![1u8; 100_000]);
    assert!((100_000..100_000 + SLACK).contains(&peak), "{peak}");
    drop(v);
}
