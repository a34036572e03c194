//! The broadcast example (`examples/broadcast.rs`), driven by its own self-test and by a client
//! that stops reading.

#[allow(dead_code)] // its `main` and usage text
#[path = "../examples/broadcast.rs"]
mod broadcast;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast::channel;
use zerows::util::PreparedMessage;
use zerows::util::deflate::DeflateConfig;
use zerows::{CloseCode, Config, Message, OpCode};

/// Starts the example's server on an ephemeral port; returns its URL and the broadcast sender.
async fn start(config: Config) -> (String, tokio::sync::broadcast::Sender<PreparedMessage>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, _) = channel(broadcast::MAX_BEHIND);
    tokio::spawn(broadcast::serve(listener, tx.clone(), Arc::new(config)));
    (url, tx)
}

/// Runs the example's self-test (50 clients, 100 messages), which fails on a missing, extra or
/// out-of-order message.
async fn self_test(config: Config) {
    let (url, tx) = start(config.clone()).await;
    let rate = broadcast::self_test(&url, &tx, config, 50, 100)
        .await
        .unwrap();
    assert!(rate > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gets_every_message_in_order_with_deflate() {
    self_test(Config::default().deflate(DeflateConfig::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gets_every_message_in_order_without_deflate() {
    self_test(Config::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_falls_too_far_behind_is_closed_with_1008() {
    let (url, tx) = start(Config::default()).await;
    let mut ws = zerows::connect_async(&url).await.unwrap();
    // The client does not read while four times the bound is broadcast in 64 KiB messages: the
    // socket buffers fill, the member's write waits, and the channel overtakes it.
    let payload = vec![b'x'; 64 << 10];
    let sent = 4 * broadcast::MAX_BEHIND;
    for _ in 0..sent {
        tx.send(PreparedMessage::new(OpCode::Binary, &payload))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut received = 0;
    let close = loop {
        match ws.read().await.unwrap() {
            Message::Binary(b) => {
                assert_eq!(b.len(), payload.len());
                received += 1;
            }
            Message::Close(frame) => break frame.map(|f| f.code),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close, Some(CloseCode::POLICY_VIOLATION));
    assert!(
        received < sent,
        "received all {sent}: the member was never behind"
    );
}
