//! Connections over blocking `std::io` streams.

use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zerows_frame::{CloseCode, CloseFrame, Header, OpCode, Role, Rsv};
use zerows_upgrade::HandshakeError;
use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::server::{Hooks, Upgrader};

use crate::config::Config;
use crate::error::{Error, Misuse};
use crate::extension::{Extension, Fail};
use crate::message::{Message, PreparedMessage};
use crate::proto::{Item, ReadCore, WriteCore};
use crate::transport::Transport;

/// The handshake buffer: the largest request or response head we accept (8 KiB by default limits).
const HANDSHAKE_BUF: usize = 8 << 10;
/// Stack buffer for the first read of an idle pooled connection.
const STACK_READ: usize = 4 << 10;

/// The writing side of a connection: the stream it writes to and the write core. Shared by
/// [`WebSocket`] (which also reads from the same stream) and [`WriteHalf`] (behind a mutex, so the
/// read half's control replies and the application's frames never interleave).
#[derive(Debug)]
pub(crate) struct Writer<W> {
    pub(crate) io: W,
    pub(crate) core: WriteCore,
    pooled: bool,
}

impl<W: Transport> Writer<W> {
    /// Writes the queue, the pending control reply and then `head` + `payload` (a frame from the
    /// caller's buffers; both may be empty) with vectored writes, keeping the queue's and the
    /// reply's progress in the core as bytes go out. Then flushes the stream (a TLS or buffered
    /// transport may hold bytes until then).
    fn write_out(&mut self, head: &[u8], payload: &[u8]) -> Result<(), Error> {
        let mut done = 0;
        let total = head.len() + payload.len();
        while self.core.has_output() || done < total {
            let n = {
                let (h, p) = (
                    head.get(done..).unwrap_or(&[]),
                    &payload[done.saturating_sub(head.len())..],
                );
                let bufs = [
                    IoSlice::new(self.core.queued()),
                    IoSlice::new(self.core.pending()),
                    IoSlice::new(h),
                    IoSlice::new(p),
                ];
                match self.io.write_vectored(&bufs) {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            done += self.core.advance_output(n);
        }
        self.core.written();
        self.io.flush()?;
        Ok(())
    }

    /// Writes everything queued: fed frames, then the pending control reply.
    fn flush_all(&mut self) -> Result<(), Error> {
        if !self.core.has_output() {
            return Ok(());
        }
        self.write_out(&[], &[])
    }

    /// Queues and writes a control frame (after everything queued before it).
    fn control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if self.core.has_pending() {
            self.flush_all()?;
        }
        self.core.queue_control(opcode, payload);
        self.flush_all()
    }

    fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        if self.core.close_sent {
            return Ok(());
        }
        if self.core.has_pending() {
            self.flush_all()?;
        }
        self.core.queue_close(code, reason);
        self.flush_all()
    }

    /// Writes or queues one frame. A server frame that is flushed at once, or does not fit in the
    /// write buffer, goes out straight from `payload` (one vectored write with the queue in
    /// front); otherwise the frame is encoded into the queue, which is written when `flush` is set
    /// or it is full. A client frame is always copied into the queue to be masked.
    fn frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: Rsv,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        let mut h = [0u8; Header::MAX_LEN];
        match self
            .core
            .start_frame((opcode, fin, rsv), payload, flush, &mut h)?
        {
            Some(n) => {
                self.core.poisoned = true;
                self.write_out(&h[..n], payload)?;
                self.core.poisoned = false;
            }
            None if flush || self.core.queue_full() => self.flush_all()?,
            None => {}
        }
        Ok(())
    }

    /// Writes (or with `flush` false, queues) a whole data message, through the extension's
    /// encoder if one was negotiated, in frames of at most [`Config::max_send_frame_size`] bytes.
    fn message(&mut self, opcode: OpCode, payload: &[u8], flush: bool) -> Result<(), Error> {
        let rsv = self.core.begin_message(opcode, payload)?;
        let encoded = std::mem::take(&mut self.core.xbuf);
        let r = match rsv {
            Some(rsv) => self.frames(opcode, rsv, &encoded, flush),
            None => self.frames(opcode, Rsv::NONE, payload, flush),
        };
        self.core.xbuf = encoded;
        r
    }

    /// Writes `payload` as one message in as many frames as [`Config::max_send_frame_size`] needs.
    fn frames(
        &mut self,
        opcode: OpCode,
        rsv: Rsv,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        let mut result = Ok(());
        for (op, fin, r, range) in self.core.split_message(opcode, rsv, payload.len()) {
            self.core.streaming = op == OpCode::Continuation;
            result = self.frame(op, fin, r, &payload[range], flush);
            if result.is_err() {
                break;
            }
        }
        self.core.streaming = false;
        result
    }

    fn prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        if self.core.role() == Role::Client {
            return self.frame(msg.opcode(), true, Rsv::NONE, msg.payload(), true);
        }
        self.core.check_writable()?;
        if self.core.streaming {
            return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
        }
        self.core.poisoned = true;
        self.write_out(&[], msg.server_frame())?;
        self.core.poisoned = false;
        Ok(())
    }
}

