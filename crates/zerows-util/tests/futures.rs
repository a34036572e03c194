//! The `futures` `Stream`/`Sink` impls against tokio-tungstenite as the peer: both directions,
//! `forward` of 10,000 messages, `send_all`, split halves on two tasks, close propagation, and a
//! `next()` cancelled in `select!` without losing a message.
#![cfg(feature = "futures")]
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use zerows_frame::{CloseCode, OpCode};
use zerows_upgrade::client::ClientRequest;
use zerows_util::{AsyncWebSocket, Error, OwnedMessage};

const MESSAGES: usize = 10_000;

/// Message `i` of a run: text and binary, sizes from 0 to 40 KiB (past the 16 KiB write queue, so
/// a server's large messages are held as `Bytes`, not copied).
fn message(i: usize) -> OwnedMessage {
    let len = match i % 10 {
        0 => 0,
        1..=6 => (i * 7) % 200,
        7 | 8 => 1024 + i % 3000,
        _ => 40_000 + i % 1000,
    };
    if i.is_multiple_of(2) {
        let text: String = (0..len)
            .map(|k| char::from(b'a' + ((i + k) % 26) as u8))
            .collect();
        OwnedMessage::text(format!("{i}:{text}"))
    } else {
        let mut data = (i as u32).to_be_bytes().to_vec();
        data.extend((0..len).map(|k| (i + k) as u8));
        OwnedMessage::binary(data)
    }
}

fn to_tungstenite(m: &OwnedMessage) -> TMessage {
    match m {
        OwnedMessage::Text(t) => TMessage::text(t.as_str()),
        OwnedMessage::Binary(b) => TMessage::binary(b.clone()),
        other => panic!("not data: {other:?}"),
    }
}

fn from_tungstenite(m: TMessage) -> OwnedMessage {
    match m {
        TMessage::Text(t) => OwnedMessage::text(t.as_str().to_owned()),
        TMessage::Binary(b) => OwnedMessage::Binary(b),
        other => panic!("not data: {other:?}"),
    }
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

async fn zerows_client(addr: &str) -> AsyncWebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let request = ClientRequest::with_random_key(addr, "/").unwrap();
    AsyncWebSocket::connect(stream, &request).await.unwrap()
}

async fn tungstenite_client(
    addr: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    ws
}

/// What a tokio-tungstenite client receives until the connection ends (past the close:
/// tungstenite writes its echo on the next poll, then ends).
async fn everything_until_closed(
    mut ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
) -> Vec<TMessage> {
    let mut got = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if !m.is_close() {
            got.push(m);
        }
    }
    got
}

/// A zerows server that echoes with `read.try_filter(is_data).forward(write)` on its split halves:
/// 10,000 messages from a tokio-tungstenite client come back whole and in order, and the client's
/// close ends the forward cleanly.
#[tokio::test]
async fn forward_echoes_ten_thousand_messages_to_a_tungstenite_client() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        let ws = AsyncWebSocket::accept(stream).await.unwrap();
        let (read, write) = ws.split();
        read.try_filter(|m| std::future::ready(m.is_data()))
            .forward(write)
            .await
    });
    let client = tungstenite_client(&addr).await;
    let (mut tx, mut rx) = client.split();
    let sender = tokio::spawn(async move {
        let mut all =
            futures_util::stream::iter((0..MESSAGES).map(|i| Ok(to_tungstenite(&message(i)))));
        tx.send_all(&mut all).await.unwrap();
        tx
    });
    for i in 0..MESSAGES {
        let got = rx.next().await.unwrap().unwrap();
        assert_eq!(from_tungstenite(got), message(i), "message {i}");
    }
    let mut tx = sender.await.unwrap();
    tx.send(TMessage::Close(Some(TCloseFrame {
        code: TCloseCode::Normal,
        reason: "done".into(),
    })))
    .await
    .unwrap();
    // The server echoes the close and ends.
    match rx.next().await {
        Some(Ok(TMessage::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("expected the close echo, got {other:?}"),
    }
    server.await.unwrap().unwrap();
}

/// A zerows client `send_all`s 10,000 messages into a tokio-tungstenite echo server through its
/// `Sink` while its `Stream` reads the echoes (the whole connection, `StreamExt::split`), then
/// `close()`s: the stream yields the server's close echo, then ends, and stays ended.
#[tokio::test]
async fn send_all_to_a_tungstenite_server_and_read_the_echoes() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let (mut tx, mut rx) = ws.split();
        while let Some(m) = rx.next().await {
            match m.unwrap() {
                m @ (TMessage::Text(_) | TMessage::Binary(_)) => tx.send(m).await.unwrap(),
                TMessage::Close(_) => break,
                _ => {}
            }
        }
        // tungstenite answered the close on its own; flush it.
        let _ = tx.flush().await;
    });
    let ws = zerows_client(&addr).await;
    let (mut sink, mut stream) = StreamExt::split(ws);
    let writer = tokio::spawn(async move {
        let mut all = futures_util::stream::iter((0..MESSAGES).map(|i| Ok(message(i))));
        sink.send_all(&mut all).await.unwrap();
        sink
    });
    for i in 0..MESSAGES {
        let got = stream.next().await.unwrap().unwrap();
        assert_eq!(got, message(i), "message {i}");
    }
    let mut sink = writer.await.unwrap();
    SinkExt::close(&mut sink).await.unwrap();
    match stream.next().await {
        Some(Ok(OwnedMessage::Close(Some(f)))) => assert_eq!(f.code, CloseCode::NORMAL),
        other => panic!("expected the close echo, got {other:?}"),
    }
    assert!(stream.next().await.is_none());
    assert!(stream.next().await.is_none(), "fused");
    server.await.unwrap();
}

