//! The echo server on the readiness-driven loops of [`zerows::poll`]: one mio event loop per
//! thread, each with its own `SO_REUSEPORT` listener on the address, no task and no buffer per
//! idle connection.
//!
//! The same behaviour and defaults as `echo_server` and `echo_server_tokio`: the default
//! `Config` (buffers from the process-wide pool only while data flows), permessage-deflate
//! negotiated when the client offers it (`--no-deflate` to turn it off; a compressing connection
//! keeps its zlib state and stays in the active form), every message echoed with the opcode it
//! came with.
//!
//! ```text
//! cargo run --release -p zerows --features poll --example echo_server_poll -- --addr 127.0.0.1:9001 --threads 2
//! ```
//!
//! Several processes may listen on the same address (`SO_REUSEPORT`): the kernel spreads new
//! connections over every listener of every process.

use std::sync::Arc;

use zerows::poll::{ConnId, Context, Handler, Options, Server, Service};
use zerows::upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows::util::deflate::DeflateConfig;
use zerows::{Config, Message};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-poll");
    }
}

/// Echoes every data message to its sender, with its opcode; the read buffer is borrowed, the
/// echo is queued and goes out when the loop's turn ends.
struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        let _ = cx.send(id, message.opcode(), message.payload());
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:9001");
    let mut deflate = true;
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            "--no-deflate" => deflate = false,
            "--threads" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => options = options.threads(n),
                None => usage(),
            },
            _ => usage(),
        }
    }
    let mut config = Config::default();
    if deflate {
        config = config.deflate(DeflateConfig::default());
    }
    let threads = options.threads;
    let server = Server::bind(&addr, options, Arc::new(config))?;
    eprintln!(
        "echo_server_poll: listening on ws://{} ({threads} event loops, permessage-deflate {})",
        server.local_addr(),
        if deflate { "on" } else { "off" }
    );
    server.run_with(|_worker| Service {
        handler: Echo,
        upgrader: Upgrader::with_hooks(ServerName),
    })
}

fn usage() -> ! {
    eprintln!("usage: echo_server_poll [--addr HOST:PORT] [--threads N] [--no-deflate]");
    std::process::exit(2);
}
