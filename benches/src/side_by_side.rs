//! The harness of `benches/side_by_side/` (the table in `docs/async.md`).
//!
//! Each program there writes one task with one stack between the lines `// side-by-side: begin`
//! and `// side-by-side: end` (what `benches/side_by_side/run.sh` counts as its lines of code),
//! and calls these functions to run it over loopback and measure it: the server on its own thread
//! and current-thread runtime, the client on another, each thread tagged with its [`Side`] so the
//! counting allocator ([`crate::alloc::Counting`]) counts them apart.
//!
//! Figures are printed as one JSON object per line on stdout.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as TtMessage;

use crate::alloc::{Side, set_side, side_allocations};

/// Echo rounds before the measured phase (connection set up, buffers grown, pools warm).
pub const WARMUP: usize = 100;
/// Message sizes of the echo measurement, in bytes.
pub const SIZES: [usize; 2] = [16, 1024];

/// Measured echo rounds: `SIDE_BY_SIDE_MESSAGES` or 10,000.
pub fn messages() -> usize {
    std::env::var("SIDE_BY_SIDE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

static MARK: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Called by an echo client before round `i`: round [`WARMUP`] starts the measured phase.
pub fn at_round(i: usize) {
    if i == WARMUP {
        MARK[0].store(side_allocations(Side::Server), Ordering::SeqCst);
        MARK[1].store(side_allocations(Side::Client), Ordering::SeqCst);
    }
}

/// Called by an echo client after its last reply: ends the measured phase.
pub fn done() {
    MARK[2].store(side_allocations(Side::Server), Ordering::SeqCst);
    MARK[3].store(side_allocations(Side::Client), Ordering::SeqCst);
}

fn phase() -> (u64, u64) {
    let m = |i: usize| MARK[i].load(Ordering::SeqCst);
    (m(2) - m(0), m(3) - m(1))
}

/// Runs `serve` on a thread of its own (current-thread runtime, counted as [`Side::Server`]) with
/// a listener on an ephemeral loopback port; returns the port's address.
pub fn spawn_server<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        set_side(Side::Server);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("address"))
                .expect("harness gone");
            serve(listener).await;
        });
    });
    rx.recv().expect("server thread died")
}

/// Runs `fut` on this thread (current-thread runtime, counted as [`Side::Client`]).
pub fn run_client<Fut: Future>(fut: Fut) -> Fut::Output {
    set_side(Side::Client);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
        .block_on(fut)
}

/// Echoes [`WARMUP`] + [`messages`] text messages of every size in [`SIZES`] through the server at
/// `addr` with `client(url, text, rounds)`, and prints the allocations per message of each side
/// in the measured phase.
pub fn measure_echo<C, Fut>(
    task: &str,
    server: &str,
    client_name: &str,
    addr: SocketAddr,
    client: C,
) where
    C: Fn(String, String, usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let n = messages();
    for size in SIZES {
        let text: String = "abcdefghijklmnopqrstuvwxyz"
            .chars()
            .cycle()
            .take(size)
            .collect();
        run_client(client(format!("ws://{addr}/"), text, WARMUP + n));
        let (server_allocs, client_allocs) = phase();
        println!(
            "{{\"task\":\"{task}\",\"server\":\"{server}\",\"client\":\"{client_name}\",\"size\":{size},\
             \"messages\":{n},\"server_allocs_per_msg\":{:.3},\"client_allocs_per_msg\":{:.3}}}",
            server_allocs as f64 / n as f64,
            client_allocs as f64 / n as f64
        );
    }
}

/// The zerows echo client of the measurement: the borrowed API (`send_text`, `read`).
pub async fn zerows_echo_client(url: String, text: String, rounds: usize) {
    let mut ws = zerows::connect_async(&url).await.expect("connect");
    for i in 0..rounds {
        at_round(i);
        ws.send_text(&text).await.expect("send");
        match ws.read().await.expect("read") {
            zerows::Message::Text(reply) => assert_eq!(reply, text),
            other => panic!("unexpected {other:?}"),
        }
    }
    done();
    ws.close(zerows::CloseCode::NORMAL, "")
        .await
        .expect("close");
}

/// The tokio-tungstenite echo client of the measurement: the text is made once as `Utf8Bytes`
/// and cloned (a reference count) for each send, the cheapest way its API offers.
pub async fn tungstenite_echo_client(url: String, text: String, rounds: usize) {
    tungstenite_echo(url, text, rounds, false).await;
}

/// The same with `Message::text(String)` made for each send, as most code writes it.
pub async fn tungstenite_text_client(url: String, text: String, rounds: usize) {
    tungstenite_echo(url, text, rounds, true).await;
}

