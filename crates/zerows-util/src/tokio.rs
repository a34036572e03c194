//! Connections over tokio's `AsyncRead + AsyncWrite`, on the same sans-IO core as the blocking ones.
//!
//! # Cancel safety
//!
//! [`AsyncWebSocket::read`] (and [`AsyncReadHalf::read`]) are cancel-safe: they can be a branch of
//! `tokio::select!` and be dropped at any `.await` without losing data. Bytes move into the
//! connection's buffers in the same poll that reads them; an item whose control reply (a pong, the
//! close echo) was still being written when the future was dropped is kept, and the next `read`
//! finishes the reply and returns it.
//!
//! Writes are not cancel-safe, as with any byte stream: dropping a send future in the middle of a
//! frame leaves a partial frame on the wire. The connection notices and refuses further writes
//! ([`Error::InvalidInput`] with [`Misuse::Poisoned`]). Control replies are queued whole before they
//! are written, so a cancelled read never leaves half a pong.

use std::io::{self, IoSlice};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::Mutex;
use zerows_frame::{CloseCode, CloseFrame, Header, OpCode, Role, Rsv};

use crate::config::Config;
use crate::error::{Error, Misuse};
use crate::extension::{Extension, Fail};
use crate::message::{Message, PreparedMessage};
use crate::proto::{Item, ReadCore, WriteCore};

const HANDSHAKE_BUF: usize = 8 << 10;
/// The first read of an idle pooled connection goes to a buffer this small, held in the task's
/// future while it waits (so an idle task stays small); a pooled buffer is taken once bytes arrive.
const STACK_READ: usize = 256;

/// The writing side: stream and write core (shared behind a lock by split halves).
#[derive(Debug)]
struct Writer<W> {
    io: W,
    core: WriteCore,
    pooled: bool,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes the queue, the pending control reply and then `head` + `payload` (a frame from the
    /// caller's buffers; both may be empty) with vectored writes, then flushes the stream. The
    /// queue's and the reply's progress is recorded in the core as bytes go out, so a cancelled
    /// flush leaves no frame half-sent: the rest goes out with the next write.
    async fn write_out(&mut self, head: &[u8], payload: &[u8]) -> Result<(), Error> {
        let mut done = 0;
        let total = head.len() + payload.len();
        while self.core.has_output() || done < total {
            let n = {
                let h = head.get(done..).unwrap_or(&[]);
                let p = &payload[done.saturating_sub(head.len())..];
                let bufs = [
                    IoSlice::new(self.core.queued()),
                    IoSlice::new(self.core.pending()),
                    IoSlice::new(h),
                    IoSlice::new(p),
                ];
                self.io.write_vectored(&bufs).await?
            };
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            done += self.core.advance_output(n);
        }
        self.core.written();
        self.io.flush().await?;
        Ok(())
    }

    /// Writes everything queued: fed frames, then the pending control reply.
    async fn flush_all(&mut self) -> Result<(), Error> {
        if !self.core.has_output() {
            return Ok(());
        }
        self.write_out(&[], &[]).await
    }

    async fn control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.core.check_writable()?;
        if payload.len() > 125 {
            return Err(Error::InvalidInput(Misuse::ControlTooLong));
        }
        if self.core.has_pending() {
            self.flush_all().await?;
        }
        self.core.queue_control(opcode, payload);
        self.flush_all().await
    }

    /// Writes or queues one frame; see the blocking twin in `sync.rs`.
    async fn frame(
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
                self.write_out(&h[..n], payload).await?;
                self.core.poisoned = false;
            }
            None if flush || self.core.queue_full() => self.flush_all().await?,
            None => {}
        }
        Ok(())
    }

    /// Writes (or with `flush` false, queues) a whole data message, through the extension's
    /// encoder if one was negotiated, in frames of at most [`Config::max_send_frame_size`] bytes.
    async fn message(&mut self, opcode: OpCode, payload: &[u8], flush: bool) -> Result<(), Error> {
        let rsv = self.core.begin_message(opcode, payload)?;
        let encoded = std::mem::take(&mut self.core.xbuf);
        let r = match rsv {
            Some(rsv) => self.frames(opcode, rsv, &encoded, flush).await,
            None => self.frames(opcode, Rsv::NONE, payload, flush).await,
        };
        self.core.xbuf = encoded;
        r
    }

    /// Writes `payload` as one message in as many frames as [`Config::max_send_frame_size`] needs.
    async fn frames(
        &mut self,
        opcode: OpCode,
        rsv: Rsv,
        payload: &[u8],
        flush: bool,
    ) -> Result<(), Error> {
        let mut result = Ok(());
        for (op, fin, r, range) in self.core.split_message(opcode, rsv, payload.len()) {
            self.core.streaming = op == OpCode::Continuation;
            result = self.frame(op, fin, r, &payload[range], flush).await;
            if result.is_err() {
                break;
            }
        }
        self.core.streaming = false;
        result
    }

    async fn prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        if self.core.role() == Role::Client {
            return self
                .frame(msg.opcode(), true, Rsv::NONE, msg.payload(), true)
                .await;
        }
        self.core.check_writable()?;
        self.core.poisoned = true;
        self.write_out(&[], msg.server_frame()).await?;
        self.core.poisoned = false;
        Ok(())
    }
}

