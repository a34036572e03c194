//! The connection core: one sans-IO state machine that every driver runs unchanged.
//!
//! A [`Connection`] owns everything that is protocol and nothing that is I/O: the read and message
//! buffers and the frame decoder, the write queue and the pending control frame, the close
//! handshake, failing the connection and draining, automatic pong and close replies, the
//! keepalive and close-timeout deadlines, and the negotiated extension. Its fields are private;
//! a driver talks to it through five kinds of calls (as quinn-proto's `Connection` does):
//!
//! | | calls |
//! |---|---|
//! | bytes in | [`read_target`](Connection::read_target) then [`handle_read`](Connection::handle_read)`(n)` (0: end of stream), or [`handle_bytes`](Connection::handle_bytes) for bytes read elsewhere |
//! | time in | [`handle_timeout`](Connection::handle_timeout)`(now)` before waiting when [`timer_armed`](Connection::timer_armed), and when [`poll_timeout`](Connection::poll_timeout) passes |
//! | commands | [`send_message`](Connection::send_message), [`feed_message`](Connection::feed_message), [`send_frame`](Connection::send_frame), [`send_prepared`](Connection::send_prepared), [`ping`](Connection::ping), [`pong`](Connection::pong), [`flush`](Connection::flush), [`close`](Connection::close), [`stream_next_message`](Connection::stream_next_message) |
//! | items out | [`poll_item`](Connection::poll_item) (any reply it obliges is queued before the item comes out), viewed with [`message`](Connection::message), [`control`](Connection::control), [`chunk`](Connection::chunk), [`view`](Connection::view); [`poll_close`](Connection::poll_close) |
//! | bytes out | [`output`](Connection::output) as `IoSlice`s, then [`advance`](Connection::advance)`(written)`; [`needs_write`](Connection::needs_write), [`reply_pending`](Connection::reply_pending), [`wants_shutdown`](Connection::wants_shutdown) then [`shutdown_done`](Connection::shutdown_done) |
//!
//! A driver is a loop: poll for an item; when it is `Pending`, write the output, shut down when
//! asked, then read (with a deadline if one is set) and feed the bytes or the time back. The
//! blocking [`WebSocket`](crate::WebSocket) and the tokio [`AsyncWebSocket`](crate::AsyncWebSocket)
//! are exactly that, and so can be a readiness loop (mio, io_uring) that holds thousands of these.
//!
//! ```
//! use std::sync::Arc;
//! use std::task::Poll;
//! use zerows_util::{Config, Connection, Item, Role};
//!
//! // A client's masked text frame "hi", as if it had just been read from a socket.
//! let wire = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
//! let mut conn = Connection::new(Role::Server, &Arc::new(Config::default()), &[]);
//! let target = conn.read_target();
//! target[..wire.len()].copy_from_slice(&wire);
//! conn.handle_read(wire.len());
//! let item = conn.poll_item();
//! assert!(matches!(item, Poll::Ready(Ok(Item::Message(zerows_util::OpCode::Text)))));
//! assert_eq!(conn.message(), b"hi");
//!
//! // Echo it: the frame is queued; `output` says what to write.
//! conn.feed_message(zerows_util::OpCode::Text, b"hi")?;
//! conn.flush()?;
//! let out: Vec<u8> = conn.output(&[]).iter().flat_map(|s| s.to_vec()).collect();
//! assert_eq!(out, [0x81, 2, b'h', b'i']);
//! conn.advance(out.len());
//! assert!(!conn.has_output());
//! # Ok::<(), zerows_util::Error>(())
//! ```

use std::io::IoSlice;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use zerows_frame::{CloseCode, CloseFrame, OpCode, Role};

use crate::config::Config;
use crate::error::Error;
use crate::extension::Extension;
use crate::message::{Message, PreparedMessage};

mod read;
mod receive;
mod send;

