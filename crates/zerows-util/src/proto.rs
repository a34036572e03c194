//! The sans-IO connection core shared by the `std::io` and tokio layers.
//!
//! [`ReadCore`] owns the read buffer, the message buffer and the frame decoder; it says where to read
//! next ([`ReadCore::read_target`]), is told how many bytes arrived ([`ReadCore::filled`]) and turns
//! them into [`Item`]s ([`ReadCore::process`]). [`WriteCore`] encodes frames, queues the ones fed
//! without a flush and holds the one pending control reply. Neither does I/O: the adapters in `sync.rs` and `tokio.rs` are loops
//! around these calls, so both have the same protocol logic.

use zerows_frame::{
    CloseCode, CloseFrame, Decoder, Event, Header, OpCode, Role, Rsv, Status, Utf8Validator,
    apply_mask,
};

use crate::config::Config;
use crate::extension::{Fail, MessageDecoder, MessageEncoder};
use crate::keys::MaskKeys;
use crate::pool::{self, BufferPool};

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

/// What [`ReadCore::process`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A complete data message (`Text` or `Binary`); see [`ReadCore::message`].
    Message(OpCode),
    /// A ping; payload in [`ReadCore::control`].
    Ping,
    /// A pong; payload in [`ReadCore::control`].
    Pong,
    /// The peer's close frame; code here, reason in [`ReadCore::control`].
    Close(Option<CloseCode>),
    /// Streaming mode: a data frame started (`Text`/`Binary` starts a message).
    FrameStart(Header),
    /// Streaming mode: payload bytes at `read_buf[start..start + len]` (or, for a message an
    /// extension transforms, the decoded bytes at `message()[start..start + len]`).
    Chunk {
        start: usize,
        len: usize,
        decoded: bool,
    },
    /// Streaming mode: the message ended.
    MessageEnd,
}

/// Where the last message's payload is.
#[derive(Clone, Copy, Debug)]
enum MsgLoc {
    /// `msg[..msg_len]`.
    Assembled,
    /// `rbuf[start..start + len]`: a single-frame message that arrived whole, not copied.
    InPlace { start: usize, len: usize },
}

#[derive(Debug)]
pub(crate) struct ReadCore {
    decoder: Decoder,
    pool: Option<BufferPool>,
    read_buffer_size: usize,
    /// Read buffer (`len == capacity` while held, empty when released to the pool); the bytes not
    /// decoded yet are `rbuf[start..end]`.
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// How much of `rbuf` ever held received bytes (the high-water mark of `end`): what must be
    /// zeroed before the buffer goes back to a pool shared with other connections.
    rbuf_used: usize,
    /// Message buffer; the message so far is `msg[..msg_len]` (`msg.len()` is what is initialised).
    msg: Vec<u8>,
    msg_len: usize,
    loc: MsgLoc,
    /// Whether the message in progress arrived whole in the read buffer (zero-copy candidate).
    in_place: bool,
    /// The bytes of the last `read_target` went to `msg[msg_len..]`, not to `rbuf[end..]`.
    direct: bool,
    /// The opcode of the message in progress.
    last_opcode: Option<OpCode>,
    /// Hand payload out as chunks instead of assembling messages.
    pub(crate) streaming: bool,
    /// Discard the rest of the message in progress (a streamed message abandoned midway).
    skipping: bool,
    /// The last control frame's payload (a close frame's reason), `rbuf[start..start + len]`: the
    /// frame decoder unmasks it in place, and nothing moves the read buffer before the next read.
    ctrl: (usize, usize),
    /// The negotiated extension's receiving half.
    ext: Option<Box<dyn MessageDecoder>>,
    /// The message in progress is transformed by the extension; its first frame's RSV bits.
    transformed: Option<Rsv>,
    /// UTF-8 of decoded text (the frame decoder checks untransformed text itself).
    decoded_utf8: Utf8Validator,
    /// Streaming: the final decoded chunk was returned, the message end is next.
    end_pending: bool,
    /// Streaming: decoded bytes of the current message handed out so far.
    streamed: usize,
    max_message: usize,
}

