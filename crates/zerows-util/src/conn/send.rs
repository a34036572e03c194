//! The sending side: commands in, bytes to write out.
//!
//! Output is, in order: the write queue (whole frames encoded but not written: fed messages, every
//! client frame, compressed messages), the control slot (the one pending pong or close), and a
//! frame written straight from the caller's buffer (a server message sent at once, or too large to
//! copy). A driver writes [`Sender::output`] and reports [`Sender::advance`]; nothing else moves.

// Control frames are at most 131 bytes and headers 14: the `as u8` casts below are exact.
#![allow(clippy::cast_possible_truncation)]

use std::io::IoSlice;
use std::sync::Arc;

use bytes::Bytes;

use zerows_frame::{CloseCode, CloseFrame, Header, OpCode, Role, Rsv, apply_mask};

use crate::config::Config;
use crate::error::{Error, Misuse};
use crate::extension::MessageEncoder;
use crate::keys::MaskKeys;
use crate::message::PreparedMessage;
use crate::pool::BufferPool;

/// The largest control frame: 2-byte header, 4-byte key, 125-byte payload.
const MAX_CONTROL: usize = 2 + 4 + 125;
/// The smallest write buffer [`Config::write_buffer_size`] may set.
const MIN_WRITE_BUFFER: usize = 512;

/// Where the close handshake stands on the sending side (RFC 6455 §7.1.2, §7.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseState {
    /// Data may be sent.
    Open,
    /// Our close frame is queued or written; no data may follow (RFC 6455 §5.5.1).
    CloseSent,
    /// The close handshake is over, or we failed the connection: once the output is written, the
    /// transport's write side is shut down (RFC 6455 §7.1.1), once.
    Finished { shut: bool },
}

/// Where a frame written without copying takes its payload from.
#[derive(Clone, Debug)]
enum Source {
    /// The caller's buffer, by address and length: the driver passes it to every
    /// [`Sender::output`] call until the frame is written, and `output` refuses any other.
    /// Abandoned with its call.
    Caller { addr: usize, len: usize },
    /// Bytes the sender holds (a message given to a `Sink`): written by whichever call writes
    /// next, never abandoned; copied into the queue ("spilled") when anything else must go out
    /// behind it.
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    Owned(Bytes),
}

/// A frame (or a message's run of frames) written from a payload that is not copied: the
/// caller's buffer or bytes the sender holds.
#[derive(Clone, Debug)]
struct Borrowed {
    source: Source,
    /// The current frame: `head[..head_len]`, then `payload[at..end]`; `sent` of its bytes written.
    head: [u8; Header::MAX_LEN],
    head_len: u8,
    at: usize,
    end: usize,
    sent: usize,
    /// The opcode and RSV bits of the first frame, and whether the last frame ends the message.
    opcode: OpCode,
    rsv: Rsv,
    fin: bool,
    /// A pre-encoded frame (a prepared message): written as it is, no header of ours.
    raw: bool,
}

impl Borrowed {
    fn frame_len(&self) -> usize {
        self.head_len as usize + self.end - self.at
    }

    /// The payload's length.
    fn len(&self) -> usize {
        match &self.source {
            Source::Caller { len, .. } => *len,
            Source::Owned(bytes) => bytes.len(),
        }
    }

    /// The payload: the bytes held, or `caller` if it is the buffer this frame was started with.
    fn payload<'a>(&'a self, caller: &'a [u8]) -> Option<&'a [u8]> {
        match &self.source {
            Source::Owned(bytes) => Some(bytes),
            Source::Caller { addr, len }
                if *addr == caller.as_ptr() as usize && *len == caller.len() =>
            {
                Some(caller)
            }
            Source::Caller { .. } => None,
        }
    }

    /// What is left to write of the current frame: header, then payload.
    fn rest<'a>(&'a self, payload: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        let head = &self.head[..self.head_len as usize];
        let hs = self.sent.min(head.len());
        let ps = self.sent.saturating_sub(head.len());
        (&head[hs..], &payload[self.at + ps..self.end])
    }

    /// What is left to write of it: the current frame's header and every payload byte not
    /// written (later frames' headers not counted).
    fn remaining(&self) -> usize {
        let head = usize::from(self.head_len);
        head.saturating_sub(self.sent) + self.len() - (self.at + self.sent.saturating_sub(head))
    }

    fn is_owned(&self) -> bool {
        matches!(self.source, Source::Owned(_))
    }
}

