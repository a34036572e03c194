//! Zero allocation in steady state, proven with a counting global allocator: after warm-up,
//! reading and writing 10,000 messages (and answering pings) allocates nothing, as a server and as
//! a client, with owned and with pooled buffers, sending each reply at once or feeding it to the
//! write queue.
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

use zerows_frame::{OpCode, Role, encode_frame_vec};
use zerows_util::{BufferPool, Config, WebSocket};

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on.
    static COUNT: Cell<(bool, u64)> = const { Cell::new((false, 0)) };
}

// SAFETY: defers to the system allocator; the counter is a const-initialised thread-local Cell,
// which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| {
            let (on, n) = c.get();
            if on {
                c.set((on, n + 1));
            }
        });
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| {
            let (on, n) = c.get();
            if on {
                c.set((on, n + 1));
            }
        });
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

const WARMUP: usize = 200;
const MESSAGES: usize = 10_000;

/// The frames a raw peer of `ws_role` sends: messages of varying sizes, every 10th preceded by a
/// ping, every 7th fragmented in two.
fn peer_stream(ws_role: Role, count: usize) -> Vec<u8> {
    let mask = (ws_role == Role::Server).then_some([9, 8, 7, 6]);
    let mut out = Vec::new();
    for i in 0..count {
        if i % 10 == 0 {
            encode_frame_vec(&mut out, OpCode::Ping, true, mask, b"ping");
        }
        let len = [16usize, 125, 1000, 5000, 20_000][i % 5];
        let payload = vec![b'a' + (i % 26) as u8; len];
        if i % 7 == 0 {
            encode_frame_vec(&mut out, OpCode::Text, false, mask, &payload[..len / 2]);
            encode_frame_vec(
                &mut out,
                OpCode::Continuation,
                true,
                mask,
                &payload[len / 2..],
            );
        } else {
            encode_frame_vec(&mut out, OpCode::Text, true, mask, &payload);
        }
    }
    out
}

/// Echoes every message back with `send_message`, or with `feed` (queued, written when the next read
/// has to wait).
fn run(role: Role, config: Config, feed: bool) {
    let (a, b) = UnixStream::pair().unwrap();
    let wire = peer_stream(role, WARMUP + MESSAGES);
    let mut b_write = b.try_clone().unwrap();
    let writer = thread::spawn(move || b_write.write_all(&wire).unwrap());
    // the peer drains everything we send back
    let mut b_read = b;
    let reader = thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        let mut total = 0usize;
        loop {
            match b_read.read(&mut sink) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });

    let mut ws = WebSocket::from_raw(a, role, &[], config);
    let mut buf = Vec::with_capacity(32 << 10);
    for _ in 0..WARMUP {
        let op = ws.read_into(&mut buf).unwrap();
        echo(&mut ws, op, &buf, feed);
    }
    let (bytes, allocations) = counting(|| {
        let mut bytes = 0;
        for _ in 0..MESSAGES {
            let op = ws.read_into(&mut buf).unwrap();
            echo(&mut ws, op, &buf, feed);
            bytes += buf.len();
        }
        ws.flush().unwrap();
        bytes
    });
    assert!(bytes > MESSAGES * 16);
    assert_eq!(
        allocations, 0,
        "{role:?}: {allocations} allocations in steady state"
    );
    writer.join().unwrap();
    ws.get_mut().shutdown(std::net::Shutdown::Both).unwrap();
    let echoed = reader.join().unwrap();
    assert!(echoed > bytes, "echoes and pongs reached the peer");
}

fn echo(ws: &mut WebSocket<UnixStream>, op: OpCode, payload: &[u8], feed: bool) {
    if feed {
        ws.feed_message(op, payload).unwrap();
    } else {
        ws.send_message(op, payload).unwrap();
    }
}

#[test]
fn server_steady_state_allocates_nothing() {
    run(Role::Server, Config::default(), false);
}

#[test]
fn client_steady_state_allocates_nothing() {
    run(Role::Client, Config::default(), false);
}

#[test]
fn pooled_server_steady_state_allocates_nothing() {
    run(
        Role::Server,
        Config::default().pool(BufferPool::new(4)),
        false,
    );
}

