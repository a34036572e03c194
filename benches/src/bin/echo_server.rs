//! One echo server per stack, for the loopback benchmarks. Every tokio server runs on a
//! single-threaded (`current_thread`) runtime with a task per connection; `zerows-sync` is the
//! blocking example design (a thread per connection). Every accepted socket gets `TCP_NODELAY`.
//! Text and binary messages are echoed with the same opcode; UTF-8 validation is each stack's
//! default (on for all of them).
//!
//! ```text
//! echo_server --stack NAME [--addr 127.0.0.1:0] [--no-pool] [--tls-cert PEM --tls-key PEM]
//! echo_server --gen-cert DIR
//! ```
//! Prints `listening <addr>` on stdout once bound.
//!
//! TLS (`--tls-cert`, `--tls-key`; stacks `zerows-tokio`, `zerows-sync`, `tokio-tungstenite`):
//! one `zerows_net::ServerTls` is built from the PEM files (rustls, aws-lc-rs provider, ALPN
//! `http/1.1`). The zerows servers accept through it (`accept_async` / `accept`, which hand
//! `zerows_net::AsyncStream` / `Stream` to the same `accept_with_config` and echo loop as over
//! TCP); tokio-tungstenite gets a `tokio_rustls::TlsAcceptor` made from that very
//! `Arc<rustls::ServerConfig>` (same certificate, provider, ALPN, session cache and tickets),
//! bounded by the same accept timeout, so only the WebSocket stack differs.
//! `--gen-cert DIR` writes a throwaway CA (`ca.pem`) and a server certificate it signs
//! (`cert.pem`, leaf then CA; `key.pem`; ECDSA P-256, names 127.0.0.1 and localhost) made with
//! rcgen, and exits; the bench harness makes them in a temporary directory for each run.
//!
//! Stacks:
//! - `raw`: the floor. The zerows handshake, then a plain TCP echo of whatever bytes arrive (no
//!   framing), with a 64 KiB buffer.
//! - `bare`: the idle-memory baseline. The zerows handshake, then a task that holds the upgraded
//!   `TcpStream` and discards what it reads.
//! - `zerows-sync`: `zerows_util::WebSocket`, thread per connection.
//! - `zerows-poll`: `zerows_poll::Server` with one event loop (mio, edge-triggered epoll), the
//!   default `Options` and `Config`: no task, no future and no buffer per idle connection.
//! - `zerows-tokio`: `zerows_util::AsyncWebSocket` with the default `Config` (one `Arc<Config>`
//!   shared by every connection, as the shipped example does; its default pool is the
//!   process-wide `BufferPool::shared()`, so idle connections hold no I/O buffer); `--no-pool`
//!   gives each connection its own buffers (`Config::without_pool`);
//!   `--box-accept` awaits `AsyncWebSocket::accept` through `Box::pin`, so its stack buffers
//!   (8 KiB + 2 KiB) do not become part of the connection task (see `--sizes`).
//!
//! `echo_server --sizes` prints the size of each stack's connection task future and exits.
//! - `tokio-tungstenite`: `accept_async`, `StreamExt::next` / `SinkExt::send`, default config.
//! - `fastwebsockets`: the hyper upgrade (its documented server handshake), `FragmentCollector`.
//! - `tokio-websockets`: `ServerBuilder::accept`, `StreamExt::next` / `SinkExt::send`.
//!
//! The zerows loops copy each message into the application's buffer with `read_into` and reply
//! with `feed_message` (as the shipped examples do): replies are queued and written by the next
//! read before it waits, so a burst of messages read in one syscall is answered with one write.
//! The peers' loops use their documented one-message send (`SinkExt::send`, `write_frame`), which
//! writes and flushes each reply. The zerows loops drop the application buffer when it grew past
//! 16 KiB, so an idle connection keeps no message-sized buffer (the peers' messages are owned and
//! dropped too).

use std::io::{self, Write};
use std::net::{TcpListener as StdListener, TcpStream as StdStream};

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zerows_upgrade::Status;
use zerows_upgrade::server::Upgrader;

use zerows_net::ServerTls;
use zerows_util::Config;

const APP_BUF_KEEP: usize = 16 << 10;

