//! A WebSocket echo server inside hyper 1.x, with permessage-deflate, in one call:
//! `zerows::hyper::upgrade(&mut req, config)` validates the request, negotiates the `Config`'s
//! extension and returns the `101` response plus a future of the connection (with the extension
//! installed). Other requests on `/` get a small text page; a plain `GET` on `/ws` gets `426`.
//!
//! ```text
//! cargo run -p zerows --features hyper --example hyper_server -- --addr 127.0.0.1:3001
//! ```
//!
//! The low-level version of the same steps, without a connection type (validation only, raw
//! frames): `crates/zerows-upgrade/examples/hyper_upgrade.rs`.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use zerows::hyper::{HyperWebSocket, TokioIo};
use zerows::util::deflate::DeflateConfig;
use zerows::{Config, Error};

async fn echo(mut ws: HyperWebSocket) -> Result<(), Error> {
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf).await {
            // Queued; written (with any other replies) before the next read waits.
            Ok(opcode) => ws.feed_message(opcode, &buf).await?,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    config: Arc<Config>,
) -> Result<Response<String>, Infallible> {
    if req.uri().path() != "/ws" {
        return Ok(Response::new(
            "a WebSocket echo server: connect to /ws\n".to_owned(),
        ));
    }
    // `String` is a hyper body: no body crate needed. axum's `Body` or
    // `http_body_util::Full<Bytes>` work the same way.
    let (response, upgrading) = match zerows::hyper::upgrade(&mut req, config) {
        Ok(ok) => ok,
        Err(refused) => {
            eprintln!("hyper_server: refused: {refused}");
            return Ok(refused.into_response());
        }
    };
    tokio::spawn(async move {
        // Resolves once hyper has sent the 101.
        let ws = match upgrading.await {
            Ok(ws) => ws,
            Err(e) => return eprintln!("hyper_server: upgrade failed: {e}"),
        };
        let compressed = ws.agreed().and_then(|a| a.extensions()).is_some();
        eprintln!("hyper_server: connection open (permessage-deflate: {compressed})");
        if let Err(e) = echo(ws).await {
            eprintln!("hyper_server: {e}");
        }
    });
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3001".to_owned();
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            _ => {
                eprintln!("usage: hyper_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    // One Config for every connection: compression on, 1 MiB messages at most.
    let config = Arc::new(
        Config::default()
            .deflate(DeflateConfig::default())
            .max_message_size(1 << 20),
    );
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "hyper_server: listening on ws://{}/ws",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&config)));
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades(); // without it, the connection cannot be handed over
            if let Err(e) = conn.await {
                eprintln!("hyper_server: connection error: {e}");
            }
        });
    }
}
