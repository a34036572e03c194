//! Zero allocation on the event loop's thread in steady state, proven with a counting global
//! allocator over real sockets: after a warm-up, echoing text and binary messages of 16 B to
//! 8 KiB allocates nothing, whether the connection stays active (messages pipelined) or goes
//! dormant between messages (each message waits for the previous echo: every message wakes the
//! connection). `Config::default()`: no permessage-deflate.
//!
//! Only threads that turned counting on are counted: the loop's thread turns it on in its first
//! `on_open` (the loop thread is the one running callbacks), for good, so everything the loop
//! does (reads, parsing, callbacks, writes, timers, going dormant and waking) is counted, and the
//! tungstenite client on the test's thread is not.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use common::{client, start};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::{Message as WsMessage, WebSocket};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use zerows_poll::{ConnId, Context, EventLoop, Handle, Handler, Opened, Options};
use zerows_upgrade::server::Upgrader;
use zerows_util::{Config, Message};

/// The system allocator, counting the allocations of counted threads.
struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Allocations (and reallocations) made by counted threads.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Counts one allocation if this thread is counted.
fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: defers to the system allocator; the flag is a const-initialised thread-local Cell and
// the counter an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Every allocation of the test binary goes through [`Counting`].
#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time: the counter is the process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the other tests off until dropped.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The message on which [`CountingEcho`] allocates once.
const ALLOCATE: &[u8] = b"allocate";

/// Echoes every message (and allocates once for [`ALLOCATE`]); turns counting on for its (the
/// loop's) thread in `on_open`; counts the messages.
#[derive(Default)]
struct CountingEcho {
    messages: usize,
}

impl Handler for CountingEcho {
    fn on_open(&mut self, _cx: &mut Context<'_>, _id: ConnId, _opened: &Opened<'_>) {
        COUNTED.with(|c| c.set(true));
    }

    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        if message.payload() == ALLOCATE {
            // Proof that the loop's thread is counted.
            std::hint::black_box(Box::new(0u64));
        }
        self.messages += 1;
        cx.send(id, message.opcode(), message.payload())
            .expect("echo");
    }
}

/// Messages echoed before counting (buffers and boxes reach their steady state).
const WARMUP: usize = 500;
/// Messages echoed while counting.
const MESSAGES: usize = 5_000;
/// Messages sent before their echoes are read, in the pipelined test.
const BATCH: usize = 32;

/// The `i`th message: text and binary in turn, 16 B to 8 KiB.
fn message(i: usize) -> WsMessage {
    const SIZES: [usize; 6] = [16, 125, 126, 1000, 4096, 8192];
    let size = SIZES[i % SIZES.len()];
    let byte = b'a' + u8::try_from(i % 26).expect("small");
    if i.is_multiple_of(2) {
        WsMessage::text(String::from_utf8(vec![byte; size]).expect("ascii"))
    } else {
        WsMessage::binary(vec![byte; size])
    }
}

/// Sends messages `from..to` in batches of `batch`, reading each batch's echoes before the next.
fn echo(ws: &mut WebSocket<TcpStream>, from: usize, to: usize, batch: usize) {
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        for j in i..end {
            ws.send(message(j)).expect("send");
        }
        for j in i..end {
            assert_eq!(ws.read().expect("echo"), message(j), "message {j}");
        }
        i = end;
    }
}

/// Allocations on the loop's thread per message, once warmed up, for echoes in batches of
/// `batch`.
fn allocations_per_message(batch: usize) -> f64 {
    allocations_per_message_with(batch, Config::default())
}

/// [`allocations_per_message`] with `config`.
fn allocations_per_message_with(batch: usize, config: Config) -> f64 {
    let server = start(Options::default().threads(1), config, |_| {
        CountingEcho::default()
    });
    let mut ws = client(server.addr, "/");
    echo(&mut ws, 0, WARMUP, batch);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    echo(&mut ws, WARMUP, WARMUP + MESSAGES, batch);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    server.stop();
    #[allow(clippy::cast_precision_loss)] // small counts
    let per = allocations as f64 / MESSAGES as f64;
    println!(
        "batches of {batch}: {allocations} allocations on the loop thread for {MESSAGES} echoes: {per} per message"
    );
    per
}

#[test]
fn the_counter_counts_only_counted_threads() {
    let _serial = serial();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    std::hint::black_box(Box::new(7u64));
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), before, "not counted");
    COUNTED.with(|c| c.set(true));
    std::hint::black_box(Box::new(7u64));
    COUNTED.with(|c| c.set(false));
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), before + 1, "counted");
}

