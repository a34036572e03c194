//! One conversation script, every driver: the blocking [`WebSocket`] and the tokio
//! [`AsyncWebSocket`] run the same scripted conversations over a real socket pair, and what each
//! writes to its peer must be the same, byte for byte (server role: no masking keys), as must what
//! each reports to the application. The protocol lives in one core; a driver that starts to make
//! its own decisions makes these differ and fails here.
#![cfg(feature = "tokio")]
#![allow(clippy::cast_possible_truncation)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use zerows_frame::{OpCode, Role, encode_frame_vec};
use zerows_util::{AsyncWebSocket, CloseCode, Config, Error, Message, WebSocket};

/// What the application does, or what the peer sends, at one step.
#[derive(Clone, Debug)]
enum Step {
    /// The peer writes these bytes (whole frames, or any cut of them).
    Peer(Vec<u8>),
    /// The peer closes its write side.
    PeerEof,
    /// The application reads one message.
    Read,
    /// The application reads one data message into a buffer.
    ReadInto,
    Send(OpCode, Vec<u8>),
    Feed(OpCode, Vec<u8>),
    Flush,
    Ping(Vec<u8>),
    /// The application closes (and waits for the peer, or the close timeout).
    Close(u16, &'static str),
}

/// What the application saw, as values (the same for both drivers).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Message(OpCode, Vec<u8>),
    Close(Option<(u16, String)>),
    Error(String),
    Ok,
}

fn seen_message(m: Message<'_>) -> Seen {
    match m {
        Message::Close(c) => Seen::Close(c.map(|c| (c.code.0, c.reason.to_string()))),
        m => Seen::Message(m.opcode(), m.payload().to_vec()),
    }
}

fn seen_error(e: &Error) -> Seen {
    // The variant and, for protocol errors, which rule: not the Debug text of an io::Error.
    Seen::Error(match e {
        Error::Io(io) => format!("io {:?}", io.kind()),
        Error::Protocol(p) => format!("protocol {p:?}"),
        Error::Extension(x) => format!("extension {}", x.code.0),
        Error::Closed => "closed".into(),
        Error::AbnormalClosure => "abnormal".into(),
        other => format!("{other}"),
    })
}

fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_vec(
        &mut out,
        opcode,
        fin,
        Some([0x37, 0xfa, 0x21, 0x3d]),
        payload,
    );
    out
}

fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason.as_bytes());
    frame(OpCode::Close, true, &body)
}

/// Collects everything the connection writes until it closes its side.
fn collect(mut peer: UnixStream) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = peer.read_to_end(&mut out);
        out
    })
}

fn run_sync(config: &Config, script: &[Step]) -> (Vec<Seen>, Vec<u8>) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut peer_w = theirs.try_clone().unwrap();
    let out = collect(theirs);
    let mut ws = WebSocket::from_raw(ours, Role::Server, &[], config.clone());
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    for step in script {
        let r = match step {
            Step::Peer(b) => {
                peer_w.write_all(b).unwrap();
                continue;
            }
            Step::PeerEof => {
                peer_w.shutdown(std::net::Shutdown::Write).unwrap();
                continue;
            }
            Step::Read => ws.read().map(seen_message),
            Step::ReadInto => ws
                .read_into(&mut buf)
                .map(|op| Seen::Message(op, buf.clone())),
            Step::Send(op, p) => ws.send_message(*op, p).map(|()| Seen::Ok),
            Step::Feed(op, p) => ws.feed_message(*op, p).map(|()| Seen::Ok),
            Step::Flush => ws.flush().map(|()| Seen::Ok),
            Step::Ping(p) => ws.ping(p).map(|()| Seen::Ok),
            Step::Close(code, reason) => ws.close(CloseCode(*code), reason).map(|()| Seen::Ok),
        };
        seen.push(r.unwrap_or_else(|e| seen_error(&e)));
    }
    drop(ws);
    drop(peer_w);
    (seen, out.join().unwrap())
}

