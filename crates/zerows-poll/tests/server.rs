//! The mio [`Server`](zerows_poll::Server) over real sockets, with tungstenite clients: echo,
//! the upgrader's hooks (refusal, subprotocol), what `on_open` learns, broadcast, sends from
//! another thread, closes from the handler and `on_close` bookkeeping.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use common::{
    client, masked, read_frame, read_response_head, recv, request_head, start, start_with, tcp,
};
use tungstenite::Message as WsMessage;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use zerows_poll::{Closed, ConnId, Context, Handler, Opened, Options, Service};
use zerows_upgrade::server::{HookResult, Hooks, Protocols, Rejection, Upgrader};
use zerows_util::{CloseCode, Config, Message, OpCode, OwnedMessage, PreparedMessage};

/// What the handler saw, in the order it saw it.
#[derive(Debug)]
enum Event {
    Open {
        id: ConnId,
        target: String,
        protocol: Option<String>,
    },
    Broadcast(usize),
    Close {
        id: ConnId,
        code: Option<u16>,
        error: bool,
    },
}

/// Echoes every message, except: `"bye"` closes the connection with 4000 "done", `"all"`
/// broadcasts `"to all"` to every connection of the loop. Reports what it sees.
struct Probe {
    events: Sender<Event>,
}

impl Handler for Probe {
    fn on_open(&mut self, _cx: &mut Context<'_>, id: ConnId, opened: &Opened<'_>) {
        let _ = self.events.send(Event::Open {
            id,
            target: opened.target.to_owned(),
            protocol: opened.agreed.and_then(|a| a.protocol()).map(str::to_owned),
        });
    }

    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        match (message.opcode(), message.payload()) {
            (OpCode::Text, b"bye") => {
                assert!(cx.close(id, CloseCode::from(4000), "done"));
            }
            (OpCode::Text, b"all") => {
                let n = cx.broadcast_all(&PreparedMessage::new(OpCode::Text, b"to all"));
                let _ = self.events.send(Event::Broadcast(n));
            }
            (op, payload) => {
                cx.send(id, op, payload).expect("echo");
            }
        }
    }

    fn on_close(&mut self, _cx: &mut Context<'_>, id: ConnId, closed: &Closed<'_>) {
        let _ = self.events.send(Event::Close {
            id,
            code: closed.code.map(u16::from),
            error: closed.error.is_some(),
        });
    }
}

/// A server of [`Probe`]s reporting to the returned receiver.
fn probe(options: Options) -> (common::Running, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let server = start(options, Config::default(), move |_| Probe {
        events: tx.clone(),
    });
    (server, rx)
}

/// The next event, which must be an `on_open`.
fn next_open(rx: &mpsc::Receiver<Event>) -> (ConnId, String, Option<String>) {
    match recv(rx, "on_open") {
        Event::Open {
            id,
            target,
            protocol,
        } => (id, target, protocol),
        other => panic!("expected on_open, got {other:?}"),
    }
}

/// The next event, which must be an `on_close`.
fn next_close(rx: &mpsc::Receiver<Event>) -> (ConnId, Option<u16>, bool) {
    match recv(rx, "on_close") {
        Event::Close { id, code, error } => (id, code, error),
        other => panic!("expected on_close, got {other:?}"),
    }
}

#[test]
fn text_and_binary_messages_are_echoed_up_to_a_mebibyte() {
    let (server, rx) = probe(Options::default().threads(2));
    let mut ws = client(server.addr, "/");
    next_open(&rx);
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 31 % 251) as u8).collect();
    let big_text: String = (0..1 << 20)
        .map(|i: u32| char::from(b'a' + (i % 26) as u8))
        .collect();
    let sent = [
        WsMessage::text("hello"),
        WsMessage::binary(vec![0u8, 1, 2, 255]),
        WsMessage::text(""),
        WsMessage::text("h\u{e9}llo w\u{f6}rld \u{1f600}"),
        WsMessage::binary(big.clone()),
        WsMessage::text(big_text.clone()),
    ];
    for m in &sent {
        ws.send(m.clone()).expect("send");
        let echo = ws.read().expect("echo");
        assert_eq!(&echo, m, "echo of a {} byte message", m.len());
    }
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    server.stop();
}

