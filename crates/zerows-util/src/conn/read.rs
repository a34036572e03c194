//! The receiving side's buffers and decoding: bytes in, [`Item`]s out.
//!
//! [`ReadBuffers`] owns the read buffer, the message buffer and the frame decoder. It says where the
//! next bytes go ([`ReadBuffers::read_target`]), is told how many arrived
//! ([`ReadBuffers::filled`]), and turns them into items ([`ReadBuffers::decode`]). What a message in
//! progress is doing (assembled, decoded by an extension, streamed, skipped) is one
//! [`Assembly`] value, not a set of flags.

// Positions and lengths inside the read buffer are kept in 32 bits (a smaller connection): the
// buffer is at most `read_buffer_size` (clamped to 2 GiB) plus handshake leftovers (8 KiB), so
// every `as u32` below is exact.
#![allow(clippy::cast_possible_truncation)]

use zerows_frame::{CloseCode, Decoder, Event, Header, OpCode, Role, Rsv, Status, Utf8Validator};

use std::sync::Arc;

use crate::config::Config;
use crate::extension::{Fail, MessageDecoder};
use crate::pool::BufferPool;

/// Payloads at least this large are read straight into the message buffer when the read buffer is
/// empty, saving a copy.
const DIRECT_MIN: u64 = 4096;
/// The message buffer may always hold this much; beyond it, at most twice what arrived. A peer that
/// declares a huge frame and sends nothing cannot make us allocate it.
const DIRECT_FIRST: usize = 64 << 10;

/// The capacity the message buffer may have once `received` bytes of the message arrived: at most
/// `max(64 KiB, 2 × received)`, and never more than the message limit (`docs/security.md`,
/// "Limits"; `tests/memory_bounds.rs` measures both).
fn message_capacity_bound(received: usize, max_message: usize) -> usize {
    DIRECT_FIRST
        .max(received.saturating_mul(2))
        .min(max_message)
}

/// Makes room in `msg` for `need` bytes in all, growing geometrically (at most doubling the bytes
/// it holds, so appends stay amortised O(1)) but never past `bound` (which is at least `need`) —
/// unlike `Vec`'s own doubling, which can reach twice what arrived on top of a reservation, or
/// overshoot the message limit.
fn reserve_message(msg: &mut Vec<u8>, need: usize, bound: usize) {
    if need <= msg.capacity() {
        return;
    }
    let target = need.max(msg.len().saturating_mul(2)).min(bound.max(need));
    msg.reserve_exact(target - msg.len());
}

/// A streamed payload chunk: where its bytes are. Opaque; read it with
/// [`Connection::chunk`](super::Connection::chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    start: u32,
    len: u32,
    /// In the message buffer (an extension's output), not the read buffer.
    decoded: bool,
}

impl Chunk {
    /// The chunk's length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the chunk is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `n` bytes consumed: what is left.
    pub(crate) fn skip(self, n: usize) -> Chunk {
        let n = (n as u32).min(self.len);
        Chunk {
            start: self.start + n,
            len: self.len - n,
            decoded: self.decoded,
        }
    }
}

/// What [`Connection::poll_item`](super::Connection::poll_item) produced. Payloads stay in the
/// connection's buffers: view them with [`Connection::message`](super::Connection::message) and
/// friends until the next call that reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// A complete data message, `Text` (valid UTF-8 unless validation is off) or `Binary`.
    Message(OpCode),
    /// A ping (already answered when [`Config::auto_pong`] is on).
    Ping,
    /// A pong.
    Pong,
    /// The peer's close frame, with its code (`None`: an empty close). Already answered.
    Close(Option<CloseCode>),
    /// Streaming ([`Connection::stream_next_message`](super::Connection::stream_next_message)): a
    /// message starts, `Text` or `Binary`.
    MessageStart(OpCode),
    /// Streaming: the next payload bytes of the message.
    Chunk(Chunk),
    /// Streaming: the message ended.
    MessageEnd,
}

/// What the message in progress is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Assembly {
    /// No message in progress.
    Idle,
    /// Assembled whole for `read`: in place in the read buffer (a single frame that arrived in
    /// one piece, not copied) or appended to the message buffer.
    Whole { opcode: OpCode, in_place: bool },
    /// Assembled whole through the extension's decoder (first frame carried `rsv`).
    Decoded { opcode: OpCode, rsv: Rsv },
    /// Handed out chunk by chunk; `rsv`: through the decoder; `streamed`: decoded bytes so far.
    Streamed {
        opcode: OpCode,
        rsv: Option<Rsv>,
        streamed: usize,
    },
    /// Streamed, and its final decoded chunk was returned: the end is next.
    EndPending,
    /// A streamed message the application abandoned: discarded up to its last frame.
    Skipped,
}