/// What the read loop needs from the writing side: the stream to read from and a way to write
/// control replies. Implemented by a whole connection and by a read half.
pub(crate) trait Link {
    type R: Transport;
    type W: Transport;
    fn read_io(&mut self) -> &mut Self::R;
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Writer<Self::W>) -> T) -> T;
    /// Before a read waits for input: writes what was fed on this connection (a whole
    /// connection's own queue; a read half leaves the write half's queue to it).
    fn flush_before_wait(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// A whole connection: reads and writes share one stream.
pub(crate) struct Whole<'a, S>(&'a mut Writer<S>);

impl<S: Transport> Link for Whole<'_, S> {
    type R = S;
    type W = S;
    fn read_io(&mut self) -> &mut S {
        &mut self.0.io
    }
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Writer<S>) -> T) -> T {
        f(self.0)
    }
    fn flush_before_wait(&mut self) -> Result<(), Error> {
        self.0.flush_all()
    }
}

/// The reading side's state.
#[derive(Debug)]
pub(crate) struct Reader {
    core: ReadCore,
    config: Config,
    /// Reading is over: the close handshake completed or the connection failed.
    done: bool,
}

impl Reader {
    fn new(config: &Config, leftover: &[u8]) -> Reader {
        Reader {
            core: ReadCore::new(config, leftover),
            config: config.clone(),
            done: false,
        }
    }

    /// The next item to report, handling control frames and failures.
    fn next<L: Link>(&mut self, link: &mut L) -> Result<Item, Error> {
        loop {
            if self.done {
                return Err(Error::Closed);
            }
            match self.core.process() {
                Err(e) => return Err(self.fail(link, e)),
                Ok(Some(item)) => {
                    if self.on_item(link, item)? {
                        return Ok(item);
                    }
                }
                Ok(None) => self.fill(link)?,
            }
        }
    }

    /// Handles the protocol side of an item; returns whether it is reported.
    fn on_item<L: Link>(&mut self, link: &mut L, item: Item) -> Result<bool, Error> {
        match item {
            Item::Ping if self.config.auto_pong => {
                let ping = self.core.control();
                link.with_writer(|w| {
                    if w.core.close_sent {
                        Ok(())
                    } else {
                        w.control(OpCode::Pong, ping)
                    }
                })?;
            }
            Item::Close(code) => {
                self.done = true;
                // Echo the code (RFC 6455 §5.5.1); a close without a code gets an empty one. Then
                // the server closes the TCP connection first (RFC 6455 §7.1.1).
                link.with_writer(|w| {
                    let r = w.close(code, "");
                    let _ = w.io.shutdown_write();
                    r
                })?;
            }
            _ => {}
        }
        Ok(true)
    }

    /// Reads more bytes into the core.
    fn fill<L: Link>(&mut self, link: &mut L) -> Result<(), Error> {
        link.flush_before_wait()?;
        self.core.release_if_idle();
        let n = if self.core.pooled() && !self.core.holds_buffer() && self.core.is_idle() {
            // Idle pooled connection: wait on a stack buffer, take a pooled one only once bytes
            // are here.
            let mut stack = [0u8; STACK_READ];
            let n = read_retry(link.read_io(), &mut stack)?;
            if n > 0 {
                self.core.push_bytes(&stack[..n]);
            }
            n
        } else {
            let target = self.core.read_target();
            let n = read_retry(link.read_io(), target)?;
            if let Err(e) = self.core.filled(n) {
                return Err(self.fail(link, e));
            }
            n
        };
        if n == 0 {
            self.done = true;
            return Err(Error::AbnormalClosure);
        }
        Ok(())
    }