pub use read::{Chunk, Item};
pub(crate) use receive::{ReadPoll, Receiver, Wait};
pub(crate) use send::{Fragments, Sender};

/// The sans-IO WebSocket connection (RFC 6455 §5–§7) after the opening handshake: see the
/// [module docs](self) for the calls and the order a driver makes them in.
#[derive(Debug)]
pub struct Connection {
    rx: Receiver,
    tx: Sender,
}

impl Connection {
    /// A connection in `role` with `config` (shared: many connections may use one, at no cost
    /// per connection); `leftover` are bytes read past the handshake (the peer's first frames),
    /// decoded first.
    pub fn new(role: Role, config: &Arc<Config>, leftover: &[u8]) -> Connection {
        Connection {
            rx: Receiver::new(config, role, leftover),
            tx: Sender::new(role, config),
        }
    }

    pub(crate) fn into_parts(self) -> (Receiver, Sender) {
        (self.rx, self.tx)
    }

    pub(crate) fn from_parts(rx: Receiver, tx: Sender) -> Connection {
        Connection { rx, tx }
    }

    /// The receiver and the sender, for a driver that locks the sender separately.
    pub(crate) fn parts_mut(&mut self) -> (&mut Receiver, &mut Sender) {
        (&mut self.rx, &mut self.tx)
    }

    pub(crate) fn rx(&self) -> &Receiver {
        &self.rx
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.tx.role()
    }

    /// Installs a negotiated [`Extension`]: its RSV bits become legal on a message's first frame,
    /// messages that carry them go through its decoder (the size limit and the UTF-8 check apply to
    /// the decoded bytes), and whole messages sent go through its encoder. Call it before the first
    /// read or write.
    pub fn set_extension(&mut self, ext: Extension) {
        let Extension {
            rsv,
            decoder,
            encoder,
        } = ext;
        self.rx.set_decoder(rsv, decoder);
        self.tx.set_encoder(encoder);
    }

    // ---- bytes and time in ----------------------------------------------------------------

    /// Where the next bytes read from the transport go; then call
    /// [`handle_read`](Self::handle_read) with how many arrived. With a
    /// [`BufferPool`](crate::BufferPool), this takes a buffer from the pool if none is held.
    pub fn read_target(&mut self) -> &mut [u8] {
        self.rx.read_target()
    }

    /// `n` bytes arrived in the last [`read_target`](Self::read_target); `0` is the end of the
    /// stream.
    pub fn handle_read(&mut self, n: usize) {
        self.rx.handle_read(n);
    }

