//! The frame header: decode from and encode into borrowed buffers (RFC 6455 §5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

use core::fmt;
use core::ops::{BitAnd, BitOr};

use crate::config::Config;
use crate::error::{Error, InsufficientSize};
use crate::opcode::OpCode;
use crate::{Role, Status};

/// The three reserved bits of a frame header, RSV1 (`0b100`), RSV2 (`0b010`) and RSV3 (`0b001`).
///
/// They are "reserved for extensions" (RFC 6455 §5.2): a receiver fails the connection when one is
/// set that no negotiated extension owns. permessage-deflate owns RSV1 (RFC 7692 §6).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rsv(u8);

impl Rsv {
    /// No bit set.
    pub const NONE: Rsv = Rsv(0);
    /// RSV1, the "per-message compressed" bit of permessage-deflate.
    pub const RSV1: Rsv = Rsv(0b100);
    /// RSV2.
    pub const RSV2: Rsv = Rsv(0b010);
    /// RSV3.
    pub const RSV3: Rsv = Rsv(0b001);
    /// All three bits.
    pub const ALL: Rsv = Rsv(0b111);

    /// From the low three bits of `bits` (RSV1 is `0b100`); `None` if higher bits are set.
    pub const fn from_bits(bits: u8) -> Option<Rsv> {
        if bits & !0b111 == 0 {
            Some(Rsv(bits))
        } else {
            None
        }
    }

    /// The bits, RSV1 as `0b100`.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Rsv) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Rsv {
    type Output = Rsv;
    fn bitor(self, rhs: Rsv) -> Rsv {
        Rsv(self.0 | rhs.0)
    }
}

impl BitAnd for Rsv {
    type Output = Rsv;
    fn bitand(self, rhs: Rsv) -> Rsv {
        Rsv(self.0 & rhs.0)
    }
}

impl fmt::Debug for Rsv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rsv({:#05b})", self.0)
    }
}