pub(crate) fn main() -> io::Result<()> {
    let mut stack = String::new();
    let mut addr = String::from("127.0.0.1:0");
    let mut pool = true;
    let mut box_accept = false;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--stack" => stack = args.next().unwrap_or_default(),
            "--addr" => addr = args.next().unwrap_or(addr),
            "--no-pool" => pool = false,
            "--box-accept" => box_accept = true,
            "--sizes" => return sizes(),
            "--gen-cert" => return gen_cert(&args.next().unwrap_or_else(|| usage())),
            "--tls-cert" => tls_cert = args.next(),
            "--tls-key" => tls_key = args.next(),
            _ => usage(),
        }
    }
    // Diagnostics: ECHO_MALLOC_STATS=SECS prints glibc's malloc_stats() to stderr every SECS s
    // (in-use vs system bytes: live allocations vs fragmentation).
    if let Some(secs) = std::env::var("ECHO_MALLOC_STATS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs));
                // SAFETY: malloc_stats only prints glibc's allocator statistics.
                unsafe { malloc_stats() };
            }
        });
    }
    let config = Arc::new(if pool {
        Config::default()
    } else {
        Config::default().without_pool()
    });
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => {
            if !matches!(
                stack.as_str(),
                "zerows-tokio" | "zerows-sync" | "tokio-tungstenite"
            ) || box_accept
            {
                eprintln!("echo_server: no TLS server for the stack {stack}");
                std::process::exit(2);
            }
            Some(ServerTls::from_pem_files(cert, key).map_err(other)?)
        }
        (None, None) => None,
        _ => usage(),
    };
    if stack == "zerows-sync" {
        return sync_server(&addr, config, tls);
    }
    if stack == "zerows-poll" {
        return poll_server(&addr, config);
    }
    // tokio-tungstenite's acceptor: the same `Arc<ServerConfig>` as zerows' `ServerTls`.
    let acceptor = tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.config().clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            // One spawn per stack, so each task is as large as its own future (a single
            // `async` block matching on the stack would be as large as the largest one).
            let config = config.clone();
            if let Some(tls) = &tls {
                match stack.as_str() {
                    "zerows-tokio" => spawn(
                        "zerows-tokio-tls",
                        zerows_tokio_tls(stream, config, tls.clone()),
                    ),
                    _ => spawn(
                        "tokio-tungstenite-tls",
                        tokio_tungstenite_tls(stream, acceptor.clone().expect("acceptor")),
                    ),
                }
                continue;
            }
            match stack.as_str() {
                "raw" => spawn("raw", raw(stream)),
                "bare" => spawn("bare", bare(stream)),
                "zerows-tokio" if box_accept => {
                    spawn("zerows-tokio", zerows_tokio_boxed(stream, config))
                }
                "zerows-tokio" => spawn("zerows-tokio", zerows_tokio(stream, config)),
                "tokio-tungstenite" => spawn("tokio-tungstenite", tokio_tungstenite(stream)),
                "fastwebsockets" => spawn("fastwebsockets", fastwebsockets(stream)),
                "tokio-websockets" => spawn("tokio-websockets", tokio_websockets(stream)),
                _ => usage(),
            }
        }
    })
}

/// `zerows-poll`: the readiness-driven server with one event loop (the other servers run one
/// thread too), the default `Options` and the same `Config`; the handler echoes each message
/// from the borrowed read buffer, as `examples/echo_server_poll.rs` does.
fn poll_server(addr: &str, config: Arc<zerows_util::Config>) -> io::Result<()> {
    use zerows_poll::{ConnId, Context, Handler, Options, Server};

    struct Echo;
    impl Handler for Echo {
        fn on_message(
            &mut self,
            cx: &mut Context<'_>,
            id: ConnId,
            message: zerows_util::Message<'_>,
        ) {
            let _ = cx.send(id, message.opcode(), message.payload());
        }
    }
    let server = Server::bind(addr, Options::default().threads(1), config)?;
    announce(server.local_addr());
    server.run(|_| Echo)
}

unsafe extern "C" {
    fn malloc_stats();
}

/// Spawns the connection's future itself: wrapping it in another `async` block would store it
/// twice (rustc keeps a captured future and the awaited copy in separate slots,
/// rust-lang/rust#62958), doubling every task. Errors end the connection silently.
fn spawn<F>(_name: &'static str, conn: F)
where
    F: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    drop(tokio::spawn(conn));
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_server --stack raw|bare|zerows-sync|zerows-tokio|zerows-poll|tokio-tungstenite|\
         fastwebsockets|tokio-websockets [--addr HOST:PORT] [--no-pool] [--box-accept] \
         [--tls-cert PEM --tls-key PEM]\n       echo_server --sizes | --gen-cert DIR"
    );
    std::process::exit(2)
}