    /// Bytes that were read elsewhere (a small stack buffer while idle, handshake leftovers).
    /// Empty is the end of the stream.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        self.rx.handle_bytes(bytes);
    }

    /// The time is `now`: call it before waiting for input whenever
    /// [`timer_armed`](Self::timer_armed) (it stamps the start of a close or a drain and the
    /// last activity for the keepalive), and when [`poll_timeout`](Self::poll_timeout) has
    /// passed (a keepalive ping is queued, or the wait is over and the next item says so).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.rx.handle_timeout(now);
    }

    /// When the driver must call [`handle_timeout`](Self::handle_timeout) at the latest, if a
    /// timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rx.poll_timeout()
    }

    /// Whether a timer runs (a keepalive, a close or a drain): pass the time before waiting.
    pub fn timer_armed(&self) -> bool {
        self.rx.timer_armed()
    }

    // ---- items out ------------------------------------------------------------------------

    /// The next item: `Ready(Ok(item))`, `Ready(Err(e))` once reading is over (the error that
    /// ended it, then [`Error::Closed`]), or `Pending` when more input (or a deadline) is
    /// needed. A reply the item obliges — a pong, the close echo, our close frame after a
    /// protocol failure — is queued before the item is returned; write it before reporting the
    /// item ([`reply_pending`](Self::reply_pending)).
    pub fn poll_item(&mut self) -> Poll<Result<Item, Error>> {
        self.tx.before_read();
        loop {
            match self.rx.poll() {
                ReadPoll::Item(item) => return Poll::Ready(Ok(item)),
                ReadPoll::Failed(e) => return Poll::Ready(Err(e)),
                ReadPoll::NeedInput => return Poll::Pending,
                ReadPoll::NeedSender => self.rx.settle(&mut self.tx),
            }
        }
    }

    /// Drives the close handshake we started with [`close`](Self::close): `Ready(Ok)` once the
    /// peer's close frame arrived (data arriving meanwhile is dropped) or reading had ended before,
    /// `Ready(Err)` on a timeout or a lost connection, `Pending` while waiting.
    pub fn poll_close(&mut self) -> Poll<Result<(), Error>> {
        loop {
            match self.poll_item() {
                Poll::Ready(step) => {
                    if let Some(done) = Connection::close_step(step) {
                        return Poll::Ready(done);
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The payload of the last [`Item::Message`].
    pub fn message(&self) -> &[u8] {
        self.rx.message()
    }

    /// The payload of the last ping or pong, or the reason of the last close.
    pub fn control(&self) -> &[u8] {
        self.rx.control()
    }

    /// A streamed chunk's bytes.
    pub fn chunk(&self, chunk: Chunk) -> &[u8] {
        self.rx.chunk(chunk)
    }

    /// The [`Message`] view of an item (`Text`, `Binary`, `Ping`, `Pong`, `Close`); streaming items
    /// have none (`None`).
    pub fn view(&self, item: Item) -> Option<Message<'_>> {
        view(&self.rx, item)
    }

    /// The next message is handed out in chunks ([`Item::MessageStart`], [`Item::Chunk`]...,
    /// [`Item::MessageEnd`]) instead of assembled.
    pub fn stream_next_message(&mut self) {
        self.rx.stream_next_message();
    }

    /// Drops the rest of a streamed message: its remaining frames are decoded and discarded.
    pub fn abandon_message(&mut self) {
        self.rx.abandon_message();
    }

    // ---- bytes out ------------------------------------------------------------------------

    /// The bytes to write next, in order (empty slices at the end). `caller` is the payload of
    /// the command in progress when [`needs_write`](Self::needs_write) says it must be written
    /// before the command returns (a server frame written from the caller's buffer, not copied);
    /// pass `&[]` otherwise.
    pub fn output<'a>(&'a self, caller: &'a [u8]) -> [IoSlice<'a>; 4] {
        self.tx.output(caller)
    }

    /// Records that `n` bytes of [`output`](Self::output) were written.
    pub fn advance(&mut self, n: usize) {
        self.tx.advance(n);
    }

    /// Whether anything waits to be written.
    pub fn has_output(&self) -> bool {
        self.tx.has_output()
    }

    /// Whether the last command's output must be written before the command returns (it
    /// borrows the caller's buffer, asked for a flush, or filled the write queue).
    pub fn needs_write(&self) -> bool {
        self.tx.needs_write()
    }

    /// Whether a control reply (a pong, our close frame) waits: a read writes it, with what is
    /// queued before it, before it returns the item.
    pub fn reply_pending(&self) -> bool {
        self.tx.has_control()
    }

    /// Whether the driver should shut the transport's write side down now (the close handshake
    /// ended, or the connection failed, and everything was written). Call
    /// [`shutdown_done`](Self::shutdown_done) after.
    pub fn wants_shutdown(&self) -> bool {
        self.tx.wants_shutdown()
    }

    /// The write side was shut down.
    pub fn shutdown_done(&mut self) {
        self.tx.shutdown_done();
    }

    // ---- commands -------------------------------------------------------------------------

    /// Sends a data message (`Text` or `Binary`) through the extension if one was negotiated, in
    /// frames of at most [`Config::max_send_frame_size`]; written before the call returns
    /// ([`needs_write`](Self::needs_write)). Text must be UTF-8 (not checked here).
    pub fn send_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.tx.message(opcode, payload, true)
    }

    /// Queues a data message: written with the next flush, send, control reply, or before a
    /// read waits for input; or now, if it does not fit in the write queue.
    pub fn feed_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.tx.message(opcode, payload, false)
    }

    /// One frame of a message streamed in fragments (RFC 6455 §5.4): `Text`/`Binary` starts it,
    /// `Continuation` frames follow, `fin` ends it. Not transformed by an extension.
    pub fn send_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        self.tx.frame(opcode, fin, payload, flush)
    }

    /// Queues a data message whatever its size, copied (or encoded through the extension): for a
    /// driver that cannot write before the call returns (a readiness loop), which bounds what it
    /// queues with [`pending_output`](Self::pending_output). Written with the next
    /// [`output`](Self::output).
    pub fn queue_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.tx.message_queued(opcode, payload)
    }

    /// Queues a prepared message without copying it: the connection holds a reference to the
    /// encoded frame until it is written (a server without an extension; otherwise it is encoded
    /// for this connection, as [`queue_message`](Self::queue_message) does). A broadcast to many
    /// connections costs one encoding and no copy per connection.
    pub fn queue_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.tx.prepared_held(msg)
    }

    /// How many bytes wait to be written: the queue, a control frame, and what is left of a held
    /// message (a driver's backpressure measure).
    pub fn pending_output(&self) -> usize {
        self.tx.pending_output()
    }

    /// Gives `f` the view of `item` (as [`view`](Self::view)) together with an [`Outbox`] to queue
    /// replies on this connection while the view is borrowed: an echo without a copy out of the
    /// read buffer.
    pub fn with_view<R>(
        &mut self,
        item: Item,
        f: impl FnOnce(Option<Message<'_>>, &mut Outbox<'_>) -> R,
    ) -> R {
        let mut outbox = Outbox { tx: &mut self.tx };
        f(view(&self.rx, item), &mut outbox)
    }

    /// Sends a prepared message (encoded once, shared between connections; compressed per
    /// connection when an extension was negotiated).
    pub fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.tx.prepared(msg)
    }

    /// Sends a ping (payload at most 125 bytes, RFC 6455 §5.5).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.tx.control(OpCode::Ping, payload)
    }

    /// Sends an unsolicited pong (a heartbeat, RFC 6455 §5.5.3).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.tx.control(OpCode::Pong, payload)
    }

    /// Asks for everything queued to be written.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.tx.request_flush()
    }

    /// Starts the close handshake (RFC 6455 §7.1.2) with `code` and `reason` (cut to 123 bytes):
    /// our close frame is queued; then drive [`poll_close`](Self::poll_close).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.close_frame(Some(CloseFrame::new(code, reason)))
    }

    /// [`close`](Self::close) with an optional body (`None`: an empty close frame).
    pub fn close_frame(&mut self, frame: Option<CloseFrame<'_>>) -> Result<(), Error> {
        self.tx.close_command(frame)?;
        // Wait for the peer's close, unless reading is over already: then the handshake is too.
        if !self.rx.start_closing() {
            self.tx.finish();
        }
        Ok(())
    }

    /// What a whole connection's `close` makes of the next item while it waits for the peer's
    /// close: `Some` when the handshake is over (the peer's close frame, or reading had ended
    /// before), `None` to keep reading.
    pub(crate) fn close_step(step: Result<Item, Error>) -> Option<Result<(), Error>> {
        match step {
            Ok(Item::Close(_)) | Err(Error::Closed) => Some(Ok(())),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Whether our close frame was sent (by us, or as the echo of the peer's).
    pub fn is_closed(&self) -> bool {
        self.tx.close_sent()
    }

    // ---- buffers ----------------------------------------------------------------------------

    /// Whether no bytes wait to be decoded and no frame or message is in progress.
    pub fn is_idle(&self) -> bool {
        self.rx.is_idle()
    }

    /// Whether the connection is at rest: open, no byte waiting to be decoded or written, no frame
    /// or message in progress either way, nothing owed, no keepalive ping out, and no extension
    /// state. A dormant connection is equivalent to `Connection::new` with the same role and
    /// config, given [`resume_keepalive`](Self::resume_keepalive)`(`[`last_heard`](Self::last_heard)`)`:
    /// a readiness driver may drop it and keep only its socket until the next byte arrives (call
    /// [`handle_timeout`](Self::handle_timeout) first when [`timer_armed`](Self::timer_armed), so
    /// that the last activity is stamped).
    pub fn is_dormant(&self) -> bool {
        self.rx.is_dormant() && self.tx.is_dormant()
    }

    /// Brings the connection back to what `Connection::new` with its role and config (and no
    /// leftover) gives, keeping what it allocated (the keepalive timer, a client's key generator,
    /// the write queue) and giving its buffers back to the pool: a readiness driver reuses one
    /// object for the next connection, or to wake a dormant one, without allocating. An
    /// extension is dropped (install the next one with [`set_extension`](Self::set_extension)).
    pub fn reset(&mut self) {
        let role = self.role();
        self.rx.reset(role);
        self.tx.reset();
    }

    /// When the keepalive timer last heard from the peer (`None`: no keepalive, or its timer has
    /// not started).
    pub fn last_heard(&self) -> Option<Instant> {
        self.rx.last_heard()
    }

    /// Starts the keepalive timer as if the peer was last heard from at `at`: for a connection
    /// rebuilt from a driver's resting form. No effect without [`Config::keepalive`].
    pub fn resume_keepalive(&mut self, at: Instant) {
        self.rx.resume_keepalive(at);
    }

    /// Whether the connection takes its buffers from a [`BufferPool`](crate::BufferPool).
    pub fn is_pooled(&self) -> bool {
        self.rx.pooled()
    }

    /// Whether it holds a read buffer now.
    pub fn holds_buffer(&self) -> bool {
        self.rx.holds_buffer()
    }

    /// Gives the buffers back to the pool if the connection is idle and nothing waits to be
    /// written (drivers call it before they wait; a readiness driver calls it for every
    /// connection it parks).
    pub fn release_buffers(&mut self) {
        self.rx.release_if_idle();
        self.tx.release();
    }
}

/// The sending side of a [`Connection`] while an item's view is borrowed
/// ([`Connection::with_view`]): data messages and prepared messages are queued, never written
/// from the caller's buffer.
#[derive(Debug)]
pub struct Outbox<'a> {
    tx: &'a mut Sender,
}

impl Outbox<'_> {
    /// As [`Connection::queue_message`].
    pub fn queue_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.tx.message_queued(opcode, payload)
    }

    /// As [`Connection::queue_prepared`].
    pub fn queue_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.tx.prepared_held(msg)
    }

    /// As [`Connection::pending_output`].
    pub fn pending_output(&self) -> usize {
        self.tx.pending_output()
    }
}