#[derive(Debug)]
pub(crate) struct Sender {
    role: Role,
    /// Masking keys, for a client only (a server does not mask): boxed, so a server connection
    /// does not carry 256 unused bytes.
    keys: Option<Box<MaskKeys>>,
    /// The settings (shared with the receiving side and the driver): pool, sizes.
    config: Arc<Config>,
    /// The write queue: `queue[qpos..]`.
    queue: Vec<u8>,
    qpos: usize,
    /// The control slot: `control[cpos..clen]`; a slot being written goes out before the queue.
    control: [u8; MAX_CONTROL],
    clen: u8,
    cpos: u8,
    /// Whether the slot holds a pong (a newer pong may replace it, RFC 6455 §5.5.3).
    control_is_pong: bool,
    borrowed: Option<Borrowed>,
    /// A streamed message is open: the next frame is a continuation (RFC 6455 §5.4).
    open_message: bool,
    /// The last command asked for its output to be written before it returns.
    flush: bool,
    /// A write stopped in the middle of a caller's frame (a cancelled future): the stream is
    /// corrupt and nothing more is written.
    poisoned: bool,
    pub(crate) close: CloseState,
    /// The negotiated extension's sending half and its output buffer, boxed: connections without
    /// one pay a pointer.
    ext: Option<Box<Encoding>>,
}

#[derive(Debug)]
struct Encoding {
    encoder: Box<dyn MessageEncoder>,
    out: Vec<u8>,
}

impl Sender {
    pub(crate) fn new(role: Role, config: &Arc<Config>) -> Sender {
        Sender::new_with_keys(role, config, None)
    }