    /// Fails the connection (RFC 6455 §7.1.7): close frame with the error's code and reason, TCP
    /// write side shut down, then a bounded wait for the peer to close.
    fn fail<L: Link>(&mut self, link: &mut L, e: impl Into<Fail>) -> Error {
        let e = e.into();
        if !self.done {
            self.done = true;
            link.with_writer(|w| {
                let _ = w.close(Some(e.close_code()), e.reason());
                let _ = w.io.shutdown_write();
            });
            drain(link.read_io(), self.config.close_timeout);
        }
        e.into_error()
    }
}

/// Reads and discards until the peer closes or `timeout` passes.
fn drain<R: Transport>(io: &mut R, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut scratch = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero()
            || io
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .is_err()
        {
            break;
        }
        match io.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = io.set_read_timeout(None);
}

/// A WebSocket connection over a blocking stream, after the opening handshake.
///
/// Reads return one [`Message`] at a time (data or control); pings are answered and the close
/// handshake is completed from within [`read`](Self::read) — the only writes a read makes, and only
/// control frames. Writes send whole messages as single frames ([`send`](Self::send)), or stream
/// one in fragments ([`message_writer`](Self::message_writer)). [`split`](Self::split) gives a read
/// half and a write half for two threads.
///
/// ```no_run
/// use std::net::TcpListener;
/// use zerows_util::{Error, WebSocket};
///
/// let listener = TcpListener::bind("127.0.0.1:9001")?;
/// let (stream, _) = listener.accept()?;
/// let mut ws = WebSocket::accept(stream)?;
/// let mut buf = Vec::new();
/// loop {
///     match ws.read_into(&mut buf) {
///         Ok(opcode) => ws.send_message(opcode, &buf)?, // echo
///         Err(Error::Closed) => break,                   // close handshake done
///         Err(e) => return Err(e.into()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    reader: Reader,
    writer: Writer<S>,
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a stream on which the handshake is already done. `leftover` are bytes read past the
    /// handshake (frames the peer sent right behind it); they are decoded first.
    pub fn from_raw(io: S, role: Role, leftover: &[u8], config: Config) -> WebSocket<S> {
        let config = config.for_role(role);
        WebSocket {
            reader: Reader::new(&config, leftover),
            writer: Writer {
                io,
                core: WriteCore::new(role, &config),
                pooled: config.pool.is_some(),
            },
        }
    }

    /// Installs a negotiated [`Extension`] (e.g. permessage-deflate): its RSV bits become legal on
    /// the first frame of a data message, received messages that carry them go through its decoder
    /// (the size limit and the UTF-8 check apply to the decoded bytes), and whole messages sent with
    /// `send_*` go through its encoder. Streamed messages ([`message_writer`](Self::message_writer))
    /// are sent untransformed. Call it before the first read or write.
    pub fn set_extension(&mut self, ext: Extension) {
        let Extension {
            rsv,
            decoder,
            encoder,
        } = ext;
        self.reader.core.set_extension(rsv, decoder);
        self.writer.core.ext = Some(encoder);
    }

    /// Accepts a WebSocket upgrade on `stream` with the default [`Config`] and no hooks.
    pub fn accept(stream: S) -> Result<WebSocket<S>, Error> {
        Self::accept_config(stream, Config::default())
    }

    /// Accepts a WebSocket upgrade with a [`Config`] and no hooks; with the `deflate` feature and
    /// [`Config::deflate`] set, negotiates permessage-deflate.
    pub fn accept_config(stream: S, config: Config) -> Result<WebSocket<S>, Error> {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = config.deflate {
            use zerows_upgrade::server::NoHooks;
            let mut upgrader =
                Upgrader::with_hooks(crate::deflate::DeflateHooks::new(NoHooks, deflate));
            let mut ws = Self::accept_with(stream, &mut upgrader, config)?;
            if let Some(agreed) = upgrader.hooks_mut().take_agreed() {
                ws.set_extension(agreed.extension(Role::Server));
            }
            return Ok(ws);
        }
        Self::accept_with(stream, &mut Upgrader::new(), config)
    }

    /// Accepts a WebSocket upgrade with an [`Upgrader`] (hooks, limits) and a [`Config`]. Nothing is
    /// allocated for the handshake; the rejection response, if any, is written before the error is
    /// returned.
    pub fn accept_with<H: Hooks>(
        mut stream: S,
        upgrader: &mut Upgrader<H>,
        config: Config,
    ) -> Result<WebSocket<S>, Error> {
        let mut buf = [0u8; HANDSHAKE_BUF];
        let up = zerows_upgrade::server::accept(&mut stream, upgrader, &mut buf)
            .map_err(handshake_error)?;
        let leftover = up.leftover();
        Ok(WebSocket::from_raw(stream, Role::Server, leftover, config))
    }

    /// Performs the client handshake for `request` on `stream`.
    pub fn connect(
        mut stream: S,
        request: &ClientRequest<'_>,
        config: Config,
    ) -> Result<WebSocket<S>, Error> {
        let mut buf = [0u8; HANDSHAKE_BUF];
        let offer = crate::extension::ClientOffer::new(&config);
        let request = offer.request(request);
        let hs = zerows_upgrade::client::handshake(&mut stream, &request, &mut buf)
            .map_err(handshake_error)?;
        let ext = offer.accept(hs.negotiated())?;
        let mut ws = WebSocket::from_raw(stream, Role::Client, hs.leftover(), config);
        if let Some(ext) = ext {
            ws.set_extension(ext);
        }
        Ok(ws)
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.writer.io
    }

    /// The stream, mutably. Writing to it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.writer.io
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.reader.config
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.writer.core.role()
    }

    /// Gives the I/O buffers back to the [`BufferPool`](crate::BufferPool), if the connection has
    /// one and holds no partial frame or message. Reads do this themselves before they wait for
    /// data; call it when you wait for readiness yourself.
    pub fn release_buffers(&mut self) {
        self.reader.core.release_if_idle();
        if self.writer.pooled {
            self.writer.core.release();
        }
    }

    /// Reads the next message or control frame. See [`Message`] for what borrows what.
    ///
    /// A protocol violation or exceeded limit sends the matching close frame (1002, 1007, 1009),
    /// waits briefly for the peer to close, and returns [`Error::Protocol`]. After the peer's close
    /// frame (returned as [`Message::Close`], already answered) or an error, reads return
    /// [`Error::Closed`].
    pub fn read(&mut self) -> Result<Message<'_>, Error> {
        let item = self.reader.next(&mut Whole(&mut self.writer))?;
        Ok(view(&self.reader.core, item))
    }

    /// Reads like [`read`](Self::read), pinging the peer when the connection has been quiet for the
    /// keepalive interval and failing with [`Error::Io`] (`TimedOut`, after sending close 1001) when
    /// it stays silent past the timeout. Uses the stream's read timeout to wake up.
    pub fn read_keepalive(&mut self, ka: &mut crate::Keepalive) -> Result<Message<'_>, Error> {
        use crate::KeepaliveAction;
        let item = loop {
            let now = Instant::now();
            match ka.poll(now) {
                KeepaliveAction::Ping(p) => send_control(&mut self.writer, OpCode::Ping, &p)?,
                KeepaliveAction::TimedOut => {
                    let _ = self
                        .writer
                        .close(Some(CloseCode::GOING_AWAY), "keepalive timeout");
                    let _ = self.writer.io.shutdown_write();
                    self.reader.done = true;
                    return Err(Error::Io(io::ErrorKind::TimedOut.into()));
                }
                KeepaliveAction::Wait => {}
            }
            let wait = ka
                .deadline()
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let _ = self.writer.io.set_read_timeout(Some(wait));
            match self.reader.next(&mut Whole(&mut self.writer)) {
                Ok(item) => {
                    ka.on_activity(Instant::now());
                    break item;
                }
                Err(Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    let _ = self.writer.io.set_read_timeout(None);
                    return Err(e);
                }
            }
        };
        let _ = self.writer.io.set_read_timeout(None);
        Ok(view(&self.reader.core, item))
    }

    /// Reads the next data message into `buf` (cleared first) and returns its opcode (`Text` or
    /// `Binary`), handling control frames on the way: the gobwas-style helper for code that wants
    /// to keep the payload while it writes. A close from the peer is answered and returned as
    /// [`Error::Closed`].
    pub fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<OpCode, Error> {
        read_into(&mut self.reader, &mut Whole(&mut self.writer), buf)
    }

    /// Sends a data message (`Text` or `Binary`) as one frame (several past
    /// [`Config::max_send_frame_size`]), after anything fed before it. Text must be UTF-8; this is
    /// not checked here (use [`send_text`](Self::send_text) for a checked `&str`).
    pub fn send_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.writer.message(opcode, payload, true)
    }

    /// Queues a data message without writing it: fed messages go out together, in as few writes
    /// as the [write buffer](Config::write_buffer_size) allows, at the next
    /// [`flush`](Self::flush), `send_*`, control frame, or read that has to wait for input (so a
    /// request/response loop never waits on its own unsent answer). An echo server that feeds each
    /// reply answers a burst of messages with one write. Messages still queued when the connection
    /// is dropped are not sent (the drop does no I/O).
    ///
    /// ```no_run
    /// # use zerows_util::{Error, WebSocket};
    /// # fn echo(mut ws: WebSocket<std::net::TcpStream>) -> Result<(), Error> {
    /// let mut buf = Vec::new();
    /// loop {
    ///     match ws.read_into(&mut buf) {
    ///         Ok(opcode) => ws.feed_message(opcode, &buf)?, // written before the read blocks
    ///         Err(Error::Closed) => return Ok(()),
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn feed_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.writer.message(opcode, payload, false)
    }

    /// Writes every fed message (and a pending control reply) and flushes the stream.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush_all()?;
        self.writer.io.flush()?;
        Ok(())
    }

    /// Sends a text message as one frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.writer.message(OpCode::Text, text.as_bytes(), true)
    }

    /// Sends a binary message as one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.writer.message(OpCode::Binary, data, true)
    }

    /// Sends a message. `Close` starts the close handshake as [`close`](Self::close) does.
    pub fn send(&mut self, msg: Message<'_>) -> Result<(), Error> {
        match msg {
            Message::Text(t) => self.send_text(t),
            Message::Binary(b) => self.send_binary(b),
            Message::Ping(p) => self.ping(p),
            Message::Pong(p) => self.pong(p),
            Message::Close(c) => self.close_with(c),
        }
    }

    /// Sends a ping (payload at most 125 bytes, RFC 6455 §5.5).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        send_control(&mut self.writer, OpCode::Ping, payload)
    }

    /// Sends an unsolicited pong (a heartbeat, RFC 6455 §5.5.3).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        send_control(&mut self.writer, OpCode::Pong, payload)
    }

    /// Writes a prepared message (encoded once, shared between connections).
    pub fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.writer.prepared(msg)
    }

    /// Streams one message in frames of [`Config::fragment_size`] bytes: write to it like any
    /// `io::Write`, then call [`MessageWriter::finish`].
    pub fn message_writer(&mut self, opcode: OpCode) -> Result<MessageWriter<'_, S>, Error> {
        MessageWriter::new(&mut self.writer, opcode, self.reader.config.fragment_size)
    }

    /// Reads the next data message as a stream of payload chunks, without buffering it whole
    /// (gobwas `NextReader`). Control frames before and between its frames are handled as
    /// [`read`](Self::read) handles them (a close ends the stream with [`Error::Closed`]).
    pub fn message_reader(&mut self) -> Result<MessageReader<'_, S>, Error> {
        MessageReader::start(&mut self.reader, LinkRef::Whole(&mut self.writer))
    }

    /// Starts the close handshake with `code` and `reason` (RFC 6455 §7.1.2), then reads until the
    /// peer's close frame (data that arrives meanwhile is discarded) or `close_timeout`, and shuts
    /// the connection down.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.close_with(Some(CloseFrame::new(code, reason)))
    }

    fn close_with(&mut self, frame: Option<CloseFrame<'_>>) -> Result<(), Error> {
        close_handshake(&mut self.reader, &mut Whole(&mut self.writer), frame)
    }
}