fn run_tokio(config: &Config, script: &[Step]) -> (Vec<Seen>, Vec<u8>) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut peer_w = theirs.try_clone().unwrap();
    let out = collect(theirs);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = rt.block_on(async {
        ours.set_nonblocking(true).unwrap();
        let io = tokio::net::UnixStream::from_std(ours).unwrap();
        let mut ws = AsyncWebSocket::from_raw(io, Role::Server, &[], config.clone());
        let mut seen = Vec::new();
        let mut buf = Vec::new();
        for step in script {
            let r = match step {
                Step::Peer(b) => {
                    peer_w.write_all(b).unwrap();
                    continue;
                }
                Step::PeerEof => {
                    peer_w.shutdown(std::net::Shutdown::Write).unwrap();
                    continue;
                }
                Step::Read => ws.read().await.map(seen_message),
                Step::ReadInto => ws
                    .read_into(&mut buf)
                    .await
                    .map(|op| Seen::Message(op, buf.clone())),
                Step::Send(op, p) => ws.send_message(*op, p).await.map(|()| Seen::Ok),
                Step::Feed(op, p) => ws.feed_message(*op, p).await.map(|()| Seen::Ok),
                Step::Flush => ws.flush().await.map(|()| Seen::Ok),
                Step::Ping(p) => ws.ping(p).await.map(|()| Seen::Ok),
                Step::Close(code, reason) => {
                    ws.close(CloseCode(*code), reason).await.map(|()| Seen::Ok)
                }
            };
            seen.push(r.unwrap_or_else(|e| seen_error(&e)));
        }
        seen
    });
    drop(rt);
    drop(peer_w);
    (seen, out.join().unwrap())
}

/// Runs `script` through both drivers and checks they agree; returns what they saw and wrote.
fn both(name: &str, config: Config, script: &[Step]) -> (Vec<Seen>, Vec<u8>) {
    let config = config.close_timeout(Duration::from_millis(150));
    let sync = run_sync(&config, script);
    let tokio = run_tokio(&config, script);
    assert_eq!(
        sync.0, tokio.0,
        "{name}: the drivers reported different things"
    );
    assert_eq!(
        sync.1, tokio.1,
        "{name}: the drivers wrote different bytes\n sync:  {:02x?}\n tokio: {:02x?}",
        sync.1, tokio.1
    );
    sync
}

fn server_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_vec(&mut out, opcode, true, None, payload);
    out
}