/// A decoded or to-be-encoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// FIN: this is the final frame of a message.
    pub fin: bool,
    /// The RSV1–3 bits.
    pub rsv: Rsv,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame and no other (RFC 6455 §5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl Header {
    /// The longest header: 2 bytes, a 64-bit length and a masking key.
    pub const MAX_LEN: usize = 14;

    /// A header with FIN set, no RSV bits and no mask.
    pub const fn new(opcode: OpCode, payload_len: u64) -> Header {
        Header {
            fin: true,
            rsv: Rsv::NONE,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// The number of bytes this header encodes to (2 to 14).
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len < 126 {
            0
        } else if self.payload_len <= 0xFFFF {
            2
        } else {
            8
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header into `out` with the minimal length encoding (RFC 6455 §5.2) and returns
    /// the number of bytes written, or the size needed.
    ///
    /// It encodes what it is given: a control frame longer than 125 bytes or a payload length above
    /// 2⁶³ is written as asked (useful to test peers), and is the caller's mistake.
    ///
    /// ```
    /// use zerows_frame::{Header, OpCode};
    ///
    /// let mut out = [0u8; Header::MAX_LEN];
    /// let n = Header::new(OpCode::Binary, 256).encode(&mut out).unwrap();
    /// assert_eq!(&out[..n], [0x82, 0x7E, 0x01, 0x00]); // RFC 6455 §5.7: 256 bytes, unmasked
    /// ```
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, InsufficientSize> {
        /// Writes a header of exactly `N` bytes: one length check, then whole-array stores.
        #[inline(always)]
        fn put<const N: usize>(out: &mut [u8], bytes: [u8; N]) -> Result<usize, InsufficientSize> {
            match out.first_chunk_mut::<N>() {
                Some(o) => {
                    *o = bytes;
                    Ok(N)
                }
                None => Err(InsufficientSize { required: N }),
            }
        }
        let b0 = (u8::from(self.fin) << 7) | (self.rsv.0 << 4) | self.opcode.as_u8();
        let len = self.payload_len;
        // Each narrowing cast is inside its range check.
        #[allow(clippy::cast_possible_truncation)]
        match self.mask {
            None if len < 126 => put(out, [b0, len as u8]),
            None if len <= 0xFFFF => {
                let [a, b] = (len as u16).to_be_bytes();
                put(out, [b0, 126, a, b])
            }
            None => {
                let [a, b, c, d, e, f, g, h] = len.to_be_bytes();
                put(out, [b0, 127, a, b, c, d, e, f, g, h])
            }
            Some([k0, k1, k2, k3]) if len < 126 => put(out, [b0, 0x80 | len as u8, k0, k1, k2, k3]),
            Some([k0, k1, k2, k3]) if len <= 0xFFFF => {
                let [a, b] = (len as u16).to_be_bytes();
                put(out, [b0, 0x80 | 126, a, b, k0, k1, k2, k3])
            }
            Some([k0, k1, k2, k3]) => {
                let [a, b, c, d, e, f, g, h] = len.to_be_bytes();
                put(
                    out,
                    [b0, 0x80 | 127, a, b, c, d, e, f, g, h, k0, k1, k2, k3],
                )
            }
        }
    }

    /// Decodes a header from the start of `buf`, checking every rule that the header alone can
    /// prove broken, in the order the bytes arrive (so a bad first byte is reported even when the
    /// rest of the header has not arrived):
    ///
    /// - reserved opcodes 3–7 and 0xB–0xF (RFC 6455 §5.2): [`Error::ReservedOpcode`];
    /// - RSV bits set that the caller did not declare owned by a negotiated extension
    ///   ([`Config::extension_rsv`], RFC 6455 §5.2): [`Error::ReservedBits`];
    /// - a client frame without a mask or a server frame with one, as seen from
    ///   [`Config::role`] (RFC 6455 §5.1): [`Error::UnmaskedFrame`], [`Error::MaskedFrame`];
    /// - a control frame with FIN clear or a length over 125 (RFC 6455 §5.5):
    ///   [`Error::FragmentedControl`], [`Error::ControlTooLong`];
    /// - a 64-bit length with its top bit set (RFC 6455 §5.2): [`Error::LengthOverflow`];
    /// - a length not in its minimal encoding (RFC 6455 §5.2): [`Error::NonMinimalLength`];
    /// - a data frame longer than [`Config::max_frame_size`], before any payload is read:
    ///   [`Error::FrameTooLarge`] (control frames have their own bound, 125).
    ///
    /// Returns [`Status::Partial`] when `buf` holds an incomplete (but so far valid) header:
    /// nothing is consumed; call again with more bytes. Otherwise the header and its length in bytes.
    ///
    /// ```
    /// use zerows_frame::{Config, Header, OpCode, Role, Status};
    ///
    /// let config = Config::new(Role::Server); // we are the server: frames come from a client
    /// // RFC 6455 §5.7: a masked "Hello" from a client
    /// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let Status::Complete((h, n)) = Header::decode(&frame, &config)? else { panic!() };
    /// assert_eq!((h.opcode, h.fin, h.payload_len, h.mask, n), (OpCode::Text, true, 5, Some([0x37, 0xfa, 0x21, 0x3d]), 6));
    /// assert!(Header::decode(&frame[..3], &config)?.is_partial());
    /// # Ok::<(), zerows_frame::Error>(())
    /// ```
    pub fn decode(buf: &[u8], config: &Config) -> Result<Status<(Header, usize)>, Error> {
        let [b0, b1, ..] = *buf else {
            return match buf.first() {
                Some(&b0) => check_first_byte(b0, config).map(|_| Status::Partial),
                None => Ok(Status::Partial),
            };
        };
        let (fin, rsv, opcode) = check_first_byte(b0, config)?;
        let masked = b1 & 0x80 != 0;
        match (config.role, masked) {
            (Role::Server, false) => return Err(Error::UnmaskedFrame),
            (Role::Client, true) => return Err(Error::MaskedFrame),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(Error::FragmentedControl);
            }
            if len7 > 125 {
                return Err(Error::ControlTooLong);
            }
        }
        let (payload_len, at) = match len7 {
            126 => {
                let Some(ext) = buf.get(2..4) else {
                    return Ok(Status::Partial);
                };
                let len = u16::from_be_bytes([ext[0], ext[1]]);
                if len < 126 {
                    return Err(Error::NonMinimalLength);
                }
                (u64::from(len), 4)
            }
            127 => {
                let Some(ext) = buf.get(2..10) else {
                    return Ok(Status::Partial);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(ext);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(Error::LengthOverflow);
                }
                if len <= 0xFFFF {
                    return Err(Error::NonMinimalLength);
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        // Data frames only: a control frame is bounded by 125 bytes above (RFC 6455 §5.5), so a
        // small message limit (which lowers the frame limit) never turns away a valid ping or close.
        if payload_len > config.max_frame_size && !opcode.is_control() {
            return Err(Error::FrameTooLarge);
        }
        let mask = if masked {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(Status::Partial);
            };
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let len = at + if masked { 4 } else { 0 };
        Ok(Status::Complete((
            Header {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }
}

/// The checks that the first byte alone decides.
fn check_first_byte(b0: u8, config: &Config) -> Result<(bool, Rsv, OpCode), Error> {
    let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(Error::ReservedOpcode)?;
    let rsv = Rsv((b0 >> 4) & 0b111);
    if rsv.0 & !config.extension_rsv.0 != 0 {
        return Err(Error::ReservedBits);
    }
    Ok((b0 & 0x80 != 0, rsv, opcode))
}

/// Writes a whole frame, header and payload, into `out` and returns its length. With a mask (client
/// frames, RFC 6455 §5.3) the payload is masked as it is copied. FIN is set when `fin` is true; no
/// RSV bits are set.
///
/// ```
/// use zerows_frame::{encode_frame, OpCode};
///
/// let mut out = [0u8; 32];
/// // RFC 6455 §5.7: unmasked "Hello" and masked "Hello"
/// let n = encode_frame(&mut out, OpCode::Text, true, None, b"Hello").unwrap();
/// assert_eq!(&out[..n], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
/// let n = encode_frame(&mut out, OpCode::Text, true, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello").unwrap();
/// assert_eq!(&out[..n], [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn encode_frame(
    out: &mut [u8],
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<usize, InsufficientSize> {
    let header = Header {
        fin,
        rsv: Rsv::NONE,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let total = header.encoded_len() + payload.len();
    if out.len() < total {
        return Err(InsufficientSize { required: total });
    }
    let h = header.encode(out)?;
    let body = &mut out[h..total];
    body.copy_from_slice(payload);
    if let Some(key) = mask {
        crate::mask::apply_mask(body, key, 0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn server() -> Config {
        Config::new(Role::Server)
    }
    fn client() -> Config {
        Config::new(Role::Client)
    }

    fn complete(buf: &[u8], c: &Config) -> (Header, usize) {
        match Header::decode(buf, c) {
            Ok(Status::Complete(x)) => x,
            other => panic!("{other:?}"),
        }
    }

    /// The frame limit is for data frames; control frames are bounded at 125 by RFC 6455 §5.5
    /// (a small message limit lowers the frame limit: it must not refuse a valid ping or close).
    /// Found by the `util_deflate` fuzz target: `max_message_size(0)` refused a close frame.
    #[test]
    fn frame_limit_applies_to_data_frames_only() {
        let c = client().max_message_size(0);
        assert_eq!(c.max_frame_size, 0);
        for op in [0x88, 0x89, 0x8a] {
            let (h, n) = complete(&[op, 125], &c);
            assert_eq!((h.payload_len, n), (125, 2));
        }
        assert_eq!(Header::decode(&[0x82, 1], &c), Err(Error::FrameTooLarge));
        assert_eq!(Header::decode(&[0x80, 1], &c), Err(Error::FrameTooLarge));
        let c = client().max_frame_size(10);
        assert!(Header::decode(&[0x89, 11], &c).unwrap().is_complete());
        assert_eq!(Header::decode(&[0x81, 11], &c), Err(Error::FrameTooLarge));
    }

    /// RFC 6455 §5.7, every example byte for byte, both directions.
    #[test]
    fn rfc_6455_5_7_examples() {
        // A single-frame unmasked text message "Hello" (server to client)
        let f = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(complete(&f, &client()), (Header::new(OpCode::Text, 5), 2));
        // A single-frame masked text message "Hello" (client to server)
        let f = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, n) = complete(&f, &server());
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!((h.payload_len, n), (5, 6));
        // A fragmented unmasked text message: "Hel" then "lo"
        let (h, _) = complete(&[0x01, 0x03, 0x48, 0x65, 0x6c], &client());
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = complete(&[0x80, 0x02, 0x6c, 0x6f], &client());
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
        // Unmasked Ping with "Hello", and the masked Pong answering it
        let (h, _) = complete(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], &client());
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, _) = complete(
            &[
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            &server(),
        );
        assert_eq!(h.opcode, OpCode::Pong);
        // 256 bytes binary in a single unmasked frame
        let (h, n) = complete(&[0x82, 0x7E, 0x01, 0x00], &client());
        assert_eq!((h.payload_len, n), (256, 4));
        // 64 KiB binary in a single unmasked frame
        let (h, n) = complete(
            &[0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
            &client(),
        );
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn rfc_examples_encode_byte_for_byte() {
        let mut out = [0u8; 14];
        let cases: [(Header, &[u8]); 4] = [
            (Header::new(OpCode::Text, 5), &[0x81, 0x05]),
            (
                Header {
                    fin: false,
                    ..Header::new(OpCode::Text, 3)
                },
                &[0x01, 0x03],
            ),
            (Header::new(OpCode::Binary, 256), &[0x82, 0x7E, 0x01, 0x00]),
            (
                Header::new(OpCode::Binary, 65536),
                &[0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
            ),
        ];
        for (h, bytes) in cases {
            let n = h.encode(&mut out).unwrap();
            assert_eq!(&out[..n], bytes);
        }
    }

    #[test]
    fn partial_consumes_nothing_at_every_prefix() {
        let mut out = [0u8; 14];
        let h = Header {
            fin: true,
            rsv: Rsv::NONE,
            opcode: OpCode::Binary,
            mask: Some([1, 2, 3, 4]),
            payload_len: 70000,
        };
        let n = h.encode(&mut out).unwrap();
        assert_eq!(n, 14);
        for cut in 0..n {
            assert_eq!(
                Header::decode(&out[..cut], &server()),
                Ok(Status::Partial),
                "cut {cut}"
            );
        }
        assert_eq!(complete(&out[..n], &server()), (h, 14));
    }

    #[test]
    fn rejects_masking_violations() {
        // RFC 6455 §5.1: unmasked client frame at a server; masked server frame at a client
        assert_eq!(
            Header::decode(&[0x81, 0x05], &server()),
            Err(Error::UnmaskedFrame)
        );
        assert_eq!(
            Header::decode(&[0x81, 0x85], &client()),
            Err(Error::MaskedFrame)
        );
    }

    #[test]
    fn rejects_reserved_bits_unless_owned() {
        for rsv in 1..8u8 {
            let b0 = 0x81 | (rsv << 4);
            assert_eq!(Header::decode(&[b0], &client()), Err(Error::ReservedBits));
            assert_eq!(
                Header::decode(&[b0, 0x00], &client()),
                Err(Error::ReservedBits)
            );
            let owned = client().extension_rsv(Rsv::from_bits(rsv).unwrap());
            let (h, _) = complete(&[b0, 0x00], &owned);
            assert_eq!(h.rsv.bits(), rsv);
        }
        // owning RSV1 does not make RSV2 legal
        let c = client().extension_rsv(Rsv::RSV1);
        assert_eq!(Header::decode(&[0xA1, 0x00], &c), Err(Error::ReservedBits));
    }

    #[test]
    fn rejects_reserved_opcodes_from_the_first_byte() {
        for op in (3..=7).chain(0xB..=0xF) {
            assert_eq!(
                Header::decode(&[0x80 | op], &client()),
                Err(Error::ReservedOpcode)
            );
            assert_eq!(
                Header::decode(&[0x80 | op, 0], &client()),
                Err(Error::ReservedOpcode)
            );
        }
    }

    #[test]
    fn rejects_bad_control_frames() {
        // fragmented ping (FIN clear)
        assert_eq!(
            Header::decode(&[0x09, 0x00], &client()),
            Err(Error::FragmentedControl)
        );
        // ping with a 126-byte payload (7-bit field 126, then 16-bit length)
        assert_eq!(
            Header::decode(&[0x89, 0x7E], &client()),
            Err(Error::ControlTooLong)
        );
        assert_eq!(
            Header::decode(&[0x88, 0x7F], &client()),
            Err(Error::ControlTooLong)
        );
        // 125 is fine
        let (h, _) = complete(&[0x89, 0x7D], &client());
        assert_eq!(h.payload_len, 125);
    }

    #[test]
    fn rejects_length_encoding_violations() {
        // non-minimal: 16-bit form for 125, 64-bit form for 0xFFFF
        assert_eq!(
            Header::decode(&[0x82, 0x7E, 0x00, 0x7D], &client()),
            Err(Error::NonMinimalLength)
        );
        assert_eq!(
            Header::decode(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], &client()),
            Err(Error::NonMinimalLength)
        );
        // minimal boundaries are accepted
        assert_eq!(
            complete(&[0x82, 0x7E, 0x00, 0x7E], &client()).0.payload_len,
            126
        );
        let big = client().max_frame_size(u64::MAX);
        assert_eq!(
            complete(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0], &big)
                .0
                .payload_len,
            0x10000
        );
        // top bit set
        assert_eq!(
            Header::decode(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], &big),
            Err(Error::LengthOverflow)
        );
        assert_eq!(
            complete(
                &[0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                &big
            )
            .0
            .payload_len,
            i64::MAX as u64
        );
    }

    #[test]
    fn max_frame_size_from_the_header_alone() {
        let c = client().max_frame_size(1000);
        assert_eq!(complete(&[0x82, 0x7E, 0x03, 0xE8], &c).0.payload_len, 1000);
        // 1001 bytes declared: rejected with only the 4 header bytes present, for a masked frame
        // too, before the masking key arrives
        assert_eq!(
            Header::decode(&[0x82, 0x7E, 0x03, 0xE9], &c),
            Err(Error::FrameTooLarge)
        );
        let s = server().max_frame_size(1000);
        assert_eq!(
            Header::decode(&[0x82, 0xFE, 0x03, 0xE9], &s),
            Err(Error::FrameTooLarge)
        );
        assert_eq!(Error::FrameTooLarge.close_code().0, 1009);
    }

    #[test]
    fn encode_reports_needed_size() {
        let h = Header {
            mask: Some([0; 4]),
            ..Header::new(OpCode::Binary, 1 << 20)
        };
        assert_eq!(h.encoded_len(), 14);
        let mut small = [0u8; 13];
        assert_eq!(h.encode(&mut small), Err(InsufficientSize { required: 14 }));
        let mut out = [0u8; 8];
        assert_eq!(
            encode_frame(&mut out, OpCode::Text, true, None, b"Hello!!"),
            Err(InsufficientSize { required: 9 })
        );
    }

    fn any_header(role: Role) -> impl Strategy<Value = Header> {
        let ops = prop_oneof![
            Just(OpCode::Continuation),
            Just(OpCode::Text),
            Just(OpCode::Binary),
            Just(OpCode::Close),
            Just(OpCode::Ping),
            Just(OpCode::Pong),
        ];
        let len = prop_oneof![0u64..=125, 126u64..=0xFFFF, 0x1_0000u64..=(i64::MAX as u64)];
        (any::<bool>(), 0u8..8, ops, any::<[u8; 4]>(), len).prop_map(
            move |(fin, rsv, opcode, key, len)| {
                let control = opcode.is_control();
                Header {
                    fin: fin || control,
                    rsv: Rsv(rsv),
                    opcode,
                    mask: (role == Role::Client).then_some(key),
                    payload_len: if control { len % 126 } else { len },
                }
            },
        )
    }

    proptest! {
        /// encode → decode is the identity for every legal header, in both directions, and every
        /// proper prefix of the encoding is Partial.
        #[test]
        fn round_trip(h in prop_oneof![any_header(Role::Client), any_header(Role::Server)]) {
            let receiver = if h.mask.is_some() { Role::Server } else { Role::Client };
            let c = Config::new(receiver).extension_rsv(Rsv::ALL).max_frame_size(u64::MAX);
            let mut out = [0u8; 14];
            let n = h.encode(&mut out).unwrap();
            prop_assert_eq!(n, h.encoded_len());
            prop_assert_eq!(Header::decode(&out[..n], &c), Ok(Status::Complete((h, n))));
            for cut in 0..n {
                prop_assert_eq!(Header::decode(&out[..cut], &c), Ok(Status::Partial));
            }
        }

        /// Arbitrary bytes: never a panic; a Complete header never claims more than the input.
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..16), server_role: bool) {
            let c = Config::new(if server_role { Role::Server } else { Role::Client });
            if let Ok(Status::Complete((h, n))) = Header::decode(&bytes, &c) {
                prop_assert!(n <= bytes.len());
                prop_assert_eq!(n, h.encoded_len());
            }
        }
    }
}
