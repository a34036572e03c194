//! Interop with a peer implementation from crates.io: tungstenite as client against a zerows
//! server, and as server against a zerows client, over real TCP on loopback.
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::net::{TcpListener, TcpStream};
use std::thread;

use tungstenite::Message as TMessage;
use zerows_upgrade::client::ClientRequest;
use zerows_util::{CloseCode, Config, Error, Message, WebSocket};

fn sizes() -> Vec<usize> {
    vec![0, 1, 125, 126, 65535, 65536, 1 << 20]
}

#[test]
fn tungstenite_client_zerows_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream).unwrap();
        let mut buf = Vec::new();
        loop {
            match ws.read_into(&mut buf) {
                Ok(op) => ws.send_message(op, &buf).unwrap(),
                Err(Error::Closed) => return,
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let stream = TcpStream::connect(addr).unwrap();
    let (mut client, resp) = tungstenite::client(format!("ws://{addr}/echo"), stream).unwrap();
    assert_eq!(resp.status(), 101);
    for n in sizes() {
        let text: String = "é".repeat(n / 2);
        client.send(TMessage::text(text.clone())).unwrap();
        assert_eq!(client.read().unwrap(), TMessage::text(text));
        let bin: Vec<u8> = (0..n).map(|i| i as u8).collect();
        client.send(TMessage::binary(bin.clone())).unwrap();
        assert_eq!(client.read().unwrap(), TMessage::binary(bin));
    }
    client.send(TMessage::Ping(b"hi".to_vec().into())).unwrap();
    assert_eq!(
        client.read().unwrap(),
        TMessage::Pong(b"hi".to_vec().into())
    );
    client.close(None).unwrap();
    loop {
        match client.read() {
            Ok(TMessage::Close(_)) => {}
            Ok(m) => panic!("{m:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    server.join().unwrap();
}

#[test]
fn zerows_client_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        loop {
            match ws.read() {
                Ok(m @ (TMessage::Text(_) | TMessage::Binary(_))) => ws.send(m).unwrap(),
                Ok(TMessage::Close(_)) => {
                    // tungstenite queued the close reply; flush it
                    let _ = ws.flush();
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return;
                }
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let stream = TcpStream::connect(addr).unwrap();
    let host = addr.to_string();
    let request = ClientRequest::with_random_key(&host, "/").unwrap();
    let mut ws = WebSocket::connect_with_config(stream, &request, Config::default()).unwrap();
    for n in sizes() {
        let text: String = "κ".repeat(n / 2);
        ws.send_text(&text).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text(&text));
        let bin: Vec<u8> = (0..n).map(|i| (i * 3) as u8).collect();
        ws.send_binary(&bin).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Binary(&bin));
    }
    ws.ping(b"p").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"p"));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    server.join().unwrap();
}