    /// `new`, with the key generator of an earlier sender (a client's; made if missing).
    fn new_with_keys(role: Role, config: &Arc<Config>, keys: Option<Box<MaskKeys>>) -> Sender {
        Sender {
            role,
            keys: role
                .masks_outgoing()
                .then(|| keys.unwrap_or_else(|| Box::new(MaskKeys::new()))),
            config: Arc::clone(config),
            queue: Vec::new(),
            qpos: 0,
            control: [0; MAX_CONTROL],
            clen: 0,
            cpos: 0,
            control_is_pong: false,
            borrowed: None,
            open_message: false,
            flush: false,
            poisoned: false,
            close: CloseState::Open,
            ext: None,
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn set_encoder(&mut self, encoder: Box<dyn MessageEncoder>) {
        self.ext = Some(Box::new(Encoding {
            encoder,
            out: Vec::new(),
        }));
    }

    fn pool(&self) -> Option<&BufferPool> {
        self.config.pool.as_ref()
    }

    /// [`Config::write_buffer_size`], at least 512 bytes.
    fn write_buffer(&self) -> usize {
        self.config.write_buffer_size.max(MIN_WRITE_BUFFER)
    }

    /// [`Config::max_send_frame_size`], at least 1.
    fn max_send_frame(&self) -> usize {
        self.config.max_send_frame_size.max(1)
    }

    // ---- output ---------------------------------------------------------------------------

    /// The bytes to write next, in order, as at most four slices; `caller` is the payload of the
    /// command in progress (ignored when none borrows it).
    pub(crate) fn output<'a>(&'a self, caller: &'a [u8]) -> [IoSlice<'a>; 4] {
        let queue = &self.queue[self.qpos..];
        let control = &self.control[self.cpos as usize..self.clen as usize];
        let (first, second) = if self.cpos > 0 {
            (control, queue)
        } else {
            (queue, control)
        };
        let (head, body) = match &self.borrowed {
            Some(b) => match b.payload(caller) {
                Some(payload) => b.rest(payload),
                None => (&[][..], &[][..]),
            },
            None => (&[][..], &[][..]),
        };
        [
            IoSlice::new(first),
            IoSlice::new(second),
            IoSlice::new(head),
            IoSlice::new(body),
        ]
    }

    /// Whether anything waits to be written (a caller's frame counts until it is written).
    pub(crate) fn has_output(&self) -> bool {
        !self.poisoned
            && (self.qpos < self.queue.len() || self.has_control() || self.borrowed.is_some())
    }

    /// Whether a control frame waits in the slot (a read writes it, and what precedes it, before
    /// it returns the item that caused it).
    pub(crate) fn has_control(&self) -> bool {
        !self.poisoned && self.cpos < self.clen
    }

    /// Whether the command just given must have its output written before it returns: a frame
    /// borrows the caller's buffer, a flush was asked for, or the queue is full.
    pub(crate) fn needs_write(&self) -> bool {
        self.has_output()
            && (self.borrowed.is_some()
                || self.flush
                || self.queue.len() - self.qpos >= self.write_buffer())
    }

    /// Records that `n` bytes of [`output`](Self::output) were written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        if self.cpos > 0 {
            n = self.advance_control(n);
            n = self.advance_queue(n);
        } else {
            n = self.advance_queue(n);
            n = self.advance_control(n);
        }
        if n > 0
            && let Some(b) = &mut self.borrowed
        {
            b.sent += n;
            debug_assert!(b.sent <= b.frame_len());
            if b.sent >= b.frame_len() {
                self.next_borrowed_frame();
            }
        }
        if !self.has_output() {
            self.flush = false;
            self.written();
        }
    }

    fn advance_queue(&mut self, n: usize) -> usize {
        let q = n.min(self.queue.len() - self.qpos);
        self.qpos += q;
        if self.qpos == self.queue.len() {
            self.queue.clear();
            self.qpos = 0;
        }
        n - q
    }

    fn advance_control(&mut self, n: usize) -> usize {
        let c = n.min((self.clen - self.cpos) as usize);
        self.cpos += c as u8;
        if self.cpos == self.clen {
            self.cpos = 0;
            self.clen = 0;
            self.control_is_pong = false;
        }
        n - c
    }

    /// Everything was written: the queue goes back to the pool, or is freed if a large frame grew
    /// it past [`BufferPool::DEFAULT_MAX_BUFFER`].
    fn written(&mut self) {
        if let Some(pool) = self.config.pool.as_ref() {
            if self.queue.capacity() > 0 {
                pool.give(std::mem::take(&mut self.queue));
            }
        } else if self.queue.capacity() > BufferPool::DEFAULT_MAX_BUFFER.max(self.write_buffer()) {
            self.queue = Vec::new();
        }
    }

    /// A command or a read starts while a caller's frame is still pending: the call that passed
    /// its buffer was abandoned (a dropped future). Not started: it is dropped (that message was
    /// not sent). Started: the stream now ends mid-frame, and nothing more can be written.
    fn abandon(&mut self) {
        if self.borrowed.as_ref().is_some_and(Borrowed::is_owned) {
            return;
        }
        if let Some(b) = self.borrowed.take()
            && b.sent > 0
        {
            self.poisoned = true;
        }
    }

    /// Something must go out behind a held (owned) frame: what is left of it moves into the queue,
    /// in order, so that the new output follows it. A server's frames only (a client's are always
    /// queued), so nothing is masked here.
    fn spill(&mut self) {
        let Some(b) = self.borrowed.take_if(|b| b.is_owned()) else {
            return;
        };
        let Source::Owned(bytes) = &b.source else {
            return;
        };
        if self.queue.capacity() == 0 {
            self.queue = crate::pool::take(self.pool(), 0);
        }
        let (head, body) = b.rest(bytes);
        self.queue.extend_from_slice(head);
        crate::copy::extend(&mut self.queue, body);
        if !b.raw && b.end < b.len() {
            self.queue_message(OpCode::Continuation, Rsv::NONE, &bytes[b.end..], b.fin);
        }
    }

    /// Whether a message held by the sender waits to be written, or the queue is full: a `Sink`
    /// writes before it takes the next message.
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    pub(crate) fn backlogged(&self) -> bool {
        self.has_output()
            && (self.borrowed.as_ref().is_some_and(Borrowed::is_owned)
                || self.queue.len() - self.qpos >= self.write_buffer())
    }

    /// Before a read uses the output.
    pub(crate) fn before_read(&mut self) {
        self.abandon();
    }

    // ---- commands ---------------------------------------------------------------------------

    /// Whether data may be written now.
    fn check_writable(&mut self) -> Result<(), Error> {
        self.abandon();
        self.spill();
        if self.poisoned {
            return Err(Error::InvalidInput(Misuse::Poisoned));
        }
        if self.close != CloseState::Open {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// A fresh masking key for a client frame, none for a server frame.
    fn mask(&mut self) -> Option<[u8; 4]> {
        self.keys.as_mut().map(|k| k.next())
    }

    fn header(&mut self, opcode: OpCode, fin: bool, rsv: Rsv, len: usize) -> Header {
        Header {
            fin,
            rsv,
            opcode,
            mask: self.mask(),
            payload_len: len as u64,
        }
    }

    /// Appends a whole frame (masked for a client) to the queue.
    fn queue_frame(&mut self, opcode: OpCode, fin: bool, rsv: Rsv, payload: &[u8]) {
        let h = self.header(opcode, fin, rsv, payload.len());
        if self.queue.capacity() == 0 {
            self.queue = crate::pool::take(self.pool(), 0);
        }
        let mut head = [0u8; Header::MAX_LEN];
        // 14 bytes always suffice.
        let n = h.encode(&mut head).unwrap_or(0);
        let at = self.queue.len();
        self.queue.extend_from_slice(&head[..n]);
        crate::copy::extend(&mut self.queue, payload);
        if let Some(key) = h.mask {
            apply_mask(&mut self.queue[at + n..], key, 0);
        }
    }

    /// Frames of at most `max_send_frame` bytes for a message of `len` bytes: (first, last) of
    /// each. RSV bits on the first only (RFC 6455 §5.4, RFC 7692 §6.1).
    fn frame_end(&self, at: usize, len: usize) -> usize {
        (at + self.max_send_frame()).min(len)
    }

    /// Queues `payload` as frames (copied): the first with `opcode` and `rsv`, continuations after
    /// it, FIN on the last if `fin`.
    fn queue_message(&mut self, opcode: OpCode, rsv: Rsv, payload: &[u8], fin: bool) {
        let mut at = 0;
        loop {
            let end = self.frame_end(at, payload.len());
            let (op, r) = if at == 0 {
                (opcode, rsv)
            } else {
                (OpCode::Continuation, Rsv::NONE)
            };
            self.queue_frame(op, fin && end == payload.len(), r, &payload[at..end]);
            at = end;
            if at == payload.len() {
                return;
            }
        }
    }

    /// Whether a server frame of `len` payload bytes should be written straight from the caller's
    /// buffer rather than copied into the queue: when it is flushed at once anyway, or does not fit
    /// in what is left of the write buffer. Client frames are always copied (to be masked).
    fn direct(&self, len: usize, flush: bool) -> bool {
        self.role == Role::Server
            && (flush
                || len + Header::MAX_LEN
                    > self
                        .write_buffer()
                        .saturating_sub(self.queue.len() - self.qpos))
    }

    /// Starts a run of borrowed frames over `payload[..]` (its first frame); see `queue_message`.
    fn borrow(&mut self, opcode: OpCode, rsv: Rsv, payload: &[u8], raw: bool, fin: bool) {
        let source = Source::Caller {
            addr: payload.as_ptr() as usize,
            len: payload.len(),
        };
        self.borrow_from(source, opcode, rsv, raw, fin);
    }

    /// Starts a run of frames over a payload the sender does not copy.
    fn borrow_from(&mut self, source: Source, opcode: OpCode, rsv: Rsv, raw: bool, fin: bool) {
        let mut b = Borrowed {
            source,
            head: [0; Header::MAX_LEN],
            head_len: 0,
            at: 0,
            end: 0,
            sent: 0,
            opcode,
            rsv,
            fin,
            raw,
        };
        if raw {
            b.end = b.len();
        } else {
            self.frame_header(&mut b, 0);
        }
        self.borrowed = Some(b);
    }

    /// Sets `b` up for the frame that starts at `at` of its payload.
    fn frame_header(&mut self, b: &mut Borrowed, at: usize) {
        let end = self.frame_end(at, b.len());
        let (op, rsv) = if at == 0 {
            (b.opcode, b.rsv)
        } else {
            (OpCode::Continuation, Rsv::NONE)
        };
        let h = self.header(op, b.fin && end == b.len(), rsv, end - at);
        b.head_len = h.encode(&mut b.head).unwrap_or(0) as u8;
        b.at = at;
        b.end = end;
        b.sent = 0;
    }

    /// The borrowed frame was written: the next one of its message, or none.
    fn next_borrowed_frame(&mut self) {
        let Some(mut b) = self.borrowed.take() else {
            return;
        };
        if !b.raw && b.end < b.len() {
            let at = b.end;
            self.frame_header(&mut b, at);
            self.borrowed = Some(b);
        }
    }

    /// A whole data message (`Text` or `Binary`): through the extension's encoder if one was
    /// negotiated, in frames of at most [`Config::max_send_frame_size`]. With `flush`, the output
    /// must be written before the call returns.
    pub(crate) fn message(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        if !self.encoded(opcode, payload, flush)? {
            self.plain(opcode, payload, true, flush);
        }
        Ok(())
    }

    /// A whole data message whose payload the sender keeps (a `Sink`'s): queued as
    /// [`message`](Self::message) does, or, when a server would write it from the caller's
    /// buffer, held without a copy until it is written.
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    pub(crate) fn message_owned(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), Error> {
        if self.encoded(opcode, &payload, false)? {
            return Ok(());
        }
        if self.direct(payload.len(), false) {
            // Moved, not cloned: cloning a `Vec`-backed `Bytes` allocates.
            self.borrow_from(Source::Owned(payload), opcode, Rsv::NONE, false, true);
        } else {
            self.plain(opcode, &payload, true, false);
        }
        Ok(())
    }

    /// A whole data message copied into the queue whatever its size (or through the extension):
    /// for a driver that never writes from the caller's buffer.
    pub(crate) fn message_queued(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if !self.encoded(opcode, payload, false)? {
            self.queue_message(opcode, Rsv::NONE, payload, true);
        }
        Ok(())
    }

    /// A prepared message held by reference to its encoded frame until it is written (a server
    /// without an extension); otherwise as [`message_queued`](Self::message_queued).
    pub(crate) fn prepared_held(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        if self.role == Role::Client || self.ext.is_some() {
            return self.message_queued(msg.opcode(), msg.payload());
        }
        self.check_writable()?;
        if self.open_message {
            return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
        }
        // Behind a frame still held, that frame moved into the queue: output stays in order.
        self.spill();
        self.borrow_from(
            Source::Owned(msg.server_frame().clone()),
            msg.opcode(),
            Rsv::NONE,
            true,
            true,
        );
        Ok(())
    }

    /// How many bytes wait to be written (the queue, a control frame, and what is left of a held
    /// frame).
    pub(crate) fn pending_output(&self) -> usize {
        if self.poisoned {
            return 0;
        }
        let held = self.borrowed.as_ref().map_or(0, Borrowed::remaining);
        (self.queue.len() - self.qpos) + usize::from(self.clen - self.cpos) + held
    }

    /// Checks a data message may be sent, and sends it through the extension's encoder if one
    /// was negotiated and transforms it (then `true`: queued).
    fn encoded(&mut self, opcode: OpCode, payload: &[u8], flush: bool) -> Result<bool, Error> {
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(Error::InvalidInput(Misuse::NotData));
        }
        self.check_writable()?;
        if self.open_message {
            return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
        }
        if let Some(mut ext) = self.ext.take() {
            ext.out.clear();
            let rsv = ext.encoder.encode(opcode, payload, &mut ext.out);
            if let Ok(Some(rsv)) = rsv {
                self.queue_message(opcode, rsv, &ext.out, true);
            }
            self.ext = Some(ext);
            if rsv.map_err(Error::Extension)?.is_some() {
                self.flush |= flush;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Frames `payload` untransformed: from the caller's buffer or copied into the queue.
    fn plain(&mut self, opcode: OpCode, payload: &[u8], fin: bool, flush: bool) {
        if self.direct(payload.len(), flush) {
            self.borrow(opcode, Rsv::NONE, payload, false, fin);
        } else {
            self.queue_message(opcode, Rsv::NONE, payload, fin);
        }
        self.flush |= flush;
    }

    /// One frame of a streamed message (RFC 6455 §5.4): `Text`/`Binary` opens it, `Continuation`
    /// frames follow, `fin` ends it. Streamed frames are not transformed by the extension.
    pub(crate) fn frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        self.check_writable()?;
        match (opcode, self.open_message) {
            (OpCode::Continuation, false) => {
                return Err(Error::InvalidInput(Misuse::NoMessage));
            }
            (OpCode::Text | OpCode::Binary, true) => {
                return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
            }
            (OpCode::Text | OpCode::Binary | OpCode::Continuation, _) => {}
            _ => return Err(Error::InvalidInput(Misuse::NotData)),
        }
        self.plain(opcode, payload, fin, flush);
        self.open_message = !fin;
        Ok(())
    }

    /// A prepared message: its shared server frame as it is; a client re-encodes (it must mask),
    /// and a connection with an extension sends it through its encoder (compressed per
    /// connection, as gorilla does).
    pub(crate) fn prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        if self.role == Role::Client || self.ext.is_some() {
            return self.message(msg.opcode(), msg.payload(), true);
        }
        self.check_writable()?;
        if self.open_message {
            return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
        }
        self.borrow(msg.opcode(), Rsv::NONE, msg.server_frame(), true, true);
        self.flush = true;
        Ok(())
    }

    /// Whether a streamed message may start now (the streaming writer checks before its first
    /// frame, so `message_writer` fails early).
    pub(crate) fn check_stream_start(&mut self, opcode: OpCode) -> Result<(), Error> {
        self.check_writable()?;
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(Error::InvalidInput(Misuse::NotData));
        }
        if self.open_message {
            return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
        }
        Ok(())
    }

    /// The application's close on a write half: our close frame, unless one was sent (RFC 6455
    /// §5.5.1: at most one).
    pub(crate) fn close_command(&mut self, frame: Option<CloseFrame<'_>>) -> Result<(), Error> {
        if self.close_sent() {
            return Err(Error::Closed);
        }
        self.close(frame.map(|f| f.code), frame.map_or("", |f| f.reason), false);
        Ok(())
    }

    /// Asks for everything queued to be written.
    pub(crate) fn request_flush(&mut self) -> Result<(), Error> {
        self.abandon();
        if self.poisoned {
            return Err(Error::InvalidInput(Misuse::Poisoned));
        }
        self.flush = self.has_output();
        Ok(())
    }

    /// Puts a control frame in the slot. A pong replaces an unwritten pong (RFC 6455 §5.5.3 lets an
    /// endpoint answer only the latest ping); anything else moves an unwritten slot into the queue
    /// (keeping the order) or, behind a slot being written, waits in the queue.
    fn put_control(&mut self, opcode: OpCode, payload: &[u8]) {
        // A control frame may go between the frames of a message, not inside one (RFC 6455 §5.4,
        // §5.5): ahead of a held frame not yet started (the slot is written first), behind the
        // rest of one that is.
        if self
            .borrowed
            .as_ref()
            .is_some_and(|b| b.is_owned() && b.sent > 0)
        {
            self.spill();
        }
        let mut frame = [0u8; MAX_CONTROL];
        let mask = self.mask();
        let n = zerows_frame::encode_frame(&mut frame, opcode, true, mask, payload).unwrap_or(0);
        let pong = opcode == OpCode::Pong;
        if self.clen > 0 && self.cpos == 0 && pong && self.control_is_pong {
            // The unwritten pong is dropped: this one answers the latest ping.
            self.clen = 0;
        }
        if self.clen > 0 && self.cpos == 0 {
            let slot = self.control;
            let len = self.clen as usize;
            if self.queue.capacity() == 0 {
                self.queue = crate::pool::take(self.pool(), 0);
            }
            self.queue.extend_from_slice(&slot[..len]);
            self.clen = 0;
        }
        if self.clen == 0 {
            self.control[..n].copy_from_slice(&frame[..n]);
            self.clen = n as u8;
            self.cpos = 0;
            self.control_is_pong = pong;
        } else {
            // Behind the slot being written, in order.
            if self.queue.capacity() == 0 {
                self.queue = crate::pool::take(self.pool(), 0);
            }
            self.queue.extend_from_slice(&frame[..n]);
        }
    }

    /// An application's ping or pong (at most 125 bytes, RFC 6455 §5.5).
    pub(crate) fn control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.check_writable()?;
        if payload.len() > 125 {
            return Err(Error::InvalidInput(Misuse::ControlTooLong));
        }
        self.put_control(opcode, payload);
        self.flush = true;
        Ok(())
    }

    /// The automatic answer to a ping, unless our close frame was sent.
    pub(crate) fn auto_pong(&mut self, payload: &[u8]) {
        self.abandon();
        if self.close == CloseState::Open && !self.poisoned {
            self.put_control(OpCode::Pong, payload);
        }
    }

    /// Queues our close frame, unless one was sent; `finished`: the handshake is over with it (an
    /// echo, or a failure), so the write side shuts down once it is written.
    pub(crate) fn close(&mut self, code: Option<CloseCode>, reason: &str, finished: bool) {
        self.abandon();
        if self.close == CloseState::Open && !self.poisoned {
            let mut body = [0u8; 125];
            let n = match code {
                // The reason is cut to 123 bytes by `CloseFrame::encode`'s caller contract.
                Some(code) => CloseFrame::new(code, reason).encode(&mut body).unwrap_or(0),
                None => 0,
            };
            self.put_control(OpCode::Close, &body[..n]);
            self.open_message = false;
            self.close = CloseState::CloseSent;
        }
        if finished {
            self.finish();
        }
        self.flush = self.has_output();
    }

    /// The close handshake is over (or the connection failed, or timed out).
    pub(crate) fn finish(&mut self) {
        if !matches!(self.close, CloseState::Finished { .. }) {
            self.close = CloseState::Finished { shut: false };
        }
    }

    /// Whether our close frame was queued.
    pub(crate) fn close_sent(&self) -> bool {
        self.close != CloseState::Open
    }

    /// Whether the driver should shut the transport's write side down now.
    pub(crate) fn wants_shutdown(&self) -> bool {
        self.close == CloseState::Finished { shut: false } && !self.has_output()
    }

    /// The driver shut the write side down (or tried: an error there changes nothing).
    pub(crate) fn shutdown_done(&mut self) {
        if let CloseState::Finished { shut } = &mut self.close {
            *shut = true;
        }
    }

    /// As `new` makes it, keeping the mask key generator and the write queue's allocation (or
    /// giving it back to the pool).
    pub(crate) fn reset(&mut self) {
        self.release();
        let keys = self.keys.take();
        let mut queue = std::mem::take(&mut self.queue);
        queue.clear();
        let config = Arc::clone(&self.config);
        *self = Sender::new_with_keys(self.role, &config, keys);
        self.queue = queue;
    }

    /// Nothing to write, no message half sent, still open, no extension state: a fresh `Sender`
    /// would do the same from here.
    pub(crate) fn is_dormant(&self) -> bool {
        !self.has_output()
            && self.borrowed.is_none()
            && !self.open_message
            && !self.poisoned
            && matches!(self.close, CloseState::Open)
            && self.ext.is_none()
    }

    /// Gives the queue back to the pool, unless frames wait in it.
    pub(crate) fn release(&mut self) {
        if self.qpos == self.queue.len()
            && let Some(pool) = self.config.pool.as_ref()
            && self.queue.capacity() > 0
        {
            pool.give(std::mem::take(&mut self.queue));
            self.qpos = 0;
        }
    }
}

