//! A naive RFC 6455 §5 frame decoder, the oracle of the frame and connection targets.
//!
//! Written to be obviously right, not fast: the whole stream is decoded at once, byte by byte,
//! with no code from `zerows-frame` (only its `Error` enum, so that a target can compare which
//! error occurred, and `head`, which copies a zerows `Header` into this module's terms). Each rule names its RFC section. Where RFC 6455 leaves the choice open (which
//! of two violations in one header is reported, how many bytes are needed before a rule is
//! judged), the rule mirrors the choice `zerows-frame` documents, and says so ("zerows:").
//!
//! Included with `#[path]` by `frame_decoder_split`, `frame_header_decode` and (through
//! `shared/mod.rs`) the `util_*` targets; it needs nothing beyond `std` and `zerows_frame::Error`,
//! so the frame targets still build with `--no-default-features`.
#![allow(dead_code)]

use zerows_frame::Error;

/// What the receiver accepts: the role and config knobs of the targets, as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// We are the server: frames come from a client and must be masked (RFC 6455 §5.1).
    pub server: bool,
    /// The RSV bits a negotiated extension owns, RSV1 = 0b100 (RFC 6455 §5.2).
    pub owned_rsv: u8,
    /// The largest data frame payload.
    pub max_frame: u64,
    /// The largest message (sum of its data frames' payloads).
    pub max_message: u64,
    /// The most frames in one message.
    pub max_fragments: u32,
    /// Check text messages to be UTF-8 (RFC 6455 §8.1).
    pub utf8: bool,
}

impl Rules {
    /// The documented defaults: 16 MiB frames, 64 MiB messages, 131,072 fragments, UTF-8 on.
    pub const fn new(server: bool) -> Rules {
        Rules {
            server,
            owned_rsv: 0,
            max_frame: 16 << 20,
            max_message: 64 << 20,
            max_fragments: 1 << 17,
            utf8: true,
        }
    }
}

/// A frame header as it was on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub fin: bool,
    /// RSV1 = 0b100.
    pub rsv: u8,
    /// The 4-bit opcode.
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
}

/// One step of a decoded stream: the same steps `zerows_frame::Decoder` reports, with a frame's
/// payload in one piece (the whole stream is at hand).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    /// The header of a data frame.
    Header(Head),
    /// The payload bytes of the current data frame that have arrived, unmasked (never empty).
    Payload(Vec<u8>),
    /// The data frame ended; `true` when it ended its message.
    FrameEnd(bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: `None` without a body, else the code and the reason.
    Close(Option<(u16, String)>),
}

/// An error, and how many bytes of the input prove it (the error is not there in any shorter
/// prefix of the input, and is there in this one and every longer one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proved {
    pub error: Error,
    pub at: usize,
}

/// A header decode: more bytes needed, or the header and its length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadStatus {
    Partial,
    Complete(Head, usize),
}

fn fail(error: Error, at: usize) -> Result<HeadStatus, Proved> {
    Err(Proved { error, at })
}

fn is_control(opcode: u8) -> bool {
    opcode >= 8
}

