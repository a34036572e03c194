//! What the handshake agreed is on the connection after `accept`/`connect`, in both worlds: the
//! subprotocol, the extensions' header value (the configured extension negotiated by the
//! connection itself, no hooks needed), and the headers the application asked to keep.
#![cfg(all(feature = "tokio", feature = "deflate"))]

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::server::{HeaderWriter, Hooks, Protocols, Upgrader};
use zerows_util::deflate::DeflateConfig;
use zerows_util::{Agreed, AsyncWebSocket, Config, Message, WebSocket};

struct Chat;

impl Hooks for Chat {
    fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
        offered.find(|p| *p == "chat.v2")
    }
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Set-Cookie", "session=42");
    }
}

fn server_config() -> Arc<Config> {
    Arc::new(
        Config::default()
            .deflate(DeflateConfig::default())
            .keep_header("Cookie")
            .keep_header("user-agent"),
    )
}

fn client_config() -> Arc<Config> {
    Arc::new(
        Config::default()
            .deflate(DeflateConfig::default())
            .keep_header("set-cookie"),
    )
}

const PROTOCOLS: &[&str] = &["chat.v1", "chat.v2"];
const HEADERS: &[(&str, &str)] = &[("Cookie", "theme=dark"), ("User-Agent", "zerows-test")];

fn check_server(agreed: Option<&Agreed>) {
    let a = agreed.expect("the server agreed on something");
    assert_eq!(a.protocol(), Some("chat.v2"));
    assert!(
        a.extensions()
            .is_some_and(|e| e.starts_with("permessage-deflate"))
    );
    assert_eq!(a.header("cookie"), Some("theme=dark"));
    assert_eq!(a.header("USER-AGENT"), Some("zerows-test"));
    assert_eq!(
        a.header("host"),
        None,
        "only the headers asked for are kept"
    );
}

fn check_client(agreed: Option<&Agreed>) {
    let a = agreed.expect("the client agreed on something");
    assert_eq!(a.protocol(), Some("chat.v2"));
    assert!(
        a.extensions()
            .is_some_and(|e| e.starts_with("permessage-deflate"))
    );
    assert_eq!(a.header("Set-Cookie"), Some("session=42"));
    assert_eq!(
        a.headers().collect::<Vec<_>>(),
        [("set-cookie", "session=42")]
    );
}

#[test]
fn blocking_both_sides_see_what_was_agreed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept_with_upgrader(
            stream,
            &mut Upgrader::with_hooks(Chat),
            server_config(),
        )
        .unwrap();
        check_server(ws.agreed());
        let mut buf = Vec::new();
        let op = ws.read_into(&mut buf).unwrap();
        ws.send_message(op, &buf).unwrap();
        let _ = ws.read();
    });
    let host = addr.to_string();
    let request = ClientRequest::with_random_key(&host, "/")
        .unwrap()
        .protocols(PROTOCOLS)
        .headers(HEADERS);
    let stream = TcpStream::connect(addr).unwrap();
    let mut ws = WebSocket::connect_with_config(stream, &request, client_config()).unwrap();
    check_client(ws.agreed());
    let text = "compressed both ways ".repeat(50);
    ws.send_text(&text).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text(&text));
    ws.close(zerows_util::CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[tokio::test]
async fn async_both_sides_see_what_was_agreed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut upgrader = Upgrader::with_hooks(Chat);
        let mut ws = AsyncWebSocket::accept_with_upgrader(stream, &mut upgrader, server_config())
            .await
            .unwrap();
        check_server(ws.agreed());
        let mut buf = Vec::new();
        let op = ws.read_into(&mut buf).await.unwrap();
        ws.send_message(op, &buf).await.unwrap();
        let _ = ws.read().await;
    });
    let host = addr.to_string();
    let request = ClientRequest::with_random_key(&host, "/")
        .unwrap()
        .protocols(PROTOCOLS)
        .headers(HEADERS);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut ws = AsyncWebSocket::connect_with_config(stream, &request, client_config())
        .await
        .unwrap();
    check_client(ws.agreed());
    let text = "compressed both ways ".repeat(50);
    ws.send_text(&text).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Text(&text));
    ws.close(zerows_util::CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

#[test]
fn nothing_agreed_nothing_kept() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let ws = WebSocket::accept(stream).unwrap();
        assert!(ws.agreed().is_none());
    });
    let host = addr.to_string();
    let request = ClientRequest::with_random_key(&host, "/").unwrap();
    let ws = WebSocket::connect(TcpStream::connect(addr).unwrap(), &request).unwrap();
    assert!(ws.agreed().is_none());
    server.join().unwrap();
}