#[test]
fn an_allocation_in_a_callback_on_the_loop_thread_is_counted() {
    let _serial = serial();
    let server = start(Options::default().threads(1), Config::default(), |_| {
        CountingEcho::default()
    });
    let mut ws = client(server.addr, "/");
    echo(&mut ws, 0, WARMUP, 1);
    let allocate = WsMessage::binary(ALLOCATE.to_vec());
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    ws.send(allocate.clone()).expect("send");
    assert_eq!(ws.read().expect("echo"), allocate);
    let counted = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(counted >= 1, "the handler's Box was not counted");
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    server.stop();
}

#[test]
fn echoing_pipelined_messages_allocates_nothing_on_the_loop_thread() {
    let _serial = serial();
    assert_eq!(allocations_per_message(BATCH), 0.0);
}

#[test]
fn a_dormant_connection_woken_by_each_message_allocates_nothing_on_the_loop_thread() {
    let _serial = serial();
    // Each message is sent once the previous echo was read: the echo was all written, the
    // connection went dormant, and this message wakes it.
    assert_eq!(allocations_per_message(1), 0.0);
}

#[test]
fn with_a_keepalive_waking_a_dormant_connection_allocates_nothing_either() {
    let _serial = serial();
    // The keepalive timer's state is kept by the spare connection a wake resets.
    let config = Config::default().keepalive(Duration::from_secs(30), Duration::from_secs(10));
    assert_eq!(allocations_per_message_with(1, config), 0.0);
}

#[test]
fn waking_a_dormant_connection_allocates_nothing_with_the_event_loop_in_view() {
    // The loop driven here by a mio poll of the test's own, so that its stats and its active
    // connections can be read between turns: every message after the warm-up must wake a
    // dormant connection (one activation each) and allocate nothing.
    let _serial = serial();
    let total = WARMUP + MESSAGES;
    let options = Options::default();
    let handle = Handle::new(0, Box::new(|| {}));
    let mut lp: EventLoop<mio::net::TcpStream, CountingEcho> = EventLoop::new(
        Arc::new(Config::default()),
        &options,
        CountingEcho::default(),
        Upgrader::new(),
        &handle,
        Instant::now(),
    );
    let mut poll = Poll::new().expect("poll");
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    const LISTENER: Token = Token(usize::MAX - 1);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let peer = std::thread::spawn(move || {
        let mut ws = client(addr, "/");
        // One message at a time: each is sent once the previous echo was read.
        echo(&mut ws, 0, total, 1);
        ws.close(None).expect("close");
        while ws.read().is_ok() {}
    });

    let mut events = Events::with_capacity(64);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut start: Option<(u64, u64, u64)> = None;
    let mut seen = 0;
    let mut dormant_between = 0;
    COUNTED.with(|c| c.set(true));
    while !(lp.handler().messages == total && lp.connections() == 0) {
        assert!(Instant::now() < deadline, "the conversation did not end");
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .expect("poll");
        let now = Instant::now();
        for ev in &events {
            if ev.token() == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    lp.accept(stream, now, |s, token| {
                        poll.registry().register(
                            s,
                            Token(token),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                    })
                    .expect("accept");
                }
            } else {
                lp.ready(
                    ev.token().0,
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable() || ev.is_write_closed(),
                    now,
                );
            }
        }
        lp.handle_timeout(Instant::now());
        let messages = lp.handler().messages;
        if messages != seen {
            seen = messages;
            if lp.active_connections() == 0 && lp.open_connections() == 1 {
                dormant_between += 1;
            }
            if messages == WARMUP {
                start = Some((
                    ALLOCATIONS.load(Ordering::Relaxed),
                    lp.stats().activations,
                    lp.stats().reads,
                ));
            }
            if messages == total {
                let (allocations, activations, reads) = start.expect("the warm-up was seen");
                let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations;
                let activations = lp.stats().activations - activations;
                // A message that fits in one read costs one read: the short read ends the burst
                // (the next readiness edge says when more came), no read that would block.
                let reads = lp.stats().reads - reads;
                println!("{MESSAGES} messages took {reads} read calls");
                assert_eq!(reads, MESSAGES as u64, "one read call per message");
                COUNTED.with(|c| c.set(false));
                println!(
                    "{MESSAGES} messages woke a dormant connection {activations} times: {allocations} allocations on the loop thread"
                );
                assert_eq!(activations, MESSAGES as u64, "one wake per message");
                assert_eq!(
                    allocations,
                    0,
                    "allocations per wake: {}",
                    allocations as f64 / activations as f64
                );
            }
        }
    }
    COUNTED.with(|c| c.set(false));
    peer.join().expect("the peer");
    assert!(
        dormant_between >= total - 1,
        "dormant after {dormant_between} of {total} echoes"
    );
    assert!(start.is_some());
}
