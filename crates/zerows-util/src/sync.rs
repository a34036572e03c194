//! The blocking driver: the connection core over a `std::io` stream. Everything here moves bytes
//! between the stream and the core, or waits; every protocol decision is the core's.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use zerows_frame::{CloseCode, CloseFrame, OpCode, Role};
use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::server::{Hooks, Upgrader};

use crate::config::Config;
use crate::conn::{Chunk, Connection, Fragments, Item, ReadPoll, Receiver, Sender, Wait};
use crate::error::{Error, ReuniteError};
use crate::extension::Extension;
use crate::handshake::{Agreed, ClientHandshake, HEAD_BUF, RESPONSE_BUF, ServerHandshake, Steps};
use crate::message::{Message, PreparedMessage};
use crate::transport::Transport;

/// Stack buffer for the first read of an idle pooled connection (so it waits holding no buffer).
const STACK_READ: usize = 4 << 10;

/// Writes everything the sender has (the caller's frame last, from `caller`), flushes the stream,
/// and shuts its write side down if the core asks.
fn write_out<S: Transport>(io: &mut S, tx: &mut Sender, caller: &[u8]) -> Result<(), Error> {
    while tx.has_output() {
        let n = match io.write_vectored(&tx.output(caller)) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        tx.advance(n);
    }
    io.flush()?;
    if tx.wants_shutdown() {
        let _ = io.shutdown_write();
        tx.shutdown_done();
    }
    Ok(())
}

/// Finishes a command: writes its output if it must go out before the command returns.
fn done<S: Transport>(
    io: &mut S,
    tx: &mut Sender,
    command: Result<(), Error>,
    caller: &[u8],
) -> Result<(), Error> {
    command?;
    if tx.needs_write() {
        write_out(io, tx, caller)?;
    }
    Ok(())
}

/// A split connection's writing side: its stream handle and the sender, behind one lock.
#[derive(Debug)]
pub(crate) struct Writer<S> {
    io: S,
    tx: Sender,
}

/// What the read loop needs: the receiver, a stream to read, and the writer for replies.
trait Link {
    type S: Transport;
    /// Before a read waits: a whole connection writes all it queued, a read half only a reply.
    const WHOLE: bool;
    fn reader(&mut self) -> (&mut Receiver, &mut Self::S, &mut bool);
    fn with_writer<T>(
        &mut self,
        f: impl FnOnce(&mut Receiver, &mut Sender, &mut Self::S) -> T,
    ) -> T;
}

fn next_item<L: Link>(link: &mut L) -> Result<Item, Error> {
    loop {
        let step = link.reader().0.poll();
        match step {
            ReadPoll::Item(item) => return Ok(item),
            ReadPoll::Failed(e) => return Err(e),
            ReadPoll::NeedSender => link.with_writer(|rx, tx, io| {
                tx.before_read();
                rx.settle(tx);
                if tx.has_control() || tx.wants_shutdown() {
                    write_out(io, tx, &[])?;
                }
                Ok::<_, Error>(())
            })?,
            ReadPoll::NeedInput => {
                link.with_writer(|_, tx, io| {
                    tx.before_read();
                    if (L::WHOLE && tx.has_output()) || tx.has_control() {
                        write_out(io, tx, &[])?;
                    }
                    Ok::<_, Error>(())
                })?;
                let (rx, io, timed) = link.reader();
                fill(rx, io, timed)?;
            }
        }
    }
}

/// One blocking read into the receiver, bounded by its deadline.
fn fill<S: Transport>(rx: &mut Receiver, io: &mut S, timed: &mut bool) -> Result<(), Error> {
    let deadline = match rx.prepare_wait(Instant::now) {
        Wait::Poll => return Ok(()),
        Wait::Until(deadline) => deadline,
    };
    match deadline {
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            io.set_read_timeout(Some(left.max(std::time::Duration::from_millis(1))))?;
            *timed = true;
        }
        None if *timed => {
            io.set_read_timeout(None)?;
            *timed = false;
        }
        None => {}
    }
    rx.release_if_idle();
    let result = if rx.pooled() && rx.is_idle() && !rx.holds_buffer() {
        // Idle pooled connection: wait on the stack, take a pooled buffer once bytes are here.
        let mut stack = [0u8; STACK_READ];
        let room = STACK_READ.min(rx.read_buffer_size());
        read_retry(io, &mut stack[..room]).map(|n| rx.handle_bytes(&stack[..n]))
    } else {
        read_retry(io, rx.read_target()).map(|n| rx.handle_read(n))
    };
    match result {
        Ok(()) => Ok(()),
        Err(e)
            if deadline.is_some()
                && matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
        {
            rx.handle_timeout(Instant::now());
            Ok(())
        }
        Err(e) => Err(e.into()),
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

/// Runs a handshake's steps over a blocking stream.
fn handshake<S: Read + Write, H: Steps>(io: &mut S, hs: &mut H) -> Result<(), Error> {
    while !hs.is_done() {
        let out = hs.output();
        if !out.is_empty() {
            let n = io.write(out)?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            hs.advance(n);
        } else if let Some(target) = hs.read_target() {
            let n = read_retry(io, target)?;
            hs.handle_read(n)?;
        }
    }
    Ok(io.flush()?)
}

/// A whole connection's link: one stream for both directions.
#[derive(Debug)]
struct Whole<'a, S> {
    conn: &'a mut Connection,
    io: &'a mut S,
    timed: &'a mut bool,
}

