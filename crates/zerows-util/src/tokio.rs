//! The tokio driver: the connection core over `AsyncRead + AsyncWrite`. Reads and writes are
//! poll loops around the core; all state lives in the core, so a future dropped at any point
//! loses nothing that was read and never leaves half a control frame.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Sleep;
use tokio_util::sync::PollSemaphore;
use zerows_frame::{CloseCode, CloseFrame, OpCode, Role};
use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::server::{Hooks, Upgrader};

use crate::config::Config;
use crate::conn::{Connection, Fragments, Item, ReadPoll, Receiver, Sender, Wait};
use crate::error::{Error, ReuniteError};
use crate::extension::Extension;
use crate::handshake::{Agreed, ClientHandshake, HEAD_BUF, RESPONSE_BUF, ServerHandshake, Steps};
use crate::message::{Message, PreparedMessage};

/// Writes everything the sender has (the caller's frame last, from `caller`), flushes, and shuts
/// the write side down if the core asks. Progress is kept in the sender, so this can be polled
/// again after a `Pending` or after its future was dropped.
pub(crate) fn poll_write_out<S: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    io: &mut S,
    tx: &mut Sender,
    caller: &[u8],
) -> Poll<Result<(), Error>> {
    while tx.has_output() {
        let n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &tx.output(caller)))?;
        if n == 0 {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
        }
        tx.advance(n);
    }
    ready!(Pin::new(&mut *io).poll_flush(cx))?;
    if tx.wants_shutdown() {
        let _ = ready!(Pin::new(&mut *io).poll_shutdown(cx));
        tx.shutdown_done();
    }
    Poll::Ready(Ok(()))
}

/// Reads once into the receiver, or waits for its deadline. A connection that is idle takes its
/// read buffer from the pool only for the poll that has bytes: when the read is `Pending` the
/// buffer goes back at once, so a parked connection holds none, and a message that fits in one
/// TCP read costs one read.
fn poll_fill<S: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    rx: &mut Receiver,
    io: &mut S,
    sleep: &mut Option<Pin<Box<Sleep>>>,
) -> Poll<Result<(), Error>> {
    match rx.prepare_wait(Instant::now) {
        Wait::Poll => return Poll::Ready(Ok(())),
        Wait::Until(None) => {}
        Wait::Until(Some(deadline)) => {
            let deadline = tokio::time::Instant::from_std(deadline);
            let s = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if s.deadline() != deadline {
                s.as_mut().reset(deadline);
            }
            if s.as_mut().poll(cx).is_ready() {
                rx.handle_timeout(Instant::now());
                return Poll::Ready(Ok(()));
            }
        }
    }
    let mut buf = ReadBuf::new(rx.read_target());
    match Pin::new(&mut *io).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => {
            let n = buf.filled().len();
            rx.handle_read(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
        Poll::Pending => {
            rx.release_if_idle();
            Poll::Pending
        }
    }
}

/// Runs a handshake's steps over an async stream.
async fn handshake<S, H>(io: &mut S, hs: &mut H) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Steps,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while !hs.is_done() {
        let out = hs.output();
        if !out.is_empty() {
            let n = io.write(out).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            hs.advance(n);
        } else if let Some(target) = hs.read_target() {
            let n = io.read(target).await?;
            hs.handle_read(n)?;
        }
    }
    Ok(io.flush().await?)
}

