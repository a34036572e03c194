//! Whole conversations over an in-process socket pair: one end is a zerows connection, the other a
//! raw peer that writes exactly the frames a test wants and decodes what comes back.
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use zerows_frame::{
    CloseCode, Config as FrameConfig, Decoder, Event, OpCode, Role, Status, encode_frame_vec,
};
use zerows_util::{BufferPool, Config, Error, Message, PreparedMessage, WebSocket};

/// The raw peer: writes frames as a client (masked) or server, reads frames back.
struct Peer {
    io: UnixStream,
    role: Role,
    decoder: Decoder,
    buf: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Got {
    Data(OpCode, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Eof,
}

impl Peer {
    fn new(io: UnixStream, role: Role) -> Peer {
        io.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Peer {
            io,
            role,
            decoder: Decoder::new(FrameConfig::new(role).validate_utf8(false)),
            buf: Vec::new(),
        }
    }

    fn frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = (self.role == Role::Client).then_some([0xA1, 0xB2, 0xC3, 0xD4]);
        let mut out = Vec::new();
        encode_frame_vec(&mut out, opcode, fin, mask, payload);
        out
    }

    fn send(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        let f = self.frame(opcode, fin, payload);
        self.io.write_all(&f).unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).unwrap();
    }

    /// The next whole message or control frame.
    fn recv(&mut self) -> Got {
        let mut msg: Option<(OpCode, Vec<u8>)> = None;
        loop {
            // decode everything buffered
            loop {
                let mut pending = std::mem::take(&mut self.buf);
                let (got, used) = match self.decoder.next(&mut pending) {
                    Ok(Status::Complete((ev, used))) => {
                        let got = match ev {
                            Event::Header(h) => {
                                if h.opcode != OpCode::Continuation {
                                    msg = Some((h.opcode, Vec::new()));
                                }
                                None
                            }
                            Event::Payload(p) => {
                                msg.as_mut().unwrap().1.extend_from_slice(p);
                                None
                            }
                            Event::FrameEnd { fin: true } => {
                                msg.take().map(|(op, d)| Got::Data(op, d))
                            }
                            Event::FrameEnd { .. } => None,
                            Event::Ping(p) => Some(Got::Ping(p.to_vec())),
                            Event::Pong(p) => Some(Got::Pong(p.to_vec())),
                            Event::Close(c) => Some(Got::Close(
                                c.map(|c| c.code.0),
                                c.map_or(String::new(), |c| c.reason.into()),
                            )),
                        };
                        (Some(got), used)
                    }
                    Ok(Status::Partial) => (None, 0),
                    Err(e) => panic!("peer decode error {e}"),
                };
                pending.drain(..used);
                self.buf = pending;
                match got {
                    Some(Some(g)) => return g,
                    Some(None) => continue,
                    None => break,
                }
            }
            let mut tmp = [0u8; 65536];
            match self.io.read(&mut tmp) {
                Ok(0) => return Got::Eof,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) => panic!("peer read: {e}"),
            }
        }
    }
}

/// A zerows server over one end of a socket pair, and a raw client peer on the other.
fn server_pair(config: Config) -> (WebSocket<UnixStream>, Peer) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (
        WebSocket::from_raw(
            a,
            Role::Server,
            &[],
            config.close_timeout(Duration::from_millis(200)),
        ),
        Peer::new(b, Role::Client),
    )
}

#[test]
fn fragmented_text_with_interleaved_pings() {
    let (mut ws, mut peer) = server_pair(Config::default());
    peer.send(OpCode::Text, false, "Hé".as_bytes());
    peer.send(OpCode::Ping, true, b"1");
    peer.send(OpCode::Continuation, false, &[0xE2, 0x82]); // € split across fragments
    peer.send(OpCode::Ping, true, b"2");
    peer.send(OpCode::Continuation, true, &[0xAC]);
    assert_eq!(ws.read().unwrap(), Message::Ping(b"1"));
    assert_eq!(ws.read().unwrap(), Message::Ping(b"2"));
    assert_eq!(ws.read().unwrap(), Message::Text("Hé€"));
    // pongs were sent automatically, in order
    assert_eq!(peer.recv(), Got::Pong(b"1".to_vec()));
    assert_eq!(peer.recv(), Got::Pong(b"2".to_vec()));
}

