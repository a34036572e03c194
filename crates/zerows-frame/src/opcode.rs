//! Frame opcodes (RFC 6455 §5.2, §11.8).

use core::fmt;

/// A frame opcode. The reserved values (3–7, 0xB–0xF) have no variant: decoding them is
/// [`Error::ReservedOpcode`](crate::Error::ReservedOpcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: the first frame of a text message.
    Text = 0x1,
    /// 0x2: the first frame of a binary message.
    Binary = 0x2,
    /// 0x8: connection close (RFC 6455 §5.5.1).
    Close = 0x8,
    /// 0x9: ping (RFC 6455 §5.5.2).
    Ping = 0x9,
    /// 0xA: pong (RFC 6455 §5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for the reserved values.
    pub const fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Control frames have the high opcode bit set (RFC 6455 §5.5).
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// Text, binary or continuation (RFC 6455 §5.6).
    pub const fn is_data(self) -> bool {
        !self.is_control()
    }
}

impl TryFrom<u8> for OpCode {
    type Error = crate::Error;
    fn try_from(v: u8) -> Result<OpCode, crate::Error> {
        OpCode::from_u8(v).ok_or(crate::Error::ReservedOpcode)
    }
}

impl From<OpCode> for u8 {
    fn from(op: OpCode) -> u8 {
        op as u8
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpCode::Continuation => "continuation",
            OpCode::Text => "text",
            OpCode::Binary => "binary",
            OpCode::Close => "close",
            OpCode::Ping => "ping",
            OpCode::Pong => "pong",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nibble() {
        for v in 0u8..16 {
            match OpCode::from_u8(v) {
                Some(op) => {
                    assert_eq!(op.as_u8(), v);
                    assert_eq!(op.is_control(), v >= 8);
                    assert_eq!(OpCode::try_from(v), Ok(op));
                }
                None => {
                    assert!(matches!(v, 3..=7 | 0xB..=0xF), "{v}");
                    assert_eq!(OpCode::try_from(v), Err(crate::Error::ReservedOpcode));
                }
            }
        }
    }
}