async fn tungstenite_echo(url: String, text: String, rounds: usize, fresh: bool) {
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let shared = tokio_tungstenite::tungstenite::Utf8Bytes::from(text.clone());
    for i in 0..rounds {
        at_round(i);
        let msg = match fresh {
            true => TtMessage::text(text.clone()),
            false => TtMessage::Text(shared.clone()),
        };
        ws.send(msg).await.expect("send");
        match ws.next().await.expect("reply").expect("read") {
            TtMessage::Text(reply) => assert_eq!(reply, shared),
            other => panic!("unexpected {other:?}"),
        }
    }
    done();
    ws.close(None).await.expect("close");
}

/// A zerows echo server for the client programs (task b).
pub async fn echo_server(listener: TcpListener) {
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let mut ws = zerows::AsyncWebSocket::accept(stream).await?;
            let mut buf = Vec::new();
            loop {
                match ws.read_into(&mut buf).await {
                    Ok(op) => ws.send_message(op, &buf).await?,
                    Err(zerows::Error::Closed) => return Ok::<(), zerows::Error>(()),
                    Err(e) => return Err(e),
                }
            }
        });
    }
}

/// Starts `serve` with [`spawn_server`] and measures it with [`measure_echo`].
pub fn run_echo<S, SFut, C, CFut>(task: &str, server: &str, client_name: &str, serve: S, client: C)
where
    S: FnOnce(TcpListener) -> SFut + Send + 'static,
    SFut: Future<Output = std::io::Result<()>>,
    C: Fn(String, String, usize) -> CFut,
    CFut: Future<Output = ()>,
{
    let addr = spawn_server(|l| async move { serve(l).await.expect("serve") });
    measure_echo(task, server, client_name, addr, client);
}

/// Starts `serve` with [`spawn_server`] and a broadcast channel of [`BROADCAST_BOUND`] values,
/// and measures it with [`measure_broadcast`]; `make` turns each text into the channel's value.
pub fn run_broadcast<T, S, Fut>(server: &str, serve: S, make: impl Fn(String) -> T)
where
    T: Clone + Send + 'static,
    S: FnOnce(TcpListener, broadcast::Sender<T>) -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<()>>,
{
    let (tx, _) = broadcast::channel(BROADCAST_BOUND);
    let server_tx = tx.clone();
    let addr = spawn_server(|l| async move { serve(l, server_tx).await.expect("serve") });
    let send = |text: String| {
        let _ = tx.send(make(text));
    };
    measure_broadcast(server, addr, || tx.receiver_count(), || tx.len(), send);
}

/// Clients of the broadcast measurement.
pub const BROADCAST_CLIENTS: usize = 10;
/// The broadcast channel's bound in the broadcast programs: a member further behind is dropped.
pub const BROADCAST_BOUND: usize = 256;

/// Connects [`BROADCAST_CLIENTS`] tokio-tungstenite clients to the broadcast server at `addr`,
/// waits until `subscribers()` counts them all, broadcasts [`messages`] / [`BROADCAST_CLIENTS`]
/// texts with `send` (waiting while `queued()` is over half of [`BROADCAST_BOUND`], so nobody
/// lags), checks that every client got every message in order, and prints the server's
/// allocations per delivery and the broadcaster's (`send`, counted as [`Side::Other`]) per
/// message.
pub fn measure_broadcast(
    server: &str,
    addr: SocketAddr,
    subscribers: impl Fn() -> usize,
    queued: impl Fn() -> usize,
    mut send: impl FnMut(String),
) {
    let (clients, bound) = (BROADCAST_CLIENTS, BROADCAST_BOUND);
    let messages = (self::messages() / clients).max(1);
    let server_allocs = run_client(async move {
        let url = format!("ws://{addr}/");
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("connect");
            readers.spawn(async move {
                for i in 0..messages {
                    match ws.next().await.expect("message").expect("read") {
                        TtMessage::Text(t) => assert_eq!(t.as_str(), format!("message {i}")),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
        }
        while subscribers() < clients {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let before = (
            side_allocations(Side::Server),
            side_allocations(Side::Other),
        );
        for i in 0..messages {
            while queued() > bound / 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let text = format!("message {i}");
            set_side(Side::Other);
            send(text);
            set_side(Side::Client);
        }
        while let Some(r) = readers.join_next().await {
            r.expect("a client failed");
        }
        (
            side_allocations(Side::Server) - before.0,
            side_allocations(Side::Other) - before.1,
        )
    });
    let deliveries = clients * messages;
    println!(
        "{{\"task\":\"broadcast\",\"server\":\"{server}\",\"client\":\"tokio-tungstenite\",\
         \"clients\":{clients},\"messages\":{messages},\"server_allocs_per_delivery\":{:.3},\
         \"broadcaster_allocs_per_message\":{:.3}}}",
        server_allocs.0 as f64 / deliveries as f64,
        server_allocs.1 as f64 / messages as f64
    );
}