#[test]
fn echo_text_and_binary_both_sizes() {
    let (mut ws, mut peer) = server_pair(Config::default().read_buffer_size(1024));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let peer_thread = thread::spawn(move || {
        peer.send(OpCode::Binary, true, &big);
        peer.send(OpCode::Text, true, b"small");
        assert_eq!(peer.recv(), Got::Data(OpCode::Binary, big));
        assert_eq!(peer.recv(), Got::Data(OpCode::Text, b"small".to_vec()));
        peer
    });
    let mut buf = Vec::new();
    for _ in 0..2 {
        let op = ws.read_into(&mut buf).unwrap();
        ws.send_message(op, &buf).unwrap();
    }
    peer_thread.join().unwrap();
}

#[test]
fn close_initiated_by_peer_is_echoed() {
    let (mut ws, mut peer) = server_pair(Config::default());
    peer.send(OpCode::Close, true, &[0x0F, 0xA0, b'b', b'y', b'e']); // 4000 "bye"
    match ws.read().unwrap() {
        Message::Close(Some(c)) => assert_eq!((c.code, c.reason), (CloseCode(4000), "bye")),
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.recv(), Got::Close(Some(4000), String::new()));
    assert_eq!(
        peer.recv(),
        Got::Eof,
        "server shuts its write side after the close handshake"
    );
    assert!(matches!(ws.read(), Err(Error::Closed)));
    assert!(matches!(ws.send_text("late"), Err(Error::Closed)));
}

#[test]
fn close_without_code_gets_empty_close() {
    let (mut ws, mut peer) = server_pair(Config::default());
    peer.send(OpCode::Close, true, &[]);
    assert_eq!(ws.read().unwrap(), Message::Close(None));
    assert_eq!(peer.recv(), Got::Close(None, String::new()));
}

#[test]
fn close_initiated_by_us_waits_for_the_peer() {
    let (mut ws, mut peer) = server_pair(Config::default());
    let t = thread::spawn(move || {
        // data the peer had in flight is discarded, then its close completes the handshake
        assert_eq!(peer.recv(), Got::Close(Some(1001), "going".into()));
        peer.send(OpCode::Text, true, b"in flight");
        peer.send(OpCode::Close, true, &[0x03, 0xE9]);
        assert_eq!(peer.recv(), Got::Eof);
    });
    ws.close(CloseCode::GOING_AWAY, "going").unwrap();
    t.join().unwrap();
}

#[test]
fn close_times_out_when_the_peer_is_silent() {
    let (mut ws, mut peer) = server_pair(Config::default());
    let r = ws.close(CloseCode::NORMAL, "");
    assert!(
        matches!(r, Err(Error::Io(ref e)) if e.kind() == std::io::ErrorKind::TimedOut),
        "{r:?}"
    );
    assert_eq!(peer.recv(), Got::Close(Some(1000), String::new()));
}

fn expect_failure(config: Config, frames: &[Vec<u8>], want: zerows_frame::Error) {
    let (mut ws, mut peer) = server_pair(config);
    for f in frames {
        peer.send_raw(f);
    }
    let err = loop {
        match ws.read() {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Protocol(e) if e == want), "{err:?}");
    let code = want.close_code().0;
    assert_eq!(peer.recv(), Got::Close(Some(code), want.as_str().into()));
    assert_eq!(peer.recv(), Got::Eof);
    assert!(matches!(ws.read(), Err(Error::Closed)));
}

fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_vec(&mut out, opcode, fin, Some([1, 2, 3, 4]), payload);
    out
}

#[test]
fn limit_violations_close_with_1009() {
    // message too large, detected from the second header
    expect_failure(
        Config::default().max_message_size(10),
        &[
            client_frame(OpCode::Binary, false, &[0; 8]),
            client_frame(OpCode::Continuation, true, &[0; 8]),
        ],
        zerows_frame::Error::MessageTooLarge,
    );
    // frame too large, from the header alone (no payload sent at all)
    let mut header_only = client_frame(OpCode::Binary, true, &[0; 200]);
    header_only.truncate(8);
    expect_failure(
        Config::default().max_frame_size(100),
        &[header_only],
        zerows_frame::Error::FrameTooLarge,
    );
    // too many fragments
    let mut frames = vec![client_frame(OpCode::Text, false, b"")];
    frames.extend((0..4).map(|_| client_frame(OpCode::Continuation, false, b"")));
    expect_failure(
        Config::default().max_fragments(3),
        &frames,
        zerows_frame::Error::TooManyFragments,
    );
}