/// A message reader's rule for the next item of a streamed message: `Some(Ok(Some(chunk)))`,
/// `Some(Ok(None))` at its end, `Some(Err(Closed))` if the peer closed instead, `None` for an item
/// in between (a control frame).
pub(crate) fn stream_step(item: Item) -> Option<Result<Option<Chunk>, Error>> {
    match item {
        Item::Chunk(c) => Some(Ok(Some(c))),
        Item::MessageEnd => Some(Ok(None)),
        Item::Close(_) => Some(Err(Error::Closed)),
        _ => None,
    }
}

/// A message reader's rule while it waits for the message to start: its opcode, or
/// [`Error::Closed`] if the peer closed first.
pub(crate) fn stream_start(item: Item) -> Option<Result<OpCode, Error>> {
    match item {
        Item::MessageStart(op) => Some(Ok(op)),
        Item::Close(_) => Some(Err(Error::Closed)),
        _ => None,
    }
}

/// `read_into`'s rule: a data message is copied to `buf`; the peer's close ends reading with
/// [`Error::Closed`]; anything else is skipped (`None`).
pub(crate) fn into_buf(
    rx: &Receiver,
    item: Item,
    buf: &mut Vec<u8>,
) -> Option<Result<OpCode, Error>> {
    match item {
        Item::Message(op) => {
            buf.clear();
            crate::copy::extend(buf, rx.message());
            Some(Ok(op))
        }
        Item::Close(_) => Some(Err(Error::Closed)),
        _ => None,
    }
}

