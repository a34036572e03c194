//! An echo server, a thread per connection: echoes text and binary messages, answers pings, and
//! completes the close handshake. What the Autobahn suite (`kosoku -m fuzzingclient`) and a browser
//! talk to.
//!
//! ```text
//! cargo run --release -p zerows-util --example echo_server -- --addr 127.0.0.1:9001
//! ```
//! Then, in a browser console: `ws = new WebSocket("ws://127.0.0.1:9001"); ws.onmessage = e =>
//! console.log(e.data); ws.onopen = () => ws.send("hello")`.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use zerows_upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows_util::deflate::DeflateConfig;
use zerows_util::{Config, Error, OpCode, WebSocket};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
#[derive(Default)]
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-sync");
    }
}

fn serve(stream: TcpStream, config: Arc<Config>) -> Result<(), Error> {
    stream.set_nodelay(true)?;
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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            "--no-deflate" => deflate = false,
            _ => {
                eprintln!("usage: echo_server [--addr HOST:PORT] [--no-deflate]");
                std::process::exit(2);
            }
        }
    }
    let mut config = Config::default();
    if deflate {
        config = config.deflate(DeflateConfig::default());
    }
    let config = Arc::new(config);
    let listener = TcpListener::bind(&addr)?;
    eprintln!(
        "echo_server: listening on ws://{} (permessage-deflate {})",
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
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, config)
                && std::env::var_os("ZEROWS_VERBOSE").is_some()
            {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}