/// What the read loop needs from the writing side.
trait Link {
    type R: AsyncRead + Unpin;
    fn read_io(&mut self) -> &mut Self::R;
    /// Queues a control reply (synchronously, whole) on the writer.
    async fn queue(&mut self, f: impl FnOnce(&mut WriteCore) + Send);
    /// Writes the pending control reply, if any (with what was queued before it); with `fed`, a
    /// whole connection also writes its fed messages (a read half leaves them to the write half).
    async fn flush(&mut self, fed: bool) -> Result<(), Error>;
    /// Shuts the write direction down.
    async fn shutdown(&mut self);
}

/// A whole connection: one stream for both directions.
struct Whole<'a, S>(&'a mut Writer<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> Link for Whole<'_, S> {
    type R = S;
    fn read_io(&mut self) -> &mut S {
        &mut self.0.io
    }
    async fn queue(&mut self, f: impl FnOnce(&mut WriteCore) + Send) {
        f(&mut self.0.core)
    }
    async fn flush(&mut self, fed: bool) -> Result<(), Error> {
        if fed || self.0.core.has_pending() {
            self.0.flush_all().await?;
        }
        Ok(())
    }
    async fn shutdown(&mut self) {
        let _ = self.0.io.shutdown().await;
    }
}

/// A read half: its own read stream and the shared writer.
#[derive(Debug)]
struct Shared<S> {
    io: ReadHalf<S>,
    writer: Arc<Mutex<Writer<WriteHalf<S>>>>,
}

impl<S: AsyncRead + AsyncWrite> Link for Shared<S> {
    type R = ReadHalf<S>;
    fn read_io(&mut self) -> &mut ReadHalf<S> {
        &mut self.io
    }
    async fn queue(&mut self, f: impl FnOnce(&mut WriteCore) + Send) {
        f(&mut self.writer.lock().await.core)
    }
    async fn flush(&mut self, _fed: bool) -> Result<(), Error> {
        // Only in front of a control reply: the write half flushes its own fed messages.
        let mut w = self.writer.lock().await;
        if w.core.has_pending() {
            w.flush_all().await?;
        }
        Ok(())
    }
    async fn shutdown(&mut self) {
        let _ = self.writer.lock().await.io.shutdown().await;
    }
}

/// The reading side's state.
#[derive(Debug)]
struct Reader {
    core: ReadCore,
    /// [`Config::auto_pong`] and [`Config::close_timeout`] (the only settings the loop reads; not
    /// the whole `Config`, which would add 120 bytes to every connection).
    auto_pong: bool,
    close_timeout: std::time::Duration,
    done: bool,
    /// An item produced but not yet returned, because its reply was not queued yet.
    ready: Option<Item>,
}

impl Reader {
    async fn next<L: Link>(&mut self, link: &mut L) -> Result<Item, Error> {
        loop {
            if let Some(item) = self.ready {
                // Queue the reply whole (cancel here: nothing queued, the item stays ready).
                match item {
                    Item::Ping if self.auto_pong => {
                        let ping = self.core.control();
                        link.queue(move |w| {
                            if !w.close_sent && !w.has_pending() {
                                w.queue_control(OpCode::Pong, ping);
                            }
                        })
                        .await;
                    }
                    Item::Close(code) => {
                        link.queue(move |w| {
                            if !w.close_sent && !w.has_pending() {
                                w.queue_close(code, "");
                            }
                        })
                        .await;
                    }
                    _ => {}
                }
                self.ready = None;
                // Write it (cancel here: the queued bytes are written by the next read or write).
                link.flush(false).await?;
                if let Item::Close(_) = item {
                    link.shutdown().await;
                }
                return Ok(item);
            }
            if self.done {
                return Err(Error::Closed);
            }
            match self.core.process() {
                Err(e) => return Err(Box::pin(self.fail(link, e)).await),
                Ok(Some(item)) => {
                    if let Item::Close(_) = item {
                        self.done = true;
                    }
                    self.ready = Some(item);
                }
                Ok(None) => self.fill(link).await?,
            }
        }
    }

