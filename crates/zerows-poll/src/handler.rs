//! What the application sees: a [`Handler`] with callbacks in the style of uWebSockets and
//! gobwas/ws (open, message, drain, close), and the [`Context`] it sends through.

use std::fmt;
use std::time::Instant;

use zerows_util::{Agreed, CloseCode, Error, Message, OpCode, Outbox, PreparedMessage};

/// A connection's name: valid while it is open, never reused for another connection (the slot's
/// generation changes when it is freed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) worker: u32,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// The event loop (thread) that holds the connection, from 0.
    pub fn worker(&self) -> usize {
        self.worker as usize
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}.{}", self.worker, self.slot, self.generation)
    }
}

/// What [`Handler::on_open`] learns about the upgrade.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened<'a> {
    /// The request target, e.g. `/room/lobby?x=1` (the upgrader's hooks checked it).
    pub target: &'a str,
    /// The subprotocol, extensions and kept headers ([`Config::keep_header`](zerows_util::Config)),
    /// if any.
    pub agreed: Option<&'a Agreed>,
}

/// How a connection ended ([`Handler::on_close`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Closed<'a> {
    /// The close code the peer sent (`None`: it sent none, or its close frame had no code).
    pub code: Option<CloseCode>,
    /// Why it ended if not by a clean close handshake (a protocol error, a reset, a timeout,
    /// 1006 without a close frame).
    pub error: Option<&'a Error>,
}

/// What a send did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued; fewer than [`Options::backpressure_threshold`](crate::Options) bytes wait.
    Queued,
    /// Queued, but more than the threshold waits to be written: the peer reads slowly.
    /// [`Handler::on_drain`] runs once everything was written.
    Backpressured,
}

/// Why a send did not happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// No open connection has that id (it closed, or is closing).
    NotOpen,
    /// More than [`Options::max_backlog`](crate::Options) bytes were waiting: the connection is
    /// being closed with 1008 (policy violation).
    Backlog,
    /// The connection refused it (e.g. [`Error::InvalidInput`]: not a data opcode).
    Refused(Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotOpen => f.write_str("the connection is not open"),
            SendError::Backlog => f.write_str(
                "the connection's unwritten output passed max_backlog: closed with 1008",
            ),
            SendError::Refused(e) => write!(f, "the connection refused the message: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// The application: one per event loop (so never shared between threads), called from the
/// loop's thread. Every callback gets a [`Context`] to send to this and any other connection of
/// the loop; [`Handle`](crate::Handle) sends from other threads.
pub trait Handler {
    /// A connection was upgraded. Default: nothing.
    fn on_open(&mut self, cx: &mut Context<'_>, id: ConnId, opened: &Opened<'_>) {
        let _ = (cx, id, opened);
    }

    /// A whole data message arrived (`Text` or `Binary`), borrowed from the connection's read
    /// buffer: no copy. Pings are answered by the connection ([`Config::auto_pong`](zerows_util::Config)).
    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>);

    /// Everything queued for a connection whose send said [`SendStatus::Backpressured`] was
    /// written. Default: nothing.
    fn on_drain(&mut self, cx: &mut Context<'_>, id: ConnId) {
        let _ = (cx, id);
    }

    /// A connection that was opened ended; its id is no longer valid. Default: nothing.
    fn on_close(&mut self, cx: &mut Context<'_>, id: ConnId, closed: &Closed<'_>) {
        let _ = (cx, id, closed);
    }
}

/// What a [`Context`] sends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outgoing<'a> {
    Message(OpCode, &'a [u8]),
    Prepared(&'a PreparedMessage),
}

/// A connection's sending side while its message is borrowed ([`Outbox`] behind a trait object,
/// so that a [`Context`] needs one lifetime).
pub(crate) trait Queue {
    fn queue_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error>;
    fn queue_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error>;
    fn pending_output(&self) -> usize;
}

impl Queue for Outbox<'_> {
    fn queue_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        Outbox::queue_message(self, opcode, payload)
    }
    fn queue_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        Outbox::queue_prepared(self, msg)
    }
    fn pending_output(&self) -> usize {
        Outbox::pending_output(self)
    }
}

/// The backpressure limits (from [`Options`](crate::Options)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) threshold: usize,
    pub(crate) max_backlog: usize,
}

/// The connection a message callback runs for: its replies go to its outbox while the message
/// is borrowed.
pub(crate) struct Current<'a> {
    pub(crate) id: ConnId,
    pub(crate) outbox: &'a mut (dyn Queue + 'a),
    /// The current connection must be closed with 1008 once the callback returns.
    pub(crate) over_backlog: bool,
}