/// A WebSocket connection over a tokio stream, after the opening handshake: the same API as the
/// blocking [`WebSocket`](crate::WebSocket) (a table in the crate docs), as `async fn`s.
///
/// # Cancel safety
///
/// [`read`](Self::read), [`read_into`](Self::read_into) (and the read half's) are cancel-safe:
/// they can be a branch of `tokio::select!` and be dropped at any `.await` without losing data.
/// Bytes move into the connection's buffers in the poll that reads them, and an item is handed
/// out only after its control reply (a pong, the close echo) was written whole.
///
/// Writes are not cancel-safe, as with any byte stream: dropping a send future in the middle of a
/// frame written from the caller's buffer leaves a partial frame on the wire; the connection
/// notices and refuses further writes ([`Misuse::Poisoned`](crate::Misuse)). Frames in the write
/// queue (fed messages, client frames, control replies) are never cut: what a dropped future did
/// not write goes out with the next write.
///
/// ```no_run
/// use tokio::net::TcpListener;
/// use zerows_util::{AsyncWebSocket, Error};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = TcpListener::bind("127.0.0.1:9001").await?;
/// let (stream, _) = listener.accept().await?;
/// let mut ws = AsyncWebSocket::accept(stream).await?;
/// let mut buf = Vec::new();
/// loop {
///     match ws.read_into(&mut buf).await {
///         Ok(opcode) => ws.feed_message(opcode, &buf).await?, // written before the next wait
///         Err(Error::Closed) => break,
///         Err(e) => return Err(e.into()),
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncWebSocket<S> {
    pub(crate) conn: Connection,
    pub(crate) io: S,
    pub(crate) shared: Box<Shared>,
}

/// What a connection keeps beside its core, boxed (read rarely, so the connection stays small).
#[derive(Debug)]
pub(crate) struct Shared {
    config: Arc<Config>,
    agreed: Option<Arc<Agreed>>,
    /// The timer for the core's deadlines, made the first time one is set.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The `Stream` ended (`FusedStream`).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    pub(crate) done: bool,
    /// The tasks polling this connection through its `Stream` and `Sink` impls (made at the first
    /// such poll: the two ends of `StreamExt::split` are two tasks on one stream).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    wakers: Option<Arc<Wakers>>,
}