/// Refuses `/forbidden` (403) and `/missing` (404); picks `chat.v2` over `chat.v1`.
struct Gate;

impl Hooks for Gate {
    fn on_request(&mut self, target: &str) -> HookResult {
        match target {
            "/forbidden" => Err(Rejection::FORBIDDEN),
            "/missing" => Err(Rejection::NOT_FOUND),
            _ => Ok(()),
        }
    }

    fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
        offered.find(|p| *p == "chat.v2")
    }
}

/// A server of [`Probe`]s behind the [`Gate`] hooks.
fn gated() -> (common::Running, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let server = start_with(
        Options::default().threads(1),
        Config::default(),
        move |_| Service {
            handler: Probe { events: tx.clone() },
            upgrader: Upgrader::with_hooks(Gate),
        },
    );
    (server, rx)
}

#[test]
fn a_hook_that_refuses_a_path_answers_with_its_status_and_opens_nothing() {
    let (server, rx) = gated();
    for (path, status) in [("/forbidden", 403), ("/missing", 404)] {
        let url = format!("ws://{}{path}", server.addr);
        match tungstenite::client::client(url, tcp(server.addr)) {
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                assert_eq!(response.status(), status, "{path}");
            }
            Err(e) => panic!("{path}: expected HTTP {status}, got {e}"),
            Ok(_) => panic!("{path}: upgraded"),
        }
    }
    // An allowed path upgrades, and it is the first connection the handler hears of.
    let mut ws = client(server.addr, "/chat");
    let (_, target, _) = next_open(&rx);
    assert_eq!(target, "/chat");
    ws.send(WsMessage::text("still here")).expect("send");
    assert_eq!(ws.read().expect("echo"), WsMessage::text("still here"));
    drop(ws);
    next_close(&rx);
    server.stop();
}

#[test]
fn the_subprotocol_chosen_by_select_protocol_is_answered_and_reaches_on_open() {
    let (server, rx) = gated();
    let mut request = format!("ws://{}/chat", server.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat.v1, chat.v2".parse().expect("header value"),
    );
    let (mut ws, response) =
        tungstenite::client::client(request, tcp(server.addr)).expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().expect("ascii")),
        Some("chat.v2")
    );
    let (_, _, protocol) = next_open(&rx);
    assert_eq!(protocol.as_deref(), Some("chat.v2"));

    // Without an offer there is no subprotocol.
    let _plain = client(server.addr, "/chat");
    let (_, _, protocol) = next_open(&rx);
    assert_eq!(protocol, None);
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    server.stop();
}

#[test]
fn opened_target_is_the_request_target_with_its_query() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut clients = Vec::new();
    for path in ["/", "/room/lobby?x=1&y=%20z", "/a/b/c"] {
        clients.push(client(server.addr, path));
        let (_, target, protocol) = next_open(&rx);
        assert_eq!(target, path);
        assert_eq!(protocol, None);
    }
    server.stop();
}

#[test]
fn broadcast_all_from_on_message_reaches_every_connection_of_the_loop() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut clients: Vec<_> = (0..4).map(|_| client(server.addr, "/")).collect();
    for _ in &clients {
        next_open(&rx);
    }
    clients[2].send(WsMessage::text("all")).expect("send");
    match recv(&rx, "the broadcast count") {
        Event::Broadcast(n) => assert_eq!(n, clients.len()),
        other => panic!("expected the broadcast, got {other:?}"),
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(
            ws.read().expect("broadcast"),
            WsMessage::text("to all"),
            "client {i}"
        );
    }
    server.stop();
}

#[test]
fn a_handle_on_another_thread_sends_to_a_conn_id_captured_in_on_open() {
    let (server, rx) = probe(Options::default().threads(2));
    let mut a = client(server.addr, "/a");
    let mut b = client(server.addr, "/b");
    let mut ids = HashMap::new();
    for _ in 0..2 {
        let (id, target, _) = next_open(&rx);
        ids.insert(target, id);
    }
    let handles = server.handles.clone();
    let (id_a, id_b) = (ids["/a"], ids["/b"]);
    std::thread::spawn(move || {
        handles[id_a.worker()].send(id_a, OwnedMessage::text("for a"));
        handles[id_b.worker()].send(id_b, OwnedMessage::binary(vec![0xb; 3]));
    })
    .join()
    .expect("sender thread");
    assert_eq!(a.read().expect("a"), WsMessage::text("for a"));
    assert_eq!(b.read().expect("b"), WsMessage::binary(vec![0xb; 3]));
    server.stop();
}