/// Decodes a frame header from the start of `buf`, one byte at a time, checking each rule as
/// soon as the byte it depends on is there.
pub fn decode_header(buf: &[u8], r: &Rules) -> Result<HeadStatus, Proved> {
    // Byte 0: FIN, RSV1-3, opcode (RFC 6455 §5.2).
    let Some(&b0) = buf.first() else {
        return Ok(HeadStatus::Partial);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0b111;
    let opcode = b0 & 0x0f;
    // §5.2: 0x3-0x7 and 0xB-0xF are reserved. zerows: reported before the RSV bits (same byte).
    if !matches!(opcode, 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xA) {
        return fail(Error::ReservedOpcode, 1);
    }
    // §5.2: an RSV bit no negotiated extension owns fails the connection.
    if rsv & !r.owned_rsv != 0 {
        return fail(Error::ReservedBits, 1);
    }

    // Byte 1: MASK, 7-bit length.
    let Some(&b1) = buf.get(1) else {
        return Ok(HeadStatus::Partial);
    };
    let masked = b1 & 0x80 != 0;
    // §5.1: a client masks every frame, a server none.
    if r.server && !masked {
        return fail(Error::UnmaskedFrame, 2);
    }
    if !r.server && masked {
        return fail(Error::MaskedFrame, 2);
    }
    let len7 = b1 & 0x7f;
    // §5.5: control frames are not fragmented and carry at most 125 bytes (so 126 and 127,
    // the extended-length markers, are already wrong). zerows: FIN is checked first.
    if is_control(opcode) && !fin {
        return fail(Error::FragmentedControl, 2);
    }
    if is_control(opcode) && len7 > 125 {
        return fail(Error::ControlTooLong, 2);
    }

    // The extended length, big-endian (§5.2). zerows: judged once all of its bytes are in.
    let mut at = 2;
    let len = match len7 {
        126 => {
            let Some(ext) = buf.get(2..4) else {
                return Ok(HeadStatus::Partial);
            };
            at = 4;
            let len = u64::from(ext[0]) * 256 + u64::from(ext[1]);
            // §5.2: "the minimal number of bytes MUST be used to encode the length"
            if len <= 125 {
                return fail(Error::NonMinimalLength, 4);
            }
            len
        }
        127 => {
            let Some(ext) = buf.get(2..10) else {
                return Ok(HeadStatus::Partial);
            };
            at = 10;
            let mut len: u64 = 0;
            for &b in ext {
                len = len * 256 + u64::from(b);
            }
            // §5.2: "the most significant bit MUST be 0"
            if ext[0] & 0x80 != 0 {
                return fail(Error::LengthOverflow, 10);
            }
            if len <= 0xffff {
                return fail(Error::NonMinimalLength, 10);
            }
            len
        }
        n => u64::from(n),
    };
    // The frame limit is for data frames (control frames are bounded by §5.5). zerows: judged
    // from the length, before the masking key arrives.
    if !is_control(opcode) && len > r.max_frame {
        return fail(Error::FrameTooLarge, at);
    }

    // The masking key (§5.3).
    let mask = if masked {
        let Some(key) = buf.get(at..at + 4) else {
            return Ok(HeadStatus::Partial);
        };
        at += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(HeadStatus::Complete(
        Head {
            fin,
            rsv,
            opcode,
            mask,
            len,
        },
        at,
    ))
}

/// `bytes` unmasked with `key` (§5.3: octet i is XORed with key octet i mod 4), from payload
/// offset 0.
pub fn unmask(bytes: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    match key {
        None => bytes.to_vec(),
        Some(k) => bytes
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ k[i % 4])
            .collect(),
    }
}

/// Whether a close code may be received (RFC 6455 §7.4.1, §7.4.2 and the IANA registry): 1000-1003
/// and 1007-1014 are defined for the wire, 3000-4999 are for libraries and applications; 1004 is
/// reserved, 1005, 1006 and 1015 are never sent, the rest is unassigned.
pub fn close_code_valid(code: u16) -> bool {
    (1000..=1003).contains(&code) || (1007..=1014).contains(&code) || (3000..=4999).contains(&code)
}

/// A close frame body (§5.5.1): empty, or a 2-byte code and a UTF-8 reason.
pub fn parse_close(body: &[u8]) -> Result<Option<(u16, String)>, Error> {
    if body.is_empty() {
        return Ok(None);
    }
    if body.len() == 1 {
        return Err(Error::InvalidClosePayload);
    }
    let code = u16::from(body[0]) * 256 + u16::from(body[1]);
    if !close_code_valid(code) {
        return Err(Error::InvalidCloseCode);
    }
    match core::str::from_utf8(&body[2..]) {
        Ok(reason) => Ok(Some((code, reason.to_owned()))),
        Err(_) => Err(Error::InvalidUtf8),
    }
}

/// The length of the shortest prefix of `bytes` that is not the start of any valid UTF-8 text,
/// if there is one: the byte where a fail-fast check (§8.1) must stop.
pub fn utf8_proof(bytes: &[u8]) -> Option<usize> {
    let bad = |b: &[u8]| matches!(core::str::from_utf8(b), Err(e) if e.error_len().is_some());
    if !bad(bytes) {
        return None;
    }
    // Every prefix of the valid part starts valid text; the proof is within the next 4 bytes.
    let valid = core::str::from_utf8(bytes).unwrap_err().valid_up_to();
    (valid + 1..=bytes.len()).find(|&k| bad(&bytes[valid..k]))
}

/// The message in progress.
struct Message {
    /// 1 text, 2 binary.
    opcode: u8,
    /// Checked as UTF-8 here: text, checking on, no extension bit (an extension checks its own
    /// output, RFC 7692 §8.1.2).
    check: bool,
    /// The unchecked tail of the text: the start of a code point not complete yet (the text before
    /// it is valid; UTF-8 can be checked from any code point boundary on).
    pending: Vec<u8>,
    len: u64,
    frames: u32,
}

/// A whole-stream decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub events: Vec<Ev>,
    /// The first error, with the stream prefix that proves it.
    pub error: Option<Proved>,
    /// Without an error: the bytes decoded (the rest is an incomplete header or control frame).
    pub consumed: usize,
    /// Where the frame that was being decoded when the decode stopped starts.
    pub frame_start: usize,
}