/// A message streamed in fragments of a fixed size (the drivers' message writers): bytes are
/// collected up to the fragment size, then go out as one frame through [`Sender::frame`]; the
/// first frame carries the opcode, the rest are continuations, the last one FIN.
#[derive(Debug)]
pub(crate) struct Fragments {
    opcode: OpCode,
    buf: Vec<u8>,
    size: usize,
    started: bool,
}

impl Fragments {
    /// Checks the message may start (so the writer fails at once, not at its first frame).
    pub(crate) fn start(tx: &mut Sender, opcode: OpCode, size: usize) -> Result<Fragments, Error> {
        tx.check_stream_start(opcode)?;
        Ok(Fragments {
            opcode,
            buf: Vec::with_capacity(size.min(64 << 10)),
            size: size.max(1),
            started: false,
        })
    }

    /// Takes what fits of `data` into the next frame; returns how many bytes it took.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let n = (self.size - self.buf.len()).min(data.len());
        crate::copy::extend(&mut self.buf, &data[..n]);
        n
    }

    /// Whether the next frame is full: send it (not the last).
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() == self.size
    }

    /// Queues the buffered bytes as the next frame on `tx` (`fin`: the message's last); the
    /// driver then writes with [`payload`](Self::payload) as the caller's buffer, and calls
    /// [`sent`](Self::sent).
    pub(crate) fn frame(&mut self, tx: &mut Sender, fin: bool) -> Result<(), Error> {
        let op = if self.started {
            OpCode::Continuation
        } else {
            self.opcode
        };
        self.started = true;
        tx.frame(op, fin, &self.buf, fin)
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn sent(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the sender has to write, as the wire would carry it (`caller`: the buffer of
    /// the last command, as a driver passes it).
    fn drain_with(tx: &mut Sender, caller: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        while tx.has_output() {
            let n: usize = tx.output(caller).iter().map(|s| s.len()).sum();
            assert!(n > 0, "output pending but nothing to write");
            for s in tx.output(caller) {
                wire.extend_from_slice(&s);
            }
            tx.advance(n);
        }
        wire
    }

    fn drain(tx: &mut Sender) -> Vec<u8> {
        drain_with(tx, &[])
    }

    fn server() -> Sender {
        Sender::new(Role::Server, &Arc::new(Config::default()))
    }

    fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        zerows_frame::encode_frame_vec(&mut out, opcode, true, None, payload);
        out
    }

    /// A held (owned) frame partly written when a pong is due: the pong waits for the frame's
    /// end (RFC 6455 §5.4: control frames go between frames, never inside one).
    #[test]
    fn a_pong_waits_behind_a_held_frame_that_started() {
        let mut tx = server();
        let big = Bytes::from(vec![5u8; 40_000]);
        tx.message_owned(OpCode::Binary, big.clone()).unwrap();
        tx.advance(100);
        tx.auto_pong(b"p");
        let wire = drain(&mut tx);
        let mut want = frame(OpCode::Binary, &big)[100..].to_vec();
        want.extend(frame(OpCode::Pong, b"p"));
        assert_eq!(wire, want);
    }

    /// A held frame not yet started: the pong goes first, without copying the held message.
    #[test]
    fn a_pong_goes_ahead_of_a_held_frame_not_started() {
        let mut tx = server();
        let big = Bytes::from(vec![5u8; 40_000]);
        tx.message_owned(OpCode::Binary, big.clone()).unwrap();
        tx.auto_pong(b"p");
        assert_eq!(tx.queue.capacity(), 0, "nothing copied");
        let mut want = frame(OpCode::Pong, b"p");
        want.extend(frame(OpCode::Binary, &big));
        assert_eq!(drain(&mut tx), want);
    }

    /// A pong due while an unwritten one waits in the slot replaces it (RFC 6455 §5.5.3: only
    /// the latest ping needs an answer); it used to go into the queue, which is written before
    /// the slot, so the pongs went out in the wrong order.
    #[test]
    fn a_newer_pong_replaces_an_unwritten_one() {
        let mut tx = server();
        tx.auto_pong(b"a");
        tx.auto_pong(b"b");
        assert_eq!(drain(&mut tx), frame(OpCode::Pong, b"b"));
    }

    /// A pong due while one is being written waits behind it: both go out, in order.
    #[test]
    fn a_pong_waits_behind_a_pong_being_written() {
        let mut tx = server();
        tx.auto_pong(b"a");
        tx.advance(1);
        tx.auto_pong(b"b");
        tx.auto_pong(b"c");
        let mut want = frame(OpCode::Pong, b"a")[1..].to_vec();
        want.extend(frame(OpCode::Pong, b"b"));
        want.extend(frame(OpCode::Pong, b"c"));
        assert_eq!(drain(&mut tx), want);
    }

    /// A data message after a held one that has not been written: the held one goes first.
    #[test]
    fn data_after_a_held_message_keeps_the_order() {
        let mut tx = server();
        let big = Bytes::from(vec![5u8; 40_000]);
        tx.message_owned(OpCode::Binary, big.clone()).unwrap();
        tx.advance(7);
        let after = b"after";
        tx.message(OpCode::Text, after, false).unwrap();
        let mut want = frame(OpCode::Binary, &big)[7..].to_vec();
        want.extend(frame(OpCode::Text, after));
        assert_eq!(drain_with(&mut tx, after), want);
    }

    /// A held frame is never abandoned by a read (only a caller's frame is).
    #[test]
    fn a_read_does_not_abandon_a_held_frame() {
        let mut tx = server();
        let big = Bytes::from(vec![1u8; 20_000]);
        tx.message_owned(OpCode::Binary, big.clone()).unwrap();
        tx.before_read();
        assert_eq!(drain(&mut tx), frame(OpCode::Binary, &big));
    }
}
