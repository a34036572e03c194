//! `zerows_util::axum::WebSocketUpgrade` in a real axum 0.8 server on 127.0.0.1: subprotocols,
//! Origin policy, refusals, permessage-deflate (with our client, raw frames and Python
//! `websockets`), and the limits of `Config` on the connection.

mod upgrade_common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use tokio::net::{TcpListener, TcpStream};
use upgrade_common::{RawClient, WAIT, deflate_raw, raw_request, upgrade_request};
use zerows_upgrade::client::ClientRequest;
use zerows_util::axum::{HyperWebSocket, WebSocketUpgrade};
use zerows_util::deflate::DeflateConfig;
use zerows_util::{AsyncWebSocket, CloseCode, Config, Error, Message};

/// Sends what the connection agreed as the first message, then echoes.
async fn report_and_echo(mut ws: HyperWebSocket) {
    let a = ws.agreed().cloned().unwrap_or_default();
    let line = format!(
        "protocol={:?} extensions={:?}",
        a.protocol(),
        a.extensions()
    );
    if ws.send_text(&line).await.is_err() {
        return;
    }
    let mut buf = Vec::new();
    while let Ok(op) = ws.read_into(&mut buf).await {
        if ws.send_message(op, &buf).await.is_err() {
            return;
        }
    }
}

async fn echo(mut ws: HyperWebSocket) {
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf).await {
            Ok(op) => {
                if ws.send_message(op, &buf).await.is_err() {
                    return;
                }
            }
            Err(Error::Closed) => return,
            Err(_) => return,
        }
    }
}