impl ReadCore {
    pub(crate) fn new(config: &Config, leftover: &[u8]) -> ReadCore {
        let mut core = ReadCore {
            decoder: Decoder::new(config.frame),
            pool: config.pool.clone(),
            read_buffer_size: config.read_buffer_size,
            rbuf: Vec::new(),
            start: 0,
            end: 0,
            rbuf_used: 0,
            msg: Vec::new(),
            msg_len: 0,
            loc: MsgLoc::Assembled,
            in_place: false,
            direct: false,
            last_opcode: None,
            streaming: false,
            skipping: false,
            ctrl: (0, 0),
            ext: None,
            transformed: None,
            decoded_utf8: Utf8Validator::new(),
            end_pending: false,
            streamed: 0,
            max_message: usize::try_from(config.frame.max_message_size).unwrap_or(usize::MAX),
        };
        if !leftover.is_empty() {
            core.push_bytes(leftover);
        }
        core
    }

    /// Installs the receiving half of a negotiated extension; the frame decoder accepts its RSV
    /// bits from now on.
    pub(crate) fn set_extension(&mut self, rsv: Rsv, ext: Box<dyn MessageDecoder>) {
        let mut config = *self.decoder.config();
        config.extension_rsv = rsv;
        self.decoder.set_config(config);
        self.ext = Some(ext);
    }