fn announce(addr: std::net::SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The zerows handshake over a tokio stream with the sans-IO upgrader; returns the leftover.
async fn upgrade(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 4096];
    let mut out = [0u8; 512];
    let mut filled = 0;
    let mut up = Upgrader::new();
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        if let Status::Complete(u) = up.upgrade(&buf[..filled], &mut out) {
            stream.write_all(&out[..u.written]).await?;
            u.result.map_err(other)?;
            return Ok(buf[u.consumed..filled].to_vec());
        }
    }
}

async fn raw(mut stream: TcpStream) -> io::Result<()> {
    let leftover = upgrade(&mut stream).await?;
    stream.write_all(&leftover).await?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn bare(mut stream: TcpStream) -> io::Result<()> {
    // Boxed, so the task holds only the stream once upgraded (not the handshake buffers).
    Box::pin(upgrade(&mut stream)).await?;
    loop {
        stream.readable().await?;
        let mut scratch = [0u8; 64];
        match stream.try_read(&mut scratch) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

async fn zerows_tokio(stream: TcpStream, config: Arc<Config>) -> io::Result<()> {
    let mut ws = zerows_util::AsyncWebSocket::accept_with_config(stream, config)
        .await
        .map_err(other)?;
    zerows_tokio_echo(&mut ws).await
}

async fn zerows_tokio_boxed(stream: TcpStream, config: Arc<Config>) -> io::Result<()> {
    let mut ws = Box::pin(zerows_util::AsyncWebSocket::accept_with_config(
        stream, config,
    ))
    .await
    .map_err(other)?;
    zerows_tokio_echo(&mut ws).await
}

/// The same over TLS: `ServerTls::accept_async`, then the same accept and echo loop.
async fn zerows_tokio_tls(
    stream: TcpStream,
    config: Arc<Config>,
    tls: ServerTls,
) -> io::Result<()> {
    let stream = tls.accept_async(stream).await?;
    let mut ws = zerows_util::AsyncWebSocket::accept_with_config(stream, config)
        .await
        .map_err(other)?;
    zerows_tokio_echo(&mut ws).await
}

/// The echo loop. Takes the connection by reference: passed by value, it would be stored twice in
/// the task (once in the caller's future, once in this one; rust-lang/rust#62958).
async fn zerows_tokio_echo<S>(ws: &mut zerows_util::AsyncWebSocket<S>) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use zerows_util::Error;
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf).await {
            Ok(op) => ws.feed_message(op, &buf).await.map_err(other)?,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(other(e)),
        }
        if buf.capacity() > APP_BUF_KEEP {
            buf = Vec::new();
        }
    }
}

/// Prints the size of each connection task's future (what a spawned task allocates and keeps
/// for the connection's lifetime) and of the connection types.
fn sizes() -> io::Result<()> {
    fn size<F: std::future::Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }
    // Futures are only built, never polled: no socket is needed beyond a connected pair.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let c = TcpStream::connect(addr).await?;
        let (s, _) = l.accept().await?;
        let cfg = Arc::new(Config::default());
        let mut ws = zerows_util::AsyncWebSocket::from_raw(
            TcpStream::connect(addr).await?,
            zerows_util::Role::Server,
            &[],
            Config::default(),
        );
        let mut v = Vec::new();
        let read_into = size(&ws.read_into(&mut v));
        let read = size(&ws.read());
        let send = size(&ws.send_message(zerows_util::OpCode::Text, b""));
        let rows: [(&str, usize); 11] = [
            ("zerows AsyncWebSocket::read_into future", read_into),
            ("zerows AsyncWebSocket::read future", read),
            ("zerows AsyncWebSocket::send_message future", send),
            ("bare", size(&bare(c))),
            ("raw", size(&raw(s))),
            (
                "zerows-tokio",
                size(&zerows_tokio(TcpStream::connect(addr).await?, cfg.clone())),
            ),
            (
                "zerows-tokio --box-accept",
                size(&zerows_tokio_boxed(TcpStream::connect(addr).await?, cfg)),
            ),
            (
                "tokio-tungstenite",
                size(&tokio_tungstenite(TcpStream::connect(addr).await?)),
            ),
            (
                "fastwebsockets (hyper connection)",
                size(&fastwebsockets(TcpStream::connect(addr).await?)),
            ),
            (
                "tokio-websockets",
                size(&tokio_websockets(TcpStream::connect(addr).await?)),
            ),
            (
                "zerows_util::AsyncWebSocket<TcpStream>",
                std::mem::size_of::<zerows_util::AsyncWebSocket<TcpStream>>(),
            ),
        ];
        for (name, bytes) in rows {
            println!("{{\"mode\":\"future_size\",\"what\":\"{name}\",\"bytes\":{bytes}}}");
        }
        Ok(())
    })
}