fn check_data(opcode: OpCode) -> Result<(), Error> {
    if matches!(opcode, OpCode::Text | OpCode::Binary) {
        Ok(())
    } else {
        Err(Error::InvalidInput(Misuse::NotData))
    }
}

fn send_control<W: Transport>(
    w: &mut Writer<W>,
    opcode: OpCode,
    payload: &[u8],
) -> Result<(), Error> {
    w.core.check_writable()?;
    if payload.len() > 125 {
        return Err(Error::InvalidInput(Misuse::ControlTooLong));
    }
    w.control(opcode, payload)
}

fn read_into<L: Link>(
    reader: &mut Reader,
    link: &mut L,
    buf: &mut Vec<u8>,
) -> Result<OpCode, Error> {
    loop {
        let item = reader.next(link)?;
        match item {
            Item::Message(op) => {
                buf.clear();
                buf.extend_from_slice(reader.core.message());
                return Ok(op);
            }
            Item::Close(_) => return Err(Error::Closed),
            _ => {}
        }
    }
}

fn close_handshake<L: Link>(
    reader: &mut Reader,
    link: &mut L,
    frame: Option<CloseFrame<'_>>,
) -> Result<(), Error> {
    let sent = link.with_writer(|w| {
        if w.core.close_sent {
            return Err(Error::Closed);
        }
        w.close(frame.map(|f| f.code), frame.map_or("", |f| f.reason))
    });
    sent?;
    if reader.done {
        return Ok(());
    }
    let deadline = Instant::now() + reader.config.close_timeout;
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(Error::Io(io::ErrorKind::TimedOut.into()));
        }
        let _ = link.read_io().set_read_timeout(Some(left));
        match reader.next(link) {
            Ok(Item::Close(_)) => break Ok(()),
            Ok(_) => {}
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break Err(Error::Io(io::ErrorKind::TimedOut.into()));
            }
            Err(e) => break Err(e),
        }
    };
    let _ = link.read_io().set_read_timeout(None);
    reader.done = true;
    link.with_writer(|w| {
        let _ = w.io.shutdown_write();
    });
    result
}