#[test]
fn invalid_utf8_closes_with_1007() {
    expect_failure(
        Config::default(),
        &[client_frame(OpCode::Text, true, &[b'a', 0xFF])],
        zerows_frame::Error::InvalidUtf8,
    );
    // fail fast: the invalid byte arrives in the first fragment, the message never finishes
    expect_failure(
        Config::default(),
        &[client_frame(OpCode::Text, false, &[0xC0, 0x80])],
        zerows_frame::Error::InvalidUtf8,
    );
}

#[test]
fn protocol_violations_close_with_1002() {
    let mut unmasked = Vec::new();
    encode_frame_vec(&mut unmasked, OpCode::Text, true, None, b"x");
    expect_failure(
        Config::default(),
        &[unmasked],
        zerows_frame::Error::UnmaskedFrame,
    );
    expect_failure(
        Config::default(),
        &[client_frame(OpCode::Continuation, true, b"x")],
        zerows_frame::Error::UnexpectedContinuation,
    );
    let mut rsv = client_frame(OpCode::Binary, true, b"x");
    rsv[0] |= 0x40;
    expect_failure(Config::default(), &[rsv], zerows_frame::Error::ReservedBits);
}

#[test]
fn early_data_after_the_handshake_is_not_lost() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut peer = Peer::new(b, Role::Client);
    // the client sends its first frames right behind the request
    let mut request =
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
    request.extend(client_frame(OpCode::Text, true, b"early"));
    request.extend(client_frame(OpCode::Ping, true, b"p"));
    peer.send_raw(&request);
    let mut ws = WebSocket::accept(a).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("early"));
    assert_eq!(ws.read().unwrap(), Message::Ping(b"p"));
    let mut head = [0u8; 129];
    peer.io.read_exact(&mut head).unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
        "{}",
        String::from_utf8_lossy(&head)
    );
}

#[test]
fn streaming_reader_and_writer() {
    let (mut ws, mut peer) =
        server_pair(Config::default().read_buffer_size(512).fragment_size(1000));
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    peer.send(OpCode::Binary, false, &data[..3000]);
    peer.send(OpCode::Ping, true, b"mid");
    peer.send(OpCode::Continuation, true, &data[3000..]);
    let mut reader = ws.message_reader().unwrap();
    assert_eq!(reader.opcode(), OpCode::Binary);
    let mut got = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = reader.next_chunk().unwrap() {
        assert!(chunk.len() <= 512);
        got.extend_from_slice(chunk);
        chunks += 1;
    }
    drop(reader);
    assert_eq!(got, data);
    assert!(chunks >= 20);
    assert_eq!(peer.recv(), Got::Pong(b"mid".to_vec()));

    let mut w = ws.message_writer(OpCode::Binary).unwrap();
    w.write_all(&data).unwrap();
    w.finish().unwrap();
    assert_eq!(peer.recv(), Got::Data(OpCode::Binary, data));
}

#[test]
fn dropped_message_reader_skips_the_rest() {
    let (mut ws, mut peer) = server_pair(Config::default());
    peer.send(OpCode::Binary, false, b"abc");
    peer.send(OpCode::Continuation, true, b"def");
    peer.send(OpCode::Text, true, b"next");
    let mut reader = ws.message_reader().unwrap();
    let mut first = [0u8; 2];
    reader.read_exact(&mut first).unwrap();
    drop(reader);
    assert_eq!(ws.read().unwrap(), Message::Text("next"));
}

#[test]
fn prepared_message_to_many() {
    let msg = PreparedMessage::new(OpCode::Text, b"broadcast");
    for _ in 0..3 {
        let (mut ws, mut peer) = server_pair(Config::default());
        ws.send_prepared(&msg).unwrap();
        assert_eq!(peer.recv(), Got::Data(OpCode::Text, b"broadcast".to_vec()));
    }
}

#[test]
fn pooled_connection_holds_no_buffer_when_idle() {
    let pool = BufferPool::new(16);
    let (mut ws, mut peer) = server_pair(Config::default().pool(pool.clone()));
    peer.send(OpCode::Binary, true, &[7; 100]);
    assert_eq!(ws.read().unwrap(), Message::Binary(&[7; 100]));
    assert_eq!(
        pool.idle(),
        0,
        "the message is still borrowed from the read buffer"
    );
    // While the connection waits for data, its read buffer is back in the pool.
    let watcher = {
        let pool = pool.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            let idle_while_blocked = pool.idle();
            peer.send(OpCode::Text, true, b"again");
            (idle_while_blocked, peer)
        })
    };
    assert_eq!(ws.read().unwrap(), Message::Text("again"));
    let (idle_while_blocked, _peer) = watcher.join().unwrap();
    assert_eq!(idle_while_blocked, 1);
    assert_eq!(pool.idle(), 0, "taken again once bytes arrived");
    // and explicitly, for callers that wait for readiness themselves
    ws.release_buffers();
    assert_eq!(pool.idle(), 1);
}

