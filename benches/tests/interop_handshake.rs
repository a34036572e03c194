//! Handshake interop with a peer: tungstenite's client against `server::accept`, and our
//! client against `tungstenite::accept`, over loopback. Then one message each way, to show the
//! connection is usable after the handover (and that leftover bytes are not lost).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use tungstenite::Message;
use tungstenite::handshake::client::generate_key;
use tungstenite::http::Request;
use zerows_upgrade::client::{self, ClientRequest};
use zerows_upgrade::server::{self, Hooks, Protocols, Upgrader};

struct Chat;

impl Hooks for Chat {
    fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
        offered.find(|p| *p == "chat")
    }
}

#[test]
fn tungstenite_client_against_zerows_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let up = server::accept(&mut stream, &mut Upgrader::with_hooks(Chat), &mut buf).unwrap();
        let protocol = up.protocol().map(String::from);
        let leftover = up.leftover().to_vec();
        // Hand the stream (and the leftover bytes) to a WebSocket implementation.
        let mut ws = tungstenite::WebSocket::from_partially_read(
            stream,
            leftover,
            tungstenite::protocol::Role::Server,
            None,
        );
        let msg = ws.read().unwrap();
        ws.send(Message::text("pong")).unwrap();
        ws.flush().unwrap();
        (protocol, msg)
    });
    let req = Request::get(format!("ws://{addr}/chat"))
        .header("Host", addr.to_string())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", generate_key())
        .header("Sec-WebSocket-Protocol", "superchat, chat")
        .body(())
        .unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    let (mut ws, resp) = tungstenite::client(req, stream).unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    ws.send(Message::text("ping")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("pong"));
    let (protocol, msg) = srv.join().unwrap();
    assert_eq!(protocol.as_deref(), Some("chat"));
    assert_eq!(msg, Message::text("ping"));
}

#[test]
fn zerows_client_against_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        // Sent right behind the 101: our client must hand it back as leftover.
        ws.send(Message::text("hello")).unwrap();
        ws.read().unwrap()
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    let host = addr.to_string();
    let request = ClientRequest::with_random_key(&host, "/").unwrap();
    let mut buf = [0u8; 1024];
    let hs = client::handshake(&mut stream, &request, &mut buf).unwrap();
    let leftover = hs.leftover().to_vec();
    let mut ws = tungstenite::WebSocket::from_partially_read(
        stream,
        leftover,
        tungstenite::protocol::Role::Client,
        None,
    );
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    ws.send(Message::text("bye")).unwrap();
    ws.flush().unwrap();
    assert_eq!(srv.join().unwrap(), Message::text("bye"));
    let _ = ws.get_mut().flush();
}
