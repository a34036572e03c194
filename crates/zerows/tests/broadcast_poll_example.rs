//! The readiness-driven broadcast example (`examples/broadcast_poll.rs`): its handler and its
//! broadcast function, run on a `zerows::poll::Server` of two loops, with tokio clients.

#![cfg(all(feature = "poll", feature = "tokio"))]

#[allow(dead_code)] // its `main` and usage text
#[path = "../examples/broadcast_poll.rs"]
mod broadcast_poll;

use std::sync::Arc;
use std::time::Duration;

use zerows::poll::{Handle, Options, Server};
use zerows::util::deflate::DeflateConfig;
use zerows::{CloseCode, Config, Message};

/// Starts the example's server (two loops) on an ephemeral port; returns its URL, its handles
/// and the thread running it.
fn start(config: Config) -> (String, Vec<Handle>, std::thread::JoinHandle<()>) {
    let server = Server::bind(
        "127.0.0.1:0",
        Options::default().threads(2),
        Arc::new(config),
    )
    .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let handles = server.handles();
    let thread = std::thread::spawn(move || {
        server
            .run(|worker| broadcast_poll::Members { worker, open: 0 })
            .unwrap();
    });
    (url, handles, thread)
}

fn stop(handles: &[Handle], thread: std::thread::JoinHandle<()>) {
    for h in handles {
        h.shutdown();
    }
    thread.join().unwrap();
}

async fn every_client_gets_every_message_in_order(config: Config) {
    let (url, handles, thread) = start(config);
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(zerows::connect_async(&url).await.unwrap());
    }
    // Both loops hold members (the kernel spreads connections over the two listeners); wait
    // until every upgrade was answered, which the connects above did.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..100 {
        broadcast_poll::broadcast(&handles, &format!("message {i}"));
    }
    for ws in &mut clients {
        for i in 0..100 {
            let got = tokio::time::timeout(Duration::from_secs(10), ws.read())
                .await
                .expect("a broadcast within 10 s")
                .unwrap();
            match got {
                Message::Text(t) => assert_eq!(t, format!("message {i}")),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    for mut ws in clients {
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    stop(&handles, thread);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_of_every_loop_gets_every_message_in_order_with_deflate() {
    every_client_gets_every_message_in_order(Config::default().deflate(DeflateConfig::default()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_of_every_loop_gets_every_message_in_order_without_deflate() {
    every_client_gets_every_message_in_order(Config::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_does_not_read_is_closed_with_1008_and_the_others_keep_theirs() {
    let (url, handles, thread) = start(Config::default());
    let mut slow = zerows::connect_async(&url).await.unwrap();
    let mut fast = zerows::connect_async(&url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 64 KiB messages: the slow member's socket buffers fill, then its backlog passes the
    // default max_backlog (1 MiB) and the next broadcast closes it. The fast one reads along.
    let payload = "x".repeat(64 << 10);
    let sent = 400;
    let reader = tokio::spawn(async move {
        for _ in 0..sent {
            match tokio::time::timeout(Duration::from_secs(10), fast.read()).await {
                Ok(Ok(Message::Text(t))) => assert_eq!(t.len(), 64 << 10),
                other => panic!("the fast member lost a message: {other:?}"),
            }
        }
        fast
    });
    for _ in 0..sent {
        broadcast_poll::broadcast(&handles, &payload);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut fast = reader.await.unwrap();
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.read()).await {
            Ok(Ok(Message::Text(_))) => received += 1,
            Ok(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close, Some(CloseCode::POLICY_VIOLATION));
    assert!(received < sent, "received all {sent}: never behind");
    fast.close(CloseCode::NORMAL, "").await.unwrap();
    stop(&handles, thread);
}