    async fn fill<L: Link>(&mut self, link: &mut L) -> Result<(), Error> {
        // Write what was fed, and finish a reply a cancelled read left queued.
        link.flush(true).await?;
        self.core.release_if_idle();
        let n = if self.core.pooled() && !self.core.holds_buffer() && self.core.is_idle() {
            let mut stack = [0u8; STACK_READ];
            let n = link.read_io().read(&mut stack).await?;
            self.core.push_bytes(&stack[..n]);
            n
        } else {
            let target = self.core.read_target();
            let n = link.read_io().read(target).await?;
            if let Err(e) = self.core.filled(n) {
                return Err(Box::pin(self.fail(link, e)).await);
            }
            n
        };
        if n == 0 {
            self.done = true;
            return Err(Error::AbnormalClosure);
        }
        Ok(())
    }

    /// Fails the connection: close frame with the error's code, shutdown, bounded drain. Callers
    /// box this future (an error path, with a 1 KiB drain buffer), so every read future, and every
    /// idle connection's task, stays small.
    async fn fail<L: Link>(&mut self, link: &mut L, e: impl Into<Fail>) -> Error {
        let e: Fail = e.into();
        if !self.done {
            self.done = true;
            let _ = tokio::time::timeout(self.close_timeout, async {
                let _ = link.flush(true).await;
                link.queue(move |w| {
                    if !w.close_sent && !w.has_pending() {
                        w.queue_close(Some(e.close_code()), e.reason());
                    }
                })
                .await;
                let _ = link.flush(true).await;
                link.shutdown().await;
                let mut scratch = [0u8; 1024];
                while let Ok(n) = link.read_io().read(&mut scratch).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        e.into_error()
    }

    async fn read_into<L: Link>(
        &mut self,
        link: &mut L,
        buf: &mut Vec<u8>,
    ) -> Result<OpCode, Error> {
        loop {
            match self.next(link).await? {
                Item::Message(op) => {
                    buf.clear();
                    buf.extend_from_slice(self.core.message());
                    return Ok(op);
                }
                Item::Close(_) => return Err(Error::Closed),
                _ => {}
            }
        }
    }
}

fn check_data(opcode: OpCode) -> Result<(), Error> {
    if matches!(opcode, OpCode::Text | OpCode::Binary) {
        Ok(())
    } else {
        Err(Error::InvalidInput(Misuse::NotData))
    }
}

/// A WebSocket connection over an async stream; the async twin of [`WebSocket`](crate::WebSocket).
///
/// # Cancel safety
///
/// [`AsyncWebSocket::read`] (and [`AsyncReadHalf::read`]) are cancel-safe: they can be a branch of
/// `tokio::select!` and be dropped at any `.await` without losing data. Bytes move into the
/// connection's buffers in the same poll that reads them; an item whose control reply (a pong, the
/// close echo) was still being written when the future was dropped is kept, and the next `read`
/// finishes the reply and returns it.
///
/// Writes are not cancel-safe, as with any byte stream: dropping a send future in the middle of a
/// frame leaves a partial frame on the wire. The connection notices and refuses further writes
/// ([`Error::InvalidInput`] with [`Misuse::Poisoned`]). Control replies are queued whole before they
/// are written, so a cancelled read never leaves half a pong.
///
/// ```no_run
/// use tokio::net::TcpListener;
/// use zerows_util::{AsyncWebSocket, Config, Error};
///
/// # async fn run() -> Result<(), Error> {
/// let listener = TcpListener::bind("127.0.0.1:9001").await?;
/// let (stream, _) = listener.accept().await?;
/// let mut ws = AsyncWebSocket::accept(stream, Config::default()).await?;
/// let mut buf = Vec::new();
/// while let Ok(op) = ws.read_into(&mut buf).await {
///     ws.send_message(op, &buf).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncWebSocket<S> {
    reader: Reader,
    writer: Writer<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWebSocket<S> {
    /// Wraps a stream on which the handshake is already done; `leftover` are bytes read past it.
    pub fn from_raw(io: S, role: Role, leftover: &[u8], config: Config) -> AsyncWebSocket<S> {
        let config = config.for_role(role);
        AsyncWebSocket {
            reader: Reader {
                core: ReadCore::new(&config, leftover),
                auto_pong: config.auto_pong,
                close_timeout: config.close_timeout,
                done: false,
                ready: None,
            },
            writer: Writer {
                io,
                core: WriteCore::new(role, &config),
                pooled: config.pool.is_some(),
            },
        }
    }

    /// Accepts a WebSocket upgrade on `stream` (no hooks): reads the request head into a stack
    /// buffer, validates it and writes the response with the zero-allocation sans-IO upgrader.
    /// With the `deflate` feature and [`Config::deflate`] set, negotiates permessage-deflate.
    pub async fn accept(stream: S, config: Config) -> Result<AsyncWebSocket<S>, Error> {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = config.deflate {
            use zerows_upgrade::server::{NoHooks, Upgrader};
            let mut upgrader =
                Upgrader::with_hooks(crate::deflate::DeflateHooks::new(NoHooks, deflate));
            let mut ws = Self::accept_with(stream, &mut upgrader, config).await?;
            if let Some(agreed) = upgrader.hooks_mut().take_agreed() {
                ws.set_extension(agreed.extension(Role::Server));
            }
            return Ok(ws);
        }
        Self::accept_with(stream, &mut zerows_upgrade::server::Upgrader::new(), config).await
    }

    /// Accepts a WebSocket upgrade with an [`Upgrader`](zerows_upgrade::server::Upgrader).
    pub async fn accept_with<H: zerows_upgrade::server::Hooks>(
        mut stream: S,
        upgrader: &mut zerows_upgrade::server::Upgrader<H>,
        config: Config,
    ) -> Result<AsyncWebSocket<S>, Error> {
        // Taken from the pool (or allocated) rather than on the stack: a buffer in an async fn lives
        // in the task for its whole life, handshake or not.
        let pool = config.pool.clone();
        let mut space = crate::pool::take(pool.as_ref(), HANDSHAKE_BUF + 2048);
        let result = Self::accept_in(&mut stream, upgrader, &mut space)
            .await
            .map(|(consumed, filled)| {
                AsyncWebSocket::from_raw(stream, Role::Server, &space[consumed..filled], config)
            });
        if let Some(pool) = pool {
            pool.give(space);
        }
        result
    }

    /// The handshake loop of [`accept_with`](Self::accept_with) over `space` (request, then
    /// response); returns where the head ended and how much was read.
    async fn accept_in<H: zerows_upgrade::server::Hooks>(
        stream: &mut S,
        upgrader: &mut zerows_upgrade::server::Upgrader<H>,
        space: &mut [u8],
    ) -> Result<(usize, usize), Error> {
        let (buf, out) = space.split_at_mut(HANDSHAKE_BUF);
        let mut filled = 0;
        loop {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            filled += n;
            match upgrader.upgrade(&buf[..filled], out) {
                zerows_upgrade::Status::Partial if filled < buf.len() => continue,
                zerows_upgrade::Status::Partial => {
                    return Err(Error::Handshake(zerows_upgrade::Error::HeadTooLarge));
                }
                zerows_upgrade::Status::Complete(up) => {
                    stream.write_all(&out[..up.written]).await?;
                    if let Err(e) = up.result {
                        return Err(Error::Handshake(e));
                    }
                    return Ok((up.consumed, filled));
                }
            }
        }
    }

    /// Performs the client handshake for `request` on `stream`.
    pub async fn connect(
        mut stream: S,
        request: &zerows_upgrade::client::ClientRequest<'_>,
        config: Config,
    ) -> Result<AsyncWebSocket<S>, Error> {
        let mut buf = [0u8; HANDSHAKE_BUF];
        let offer = crate::extension::ClientOffer::new(&config);
        let request = &offer.request(request);
        let n = request.write(&mut buf).map_err(Error::Handshake)?;
        stream.write_all(&buf[..n]).await?;
        let mut filled = 0;
        loop {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            filled += n;
            match request
                .parse_response(&buf[..filled])
                .map_err(Error::Handshake)?
            {
                zerows_upgrade::Status::Partial if filled < buf.len() => continue,
                zerows_upgrade::Status::Partial => {
                    return Err(Error::Handshake(zerows_upgrade::Error::HeadTooLarge));
                }
                zerows_upgrade::Status::Complete((negotiated, head)) => {
                    let ext = offer.accept(&negotiated)?;
                    let leftover = &buf[head..filled];
                    let mut ws = AsyncWebSocket::from_raw(stream, Role::Client, leftover, config);
                    if let Some(ext) = ext {
                        ws.set_extension(ext);
                    }
                    return Ok(ws);
                }
            }
        }
    }

    /// Installs a negotiated [`Extension`]; see
    /// [`WebSocket::set_extension`](crate::WebSocket::set_extension).
    pub fn set_extension(&mut self, ext: Extension) {
        let Extension {
            rsv,
            decoder,
            encoder,
        } = ext;
        self.reader.core.set_extension(rsv, decoder);
        self.writer.core.ext = Some(encoder);
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.writer.io
    }

    /// Reads the next message or control frame; cancel-safe (see [`AsyncWebSocket`]).
    pub async fn read(&mut self) -> Result<Message<'_>, Error> {
        let item = self.reader.next(&mut Whole(&mut self.writer)).await?;
        Ok(crate::sync::view(&self.reader.core, item))
    }

    /// Reads like [`read`](Self::read), pinging the peer when the connection has been quiet for the
    /// keepalive interval and failing with [`Error::Io`] (`TimedOut`, after sending close 1001) when
    /// it stays silent past the timeout. Cancel-safe like `read`.
    pub async fn read_keepalive(
        &mut self,
        ka: &mut crate::Keepalive,
    ) -> Result<Message<'_>, Error> {
        use crate::KeepaliveAction;
        let item = loop {
            match ka.poll(std::time::Instant::now()) {
                KeepaliveAction::Ping(p) => self.writer.control(OpCode::Ping, &p).await?,
                KeepaliveAction::TimedOut => {
                    if !self.writer.core.close_sent {
                        let _ = self.writer.flush_all().await;
                        self.writer
                            .core
                            .queue_close(Some(CloseCode::GOING_AWAY), "keepalive timeout");
                        let _ = self.writer.flush_all().await;
                    }
                    let _ = self.writer.io.shutdown().await;
                    self.reader.done = true;
                    return Err(Error::Io(io::ErrorKind::TimedOut.into()));
                }
                KeepaliveAction::Wait => {}
            }
            let deadline = tokio::time::Instant::from_std(ka.deadline());
            let mut link = Whole(&mut self.writer);
            // Dropping the read at the deadline is fine: it is cancel-safe.
            if let Ok(r) = tokio::time::timeout_at(deadline, self.reader.next(&mut link)).await {
                let item = r?;
                ka.on_activity(std::time::Instant::now());
                break item;
            }
        };
        Ok(crate::sync::view(&self.reader.core, item))
    }

    /// Reads the next data message into `buf`; see [`WebSocket::read_into`](crate::WebSocket::read_into).
    pub async fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<OpCode, Error> {
        self.reader
            .read_into(&mut Whole(&mut self.writer), buf)
            .await
    }

    /// Sends a data message (`Text` or `Binary`) as one frame, after anything fed before it.
    pub async fn send_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.writer.message(opcode, payload, true).await
    }

