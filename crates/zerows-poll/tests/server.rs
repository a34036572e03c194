//! The mio [`Server`](zerows_poll::Server) over real sockets, with tungstenite clients: echo,
//! the upgrader's hooks (refusal, subprotocol), what `on_open` learns, broadcast, sends from
//! another thread, closes from the handler and `on_close` bookkeeping.

mod common;

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};

use common::{client, recv, start, start_with, tcp};
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

fn probe(options: Options) -> (common::Running, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let server = start(options, Config::default(), move |_| Probe {
        events: tx.clone(),
    });
    (server, rx)
}

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
