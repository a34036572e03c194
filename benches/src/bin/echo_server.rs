//! One echo server per stack, for the loopback benchmarks. Every tokio server runs on a
//! single-threaded (`current_thread`) runtime with a task per connection; `zerows-sync` is the
//! blocking example design (a thread per connection). Every accepted socket gets `TCP_NODELAY`.
//! Text and binary messages are echoed with the same opcode; UTF-8 validation is each stack's
//! default (on for all of them).
//!
//! ```text
//! echo_server --stack NAME [--addr 127.0.0.1:0] [--no-pool]
//! ```
//! Prints `listening <addr>` on stdout once bound.
//!
//! Stacks:
//! - `raw`: the floor. The zerows handshake, then a plain TCP echo of whatever bytes arrive (no
//!   framing), with a 64 KiB buffer.
//! - `bare`: the idle-memory baseline. The zerows handshake, then a task that holds the upgraded
//!   `TcpStream` and discards what it reads.
//! - `zerows-sync`: `zerows_util::WebSocket`, thread per connection.
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

use zerows_util::Config;

const APP_BUF_KEEP: usize = 16 << 10;

pub(crate) fn main() -> io::Result<()> {
    let mut stack = String::new();
    let mut addr = String::from("127.0.0.1:0");
    let mut pool = true;
    let mut box_accept = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--stack" => stack = args.next().unwrap_or_default(),
            "--addr" => addr = args.next().unwrap_or(addr),
            "--no-pool" => pool = false,
            "--box-accept" => box_accept = true,
            "--sizes" => return sizes(),
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
    if stack == "zerows-sync" {
        return sync_server(&addr, config);
    }
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
        "usage: echo_server --stack raw|bare|zerows-sync|zerows-tokio|tokio-tungstenite|\
         fastwebsockets|tokio-websockets [--addr HOST:PORT] [--no-pool]"
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

/// The echo loop. Takes the connection by reference: passed by value, it would be stored twice in
/// the task (once in the caller's future, once in this one; rust-lang/rust#62958).
async fn zerows_tokio_echo(ws: &mut zerows_util::AsyncWebSocket<TcpStream>) -> io::Result<()> {
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

fn sync_server(addr: &str, config: Arc<Config>) -> io::Result<()> {
    let listener = StdListener::bind(addr)?;
    announce(listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        let config = config.clone();
        std::thread::spawn(move || {
            if let Err(e) = zerows_sync(stream, config)
                && std::env::var_os("ECHO_VERBOSE").is_some()
            {
                eprintln!("zerows-sync: {e}");
            }
        });
    }
    Ok(())
}

fn zerows_sync(stream: StdStream, config: Arc<Config>) -> io::Result<()> {
    use zerows_util::{Error, WebSocket};
    stream.set_nodelay(true)?;
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

async fn tokio_tungstenite(stream: TcpStream) -> io::Result<()> {
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