impl<S: Transport> Link for Whole<'_, S> {
    type S = S;
    const WHOLE: bool = true;
    fn reader(&mut self) -> (&mut Receiver, &mut S, &mut bool) {
        (self.conn.parts_mut().0, self.io, self.timed)
    }
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Receiver, &mut Sender, &mut S) -> T) -> T {
        let (rx, tx) = self.conn.parts_mut();
        f(rx, tx, self.io)
    }
}

/// A read half's link: its own stream handle, and the shared writer for replies.
#[derive(Debug)]
struct Half<'a, S> {
    rx: &'a mut Receiver,
    io: &'a mut S,
    writer: &'a Mutex<Writer<S>>,
    timed: &'a mut bool,
}

impl<S: Transport> Link for Half<'_, S> {
    type S = S;
    const WHOLE: bool = false;
    fn reader(&mut self) -> (&mut Receiver, &mut S, &mut bool) {
        (self.rx, self.io, self.timed)
    }
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Receiver, &mut Sender, &mut S) -> T) -> T {
        let mut w = lock(self.writer);
        let Writer { io, tx } = &mut *w;
        f(self.rx, tx, io)
    }
}

fn lock<S>(w: &Mutex<Writer<S>>) -> MutexGuard<'_, Writer<S>> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// A WebSocket connection over a blocking stream, after the opening handshake.
///
/// Reads return one [`Message`] at a time (data or control); pings are answered and the close
/// handshake is completed from within [`read`](Self::read) — the only writes a read makes, and
/// only control frames and what was fed before them. [`send_message`](Self::send_message) writes
/// a whole message (several frames past [`Config::max_send_frame_size`]);
/// [`feed_message`](Self::feed_message) queues it for the next write;
/// [`message_writer`](Self::message_writer) streams one in fragments. [`split`](Self::split)
/// gives a read half and a write half for two threads.
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
///         Ok(opcode) => ws.feed_message(opcode, &buf)?, // echo
///         Err(Error::Closed) => break,                   // close handshake done
///         Err(e) => return Err(e.into()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    conn: Connection,
    io: S,
    shared: Shared,
}

/// What both halves of a connection keep.
#[derive(Debug, Clone)]
struct Shared {
    config: Arc<Config>,
    agreed: Option<Arc<Agreed>>,
    /// A read timeout is set on the stream (for a deadline of the core).
    timed: bool,
}

impl<S: Transport> WebSocket<S> {
    fn new(io: S, conn: Connection, config: Arc<Config>, agreed: Option<Box<Agreed>>) -> Self {
        WebSocket {
            conn,
            io,
            shared: Shared {
                config,
                agreed: agreed.map(Arc::from),
                timed: false,
            },
        }
    }

    /// The handshake's buffer, on the stack: a blocking handshake allocates nothing.
    fn handshake_space(_len: usize) -> [u8; HEAD_BUF + RESPONSE_BUF] {
        [0; HEAD_BUF + RESPONSE_BUF]
    }

    fn drive<H: Steps>(io: &mut S, steps: &mut H) -> Result<(), Error> {
        handshake(io, steps)
    }

