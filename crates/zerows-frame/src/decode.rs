//! The streaming frame decoder: a sans-IO state machine from bytes to events.
//!
//! Feed [`Decoder::next`] whatever bytes have arrived. Each call returns one [`Event`] and the
//! number of bytes it consumed, or [`Status::Partial`] when the bytes at hand are not enough for the
//! next event (nothing is consumed then, and nothing is modified: keep the bytes, append what
//! arrives next, and call again). Payload is handed out as it arrives, unmasked in place in the
//! caller's buffer, so a frame of any size needs no buffer of that size.
//!
//! Message-level rules are enforced here (RFC 6455 §5.4): a continuation frame needs a message in
//! progress, a new text or binary frame needs none, control frames may come between fragments.
//! Text is checked to be UTF-8 as it arrives (RFC 6455 §8.1), and the size limits of [`Config`] are
//! checked from each header before its payload is read.

use crate::Status;
use crate::close::CloseFrame;
use crate::config::Config;
use crate::error::Error;
use crate::header::{Header, Rsv};
use crate::mask::apply_mask;
use crate::opcode::OpCode;
use crate::utf8::Utf8Validator;

/// One step of a decoded stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'b> {
    /// The header of a data frame. Its opcode is `Text` or `Binary` when it starts a message,
    /// `Continuation` otherwise. Its payload follows as [`Payload`](Event::Payload) events, then
    /// [`FrameEnd`](Event::FrameEnd).
    Header(Header),
    /// The next payload bytes of the current data frame, unmasked. This slice is always a prefix of
    /// the buffer passed to [`Decoder::next`] (unmasked there, in place); its length is the number
    /// of bytes consumed. Text has been checked up to here.
    Payload(&'b [u8]),
    /// The current data frame ended. `fin` is true when it ended its message too (and, for a text
    /// message, the whole message is valid UTF-8).
    FrameEnd {
        /// The frame was the last of its message.
        fin: bool,
    },
    /// A whole ping frame (its payload, at most 125 bytes, unmasked). Control frames are only
    /// reported once they have arrived whole.
    Ping(&'b [u8]),
    /// A whole pong frame.
    Pong(&'b [u8]),
    /// A whole close frame with its validated body (`None`: no status code). No frame may follow
    /// (RFC 6455 §5.5.1); any byte after it is [`Error::FrameAfterClose`].
    Close(Option<CloseFrame<'b>>),
}

/// The frame whose payload is being read.
#[derive(Clone, Copy, Debug)]
struct Frame {
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
    pos: u64,
}

/// The streaming frame decoder: a sans-IO state machine from bytes to events.
///
/// Feed [`next`](Decoder::next) whatever bytes have arrived. Each call returns one [`Event`] and the
/// number of bytes it consumed, or [`Status::Partial`] when the bytes at hand are not enough for the
/// next event (nothing is consumed then, and nothing is modified: keep the bytes, append what
/// arrives next, and call again). Payload is handed out as it arrives, unmasked in place in the
/// caller's buffer, so a frame of any size needs no buffer of that size.
///
/// Message-level rules are enforced here (RFC 6455 §5.4): a continuation frame needs a message in
/// progress, a new text or binary frame needs none, control frames may come between fragments.
/// Text is checked to be UTF-8 as it arrives (RFC 6455 §8.1), and the size limits of [`Config`] are
/// checked from each header before its payload is read.
///
///
/// ```
/// use zerows_frame::{Config, Decoder, Event, Role, Status};
///
/// let mut d = Decoder::new(Config::new(Role::Client)); // we are a client: frames are unmasked
/// // RFC 6455 §5.7: a fragmented text message "Hel" + "lo", with a ping in between
/// let mut wire = *b"\x01\x03Hel\x89\x00\x80\x02lo";
/// let mut buf = &mut wire[..];
/// let mut text = Vec::new();
/// let mut pings = 0;
/// loop {
///     let Status::Complete((event, used)) = d.next(buf)? else { break };
///     match event {
///         Event::Payload(p) => text.extend_from_slice(p),
///         Event::Ping(_) => pings += 1,
///         _ => {}
///     }
///     buf = &mut buf[used..];
/// }
/// assert_eq!((&text[..], pings), (&b"Hello"[..], 1));
/// # Ok::<(), zerows_frame::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    config: Config,
    /// The data frame being read, if any.
    frame: Option<Frame>,
    /// The opcode of the message in progress (`Text` or `Binary`), if any.
    message: Option<OpCode>,
    /// Payload bytes of the message in progress, so far (including the current frame).
    message_len: u64,
    /// Frames of the message in progress, so far.
    fragments: u32,
    /// Whether the message in progress is checked as UTF-8 here.
    check_utf8: bool,
    utf8: Utf8Validator,
    closed: bool,
    error: Option<Error>,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub const fn new(config: Config) -> Decoder {
        Decoder {
            config,
            frame: None,
            message: None,
            message_len: 0,
            fragments: 0,
            check_utf8: false,
            utf8: Utf8Validator::new(),
            closed: false,
            error: None,
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the configuration, e.g. to declare the RSV bits of an extension negotiated after the
    /// decoder was made. Takes effect from the next header.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// The opcode (`Text` or `Binary`) of the message in progress, if one is.
    pub const fn message(&self) -> Option<OpCode> {
        self.message
    }

    /// Whether the peer's close frame has been decoded.
    pub const fn is_closed(&self) -> bool {
        self.closed
    }

    /// The payload bytes of the current data frame that have not been decoded yet, if a data
    /// frame's payload is being read. An I/O layer can use it to read a large payload straight into
    /// its final buffer: bytes read there and passed to [`next`](Self::next) come back as one
    /// [`Event::Payload`], unmasked in place.
    pub const fn payload_remaining(&self) -> Option<u64> {
        match &self.frame {
            Some(f) => Some(f.len - f.pos),
            None => None,
        }
    }

    /// The error that stopped the decoder, if one did.
    pub const fn error(&self) -> Option<Error> {
        self.error
    }

    /// Decodes the next event from the start of `buf`; see [`Decoder`].
    ///
    /// Returns `Ok(Status::Complete((event, consumed)))`, with `consumed <= buf.len()`, or
    /// `Ok(Status::Partial)` when more bytes are needed (nothing consumed or modified), or the
    /// error that fails the connection. Errors are sticky: every later call returns the same one.
    pub fn next<'b>(&mut self, buf: &'b mut [u8]) -> Result<Status<(Event<'b>, usize)>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let r = self.step(buf);
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }

    fn step<'b>(&mut self, buf: &'b mut [u8]) -> Result<Status<(Event<'b>, usize)>, Error> {
        if let Some(frame) = &mut self.frame {
            let remaining = frame.len - frame.pos;
            if remaining == 0 {
                let fin = frame.fin;
                self.frame = None;
                if fin {
                    if self.check_utf8 {
                        self.utf8.finish()?;
                    }
                    self.message = None;
                    self.message_len = 0;
                    self.fragments = 0;
                    self.check_utf8 = false;
                }
                return Ok(Status::Complete((Event::FrameEnd { fin }, 0)));
            }
            if buf.is_empty() {
                return Ok(Status::Partial);
            }
            let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
            let chunk = &mut buf[..n];
            if let Some(key) = frame.mask {
                // Only the low two bits of the position matter.
                apply_mask(chunk, key, (frame.pos & 3) as usize);
            }
            if self.check_utf8 {
                self.utf8.feed(chunk)?;
            }
            frame.pos += n as u64;
            return Ok(Status::Complete((Event::Payload(chunk), n)));
        }

        if self.closed {
            return if buf.is_empty() {
                Ok(Status::Partial)
            } else {
                Err(Error::FrameAfterClose)
            };
        }

        let (header, header_len) = match Header::decode(buf, &self.config)? {
            Status::Partial => return Ok(Status::Partial),
            Status::Complete(x) => x,
        };

        if header.opcode.is_control() {
            // Extension bits are per-message bits: never on a control frame (RFC 7692 §6.1).
            if !header.rsv.is_empty() {
                return Err(Error::ReservedBits);
            }
            // At most 125 bytes (checked by Header::decode), so wait for the whole frame.
            #[allow(clippy::cast_possible_truncation)] // at most 125
            let total = header_len + header.payload_len as usize;
            if buf.len() < total {
                return Ok(Status::Partial);
            }
            let payload = &mut buf[header_len..total];
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            let payload: &'b [u8] = payload;
            let event = match header.opcode {
                OpCode::Ping => Event::Ping(payload),
                OpCode::Pong => Event::Pong(payload),
                _ => {
                    let body = CloseFrame::parse(payload)?;
                    self.closed = true;
                    Event::Close(body)
                }
            };
            return Ok(Status::Complete((event, total)));
        }

        // A data frame: message-level rules (RFC 6455 §5.4).
        match (header.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(Error::UnexpectedContinuation),
            (OpCode::Continuation, Some(_)) => {
                // Per-message extension bits belong on the first frame only (RFC 7692 §6.1).
                if !header.rsv.is_empty() {
                    return Err(Error::ReservedBits);
                }
            }
            (_, Some(_)) => return Err(Error::ExpectedContinuation),
            (op, None) => {
                self.message = Some(op);
                self.message_len = 0;
                self.fragments = 0;
                // A message an extension transforms is checked by the extension, after the
                // transform (RFC 7692 §8.1.2 for permessage-deflate).
                self.check_utf8 = op == OpCode::Text
                    && self.config.validate_utf8
                    && (header.rsv & self.config.extension_rsv) == Rsv::NONE;
                self.utf8.reset();
            }
        }
        self.fragments = self.fragments.saturating_add(1);
        if self.fragments > self.config.max_fragments {
            return Err(Error::TooManyFragments);
        }
        self.message_len = self.message_len.saturating_add(header.payload_len);
        if self.message_len > self.config.max_message_size {
            return Err(Error::MessageTooLarge);
        }
        self.frame = Some(Frame {
            fin: header.fin,
            mask: header.mask,
            len: header.payload_len,
            pos: 0,
        });
        Ok(Status::Complete((Event::Header(header), header_len)))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::Role;
    use crate::close::CloseCode;
    use crate::header::encode_frame;
    use proptest::prelude::*;

    /// An owned event, with payload chunks merged per frame, for comparing decodings.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Header(Header),
        Payload(Vec<u8>),
        FrameEnd(bool),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, std::string::String)>),
    }

    /// Feeds `wire` in chunks of the given sizes the way an I/O layer would: unconsumed bytes stay
    /// at the front of the buffer and new bytes are appended. Returns the merged events and the
    /// final error, if any. Also checks that Partial never consumed or changed a byte.
    fn run(config: Config, wire: &[u8], sizes: &[usize]) -> (Vec<Ev>, Option<Error>) {
        let mut d = Decoder::new(config);
        let mut pending: Vec<u8> = Vec::new();
        let mut events = Vec::new();
        let mut at = 0;
        let mut i = 0;
        loop {
            if at < wire.len() {
                let n = sizes
                    .get(i)
                    .copied()
                    .unwrap_or(usize::MAX)
                    .max(1)
                    .min(wire.len() - at);
                i += 1;
                pending.extend_from_slice(&wire[at..at + n]);
                at += n;
            }
            loop {
                let before = pending.clone();
                match d.next(&mut pending) {
                    Err(e) => {
                        assert_eq!(d.next(&mut pending), Err(e), "errors are sticky");
                        return (events, Some(e));
                    }
                    Ok(Status::Partial) => {
                        assert_eq!(before, pending, "Partial must not modify the input");
                        break;
                    }
                    Ok(Status::Complete((ev, used))) => {
                        assert!(used <= before.len());
                        let ev = match ev {
                            Event::Header(h) => Ev::Header(h),
                            Event::Payload(p) => {
                                assert_eq!(p.len(), used);
                                let p = p.to_vec();
                                if let Some(Ev::Payload(prev)) = events.last_mut() {
                                    prev.extend_from_slice(&p);
                                    pending.drain(..used);
                                    continue;
                                }
                                Ev::Payload(p)
                            }
                            Event::FrameEnd { fin } => Ev::FrameEnd(fin),
                            Event::Ping(p) => Ev::Ping(p.to_vec()),
                            Event::Pong(p) => Ev::Pong(p.to_vec()),
                            Event::Close(c) => Ev::Close(c.map(|c| (c.code.0, c.reason.into()))),
                        };
                        events.push(ev);
                        pending.drain(..used);
                    }
                }
            }
            if at >= wire.len() {
                return (events, None);
            }
        }
    }

    fn frame(opcode: OpCode, fin: bool, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = std::vec![0u8; payload.len() + 14];
        let n = encode_frame(&mut out, opcode, fin, mask, payload).unwrap();
        out.truncate(n);
        out
    }

    const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

    fn server() -> Config {
        Config::new(Role::Server)
    }

    #[test]
    fn fragmented_text_with_interleaved_ping_one_byte_at_a_time() {
        let mut wire = frame(OpCode::Text, false, KEY, "Hé".as_bytes());
        wire.extend(frame(OpCode::Ping, true, KEY, b"p"));
        wire.extend(frame(OpCode::Continuation, false, KEY, &[]));
        wire.extend(frame(OpCode::Continuation, true, KEY, "llo".as_bytes()));
        let whole = run(server(), &wire, &[]);
        let bytewise = run(server(), &wire, &[1; 64]);
        assert_eq!(whole, bytewise);
        let (events, err) = whole;
        assert_eq!(err, None);
        let payload: Vec<u8> = events
            .iter()
            .filter_map(|e| {
                if let Ev::Payload(p) = e {
                    Some(p.clone())
                } else {
                    None
                }
            })
            .flatten()
            .collect();
        assert_eq!(payload, "Héllo".as_bytes());
        assert!(events.contains(&Ev::Ping(b"p".to_vec())));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Ev::FrameEnd(true)))
                .count(),
            1
        );
    }

    #[test]
    fn zero_length_frames_end_immediately() {
        let wire = frame(OpCode::Binary, true, KEY, &[]);
        let (events, err) = run(server(), &wire, &[]);
        assert_eq!(err, None);
        assert!(matches!(events[..], [Ev::Header(_), Ev::FrameEnd(true)]));
    }

    #[test]
    fn continuation_without_message() {
        let wire = frame(OpCode::Continuation, true, KEY, b"x");
        assert_eq!(
            run(server(), &wire, &[]).1,
            Some(Error::UnexpectedContinuation)
        );
    }

    #[test]
    fn new_message_inside_fragmented_one() {
        let mut wire = frame(OpCode::Text, false, KEY, b"a");
        wire.extend(frame(OpCode::Binary, true, KEY, b"b"));
        assert_eq!(
            run(server(), &wire, &[]).1,
            Some(Error::ExpectedContinuation)
        );
        let mut wire = frame(OpCode::Binary, false, KEY, b"a");
        wire.extend(frame(OpCode::Text, true, KEY, b"b"));
        assert_eq!(
            run(server(), &wire, &[]).1,
            Some(Error::ExpectedContinuation)
        );
    }

    #[test]
    fn control_frames_between_fragments_are_allowed() {
        let mut wire = frame(OpCode::Binary, false, KEY, b"a");
        wire.extend(frame(OpCode::Pong, true, KEY, b""));
        wire.extend(frame(OpCode::Ping, true, KEY, b"x"));
        wire.extend(frame(OpCode::Continuation, true, KEY, b"b"));
        wire.extend(frame(OpCode::Close, true, KEY, &[0x03, 0xE8]));
        let (events, err) = run(server(), &wire, &[]);
        assert_eq!(err, None);
        assert_eq!(events.last(), Some(&Ev::Close(Some((1000, "".into())))));
    }

    #[test]
    fn invalid_utf8_fails_fast_before_the_frame_ends() {
        // Autobahn 6.4.1-like: the invalid byte arrives, the rest of the frame has not.
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend([0xF4, 0x90, 0x80, 0x80]);
        payload.extend(b"edited");
        let wire = frame(OpCode::Text, true, KEY, &payload);
        let upto = 6 + "κόσμε".len() + 2; // header + valid prefix + F4 90
        let (_, err) = run(server(), &wire[..upto], &[]);
        assert_eq!(err, Some(Error::InvalidUtf8));
        // one byte earlier it is merely incomplete
        let (_, err) = run(server(), &wire[..upto - 1], &[]);
        assert_eq!(err, None);
    }

    #[test]
    fn text_ending_inside_a_code_point() {
        let mut wire = frame(OpCode::Text, false, KEY, &[b'a', 0xE2, 0x82]);
        wire.extend(frame(OpCode::Continuation, true, KEY, &[]));
        assert_eq!(run(server(), &wire, &[]).1, Some(Error::InvalidUtf8));
        // a code point split across fragments is fine
        let mut wire = frame(OpCode::Text, false, KEY, &[b'a', 0xE2, 0x82]);
        wire.extend(frame(OpCode::Continuation, true, KEY, &[0xAC]));
        assert_eq!(run(server(), &wire, &[]).1, None);
    }

    #[test]
    fn utf8_check_can_be_turned_off() {
        let wire = frame(OpCode::Text, true, KEY, &[0xFF]);
        assert_eq!(run(server().validate_utf8(false), &wire, &[]).1, None);
    }

    #[test]
    fn close_frame_rules() {
        // one-byte body, bad code, bad reason
        for (body, e) in [
            (&[0x03][..], Error::InvalidClosePayload),
            (&[0x03, 0xED][..], Error::InvalidCloseCode),
            (&[0x03, 0xE8, 0xFF][..], Error::InvalidUtf8),
        ] {
            let wire = frame(OpCode::Close, true, KEY, body);
            assert_eq!(run(server(), &wire, &[]).1, Some(e));
        }
        // nothing may follow a close frame
        let mut wire = frame(OpCode::Close, true, KEY, &[]);
        wire.extend(frame(OpCode::Ping, true, KEY, &[]));
        let (events, err) = run(server(), &wire, &[]);
        assert_eq!(events, [Ev::Close(None)]);
        assert_eq!(err, Some(Error::FrameAfterClose));
        assert_eq!(
            CloseCode::from(Error::FrameAfterClose),
            CloseCode::PROTOCOL_ERROR
        );
    }

    #[test]
    fn extension_bits_only_on_first_data_frame() {
        let c = server().extension_rsv(Rsv::RSV1);
        let with_rsv1 = |mut f: Vec<u8>| {
            f[0] |= 0x40;
            f
        };
        // fine on the first frame; and the decoder does not UTF-8-check a transformed message
        let wire = with_rsv1(frame(OpCode::Text, true, KEY, &[0xFF, 0x00]));
        assert_eq!(run(c, &wire, &[]).1, None);
        // not on a continuation
        let mut wire = frame(OpCode::Text, false, KEY, b"a");
        wire.extend(with_rsv1(frame(OpCode::Continuation, true, KEY, b"b")));
        assert_eq!(run(c, &wire, &[]).1, Some(Error::ReservedBits));
        // not on a control frame
        let wire = with_rsv1(frame(OpCode::Ping, true, KEY, b""));
        assert_eq!(run(c, &wire, &[]).1, Some(Error::ReservedBits));
    }

    #[test]
    fn message_limits_checked_from_headers() {
        let c = server().max_message_size(10);
        let mut wire = frame(OpCode::Binary, false, KEY, &[0; 6]);
        wire.extend(frame(OpCode::Continuation, true, KEY, &[0; 5]));
        // error reported when the second header arrives, without its payload
        let (_, err) = run(c, &wire[..wire.len() - 5], &[]);
        assert_eq!(err, Some(Error::MessageTooLarge));

        let c = server().max_fragments(3);
        let mut wire = Vec::new();
        wire.extend(frame(OpCode::Binary, false, KEY, b""));
        for _ in 0..2 {
            wire.extend(frame(OpCode::Continuation, false, KEY, b""));
        }
        assert_eq!(run(c, &wire, &[]).1, None);
        wire.extend(frame(OpCode::Continuation, true, KEY, b""));
        assert_eq!(run(c, &wire, &[]).1, Some(Error::TooManyFragments));
        // the count is per message
        let mut wire = Vec::new();
        for _ in 0..10 {
            wire.extend(frame(OpCode::Binary, true, KEY, b"x"));
        }
        assert_eq!(run(c, &wire, &[]).1, None);
    }

    /// A plan for a valid stream: messages with fragmentation and interleaved control frames.
    #[derive(Clone, Debug)]
    enum Item {
        Message { text: bool, fragments: Vec<Vec<u8>> },
        Ping(Vec<u8>),
        Pong(Vec<u8>),
    }

    fn item() -> impl Strategy<Value = Item> {
        let text_frag = any::<std::string::String>().prop_map(|s| s.into_bytes());
        let bin_frag = proptest::collection::vec(any::<u8>(), 0..300);
        let ctl = proptest::collection::vec(any::<u8>(), 0..=125);
        prop_oneof![
            4 => (any::<bool>(), proptest::collection::vec(prop_oneof![text_frag, bin_frag], 1..5))
                .prop_map(|(text, fragments)| Item::Message { text, fragments }),
            1 => ctl.clone().prop_map(Item::Ping),
            1 => ctl.prop_map(Item::Pong),
        ]
    }

    fn encode_stream(items: &[Item], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut wire = Vec::new();
        for it in items {
            match it {
                Item::Message { text, fragments } => {
                    // text messages: concatenate the fragments' bytes, then re-split them at the
                    // same lengths, so code points may straddle fragments; keep only valid text
                    let all: Vec<u8> = fragments.concat();
                    let text = *text && core::str::from_utf8(&all).is_ok();
                    let mut at = 0;
                    for (i, f) in fragments.iter().enumerate() {
                        let op = match (i, text) {
                            (0, true) => OpCode::Text,
                            (0, false) => OpCode::Binary,
                            _ => OpCode::Continuation,
                        };
                        let last = i + 1 == fragments.len();
                        wire.extend(frame(op, last, mask, &all[at..at + f.len()]));
                        at += f.len();
                        if i == 0 {
                            // a ping between fragments
                            wire.extend(frame(OpCode::Ping, true, mask, b"mid"));
                        }
                    }
                }
                Item::Ping(p) => wire.extend(frame(OpCode::Ping, true, mask, p)),
                Item::Pong(p) => wire.extend(frame(OpCode::Pong, true, mask, p)),
            }
        }
        wire.extend(frame(OpCode::Close, true, mask, b"\x03\xe8bye"));
        wire
    }

    /// The events a correct decoder must produce for `encode_stream(items, mask)`, built from the
    /// plan alone (no decoding): per data frame its header, its payload (one merged event, none
    /// when empty) and its end; control frames whole; the closing `1000 bye`.
    fn expected_events(items: &[Item], mask: Option<[u8; 4]>) -> Vec<Ev> {
        let header = |opcode, fin, len: usize| {
            Ev::Header(Header {
                fin,
                rsv: Rsv::NONE,
                opcode,
                mask,
                payload_len: len as u64,
            })
        };
        let mut out = Vec::new();
        for it in items {
            match it {
                Item::Message { text, fragments } => {
                    let all: Vec<u8> = fragments.concat();
                    let text = *text && core::str::from_utf8(&all).is_ok();
                    let mut at = 0;
                    for (i, f) in fragments.iter().enumerate() {
                        let op = match (i, text) {
                            (0, true) => OpCode::Text,
                            (0, false) => OpCode::Binary,
                            _ => OpCode::Continuation,
                        };
                        let last = i + 1 == fragments.len();
                        out.push(header(op, last, f.len()));
                        if !f.is_empty() {
                            out.push(Ev::Payload(all[at..at + f.len()].to_vec()));
                        }
                        out.push(Ev::FrameEnd(last));
                        at += f.len();
                        if i == 0 {
                            out.push(Ev::Ping(b"mid".to_vec()));
                        }
                    }
                }
                Item::Ping(p) => out.push(Ev::Ping(p.clone())),
                Item::Pong(p) => out.push(Ev::Pong(p.clone())),
            }
        }
        out.push(Ev::Close(Some((1000, "bye".into()))));
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Decoding any split of a valid stream gives the events it was encoded from, the same as
        /// decoding it whole.
        #[test]
        fn any_split_same_events(
            items in proptest::collection::vec(item(), 0..8),
            sizes in proptest::collection::vec(1usize..40, 0..200),
            client_to_server: bool,
        ) {
            let (config, mask) = if client_to_server {
                (Config::new(Role::Server), Some([1, 2, 3, 4]))
            } else {
                (Config::new(Role::Client), None)
            };
            let wire = encode_stream(&items, mask);
            let whole = run(config, &wire, &[]);
            prop_assert_eq!(whole.1, None);
            prop_assert_eq!(&whole.0, &expected_events(&items, mask));
            let split = run(config, &wire, &sizes);
            prop_assert_eq!(&whole, &split);
        }

        /// Arbitrary bytes in arbitrary splits: no panic, consumed <= input (checked in `run`), and
        /// the same outcome as whole, apart from where payload chunks were cut.
        #[test]
        fn arbitrary_bytes_any_split(
            wire in proptest::collection::vec(any::<u8>(), 0..400),
            sizes in proptest::collection::vec(1usize..20, 0..100),
            server_role: bool,
        ) {
            let config = Config::new(if server_role { Role::Server } else { Role::Client })
                .max_frame_size(1 << 16);
            let whole = run(config, &wire, &[]);
            let split = run(config, &wire, &sizes);
            let structure = |evs: &[Ev]| -> Vec<Ev> {
                evs.iter().filter(|e| !matches!(e, Ev::Payload(_))).cloned().collect()
            };
            prop_assert_eq!(whole.1, split.1);
            prop_assert_eq!(structure(&whole.0), structure(&split.0));
        }
    }
}
