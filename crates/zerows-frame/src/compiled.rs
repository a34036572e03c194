//! Pre-encoded control frames for the server side (gobwas "compiled frames").
//!
//! A server's frames are unmasked (RFC 6455 §5.1), so a whole control frame is a constant and
//! answering with one costs a single write of static bytes. Client frames carry a fresh masking key
//! each (RFC 6455 §5.3), so they cannot be constants; encode them with
//! [`encode_frame`](crate::encode_frame) into a 6-byte (plus payload) stack buffer.

/// A server ping with an empty payload.
pub const PING: [u8; 2] = [0x89, 0x00];
/// A server pong with an empty payload.
pub const PONG: [u8; 2] = [0x8A, 0x00];
/// A server close frame without a body (the peer reads status 1005).
pub const CLOSE_EMPTY: [u8; 2] = [0x88, 0x00];
/// A server close frame with status 1000 (normal closure).
pub const CLOSE_NORMAL: [u8; 4] = [0x88, 0x02, 0x03, 0xE8];
/// A server close frame with status 1001 (going away).
pub const CLOSE_GOING_AWAY: [u8; 4] = [0x88, 0x02, 0x03, 0xE9];
/// A server close frame with status 1002 (protocol error).
pub const CLOSE_PROTOCOL_ERROR: [u8; 4] = [0x88, 0x02, 0x03, 0xEA];
/// A server close frame with status 1007 (invalid payload data).
pub const CLOSE_INVALID_PAYLOAD: [u8; 4] = [0x88, 0x02, 0x03, 0xEF];
/// A server close frame with status 1008 (policy violation).
pub const CLOSE_POLICY_VIOLATION: [u8; 4] = [0x88, 0x02, 0x03, 0xF0];
/// A server close frame with status 1009 (message too big).
pub const CLOSE_MESSAGE_TOO_BIG: [u8; 4] = [0x88, 0x02, 0x03, 0xF1];
/// A server close frame with status 1011 (internal error).
pub const CLOSE_INTERNAL_ERROR: [u8; 4] = [0x88, 0x02, 0x03, 0xF3];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseCode, OpCode, encode_frame};

    fn server_frame(op: OpCode, payload: &[u8]) -> ([u8; 16], usize) {
        let mut out = [0u8; 16];
        let n = encode_frame(&mut out, op, true, None, payload).unwrap();
        (out, n)
    }

    #[test]
    fn constants_equal_the_encoder() {
        for (c, op) in [
            (&PING[..], OpCode::Ping),
            (&PONG, OpCode::Pong),
            (&CLOSE_EMPTY, OpCode::Close),
        ] {
            let (out, n) = server_frame(op, &[]);
            assert_eq!(&out[..n], c);
        }
        for (c, code) in [
            (CLOSE_NORMAL, CloseCode::NORMAL),
            (CLOSE_GOING_AWAY, CloseCode::GOING_AWAY),
            (CLOSE_PROTOCOL_ERROR, CloseCode::PROTOCOL_ERROR),
            (CLOSE_INVALID_PAYLOAD, CloseCode::INVALID_PAYLOAD),
            (CLOSE_POLICY_VIOLATION, CloseCode::POLICY_VIOLATION),
            (CLOSE_MESSAGE_TOO_BIG, CloseCode::MESSAGE_TOO_BIG),
            (CLOSE_INTERNAL_ERROR, CloseCode::INTERNAL_ERROR),
        ] {
            let (out, n) = server_frame(OpCode::Close, &code.0.to_be_bytes());
            assert_eq!(&out[..n], c, "{code}");
        }
    }
}