    fn link(&mut self) -> Whole<'_, S> {
        Whole {
            conn: &mut self.conn,
            io: &mut self.io,
            timed: &mut self.shared.timed,
        }
    }

    fn next_item(&mut self) -> Result<Item, Error> {
        next_item(&mut self.link())
    }

    fn finish(&mut self, command: Result<(), Error>, caller: &[u8]) -> Result<(), Error> {
        done(&mut self.io, self.conn.parts_mut().1, command, caller)
    }

    connection_api!(, {});

    /// Reads the next data message as a stream of payload chunks (gobwas `NextReader`), without
    /// buffering it whole; control frames before and between its frames are handled as
    /// [`read`](Self::read) handles them.
    pub fn message_reader(&mut self) -> Result<MessageReader<'_, S>, Error> {
        MessageReader::start(LinkRef::Whole(self.link()))
    }

    /// Streams one message in frames of [`Config::fragment_size`] bytes: write to it like any
    /// `io::Write`, then call [`MessageWriter::finish`].
    pub fn message_writer(&mut self, opcode: OpCode) -> Result<MessageWriter<'_, S>, Error> {
        let size = self.shared.config.fragment_size;
        let (_, tx) = self.conn.parts_mut();
        MessageWriter::new(WriterRef::Own(tx, &mut self.io), opcode, size)
    }
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
        let WebSocket { conn, io, shared } = self;
        let (r, w) = io.split_stream()?;
        let (rx, tx) = conn.into_parts();
        let writer = Arc::new(Mutex::new(Writer { io: w, tx }));
        Ok((
            ReadHalf {
                rx,
                io: r,
                writer: Arc::clone(&writer),
                shared: shared.clone(),
            },
            WriteHalf { writer, shared },
        ))
    }
}

/// The reading half of a split [`WebSocket`].
#[derive(Debug)]
pub struct ReadHalf<S> {
    rx: Receiver,
    io: S,
    writer: Arc<Mutex<Writer<S>>>,
    shared: Shared,
}

impl<S: Transport> ReadHalf<S> {
    fn link(&mut self) -> Half<'_, S> {
        Half {
            rx: &mut self.rx,
            io: &mut self.io,
            writer: &self.writer,
            timed: &mut self.shared.timed,
        }
    }

    fn next_item(&mut self) -> Result<Item, Error> {
        next_item(&mut self.link())
    }

    read_half_api!(, {}, shared.agreed);

    /// Streams the next data message; see [`WebSocket::message_reader`].
    pub fn message_reader(&mut self) -> Result<MessageReader<'_, S>, Error> {
        MessageReader::start(LinkRef::Half(self.link()))
    }

    /// Puts the halves of one connection back together; gives them back if they are not halves
    /// of the same connection.
    pub fn reunite(
        self,
        write: WriteHalf<S>,
    ) -> Result<WebSocket<S>, ReuniteError<ReadHalf<S>, WriteHalf<S>>> {
        if !Arc::ptr_eq(&self.writer, &write.writer) {
            return Err(ReuniteError::new(self, write));
        }
        let ReadHalf {
            rx, writer, shared, ..
        } = self;
        drop(write);
        let Writer { io, tx } = match Arc::try_unwrap(writer) {
            Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
            // A `&WriteHalf` kept elsewhere cannot exist: the halves were moved in.
            Err(_) => unreachable!("the write half is the only other owner"),
        };
        Ok(WebSocket {
            conn: Connection::from_parts(rx, tx),
            io,
            shared,
        })
    }
}

/// The writing half of a split [`WebSocket`]; `&WriteHalf` can send, so share it between threads.
#[derive(Debug)]
pub struct WriteHalf<S> {
    writer: Arc<Mutex<Writer<S>>>,
    shared: Shared,
}

impl<S: Transport> WriteHalf<S> {
    fn command(
        &self,
        caller: &[u8],
        f: impl FnOnce(&mut Sender) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut w = lock(&self.writer);
        let Writer { io, tx } = &mut *w;
        let r = f(tx);
        done(io, tx, r, caller)
    }

    write_half_api!(, {}, shared.config);

    /// Streams one message in fragments; see [`WebSocket::message_writer`]. Holds the write lock
    /// until it is finished or dropped.
    pub fn message_writer(&self, opcode: OpCode) -> Result<MessageWriter<'_, S>, Error> {
        let size = self.shared.config.fragment_size;
        MessageWriter::new(WriterRef::Locked(lock(&self.writer)), opcode, size)
    }

    /// Whether our close frame has been sent (by us, or by the read half answering the peer's).
    pub fn is_closed(&self) -> bool {
        lock(&self.writer).tx.close_sent()
    }
}

/// The link a [`MessageReader`] reads through: a whole connection or a read half.
#[derive(Debug)]
enum LinkRef<'a, S> {
    Whole(Whole<'a, S>),
    Half(Half<'a, S>),
}

impl<S: Transport> Link for LinkRef<'_, S> {
    type S = S;
    // A message reader's reads do not write what was fed: only replies.
    const WHOLE: bool = false;
    fn reader(&mut self) -> (&mut Receiver, &mut S, &mut bool) {
        match self {
            LinkRef::Whole(l) => l.reader(),
            LinkRef::Half(l) => l.reader(),
        }
    }
    fn with_writer<T>(&mut self, f: impl FnOnce(&mut Receiver, &mut Sender, &mut S) -> T) -> T {
        match self {
            LinkRef::Whole(l) => l.with_writer(f),
            LinkRef::Half(l) => l.with_writer(f),
        }
    }
}

