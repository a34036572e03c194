//! Upgrading to WebSocket inside hyper (the `http` feature, gobwas' `HTTPUpgrader` equivalent).
//!
//! hyper parses the request; `zerows_upgrade::http::upgrade` runs the same RFC 6455 validation
//! and hooks as the raw-stream path and builds the `101`; `hyper::upgrade::on` then hands over
//! the connection (with any bytes hyper already buffered). A client built on this crate's
//! blocking `client::handshake` talks to it over loopback.
//!
//! This is the low-level demo of the handshake alone: it stops at raw frames. For a connection
//! (messages, control frames, limits, permessage-deflate negotiated and installed) in one call,
//! use `zerows_util::hyper::upgrade` (`zerows` feature `hyper`; example
//! `crates/zerows/examples/hyper_server.rs`) or the axum extractor (feature `axum`).
//!
//! Run: `cargo run -p zerows-upgrade --features http --example hyper_upgrade`

use std::convert::Infallible;
use std::io::{Read, Write};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zerows_upgrade::client::{self, ClientRequest};
use zerows_upgrade::server::{HookResult, Hooks, Protocols, Rejection, Upgrader};

/// Routing and subprotocol choice, as hooks.
struct Chat;

impl Hooks for Chat {
    fn on_request(&mut self, target: &str) -> HookResult {
        if target.starts_with("/chat") {
            Ok(())
        } else {
            Err(Rejection::NOT_FOUND.with_body(b"no websocket here\n"))
        }
    }

    fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
        offered.find(|p| *p == "chat.v1")
    }
}

async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut upgrader = Upgrader::with_hooks(Chat);
    let response = match zerows_upgrade::http::upgrade(&mut upgrader, &req) {
        Ok(response) => response,
        Err(refused) => {
            eprintln!("server: refused: {}", refused.error);
            return Ok(refused
                .response
                .map(|body| Full::new(Bytes::from_static(body))));
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => return eprintln!("server: upgrade failed: {e}"),
        };
        let mut io = TokioIo::new(upgraded);
        // `zerows_util::hyper::upgrade` would hand `io` to a connection; here: raw frames.
        // Server → client: unmasked text frame "hello" (RFC 6455 §5.7).
        io.write_all(b"\x81\x05hello").await.ok();
        // Client → server: the client's masked frame.
        let mut frame = [0u8; 64];
        let n = io.read(&mut frame).await.unwrap_or(0);
        println!("server: received a {n}-byte frame from the client");
    });
    Ok(response.map(|()| Full::new(Bytes::new())))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        // Two connections: one upgrade, one refused request.
        for _ in 0..2 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let conn = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .with_upgrades();
                if let Err(e) = conn.await {
                    eprintln!("server: connection error: {e}");
                }
            });
        }
    });

    let client = tokio::task::spawn_blocking(
        move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let host = addr.to_string();
            let mut stream = std::net::TcpStream::connect(addr)?;
            let request =
                ClientRequest::with_random_key(&host, "/chat")?.protocols(&["chat.v2", "chat.v1"]);
            let mut buf = [0u8; 1024];
            let hs = client::handshake(&mut stream, &request, &mut buf)?;
            println!("client: upgraded, subprotocol {:?}", hs.protocol());
            let mut frames = hs.leftover().to_vec();
            while frames.len() < 7 {
                let mut more = [0u8; 64];
                let n = stream.read(&mut more)?;
                if n == 0 {
                    break;
                }
                frames.extend_from_slice(&more[..n]);
            }
            println!(
                "client: first frame {:?}",
                String::from_utf8_lossy(&frames[2..])
            );
            // Client → server frames are masked (RFC 6455 §5.3): "hi" with mask 1,2,3,4.
            stream.write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])?;

            // A request the hooks refuse: the client sees the status.
            let mut stream = std::net::TcpStream::connect(addr)?;
            let request = ClientRequest::with_random_key(&host, "/elsewhere")?;
            match client::handshake(&mut stream, &request, &mut buf) {
                Err(e) => println!(
                    "client: refused with status {:?}",
                    e.status().map(|s| s.as_u16())
                ),
                Ok(_) => println!("client: unexpectedly upgraded"),
            }
            Ok(())
        },
    );
    client.await??;
    // Let the server task print what it received.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}