/// Where the last message's payload is.
#[derive(Clone, Copy, Debug)]
enum Payload {
    /// `msg[..msg_len]`.
    Assembled,
    /// `rbuf[start..start + len]`: a single-frame message that arrived whole, not copied.
    InPlace { start: u32, len: u32 },
}

/// Where the last [`ReadBuffers::read_target`] pointed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// `rbuf[end..]`.
    ReadBuffer,
    /// `msg[msg_len..]`: a large frame's payload, read straight into the message buffer.
    MessageBuffer,
}

#[derive(Debug)]
pub(crate) struct ReadBuffers {
    decoder: Decoder,
    /// The settings (shared with the sending side and the driver): pool, sizes, limits.
    config: Arc<Config>,
    /// Read buffer (`len == capacity` while held, empty when released to the pool); the bytes not
    /// decoded yet are `rbuf[start..end]`; `rbuf_used` is the high-water mark of `end`, what must be
    /// zeroed before the buffer goes back to a pool shared with other connections.
    rbuf: Vec<u8>,
    start: u32,
    end: u32,
    rbuf_used: u32,
    /// Message buffer; the message so far is `msg[..msg_len]` (`msg.len()` is what is initialised).
    msg: Vec<u8>,
    msg_len: usize,
    payload: Payload,
    assembly: Assembly,
    target: Target,
    /// The next message is streamed (a message reader is waiting for it).
    stream_next: bool,
    /// The last control frame's payload (a close frame's reason), `rbuf[start..start + len]`: the
    /// frame decoder unmasks it in place, and nothing moves the read buffer before the next read.
    control: (u32, u32),
    /// The negotiated extension's receiving half, boxed: connections without one pay a pointer.
    ext: Option<Box<Decoding>>,
}

/// An extension's decoder and the UTF-8 check of its output (the frame decoder checks
/// untransformed text itself).
#[derive(Debug)]
struct Decoding {
    decoder: Box<dyn MessageDecoder>,
    utf8: Utf8Validator,
}

impl ReadBuffers {
    pub(crate) fn new(config: &Arc<Config>, role: Role, leftover: &[u8]) -> ReadBuffers {
        let mut r = ReadBuffers {
            decoder: Decoder::new(config.frame_for(role)),
            config: Arc::clone(config),
            rbuf: Vec::new(),
            start: 0,
            end: 0,
            rbuf_used: 0,
            msg: Vec::new(),
            msg_len: 0,
            payload: Payload::Assembled,
            assembly: Assembly::Idle,
            target: Target::ReadBuffer,
            stream_next: false,
            control: (0, 0),
            ext: None,
        };
        if !leftover.is_empty() {
            r.push_bytes(leftover);
        }
        r
    }

    /// Installs the receiving half of a negotiated extension; the frame decoder accepts its RSV
    /// bits from now on.
    pub(crate) fn set_extension(&mut self, rsv: Rsv, ext: Box<dyn MessageDecoder>) {
        let mut config = *self.decoder.config();
        config.extension_rsv = rsv;
        self.decoder.set_config(config);
        self.ext = Some(Box::new(Decoding {
            decoder: ext,
            utf8: Utf8Validator::new(),
        }));
    }

