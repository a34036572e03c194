//! The echo server on tokio: one task per connection, on a single-threaded runtime by default or a
//! multi-threaded one with `--multi-thread`.
//!
//! The lean path, with the defaults: one `Arc<Config>` shared by every connection (no allocation
//! per connection for it), buffers from the process-wide pool only while data flows (an idle
//! connection holds none), permessage-deflate negotiated by the connection when the client offers
//! it (`--no-deflate` to turn it off; a compressing connection keeps about 420 KiB of zlib state).
//!
//! ```text
//! cargo run --release -p zerows --features tokio --example echo_server_tokio -- --addr 127.0.0.1:9001
//! ```
//!
//! Over TLS (`wss://`): `--tls-cert cert.pem --tls-key key.pem`.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use zerows::net::ServerTls;
use zerows::upgrade::server::{HeaderWriter, Hooks, Upgrader};
use zerows::util::deflate::DeflateConfig;
use zerows::{AsyncWebSocket, Config, Error};

/// Names the server in the 101 response (Autobahn reports use it as the agent name).
#[derive(Default)]
struct ServerName;

impl Hooks for ServerName {
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        out.header("Server", "zerows-tokio");
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: Arc<Config>,
) -> Result<(), Error> {
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

async fn run(addr: String, config: Arc<Config>, tls: Option<ServerTls>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "echo_server_tokio: listening on {}://{}",
        if tls.is_some() { "wss" } else { "ws" },
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let config = Arc::clone(&config);
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                Some(tls) => match tls.accept_async(stream).await {
                    Ok(s) => serve(s, config).await,
                    Err(e) => Err(Error::Io(e)),
                },
                None => serve(stream, config).await,
            };
            if let Err(e) = result
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
    let mut cert = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or(addr),
            "--multi-thread" => multi = true,
            "--no-deflate" => deflate = false,
            "--tls-cert" => cert = args.next(),
            "--tls-key" => key = args.next(),
            _ => {
                eprintln!(
                    "usage: echo_server_tokio [--addr HOST:PORT] [--multi-thread] [--no-deflate] \
                     [--tls-cert PEM --tls-key PEM]"
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
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(
            ServerTls::from_pem_files(&cert, &key)
                .map_err(|e| std::io::Error::other(format!("--tls-cert/--tls-key: {e}")))?,
        ),
        (None, None) => None,
        _ => {
            eprintln!("echo_server_tokio: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    rt.block_on(run(addr, Arc::new(config), tls))
}