/// Decodes `wire` whole: every event up to the first error, or up to where the stream is cut
/// short.
pub fn decode(wire: &[u8], r: &Rules) -> Decoded {
    let mut events = Vec::new();
    let mut pos = 0;
    let mut message: Option<Message> = None;
    let mut closed = false;
    let stop = |events, error: Option<Proved>, consumed, frame_start| Decoded {
        events,
        error,
        consumed,
        frame_start,
    };
    loop {
        let start = pos;
        let err = |events, error, at: usize| stop(events, Some(Proved { error, at }), start, start);
        // §5.5.1: the close frame is the last frame; any byte after it is a protocol error.
        if closed {
            return if pos < wire.len() {
                err(events, Error::FrameAfterClose, pos + 1)
            } else {
                stop(events, None, pos, pos)
            };
        }
        let (h, n) = match decode_header(&wire[pos..], r) {
            Err(p) => return err(events, p.error, pos + p.at),
            Ok(HeadStatus::Partial) => return stop(events, None, pos, pos),
            Ok(HeadStatus::Complete(h, n)) => (h, n),
        };
        let body_start = pos + n;
        // The payload bytes of this frame that have arrived.
        let have = usize::try_from(h.len)
            .map_or(wire.len(), |l| body_start.saturating_add(l).min(wire.len()));
        let complete = (have - body_start) as u64 == h.len;

        if is_control(h.opcode) {
            // RFC 7692 §6.1: extension bits are per-message bits, never on a control frame.
            // zerows: judged once the header is complete.
            if h.rsv != 0 {
                return err(events, Error::ReservedBits, body_start);
            }
            // zerows: a control frame (at most 125 bytes) is reported once it is whole.
            if !complete {
                return stop(events, None, pos, pos);
            }
            let body = unmask(&wire[body_start..have], h.mask);
            events.push(match h.opcode {
                0x9 => Ev::Ping(body),
                0xA => Ev::Pong(body),
                _ => match parse_close(&body) {
                    Ok(c) => {
                        closed = true;
                        Ev::Close(c)
                    }
                    Err(e) => return err(events, e, have),
                },
            });
            pos = have;
            continue;
        }

        // A data frame: the message rules of §5.4.
        match (h.opcode, &message) {
            (0x0, None) => return err(events, Error::UnexpectedContinuation, body_start),
            // RFC 7692 §6.1: the extension bit goes on the first frame of a message only.
            (0x0, Some(_)) if h.rsv != 0 => return err(events, Error::ReservedBits, body_start),
            (0x0, Some(_)) => {}
            (_, Some(_)) => return err(events, Error::ExpectedContinuation, body_start),
            (op, None) => {
                message = Some(Message {
                    opcode: op,
                    check: op == 0x1 && r.utf8 && h.rsv == 0,
                    pending: Vec::new(),
                    len: 0,
                    frames: 0,
                });
            }
        }
        let m = message.as_mut().unwrap();
        // The limits, from the header, before any payload. zerows: fragments first.
        m.frames += 1;
        if m.frames > r.max_fragments {
            return err(events, Error::TooManyFragments, body_start);
        }
        m.len = m.len.saturating_add(h.len);
        if m.len > r.max_message {
            return err(events, Error::MessageTooLarge, body_start);
        }
        events.push(Ev::Header(h));

        let payload = unmask(&wire[body_start..have], h.mask);
        if m.check {
            // §8.1: fail as soon as the text so far cannot be the start of valid UTF-8.
            let mut text = std::mem::take(&mut m.pending);
            let before = text.len();
            text.extend_from_slice(&payload);
            if let Some(k) = utf8_proof(&text) {
                return err(events, Error::InvalidUtf8, body_start + (k - before));
            }
            let valid = match core::str::from_utf8(&text) {
                Ok(_) => text.len(),
                Err(e) => e.valid_up_to(),
            };
            m.pending = text[valid..].to_vec();
        }
        if !payload.is_empty() {
            events.push(Ev::Payload(payload));
        }
        if !complete {
            return stop(events, None, have, pos);
        }
        if h.fin {
            // §5.6, §8.1: a text message must end on a code point boundary.
            if m.check && !m.pending.is_empty() {
                return err(events, Error::InvalidUtf8, have);
            }
            message = None;
        }
        events.push(Ev::FrameEnd(h.fin));
        pos = have;
    }
}

/// A decoded stream's data messages, control frames and close, the way an application sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// The events of a decode assembled into messages (data frames' payloads concatenated, a message
/// reported at its last frame's end). A "text" message that is not UTF-8 (checking off) is
/// reported as binary, as `zerows-util` hands it out.
pub fn messages(events: &[Ev]) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut current: Option<(u8, Vec<u8>)> = None;
    for ev in events {
        match ev {
            Ev::Header(h) if h.opcode != 0 => current = Some((h.opcode, Vec::new())),
            Ev::Header(_) => {}
            Ev::Payload(p) => current.as_mut().unwrap().1.extend_from_slice(p),
            Ev::FrameEnd(true) => {
                let (op, data) = current.take().unwrap();
                out.push(if op == 1 && core::str::from_utf8(&data).is_ok() {
                    Msg::Text(data)
                } else {
                    Msg::Binary(data)
                });
            }
            Ev::FrameEnd(false) => {}
            Ev::Ping(p) => out.push(Msg::Ping(p.clone())),
            Ev::Pong(p) => out.push(Msg::Pong(p.clone())),
            Ev::Close(c) => out.push(Msg::Close(c.clone())),
        }
    }
    out
}

/// A `zerows_frame::Header` in the oracle's terms, to compare the two (a field-by-field copy; the
/// opcode's number spelled out here rather than taken from `OpCode::as_u8`).
pub fn head(h: &zerows_frame::Header) -> Head {
    use zerows_frame::OpCode;
    Head {
        fin: h.fin,
        rsv: h.rsv.bits(),
        opcode: match h.opcode {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        },
        mask: h.mask,
        len: h.payload_len,
    }
}