/// A stream whose handle can be duplicated, so a connection can be read and written from two
/// threads: `TcpStream` and `UnixStream` (with `try_clone`).
pub trait SplitStream: Transport + Sized {
    /// Two handles to the same stream.
    fn split_stream(self) -> io::Result<(Self, Self)>;
}

impl SplitStream for std::net::TcpStream {
    fn split_stream(self) -> io::Result<(Self, Self)> {
        let other = self.try_clone()?;
        Ok((self, other))
    }
}

#[cfg(unix)]
impl SplitStream for std::os::unix::net::UnixStream {
    fn split_stream(self) -> io::Result<(Self, Self)> {
        let other = self.try_clone()?;
        Ok((self, other))
    }
}

impl<S: SplitStream + Send> WebSocket<S> {
    /// Splits the connection into a read half and a write half for two threads. The read half's
    /// control replies (pongs, the close echo) go through the write half's lock, so they never
    /// interleave with a frame the application is writing.
    pub fn split(self) -> io::Result<(ReadHalf<S>, WriteHalf<S>)> {
        let WebSocket { reader, writer } = self;
        let Writer { io, core, pooled } = writer;
        let (r, w) = io.split_stream()?;
        let shared = Arc::new(Mutex::new(Writer {
            io: w,
            core,
            pooled,
        }));
        Ok((
            ReadHalf {
                reader,
                link: Shared {
                    io: r,
                    writer: Arc::clone(&shared),
                },
            },
            WriteHalf { writer: shared },
        ))
    }
}