async fn server() -> SocketAddr {
    let deflate = Arc::new(Config::default().deflate(DeflateConfig::default()));
    let app = Router::new()
        .route(
            "/chat",
            any(move |ws: WebSocketUpgrade| {
                let deflate = Arc::clone(&deflate);
                async move {
                    ws.protocols(["chat.v1", "chat.v2"])
                        .allowed_origins(&["http://allowed.example"])
                        .config(deflate)
                        .on_upgrade(report_and_echo)
                }
            }),
        )
        .route(
            "/small",
            any(|ws: WebSocketUpgrade| async move {
                ws.config(Config::default().max_message_size(1024))
                    .on_upgrade(echo)
            }),
        )
        .route(
            "/plain",
            any(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn connect(
    addr: SocketAddr,
    path: &str,
    protocols: &[&str],
    config: Config,
) -> AsyncWebSocket<TcpStream> {
    let host = addr.to_string();
    let stream = TcpStream::connect(addr).await.unwrap();
    let request = ClientRequest::with_random_key(&host, path)
        .unwrap()
        .protocols(protocols);
    tokio::time::timeout(
        WAIT,
        AsyncWebSocket::connect_with_config(stream, &request, config),
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn the_first_of_our_protocols_the_client_offers_is_agreed() {
    let addr = server().await;
    let mut ws = connect(
        addr,
        "/chat",
        &["x", "chat.v2", "chat.v1"],
        Config::default(),
    )
    .await;
    assert_eq!(ws.agreed().unwrap().protocol(), Some("chat.v1"));
    let Message::Text(report) = ws.read().await.unwrap() else {
        panic!("a report first")
    };
    assert_eq!(report, "protocol=Some(\"chat.v1\") extensions=None");
    // Offered nothing in common: no subprotocol.
    let ws = connect(addr, "/chat", &["x"], Config::default()).await;
    assert_eq!(ws.agreed().and_then(|a| a.protocol()), None);
}

#[tokio::test]
async fn deflate_is_negotiated_with_our_client_and_used_on_the_wire() {
    let addr = server().await;
    let client = Config::default().deflate(DeflateConfig::default());
    let mut ws = connect(addr, "/chat", &[], client).await;
    let ext = ws.agreed().unwrap().extensions().unwrap().to_owned();
    assert!(ext.starts_with("permessage-deflate"), "{ext}");
    let Message::Text(report) = ws.read().await.unwrap() else {
        panic!("a report first")
    };
    assert_eq!(report, format!("protocol=None extensions=Some({ext:?})"));
    let text = "zerows ".repeat(2000);
    ws.send_text(&text).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Text(&text));

    // On the wire: RSV1 set and the payload much smaller than the text.
    let req = upgrade_request(
        addr,
        "/chat",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    let mut c = RawClient::connect(addr, &req).await;
    assert_eq!(c.response.status, 101, "{}", c.response.head);
    let report = c.recv().await;
    assert!(report.rsv1());
    c.send(0x80 | 0x40 | 0x2, &deflate_raw(text.as_bytes()))
        .await;
    let echo = c.recv().await;
    assert_eq!(echo.opcode(), 2);
    assert!(
        echo.rsv1() && echo.payload.len() < text.len() / 10,
        "{}",
        echo.payload.len()
    );
    assert_eq!(
        inflate_raw_after(&report.payload, &echo.payload),
        text.as_bytes()
    );
}

/// Inflates `second` with the context the first message left (context takeover, RFC 7692 §7.2.3).
fn inflate_raw_after(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut both = Vec::new();
    let mut d = flate2::Decompress::new(false);
    for m in [first, second] {
        let mut input = m.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        both = out;
    }
    both
}

#[tokio::test]
async fn config_limits_apply_oversize_is_closed_1009() {
    let addr = server().await;
    let mut ws = connect(addr, "/small", &[], Config::default()).await;
    ws.send_binary(&[7; 1024]).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Binary(&[7; 1024]));
    ws.send_binary(&[7; 1025]).await.unwrap();
    match ws.read().await.unwrap() {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::MESSAGE_TOO_BIG),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_utf8_is_closed_1007() {
    let addr = server().await;
    let mut c = RawClient::connect(addr, &upgrade_request(addr, "/plain", "")).await;
    assert_eq!(c.response.status, 101);
    c.send(0x81, &[0xff, 0xfe]).await;
    let close = c.recv().await;
    assert_eq!(close.opcode(), 8);
    assert_eq!(close.payload[..2], 1007u16.to_be_bytes());
}

#[tokio::test]
async fn a_bad_handshake_is_rejected_400_with_its_reason() {
    let addr = server().await;
    let req = upgrade_request(addr, "/plain", "").replace(
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13",
    );
    let resp = raw_request(addr, &req).await;
    assert_eq!(resp.status, 426, "two versions: {}", resp.head);
    let req = upgrade_request(addr, "/plain", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "!!");
    let resp = raw_request(addr, &req).await;
    assert_eq!(resp.status, 400, "{}", resp.head);
    assert_eq!(resp.body, zerows_upgrade::Error::InvalidKey.as_str());
}

#[tokio::test]
async fn a_page_request_is_rejected_426_and_a_post_405() {
    let addr = server().await;
    let resp = raw_request(
        addr,
        &format!("GET /plain HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
    .await;
    assert_eq!(resp.status, 426, "{}", resp.head);
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    assert!(resp.body.contains("WebSocket"), "{}", resp.body);
    let resp = raw_request(
        addr,
        &format!("POST /plain HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"),
    )
    .await;
    assert_eq!(resp.status, 405, "{}", resp.head);
    assert_eq!(resp.header("allow"), Some("get"));
}

#[tokio::test]
async fn a_foreign_origin_is_refused_403() {
    let addr = server().await;
    let resp = raw_request(
        addr,
        &upgrade_request(addr, "/chat", "Origin: http://evil.example\r\n"),
    )
    .await;
    assert_eq!(resp.status, 403, "{}", resp.head);
    assert!(resp.body.contains("origin"), "{}", resp.body);
    let ok = RawClient::connect(
        addr,
        &upgrade_request(addr, "/chat", "Origin: http://allowed.example\r\n"),
    )
    .await;
    assert_eq!(ok.response.status, 101);
}

/// The Python client: offers permessage-deflate (websockets' default) and chat.v2, prints what
/// was agreed and whether a 6 KB text came back intact.
const PYTHON_CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect

async def main():
    async with connect(sys.argv[1], subprotocols=["chat.v2"], open_timeout=10) as ws:
        print("extensions", ws.response.headers.get("Sec-WebSocket-Extensions"))
        print("protocol", ws.subprotocol)
        print("report", await asyncio.wait_for(ws.recv(), 10))
        text = "hello from python " * 350
        await ws.send(text)
        print("echo", (await asyncio.wait_for(ws.recv(), 10)) == text)

asyncio.run(main())
"#;

#[tokio::test]
#[ignore = "needs Python with websockets 15 (bash scripts/net-peers.sh); run by scripts/net-interop.sh"]
async fn python_websockets_negotiates_deflate_through_axum() {
    let addr = server().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("ZEROWS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-net/bin/python"));
    let url = format!("ws://{addr}/chat");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg("-c")
            .arg(PYTHON_CLIENT)
            .arg(url)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", python.display()))
    });
    let out = tokio::time::timeout(WAIT * 3, out).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |k: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(k).map(str::trim).map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(
        line("extensions").starts_with("permessage-deflate"),
        "{stdout}"
    );
    assert_eq!(line("protocol"), "chat.v2");
    assert!(
        line("report").contains("permessage-deflate"),
        "the server's connection: {stdout}"
    );
    assert_eq!(line("echo"), "True", "{stdout}");
}
