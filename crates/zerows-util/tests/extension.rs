//! The extension hook: a toy per-message transform owning RSV1 ("double every byte"), run between
//! two zerows endpoints and against a raw peer that writes exactly the frames a test wants.
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use zerows_frame::{Header, OpCode, Role, Rsv, apply_mask};
use zerows_util::{
    Config, Error, Extension, ExtensionError, Message, MessageDecoder, MessageEncoder, WebSocket,
};

/// Sends each byte once; the receiver writes it twice. A 0xFF byte on the wire is "invalid data".
#[derive(Debug, Default)]
struct Doubler {
    chunks: usize,
}

impl MessageDecoder for Doubler {
    fn decode(
        &mut self,
        rsv: Rsv,
        chunk: &[u8],
        _last: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        assert_eq!(rsv, Rsv::RSV1);
        self.chunks += 1;
        for &b in chunk {
            if b == 0xFF {
                return Err(ExtensionError::INVALID_DATA);
            }
            if out.len() + 2 > max_len {
                return Err(ExtensionError::TOO_BIG);
            }
            out.extend_from_slice(&[b, b]);
        }
        Ok(())
    }
}

impl MessageEncoder for Doubler {
    fn encode(
        &mut self,
        _opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Rsv>, ExtensionError> {
        // only payloads of doubled bytes can be "compressed"; others go as they are
        if !payload.len().is_multiple_of(2) || payload.chunks(2).any(|p| p[0] != p[1]) {
            return Ok(None);
        }
        out.extend(payload.iter().step_by(2));
        Ok(Some(Rsv::RSV1))
    }
}

fn doubler() -> Extension {
    Extension::new(
        Rsv::RSV1,
        Box::new(Doubler::default()),
        Box::new(Doubler::default()),
    )
}

#[test]
fn two_endpoints_round_trip() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut server = WebSocket::from_raw(a, Role::Server, &[], Config::default());
    server.set_extension(doubler());
    let mut client = WebSocket::from_raw(b, Role::Client, &[], Config::default());
    client.set_extension(doubler());
    let t = thread::spawn(move || {
        let mut buf = Vec::new();
        for _ in 0..3 {
            let op = server.read_into(&mut buf).unwrap();
            server.send_message(op, &buf).unwrap();
        }
        server
    });
    client.send_text("aabbcc").unwrap(); // transformed: 3 bytes on the wire
    assert_eq!(client.read().unwrap(), Message::Text("aabbcc"));
    client.send_text("abc").unwrap(); // untransformed
    assert_eq!(client.read().unwrap(), Message::Text("abc"));
    // 0xFF is the toy extension's "invalid data": keep it out
    let big: Vec<u8> = (0..100_000u32)
        .flat_map(|i| [(i % 255) as u8, (i % 255) as u8])
        .collect();
    client.send_binary(&big).unwrap();
    assert!(
        client.read().unwrap() == Message::Binary(&big),
        "big message mismatch"
    );
    t.join().unwrap();
}

/// A raw client: frames with chosen RSV bits, masked.
fn raw_frame(opcode: OpCode, fin: bool, rsv: Rsv, payload: &[u8]) -> Vec<u8> {
    let key = [3, 1, 4, 1];
    let h = Header {
        fin,
        rsv,
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = vec![0u8; h.encoded_len()];
    h.encode(&mut out).unwrap();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

fn server_with_doubler(config: Config) -> (WebSocket<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut ws = WebSocket::from_raw(
        a,
        Role::Server,
        &[],
        config.close_timeout(Duration::from_millis(100)),
    );
    ws.set_extension(doubler());
    (ws, b)
}

/// Reads the close frame the server sent: (code, reason).
fn close_sent(peer: &mut UnixStream) -> (u16, String) {
    let mut wire = Vec::new();
    peer.read_to_end(&mut wire).unwrap();
    assert_eq!(wire[0], 0x88, "{wire:x?}");
    let len = usize::from(wire[1]);
    let code = u16::from_be_bytes([wire[2], wire[3]]);
    (code, String::from_utf8(wire[4..2 + len].to_vec()).unwrap())
}

#[test]
fn raw_peer_fragmented_transformed_message_and_streaming() {
    let (mut ws, mut peer) = server_with_doubler(Config::default());
    let mut wire = raw_frame(OpCode::Text, false, Rsv::RSV1, b"ab");
    wire.extend(raw_frame(OpCode::Ping, true, Rsv::NONE, b"p"));
    wire.extend(raw_frame(OpCode::Continuation, true, Rsv::NONE, b"c"));
    // and a streamed one
    wire.extend(raw_frame(OpCode::Binary, false, Rsv::RSV1, b"xy"));
    wire.extend(raw_frame(OpCode::Continuation, true, Rsv::NONE, b"z"));
    peer.write_all(&wire).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Ping(b"p"));
    assert_eq!(ws.read().unwrap(), Message::Text("aabbcc"));
    let mut r = ws.message_reader().unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"xxyyzz");
}