#[test]
fn context_close_from_on_message_closes_with_the_given_code_and_reason() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut ws = client(server.addr, "/");
    let (id, _, _) = next_open(&rx);
    ws.send(WsMessage::text("bye")).expect("send");
    match ws.read().expect("the close frame") {
        WsMessage::Close(Some(CloseFrame { code, reason })) => {
            assert_eq!(u16::from(code), 4000);
            assert_eq!(reason.as_str(), "done");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // tungstenite answers the close; the server then ends the connection.
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected a clean end after the close, got {other:?}"),
    }
    let (closed, code, error) = next_close(&rx);
    assert_eq!(closed, id);
    assert_eq!(code, Some(4000), "the peer echoed the code");
    assert!(!error);
    server.stop();
}

#[test]
fn on_close_runs_once_per_opened_connection_with_the_peers_code() {
    let (server, rx) = probe(Options::default().threads(2));
    let codes = [1000u16, 1001, 4001, 4002, 4999];
    let mut clients = Vec::new();
    let mut ids = HashMap::new();
    for i in 0..codes.len() {
        clients.push(client(server.addr, &format!("/{i}")));
        let (id, target, _) = next_open(&rx);
        ids.insert(id, target[1..].parse::<usize>().expect("index"));
    }
    for (ws, &code) in clients.iter_mut().zip(&codes) {
        ws.close(Some(CloseFrame {
            code: WsCloseCode::from(code),
            reason: "bye".into(),
        }))
        .expect("close");
    }
    let mut seen = HashMap::new();
    for _ in 0..codes.len() {
        let (id, code, error) = next_close(&rx);
        assert!(!error, "{id}: a clean close");
        assert!(seen.insert(id, code).is_none(), "{id}: on_close twice");
    }
    for (id, i) in &ids {
        assert_eq!(seen[id], Some(codes[*i]), "connection {i}");
    }
    for ws in &mut clients {
        while ws.read().is_ok() {}
    }
    server.stop();
    // The loops are gone: nothing more was reported.
    let rest: Vec<_> = rx.try_iter().collect();
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn shutdown_closes_open_connections_with_going_away() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut ws = client(server.addr, "/");
    let (id, _, _) = next_open(&rx);
    for h in &server.handles {
        h.shutdown();
    }
    match ws.read().expect("the close frame") {
        WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    while ws.read().is_ok() {}
    let (closed, code, _) = next_close(&rx);
    assert_eq!(closed, id);
    assert_eq!(code, Some(1001));
    server.stop();
}

/// The `Sec-WebSocket-Accept` for the key of [`request_head`] (RFC 6455 §1.3's example).
const ACCEPT: &str = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

#[test]
fn frames_sent_in_the_same_write_as_the_request_head_are_kept() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut s = tcp(server.addr);
    let mut bytes = request_head("/eager").into_bytes();
    bytes.extend(masked(0x1, b"first"));
    bytes.extend(masked(0x2, &[1, 2, 3]));
    s.write_all(&bytes).expect("head and frames");
    let head = read_response_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains(ACCEPT), "{head}");
    assert_eq!(read_frame(&mut s).expect("echo"), (0x81, b"first".to_vec()));
    assert_eq!(read_frame(&mut s).expect("echo"), (0x82, vec![1, 2, 3]));
    let (_, target, _) = next_open(&rx);
    assert_eq!(target, "/eager");
    server.stop();
}

#[test]
fn a_request_head_and_a_frame_that_arrive_in_pieces_are_put_together() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut s = tcp(server.addr);
    let mut bytes = request_head("/slowly?piece=7").into_bytes();
    bytes.extend(masked(0x1, b"in pieces"));
    for piece in bytes.chunks(7) {
        s.write_all(piece).expect("a piece");
        std::thread::sleep(Duration::from_millis(1));
    }
    let head = read_response_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains(ACCEPT), "{head}");
    assert_eq!(
        read_frame(&mut s).expect("echo"),
        (0x81, b"in pieces".to_vec())
    );
    let (_, target, _) = next_open(&rx);
    assert_eq!(target, "/slowly?piece=7");
    server.stop();
}

