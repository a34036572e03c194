//! Wire bytes the benches feed to every stack: masked client frames and the handshake request.

use zerows_frame::{OpCode, encode_frame_vec};

/// The masking key of every generated client frame.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The handshake request the load generator sends (RFC 6455 §1.3's key).
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// `len` bytes of printable ASCII (valid UTF-8, so it can travel as text).
pub fn ascii(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz"[i % 26])
        .collect()
}

/// `len` bytes of mixed UTF-8 (ASCII, 2-, 3- and 4-byte sequences), cut at a character boundary
/// at or below `len`.
pub fn mixed(len: usize) -> Vec<u8> {
    let unit = "héllo wörld, Καλημέρα κόσμε, こんにちは世界 🦀🚀 ".as_bytes();
    let mut out = Vec::with_capacity(len + unit.len());
    while out.len() < len {
        out.extend_from_slice(unit);
    }
    let mut end = len;
    while std::str::from_utf8(&out[..end]).is_err() {
        end -= 1;
    }
    out.truncate(end);
    out
}

/// One masked client frame (FIN set) carrying `payload`.
pub fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_vec(&mut out, opcode, true, Some(KEY), payload);
    out
}

/// One unmasked server frame (FIN set) carrying `payload`: what an echo server sends back.
pub fn server_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_vec(&mut out, opcode, true, None, payload);
    out
}

/// `n` masked text frames of `size` ASCII bytes each, back to back.
pub fn client_stream(n: usize, size: usize) -> Vec<u8> {
    let frame = client_frame(OpCode::Text, &ascii(size));
    frame.repeat(n)
}