/// Sends from a [`Handler`] callback: to the connection it runs for, to any connection of this
/// event loop by id, or to many ([`broadcast`](Self::broadcast)). Nothing is written during the
/// callback: output goes out when it returns (one write per connection per loop turn).
pub struct Context<'a> {
    pub(crate) router: &'a mut (dyn Router + 'a),
    pub(crate) current: Option<Current<'a>>,
}

/// The loop's side of a [`Context`]: every connection but the one a message callback runs for.
pub(crate) trait Router {
    fn send(&mut self, id: ConnId, what: Outgoing<'_>) -> Result<SendStatus, SendError>;
    fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) -> bool;
    fn backlog(&self, id: ConnId) -> Option<usize>;
    fn broadcast_all(&mut self, msg: &PreparedMessage) -> usize;
    fn now(&self) -> Instant;
    fn limits(&self) -> Limits;
    fn close_current(&mut self, code: CloseCode, reason: &str);
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("current", &self.current.as_ref().map(|c| c.id))
            .finish_non_exhaustive()
    }
}

impl Context<'_> {
    fn send_any(&mut self, id: ConnId, what: Outgoing<'_>) -> Result<SendStatus, SendError> {
        if let Some(cur) = self.current.as_mut()
            && cur.id == id
        {
            if cur.over_backlog {
                return Err(SendError::Backlog);
            }
            let limits = self.router.limits();
            if cur.outbox.pending_output() > limits.max_backlog {
                cur.over_backlog = true;
                return Err(SendError::Backlog);
            }
            match what {
                Outgoing::Message(op, payload) => cur.outbox.queue_message(op, payload),
                Outgoing::Prepared(msg) => cur.outbox.queue_prepared(msg),
            }
            .map_err(|e| match e {
                Error::InvalidInput(_) => SendError::Refused(e),
                _ => SendError::NotOpen,
            })?;
            return Ok(if cur.outbox.pending_output() > limits.threshold {
                SendStatus::Backpressured
            } else {
                SendStatus::Queued
            });
        }
        self.router.send(id, what)
    }

    /// Sends a data message (`Text` or `Binary`; text must be UTF-8) to `id`: copied into its
    /// write queue (compressed first if it negotiated permessage-deflate).
    pub fn send(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<SendStatus, SendError> {
        self.send_any(id, Outgoing::Message(opcode, payload))
    }

    /// Sends a text message to `id`.
    pub fn send_text(&mut self, id: ConnId, text: &str) -> Result<SendStatus, SendError> {
        self.send(id, OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message to `id`.
    pub fn send_binary(&mut self, id: ConnId, data: &[u8]) -> Result<SendStatus, SendError> {
        self.send(id, OpCode::Binary, data)
    }

    /// Sends a prepared message to `id` without copying it (the connection holds a reference to
    /// the encoded frame until it is written).
    pub fn send_prepared(
        &mut self,
        id: ConnId,
        msg: &PreparedMessage,
    ) -> Result<SendStatus, SendError> {
        self.send_any(id, Outgoing::Prepared(msg))
    }

    /// Sends a prepared message (encoded once) to each of `ids` of this loop; returns how many
    /// took it. Ids of other loops, closed ids and connections over their backlog are skipped.
    pub fn broadcast(
        &mut self,
        msg: &PreparedMessage,
        ids: impl IntoIterator<Item = ConnId>,
    ) -> usize {
        ids.into_iter()
            .filter(|&id| self.send_prepared(id, msg).is_ok())
            .count()
    }

    /// Sends a prepared message to every open connection of this loop (the one a message
    /// callback runs for included); returns how many took it.
    pub fn broadcast_all(&mut self, msg: &PreparedMessage) -> usize {
        let mut n = 0;
        if let Some(cur) = &self.current {
            let id = cur.id;
            n += usize::from(self.send_prepared(id, msg).is_ok());
        }
        n + self.router.broadcast_all(msg)
    }

    /// Starts the close handshake with `id` (RFC 6455 §7.1.2): `code` and `reason` (cut to 123
    /// bytes) go out after what is queued. Returns whether the connection was open.
    pub fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        if self.current.as_ref().is_some_and(|c| c.id == id) {
            self.router.close_current(code, reason);
            return true;
        }
        self.router.close(id, code, reason)
    }

    /// How many bytes wait to be written to `id` (`None`: not open).
    pub fn backlog(&self, id: ConnId) -> Option<usize> {
        if let Some(cur) = &self.current
            && cur.id == id
        {
            return Some(cur.outbox.pending_output());
        }
        self.router.backlog(id)
    }

    /// The loop's clock for this turn.
    pub fn now(&self) -> Instant {
        self.router.now()
    }
}