#[test]
fn unowned_bits_are_still_a_protocol_error() {
    let (mut ws, mut peer) = server_with_doubler(Config::default());
    peer.write_all(&raw_frame(OpCode::Text, true, Rsv::RSV2, b"a"))
        .unwrap();
    assert!(matches!(
        ws.read(),
        Err(Error::Protocol(zerows_frame::Error::ReservedBits))
    ));
    assert_eq!(close_sent(&mut peer).0, 1002);
}

#[test]
fn owned_bit_on_a_continuation_is_a_protocol_error() {
    let (mut ws, mut peer) = server_with_doubler(Config::default());
    let mut wire = raw_frame(OpCode::Text, false, Rsv::RSV1, b"a");
    wire.extend(raw_frame(OpCode::Continuation, true, Rsv::RSV1, b"b"));
    peer.write_all(&wire).unwrap();
    assert!(matches!(
        ws.read(),
        Err(Error::Protocol(zerows_frame::Error::ReservedBits))
    ));
    assert_eq!(close_sent(&mut peer).0, 1002);
}

#[test]
fn limit_applies_to_the_decoded_size() {
    // 600 wire bytes decode to 1200 > 1000: closed with 1009 though the wire size is within limits
    let (mut ws, mut peer) = server_with_doubler(Config::default().max_message_size(1000));
    peer.write_all(&raw_frame(OpCode::Binary, true, Rsv::RSV1, &[7; 600]))
        .unwrap();
    let e = ws.read().unwrap_err();
    assert!(
        matches!(e, Error::Extension(ExtensionError { code, .. }) if code.0 == 1009),
        "{e:?}"
    );
    assert_eq!(close_sent(&mut peer), (1009, "message too large".into()));
}

#[test]
fn decoded_text_is_utf8_checked() {
    let (mut ws, mut peer) = server_with_doubler(Config::default());
    peer.write_all(&raw_frame(OpCode::Text, true, Rsv::RSV1, &[0xC3]))
        .unwrap(); // → C3 C3
    assert!(matches!(
        ws.read(),
        Err(Error::Protocol(zerows_frame::Error::InvalidUtf8))
    ));
    assert_eq!(close_sent(&mut peer).0, 1007);
}

#[test]
fn extension_errors_close_with_their_code() {
    let (mut ws, mut peer) = server_with_doubler(Config::default());
    peer.write_all(&raw_frame(OpCode::Binary, true, Rsv::RSV1, &[1, 0xFF]))
        .unwrap();
    assert!(matches!(
        ws.read(),
        Err(Error::Extension(ExtensionError::INVALID_DATA))
    ));
    assert_eq!(
        close_sent(&mut peer),
        (1007, "invalid extension data".into())
    );
}

#[test]
fn without_an_extension_rsv1_is_rejected() {
    let (a, mut peer) = UnixStream::pair().unwrap();
    let mut ws = WebSocket::from_raw(
        a,
        Role::Server,
        &[],
        Config::default().close_timeout(Duration::from_millis(100)),
    );
    peer.write_all(&raw_frame(OpCode::Text, true, Rsv::RSV1, b"a"))
        .unwrap();
    assert!(matches!(
        ws.read(),
        Err(Error::Protocol(zerows_frame::Error::ReservedBits))
    ));
}