/// Where a [`MessageWriter`] writes: a whole connection's sender, or a locked write half.
#[derive(Debug)]
enum WriterRef<'a, S> {
    Own(&'a mut Sender, &'a mut S),
    Locked(MutexGuard<'a, Writer<S>>),
}

impl<S: Transport> WriterRef<'_, S> {
    fn parts(&mut self) -> (&mut Sender, &mut S) {
        match self {
            WriterRef::Own(tx, io) => (&mut **tx, &mut **io),
            WriterRef::Locked(w) => {
                let Writer { io, tx } = &mut **w;
                (tx, io)
            }
        }
    }
}

/// A message being sent in fragments; see [`WebSocket::message_writer`].
///
/// Bytes are collected up to the fragment size, then sent as one frame; [`finish`](Self::finish)
/// sends the last frame with FIN set. Dropped without `finish`, the message stays open and the
/// next message fails with [`Misuse::UnfinishedMessage`](crate::Misuse), so always finish.
#[derive(Debug)]
pub struct MessageWriter<'a, S: Transport> {
    writer: WriterRef<'a, S>,
    frags: Fragments,
}

impl<'a, S: Transport> MessageWriter<'a, S> {
    fn new(mut writer: WriterRef<'a, S>, opcode: OpCode, size: usize) -> Result<Self, Error> {
        let frags = Fragments::start(writer.parts().0, opcode, size)?;
        Ok(MessageWriter { writer, frags })
    }

    fn send(&mut self, fin: bool) -> Result<(), Error> {
        let (tx, io) = self.writer.parts();
        let r = self.frags.frame(tx, fin);
        let r = done(io, tx, r, self.frags.payload());
        self.frags.sent();
        r
    }

    /// Sends what is buffered as the final frame.
    pub fn finish(mut self) -> Result<(), Error> {
        self.send(true)
    }
}

impl<S: Transport> Write for MessageWriter<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.frags.push(data);
        if self.frags.is_full() {
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
    link: LinkRef<'a, S>,
    opcode: OpCode,
    /// Unread part of the current chunk.
    chunk: Option<Chunk>,
    finished: bool,
}

impl<'a, S: Transport> MessageReader<'a, S> {
    fn start(mut link: LinkRef<'a, S>) -> Result<Self, Error> {
        link.reader().0.stream_next_message();
        let opcode = loop {
            match next_item(&mut link).map(crate::conn::stream_start) {
                Ok(None) => {}
                Ok(Some(Ok(op))) => break op,
                Ok(Some(Err(e))) | Err(e) => {
                    link.reader().0.abandon_message();
                    return Err(e);
                }
            }
        };
        Ok(MessageReader {
            link,
            opcode,
            chunk: None,
            finished: false,
        })
    }

    /// `Text` or `Binary`.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The next chunk of payload as it arrived, or `None` at the end of the message.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        let chunk = match self.chunk.take() {
            Some(c) => Some(c),
            None => self.advance()?,
        };
        Ok(chunk.map(|c| self.link.reader().0.chunk(c)))
    }

    /// The next chunk, or `None` at the end of the message.
    fn advance(&mut self) -> Result<Option<Chunk>, Error> {
        while !self.finished {
            if let Some(step) = crate::conn::stream_step(next_item(&mut self.link)?) {
                self.finished = !matches!(step, Ok(Some(_)));
                return step;
            }
        }
        Ok(None)
    }
}

impl<S: Transport> Read for MessageReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let chunk = match self.chunk.take() {
            Some(c) => c,
            None => match self.advance()? {
                Some(c) => c,
                None => return Ok(0),
            },
        };
        let bytes = self.link.reader().0.chunk(chunk);
        let n = bytes.len().min(out.len());
        out[..n].copy_from_slice(&bytes[..n]);
        if n < chunk.len() {
            self.chunk = Some(chunk.skip(n));
        }
        Ok(n)
    }
}

impl<S> Drop for MessageReader<'_, S> {
    fn drop(&mut self) {
        // Unfinished: the rest of the message is decoded and discarded by the next read.
        let rx = match &mut self.link {
            LinkRef::Whole(l) => l.conn.parts_mut().0,
            LinkRef::Half(l) => &mut *l.rx,
        };
        rx.abandon_message();
    }
}