#[test]
fn a_ping_is_answered_with_a_pong_carrying_its_payload() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut s = tcp(server.addr);
    s.write_all(request_head("/").as_bytes()).expect("head");
    read_response_head(&mut s);
    next_open(&rx);
    s.write_all(&masked(0x9, b"are you there")).expect("ping");
    assert_eq!(
        read_frame(&mut s).expect("pong"),
        (0x8a, b"are you there".to_vec())
    );
    // Once more after the connection went dormant.
    std::thread::sleep(Duration::from_millis(20));
    s.write_all(&masked(0x9, b"")).expect("ping");
    assert_eq!(read_frame(&mut s).expect("pong"), (0x8a, Vec::new()));
    server.stop();
}

#[test]
fn keepalive_pings_a_dormant_connection_and_closes_it_when_no_pong_comes() {
    let (interval, timeout) = (Duration::from_millis(200), Duration::from_millis(200));
    let (tx, rx) = mpsc::channel();
    let server = start(
        Options::default().threads(1),
        Config::default().keepalive(interval, timeout),
        move |_| Probe { events: tx.clone() },
    );
    // One peer answers every ping (on a thread of its own) for several intervals.
    let mut answering = tcp(server.addr);
    answering
        .write_all(request_head("/answering").as_bytes())
        .expect("head");
    read_response_head(&mut answering);
    let (answering_id, _, _) = next_open(&rx);
    let answerer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut pongs = 0;
        while start.elapsed() < interval * 4 {
            let (first, payload) = read_frame(&mut answering).expect("a ping");
            assert_eq!(first, 0x89);
            answering.write_all(&masked(0xa, &payload)).expect("pong");
            pongs += 1;
        }
        (answering, pongs)
    });
    // The other never answers.
    let start = Instant::now();
    let mut silent = tcp(server.addr);
    silent
        .write_all(request_head("/silent").as_bytes())
        .expect("head");
    read_response_head(&mut silent);
    let (silent_id, _, _) = next_open(&rx);

    let (first, ping) = read_frame(&mut silent).expect("a ping");
    assert_eq!(first, 0x89, "a ping");
    let pinged = start.elapsed();
    assert!(pinged >= interval, "pinged after {pinged:?}");
    let (first, close) = read_frame(&mut silent).expect("a close");
    let closed = start.elapsed();
    assert_eq!(first, 0x88, "a close after an unanswered ping {ping:?}");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1001);
    assert_eq!(&close[2..], b"keepalive timeout");
    assert!(closed >= interval + timeout, "closed after {closed:?}");
    println!("keepalive: pinged after {pinged:?}, closed after {closed:?}");
    let (id, _, error) = next_close(&rx);
    assert_eq!(id, silent_id);
    assert!(error, "a keepalive timeout is an error");

    let (mut answering, pongs) = answerer.join().expect("the answering peer");
    assert!(pongs >= 2, "{pongs} pings answered");
    answering.write_all(&masked(0x1, b"alive")).expect("text");
    // A ping may come first.
    loop {
        match read_frame(&mut answering).expect("the echo") {
            (0x89, payload) => answering.write_all(&masked(0xa, &payload)).expect("pong"),
            frame => {
                assert_eq!(frame, (0x81, b"alive".to_vec()));
                break;
            }
        }
    }
    assert!(
        common::nothing_within(&rx, Duration::ZERO),
        "{answering_id} is still open"
    );
    server.stop();
}

