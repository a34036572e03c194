//! The echo server on tokio: one task per connection, on a single-threaded runtime by default or a
//! multi-threaded one with `--multi-thread`.
//!
//! ```text
//! cargo run --release -p zerows-util --features tokio --example echo_server_tokio -- --addr 127.0.0.1:9001
//! ```

use tokio::net::{TcpListener, TcpStream};
use zerows_upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows_util::deflate::{DeflateConfig, DeflateHooks};
use zerows_util::{AsyncWebSocket, Config, Error, Role};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
#[derive(Default)]
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-tokio");
    }
}

async fn serve(stream: TcpStream, deflate: bool) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let mut ws = if deflate {
        let mut upgrader =
            Upgrader::with_hooks(DeflateHooks::new(ServerName, DeflateConfig::default()));
        let mut ws = AsyncWebSocket::accept_with(stream, &mut upgrader, Config::default()).await?;
        if let Some(agreed) = upgrader.hooks_mut().take_agreed() {
            ws.set_extension(agreed.extension(Role::Server));
        }
        ws
    } else {
        let mut upgrader = Upgrader::with_hooks(ServerName);
        AsyncWebSocket::accept_with(stream, &mut upgrader, Config::default()).await?
    };
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf).await {
            // Queued; the next read writes the queued replies before it waits (one write per burst).
            Ok(op) => ws.feed_message(op, &buf).await?,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

async fn run(addr: String, deflate: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "echo_server_tokio: listening on ws://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(stream, deflate).await
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
    rt.block_on(run(addr, deflate))
}
