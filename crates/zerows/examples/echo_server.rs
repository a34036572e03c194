//! An echo server, a thread per connection: echoes text and binary messages, answers pings, and
//! completes the close handshake. What the Autobahn suite (`kosoku -m fuzzingclient`) and a browser
//! talk to.
//!
//! ```text
//! cargo run --release -p zerows --example echo_server -- --addr 127.0.0.1:9001
//! ```
//! Then, in a browser console: `ws = new WebSocket("ws://127.0.0.1:9001"); ws.onmessage = e =>
//! console.log(e.data); ws.onopen = () => ws.send("hello")`.
//!
//! Over TLS (`wss://`), with a PEM certificate chain and key:
//! `echo_server --addr 127.0.0.1:9443 --tls-cert cert.pem --tls-key key.pem`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use zerows::net::ServerTls;
use zerows::util::Transport;

use zerows::upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows::util::deflate::DeflateConfig;
use zerows::{Config, Error, OpCode, WebSocket};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
#[derive(Default)]
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-sync");
    }
}

fn serve<S: Transport + Read + Write>(stream: S, config: Arc<Config>) -> Result<(), Error> {
    // permessage-deflate when the client offers it (browsers do) and the config has it
    let mut ws =
        WebSocket::accept_with_upgrader(stream, &mut Upgrader::with_hooks(ServerName), config)?;
    let mut buf = Vec::new();
    loop {
        let op = match ws.read_into(&mut buf) {
            Ok(op) => op,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        debug_assert!(matches!(op, OpCode::Text | OpCode::Binary));
        // Queued, not written: the next read writes every queued reply before it waits, so a burst
        // of messages is answered with one write.
        ws.feed_message(op, &buf)?;
        // Our own buffer: do not keep what one large message grew it to.
        if buf.capacity() > 16 << 10 {
            buf = Vec::new();
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:9001");
    let mut deflate = true;
    let mut cert = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            "--no-deflate" => deflate = false,
            "--tls-cert" => cert = args.next(),
            "--tls-key" => key = args.next(),
            _ => {
                eprintln!(
                    "usage: echo_server [--addr HOST:PORT] [--no-deflate] [--tls-cert PEM --tls-key PEM]"
                );
                std::process::exit(2);
            }
        }
    }
    let mut config = Config::default();
    if deflate {
        config = config.deflate(DeflateConfig::default());
    }
    let config = Arc::new(config);
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(
            ServerTls::from_pem_files(&cert, &key)
                .map_err(|e| std::io::Error::other(format!("--tls-cert/--tls-key: {e}")))?,
        ),
        (None, None) => None,
        _ => {
            eprintln!("echo_server: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(&addr)?;
    eprintln!(
        "echo_server: listening on {}://{} (permessage-deflate {})",
        if tls.is_some() { "wss" } else { "ws" },
        listener.local_addr()?,
        if deflate { "on" } else { "off" }
    );
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let config = Arc::clone(&config);
        let tls = tls.clone();
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let result = match tls {
                // the TLS handshake on this connection's thread, bounded by its accept timeout
                Some(tls) => tls
                    .accept(stream)
                    .map_err(Error::Io)
                    .and_then(|s| serve(s, config)),
                None => serve(stream, config),
            };
            if let Err(e) = result
                && std::env::var_os("ZEROWS_VERBOSE").is_some()
            {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}
