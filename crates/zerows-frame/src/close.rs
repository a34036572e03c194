//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).

use core::fmt;

use crate::error::{Error, InsufficientSize};

/// A close status code (RFC 6455 §7.4), with the constants of the IANA "WebSocket Close Code
/// Number Registry".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1004: reserved; never sent.
    pub const RESERVED: CloseCode = CloseCode(1004);
    /// 1005: "no status code was present"; only for APIs, never sent on the wire.
    pub const NO_STATUS_RECEIVED: CloseCode = CloseCode(1005);
    /// 1006: "closed abnormally, without a close frame"; only for APIs, never sent on the wire.
    pub const ABNORMAL_CLOSURE: CloseCode = CloseCode(1006);
    /// 1007: payload data inconsistent with the message type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: the message is too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy received an invalid response upstream (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: TLS handshake failure; only for APIs, never sent on the wire.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a close frame received from the wire (RFC 6455 §7.4.1,
    /// §7.4.2 and the IANA registry): 1000–1003, 1007–1014 and 3000–4999. Everything else
    /// (below 1000, 1004–1006, 1015, 1016–2999, 5000 and above) is a protocol error.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> CloseCode {
        CloseCode(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The largest close reason that fits a control frame: 125 payload bytes minus the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// A parsed close frame body: a status code and a UTF-8 reason (RFC 6455 §5.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseFrame<'a> {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty; at most [`MAX_REASON_LEN`] bytes when built with [`new`](Self::new).
    pub reason: &'a str,
}

impl<'a> CloseFrame<'a> {
    /// A close body with `reason` cut to at most [`MAX_REASON_LEN`] bytes at a character boundary,
    /// so that it always fits a control frame.
    pub fn new(code: CloseCode, reason: &'a str) -> CloseFrame<'a> {
        let mut end = reason.len().min(MAX_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame {
            code,
            reason: &reason[..end],
        }
    }

    /// Parses a received close payload (already unmasked).
    ///
    /// - Empty: `Ok(None)`, a close without a status code (reported to applications as 1005).
    /// - One byte: [`Error::InvalidClosePayload`] (RFC 6455 §5.5.1: a body begins with a 2-byte code).
    /// - A code that may not be sent (see [`CloseCode::is_valid_on_wire`]): [`Error::InvalidCloseCode`].
    /// - A reason that is not UTF-8: [`Error::InvalidUtf8`] (RFC 6455 §5.5.1).
    pub fn parse(payload: &'a [u8]) -> Result<Option<CloseFrame<'a>>, Error> {
        match payload {
            [] => Ok(None),
            [_] => Err(Error::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(Error::InvalidCloseCode);
                }
                let reason = crate::utf8::from_utf8(reason).map_err(|_| Error::InvalidUtf8)?;
                Ok(Some(CloseFrame { code, reason }))
            }
        }
    }

    /// The payload length this body encodes to.
    pub const fn encoded_len(&self) -> usize {
        2 + self.reason.len()
    }

    /// Writes the payload (code, then reason) into `out`, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, InsufficientSize> {
        let n = self.encoded_len();
        let Some(out) = out.get_mut(..n) else {
            return Err(InsufficientSize { required: n });
        };
        out[..2].copy_from_slice(&self.code.0.to_be_bytes());
        out[2..].copy_from_slice(self.reason.as_bytes());
        Ok(n)
    }
}

/// The close code to send back after receiving the close payload `payload` (RFC 6455 §5.5.1, §7.1.5).
///
/// - `None`: the peer sent no code; reply with an empty close frame.
/// - `Some(code)` of a valid received code: echo it, as endpoints conventionally do.
/// - `Some(1002)` / `Some(1007)` when the payload is invalid: fail the connection with that code.
pub fn reply_code(payload: &[u8]) -> Option<CloseCode> {
    match CloseFrame::parse(payload) {
        Ok(None) => None,
        Ok(Some(c)) => Some(c.code),
        Err(e) => Some(e.close_code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_table() {
        let valid = |c: u16| CloseCode(c).is_valid_on_wire();
        for c in 0..=u16::MAX {
            let expect = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(valid(c), expect, "{c}");
        }
        // the spot checks named by the RFC and the issue
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!valid(c), "{c}");
        }
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            assert!(valid(c), "{c}");
        }
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(CloseFrame::parse(&[3]), Err(Error::InvalidClosePayload));
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8]),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: ""
            }))
        );
        assert_eq!(
            CloseFrame::parse(b"\x03\xe9bye \xce\xba"),
            Ok(Some(CloseFrame {
                code: CloseCode::GOING_AWAY,
                reason: "bye κ"
            }))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xED]),
            Err(Error::InvalidCloseCode)
        ); // 1005
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8, 0xFF]),
            Err(Error::InvalidUtf8)
        );
        // a reason that ends inside a code point
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8, 0xCE]),
            Err(Error::InvalidUtf8)
        );
    }

    #[test]
    fn reply_codes() {
        assert_eq!(reply_code(&[]), None);
        assert_eq!(reply_code(&[0x0B, 0xB8]), Some(CloseCode(3000)));
        assert_eq!(reply_code(&[1]), Some(CloseCode::PROTOCOL_ERROR));
        assert_eq!(reply_code(&[0x03, 0xEE]), Some(CloseCode::PROTOCOL_ERROR)); // 1006
        assert_eq!(
            reply_code(&[0x03, 0xE8, 0x80]),
            Some(CloseCode::INVALID_PAYLOAD)
        );
    }

    #[test]
    fn encode_round_trip_and_truncation() {
        let mut out = [0u8; 125];
        let long = "é".repeat(100); // 200 bytes
        let c = CloseFrame::new(CloseCode(4000), &long);
        assert_eq!(c.reason.len(), 122); // cut at a char boundary at or below 123
        let n = c.encode(&mut out).unwrap();
        assert_eq!(n, 124);
        assert_eq!(CloseFrame::parse(&out[..n]), Ok(Some(c)));
        assert_eq!(
            c.encode(&mut out[..10]),
            Err(InsufficientSize { required: 124 })
        );
    }
}