fn sync_server(addr: &str, config: Arc<Config>, tls: Option<ServerTls>) -> io::Result<()> {
    let listener = StdListener::bind(addr)?;
    announce(listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        let config = config.clone();
        let tls = tls.clone();
        std::thread::spawn(move || {
            let r = match tls {
                None => zerows_sync(stream, config),
                Some(tls) => zerows_sync_tls(stream, config, &tls),
            };
            if let Err(e) = r
                && std::env::var_os("ECHO_VERBOSE").is_some()
            {
                eprintln!("zerows-sync: {e}");
            }
        });
    }
    Ok(())
}

fn zerows_sync(stream: StdStream, config: Arc<Config>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    zerows_sync_echo(stream, config)
}

/// The same over TLS: `ServerTls::accept` (the TLS handshake in the connection's thread), then
/// the same accept and echo loop.
fn zerows_sync_tls(stream: StdStream, config: Arc<Config>, tls: &ServerTls) -> io::Result<()> {
    stream.set_nodelay(true)?;
    zerows_sync_echo(tls.accept(stream)?, config)
}

fn zerows_sync_echo<S: zerows_util::Transport>(stream: S, config: Arc<Config>) -> io::Result<()> {
    use zerows_util::{Error, WebSocket};
    let mut ws =
        WebSocket::accept_with_upgrader(stream, &mut Upgrader::new(), config).map_err(other)?;
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf) {
            Ok(op) => ws.feed_message(op, &buf).map_err(other)?,
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(other(e)),
        }
        if buf.capacity() > APP_BUF_KEEP {
            buf = Vec::new();
        }
    }
}

/// tokio-tungstenite over tokio-rustls: the TLS accept bounded by the timeout `ServerTls` uses.
async fn tokio_tungstenite_tls(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
) -> io::Result<()> {
    let timeout = zerows_net::tls::DEFAULT_ACCEPT_TIMEOUT;
    let tls = tokio::time::timeout(timeout, acceptor.accept(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS accept timed out"))??;
    tokio_tungstenite(tls).await
}

async fn tokio_tungstenite<S>(stream: S) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ws = tokio_tungstenite::accept_async(stream)
        .await
        .map_err(other)?;
    while let Some(msg) = ws.next().await {
        let msg = msg.map_err(other)?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await.map_err(other)?;
        }
    }
    Ok(())
}

async fn fastwebsockets(stream: TcpStream) -> io::Result<()> {
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    async fn serve(
        mut req: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, fastwebsockets::WebSocketError> {
        let (response, fut) = fastwebsockets::upgrade::upgrade(&mut req)?;
        drop(tokio::spawn(fastwebsockets_echo(fut)));
        Ok(response)
    }
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(serve))
        .with_upgrades()
        .await
        .map_err(other)
}

async fn fastwebsockets_echo(
    fut: fastwebsockets::upgrade::UpgradeFut,
) -> Result<(), fastwebsockets::WebSocketError> {
    use fastwebsockets::{FragmentCollector, OpCode};
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn tokio_websockets(stream: TcpStream) -> io::Result<()> {
    let (_req, mut ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await
        .map_err(other)?;
    while let Some(msg) = ws.next().await {
        let msg = msg.map_err(other)?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await.map_err(other)?;
        }
    }
    Ok(())
}

/// Writes a throwaway CA and a server certificate it signs into `dir`: `ca.pem`, `cert.pem` (the
/// leaf, then the CA) and `key.pem`. ECDSA P-256 (rcgen's default), valid for the names
/// 127.0.0.1 and localhost.
fn gen_cert(dir: &str) -> io::Result<()> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // A name of its own: clients that trust another such CA see an unknown issuer.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("zerows bench CA (throwaway) {}-{nanos}", std::process::id()),
    );
    let ca_key = KeyPair::generate().map_err(other)?;
    let ca_pem = ca.self_signed(&ca_key).map_err(other)?.pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(other)?;
    let key = KeyPair::generate().map_err(other)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(other)?;
    std::fs::write(dir.join("ca.pem"), &ca_pem)?;
    std::fs::write(dir.join("cert.pem"), format!("{}{}", cert.pem(), ca_pem))?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    Ok(())
}