/// The read half's link: its own stream handle, and the shared writer for replies.
#[derive(Debug)]
pub(crate) struct Shared<S> {
    io: S,
    writer: Arc<Mutex<Writer<S>>>,
}

impl<S: Transport> Link for Shared<S> {
    type R = S;
    type W = S;
    fn read_io(&mut self) -> &mut S {
        &mut self.io
    }
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Writer<S>) -> T) -> T {
        f(&mut self.writer.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The reading half of a split [`WebSocket`].
#[derive(Debug)]
pub struct ReadHalf<S> {
    reader: Reader,
    link: Shared<S>,
}

impl<S: Transport> ReadHalf<S> {
    /// Reads the next message; see [`WebSocket::read`].
    pub fn read(&mut self) -> Result<Message<'_>, Error> {
        let item = self.reader.next(&mut self.link)?;
        Ok(view(&self.reader.core, item))
    }

    /// Reads the next data message into `buf`; see [`WebSocket::read_into`].
    pub fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<OpCode, Error> {
        read_into(&mut self.reader, &mut self.link, buf)
    }

    /// Streams the next data message; see [`WebSocket::message_reader`].
    pub fn message_reader(&mut self) -> Result<MessageReader<'_, S>, Error> {
        MessageReader::start(&mut self.reader, LinkRef::Shared(&mut self.link))
    }
}

