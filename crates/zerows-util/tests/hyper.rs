//! `zerows_util::hyper`: the one-call upgrade inside a real hyper 1.x server on 127.0.0.1,
//! against our own client and raw sockets (to see statuses, reasons and RSV1 on the wire).

mod upgrade_common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::{TcpListener, TcpStream};
use upgrade_common::{RawClient, WAIT, deflate_raw, inflate_raw, raw_request, upgrade_request};
use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::origin::AllowList;
use zerows_upgrade::server::{HookResult, Hooks, Protocols, Upgrader};
use zerows_util::deflate::DeflateConfig;
use zerows_util::hyper::{TokioIo, upgrade_with};
use zerows_util::{AsyncWebSocket, Config, Error, Message};

/// The application's hooks: an Origin allow-list and a subprotocol choice.
struct App;

impl Hooks for App {
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        AllowList::new(&["http://allowed.example"]).check(origin, host)
    }
    fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
        offered.find(|p| *p == "chat.v2")
    }
}

/// On `/report` the server first sends what the connection agreed, then echoes; elsewhere it
/// echoes.
async fn handle(
    mut req: Request<Incoming>,
    config: Arc<Config>,
) -> Result<Response<String>, Infallible> {
    let report = req.uri().path() == "/report";
    let (response, upgrading) = match upgrade_with(&mut req, &mut Upgrader::with_hooks(App), config)
    {
        Ok(ok) => ok,
        Err(refused) => return Ok(refused.into_response()),
    };
    tokio::spawn(async move {
        let mut ws = upgrading.await?;
        if report {
            let a = ws.agreed().cloned().unwrap_or_default();
            let line = format!(
                "protocol={:?} cookie={:?} extensions={:?}",
                a.protocol(),
                a.header("cookie"),
                a.extensions()
            );
            ws.send_text(&line).await?;
        }
        let mut buf = Vec::new();
        loop {
            match ws.read_into(&mut buf).await {
                Ok(op) => ws.send_message(op, &buf).await?,
                Err(Error::Closed) => return Ok::<(), Error>(()),
                Err(e) => return Err(e),
            }
        }
    });
    Ok(response)
}

async fn server(config: Config) -> SocketAddr {
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let config = Arc::clone(&config);
            let service = service_fn(move |req| handle(req, Arc::clone(&config)));
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    addr
}

fn deflate_config() -> Config {
    Config::default()
        .deflate(DeflateConfig::default().no_context_takeover(true))
        .keep_header("cookie")
}

#[tokio::test]
async fn our_client_gets_the_subprotocol_deflate_and_kept_headers() {
    let addr = server(deflate_config()).await;
    let host = addr.to_string();
    let stream = TcpStream::connect(addr).await.unwrap();
    let request = ClientRequest::with_random_key(&host, "/report")
        .unwrap()
        .protocols(&["chat.v1", "chat.v2"])
        .headers(&[("Cookie", "sid=7")]);
    let client = Config::default().deflate(DeflateConfig::default());
    let mut ws = tokio::time::timeout(
        WAIT,
        AsyncWebSocket::connect_with_config(stream, &request, client),
    )
    .await
    .unwrap()
    .unwrap();
    let agreed = ws.agreed().unwrap();
    assert_eq!(agreed.protocol(), Some("chat.v2"));
    // The server's DeflateConfig is honoured: it answers server_no_context_takeover.
    let ext = agreed.extensions().unwrap().to_owned();
    assert!(
        ext.starts_with("permessage-deflate") && ext.contains("server_no_context_takeover"),
        "{ext}"
    );
    let Message::Text(report) = ws.read().await.unwrap() else {
        panic!("a text report first")
    };
    assert_eq!(
        report,
        format!(
            "protocol=Some(\"chat.v2\") cookie=Some(\"sid=7\") extensions=Some({:?})",
            ext
        )
    );
    let text = "compress me ".repeat(1000);
    ws.send_text(&text).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Text(&text));
    ws.close(zerows_util::CloseCode::NORMAL, "bye")
        .await
        .unwrap();
}

#[tokio::test]
async fn deflate_is_installed_on_the_connection_and_used_on_the_wire() {
    let addr = server(deflate_config()).await;
    let req = upgrade_request(
        addr,
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    let mut c = RawClient::connect(addr, &req).await;
    assert_eq!(c.response.status, 101, "{}", c.response.head);
    assert_eq!(
        c.response.header("sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover")
    );
    let text = "the same words again and again ".repeat(300);
    // A compressed text frame (FIN, RSV1, text): the server must inflate it…
    c.send(0x80 | 0x40 | 0x1, &deflate_raw(text.as_bytes()))
        .await;
    let echo = c.recv().await;
    // …and its echo comes back compressed.
    assert_eq!(echo.opcode(), 1);
    assert!(echo.rsv1(), "the echo is not compressed: {:#x}", echo.b0);
    assert!(
        echo.payload.len() < text.len() / 10,
        "{} bytes on the wire for {}",
        echo.payload.len(),
        text.len()
    );
    assert_eq!(inflate_raw(&echo.payload), text.as_bytes());
}

#[tokio::test]
async fn without_an_offer_nothing_is_compressed() {
    let addr = server(deflate_config()).await;
    let mut c = RawClient::connect(addr, &upgrade_request(addr, "/", "")).await;
    assert_eq!(c.response.status, 101);
    assert_eq!(c.response.header("sec-websocket-extensions"), None);
    // RSV1 without an agreed extension is a protocol error: close 1002.
    c.send(0x80 | 0x40 | 0x1, &deflate_raw(b"hello")).await;
    let close = c.recv().await;
    assert_eq!(close.opcode(), 8);
    assert_eq!(close.payload[..2], 1002u16.to_be_bytes());
}

#[tokio::test]
async fn a_bad_handshake_is_answered_400_with_its_reason() {
    let addr = server(Config::default()).await;
    let req = upgrade_request(addr, "/", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "tooshort");
    let resp = raw_request(addr, &req).await;
    assert_eq!(resp.status, 400, "{}", resp.head);
    assert_eq!(
        resp.body,
        zerows_upgrade::Error::InvalidKey.as_str(),
        "the reason is the body"
    );
}

#[tokio::test]
async fn a_page_request_is_answered_426() {
    let addr = server(Config::default()).await;
    let resp = raw_request(addr, &format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n")).await;
    assert_eq!(resp.status, 426, "{}", resp.head);
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    assert!(resp.body.contains("WebSocket"), "{}", resp.body);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_403() {
    let addr = server(Config::default()).await;
    let resp = raw_request(
        addr,
        &upgrade_request(addr, "/", "Origin: http://evil.example\r\n"),
    )
    .await;
    assert_eq!(resp.status, 403, "{}", resp.head);
    let ok = RawClient::connect(
        addr,
        &upgrade_request(addr, "/", "Origin: http://allowed.example\r\n"),
    )
    .await;
    assert_eq!(ok.response.status, 101);
}