/// The read half's `Stream` and the write half's `Sink` on two tasks at once, against a
/// tokio-tungstenite server that echoes every message and pings in between: the pongs the read
/// half writes take their turn with the write half's sends, and nothing is cut or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_stream_and_sink_on_two_tasks() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let (mut tx, mut rx) = ws.split();
        let mut pongs = 0;
        let mut n = 0u32;
        while let Some(m) = rx.next().await {
            match m.unwrap() {
                m @ (TMessage::Text(_) | TMessage::Binary(_)) => {
                    tx.send(m).await.unwrap();
                    n += 1;
                    if n.is_multiple_of(50) {
                        tx.send(TMessage::Ping(Bytes::from(n.to_be_bytes().to_vec())))
                            .await
                            .unwrap();
                    }
                }
                TMessage::Pong(_) => pongs += 1,
                TMessage::Close(_) => break,
                _ => {}
            }
        }
        let _ = tx.flush().await;
        pongs
    });
    let ws = zerows_client(&addr).await;
    let (mut read, mut write) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..MESSAGES {
            SinkExt::feed(&mut write, message(i)).await.unwrap();
            if i % 64 == 63 {
                SinkExt::flush(&mut write).await.unwrap();
            }
        }
        SinkExt::flush(&mut write).await.unwrap();
        write
    });
    let mut i = 0;
    let mut pings = 0;
    while i < MESSAGES {
        match read.next().await.unwrap().unwrap() {
            OwnedMessage::Ping(_) => pings += 1,
            m => {
                assert_eq!(m, message(i), "message {i}");
                i += 1;
            }
        }
    }
    let mut write = writer.await.unwrap();
    SinkExt::close(&mut write).await.unwrap();
    loop {
        match read.next().await {
            Some(Ok(OwnedMessage::Close(_))) | None => break,
            Some(Ok(OwnedMessage::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let pongs = server.await.unwrap();
    assert!(pings >= (MESSAGES / 50) as u32 - 1, "pings seen: {pings}");
    // Every ping is answered, except one that arrives after our close frame went out (no frame
    // may follow a close, RFC 6455 §5.5.1).
    assert!(
        pongs == pings || pongs + 1 == pings,
        "pings {pings}, pongs {pongs}"
    );
}

/// The peer closes first (tokio-tungstenite server with 1001 "going away"): the stream yields the
/// close with its code and reason, then `None`; the sink then refuses data with `Error::Closed`
/// but a `Close` item (as `forward` passes it on) is accepted and ignored: one close frame per
/// connection (RFC 6455 §5.5.1).
#[tokio::test]
async fn a_peer_close_ends_the_stream_and_closes_the_sink() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        ws.send(TMessage::text("last words")).await.unwrap();
        ws.close(Some(TCloseFrame {
            code: TCloseCode::Away,
            reason: "going away".into(),
        }))
        .await
        .unwrap();
        // Our echo arrives.
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    });
    let mut ws = zerows_client(&addr).await;
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        OwnedMessage::text("last words")
    );
    match ws.next().await {
        Some(Ok(OwnedMessage::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::GOING_AWAY);
            assert_eq!(f.reason, "going away");
        }
        other => panic!("expected the close, got {other:?}"),
    }
    assert!(ws.next().await.is_none());
    assert!(futures_util::stream::FusedStream::is_terminated(&ws));
    assert!(matches!(
        SinkExt::send(&mut ws, OwnedMessage::text("too late")).await,
        Err(Error::Closed)
    ));
    SinkExt::send(&mut ws, OwnedMessage::close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
    server.await.unwrap();
}

/// Writes one client (masked) frame.
fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zerows_frame::encode_frame_vec(&mut out, opcode, true, Some([1, 2, 3, 4]), payload);
    out
}