    /// Queues a data message without writing it; see
    /// [`WebSocket::feed_message`](crate::WebSocket::feed_message). Fed messages are written by
    /// [`flush`](Self::flush), a `send_*`, a control frame, or a read that has to wait for input.
    pub async fn feed_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.writer.message(opcode, payload, false).await
    }

    /// Writes every fed message (and a pending control reply) and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush_all().await?;
        self.writer.io.flush().await?;
        Ok(())
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.writer
            .message(OpCode::Text, text.as_bytes(), true)
            .await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.writer.message(OpCode::Binary, data, true).await
    }

    /// Sends a ping (at most 125 bytes).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.writer.control(OpCode::Ping, payload).await
    }

    /// Sends an unsolicited pong.
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.writer.control(OpCode::Pong, payload).await
    }

    /// Writes a prepared message.
    pub async fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.writer.prepared(msg).await
    }

    /// Starts the close handshake and waits (at most `close_timeout`) for the peer's close frame,
    /// discarding data that arrives meanwhile; then shuts the stream down.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.writer.core.close_sent {
            return Err(Error::Closed);
        }
        let frame = CloseFrame::new(code, reason);
        self.writer.flush_all().await?;
        self.writer.core.queue_close(Some(frame.code), frame.reason);
        self.writer.flush_all().await?;
        let r = if self.reader.done {
            Ok(())
        } else {
            let timeout = self.reader.close_timeout;
            let reader = &mut self.reader;
            let mut link = Whole(&mut self.writer);
            match tokio::time::timeout(timeout, async {
                loop {
                    match reader.next(&mut link).await {
                        Ok(Item::Close(_)) => return Ok(()),
                        Ok(_) => {}
                        Err(e) => return Err(e),
                    }
                }
            })
            .await
            {
                Ok(r) => r,
                Err(_) => Err(Error::Io(io::ErrorKind::TimedOut.into())),
            }
        };
        self.reader.done = true;
        let _ = self.writer.io.shutdown().await;
        r
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWebSocket<S> {
    /// Splits the connection into halves for two tasks (with `tokio::io::split`). The read half's
    /// control replies go through the write half's lock, so they never interleave with a frame.
    pub fn split(self) -> (AsyncReadHalf<S>, AsyncWriteHalf<S>) {
        let AsyncWebSocket { reader, writer } = self;
        let Writer { io, core, pooled } = writer;
        let (r, w) = tokio::io::split(io);
        let writer = Arc::new(Mutex::new(Writer {
            io: w,
            core,
            pooled,
        }));
        (
            AsyncReadHalf {
                reader,
                link: Shared {
                    io: r,
                    writer: Arc::clone(&writer),
                },
            },
            AsyncWriteHalf { writer },
        )
    }
}

