//! The tokio layer: conversations over an in-memory duplex pipe, cancel safety under
//! `tokio::select!`, and split halves in two tasks.
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts
#![cfg(feature = "tokio")]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use zerows_frame::{Config as FrameConfig, Decoder, Event, OpCode, Role, Status, encode_frame_vec};
use zerows_util::{AsyncWebSocket, CloseCode, Config, Error, Message};

fn client_frames(frames: &[(OpCode, bool, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (op, fin, payload) in frames {
        encode_frame_vec(&mut out, *op, *fin, Some([5, 6, 7, 8]), payload);
    }
    out
}

/// Decodes everything `peer` receives until EOF into (opcode, payload) per message/control frame.
async fn drain_peer(mut peer: DuplexStream) -> Vec<(OpCode, Vec<u8>)> {
    let mut d = Decoder::new(FrameConfig::new(Role::Client).validate_utf8(false));
    let mut wire = Vec::new();
    peer.read_to_end(&mut wire).await.unwrap();
    let mut out = Vec::new();
    let mut msg: Option<(OpCode, Vec<u8>)> = None;
    let mut at = 0;
    while let Status::Complete((ev, used)) = d.next(&mut wire[at..]).unwrap() {
        match ev {
            Event::Header(h) if h.opcode != OpCode::Continuation => {
                msg = Some((h.opcode, Vec::new()))
            }
            Event::Payload(p) => msg.as_mut().unwrap().1.extend_from_slice(p),
            Event::FrameEnd { fin: true } => out.push(msg.take().unwrap()),
            Event::Ping(p) => out.push((OpCode::Ping, p.to_vec())),
            Event::Pong(p) => out.push((OpCode::Pong, p.to_vec())),
            Event::Close(c) => out.push((
                OpCode::Close,
                c.map_or(vec![], |c| c.code.0.to_be_bytes().to_vec()),
            )),
            _ => {}
        }
        at += used;
    }
    out
}

#[tokio::test]
async fn echo_ping_close() {
    let (ours, mut peer) = tokio::io::duplex(1 << 16);
    let mut ws = AsyncWebSocket::from_raw(ours, Role::Server, &[], Config::default());
    let wire = client_frames(&[
        (OpCode::Text, false, "Hé".as_bytes()),
        (OpCode::Ping, true, b"p"),
        (OpCode::Continuation, true, b"llo"),
        (OpCode::Binary, true, &[1, 2, 3]),
        (OpCode::Close, true, &[0x03, 0xE8]),
    ]);
    peer.write_all(&wire).await.unwrap();
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf).await {
            Ok(op) => ws.send_message(op, &buf).await.unwrap(),
            Err(Error::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    drop(ws);
    let got = drain_peer(peer).await;
    assert_eq!(
        got,
        vec![
            (OpCode::Pong, b"p".to_vec()),
            (OpCode::Text, "Héllo".as_bytes().to_vec()),
            (OpCode::Binary, vec![1, 2, 3]),
            (OpCode::Close, vec![0x03, 0xE8]),
        ]
    );
}

#[tokio::test]
async fn protocol_error_closes_with_code() {
    let (ours, mut peer) = tokio::io::duplex(1 << 16);
    let mut ws = AsyncWebSocket::from_raw(
        ours,
        Role::Server,
        &[],
        Config::default().close_timeout(Duration::from_millis(100)),
    );
    peer.write_all(&client_frames(&[(OpCode::Text, true, &[0xFF])]))
        .await
        .unwrap();
    let e = ws.read().await.unwrap_err();
    assert!(
        matches!(e, Error::Protocol(zerows_frame::Error::InvalidUtf8)),
        "{e:?}"
    );
    drop(ws);
    assert_eq!(
        drain_peer(peer).await,
        vec![(OpCode::Close, 1007u16.to_be_bytes().to_vec())]
    );
}

/// Cancel safety: the peer trickles a stream of messages and pings a few bytes at a time; the
/// reader races every `read` against a timer that fires often, dropping the read future midway.
/// Every message must still arrive intact and in order, and every ping be answered once.
#[tokio::test(flavor = "current_thread")]
async fn read_is_cancel_safe_in_select() {
    let (ours, peer) = tokio::io::duplex(64);
    let (mut peer_rx, mut peer_tx) = tokio::io::split(peer);
    let mut frames: Vec<(OpCode, bool, Vec<u8>)> = Vec::new();
    for i in 0..200u32 {
        let body = format!("message {i} ")
            .repeat((i % 7 + 1) as usize)
            .into_bytes();
        if i % 3 == 0 {
            frames.push((OpCode::Ping, true, i.to_be_bytes().to_vec()));
        }
        if i % 5 == 0 {
            let (a, b) = body.split_at(body.len() / 2);
            frames.push((OpCode::Text, false, a.to_vec()));
            frames.push((OpCode::Continuation, true, b.to_vec()));
        } else {
            frames.push((OpCode::Text, true, body));
        }
    }
    frames.push((OpCode::Close, true, vec![0x03, 0xE8]));
    let refs: Vec<(OpCode, bool, &[u8])> =
        frames.iter().map(|(o, f, p)| (*o, *f, &p[..])).collect();
    let wire = client_frames(&refs);
    let feeder = tokio::spawn(async move {
        for chunk in wire.chunks(3) {
            peer_tx.write_all(chunk).await.unwrap();
            tokio::task::yield_now().await;
        }
        peer_tx
    });
    let collector = tokio::spawn(async move {
        let mut v = Vec::new();
        peer_rx.read_to_end(&mut v).await.unwrap();
        v
    });

    let mut ws = AsyncWebSocket::from_raw(ours, Role::Server, &[], Config::default());
    let mut texts = Vec::new();
    let mut pings = 0;
    let mut cancelled = 0;
    loop {
        tokio::select! {
            r = ws.read() => match r.unwrap() {
                Message::Text(t) => texts.push(t.to_owned()),
                Message::Ping(_) => pings += 1,
                Message::Close(_) => break,
                m => panic!("{m:?}"),
            },
            _ = tokio::task::yield_now() => cancelled += 1,
        }
    }
    assert!(
        cancelled > 100,
        "the read future was dropped midway often ({cancelled})"
    );
    assert_eq!(texts.len(), 200);
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(*t, format!("message {i} ").repeat(i % 7 + 1));
    }
    assert_eq!(pings, 67);
    let _tx = feeder.await.unwrap();
    drop(ws);
    let wire = collector.await.unwrap();
    // exactly one pong per ping, then the close echo
    let mut d = Decoder::new(FrameConfig::new(Role::Client));
    let mut wire = wire;
    let (mut pongs, mut closes, mut at) = (0, 0, 0);
    while let Status::Complete((ev, used)) = d.next(&mut wire[at..]).unwrap() {
        match ev {
            Event::Pong(_) => pongs += 1,
            Event::Close(_) => closes += 1,
            _ => {}
        }
        at += used;
    }
    assert_eq!((pongs, closes), (67, 1));
}

#[tokio::test]
async fn split_halves_in_two_tasks() {
    let (ours, theirs) = tokio::io::duplex(1 << 12);
    let server = AsyncWebSocket::from_raw(ours, Role::Server, &[], Config::default());
    let mut client = AsyncWebSocket::from_raw(theirs, Role::Client, &[], Config::default());
    let (mut rx, tx) = server.split();
    // server: the read half forwards every text to the write half's task via a channel
    let (chan_tx, mut chan_rx) = tokio::sync::mpsc::channel::<String>(16);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        loop {
            match rx.read().await {
                Ok(Message::Text(t)) => {
                    chan_tx.send(t.to_owned()).await.unwrap();
                    n += 1;
                }
                Ok(Message::Close(_)) => return n,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(t) = chan_rx.recv().await {
            tx.send_text(&format!("echo {t}")).await.unwrap();
        }
        tx
    });
    for i in 0..500 {
        client.send_text(&format!("{i}")).await.unwrap();
        client.ping(b"x").await.unwrap();
        loop {
            match client.read().await.unwrap() {
                Message::Text(t) => {
                    assert_eq!(t, format!("echo {i}"));
                    break;
                }
                Message::Pong(p) => assert_eq!(p, b"x"),
                m => panic!("{m:?}"),
            }
        }
    }
    client.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(reader.await.unwrap(), 500);
    let tx = writer.await.unwrap();
    assert!(tx.is_closed().await);
}

#[tokio::test]
async fn keepalive_pings_then_times_out() {
    let (ours, mut peer) = tokio::io::duplex(1 << 12);
    let config =
        Config::default().keepalive(Duration::from_millis(200), Duration::from_millis(100));
    let mut ws = AsyncWebSocket::from_raw(ours, Role::Server, &[], config);
    let start = std::time::Instant::now();
    // the peer answers nothing: after 200 ms a ping, 100 ms later a timeout with close 1001
    let e = ws.read().await.unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(
        matches!(e, Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut),
        "{e:?}"
    );
    drop(ws);
    let mut wire = Vec::new();
    peer.read_to_end(&mut wire).await.unwrap();
    let mut d = Decoder::new(FrameConfig::new(Role::Client));
    let Status::Complete((Event::Ping(p), used)) = d.next(&mut wire).unwrap() else {
        panic!()
    };
    assert_eq!(p, 1u64.to_be_bytes());
    match d.next(&mut wire[used..]).unwrap() {
        Status::Complete((Event::Close(Some(c)), _)) => assert_eq!(c.code, CloseCode::GOING_AWAY),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn keepalive_satisfied_by_pongs() {
    let (ours, theirs) = tokio::io::duplex(1 << 12);
    let config = Config::default().keepalive(Duration::from_millis(100), Duration::from_secs(5));
    let mut ws = AsyncWebSocket::from_raw(ours, Role::Server, &[], config);
    let mut peer = AsyncWebSocket::from_raw(theirs, Role::Client, &[], Config::default());
    // the peer (a zerows client) answers pings automatically while it waits for a message
    let peer_task = tokio::spawn(async move {
        loop {
            match peer.read().await {
                Ok(Message::Ping(_)) => continue,
                other => return other.map(|m| (m.opcode(), m.payload().to_vec())),
            }
        }
    });
    // the pong to our keepalive ping comes back as a message; we are still alive
    let m = ws.read().await.unwrap();
    assert_eq!(m, Message::Pong(&1u64.to_be_bytes()));
    ws.send_text("done").await.unwrap();
    assert_eq!(
        peer_task.await.unwrap().unwrap(),
        (OpCode::Text, b"done".to_vec())
    );
}

/// The whole path over TCP: the client offers permessage-deflate, the server negotiates it through
/// `Config::deflate`, and compressed messages round-trip both ways.
#[cfg(feature = "deflate")]
#[tokio::test]
async fn deflate_negotiated_through_the_handshake() {
    use zerows_util::deflate::DeflateConfig;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = AsyncWebSocket::accept_with_config(
            stream,
            Config::default().deflate(DeflateConfig::default()),
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        while let Ok(op) = ws.read_into(&mut buf).await {
            ws.send_message(op, &buf).await.unwrap();
        }
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let host = addr.to_string();
    let request = zerows_upgrade::client::ClientRequest::with_random_key(&host, "/").unwrap();
    let mut ws = AsyncWebSocket::connect_with_config(
        stream,
        &request,
        Config::default().deflate(DeflateConfig::default()),
    )
    .await
    .unwrap();
    let text = "permessage-deflate ".repeat(5000);
    ws.send_text(&text).await.unwrap();
    assert!(ws.read().await.unwrap() == Message::Text(&text));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

/// Fed messages wait for a flush (or a read that waits); a flush cancelled while the pipe is full
/// keeps its place, and the next flush finishes it with every frame whole.
#[tokio::test(flavor = "current_thread")]
async fn feed_flush_and_a_cancelled_flush() {
    // A 64-byte pipe: a flush of 20 frames cannot finish until the peer reads.
    let (a, mut peer) = tokio::io::duplex(64);
    let mut ws = AsyncWebSocket::from_raw(a, Role::Server, &[], Config::default());
    for i in 0..20u8 {
        ws.feed_message(OpCode::Binary, &[i; 30]).await.unwrap();
    }
    let mut probe = [0u8; 1];
    let nothing = tokio::time::timeout(Duration::from_millis(20), peer.read(&mut probe)).await;
    assert!(nothing.is_err(), "nothing written before the flush");
    // Cancelled mid-way: part of the queue is on the wire.
    let cancelled = tokio::time::timeout(Duration::from_millis(20), ws.flush()).await;
    assert!(cancelled.is_err(), "the pipe is full, the flush waits");
    let drain = tokio::spawn(drain_peer(peer));
    ws.flush().await.unwrap();
    // Fed and never flushed: dropping the connection drops it (as tokio's BufWriter does).
    ws.feed_message(OpCode::Text, b"last").await.unwrap();
    drop(ws);
    let got = drain.await.unwrap();
    assert_eq!(
        got.len(),
        20,
        "the 20 flushed frames arrive whole; the unflushed one does not"
    );
    for (i, (op, p)) in got.iter().enumerate() {
        assert_eq!(*op, OpCode::Binary);
        assert_eq!(*p, vec![i as u8; 30]);
    }
}

/// An echo loop that feeds its replies answers a request/response peer (the read flushes before
/// it waits).
#[tokio::test]
async fn fed_echo_is_flushed_by_the_next_read() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut ws = AsyncWebSocket::from_raw(a, Role::Server, &[], Config::default());
        let mut buf = Vec::new();
        loop {
            match ws.read_into(&mut buf).await {
                Ok(op) => ws.feed_message(op, &buf).await.unwrap(),
                Err(Error::Closed) => return,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let mut client = AsyncWebSocket::from_raw(b, Role::Client, &[], Config::default());
    for i in 0..100usize {
        let p = vec![(i % 251) as u8; 1 + i * 37 % 3000];
        client.send_binary(&p).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), client.read())
            .await
            .expect("the fed echo was flushed")
            .unwrap();
        match got {
            Message::Binary(b) => assert!(b == p.as_slice()),
            other => panic!("{other:?}"),
        }
    }
    // A burst: 16 fed by the client, one flush, 16 echoes back.
    for i in 0..16u8 {
        client.feed_message(OpCode::Binary, &[i; 10]).await.unwrap();
    }
    client.flush().await.unwrap();
    for i in 0..16u8 {
        match client.read().await.unwrap() {
            Message::Binary(b) => assert_eq!(b, &[i; 10]),
            other => panic!("{other:?}"),
        }
    }
    client.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

/// A duplex stream that counts write calls.
struct CountWrites {
    io: DuplexStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for CountWrites {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountWrites {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A server connection over a duplex stream whose write calls are counted, and the peer's end.
fn counted_server(
    config: Config,
) -> (
    AsyncWebSocket<CountWrites>,
    DuplexStream,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (a, peer) = tokio::io::duplex(1 << 16);
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let io = CountWrites {
        io: a,
        writes: std::sync::Arc::clone(&writes),
    };
    (
        AsyncWebSocket::from_raw(io, Role::Server, &[], config),
        peer,
        writes,
    )
}

/// 16 messages that arrive together are answered with one write: reads do not flush fed replies
/// after each message, only before they wait.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_is_answered_with_one_write() {
    let (mut ws, mut peer, writes) = counted_server(Config::default());
    let burst: Vec<(OpCode, bool, &[u8])> = (0..16)
        .map(|_| (OpCode::Binary, true, &b"0123456789abcdef"[..]))
        .collect();
    peer.write_all(&client_frames(&burst)).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..16 {
        assert_eq!(ws.read_into(&mut buf).await.unwrap(), OpCode::Binary);
        ws.feed_message(OpCode::Binary, &buf).await.unwrap();
    }
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 0);
    // The next read finds nothing buffered: it writes the 16 echoes, then waits.
    let next = tokio::time::timeout(Duration::from_millis(50), ws.read_into(&mut buf)).await;
    assert!(next.is_err(), "no 17th message");
    assert_eq!(
        writes.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "16 echoes, one write"
    );
    let mut wire = vec![0u8; 16 * 18];
    peer.read_exact(&mut wire).await.unwrap();
    for f in wire.chunks(18) {
        assert_eq!(f[..2], [0x82, 16]);
        assert_eq!(f[2..], b"0123456789abcdef"[..]);
    }
}

/// A burst larger than the read buffer (12 messages of 1 KiB against 8 KiB; the echoes stay under
/// the 16 KiB write buffer) is still answered with one write: a read that has to wait writes the
/// fed replies, one that finds bytes does not.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_larger_than_the_read_buffer_is_answered_with_one_write() {
    let config = Config::default().read_buffer_size(8 << 10);
    assert_eq!(config.write_buffer_size, 16 << 10);
    let (mut ws, mut peer, writes) = counted_server(config);
    let payload = [b'x'; 1024];
    let burst: Vec<(OpCode, bool, &[u8])> = (0..12)
        .map(|_| (OpCode::Binary, true, &payload[..]))
        .collect();
    let frames = client_frames(&burst);
    assert!(frames.len() > 8 << 10);
    peer.write_all(&frames).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..12 {
        assert_eq!(ws.read_into(&mut buf).await.unwrap(), OpCode::Binary);
        ws.feed_message(OpCode::Binary, &buf).await.unwrap();
    }
    assert_eq!(
        writes.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no echo written while the burst was still arriving"
    );
    let next = tokio::time::timeout(Duration::from_millis(50), ws.read_into(&mut buf)).await;
    assert!(next.is_err(), "no 13th message");
    assert_eq!(
        writes.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "12 echoes, one write"
    );
    let mut wire = vec![0u8; 12 * 1028];
    peer.read_exact(&mut wire).await.unwrap();
    for f in wire.chunks(1028) {
        assert_eq!(f[..4], [0x82, 126, 4, 0]);
        assert!(f[4..].iter().all(|&b| b == b'x'));
    }
}

/// The per-connection memory at rest documented in docs/architecture.md ("Buffers: who owns
/// what"), for 64-bit targets; a change to the struct must update both.
#[test]
#[cfg(target_pointer_width = "64")]
fn connection_struct_size_is_documented() {
    assert_eq!(
        std::mem::size_of::<AsyncWebSocket<tokio::net::TcpStream>>(),
        DOCUMENTED_ASYNC_SIZE,
        "update docs/architecture.md"
    );
}

/// `AsyncWebSocket<tokio::net::TcpStream>` on 64-bit targets, as docs/architecture.md states it.
const DOCUMENTED_ASYNC_SIZE: usize = 624;

/// A send future dropped in the middle of a frame written from the caller's buffer leaves a cut
/// frame on the wire: the connection refuses every later write (`Misuse::Poisoned`) instead of
/// corrupting the stream further, and reads still work. One dropped before any byte went out
/// sends nothing and harms nothing.
#[tokio::test]
async fn a_send_dropped_mid_frame_poisons_the_connection_and_reads_still_work() {
    use std::future::Future;
    use std::task::{Context, Poll};
    use zerows_util::Misuse;
    // A 64-byte pipe: a 10,000-byte frame cannot go out in one write.
    let (ours, mut peer) = tokio::io::duplex(64);
    let mut ws = AsyncWebSocket::from_raw(ours, Role::Server, &[], Config::default());
    let big = vec![b'x'; 10_000];
    {
        let mut fut = std::pin::pin!(ws.send_message(OpCode::Binary, &big));
        let waker = std::task::Waker::noop();
        assert!(matches!(
            fut.as_mut().poll(&mut Context::from_waker(waker)),
            Poll::Pending
        ));
    } // dropped after 64 bytes
    let mut head = [0u8; 64];
    peer.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], 0x82);
    let e = ws.send_text("after").await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput(Misuse::Poisoned)), "{e:?}");
    peer.write_all(&client_frames(&[(OpCode::Text, true, b"still read")]))
        .await
        .unwrap();
    assert_eq!(ws.read().await.unwrap(), Message::Text("still read"));

    // Dropped before its first byte (the pipe is full): nothing of it is sent, and the next send
    // goes out whole.
    let (ours, mut peer) = tokio::io::duplex(64);
    let mut ws = AsyncWebSocket::from_raw(ours, Role::Server, &[], Config::default());
    ws.send_binary(&[1; 62]).await.unwrap(); // 2 + 62 bytes: the pipe is full
    {
        let mut fut = std::pin::pin!(ws.send_message(OpCode::Binary, &big));
        let waker = std::task::Waker::noop();
        assert!(matches!(
            fut.as_mut().poll(&mut Context::from_waker(waker)),
            Poll::Pending
        ));
    }
    let mut first = [0u8; 64];
    peer.read_exact(&mut first).await.unwrap();
    ws.send_text("whole").await.unwrap();
    let mut frame = [0u8; 7];
    peer.read_exact(&mut frame).await.unwrap();
    assert_eq!(frame, [0x81, 5, b'w', b'h', b'o', b'l', b'e']);
}