/// `next()` as a branch of `select!` beside a timer that fires every millisecond, while a raw
/// client trickles frames in pieces (so most `next()` futures are dropped with a partial frame
/// buffered): every message arrives once, whole, in order.
#[tokio::test]
async fn a_next_cancelled_in_select_loses_no_message() {
    const COUNT: usize = 200;
    let (l, addr) = listener().await;
    let client = tokio::spawn(async move {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(
            format!(
                "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(s.read_u8().await.unwrap());
        }
        for i in 0..COUNT {
            let payload = format!("{i}:{}", "x".repeat(i * 13 % 3000));
            let frame = client_frame(OpCode::Text, payload.as_bytes());
            // Three pieces with pauses longer than the timer's period.
            let (a, rest) = frame.split_at(frame.len().min(1 + i % 3));
            let (b, c) = rest.split_at(rest.len() / 2);
            for piece in [a, b, c] {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        s.write_all(&client_frame(OpCode::Close, &1000u16.to_be_bytes()))
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
    });
    let (stream, _) = l.accept().await.unwrap();
    let mut ws = AsyncWebSocket::accept(stream).await.unwrap();
    let mut ticks = 0u64;
    let mut got = Vec::new();
    let mut timer = tokio::time::interval(Duration::from_millis(1));
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(OwnedMessage::Text(t))) => got.push(t),
                Some(Ok(OwnedMessage::Close(_))) => {}
                None => break,
                other => panic!("unexpected {other:?}"),
            },
            _ = timer.tick() => ticks += 1,
        }
    }
    assert!(ticks > COUNT as u64, "the timer won often: {ticks} ticks");
    assert_eq!(got.len(), COUNT);
    for (i, t) in got.iter().enumerate() {
        assert_eq!(t.as_str(), format!("{i}:{}", "x".repeat(i * 13 % 3000)));
    }
    client.await.unwrap();
}

/// A large message given to the `Sink` (held as `Bytes`, not copied) and not yet flushed, then a
/// direct `send_text` and a ping on the same connection: the large message goes out first, whole
/// (the connection copies what is left of it into its queue, "spills" it), then the others.
#[tokio::test]
async fn a_held_sink_message_keeps_its_place_before_direct_sends() {
    let (l, addr) = listener().await;
    let client = tokio::spawn(async move {
        let ws = tungstenite_client(&addr).await;
        everything_until_closed(ws).await
    });
    let (stream, _) = l.accept().await.unwrap();
    let mut ws = AsyncWebSocket::accept(stream).await.unwrap();
    let big = Bytes::from(vec![7u8; 1 << 20]);
    SinkExt::feed(&mut ws, OwnedMessage::Binary(big.clone()))
        .await
        .unwrap();
    ws.send_text("after").await.unwrap();
    ws.ping(b"p").await.unwrap();
    SinkExt::send(&mut ws, OwnedMessage::text("last"))
        .await
        .unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    let got = client.await.unwrap();
    assert_eq!(
        got.len(),
        4,
        "{:?}",
        got.iter().map(TMessage::len).collect::<Vec<_>>()
    );
    assert_eq!(got[0], TMessage::Binary(big));
    assert_eq!(got[1], TMessage::text("after"));
    assert!(matches!(got[2], TMessage::Ping(_)));
    assert_eq!(got[3], TMessage::text("last"));
}

/// A `send` future dropped while its large message is being written (the peer does not read) does
/// not cut the frame: the message belongs to the connection from `start_send` on, and the next
/// flush finishes it.
#[tokio::test]
async fn a_dropped_sink_send_never_cuts_a_frame() {
    let (l, addr) = listener().await;
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let client = tokio::spawn(async move {
        let ws = tungstenite_client(&addr).await;
        go_rx.await.unwrap();
        everything_until_closed(ws).await
    });
    let (stream, _) = l.accept().await.unwrap();
    let mut ws = AsyncWebSocket::accept(stream).await.unwrap();
    let big = Bytes::from(vec![3u8; 32 << 20]);
    // The peer is not reading: 32 MiB cannot all go out, so the send times out mid-frame.
    let r = tokio::time::timeout(
        Duration::from_millis(200),
        SinkExt::send(&mut ws, OwnedMessage::Binary(big.clone())),
    )
    .await;
    assert!(r.is_err(), "the send was still writing when dropped");
    go_tx.send(()).unwrap();
    SinkExt::send(&mut ws, OwnedMessage::text("next"))
        .await
        .unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    let got = client.await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].len(), big.len());
    assert_eq!(got[1], TMessage::text("next"));
}

/// `OwnedMessage` and `Message` convert both ways: one copy in, none out.
#[test]
fn owned_and_borrowed_messages_convert() {
    use zerows_util::Message;
    for m in [
        Message::Text("héllo"),
        Message::Binary(&[1, 2, 3]),
        Message::Ping(b"p"),
        Message::Pong(b""),
        Message::Close(None),
        Message::Close(Some(zerows_frame::CloseFrame::new(
            CloseCode::NORMAL,
            "bye",
        ))),
    ] {
        let owned = OwnedMessage::from(m);
        assert_eq!(owned.as_message(), m);
        assert_eq!(owned.opcode(), m.opcode());
        assert_eq!(owned.payload(), m.payload());
    }
    let _: Result<Vec<OwnedMessage>, Error> = Ok(vec![]);
}