/// Echoes every message; counts the `on_drain` calls and the echoes refused.
struct DrainCounter {
    drains: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl Handler for DrainCounter {
    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        if cx.send(id, message.opcode(), message.payload()).is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_drain(&mut self, _cx: &mut Context<'_>, _id: ConnId) {
        self.drains.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_peer_that_writes_faster_than_it_reads_is_paused_not_cut_off() {
    // The backpressure promise: a peer that sends faster than it reads its echoes is not read
    // from until it catches up, so an echo never finds more than max_backlog waiting (the
    // threshold, 64 KiB, plus about one message).
    const MESSAGES: usize = 200;
    const SIZE: usize = 64 << 10;
    let drains = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let (d, r) = (Arc::clone(&drains), Arc::clone(&refused));
    let server = start(
        Options::default().threads(1).max_backlog(256 << 10),
        Config::default(),
        move |_| DrainCounter {
            drains: Arc::clone(&d),
            refused: Arc::clone(&r),
        },
    );
    let mut s = tcp(server.addr);
    s.write_all(request_head("/").as_bytes()).expect("head");
    read_response_head(&mut s);
    let payload = |i: usize| vec![u8::try_from(i % 251).expect("small"); SIZE];
    // The peer writes everything before it reads anything.
    let mut writer = s.try_clone().expect("clone");
    let writing = std::thread::spawn(move || {
        for i in 0..MESSAGES {
            writer
                .write_all(&masked(0x2, &payload(i)))
                .expect("a message");
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..MESSAGES {
        let (first, echo) = read_frame(&mut s).expect("an echo");
        assert_eq!(
            first,
            0x82,
            "echo {i}: {} echoes refused",
            refused.load(Ordering::Relaxed)
        );
        assert!(echo == payload(i), "echo {i}");
    }
    writing.join().expect("the writer");
    assert_eq!(refused.load(Ordering::Relaxed), 0, "echoes refused");
    assert!(drains.load(Ordering::Relaxed) > 0, "on_drain ran");
    println!(
        "{MESSAGES} messages of {SIZE} bytes: {} drains",
        drains.load(Ordering::Relaxed)
    );
    server.stop();
}

#[test]
fn a_handle_broadcasts_to_every_connection_to_a_set_and_closes_one_by_id() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut clients: Vec<_> = (0..3)
        .map(|i| client(server.addr, &format!("/{i}")))
        .collect();
    let mut ids = Vec::new();
    for _ in &clients {
        let (id, target, _) = next_open(&rx);
        ids.push((target, id));
    }
    ids.sort();
    let handle = server.handles[0].clone();
    handle.broadcast_all(PreparedMessage::new(OpCode::Binary, b"news"));
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(
            ws.read().expect("broadcast"),
            WsMessage::binary(b"news".to_vec()),
            "client {i}"
        );
    }
    // To a set: clients 0 and 2 only (client 1's next frame is the close below).
    handle.broadcast(
        PreparedMessage::new(OpCode::Text, b"to 0 and 2"),
        [ids[0].1, ids[2].1],
    );
    for i in [0, 2] {
        assert_eq!(
            clients[i].read().expect("set broadcast"),
            WsMessage::text("to 0 and 2"),
            "client {i}"
        );
    }
    handle.close(ids[1].1, CloseCode::from(4100), "by handle");
    match clients[1].read().expect("the close frame") {
        WsMessage::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4100);
            assert_eq!(frame.reason.as_str(), "by handle");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    while clients[1].read().is_ok() {}
    let (closed, code, _) = next_close(&rx);
    assert_eq!(closed, ids[1].1);
    assert_eq!(code, Some(4100));
    // The others are untouched.
    for i in [0, 2] {
        clients[i].send(WsMessage::text("ok")).expect("send");
        assert_eq!(clients[i].read().expect("echo"), WsMessage::text("ok"));
    }
    server.stop();
}

#[test]
fn a_send_to_a_closed_id_never_reaches_the_connection_that_reuses_its_slot() {
    let (server, rx) = probe(Options::default().threads(1));
    let mut old = client(server.addr, "/old");
    let (old_id, _, _) = next_open(&rx);
    old.close(None).expect("close");
    while old.read().is_ok() {}
    next_close(&rx);
    let mut new = client(server.addr, "/new");
    let (new_id, _, _) = next_open(&rx);
    assert_ne!(new_id, old_id);
    // Displayed as worker:slot.generation: the same slot, another generation.
    let slot = |id: ConnId| id.to_string().split('.').next().map(str::to_owned);
    assert_eq!(slot(new_id), slot(old_id), "{old_id} then {new_id}");
    let handle = &server.handles[0];
    handle.send(old_id, OwnedMessage::text("for the old one"));
    handle.send(new_id, OwnedMessage::text("for the new one"));
    assert_eq!(
        new.read().expect("a message"),
        WsMessage::text("for the new one"),
        "the stale send was dropped"
    );
    server.stop();
}