    /// Copies bytes that were read elsewhere (handshake leftovers, a stack buffer) into the read
    /// buffer, growing it if they do not fit.
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        self.ensure_rbuf();
        self.compact();
        let need = self.end + bytes.len();
        if need > self.rbuf.len() {
            self.rbuf.resize(need, 0);
        }
        self.rbuf[self.end..need].copy_from_slice(bytes);
        self.end = need;
        self.rbuf_used = self.rbuf_used.max(need);
    }

    /// Whether the core holds no buffer and has no partial frame: the next bytes may be read into a
    /// temporary stack buffer and passed to [`push_bytes`](Self::push_bytes).
    pub(crate) fn is_idle(&self) -> bool {
        self.start == self.end
            && self.decoder.message().is_none()
            && self.decoder.payload_remaining().is_none()
    }

    /// Whether buffers are released to a pool when idle.
    pub(crate) fn pooled(&self) -> bool {
        self.pool.is_some()
    }

    pub(crate) fn holds_buffer(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Gives the buffers back to the pool if the connection is idle.
    pub(crate) fn release_if_idle(&mut self) {
        if self.pool.is_some() && self.is_idle() {
            if let Some(pool) = &self.pool {
                pool.give_used(std::mem::take(&mut self.rbuf), self.rbuf_used);
                pool.give(std::mem::take(&mut self.msg));
            }
            self.start = 0;
            self.end = 0;
            self.rbuf_used = 0;
            self.msg_len = 0;
            self.loc = MsgLoc::Assembled;
        }
    }

    fn ensure_rbuf(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = pool::take(self.pool.as_ref(), self.read_buffer_size);
            self.start = 0;
            self.end = 0;
            self.rbuf_used = 0;
        }
    }

    /// Takes the message buffer from the pool if it was given back.
    fn ensure_msg(&mut self) {
        if self.msg.capacity() == 0
            && let Some(pool) = &self.pool
        {
            self.msg = pool.take(0);
        }
    }

    /// Moves the undecoded bytes to the front when that frees useful space.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.rbuf.len() - self.end < 1024 {
            self.rbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Where the next bytes should be read to. Call [`filled`](Self::filled) with the count read.
    pub(crate) fn read_target(&mut self) -> &mut [u8] {
        self.ensure_rbuf();
        self.direct = false;
        if !self.streaming
            && !self.skipping
            && self.transformed.is_none()
            && self.start == self.end
            && self.decoder.message().is_some()
            && let Some(rem) = self.decoder.payload_remaining()
            && rem >= DIRECT_MIN
        {
            // Reserve up to the bound for what arrived so far, never more than the frame's rest.
            let bound = message_capacity_bound(self.msg_len, self.max_message);
            let cap = bound.saturating_sub(self.msg_len).max(1);
            let want = usize::try_from(rem).map_or(cap, |r| r.min(cap));
            let need = self.msg_len + want;
            self.ensure_msg();
            if self.msg.len() < need {
                reserve_message(&mut self.msg, need, bound);
                self.msg.resize(need, 0);
            }
            self.direct = true;
            return &mut self.msg[self.msg_len..need];
        }
        self.compact();
        &mut self.rbuf[self.end..]
    }

    /// Records that `n` bytes were read into the last [`read_target`](Self::read_target).
    pub(crate) fn filled(&mut self, n: usize) -> Result<(), Fail> {
        if !self.direct {
            self.end += n;
            self.rbuf_used = self.rbuf_used.max(self.end);
            return Ok(());
        }
        self.direct = false;
        if n == 0 {
            return Ok(());
        }
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

    /// Decodes buffered bytes until an item is complete, or returns `None` when more bytes are
    /// needed. A decode error fails the connection.
    pub(crate) fn process(&mut self) -> Result<Option<Item>, Fail> {
        if self.end_pending {
            self.end_pending = false;
            return Ok(Some(Item::MessageEnd));
        }
        loop {
            let at = self.start;
            let buf = &mut self.rbuf[at..self.end];
            let available = buf.len();
            let Status::Complete((event, used)) = self.decoder.next(buf)? else {
                return Ok(None);
            };
            self.start += used;
            match event {
                Event::Header(h) => {
                    if h.opcode != OpCode::Continuation {
                        self.last_opcode = Some(h.opcode);
                        self.msg_len = 0;
                        self.loc = MsgLoc::Assembled;
                        // The frame decoder accepts owned bits on a first frame only.
                        let owned = h.rsv & self.decoder.config().extension_rsv;
                        self.transformed =
                            (self.ext.is_some() && !owned.is_empty()).then_some(owned);
                        self.decoded_utf8.reset();
                        self.streamed = 0;
                        self.in_place = h.fin
                            && (available - used) as u64 >= h.payload_len
                            && !self.streaming
                            && self.transformed.is_none();
                    }
                    if self.streaming && !self.skipping {
                        return Ok(Some(Item::FrameStart(h)));
                    }
                }
                Event::Payload(p) => {
                    if self.skipping {
                        continue;
                    }
                    if let (Some(rsv), Some(ext)) = (self.transformed, self.ext.as_mut()) {
                        // Decoded output: appended to the message, or (streaming) replacing the
                        // previous chunk; the limit applies to the decoded size.
                        if self.msg.capacity() == 0
                            && let Some(pool) = &self.pool
                        {
                            self.msg = pool.take(0);
                        }
                        let keep = if self.streaming { 0 } else { self.msg_len };
                        self.msg.truncate(keep);
                        // The limit is on the decoded message; streamed, on what was handed out so far.
                        let limit = if self.streaming {
                            self.max_message.saturating_sub(self.streamed)
                        } else {
                            self.max_message
                        };
                        ext.decode(rsv, p, false, &mut self.msg, limit)?;
                        if self.last_opcode == Some(OpCode::Text) {
                            self.decoded_utf8.feed(&self.msg[keep..])?;
                        }
                        self.msg_len = self.msg.len();
                        if self.streaming && self.msg_len > 0 {
                            self.streamed += self.msg_len;
                            return Ok(Some(Item::Chunk {
                                start: 0,
                                len: self.msg_len,
                                decoded: true,
                            }));
                        }
                        continue;
                    }
                    if self.streaming {
                        return Ok(Some(Item::Chunk {
                            start: at,
                            len: used,
                            decoded: false,
                        }));
                    }
                    if self.in_place {
                        self.loc = MsgLoc::InPlace {
                            start: at,
                            len: used,
                        };
                    } else {
                        // Append (amortised growth within the bound); grows only with bytes that
                        // arrived.
                        if self.msg.capacity() == 0
                            && let Some(pool) = &self.pool
                        {
                            self.msg = pool.take(0);
                        }
                        self.msg.truncate(self.msg_len);
                        let need = self.msg_len + p.len();
                        let bound = message_capacity_bound(need, self.max_message);
                        reserve_message(&mut self.msg, need, bound);
                        self.msg.extend_from_slice(p);
                        self.msg_len = self.msg.len();
                    }
                }
                Event::FrameEnd { fin } => {
                    if !fin {
                        continue;
                    }
                    if self.skipping {
                        self.skipping = false;
                        self.transformed = None;
                        continue;
                    }
                    if let (Some(rsv), Some(ext)) = (self.transformed.take(), self.ext.as_mut()) {
                        let keep = if self.streaming { 0 } else { self.msg_len };
                        self.msg.truncate(keep);
                        // The limit is on the decoded message; streamed, on what was handed out so far.
                        let limit = if self.streaming {
                            self.max_message.saturating_sub(self.streamed)
                        } else {
                            self.max_message
                        };
                        ext.decode(rsv, &[], true, &mut self.msg, limit)?;
                        if self.last_opcode == Some(OpCode::Text) {
                            self.decoded_utf8.feed(&self.msg[keep..])?;
                            self.decoded_utf8.finish()?;
                        }
                        self.msg_len = self.msg.len();
                        if self.streaming && self.msg_len > 0 {
                            self.end_pending = true;
                            return Ok(Some(Item::Chunk {
                                start: 0,
                                len: self.msg_len,
                                decoded: true,
                            }));
                        }
                    }
                    if self.streaming {
                        return Ok(Some(Item::MessageEnd));
                    }
                    // The decoder knew the opcode; it is Text or Binary.
                    let op = self.last_opcode.take().unwrap_or(OpCode::Binary);
                    return Ok(Some(Item::Message(op)));
                }
                // A control frame is decoded whole: its payload is the last bytes it consumed.
                Event::Ping(p) => {
                    self.ctrl = (at + used - p.len(), p.len());
                    return Ok(Some(Item::Ping));
                }
                Event::Pong(p) => {
                    self.ctrl = (at + used - p.len(), p.len());
                    return Ok(Some(Item::Pong));
                }
                Event::Close(body) => {
                    let code = body.map(|c| c.code);
                    let reason = body.map_or(&[][..], |c| c.reason.as_bytes());
                    self.ctrl = (at + used - reason.len(), reason.len());
                    return Ok(Some(Item::Close(code)));
                }
            }
        }
    }

    /// A streaming chunk's bytes.
    pub(crate) fn chunk(&self, start: usize, len: usize, decoded: bool) -> &[u8] {
        if decoded {
            &self.msg[start..start + len]
        } else {
            &self.rbuf[start..start + len]
        }
    }

    /// The payload of the last message.
    pub(crate) fn message(&self) -> &[u8] {
        match self.loc {
            MsgLoc::Assembled => &self.msg[..self.msg_len],
            MsgLoc::InPlace { start, len } => &self.rbuf[start..start + len],
        }
    }

    /// The payload of the last ping or pong, or the reason of the last close.
    pub(crate) fn control(&self) -> &[u8] {
        let (start, len) = self.ctrl;
        &self.rbuf[start..start + len]
    }

    /// Drops the rest of the message in progress, if one is: its remaining frames are decoded and
    /// discarded (control frames between them are still reported).
    pub(crate) fn abandon_message(&mut self) {
        if self.decoder.message().is_some() {
            self.skipping = true;
        }
        self.streaming = false;
    }
}

