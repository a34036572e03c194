//! Misbehaving peers against the mio [`Server`](zerows_poll::Server) over real sockets: a
//! handshake that stalls, a consumer that never reads, a peer that resets, a frame that stalls,
//! and 20,000 connections in a row that must leave no file descriptor behind.
//!
//! The tests of this file run one at a time (they count the process's file descriptors).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{WAIT, client, eventually, recv, start, tcp, upgrade};
use socket2::{Domain, SockRef, Socket, Type};
use tungstenite::Message as WsMessage;
use zerows_poll::{Closed, ConnId, Context, Handler, Opened, Options, SendError, SendStatus};
use zerows_util::{Config, Message, OpCode};

/// One test at a time: the descriptor count is the process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the other tests off until dropped.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the handler saw.
#[derive(Debug)]
enum Event {
    Open(ConnId, String),
    /// The result of a send to the `/slow` connection.
    Pumped(Result<SendStatus, String>),
    Close {
        id: ConnId,
        code: Option<u16>,
        error: Option<String>,
    },
}

/// Opens and closes, counted.
#[derive(Default)]
struct Counts {
    opened: AtomicU64,
    closed: AtomicU64,
}

/// Echoes every message, except `"tick"`: it sends [`PUMP`] bytes to the connection opened on
/// `/slow` (until a send fails), reports the result, then answers `"tock"`.
struct Tracker {
    events: Option<Sender<Event>>,
    counts: Arc<Counts>,
    slow: Option<ConnId>,
    pump: Vec<u8>,
}

/// What each `"tick"` sends to `/slow`.
const PUMP: usize = 64 << 10;

impl Handler for Tracker {
    fn on_open(&mut self, _cx: &mut Context<'_>, id: ConnId, opened: &Opened<'_>) {
        self.counts.opened.fetch_add(1, Ordering::Relaxed);
        if opened.target == "/slow" {
            self.slow = Some(id);
        }
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Open(id, opened.target.to_owned()));
        }
    }

    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        if message.payload() == b"tick" {
            if let Some(slow) = self.slow {
                let result = cx.send(slow, OpCode::Binary, &self.pump);
                if result.is_err() {
                    self.slow = None;
                }
                if let Some(tx) = &self.events {
                    let _ = tx.send(Event::Pumped(result.map_err(|e| match e {
                        SendError::Backlog => "backlog".to_owned(),
                        e => e.to_string(),
                    })));
                }
            }
            cx.send_text(id, "tock").expect("tock");
        } else {
            cx.send(id, message.opcode(), message.payload())
                .expect("echo");
        }
    }

    fn on_close(&mut self, _cx: &mut Context<'_>, id: ConnId, closed: &Closed<'_>) {
        self.counts.closed.fetch_add(1, Ordering::Relaxed);
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Close {
                id,
                code: closed.code.map(u16::from),
                error: closed.error.map(ToString::to_string),
            });
        }
    }
}

/// A server of [`Tracker`]s reporting to the returned receiver.
fn tracked(
    options: Options,
    config: Config,
) -> (common::Running, mpsc::Receiver<Event>, Arc<Counts>) {
    let (tx, rx) = mpsc::channel();
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    let server = start(options, config, move |_| Tracker {
        events: Some(tx.clone()),
        counts: Arc::clone(&c),
        slow: None,
        pump: vec![0x5a; PUMP],
    });
    (server, rx, counts)
}

/// The next event, which must be an `on_open`.
fn next_open(rx: &mpsc::Receiver<Event>) -> (ConnId, String) {
    match recv(rx, "on_open") {
        Event::Open(id, target) => (id, target),
        other => panic!("expected on_open, got {other:?}"),
    }
}

/// The next event, which must be an `on_close`.
fn next_close(rx: &mpsc::Receiver<Event>) -> (ConnId, Option<u16>, Option<String>) {
    match recv(rx, "on_close") {
        Event::Close { id, code, error } => (id, code, error),
        other => panic!("expected on_close, got {other:?}"),
    }
}

/// Reads until the end of the stream (or a reset) within [`WAIT`]; returns what came.
fn read_to_end_or_reset(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("expected the server to end the connection, got {e}"),
        }
    }
}

/// The close code of the unmasked close frame at the start of `bytes`.
fn close_code(bytes: &[u8]) -> u16 {
    assert!(bytes.len() >= 4, "a close frame with a code: {bytes:?}");
    assert_eq!(bytes[0], 0x88, "a final close frame: {bytes:?}");
    u16::from_be_bytes([bytes[2], bytes[3]])
}