/// Builds the message view of an item.
pub(crate) fn view(rx: &Receiver, item: Item) -> Option<Message<'_>> {
    Some(match item {
        Item::Message(OpCode::Text) => {
            // Checked as it arrived (unless validate_utf8 is off); this re-check is what lets the
            // crate hand out &str without unsafe, at SIMD speed.
            match simdutf8::basic::from_utf8(rx.message()) {
                Ok(t) => Message::Text(t),
                Err(_) => Message::Binary(rx.message()),
            }
        }
        Item::Message(_) => Message::Binary(rx.message()),
        Item::Ping => Message::Ping(rx.control()),
        Item::Pong => Message::Pong(rx.control()),
        Item::Close(code) => Message::Close(code.map(|code| CloseFrame {
            code,
            // The decoder checked the reason is UTF-8.
            reason: std::str::from_utf8(rx.control()).unwrap_or(""),
        })),
        Item::MessageStart(_) | Item::Chunk(_) | Item::MessageEnd => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::KeepaliveConfig;

    /// A masked client frame.
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [9, 8, 7, 6];
        let mut f = vec![0x80 | opcode, 0x80 | u8::try_from(payload.len()).unwrap()];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// Feeds `wire`, echoes every message, and returns the items seen and the bytes written.
    fn echo_script(conn: &mut Connection, wire: &[u8], now: Instant) -> (Vec<String>, Vec<u8>) {
        conn.handle_timeout(now);
        conn.handle_bytes(wire);
        let mut items = Vec::new();
        while let Poll::Ready(item) = conn.poll_item() {
            items.push(format!("{item:?}"));
            match item {
                Ok(Item::Message(op)) => {
                    let payload = conn.message().to_vec();
                    conn.queue_message(op, &payload).unwrap();
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        conn.handle_timeout(now + Duration::from_secs(31));
        let _ = conn.poll_item();
        let mut out = Vec::new();
        while conn.has_output() {
            let chunk: Vec<u8> = conn.output(&[]).iter().flat_map(|s| s.to_vec()).collect();
            conn.advance(chunk.len());
            out.extend(chunk);
        }
        (items, out)
    }

    #[test]
    fn a_reset_connection_behaves_as_a_new_one() {
        let config = Arc::new(Config {
            keepalive: Some(KeepaliveConfig {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(10),
            }),
            ..Config::default()
        });
        let t0 = Instant::now();
        let mut wire = client_frame(0x9, b"ping");
        wire.extend(client_frame(0x1, b"hello"));
        wire.extend(client_frame(0x2, b"\x00\x01"));
        let fresh = echo_script(&mut Connection::new(Role::Server, &config, &[]), &wire, t0);

        // A used connection: half a frame, a keepalive ping out, a close started by us.
        let mut used = Connection::new(Role::Server, &config, &[]);
        used.handle_timeout(t0);
        used.handle_bytes(&client_frame(0x1, b"half")[..4]);
        used.handle_timeout(t0 + Duration::from_secs(31));
        let _ = used.poll_item();
        used.close(CloseCode::NORMAL, "bye").unwrap();
        assert!(!used.is_dormant());
        used.reset();
        assert!(used.is_dormant());
        assert_eq!(echo_script(&mut used, &wire, t0), fresh);
        assert!(!fresh.1.is_empty());
    }
}