/// The largest control frame: 2-byte header, 4-byte key, 125-byte payload.
const MAX_CONTROL: usize = 2 + 4 + 125;
/// The smallest write buffer [`Config::write_buffer_size`] may set.
const MIN_WRITE_BUFFER: usize = 512;

#[derive(Debug)]
pub(crate) struct WriteCore {
    role: Role,
    /// Masking keys, for a client only (a server does not mask): boxed, so a server connection
    /// does not carry 256 unused bytes.
    keys: Option<Box<MaskKeys>>,
    pool: Option<BufferPool>,
    /// A control frame waiting to be written: `pending[pos..len]`.
    pending: [u8; MAX_CONTROL],
    pending_len: usize,
    pending_pos: usize,
    /// The write queue: whole frames encoded but not written yet, `wbuf[wpos..]`. Messages fed
    /// without a flush land here, and so does every client frame (its payload is copied to be
    /// masked).
    wbuf: Vec<u8>,
    wpos: usize,
    /// [`Config::write_buffer_size`]: the queue is written out before it would grow past this.
    write_buffer: usize,
    /// Our close frame was queued (nothing but control frames may follow, and no second close).
    pub(crate) close_sent: bool,
    /// A streamed message is in progress: the next frame is a continuation.
    pub(crate) streaming: bool,
    /// A write was abandoned mid-frame (a cancelled future): the stream is corrupt.
    pub(crate) poisoned: bool,
    /// The negotiated extension's sending half, and its output buffer.
    pub(crate) ext: Option<Box<dyn MessageEncoder>>,
    pub(crate) xbuf: Vec<u8>,
    /// Whole messages larger than this go out in several frames.
    pub(crate) max_send_frame: usize,
}

