//! The echo server on tokio: one task per connection, on a single-threaded runtime by default or a
//! multi-threaded one with `--multi-thread`.
//!
//! The lean path, with the defaults: one `Arc<Config>` shared by every connection (no allocation
//! per connection for it), buffers from the process-wide pool only while data flows (an idle
//! connection holds none), permessage-deflate negotiated by the connection when the client offers
//! it (`--no-deflate` to turn it off; a compressing connection keeps about 420 KiB of zlib state).
//!
//! ```text
//! cargo run --release -p zerows-util --features tokio --example echo_server_tokio -- --addr 127.0.0.1:9001
//! ```

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use zerows_upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows_util::deflate::DeflateConfig;
use zerows_util::{AsyncWebSocket, Config, Error};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
#[derive(Default)]
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-tokio");
    }
}

async fn serve(stream: TcpStream, config: Arc<Config>) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let mut upgrader = Upgrader::with_hooks(ServerName);
    let mut ws = AsyncWebSocket::accept_with_upgrader(stream, &mut upgrader, config).await?;
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf).await {
            // Queued; the next read writes the queued replies before it waits (one write per burst).
            Ok(op) => ws.feed_message(op, &buf).await?,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        }
        // Our own buffer: do not keep what one large message grew it to (an idle connection
        // should hold nothing; the connection's buffers went back to the pool already).
        if buf.capacity() > 16 << 10 {
            buf = Vec::new();
        }
    }
}

async fn run(addr: String, config: Arc<Config>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "echo_server_tokio: listening on ws://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            if let Err(e) = serve(stream, config).await
                && std::env::var_os("ZEROWS_VERBOSE").is_some()
            {
                eprintln!("connection: {e}");
            }
        });
    }
}

fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:9001");
    let mut multi = false;
    let mut deflate = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            "--multi-thread" => multi = true,
            "--no-deflate" => deflate = false,
            _ => {
                eprintln!(
                    "usage: echo_server_tokio [--addr HOST:PORT] [--multi-thread] [--no-deflate]"
                );
                std::process::exit(2);
            }
        }
    }
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    let mut config = Config::default();
    if deflate {
        config = config.deflate(DeflateConfig::default());
    }
    rt.block_on(run(addr, Arc::new(config)))
}