#[test]
fn auto_pong_can_be_turned_off() {
    let (mut ws, mut peer) = server_pair(Config::default().auto_pong(false));
    peer.send(OpCode::Ping, true, b"x");
    peer.send(OpCode::Text, true, b"after");
    assert_eq!(ws.read().unwrap(), Message::Ping(b"x"));
    assert_eq!(ws.read().unwrap(), Message::Text("after"));
    ws.pong(b"mine").unwrap();
    assert_eq!(peer.recv(), Got::Pong(b"mine".to_vec()));
}

#[test]
fn abrupt_disconnect_is_abnormal_closure() {
    let (mut ws, peer) = server_pair(Config::default());
    drop(peer);
    let e = ws.read().unwrap_err();
    assert!(matches!(e, Error::AbnormalClosure), "{e:?}");
    assert_eq!(e.close_code(), Some(CloseCode::ABNORMAL_CLOSURE));
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut ws = WebSocket::from_raw(a, Role::Client, &[], Config::default());
    ws.send_binary(&[0; 16]).unwrap();
    ws.send_binary(&[0; 16]).unwrap();
    let mut raw = [0u8; 2 * (2 + 4 + 16)];
    let mut b = b;
    b.read_exact(&mut raw).unwrap();
    let (f1, f2) = raw.split_at(22);
    assert_eq!(f1[1] & 0x80, 0x80);
    assert_ne!(f1[2..6], f2[2..6], "two frames, two keys");
    // zero payload masked = the key repeated
    assert_eq!(f1[6..10], f1[2..6]);
}

/// The per-connection memory at rest documented in docs/architecture.md ("Buffers: who owns
/// what"): the connection struct itself, with no buffer held when pooled and idle. The figures
/// there are these, for 64-bit targets; a change to the struct must update both.
#[test]
#[cfg(target_pointer_width = "64")]
fn connection_struct_size_is_documented() {
    assert_eq!(
        std::mem::size_of::<WebSocket<std::net::TcpStream>>(),
        DOCUMENTED_SYNC_SIZE,
        "update docs/architecture.md"
    );
}

/// `WebSocket<TcpStream>` on 64-bit targets, as docs/architecture.md states it.
const DOCUMENTED_SYNC_SIZE: usize = 608;

#[test]
fn gobwas_style_helpers_round_trip() {
    use zerows_util::helpers;
    let (mut server, mut client) = UnixStream::pair().unwrap();
    let config = Config::default();
    let t = thread::spawn(move || {
        let mut buf = Vec::new();
        // a ping first: answered by the helper, then the message
        helpers::write_client_message(&mut client, OpCode::Ping, b"hb").unwrap();
        helpers::write_client_message(&mut client, OpCode::Text, "héllo".as_bytes()).unwrap();
        let op = helpers::read_server_data(&mut client, &mut buf, &Config::default()).unwrap();
        (op, buf, client)
    });
    let mut buf = Vec::new();
    let op = helpers::read_client_data(&mut server, &mut buf, &config).unwrap();
    assert_eq!((op, &buf[..]), (OpCode::Text, "héllo".as_bytes()));
    helpers::write_server_message(&mut server, op, &buf).unwrap();
    let (op, got, mut client) = t.join().unwrap();
    // the client saw the pong before the echo and skipped it
    assert_eq!((op, &got[..]), (OpCode::Text, "héllo".as_bytes()));
    // invalid UTF-8 from the client: close 1007
    helpers::write_client_message(&mut client, OpCode::Text, &[0xFF]).unwrap();
    let e = helpers::read_client_data(&mut server, &mut buf, &config).unwrap_err();
    assert!(matches!(
        e,
        Error::Protocol(zerows_frame::Error::InvalidUtf8)
    ));
    let mut peer = Peer::new(client, Role::Client);
    assert_eq!(peer.recv(), Got::Close(Some(1007), "invalid UTF-8".into()));
}