impl WriteCore {
    pub(crate) fn new(role: Role, config: &Config) -> WriteCore {
        WriteCore {
            role,
            keys: role.masks_outgoing().then(|| Box::new(MaskKeys::new())),
            pool: config.pool.clone(),
            pending: [0; MAX_CONTROL],
            pending_len: 0,
            pending_pos: 0,
            wbuf: Vec::new(),
            wpos: 0,
            write_buffer: config.write_buffer_size.max(MIN_WRITE_BUFFER),
            close_sent: false,
            streaming: false,
            poisoned: false,
            ext: None,
            xbuf: Vec::new(),
            max_send_frame: config.max_send_frame_size.max(1),
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// A fresh masking key for a client frame, none for a server frame.
    pub(crate) fn mask(&mut self) -> Option<[u8; 4]> {
        self.keys.as_mut().map(|k| k.next())
    }

    /// Encodes a data frame header (`rsv` for extensions) into `out`; returns its length.
    pub(crate) fn header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: Rsv,
        len: usize,
        out: &mut [u8; Header::MAX_LEN],
    ) -> (usize, Option<[u8; 4]>) {
        let mask = self.mask();
        let h = Header {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len as u64,
        };
        // 14 bytes always suffice.
        let n = h.encode(out).unwrap_or(0);
        (n, mask)
    }

    /// Appends a whole frame (header, then the payload, masked for a client) to the write queue.
    pub(crate) fn queue_frame(&mut self, opcode: OpCode, fin: bool, rsv: Rsv, payload: &[u8]) {
        let mut h = [0u8; Header::MAX_LEN];
        let (n, mask) = self.header(opcode, fin, rsv, payload.len(), &mut h);
        if self.wbuf.capacity() == 0 {
            self.wbuf = pool::take(self.pool.as_ref(), 0);
        }
        let at = self.wbuf.len();
        self.wbuf.extend_from_slice(&h[..n]);
        self.wbuf.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.wbuf[at + n..], key, 0);
        }
    }

    /// The protocol half of writing one data frame: checks it may be written now (RFC 6455 §5.4:
    /// continuations only inside a message, a new message only after the last one ended), then
    /// either encodes its header into `head` and returns its length (the caller writes the queue,
    /// the header and `payload` with one vectored write: no copy), or appends the whole frame to
    /// the queue and returns `None` (the caller writes the queue when `flush` is set or
    /// [`queue_full`](Self::queue_full)).
    pub(crate) fn start_frame(
        &mut self,
        frame: (OpCode, bool, Rsv),
        payload: &[u8],
        flush: bool,
        head: &mut [u8; Header::MAX_LEN],
    ) -> Result<Option<usize>, crate::Error> {
        let (opcode, fin, rsv) = frame;
        self.check_writable()?;
        if opcode == OpCode::Continuation && !self.streaming {
            return Err(crate::Error::InvalidInput(crate::Misuse::NoMessage));
        }
        if opcode.is_control() || (opcode != OpCode::Continuation && self.streaming) {
            return Err(crate::Error::InvalidInput(crate::Misuse::UnfinishedMessage));
        }
        if self.write_direct(payload.len(), flush) {
            let (n, _) = self.header(opcode, fin, rsv, payload.len(), head);
            Ok(Some(n))
        } else {
            self.queue_frame(opcode, fin, rsv, payload);
            Ok(None)
        }
    }

    /// Whether a server frame of `len` payload bytes should be written straight from the caller's
    /// buffer (with the queue in front, one vectored write) rather than copied into the queue:
    /// when it is flushed at once anyway, or does not fit in what is left of the write buffer.
    /// Client frames are always copied (the payload must be masked).
    fn write_direct(&self, len: usize, flush: bool) -> bool {
        self.role == Role::Server
            && (flush
                || len + Header::MAX_LEN > self.write_buffer.saturating_sub(self.queued().len()))
    }

    /// Whether the queue reached the write buffer size and must be written now.
    pub(crate) fn queue_full(&self) -> bool {
        self.queued().len() >= self.write_buffer
    }

    /// The queued bytes not written yet.
    pub(crate) fn queued(&self) -> &[u8] {
        &self.wbuf[self.wpos..]
    }

    /// Whether anything (queued frames or a control reply) waits to be written.
    pub(crate) fn has_output(&self) -> bool {
        self.wpos < self.wbuf.len() || self.has_pending()
    }

    /// Records that `n` bytes were written from the front of (queue, pending control reply, then
    /// the caller's frame); returns how many of them belong to the caller's frame.
    pub(crate) fn advance_output(&mut self, n: usize) -> usize {
        let q = n.min(self.wbuf.len() - self.wpos);
        self.wpos += q;
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        let n = n - q;
        let p = n.min(self.pending_len - self.pending_pos);
        self.advance_pending(p);
        n - p
    }

    /// Called when everything was written: the write buffer goes back to the pool, or is freed if
    /// a large frame grew it past [`BufferPool::DEFAULT_MAX_BUFFER`].
    pub(crate) fn written(&mut self) {
        if self.has_output() {
            return;
        }
        if self.pool.is_some() {
            self.release();
        } else if self.wbuf.capacity() > BufferPool::DEFAULT_MAX_BUFFER.max(self.write_buffer) {
            self.wbuf = Vec::new();
        }
    }

    /// Splits a whole message into frames of at most `max_send_frame` bytes: calls `send` with
    /// (opcode, fin, rsv, chunk) for each, continuation frames after the first, the extension's RSV
    /// bits on the first only (RFC 6455 §5.4, RFC 7692 §6.1). Sets `streaming` between frames so
    /// the frame checks accept the continuations.
    pub(crate) fn split_message(
        &mut self,
        opcode: OpCode,
        rsv: Rsv,
        len: usize,
    ) -> impl Iterator<Item = (OpCode, bool, Rsv, std::ops::Range<usize>)> + use<> {
        let max = self.max_send_frame;
        let frames = len.div_ceil(max).max(1);
        (0..frames).map(move |i| {
            let start = i * max;
            let end = (start + max).min(len);
            let (op, r) = if i == 0 {
                (opcode, rsv)
            } else {
                (OpCode::Continuation, Rsv::NONE)
            };
            (op, i + 1 == frames, r, start..end)
        })
    }

    /// Whether a frame may be written now.
    pub(crate) fn check_writable(&self) -> Result<(), crate::Error> {
        if self.close_sent {
            return Err(crate::Error::Closed);
        }
        if self.poisoned {
            return Err(crate::Error::InvalidInput(crate::Misuse::Poisoned));
        }
        Ok(())
    }

    /// Starts a whole message: checks it may be sent and runs the extension's encoder. Returns the
    /// RSV bits and the encoded payload (`None`: send `payload` as it is) in `xbuf`, which the
    /// caller takes with `std::mem::take` and gives back after writing.
    pub(crate) fn begin_message(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<Option<Rsv>, crate::Error> {
        self.check_writable()?;
        if self.streaming {
            return Err(crate::Error::InvalidInput(crate::Misuse::UnfinishedMessage));
        }
        self.xbuf.clear();
        match self.ext.as_mut() {
            Some(ext) => ext
                .encode(opcode, payload, &mut self.xbuf)
                .map_err(crate::Error::Extension),
            None => Ok(None),
        }
    }

    /// Gives the write buffer back to the pool, unless frames are queued in it.
    pub(crate) fn release(&mut self) {
        if self.wpos < self.wbuf.len() {
            return;
        }
        if let Some(pool) = &self.pool {
            pool.give(std::mem::take(&mut self.wbuf));
        }
    }

    /// Queues a control frame. If one is already pending and not started, a newer pong replaces an
    /// older one (RFC 6455 §5.5.3 allows answering only the latest ping); otherwise the caller must
    /// flush first (`has_pending`).
    pub(crate) fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        debug_assert!(payload.len() <= 125 && !self.has_pending());
        let mask = self.mask();
        let n =
            zerows_frame::encode_frame(&mut self.pending, opcode, true, mask, payload).unwrap_or(0);
        self.pending_len = n;
        self.pending_pos = 0;
        if opcode == OpCode::Close {
            self.close_sent = true;
        }
    }

    /// Queues a close frame with `code` and `reason` (cut to 123 bytes), or an empty one.
    pub(crate) fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let mut body = [0u8; 125];
        let n = match code {
            Some(code) => CloseFrame::new(code, reason).encode(&mut body).unwrap_or(0),
            None => 0,
        };
        self.queue_control(OpCode::Close, &body[..n]);
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending_pos < self.pending_len
    }

    /// The pending control bytes not written yet.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.pending[self.pending_pos..self.pending_len]
    }

    /// Records that `n` pending bytes were written.
    pub(crate) fn advance_pending(&mut self, n: usize) {
        self.pending_pos = (self.pending_pos + n).min(self.pending_len);
        if self.pending_pos == self.pending_len {
            self.pending_pos = 0;
            self.pending_len = 0;
        }
    }
}
