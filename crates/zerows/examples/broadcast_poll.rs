//! Broadcast on the readiness-driven loops of [`zerows::poll`]: every line typed on stdin (or, with
//! `--tick`, a line every second) goes to every connected client of every event loop, encoded
//! once.
//!
//! Each line becomes one [`PreparedMessage`] (the server frame built once, its bytes shared) and is
//! handed to every loop through its [`Handle`] (the thread-safe side: a mailbox and a wake-up);
//! each loop queues it on each of its connections without copying it (a dormant connection is
//! woken for it and goes back to rest once it is written). A member that agreed permessage-deflate
//! gets it compressed for its connection (a compressor's state is per connection).
//!
//! Bounds: a member that does not read is closed with 1008 once more than
//! [`Options::max_backlog`] bytes (1 MiB by default) wait for it; the kernel's socket buffer
//! comes before that.
//!
//! ```text
//! # lines typed on stdin go to every client of ws://127.0.0.1:9002/
//! cargo run --release -p zerows --features poll --example broadcast_poll -- --addr 127.0.0.1:9002
//! # a tick every second instead
//! cargo run --release -p zerows --features poll --example broadcast_poll -- --tick
//! ```
//! `--threads N` sets the event loops (default: one per CPU); `--no-deflate` turns
//! permessage-deflate off. What clients send is ignored (pings are answered).

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use zerows::poll::{ConnId, Context, Handle, Handler, Opened, Options, Server};
use zerows::util::PreparedMessage;
use zerows::util::deflate::DeflateConfig;
use zerows::{Config, Message, OpCode};

/// The members of one loop: nothing to keep (the loop knows its connections); counts them for
/// the log.
pub(crate) struct Members {
    pub(crate) worker: usize,
    pub(crate) open: usize,
}

impl Handler for Members {
    fn on_open(&mut self, _cx: &mut Context<'_>, _id: ConnId, _opened: &Opened<'_>) {
        self.open += 1;
        if self.open.is_power_of_two() {
            eprintln!(
                "broadcast_poll: loop {} has {} members",
                self.worker, self.open
            );
        }
    }

    fn on_message(&mut self, _cx: &mut Context<'_>, _id: ConnId, _message: Message<'_>) {}

    fn on_close(&mut self, _cx: &mut Context<'_>, _id: ConnId, _closed: &zerows::poll::Closed<'_>) {
        self.open -= 1;
    }
}

/// Sends `text` to every member of every loop: one encoding, one handle command per loop.
pub(crate) fn broadcast(handles: &[Handle], text: &str) {
    let msg = PreparedMessage::new(OpCode::Text, text.as_bytes());
    for h in handles {
        h.broadcast_all(msg.clone());
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:9002");
    let mut deflate = true;
    let mut tick = false;
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            "--no-deflate" => deflate = false,
            "--tick" => tick = true,
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
    let server = Server::bind(&addr, options, Arc::new(config))?;
    eprintln!(
        "broadcast_poll: listening on ws://{} ({})",
        server.local_addr(),
        if tick {
            "a tick every second"
        } else {
            "stdin lines go to every client"
        }
    );
    let handles = server.handles();
    std::thread::spawn(move || {
        if tick {
            for n in 1u64.. {
                std::thread::sleep(Duration::from_secs(1));
                broadcast(&handles, &format!("tick {n}"));
            }
        } else {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                broadcast(&handles, &line);
            }
        }
    });
    server.run(|worker| Members { worker, open: 0 })
}

fn usage() -> ! {
    eprintln!("usage: broadcast_poll [--addr HOST:PORT] [--threads N] [--tick] [--no-deflate]");
    std::process::exit(2);
}