/// A message larger than the peer's frame limit (but within its message limit) goes out in several
/// frames, so two zerows endpoints with default limits (16 MiB frames, 64 MiB messages) can carry
/// messages up to 64 MiB. Scaled down here: 1,000-byte frames, 10,000-byte messages.
#[test]
fn messages_larger_than_a_frame_are_split_on_send() {
    let small = || {
        Config::default()
            .max_frame_size(1000)
            .max_send_frame_size(1000)
    };
    let (a, b) = UnixStream::pair().unwrap();
    let mut server = WebSocket::from_raw(a, Role::Server, &[], small());
    let mut client = WebSocket::from_raw(b, Role::Client, &[], small());
    let t = thread::spawn(move || {
        let mut buf = Vec::new();
        for _ in 0..2 {
            let op = server.read_into(&mut buf).unwrap();
            server.send_message(op, &buf).unwrap();
        }
    });
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    client.send_binary(&big).unwrap();
    assert!(client.read().unwrap() == Message::Binary(&big));
    let text = "κόσμε".repeat(1000); // a split may fall inside a code point: the receiver copes
    client.send_text(&text).unwrap();
    assert!(client.read().unwrap() == Message::Text(&text));
    t.join().unwrap();
}

/// A transport that looks at every buffer it is asked to read into, as any `Read` impl can.
struct Snooping {
    io: UnixStream,
    /// Read targets that held a byte of another connection's marker.
    saw: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Read for Snooping {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.windows(8).any(|w| w == b"SECRET-A") || buf.contains(&b'#') {
            self.saw.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.io.read(buf)
    }
}

impl Write for Snooping {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.io.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl zerows_util::Transport for Snooping {}

/// Audit finding: `BufferPool::take` handed out a previous user's bytes. With one pool shared by
/// many connections, nothing one connection received may be visible to the next user of a buffer:
/// not to `take`, and not to another connection's transport.
#[test]
fn pooled_buffers_never_show_another_connections_bytes() {
    let pool = BufferPool::new(64);
    let secret: Vec<u8> = b"SECRET-A".iter().cycle().take(6000).copied().collect();
    let hashes = vec![b'#'; 300];
    {
        let (mut a, mut peer) = server_pair(Config::default().pool(pool.clone()));
        // Small (in the read buffer), large (read straight into the message buffer), fragmented
        // (assembled), a ping and a close reason: every place received bytes land.
        peer.send(OpCode::Binary, true, &secret[..64]);
        peer.send(OpCode::Binary, true, &secret);
        peer.send(OpCode::Binary, false, &hashes);
        peer.send(OpCode::Continuation, true, &secret[..500]);
        peer.send(OpCode::Ping, true, b"SECRET-A#");
        peer.send(OpCode::Binary, true, b"end");
        let fragmented = [hashes.clone(), secret[..500].to_vec()].concat();
        for want in [&secret[..64], &secret[..], &fragmented[..], b"end"] {
            assert_eq!(ws_binary(&mut a), want);
        }
        // A burst that fills the whole read buffer.
        let burst: Vec<u8> = (0..300)
            .flat_map(|_| peer.frame(OpCode::Binary, true, &secret[..64]))
            .collect();
        peer.send_raw(&burst);
        for _ in 0..300 {
            assert_eq!(ws_binary(&mut a), &secret[..64]);
        }
        a.release_buffers();
        assert!(pool.idle() >= 1);
    }
    let saw = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (io, other) = UnixStream::pair().unwrap();
    let mut b = WebSocket::from_raw(
        Snooping {
            io,
            saw: saw.clone(),
        },
        Role::Server,
        &[],
        Config::default().pool(pool.clone()),
    );
    let mut peer = Peer::new(other, Role::Client);
    for i in 0..20 {
        let payload = vec![b'b'; 1 + i * 700];
        peer.send(OpCode::Binary, true, &payload);
        assert_eq!(ws_binary(&mut b), payload);
    }
    assert_eq!(
        saw.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "a transport saw another connection's bytes"
    );
    drop(b);
    for len in [1, 64, 4096, 16 << 10, 64 << 10] {
        let buf = pool.take(len);
        assert!(buf.iter().all(|&b| b == 0), "take({len}) showed old bytes");
        pool.give(buf);
    }
}

fn ws_binary<S: zerows_util::Transport>(ws: &mut WebSocket<S>) -> Vec<u8> {
    loop {
        match ws.read().unwrap() {
            Message::Binary(b) => return b.to_vec(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
}