#[test]
fn fragmented_text_with_interleaved_pings() {
    let mut wire = frame(OpCode::Text, false, b"frag");
    wire.extend(frame(OpCode::Ping, true, b"p1"));
    wire.extend(frame(OpCode::Continuation, false, b"men"));
    wire.extend(frame(OpCode::Ping, true, b"p2"));
    wire.extend(frame(OpCode::Continuation, true, "ted ✓".as_bytes()));
    // Cut anywhere: the peer sends it in three pieces.
    let (a, rest) = wire.split_at(5);
    let (b, c) = rest.split_at(9);
    let script = [
        Step::Peer(a.to_vec()),
        Step::Peer(b.to_vec()),
        Step::Peer(c.to_vec()),
        Step::Read,
        Step::Read,
        Step::Read,
        Step::Feed(OpCode::Text, "fragmented ✓".as_bytes().to_vec()),
        Step::Flush,
        Step::Peer(close_frame(1000, "")),
        Step::Read,
        Step::Read,
    ];
    let (seen, wrote) = both("fragmented", Config::default(), &script);
    assert_eq!(
        seen[..3],
        [
            Seen::Message(OpCode::Ping, b"p1".to_vec()),
            Seen::Message(OpCode::Ping, b"p2".to_vec()),
            Seen::Message(OpCode::Text, "fragmented ✓".as_bytes().to_vec()),
        ]
    );
    assert_eq!(seen[6], Seen::Error("closed".into()));
    let mut want = server_frame(OpCode::Pong, b"p1");
    want.extend(server_frame(OpCode::Pong, b"p2"));
    want.extend(server_frame(OpCode::Text, "fragmented ✓".as_bytes()));
    want.extend(server_frame(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(wrote, want);
}

#[test]
fn close_from_the_peer_is_echoed_then_the_stream_ends() {
    let script = [
        Step::Peer(frame(OpCode::Binary, true, &[1, 2, 3])),
        Step::Peer(close_frame(4001, "done")),
        Step::ReadInto,
        Step::Read,
        Step::Read,
        Step::Send(OpCode::Text, b"too late".to_vec()),
    ];
    let (seen, wrote) = both("peer close", Config::default(), &script);
    assert_eq!(seen[1], Seen::Close(Some((4001, "done".into()))));
    assert_eq!(seen[2], Seen::Error("closed".into()));
    assert_eq!(seen[3], Seen::Error("closed".into()));
    assert_eq!(wrote, server_frame(OpCode::Close, &4001u16.to_be_bytes()));
}

#[test]
fn close_from_us_waits_for_the_peer() {
    let script = [
        Step::Feed(OpCode::Text, b"last words".to_vec()),
        Step::Peer(frame(OpCode::Text, true, b"dropped while closing")),
        Step::Peer(close_frame(1000, "")),
        Step::Close(1001, "going"),
        Step::Read,
    ];
    let (seen, wrote) = both("our close", Config::default(), &script);
    assert_eq!(seen[1..], [Seen::Ok, Seen::Error("closed".into())]);
    let mut want = server_frame(OpCode::Text, b"last words");
    let mut body = 1001u16.to_be_bytes().to_vec();
    body.extend_from_slice(b"going");
    want.extend(server_frame(OpCode::Close, &body));
    assert_eq!(wrote, want);
}

#[test]
fn a_silent_peer_ends_our_close_after_the_timeout() {
    let script = [Step::Close(1000, ""), Step::Read];
    let (seen, wrote) = both("close timeout", Config::default(), &script);
    assert_eq!(seen[0], Seen::Error("io TimedOut".into()));
    assert_eq!(seen[1], Seen::Error("closed".into()));
    assert_eq!(wrote, server_frame(OpCode::Close, &1000u16.to_be_bytes()));
}

#[test]
fn limit_and_utf8_failures_close_with_their_codes() {
    let cases: [(&str, Config, Vec<u8>, u16); 3] = [
        (
            "too big",
            Config::default().max_message_size(100),
            frame(OpCode::Binary, true, &[0; 101]),
            1009,
        ),
        (
            "invalid utf-8",
            Config::default(),
            frame(OpCode::Text, true, &[b'a', 0xff, b'b']),
            1007,
        ),
        (
            "reserved opcode",
            Config::default(),
            {
                let mut f = frame(OpCode::Binary, true, b"x");
                f[0] = 0x83;
                f
            },
            1002,
        ),
    ];
    for (name, config, bad, code) in cases {
        let script = [
            Step::Peer(frame(OpCode::Text, true, b"ok")),
            Step::Peer(bad),
            Step::PeerEof,
            Step::Read,
            Step::Read,
            Step::Read,
        ];
        let (seen, wrote) = both(name, config, &script);
        assert!(
            matches!(seen[1], Seen::Error(ref e) if e.starts_with("protocol")),
            "{name}: {seen:?}"
        );
        assert_eq!(seen[2], Seen::Error("closed".into()), "{name}");
        assert_eq!(
            &wrote[..4],
            &[0x88, wrote[1], (code >> 8) as u8, code as u8],
            "{name}"
        );
    }
}

#[test]
fn a_stalled_frame_then_eof_is_abnormal() {
    let f = frame(OpCode::Binary, true, &[7; 300]);
    let script = [
        Step::Peer(f[..100].to_vec()),
        Step::PeerEof,
        Step::Read,
        Step::Read,
    ];
    let (seen, wrote) = both("cut", Config::default(), &script);
    assert_eq!(
        seen,
        [Seen::Error("abnormal".into()), Seen::Error("closed".into())]
    );
    assert!(
        wrote.is_empty(),
        "no close frame after an abnormal end: {wrote:02x?}"
    );
}

#[test]
fn keepalive_pings_then_gives_up_with_1001() {
    let config = Config::default().keepalive(Duration::from_millis(80), Duration::from_millis(80));
    let script = [Step::Read, Step::Read];
    let (seen, wrote) = both("keepalive", config, &script);
    assert_eq!(
        seen,
        [
            Seen::Error("io TimedOut".into()),
            Seen::Error("closed".into())
        ]
    );
    let mut want = server_frame(OpCode::Ping, &1u64.to_be_bytes());
    let mut body = 1001u16.to_be_bytes().to_vec();
    body.extend_from_slice(b"keepalive timeout");
    want.extend(server_frame(OpCode::Close, &body));
    assert_eq!(wrote, want);
}

#[test]
fn fed_replies_go_out_before_the_read_waits() {
    let mut burst = Vec::new();
    for i in 0..5u8 {
        burst.extend(frame(OpCode::Binary, true, &[i; 10]));
    }
    let mut script = vec![Step::Peer(burst)];
    for i in 0..5u8 {
        script.push(Step::ReadInto);
        script.push(Step::Feed(OpCode::Binary, vec![i; 10]));
    }
    script.push(Step::Ping(b"app".to_vec()));
    script.push(Step::Send(OpCode::Text, vec![b'x'; 40_000]));
    script.push(Step::Peer(close_frame(1000, "")));
    script.push(Step::Read);
    let (_, wrote) = both("batching", Config::default(), &script);
    let mut want = Vec::new();
    for i in 0..5u8 {
        want.extend(server_frame(OpCode::Binary, &[i; 10]));
    }
    want.extend(server_frame(OpCode::Ping, b"app"));
    want.extend(server_frame(OpCode::Text, &[b'x'; 40_000]));
    want.extend(server_frame(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(wrote, want);
}