#[test]
fn pooled_client_steady_state_allocates_nothing() {
    run(
        Role::Client,
        Config::default().pool(BufferPool::new(4)),
        false,
    );
}

#[test]
fn fed_server_steady_state_allocates_nothing() {
    run(Role::Server, Config::default(), true);
}

#[test]
fn fed_client_steady_state_allocates_nothing() {
    run(Role::Client, Config::default(), true);
}

#[test]
fn fed_pooled_server_steady_state_allocates_nothing() {
    run(
        Role::Server,
        Config::default().pool(BufferPool::new(4)),
        true,
    );
}

#[test]
fn fed_pooled_client_steady_state_allocates_nothing() {
    run(
        Role::Client,
        Config::default().pool(BufferPool::new(4)),
        true,
    );
}

/// The tokio connection against the same raw peer: the borrowed echo (`read_into` +
/// `feed_message`) allocates nothing in steady state, and the `futures` path (`Stream::next` +
/// `Sink::feed` of an `OwnedMessage`) allocates exactly one `Bytes` per item it yields, the one
/// copy out of the connection's buffers (the figure in docs/benchmarks.md). Returns the
/// allocations counted over `MESSAGES` messages (and their pings).
#[cfg(feature = "futures")]
fn run_async(owned: bool) -> (u64, u64) {
    use futures_util::{SinkExt, StreamExt};
    use zerows_util::AsyncWebSocket;

    let (a, b) = UnixStream::pair().unwrap();
    // A longer warm-up than the blocking runs': tokio grows its own deferred-wake list the first
    // time a task's budget runs out (one 64-byte allocation, not ours).
    let warmup = 10 * WARMUP;
    let wire = peer_stream(Role::Server, warmup + MESSAGES);
    let mut b_write = b.try_clone().unwrap();
    let writer = thread::spawn(move || b_write.write_all(&wire).unwrap());
    let mut b_read = b;
    let reader = thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        while let Ok(n) = b_read.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let counted = rt.block_on(async move {
        a.set_nonblocking(true).unwrap();
        let io = tokio::net::UnixStream::from_std(a).unwrap();
        let mut ws = AsyncWebSocket::from_raw(io, Role::Server, &[], Config::default());
        let mut buf = Vec::with_capacity(32 << 10);
        // One echo step: returns whether a data message was echoed.
        async fn step(
            ws: &mut AsyncWebSocket<tokio::net::UnixStream>,
            buf: &mut Vec<u8>,
            owned: bool,
        ) -> bool {
            if owned {
                let m = ws.next().await.unwrap().unwrap();
                let data = m.is_data();
                if data {
                    ws.feed(m).await.unwrap();
                }
                data
            } else {
                let op = ws.read_into(buf).await.unwrap();
                ws.feed_message(op, buf).await.unwrap();
                true
            }
        }
        let mut echoed = 0;
        while echoed < warmup {
            echoed += usize::from(step(&mut ws, &mut buf, owned).await);
        }
        COUNT.with(|c| c.set((true, 0)));
        let mut echoed = 0;
        let mut items = 0u64;
        while echoed < MESSAGES {
            echoed += usize::from(step(&mut ws, &mut buf, owned).await);
            items += 1;
        }
        let n = COUNT.with(|c| {
            let (_, n) = c.get();
            c.set((false, 0));
            n
        });
        if owned {
            SinkExt::flush(&mut ws).await.unwrap();
        } else {
            ws.flush().await.unwrap();
        }
        (n, items)
    });
    writer.join().unwrap();
    reader.join().unwrap();
    counted
}

#[cfg(feature = "futures")]
#[test]
fn async_borrowed_echo_allocates_nothing() {
    let (allocations, _) = run_async(false);
    assert_eq!(allocations, 0, "{allocations} allocations in steady state");
}

#[cfg(feature = "futures")]
#[test]
fn stream_and_sink_echo_allocates_one_bytes_per_item() {
    let (allocations, items) = run_async(true);
    eprintln!(
        "Stream + Sink echo: {allocations} allocations for {items} items ({MESSAGES} messages and \
         their pings): {:.3} per item",
        allocations as f64 / items as f64
    );
    assert_eq!(allocations, items, "one copy per item, nothing else");
}