/// The link a [`MessageReader`] reads through: a whole connection or a read half.
#[derive(Debug)]
pub(crate) enum LinkRef<'a, S> {
    Whole(&'a mut Writer<S>),
    Shared(&'a mut Shared<S>),
}

impl<S: Transport> Link for LinkRef<'_, S> {
    type R = S;
    type W = S;
    fn read_io(&mut self) -> &mut S {
        match self {
            LinkRef::Whole(w) => &mut w.io,
            LinkRef::Shared(s) => &mut s.io,
        }
    }
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Writer<S>) -> T) -> T {
        match self {
            LinkRef::Whole(w) => f(w),
            LinkRef::Shared(s) => s.with_writer(f),
        }
    }
    fn flush_before_wait(&mut self) -> Result<(), Error> {
        match self {
            LinkRef::Whole(w) => w.flush_all(),
            LinkRef::Shared(_) => Ok(()),
        }
    }
}

/// The writing half of a split [`WebSocket`]; cheap to share (`&WriteHalf` can send).
#[derive(Debug)]
pub struct WriteHalf<S> {
    writer: Arc<Mutex<Writer<S>>>,
}

impl<S: Transport> WriteHalf<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Writer<S>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a data message (`Text` or `Binary`) as one frame, after anything fed before it.
    pub fn send_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.lock().message(opcode, payload, true)
    }

    /// Queues a data message; see [`WebSocket::feed_message`]. On a split connection the read half
    /// does not flush what the write half fed (it only writes it out in front of a control reply),
    /// so end a burst with [`flush`](Self::flush) or a `send_*`.
    pub fn feed_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.lock().message(opcode, payload, false)
    }

    /// Writes every fed message and flushes the stream.
    pub fn flush(&self) -> Result<(), Error> {
        let mut w = self.lock();
        w.flush_all()?;
        w.io.flush()?;
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_message(OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send_message(OpCode::Binary, data)
    }

    /// Sends a ping.
    pub fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        send_control(&mut self.lock(), OpCode::Ping, payload)
    }

    /// Sends a prepared message.
    pub fn send_prepared(&self, msg: &PreparedMessage) -> Result<(), Error> {
        self.lock().prepared(msg)
    }

    /// Sends our close frame; the read half completes the handshake when the peer's arrives (and
    /// then returns [`Message::Close`]).
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let mut w = self.lock();
        if w.core.close_sent {
            return Err(Error::Closed);
        }
        let frame = CloseFrame::new(code, reason);
        w.close(Some(frame.code), frame.reason)
    }

    /// Whether our close frame has been sent (by us, or by the read half answering the peer's).
    pub fn is_closed(&self) -> bool {
        self.lock().core.close_sent
    }
}

/// Builds the message view of an item.
pub(crate) fn view(core: &ReadCore, item: Item) -> Message<'_> {
    match item {
        Item::Message(OpCode::Text) => {
            // Checked as it arrived (unless validate_utf8 is off); this re-check is what lets the
            // crate hand out &str without unsafe, at SIMD speed.
            match simdutf8::basic::from_utf8(core.message()) {
                Ok(t) => Message::Text(t),
                Err(_) => Message::Binary(core.message()),
            }
        }
        Item::Message(_) => Message::Binary(core.message()),
        Item::Ping => Message::Ping(core.control()),
        Item::Pong => Message::Pong(core.control()),
        Item::Close(code) => Message::Close(code.map(|code| CloseFrame {
            code,
            // The decoder checked the reason is UTF-8.
            reason: std::str::from_utf8(core.control()).unwrap_or(""),
        })),
        // Streaming items never reach here.
        _ => Message::Binary(&[]),
    }
}

fn handshake_error(e: HandshakeError) -> Error {
    match e {
        HandshakeError::Io(e) => Error::Io(e),
        HandshakeError::Protocol(e) => Error::Handshake(e),
        _ => Error::InvalidInput(Misuse::Handshake),
    }
}

