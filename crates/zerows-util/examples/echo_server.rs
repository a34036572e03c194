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

use zerows_upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows_util::{Config, Error, OpCode, WebSocket};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
#[derive(Default)]
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-sync");
    }
}

fn serve(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let mut upgrader = Upgrader::with_hooks(ServerName);
    let mut ws = WebSocket::accept_with(stream, &mut upgrader, Config::default())?;
    let mut buf = Vec::new();
    loop {
        let op = match ws.read_into(&mut buf) {
            Ok(op) => op,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        debug_assert!(matches!(op, OpCode::Text | OpCode::Binary));
        ws.send_message(op, &buf)?;
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:9001");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            _ => {
                eprintln!("usage: echo_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr)?;
    eprintln!("echo_server: listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            if let Err(e) = serve(stream)
                && std::env::var_os("ZEROWS_VERBOSE").is_some()
            {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}