#[test]
fn a_peer_that_stalls_mid_handshake_is_cut_off_after_the_handshake_timeout() {
    let _serial = serial();
    let timeout = Duration::from_millis(300);
    let (server, rx, counts) = tracked(
        Options::default().threads(1).handshake_timeout(timeout),
        Config::default(),
    );
    // A connection that upgrades at once is not subject to the handshake timeout.
    let mut good = client(server.addr, "/good");
    next_open(&rx);

    let start = Instant::now();
    let mut stalled = tcp(server.addr);
    stalled
        .write_all(b"GET /stall HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n")
        .expect("half a head");
    let answer = read_to_end_or_reset(&mut stalled);
    let waited = start.elapsed();
    assert!(
        answer.is_empty(),
        "no response to a stalled head: {answer:?}"
    );
    assert!(waited >= timeout, "cut off after {waited:?}");
    assert!(waited < timeout * 4, "cut off only after {waited:?}");
    println!("a stalled handshake was cut off after {waited:?} (timeout {timeout:?})");

    std::thread::sleep(timeout);
    good.send(WsMessage::text("still open")).expect("send");
    assert_eq!(good.read().expect("echo"), WsMessage::text("still open"));
    assert_eq!(counts.opened.load(Ordering::Relaxed), 1);
    assert_eq!(counts.closed.load(Ordering::Relaxed), 0);
    server.stop();
}

