//! Broadcast: every message goes to every connected client, encoded once.
//!
//! Each message becomes one [`PreparedMessage`] (the server frame built once, its bytes shared)
//! and is handed to every member through a tokio broadcast channel. When a member agreed
//! permessage-deflate, `send_prepared` compresses the payload for that connection (the
//! compressor's state is per connection, so this cannot be shared); without it the shared frame is
//! written as it is.
//!
//! Bounds: a member more than [`MAX_BEHIND`] messages behind is dropped with close 1008 (policy
//! violation); one whose socket accepts nothing for [`WRITE_TIMEOUT`] is dropped without a close
//! frame (there is no way to send one).
//!
//! ```text
//! # lines typed on stdin go to every client of ws://127.0.0.1:9002/
//! cargo run --release -p zerows --features tokio --example broadcast -- --addr 127.0.0.1:9002
//! # a tick every second instead
//! cargo run --release -p zerows --features tokio --example broadcast -- --tick
//! # self-test: 50 zerows clients in this process, 100 messages, deliveries per second
//! cargo run --release -p zerows --features tokio --example broadcast -- --clients 50 --messages 100
//! ```
//! `--no-deflate` turns permessage-deflate off on both sides.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::timeout;
use zerows::util::PreparedMessage;
use zerows::util::deflate::DeflateConfig;
use zerows::{AsyncWebSocket, CloseCode, Config, Dialer, Error, Message, OpCode};

/// How many messages a member may fall behind before it is dropped with close 1008.
pub(crate) const MAX_BEHIND: usize = 256;
/// How long one write to a member may wait for its socket before the member is dropped.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str =
    "usage: broadcast [--addr HOST:PORT] [--tick] [--no-deflate] [--clients N --messages M]";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts clients forever; each gets every message sent on `tx` after it connected.
pub(crate) async fn serve(
    listener: TcpListener,
    tx: broadcast::Sender<PreparedMessage>,
    config: Arc<Config>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        // Subscribed before the handshake: a client whose connect returned misses nothing.
        let rx = tx.subscribe();
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            if let Err(e) = member(stream, rx, config).await {
                eprintln!("broadcast: member dropped: {e}");
            }
        });
    }
}

async fn member(
    stream: TcpStream,
    mut rx: broadcast::Receiver<PreparedMessage>,
    config: Arc<Config>,
) -> Result<(), Error> {
    let _ = stream.set_nodelay(true);
    let (mut read, write) = AsyncWebSocket::accept_with_config(stream, config)
        .await?
        .split();
    let (code, reason) = loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(msg) => timeout(WRITE_TIMEOUT, write.send_prepared(&msg)).await.map_err(stuck)??,
                Err(RecvError::Lagged(_)) => break (CloseCode::POLICY_VIOLATION, "too slow"),
                Err(RecvError::Closed) => break (CloseCode::GOING_AWAY, "server stopping"),
            },
            // Reading answers pings and sees the client's close; what clients send is ignored.
            got = read.read() => match got {
                Ok(Message::Close(_)) | Err(Error::Closed) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            },
        }
    };
    timeout(WRITE_TIMEOUT, write.close(code, reason))
        .await
        .map_err(stuck)??;
    // The read half finishes the close handshake; bounded in case the client never answers.
    let answer = async { while !matches!(read.read().await, Ok(Message::Close(_)) | Err(_)) {} };
    let _ = timeout(WRITE_TIMEOUT, answer).await;
    Ok(())
}

/// A write that waited [`WRITE_TIMEOUT`] for the member's socket.
fn stuck(_: tokio::time::error::Elapsed) -> Error {
    Error::Io(std::io::ErrorKind::TimedOut.into())
}

/// Connects `clients` zerows clients to `url`, broadcasts `messages` messages on `tx`, checks
/// that every client got every message in order, and returns the deliveries per second.
pub(crate) async fn self_test(
    url: &str,
    tx: &broadcast::Sender<PreparedMessage>,
    config: Config,
    clients: usize,
    messages: usize,
) -> Result<f64, BoxError> {
    let dialer = Dialer::new().config(config);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let mut ws = dialer.connect_async(url).await?;
        tasks.spawn(async move {
            for i in 0..messages {
                match ws.read().await? {
                    Message::Text(t) if t.strip_prefix("message ") == Some(&i.to_string()) => {}
                    other => return Err(format!("expected message {i}, got {other:?}").into()),
                }
            }
            ws.close(CloseCode::NORMAL, "").await?;
            Ok::<(), BoxError>(())
        });
    }
    let start = Instant::now();
    for i in 0..messages {
        // A test should drop nobody: wait while the slowest member is half the bound behind.
        while tx.len() > MAX_BEHIND / 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tx.send(PreparedMessage::new(
            OpCode::Text,
            format!("message {i}").as_bytes(),
        ))?;
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok((clients * messages) as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (mut addr, mut clients, mut messages) = ("127.0.0.1:9002".to_string(), None, 100);
    let (mut tick, mut deflate) = (false, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => addr = value()?,
            "--clients" => clients = Some(value()?.parse()?),
            "--messages" => messages = value()?.parse()?,
            "--tick" => tick = true,
            "--no-deflate" => deflate = false,
            _ => return Err(USAGE.into()),
        }
    }
    let config = match deflate {
        true => Config::default().deflate(DeflateConfig::default()),
        false => Config::default(),
    };
    let listener = TcpListener::bind(&addr).await?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let (tx, _) = broadcast::channel(MAX_BEHIND);
    tokio::spawn(serve(listener, tx.clone(), Arc::new(config.clone())));
    if let Some(n) = clients {
        let rate = self_test(&url, &tx, config, n, messages).await?;
        println!(
            "{n} clients x {messages} messages, all delivered in order: {rate:.0} deliveries/s"
        );
        return Ok(());
    }
    eprintln!("broadcast: clients connect to {url}");
    if tick {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        for i in 1.. {
            every.tick().await;
            let _ = tx.send(PreparedMessage::new(
                OpCode::Text,
                format!("tick {i}").as_bytes(),
            ));
        }
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let _ = tx.send(PreparedMessage::new(OpCode::Text, line.as_bytes())); // Err: nobody there
    }
    Ok(())
}