/// The reading half of a split [`AsyncWebSocket`]; `read` is cancel-safe.
#[derive(Debug)]
pub struct AsyncReadHalf<S> {
    reader: Reader,
    link: Shared<S>,
}

impl<S: AsyncRead + AsyncWrite> AsyncReadHalf<S> {
    /// Reads the next message; see [`AsyncWebSocket::read`].
    pub async fn read(&mut self) -> Result<Message<'_>, Error> {
        let item = self.reader.next(&mut self.link).await?;
        Ok(crate::sync::view(&self.reader.core, item))
    }

    /// Reads the next data message into `buf`.
    pub async fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<OpCode, Error> {
        self.reader.read_into(&mut self.link, buf).await
    }
}

/// The writing half of a split [`AsyncWebSocket`]; clone it to write from several tasks.
#[derive(Debug)]
pub struct AsyncWriteHalf<S> {
    writer: Arc<Mutex<Writer<WriteHalf<S>>>>,
}

impl<S> Clone for AsyncWriteHalf<S> {
    fn clone(&self) -> Self {
        AsyncWriteHalf {
            writer: Arc::clone(&self.writer),
        }
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWriteHalf<S> {
    /// Sends a data message (`Text` or `Binary`) as one frame, after anything fed before it.
    pub async fn send_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.writer
            .lock()
            .await
            .message(opcode, payload, true)
            .await
    }

    /// Queues a data message; see [`AsyncWebSocket::feed_message`]. The read half does not flush
    /// what the write half fed (it only writes it out in front of a control reply), so end a burst
    /// with [`flush`](Self::flush) or a `send_*`.
    pub async fn feed_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        check_data(opcode)?;
        self.writer
            .lock()
            .await
            .message(opcode, payload, false)
            .await
    }

    /// Writes every fed message and flushes the stream.
    pub async fn flush(&self) -> Result<(), Error> {
        let mut w = self.writer.lock().await;
        w.flush_all().await?;
        w.io.flush().await?;
        Ok(())
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_message(OpCode::Text, text.as_bytes()).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send_message(OpCode::Binary, data).await
    }

    /// Sends a ping.
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.writer
            .lock()
            .await
            .control(OpCode::Ping, payload)
            .await
    }

    /// Writes a prepared message.
    pub async fn send_prepared(&self, msg: &PreparedMessage) -> Result<(), Error> {
        self.writer.lock().await.prepared(msg).await
    }

    /// Sends our close frame; the read half completes the handshake when the peer's arrives.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let mut w = self.writer.lock().await;
        if w.core.close_sent {
            return Err(Error::Closed);
        }
        let frame = CloseFrame::new(code, reason);
        w.flush_all().await?;
        w.core.queue_close(Some(frame.code), frame.reason);
        w.flush_all().await
    }

    /// Whether our close frame has been sent.
    pub async fn is_closed(&self) -> bool {
        self.writer.lock().await.core.close_sent
    }
}