#[test]
fn a_peer_that_never_reads_is_closed_with_1008_past_max_backlog_and_others_keep_working() {
    let _serial = serial();
    let max_backlog = 64 << 10;
    let (server, rx, counts) = tracked(
        Options::default()
            .threads(1)
            .max_backlog(max_backlog)
            .backpressure_threshold(16 << 10),
        // Time for the slow peer to read its backlog before the server gives up on the close.
        Config::default().close_timeout(WAIT),
    );
    // A small receive window so that the kernel holds little of what the peer does not read.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr.into(), WAIT)
        .expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut slow = upgrade(stream, server.addr, "/slow");
    let (slow_id, _) = next_open(&rx);
    let mut fast = client(server.addr, "/fast");
    next_open(&rx);

    // Each tick queues 64 KiB for the slow peer; the fast peer gets its answer every time.
    let mut ticks = 0;
    let mut backpressured = false;
    loop {
        ticks += 1;
        assert!(ticks <= 2000, "the slow peer was never cut off");
        fast.send(WsMessage::text("tick")).expect("tick");
        assert_eq!(fast.read().expect("tock"), WsMessage::text("tock"));
        match recv(&rx, "the pump's result") {
            Event::Pumped(Ok(SendStatus::Queued)) => {}
            Event::Pumped(Ok(SendStatus::Backpressured)) => backpressured = true,
            Event::Pumped(Err(e)) => {
                assert_eq!(e, "backlog");
                break;
            }
            other => panic!("expected the pump's result, got {other:?}"),
        }
    }
    assert!(backpressured, "sends said Backpressured before the cut");
    println!("the slow peer was cut off after {ticks} sends of {PUMP} bytes");

    // The fast peer is unaffected.
    for i in 0..10 {
        let text = format!("after {i}");
        fast.send(WsMessage::text(text.clone())).expect("send");
        assert_eq!(fast.read().expect("echo"), WsMessage::text(text));
    }

    // The slow peer reads at last: what was queued, then a 1008 close.
    let mut received = 0;
    let frame = loop {
        match slow.read().expect("the slow peer's backlog") {
            WsMessage::Binary(b) => {
                assert_eq!(b.len(), PUMP);
                received += 1;
            }
            WsMessage::Close(frame) => break frame.expect("a close code"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(u16::from(frame.code), 1008);
    assert_eq!(frame.reason.as_str(), "backlog over max_backlog");
    assert!(received < ticks, "the last send was refused");
    while slow.read().is_ok() {}
    let (id, _code, _error) = next_close(&rx);
    assert_eq!(id, slow_id);
    assert_eq!(counts.closed.load(Ordering::Relaxed), 1);

    fast.send(WsMessage::text("last")).expect("send");
    assert_eq!(fast.read().expect("echo"), WsMessage::text("last"));
    // A clean close (the close timeout is long here: shutdown would wait for it).
    fast.close(None).expect("close");
    while fast.read().is_ok() {}
    server.stop();
}

#[test]
fn a_peer_that_resets_gets_on_close_with_an_error_and_frees_its_slot() {
    let _serial = serial();
    // One connection at most: a slot that is not freed refuses the next connection.
    let (server, rx, counts) = tracked(
        Options::default().threads(1).max_connections(1),
        Config::default(),
    );
    let ws = client(server.addr, "/reset");
    let (id, _) = next_open(&rx);

    // While it is held, another connection is refused (the limit is real).
    let refused = tungstenite::client::client(format!("ws://{}/", server.addr), tcp(server.addr));
    assert!(refused.is_err(), "a second connection over max_connections");

    SockRef::from(ws.get_ref())
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(ws);
    let (closed, code, error) = next_close(&rx);
    assert_eq!(closed, id);
    assert_eq!(code, None);
    let error = error.expect("a reset is an error");
    println!("on_close after a reset: {error}");

    let mut next = client(server.addr, "/next");
    let (next_id, target) = next_open(&rx);
    assert_eq!(target, "/next");
    assert_ne!(next_id, id, "a new id for the reused slot");
    next.send(WsMessage::text("hi")).expect("send");
    assert_eq!(next.read().expect("echo"), WsMessage::text("hi"));
    assert_eq!(counts.opened.load(Ordering::Relaxed), 2);
    assert_eq!(counts.closed.load(Ordering::Relaxed), 1);
    server.stop();
}

/// The process's open file descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
fn twenty_thousand_connect_upgrade_close_cycles_leak_no_descriptor() {
    const CYCLES: u64 = 20_000;
    const CLIENTS: u64 = 4;
    // The runtime (test harness threads, stdout) may open a few.
    const SLACK: usize = 4;
    let _serial = serial();
    let before_server = open_fds();
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    let server = start(
        Options::default().threads(2),
        Config::default(),
        move |_| Tracker {
            events: None,
            counts: Arc::clone(&c),
            slow: None,
            pump: Vec::new(),
        },
    );
    let addr = server.addr;
    // Warm up, then count with the server running.
    {
        let mut ws = client(addr, "/");
        ws.close(None).expect("close");
        while ws.read().is_ok() {}
    }
    eventually("the warm-up connection closed", || {
        counts.closed.load(Ordering::Relaxed) == 1
    });
    let before = open_fds();

    let start = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..CYCLES / CLIENTS {
                    let mut ws = client(addr, "/");
                    ws.close(None).expect("close");
                    loop {
                        match ws.read() {
                            Ok(WsMessage::Close(_)) => {}
                            Ok(m) => panic!("unexpected {m:?}"),
                            Err(tungstenite::Error::ConnectionClosed) => break,
                            Err(e) => panic!("expected a clean close, got {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    let took = start.elapsed();
    println!(
        "{CYCLES} connect/upgrade/close cycles ({CLIENTS} at a time) took {took:?}: {:?} each",
        took / u32::try_from(CYCLES).expect("small")
    );
    eventually("every connection closed", || {
        counts.closed.load(Ordering::Relaxed) == CYCLES + 1
    });
    assert_eq!(counts.opened.load(Ordering::Relaxed), CYCLES + 1);
    // The server releases a socket right after on_close (or once its last bytes are written).
    eventually("the server released every socket", || {
        open_fds() <= before + SLACK
    });
    let during = open_fds();
    server.stop();
    let after = open_fds();
    println!(
        "descriptors: {before_server} before the server, {before} with it, {during} after the cycles, {after} after it stopped"
    );
    assert!(after <= before_server + SLACK, "{after} > {before_server}");
    assert_eq!(
        counts.opened.load(Ordering::Relaxed),
        counts.closed.load(Ordering::Relaxed)
    );
}

/// Upgrades on `/stall` and sends the header of a 100-byte masked binary frame and 10 bytes of
/// its payload; returns the raw stream.
fn stall_mid_frame(addr: std::net::SocketAddr) -> TcpStream {
    let ws = client(addr, "/stall");
    let mut stream = ws.into_inner();
    let mut frame = vec![0x82, 0x80 | 100, 1, 2, 3, 4];
    frame.extend_from_slice(&[0u8; 10]);
    stream.write_all(&frame).expect("part of a frame");
    stream
}

#[test]
fn a_peer_that_stalls_mid_frame_is_closed_by_the_idle_timeout() {
    let _serial = serial();
    let idle = Duration::from_millis(300);
    let (server, rx, _counts) = tracked(
        Options::default().threads(1).idle_timeout(Some(idle)),
        Config::default(),
    );
    let start = Instant::now();
    let mut stream = stall_mid_frame(server.addr);
    let (id, _) = next_open(&rx);
    let answer = read_to_end_or_reset(&mut stream);
    let waited = start.elapsed();
    assert_eq!(close_code(&answer), 1001, "idle timeout");
    assert!(waited >= idle, "closed after {waited:?}");
    assert!(
        waited < idle * 4 + Duration::from_secs(1),
        "closed after {waited:?}"
    );
    let (closed, _, _) = next_close(&rx);
    assert_eq!(closed, id);
    server.stop();
}

#[test]
fn a_peer_that_stalls_mid_frame_is_closed_by_the_stall_timeout() {
    let _serial = serial();
    let options = Options::default()
        .threads(1)
        .stall_timeout(Duration::from_millis(300));
    let (server, rx, _counts) = tracked(options, Config::default());
    let start = Instant::now();
    let mut stream = stall_mid_frame(server.addr);
    next_open(&rx);
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("read timeout");
    let answer = read_to_end_or_reset(&mut stream);
    let waited = start.elapsed();
    println!("a stalled frame was closed after {waited:?}");
    assert_eq!(close_code(&answer), 1008, "policy violation");
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}"
    );
    server.stop();
}

#[test]
fn shutdown_drops_handshakes_in_progress_and_stops() {
    let _serial = serial();
    let (server, rx, counts) = tracked(Options::default().threads(2), Config::default());
    let mut halves: Vec<_> = (0..4)
        .map(|_| {
            let mut s = tcp(server.addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                .expect("half a head");
            s
        })
        .collect();
    let mut ws = client(server.addr, "/");
    next_open(&rx);
    // The half heads reached the loops before the shutdown.
    std::thread::sleep(Duration::from_millis(50));
    for h in &server.handles {
        h.shutdown();
    }
    for s in &mut halves {
        assert!(read_to_end_or_reset(s).is_empty(), "no response");
    }
    match ws.read().expect("the close frame") {
        WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    while ws.read().is_ok() {}
    server.stop();
    assert_eq!(counts.opened.load(Ordering::Relaxed), 1);
    assert_eq!(counts.closed.load(Ordering::Relaxed), 1);
}

/// A raw peer upgraded on `path`.
fn raw_peer(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut s = tcp(addr);
    s.write_all(common::request_head(path).as_bytes())
        .expect("head");
    let head = common::read_response_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

#[test]
fn protocol_violations_are_closed_with_their_codes_and_reported_to_on_close() {
    let _serial = serial();
    let (server, rx, counts) = tracked(
        Options::default().threads(1),
        // The raw peer never answers the server's close: do not wait long for it.
        Config::default()
            .max_message_size(1 << 10)
            .close_timeout(Duration::from_millis(200)),
    );
    let unmasked = {
        // A client frame without a mask (RFC 6455 §5.1).
        let mut f = vec![0x81, 2];
        f.extend_from_slice(b"hi");
        f
    };
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("unmasked", unmasked, 1002),
        ("bad utf-8", common::masked(0x1, &[0xff, 0xfe]), 1007),
        ("too big", common::masked(0x2, &[0; 2 << 10]), 1009),
        ("reserved opcode", common::masked(0x3, b""), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut s = raw_peer(server.addr, "/");
        let (id, _) = next_open(&rx);
        s.write_all(&bytes).expect(what);
        let answer = read_to_end_or_reset(&mut s);
        assert_eq!(close_code(&answer), code, "{what}");
        let (closed, peer_code, error) = next_close(&rx);
        assert_eq!(closed, id, "{what}");
        assert_eq!(peer_code, None, "{what}");
        assert!(error.is_some(), "{what}: on_close has the error");
    }
    assert_eq!(counts.opened.load(Ordering::Relaxed), 4);
    assert_eq!(counts.closed.load(Ordering::Relaxed), 4);
    server.stop();
}

#[test]
fn a_peer_that_ends_its_stream_without_a_close_frame_gets_on_close_with_an_error() {
    let _serial = serial();
    let (server, rx, _counts) = tracked(
        Options::default().threads(1).max_connections(1),
        Config::default(),
    );
    let s = raw_peer(server.addr, "/");
    let (id, _) = next_open(&rx);
    s.shutdown(std::net::Shutdown::Write).expect("FIN");
    let (closed, code, error) = next_close(&rx);
    assert_eq!(closed, id);
    assert_eq!(code, None);
    assert!(
        error.is_some(),
        "an end without a close frame is an error (1006)"
    );
    // The slot is free again (one connection at most).
    let mut next = client(server.addr, "/");
    next_open(&rx);
    next.send(WsMessage::text("hi")).expect("send");
    assert_eq!(next.read().expect("echo"), WsMessage::text("hi"));
    drop(s);
    server.stop();
}

#[test]
fn a_peer_that_resets_while_the_server_writes_to_it_gets_on_close() {
    let _serial = serial();
    let (server, rx, counts) = tracked(
        // A large backlog: the connection must end by the reset, not by 1008.
        Options::default().threads(1).max_backlog(64 << 20),
        Config::default(),
    );
    let ws = client(server.addr, "/victim");
    let (id, _) = next_open(&rx);
    let handle = server.handles[0].clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // Sends to the connection without pause, before and after the reset.
    let sender = std::thread::spawn(move || {
        let chunk = zerows_util::PreparedMessage::new(OpCode::Binary, &[7u8; 16 << 10]);
        let start = Instant::now();
        while !s.load(Ordering::Relaxed) && start.elapsed() < WAIT * 2 {
            handle.send_prepared(id, chunk.clone());
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    SockRef::from(ws.get_ref())
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(ws);
    let closed = rx.recv_timeout(WAIT);
    stop.store(true, Ordering::Relaxed);
    sender.join().expect("the sender");
    match closed {
        Ok(Event::Close {
            id: closed, error, ..
        }) => {
            assert_eq!(closed, id);
            assert!(error.is_some(), "a reset is an error");
        }
        other => panic!("expected on_close after the reset, got {other:?}"),
    }
    assert_eq!(counts.closed.load(Ordering::Relaxed), 1);
    server.stop();
}

#[test]
fn a_write_that_fails_after_a_reset_ends_the_connection() {
    // The loop driven by hand over real sockets, so that the order is certain: the peer resets,
    // then a send is written (and fails) before the loop hears of the reset from readiness.
    use mio::net::TcpListener;
    use mio::{Events, Interest, Poll, Token};
    use zerows_poll::{EventLoop, Handle};
    use zerows_upgrade::server::Upgrader;

    let _serial = serial();
    let (tx, rx) = mpsc::channel();
    let counts = Arc::new(Counts::default());
    let handle = Handle::new(0, Box::new(|| {}));
    let mut lp: EventLoop<mio::net::TcpStream, Tracker> = EventLoop::new(
        Arc::new(Config::default()),
        &Options::default(),
        Tracker {
            events: Some(tx),
            counts: Arc::clone(&counts),
            slow: None,
            pump: Vec::new(),
        },
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
    let mut events = Events::with_capacity(64);
    // One turn of the loop: what is ready, then the timers.
    let mut turn = |lp: &mut EventLoop<mio::net::TcpStream, Tracker>| {
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
    };

    let peer = std::thread::spawn(move || client(addr, "/"));
    let deadline = Instant::now() + WAIT;
    while lp.open_connections() == 0 {
        assert!(Instant::now() < deadline, "no upgrade");
        turn(&mut lp);
    }
    let ws = peer.join().expect("the peer");
    let (id, _) = next_open(&rx);
    SockRef::from(ws.get_ref())
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(ws);
    std::thread::sleep(Duration::from_millis(20));

    // Before any readiness: a send, written at once, to a connection that was reset.
    handle.send(id, zerows_util::OwnedMessage::binary(vec![1u8; 1 << 10]));
    lp.run_commands(Instant::now());

    let deadline = Instant::now() + Duration::from_secs(2);
    while lp.connections() > 0 && Instant::now() < deadline {
        turn(&mut lp);
    }
    assert_eq!(lp.connections(), 0, "the slot was not freed");
    let (closed, _, error) = next_close(&rx);
    assert_eq!(closed, id);
    assert!(error.is_some(), "a reset is an error");
    assert_eq!(counts.closed.load(Ordering::Relaxed), 1);
}

#[test]
fn bad_requests_are_refused_with_an_http_status_and_open_nothing() {
    let _serial = serial();
    let (server, rx, counts) = tracked(Options::default().threads(1), Config::default());
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: {}\r\n",
        "a".repeat(zerows_util::MAX_REQUEST_HEAD)
    );
    let cases: [(&str, String, &str); 3] = [
        ("a head too large", long_header, "431"),
        (
            "no upgrade",
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
            "4",
        ),
        (
            "not GET",
            common::request_head("/").replacen("GET", "POST", 1),
            "4",
        ),
    ];
    for (what, request, status) in cases {
        let mut s = tcp(server.addr);
        // The server may refuse before it read everything: a reset of the rest is fine.
        let _ = s.write_all(request.as_bytes());
        let answer = read_to_end_or_reset(&mut s);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {answer:?}"
        );
    }
    assert!(common::nothing_within(&rx, Duration::from_millis(50)));
    assert_eq!(counts.opened.load(Ordering::Relaxed), 0);
    server.stop();
}

#[test]
fn the_idle_timeout_closes_a_silent_dormant_connection_and_spares_a_talking_one() {
    let _serial = serial();
    let idle = Duration::from_millis(300);
    let (server, rx, _counts) = tracked(
        Options::default().threads(1).idle_timeout(Some(idle)),
        Config::default(),
    );
    let start = Instant::now();
    let mut silent = raw_peer(server.addr, "/silent");
    let (silent_id, _) = next_open(&rx);
    let mut talking = client(server.addr, "/talking");
    next_open(&rx);
    let talker = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < idle * 3 {
            talking.send(WsMessage::text("hi")).expect("send");
            assert_eq!(talking.read().expect("echo"), WsMessage::text("hi"));
            std::thread::sleep(idle / 4);
        }
        talking
    });
    let (first, payload) = common::read_frame(&mut silent).expect("a close");
    let waited = start.elapsed();
    assert_eq!(first, 0x88);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
    assert_eq!(&payload[2..], b"idle timeout");
    assert!(waited >= idle, "closed after {waited:?}");
    assert!(waited < idle * 3, "closed after {waited:?}");
    // The close handshake completes at once (else on_close waits for the close timeout).
    silent
        .write_all(&common::masked(0x8, &payload[..2]))
        .expect("the close reply");
    assert!(read_to_end_or_reset(&mut silent).is_empty());
    let (closed, _, _) = next_close(&rx);
    assert_eq!(closed, silent_id);
    let mut talking = talker.join().expect("the talking peer");
    talking.send(WsMessage::text("still")).expect("send");
    assert_eq!(talking.read().expect("echo"), WsMessage::text("still"));
    talking.close(None).expect("close");
    while talking.read().is_ok() {}
    server.stop();
}

#[test]
fn a_peer_that_sends_but_never_reads_is_paused_then_closed_by_the_stall_timeout() {
    let _serial = serial();
    let stall = Duration::from_millis(1500);
    let options = Options::default().threads(1).stall_timeout(stall);
    let (server, rx, _counts) = tracked(options, Config::default());
    let mut s = raw_peer(server.addr, "/");
    let (id, _) = next_open(&rx);
    // Echoes pile up unread: the server pauses the peer (it stops reading it), so the peer's
    // writes block too once the socket buffers are full.
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .expect("write timeout");
    let frame = common::masked(0x2, &[7u8; 64 << 10]);
    let mut sent = 0;
    let blocked = loop {
        match s.write_all(&frame) {
            Ok(()) => sent += 1,
            Err(_) => break true,
        }
        if sent > 2000 {
            break false;
        }
    };
    println!("blocked={blocked} after {sent}");
    assert!(
        blocked,
        "the server kept reading 2,000 messages it could not answer"
    );
    // Nothing moves either way for the stall timeout: the server closes with 1008.
    let (closed, _, error) = next_close(&rx);
    assert_eq!(closed, id);
    println!("paused after {sent} messages; on_close error: {error:?}");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut echoes = 0;
    let code = loop {
        match common::read_frame(&mut s) {
            Ok((0x82, payload)) => {
                assert_eq!(payload.len(), 64 << 10);
                echoes += 1;
            }
            Ok((0x88, payload)) => break u16::from_be_bytes([payload[0], payload[1]]),
            Ok((op, _)) => panic!("unexpected frame {op:#x}"),
            // The close timeout may end the connection before the backlog and the close frame
            // reach us (we read nothing until now): then no code.
            Err(_) => break 0,
        }
    };
    assert!(echoes <= sent, "{echoes} echoes for {sent} messages");
    assert!(code == 1008 || code == 0, "close code {code}");
    server.stop();
}