impl Shared {
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    pub(crate) fn wakers(&mut self) -> &Arc<Wakers> {
        self.wakers.get_or_insert_with(Arc::default)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWebSocket<S> {
    pub(crate) fn new(
        io: S,
        conn: Connection,
        config: Arc<Config>,
        agreed: Option<Box<Agreed>>,
    ) -> Self {
        AsyncWebSocket {
            conn,
            io,
            shared: Box::new(Shared {
                config,
                agreed: agreed.map(Arc::from),
                sleep: None,
                done: false,
                wakers: None,
            }),
        }
    }

    /// The handshake's buffer, from the pool: a buffer in an async fn would live in the task's
    /// future for the connection's whole life.
    fn handshake_space(len: usize) -> Vec<u8> {
        crate::BufferPool::shared().take(len)
    }

    async fn drive<H: Steps>(io: &mut S, steps: &mut H) -> Result<(), Error> {
        handshake(io, steps).await
    }

    /// The next item, moving bytes as needed; the one read loop of a whole connection (its `async`
    /// methods and its `Stream` impl poll it).
    pub(crate) fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Result<Item, Error>> {
        let (rx, tx) = self.conn.parts_mut();
        // A send whose future was dropped before its frame started is forgotten (one that had
        // started poisons the connection).
        tx.before_read();
        loop {
            // A reply owed by an item is written before the item is handed out.
            if tx.has_control() || tx.wants_shutdown() {
                ready!(poll_write_out(cx, &mut self.io, tx, &[]))?;
            }
            match rx.poll() {
                ReadPoll::Item(item) => return Poll::Ready(Ok(item)),
                ReadPoll::Failed(e) => return Poll::Ready(Err(e)),
                ReadPoll::NeedSender => rx.settle(tx),
                ReadPoll::NeedInput => {
                    // What was fed goes out when the read has to wait: while bytes keep
                    // arriving, replies gather, and a burst is answered with one write.
                    if poll_fill(cx, rx, &mut self.io, &mut self.shared.sleep)?.is_pending() {
                        if tx.has_output() {
                            ready!(poll_write_out(cx, &mut self.io, tx, &[]))?;
                        }
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    async fn next_item(&mut self) -> Result<Item, Error> {
        poll_fn(|cx| self.poll_item(cx)).await
    }

    async fn finish(&mut self, command: Result<(), Error>, caller: &[u8]) -> Result<(), Error> {
        command?;
        if self.conn.needs_write() {
            let (_, tx) = self.conn.parts_mut();
            poll_fn(|cx| poll_write_out(cx, &mut self.io, tx, caller)).await?;
        }
        Ok(())
    }

    connection_api!(async, {.await});

    /// Reads the next data message as a stream of payload chunks, without buffering it whole.
    pub async fn message_reader(&mut self) -> Result<AsyncMessageReader<'_, S>, Error> {
        AsyncMessageReader::start(Source::Whole(self)).await
    }

    /// Streams one message in frames of [`Config::fragment_size`] bytes: `write` to it, then
    /// [`finish`](AsyncMessageWriter::finish).
    pub fn message_writer(&mut self, opcode: OpCode) -> Result<AsyncMessageWriter<'_, S>, Error> {
        let size = self.shared.config.fragment_size;
        AsyncMessageWriter::new(WriterRef::Own(self), opcode, size)
    }

    /// Splits the connection into halves for two tasks (with `tokio::io::split`). The read half's
    /// control replies go through the write half's lock, so they never interleave with a frame.
    pub fn split(self) -> (AsyncReadHalf<S>, AsyncWriteHalf<S>) {
        let AsyncWebSocket { conn, io, shared } = self;
        let (r, w) = tokio::io::split(io);
        let (rx, tx) = conn.into_parts();
        let Shared {
            config,
            agreed,
            sleep,
            ..
        } = *shared;
        let side = Arc::new(WriteSide::new(Writer { io: w, tx }));
        (
            AsyncReadHalf {
                rx,
                io: r,
                permit: side.poll_permit(),
                side: Arc::clone(&side),
                agreed: agreed.clone(),
                sleep,
                reply_owed: false,
                done: false,
            },
            AsyncWriteHalf {
                permit: side.poll_permit(),
                side,
                #[cfg(feature = "futures")]
                pending: None,
                config,
                agreed,
            },
        )
    }
}

/// A split connection's writing side.
#[derive(Debug)]
pub(crate) struct Writer<W> {
    pub(crate) io: W,
    pub(crate) tx: Sender,
}

/// Every task waiting on one stream's readiness. A tokio stream keeps one waker per direction,
/// so when two tasks poll the same stream (a read half writing a pong while a write half's `Sink`
/// waits to write, or the two ends of `StreamExt::split`), the second would silently replace the
/// first and strand it. Polling through this fan-out instead registers every waiting task, and a
/// readiness event wakes them all (each then polls again and re-registers if it still waits).
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    list: std::sync::Mutex<Vec<Waker>>,
}

impl Wakers {
    /// Registers `cx`'s task and returns the waker to poll the stream with.
    pub(crate) fn fan_out(self: &Arc<Self>, cx: &Context<'_>) -> Waker {
        {
            let mut list = self
                .list
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !list.iter().any(|w| w.will_wake(cx.waker())) {
                list.push(cx.waker().clone());
            }
        }
        Waker::from(Arc::clone(self))
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut list = self
            .list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Waking only schedules a task (it never polls it here), so the lock is not re-entered.
        for w in list.drain(..) {
            w.wake();
        }
    }
}

/// The writing side shared by a connection's halves. Writers take turns through a one-permit
/// semaphore, fairly and across `.await`s (a frame written from a caller's buffer must not be
/// interleaved with another); the permit holder then reaches the writer through the mutex, which
/// is never contended and never held across an `.await` (so the futures stay `Send`). Stream and
/// Sink impls wait for the permit with a [`PollSemaphore`], which allocates its waiting future
/// once, the first time a half has to wait, and reuses it.
#[derive(Debug)]
pub(crate) struct WriteSide<W> {
    turn: Arc<Semaphore>,
    writer: std::sync::Mutex<Writer<W>>,
    /// The tasks waiting for the stream to take more bytes (every half writes through here).
    wakers: Arc<Wakers>,
}

impl<W> WriteSide<W> {
    fn new(writer: Writer<W>) -> Self {
        WriteSide {
            turn: Arc::new(Semaphore::new(1)),
            writer: std::sync::Mutex::new(writer),
            wakers: Arc::default(),
        }
    }

    /// A poll-able handle on the turn, for one half.
    fn poll_permit(&self) -> PollSemaphore {
        PollSemaphore::new(Arc::clone(&self.turn))
    }

    /// Waits for our turn to write. The semaphore is never closed.
    async fn turn(&self) -> Result<SemaphorePermit<'_>, Error> {
        self.turn.acquire().await.map_err(|_| Error::Closed)
    }

    /// The writer; for the holder of the turn (or a read of its state).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Writer<W>> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn into_writer(self) -> Writer<W> {
        self.writer
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<W: AsyncWrite + Unpin> WriteSide<W> {
    /// Writes the output (the caller's frame from `caller`) with the writer locked for this poll
    /// only; the caller holds the turn.
    fn poll_write(&self, cx: &mut Context<'_>, caller: &[u8]) -> Poll<Result<(), Error>> {
        let mut w = self.lock();
        self.poll_write_locked(cx, &mut w, caller)
    }

    /// Writes the output of a writer locked by the caller, through the fan-out of wakers.
    pub(crate) fn poll_write_locked(
        &self,
        cx: &mut Context<'_>,
        w: &mut Writer<W>,
        caller: &[u8],
    ) -> Poll<Result<(), Error>> {
        let waker = self.wakers.fan_out(cx);
        let Writer { io, tx } = w;
        poll_write_out(&mut Context::from_waker(&waker), io, tx, caller)
    }

    /// For the read half, with the turn: forgets what a dropped command left, then writes the
    /// replies (pong, close echo) and the shutdown the core asks for, with what precedes them.
    fn poll_replies(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut w = self.lock();
        w.tx.before_read();
        if w.tx.has_control() || w.tx.wants_shutdown() {
            ready!(self.poll_write_locked(cx, &mut w, &[]))?;
        }
        Poll::Ready(Ok(()))
    }

    async fn write_out(&self, caller: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| self.poll_write(cx, caller)).await
    }
}

/// The reading half of a split [`AsyncWebSocket`]; its reads are cancel-safe.
#[derive(Debug)]
pub struct AsyncReadHalf<S> {
    rx: Receiver,
    io: tokio::io::ReadHalf<S>,
    side: Arc<WriteSide<tokio::io::WriteHalf<S>>>,
    /// This half's place in the writers' turn, for the replies it writes.
    permit: PollSemaphore,
    agreed: Option<Arc<Agreed>>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// A reply (pong, close echo) was queued for an item that is not handed out until the reply
    /// is written.
    reply_owed: bool,
    /// The `Stream` ended (`FusedStream`).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    pub(crate) done: bool,
}

impl<S: AsyncRead + AsyncWrite> AsyncReadHalf<S> {
    /// The next item, moving bytes as needed; the one read loop of a read half (its `async`
    /// methods and its `Stream` impl poll it). Cancel-safe: all progress is in the core.
    pub(crate) fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Result<Item, Error>> {
        loop {
            if self.reply_owed {
                // Our turn to write, waited for fairly; released at the end of this poll (what is
                // queued stays queued, and whoever writes next writes it).
                let Some(_turn) = ready!(self.permit.poll_acquire(cx)) else {
                    return Poll::Ready(Err(Error::Closed));
                };
                ready!(self.side.poll_replies(cx))?;
                self.reply_owed = false;
            }
            match self.rx.poll() {
                ReadPoll::Item(item) => return Poll::Ready(Ok(item)),
                ReadPoll::Failed(e) => return Poll::Ready(Err(e)),
                ReadPoll::NeedSender => {
                    let Some(_turn) = ready!(self.permit.poll_acquire(cx)) else {
                        return Poll::Ready(Err(Error::Closed));
                    };
                    let mut w = self.side.lock();
                    w.tx.before_read();
                    self.rx.settle(&mut w.tx);
                    self.reply_owed = true;
                }
                ReadPoll::NeedInput => {
                    // A reply a dropped read left queued goes out first (fed data is the write
                    // half's to flush), unless a writer has the turn: it writes the queue itself.
                    if let Ok(_turn) = self.side.turn.try_acquire() {
                        ready!(self.side.poll_replies(cx))?;
                    }
                    ready!(poll_fill(cx, &mut self.rx, &mut self.io, &mut self.sleep))?;
                }
            }
        }
    }

    async fn next_item(&mut self) -> Result<Item, Error> {
        poll_fn(|cx| self.poll_next_item(cx)).await
    }

    /// The message view of an item (the `Stream` impl's).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))] // used by the `futures` impls
    pub(crate) fn view(&self, item: Item) -> Option<Message<'_>> {
        crate::conn::view(&self.rx, item)
    }

    read_half_api!(async, {.await}, agreed);

    /// Streams the next data message; see [`AsyncWebSocket::message_reader`].
    pub async fn message_reader(&mut self) -> Result<AsyncMessageReader<'_, S>, Error>
    where
        S: Unpin,
    {
        AsyncMessageReader::start(Source::Half(self)).await
    }

    /// Puts the halves of one connection back together; gives them back if they are not halves
    /// of the same connection.
    pub fn reunite(
        self,
        write: AsyncWriteHalf<S>,
    ) -> Result<AsyncWebSocket<S>, ReuniteError<AsyncReadHalf<S>, AsyncWriteHalf<S>>>
    where
        S: Unpin,
    {
        if !Arc::ptr_eq(&self.side, &write.side) {
            return Err(ReuniteError::new(self, write));
        }
        let AsyncReadHalf {
            rx,
            io,
            side,
            permit,
            agreed,
            sleep,
            ..
        } = self;
        let config = write.config.clone();
        drop(write);
        drop(permit);
        let side = match Arc::try_unwrap(side) {
            Ok(side) => side,
            // A clone of the write half still lives elsewhere: nothing to reunite with.
            Err(_) => unreachable!("reunite took the only write half"),
        };
        let Writer { io: w, tx } = side.into_writer();
        Ok(AsyncWebSocket {
            conn: Connection::from_parts(rx, tx),
            io: io.unsplit(w),
            shared: Box::new(Shared {
                config,
                agreed,
                sleep,
                done: false,
                wakers: None,
            }),
        })
    }
}

/// The writing half of a split [`AsyncWebSocket`]; clone it to write from several tasks.
#[derive(Debug)]
pub struct AsyncWriteHalf<S> {
    pub(crate) side: Arc<WriteSide<tokio::io::WriteHalf<S>>>,
    /// This half's place in the writers' turn, for its `Sink` impl.
    pub(crate) permit: PollSemaphore,
    /// The message a `Sink::start_send` took, handed to the connection at this half's next turn.
    #[cfg(feature = "futures")]
    pub(crate) pending: Option<crate::OwnedMessage>,
    config: Arc<Config>,
    agreed: Option<Arc<Agreed>>,
}

impl<S> Clone for AsyncWriteHalf<S> {
    fn clone(&self) -> Self {
        AsyncWriteHalf {
            side: Arc::clone(&self.side),
            permit: self.permit.clone(),
            #[cfg(feature = "futures")]
            pending: None,
            config: Arc::clone(&self.config),
            agreed: self.agreed.clone(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWriteHalf<S> {
    async fn command(
        &self,
        caller: &[u8],
        f: impl FnOnce(&mut Sender) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let _turn = self.side.turn().await?;
        let needs_write = {
            let mut w = self.side.lock();
            f(&mut w.tx)?;
            w.tx.needs_write()
        };
        if needs_write {
            self.side.write_out(caller).await?;
        }
        Ok(())
    }

    write_half_api!(async, {.await}, config);

    /// Streams one message in fragments; holds the write lock until it is finished or dropped.
    pub async fn message_writer(&self, opcode: OpCode) -> Result<AsyncMessageWriter<'_, S>, Error>
    where
        S: Unpin,
    {
        let size = self.config.fragment_size;
        let turn = self.side.turn().await?;
        AsyncMessageWriter::new(WriterRef::Turn(&self.side, turn), opcode, size)
    }

    /// Whether our close frame has been sent.
    pub async fn is_closed(&self) -> bool {
        self.side.lock().tx.close_sent()
    }
}

/// Where an [`AsyncMessageWriter`] writes: a whole connection, or a write half whose turn it
/// holds until it is finished or dropped.
#[derive(Debug)]
enum WriterRef<'a, S> {
    Own(&'a mut AsyncWebSocket<S>),
    Turn(
        &'a WriteSide<tokio::io::WriteHalf<S>>,
        #[allow(dead_code)] SemaphorePermit<'a>,
    ),
}

/// A message being sent in fragments; see [`AsyncWebSocket::message_writer`]. Dropped without
/// [`finish`](Self::finish), the message stays open and the next one fails.
#[derive(Debug)]
pub struct AsyncMessageWriter<'a, S> {
    writer: WriterRef<'a, S>,
    frags: Fragments,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> AsyncMessageWriter<'a, S> {
    fn new(mut writer: WriterRef<'a, S>, opcode: OpCode, size: usize) -> Result<Self, Error> {
        let frags = match &mut writer {
            WriterRef::Own(ws) => Fragments::start(ws.conn.parts_mut().1, opcode, size)?,
            WriterRef::Turn(side, _) => Fragments::start(&mut side.lock().tx, opcode, size)?,
        };
        Ok(AsyncMessageWriter { writer, frags })
    }

    async fn send(&mut self, fin: bool) -> Result<(), Error> {
        let r = self.send_fragment(fin).await;
        self.frags.sent();
        r
    }

    /// Sends the buffered fragment and writes it.
    async fn send_fragment(&mut self, fin: bool) -> Result<(), Error> {
        let frags = &mut self.frags;
        match &mut self.writer {
            WriterRef::Own(ws) => {
                let (_, tx) = ws.conn.parts_mut();
                frags.frame(tx, fin)?;
                if tx.needs_write() {
                    poll_fn(|cx| poll_write_out(cx, &mut ws.io, tx, frags.payload())).await?;
                }
            }
            WriterRef::Turn(side, _) => {
                let needs_write = {
                    let mut w = side.lock();
                    frags.frame(&mut w.tx, fin)?;
                    w.tx.needs_write()
                };
                if needs_write {
                    side.write_out(frags.payload()).await?;
                }
            }
        }
        Ok(())
    }

    /// Appends `data` to the message, sending a frame each time the fragment size is reached.
    pub async fn write_all(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            data = &data[self.frags.push(data)..];
            if self.frags.is_full() {
                self.send(false).await?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered as the final frame.
    pub async fn finish(mut self) -> Result<(), Error> {
        self.send(true).await
    }
}

/// Where an [`AsyncMessageReader`] reads: a whole connection, or a read half.
#[derive(Debug)]
enum Source<'a, S> {
    Whole(&'a mut AsyncWebSocket<S>),
    Half(&'a mut AsyncReadHalf<S>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Source<'_, S> {
    async fn next_item(&mut self) -> Result<Item, Error> {
        match self {
            Source::Whole(ws) => ws.next_item().await,
            Source::Half(h) => h.next_item().await,
        }
    }

    fn rx(&mut self) -> &mut Receiver {
        match self {
            Source::Whole(ws) => ws.conn.parts_mut().0,
            Source::Half(h) => &mut h.rx,
        }
    }
}

/// A message being received in chunks; see [`AsyncWebSocket::message_reader`]. Dropped before the
/// end, the rest of the message is skipped by the next read.
#[derive(Debug)]
pub struct AsyncMessageReader<'a, S: AsyncRead + AsyncWrite + Unpin> {
    source: Source<'a, S>,
    opcode: OpCode,
    finished: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> AsyncMessageReader<'a, S> {
    async fn start(mut source: Source<'a, S>) -> Result<Self, Error> {
        source.rx().stream_next_message();
        let opcode = loop {
            match source.next_item().await.map(crate::conn::stream_start) {
                Ok(None) => {}
                Ok(Some(Ok(op))) => break op,
                Ok(Some(Err(e))) | Err(e) => {
                    source.rx().abandon_message();
                    return Err(e);
                }
            }
        };
        Ok(AsyncMessageReader {
            source,
            opcode,
            finished: false,
        })
    }

    /// `Text` or `Binary`.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The next chunk of payload as it arrived, or `None` at the end of the message.
    pub async fn next_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        while !self.finished {
            if let Some(step) = crate::conn::stream_step(self.source.next_item().await?) {
                self.finished = !matches!(step, Ok(Some(_)));
                return Ok(step?.map(|c| self.source.rx().chunk(c)));
            }
        }
        Ok(None)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Drop for AsyncMessageReader<'_, S> {
    fn drop(&mut self) {
        self.source.rx().abandon_message();
    }
}