    /// Copies bytes that were read elsewhere (handshake leftovers, a stack buffer) into the read
    /// buffer, growing it if they do not fit.
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        self.ensure_rbuf();
        self.compact();
        let end = self.end as usize;
        let need = end + bytes.len();
        if need > self.rbuf.len() {
            self.rbuf.resize(need, 0);
        }
        self.rbuf[end..need].copy_from_slice(bytes);
        self.set_end(need);
    }

    fn set_end(&mut self, end: usize) {
        // The read buffer is at most `read_buffer_size` plus one push of leftovers: u32 holds it
        // (a larger leftover is refused by the handshake's 8 KiB head limit long before).
        self.end = u32::try_from(end).unwrap_or(u32::MAX);
        self.rbuf_used = self.rbuf_used.max(self.end);
    }

    /// Whether no bytes wait to be decoded and no frame or message is in progress: the next
    /// bytes may go anywhere, and the buffers may be given back.
    pub(crate) fn is_idle(&self) -> bool {
        self.start == self.end
            && self.decoder.message().is_none()
            && self.decoder.payload_remaining().is_none()
    }

    /// Idle, with no streamed message asked for and no extension state: a fresh `ReadBuffers`
    /// would do the same from here.
    pub(crate) fn is_dormant(&self) -> bool {
        self.is_idle()
            && self.ext.is_none()
            && !self.stream_next
            && matches!(self.assembly, Assembly::Idle)
    }

    /// The buffers as `new` makes them (no leftover), the buffers held given back to the pool.
    pub(crate) fn reset(&mut self, role: Role) {
        self.release_if_idle();
        let config = Arc::clone(&self.config);
        *self = ReadBuffers::new(&config, role, &[]);
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    fn pool(&self) -> Option<&BufferPool> {
        self.config.pool.as_ref()
    }

    /// The message limit, in memory terms.
    fn max_message(&self) -> usize {
        usize::try_from(self.config.frame.max_message_size).unwrap_or(usize::MAX)
    }

    pub(crate) fn pooled(&self) -> bool {
        self.config.pool.is_some()
    }

    pub(crate) fn holds_buffer(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// At least 512 bytes; at most 2 GiB (positions are kept in 32 bits).
    pub(crate) fn read_buffer_size(&self) -> usize {
        self.config.read_buffer_size.clamp(512, 1 << 31)
    }

    /// Gives the buffers back to the pool if the connection is idle.
    pub(crate) fn release_if_idle(&mut self) {
        if let Some(pool) = self.config.pool.as_ref()
            && self.is_idle()
        {
            pool.give_used(std::mem::take(&mut self.rbuf), self.rbuf_used as usize);
            pool.give(std::mem::take(&mut self.msg));
            self.start = 0;
            self.end = 0;
            self.rbuf_used = 0;
            self.msg_len = 0;
            self.payload = Payload::Assembled;
        }
    }

    fn ensure_rbuf(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = crate::pool::take(self.pool(), self.read_buffer_size());
            self.start = 0;
            self.end = 0;
            self.rbuf_used = 0;
        }
    }

    /// Takes the message buffer from the pool if it was given back.
    fn ensure_msg(&mut self) {
        if self.msg.capacity() == 0
            && let Some(pool) = self.config.pool.as_ref()
        {
            self.msg = pool.take(0);
        }
    }

    /// Moves the undecoded bytes to the front when that frees useful space.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.rbuf.len() - (self.end as usize) < 1024 {
            let (start, end) = (self.start as usize, self.end as usize);
            self.rbuf.copy_within(start..end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Where the next bytes should be read to. Call [`filled`](Self::filled) with the count read.
    pub(crate) fn read_target(&mut self) -> &mut [u8] {
        self.ensure_rbuf();
        self.target = Target::ReadBuffer;
        if matches!(self.assembly, Assembly::Whole { .. })
            && self.start == self.end
            && let Some(rem) = self.decoder.payload_remaining()
            && rem >= DIRECT_MIN
        {
            // Reserve up to the bound for what arrived so far, never more than the frame's rest.
            let bound = message_capacity_bound(self.msg_len, self.max_message());
            let cap = bound.saturating_sub(self.msg_len).max(1);
            let want = usize::try_from(rem).map_or(cap, |r| r.min(cap));
            let need = self.msg_len + want;
            self.ensure_msg();
            if self.msg.len() < need {
                reserve_message(&mut self.msg, need, bound);
                self.msg.resize(need, 0);
            }
            self.target = Target::MessageBuffer;
            return &mut self.msg[self.msg_len..need];
        }
        self.compact();
        let end = self.end as usize;
        &mut self.rbuf[end..]
    }

    /// Records that `n` bytes were read into the last [`read_target`](Self::read_target).
    pub(crate) fn filled(&mut self, n: usize) -> Result<(), Fail> {
        match std::mem::replace(&mut self.target, Target::ReadBuffer) {
            Target::ReadBuffer => {
                self.set_end(self.end as usize + n);
                Ok(())
            }
            Target::MessageBuffer if n == 0 => Ok(()),
            Target::MessageBuffer => {
                let region = &mut self.msg[self.msg_len..self.msg_len + n];
                match self.decoder.next(region)? {
                    // The read was capped at the frame's remaining payload: it is all payload.
                    Status::Complete((Event::Payload(p), used)) => {
                        debug_assert_eq!((p.len(), used), (n, n));
                        self.msg_len += used;
                        Ok(())
                    }
                    other => unreachable!("direct read decoded as {other:?}"),
                }
            }
        }
    }

    /// Drops bytes read while the connection only waits for the peer to go (a failed connection's
    /// drain): nothing more is decoded.
    pub(crate) fn discard(&mut self) {
        self.start = self.end;
    }

    /// The next message is streamed chunk by chunk instead of assembled (a message reader).
    pub(crate) fn stream_next_message(&mut self) {
        self.stream_next = true;
    }

    /// Drops the rest of a streamed message, if one is in progress: its remaining frames are
    /// decoded and discarded (control frames between them are still reported).
    pub(crate) fn abandon_message(&mut self) {
        self.stream_next = false;
        match self.assembly {
            Assembly::Streamed { .. } | Assembly::EndPending
                if self.decoder.message().is_some() =>
            {
                self.assembly = Assembly::Skipped;
            }
            Assembly::Streamed { .. } | Assembly::EndPending => self.assembly = Assembly::Idle,
            _ => {}
        }
    }

    /// The limit for the extension's output: the whole decoded message, or, streamed, what is
    /// left after what was handed out.
    fn decoded_room(&self) -> (usize, usize) {
        match self.assembly {
            Assembly::Streamed { streamed, .. } => (0, self.max_message().saturating_sub(streamed)),
            _ => (self.msg_len, self.max_message()),
        }
    }

    /// Runs the extension's decoder over `chunk` (the last call of the message when `last`),
    /// appending to the message buffer (streamed: replacing the previous chunk), checking decoded
    /// text. Returns the decoded bytes' range in the message buffer.
    fn decode_chunk(
        &mut self,
        opcode: OpCode,
        rsv: Rsv,
        chunk_at: Option<(usize, usize)>,
        last: bool,
    ) -> Result<(usize, usize), Fail> {
        let (keep, limit) = self.decoded_room();
        self.ensure_msg();
        self.msg.truncate(keep);
        let chunk = match chunk_at {
            Some((at, len)) => &self.rbuf[at..at + len],
            None => &[][..],
        };
        let Some(ext) = self.ext.as_mut() else {
            return Ok((keep, 0));
        };
        ext.decoder.decode(rsv, chunk, last, &mut self.msg, limit)?;
        if opcode == OpCode::Text {
            ext.utf8.feed(&self.msg[keep..])?;
            if last {
                ext.utf8.finish()?;
            }
        }
        self.msg_len = self.msg.len();
        Ok((keep, self.msg_len - keep))
    }

    /// Decodes buffered bytes until an item is complete, or returns `None` when more bytes are
    /// needed. A decode error fails the connection.
    pub(crate) fn decode(&mut self) -> Result<Option<Item>, Fail> {
        if self.assembly == Assembly::EndPending {
            self.assembly = Assembly::Idle;
            return Ok(Some(Item::MessageEnd));
        }
        loop {
            let at = self.start as usize;
            let buf = &mut self.rbuf[at..self.end as usize];
            let available = buf.len();
            let Status::Complete((event, used)) = self.decoder.next(buf)? else {
                return Ok(None);
            };
            self.start += used as u32;
            match event {
                Event::Header(h) => {
                    if let Some(item) = self.on_header(h, (available - used) as u64) {
                        return Ok(Some(item));
                    }
                }
                Event::Payload(p) => {
                    let len = p.len();
                    if let Some(item) = self.on_payload(at, len)? {
                        return Ok(Some(item));
                    }
                }
                Event::FrameEnd { fin: false } => {}
                Event::FrameEnd { fin: true } => {
                    if let Some(item) = self.on_message_end()? {
                        return Ok(Some(item));
                    }
                }
                // A control frame is decoded whole: its payload is the last bytes it consumed.
                Event::Ping(p) => {
                    self.control = ((at + used - p.len()) as u32, p.len() as u32);
                    return Ok(Some(Item::Ping));
                }
                Event::Pong(p) => {
                    self.control = ((at + used - p.len()) as u32, p.len() as u32);
                    return Ok(Some(Item::Pong));
                }
                Event::Close(body) => {
                    let code = body.map(|c| c.code);
                    let reason = body.map_or(0, |c| c.reason.len());
                    self.control = ((at + used - reason) as u32, reason as u32);
                    return Ok(Some(Item::Close(code)));
                }
            }
        }
    }

    /// A data frame header: a first frame starts a message in the mode asked for.
    fn on_header(&mut self, h: Header, after: u64) -> Option<Item> {
        if h.opcode == OpCode::Continuation {
            return None;
        }
        // The frame decoder accepts owned bits on a first frame only.
        let owned = h.rsv & self.decoder.config().extension_rsv;
        let rsv = (self.ext.is_some() && !owned.is_empty()).then_some(owned);
        self.msg_len = 0;
        self.payload = Payload::Assembled;
        if let Some(ext) = self.ext.as_mut() {
            ext.utf8.reset();
        }
        if std::mem::take(&mut self.stream_next) {
            self.assembly = Assembly::Streamed {
                opcode: h.opcode,
                rsv,
                streamed: 0,
            };
            return Some(Item::MessageStart(h.opcode));
        }
        self.assembly = match rsv {
            Some(rsv) => Assembly::Decoded {
                opcode: h.opcode,
                rsv,
            },
            None => Assembly::Whole {
                opcode: h.opcode,
                in_place: h.fin && after >= h.payload_len,
            },
        };
        None
    }

    /// Payload bytes at `rbuf[at..at + len]`, unmasked.
    fn on_payload(&mut self, at: usize, len: usize) -> Result<Option<Item>, Fail> {
        match self.assembly {
            Assembly::Whole { in_place: true, .. } => {
                self.payload = Payload::InPlace {
                    start: at as u32,
                    len: len as u32,
                };
            }
            Assembly::Whole { .. } => {
                // Append, growing within the bound; grows only with bytes that arrived.
                self.ensure_msg();
                self.msg.truncate(self.msg_len);
                let need = self.msg_len + len;
                let bound = message_capacity_bound(need, self.max_message());
                reserve_message(&mut self.msg, need, bound);
                crate::copy::extend(&mut self.msg, &self.rbuf[at..at + len]);
                self.msg_len = self.msg.len();
            }
            Assembly::Decoded { opcode, rsv } => {
                self.decode_chunk(opcode, rsv, Some((at, len)), false)?;
            }
            Assembly::Streamed {
                opcode,
                rsv: Some(rsv),
                streamed,
            } => {
                let (start, n) = self.decode_chunk(opcode, rsv, Some((at, len)), false)?;
                if n > 0 {
                    self.assembly = Assembly::Streamed {
                        opcode,
                        rsv: Some(rsv),
                        streamed: streamed + n,
                    };
                    return Ok(Some(Item::Chunk(Chunk {
                        start: start as u32,
                        len: n as u32,
                        decoded: true,
                    })));
                }
            }
            Assembly::Streamed { rsv: None, .. } => {
                return Ok(Some(Item::Chunk(Chunk {
                    start: at as u32,
                    len: len as u32,
                    decoded: false,
                })));
            }
            Assembly::Skipped | Assembly::Idle | Assembly::EndPending => {}
        }
        Ok(None)
    }

    /// The last frame of a message ended.
    fn on_message_end(&mut self) -> Result<Option<Item>, Fail> {
        match std::mem::replace(&mut self.assembly, Assembly::Idle) {
            Assembly::Whole { opcode, .. } => Ok(Some(Item::Message(opcode))),
            Assembly::Decoded { opcode, rsv } => {
                self.decode_chunk(opcode, rsv, None, true)?;
                Ok(Some(Item::Message(opcode)))
            }
            Assembly::Streamed {
                opcode,
                rsv: Some(rsv),
                streamed,
            } => {
                self.assembly = Assembly::Streamed {
                    opcode,
                    rsv: Some(rsv),
                    streamed,
                };
                let (start, n) = self.decode_chunk(opcode, rsv, None, true)?;
                if n > 0 {
                    self.assembly = Assembly::EndPending;
                    return Ok(Some(Item::Chunk(Chunk {
                        start: start as u32,
                        len: n as u32,
                        decoded: true,
                    })));
                }
                self.assembly = Assembly::Idle;
                Ok(Some(Item::MessageEnd))
            }
            Assembly::Streamed { rsv: None, .. } => Ok(Some(Item::MessageEnd)),
            Assembly::Skipped | Assembly::Idle | Assembly::EndPending => Ok(None),
        }
    }

    /// A streamed chunk's bytes.
    pub(crate) fn chunk(&self, c: Chunk) -> &[u8] {
        let (start, len) = (c.start as usize, c.len as usize);
        if c.decoded {
            &self.msg[start..start + len]
        } else {
            &self.rbuf[start..start + len]
        }
    }

    /// The payload of the last message.
    pub(crate) fn message(&self) -> &[u8] {
        match self.payload {
            Payload::Assembled => &self.msg[..self.msg_len],
            Payload::InPlace { start, len } => {
                &self.rbuf[start as usize..start as usize + len as usize]
            }
        }
    }

    /// The payload of the last ping or pong, or the reason of the last close.
    pub(crate) fn control(&self) -> &[u8] {
        let (start, len) = (self.control.0 as usize, self.control.1 as usize);
        &self.rbuf[start..start + len]
    }
}