fn read_retry<S: Read + ?Sized>(io: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match io.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// `write_all` for vectored writes.
pub(crate) fn write_all_vectored<W: Write + ?Sized>(
    w: &mut W,
    mut bufs: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A message being sent in fragments; see [`WebSocket::message_writer`].
///
/// Bytes are collected up to the fragment size, then sent as one frame; [`finish`](Self::finish)
/// sends the last frame with FIN set. If it is dropped without `finish`, the message stays open and
/// the next message write fails, so always finish.
#[derive(Debug)]
pub struct MessageWriter<'a, S: Transport> {
    writer: &'a mut Writer<S>,
    opcode: OpCode,
    buf: Vec<u8>,
    size: usize,
    started: bool,
}

impl<'a, S: Transport> MessageWriter<'a, S> {
    fn new(writer: &'a mut Writer<S>, opcode: OpCode, size: usize) -> Result<Self, Error> {
        writer.core.check_writable()?;
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(Error::InvalidInput(Misuse::NotData));
        }
        if writer.core.streaming {
            return Err(Error::InvalidInput(Misuse::UnfinishedMessage));
        }
        Ok(MessageWriter {
            writer,
            opcode,
            buf: Vec::with_capacity(size.min(64 << 10)),
            size,
            started: false,
        })
    }

    fn send(&mut self, fin: bool) -> Result<(), Error> {
        let op = if self.started {
            OpCode::Continuation
        } else {
            self.opcode
        };
        let r = self.writer.frame(op, fin, Rsv::NONE, &self.buf, fin);
        self.started = true;
        self.writer.core.streaming = !fin;
        self.buf.clear();
        r
    }

    /// Sends what is buffered as the final frame.
    pub fn finish(mut self) -> Result<(), Error> {
        self.send(true)
    }
}

impl<S: Transport> Write for MessageWriter<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.size - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.size {
            self.send(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A message being received in chunks; see [`WebSocket::message_reader`]. Implements `io::Read`
/// over the payload; text is UTF-8-checked as it arrives. Dropped before the end, the rest of the
/// message is skipped by the next read.
#[derive(Debug)]
pub struct MessageReader<'a, S> {
    reader: &'a mut Reader,
    link: LinkRef<'a, S>,
    opcode: OpCode,
    /// Unread part of the current chunk: (start, len, decoded by the extension).
    chunk: (usize, usize, bool),
    finished: bool,
}

impl<'a, S: Transport> MessageReader<'a, S> {
    fn start(reader: &'a mut Reader, mut link: LinkRef<'a, S>) -> Result<Self, Error> {
        reader.core.streaming = true;
        let opcode = loop {
            match reader.next(&mut link) {
                Ok(Item::FrameStart(h)) if h.opcode != OpCode::Continuation => break h.opcode,
                Ok(Item::Close(_)) => {
                    reader.core.streaming = false;
                    return Err(Error::Closed);
                }
                Ok(_) => {}
                Err(e) => {
                    reader.core.streaming = false;
                    return Err(e);
                }
            }
        };
        Ok(MessageReader {
            reader,
            link,
            opcode,
            chunk: (0, 0, false),
            finished: false,
        })
    }

    /// `Text` or `Binary`.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The next chunk of payload as it arrived, or `None` at the end of the message.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        if self.chunk.1 == 0 && !self.advance()? {
            return Ok(None);
        }
        let (start, len, decoded) = std::mem::take(&mut self.chunk);
        Ok(Some(self.reader.core.chunk(start, len, decoded)))
    }

    /// Moves to the next chunk; false at the end of the message.
    fn advance(&mut self) -> Result<bool, Error> {
        while !self.finished {
            match self.reader.next(&mut self.link)? {
                Item::Chunk {
                    start,
                    len,
                    decoded,
                } => {
                    self.chunk = (start, len, decoded);
                    return Ok(true);
                }
                Item::MessageEnd => {
                    self.finished = true;
                    self.reader.core.streaming = false;
                }
                Item::Close(_) => {
                    self.finished = true;
                    self.reader.core.streaming = false;
                    return Err(Error::Closed);
                }
                _ => {}
            }
        }
        Ok(false)
    }
}

impl<S: Transport> Read for MessageReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.chunk.1 == 0 && !self.advance()? {
            return Ok(0);
        }
        let (start, len, decoded) = self.chunk;
        let n = len.min(out.len());
        out[..n].copy_from_slice(self.reader.core.chunk(start, n, decoded));
        self.chunk = (start + n, len - n, decoded);
        Ok(n)
    }
}

impl<S> Drop for MessageReader<'_, S> {
    fn drop(&mut self) {
        if self.finished {
            self.reader.core.streaming = false;
        } else {
            // The rest of the message is decoded and discarded by the next read.
            self.reader.core.abandon_message();
        }
    }
}
