//! The receiving side's protocol: what each item obliges the sender to do (a pong, the close
//! echo, the close frame of a failure), the phases of the close handshake as the reader sees them,
//! and the deadlines (close timeout, keepalive).
//!
//! The receiver works alone until an item needs the sending side; it then says so
//! ([`ReadPoll::NeedSender`]) and [`Receiver::settle`] does it with the sender — directly on a whole
//! connection, under the write half's lock on a split one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zerows_frame::{CloseCode, OpCode, Role, Rsv};

use super::read::{Chunk, Item, ReadBuffers};
use super::send::Sender;
use crate::config::Config;
use crate::error::Error;
use crate::extension::{Fail, MessageDecoder};
use crate::keepalive::{Keepalive, KeepaliveAction};

/// How reading ended, reported once; then reads return [`Error::Closed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// We failed the connection for this (RFC 6455 §7.1.7).
    Fail(Fail),
    /// The peer did not finish the close handshake in time, or the keepalive timed out.
    TimedOut,
    /// The transport ended without a close frame (RFC 6455 §7.1.5: 1006).
    Abnormal,
}

impl End {
    fn into_error(self) -> Error {
        match self {
            End::Fail(f) => f.into_error(),
            End::TimedOut => Error::Io(std::io::ErrorKind::TimedOut.into()),
            End::Abnormal => Error::AbnormalClosure,
        }
    }
}

/// Where reading stands in the close handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// We sent our close frame and wait for the peer's (RFC 6455 §7.1.2), at most `close_timeout`
    /// from `since` (stamped by the next `handle_timeout`); data that arrives meanwhile is dropped.
    Closing {
        since: Option<Instant>,
    },
    /// We failed the connection (RFC 6455 §7.1.7): our close frame went out, and input is
    /// discarded until the peer closes the transport or `close_timeout` passes; then `fail` is
    /// reported.
    Draining {
        since: Option<Instant>,
        fail: Fail,
    },
    /// Reading is over; the reason is reported once.
    Ended(Option<End>),
}

/// What the sending side owes because of something received or a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    /// Answer the last ping (its payload is `ReadBuffers::control`).
    Pong,
    /// Echo the peer's close code (RFC 6455 §5.5.1), then shut down.
    Echo(Option<CloseCode>),
    /// Send the failure's close frame (1002/1007/1009), then shut down.
    Fail(Fail),
    /// A keepalive ping.
    Ping(u64),
    /// Keepalive timeout: close 1001, then shut down.
    GoingAway,
    /// The handshake ended without a frame of ours: shut down.
    Finish,
}

impl Owed {
    /// Obligations replace one another by strength: ending the connection beats a reply.
    fn rank(self) -> u8 {
        match self {
            Owed::Pong | Owed::Ping(_) => 0,
            Owed::Echo(_) => 1,
            Owed::Fail(_) | Owed::GoingAway | Owed::Finish => 2,
        }
    }
}

/// What a driver does before it waits for input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A timer fired: poll again without reading.
    Poll,
    /// Read, giving up at the deadline (if any) to call `handle_timeout`.
    Until(Option<Instant>),
}

/// One step of the receiver alone.
#[derive(Debug)]
pub(crate) enum ReadPoll {
    /// An item, with its obligations already settled.
    Item(Item),
    /// Bytes are needed (or, closing, the peer's close or EOF): read, or wait for a deadline.
    NeedInput,
    /// Call [`Receiver::settle`] with the sender, then poll again.
    NeedSender,
    /// Reading ended with this error (after it, [`Error::Closed`]).
    Failed(Error),
}

#[derive(Debug)]
pub(crate) struct Receiver {
    buffers: ReadBuffers,
    phase: Phase,
    owed: Option<Owed>,
    /// An item produced but held back until its obligation is settled.
    ready: Option<Item>,
    /// Bytes arrived since the last `handle_timeout` (keepalive activity).
    activity: bool,
    /// Boxed: only connections that asked for a keepalive pay for it.
    keepalive: Option<Box<KeepaliveState>>,
}

#[derive(Debug)]
struct KeepaliveState {
    interval: Duration,
    timeout: Duration,
    /// Started at the first `handle_timeout`.
    timer: Option<Keepalive>,
}

impl Receiver {
    pub(crate) fn new(config: &Arc<Config>, role: Role, leftover: &[u8]) -> Receiver {
        Receiver {
            buffers: ReadBuffers::new(config, role, leftover),
            phase: Phase::Open,
            owed: None,
            ready: None,
            activity: false,
            keepalive: config.keepalive.map(|k| {
                Box::new(KeepaliveState {
                    interval: k.interval,
                    timeout: k.timeout,
                    timer: None,
                })
            }),
        }
    }

    pub(crate) fn set_decoder(&mut self, rsv: Rsv, decoder: Box<dyn MessageDecoder>) {
        self.buffers.set_extension(rsv, decoder);
    }

    fn owe(&mut self, owed: Owed) {
        if self.owed.is_none_or(|o| o.rank() <= owed.rank()) {
            self.owed = Some(owed);
        }
    }

    /// The next step; see [`ReadPoll`].
    pub(crate) fn poll(&mut self) -> ReadPoll {
        if self.owed.is_some() {
            return ReadPoll::NeedSender;
        }
        if let Some(item) = self.ready.take() {
            return ReadPoll::Item(item);
        }
        loop {
            let closing = match self.phase {
                Phase::Open => false,
                Phase::Closing { .. } => true,
                Phase::Draining { .. } => return ReadPoll::NeedInput,
                Phase::Ended(ref mut end) => {
                    return ReadPoll::Failed(end.take().map_or(Error::Closed, End::into_error));
                }
            };
            let item = match self.buffers.decode() {
                Ok(Some(item)) => item,
                Ok(None) => return ReadPoll::NeedInput,
                Err(fail) => {
                    self.phase = Phase::Draining { since: None, fail };
                    self.owe(Owed::Fail(fail));
                    return ReadPoll::NeedSender;
                }
            };
            match item {
                Item::Close(code) => {
                    // RFC 6455 §5.5.1: echo the peer's close unless ours went first; either way the
                    // handshake is over and the server closes the TCP connection first (§7.1.1).
                    self.phase = Phase::Ended(None);
                    self.owe(if closing {
                        Owed::Finish
                    } else {
                        Owed::Echo(code)
                    });
                    self.ready = Some(item);
                    return ReadPoll::NeedSender;
                }
                // While our close is out, everything but the peer's close is dropped.
                _ if closing => {}
                Item::Ping if self.buffers.config().auto_pong => {
                    self.owe(Owed::Pong);
                    self.ready = Some(item);
                    return ReadPoll::NeedSender;
                }
                _ => return ReadPoll::Item(item),
            }
        }
    }

    /// Does what the last [`poll`](Self::poll) said is owed, on the sender.
    pub(crate) fn settle(&mut self, tx: &mut Sender) {
        match self.owed.take() {
            None => {}
            Some(Owed::Pong) => tx.auto_pong(self.buffers.control()),
            Some(Owed::Echo(code)) => tx.close(code, "", true),
            Some(Owed::Fail(f)) => tx.close(Some(f.close_code()), f.reason(), true),
            Some(Owed::Ping(seq)) => {
                // A closed or poisoned sender sends no ping; the timeout still runs.
                let _ = tx.control(OpCode::Ping, &seq.to_be_bytes());
            }
            Some(Owed::GoingAway) => {
                tx.close(Some(CloseCode::GOING_AWAY), "keepalive timeout", true);
            }
            Some(Owed::Finish) => tx.finish(),
        }
    }

    /// Where the next bytes should be read to.
    pub(crate) fn read_target(&mut self) -> &mut [u8] {
        self.buffers.read_target()
    }

    /// `n` bytes were read into the last [`read_target`](Self::read_target); 0 is the end of the
    /// stream.
    pub(crate) fn handle_read(&mut self, n: usize) {
        if n == 0 {
            self.eof();
            return;
        }
        self.activity = true;
        if let Err(fail) = self.buffers.filled(n) {
            self.fail(fail);
        }
        if matches!(self.phase, Phase::Draining { .. } | Phase::Ended(_)) {
            self.buffers.discard();
        }
    }

    /// Bytes read elsewhere (handshake leftovers, a stack buffer).
    pub(crate) fn handle_bytes(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.eof();
            return;
        }
        self.activity = true;
        if matches!(self.phase, Phase::Draining { .. } | Phase::Ended(_)) {
            return;
        }
        self.buffers.push_bytes(bytes);
    }

    fn fail(&mut self, fail: Fail) {
        if matches!(self.phase, Phase::Open | Phase::Closing { .. }) {
            self.phase = Phase::Draining { since: None, fail };
            self.owe(Owed::Fail(fail));
        }
    }

    fn eof(&mut self) {
        self.phase = match self.phase {
            Phase::Open | Phase::Closing { .. } => Phase::Ended(Some(End::Abnormal)),
            Phase::Draining { fail, .. } => Phase::Ended(Some(End::Fail(fail))),
            ended @ Phase::Ended(_) => ended,
        };
        self.owe(Owed::Finish);
    }

    /// The time is `now`: stamps what waited for a clock (activity, the start of a close or a
    /// drain) and acts on expired deadlines.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.buffers.config().close_timeout;
        match &mut self.phase {
            Phase::Closing { since } | Phase::Draining { since, .. } => {
                let at = *since.get_or_insert(now);
                if now >= at + timeout {
                    self.phase = Phase::Ended(Some(match self.phase {
                        Phase::Draining { fail, .. } => End::Fail(fail),
                        _ => End::TimedOut,
                    }));
                    self.owe(Owed::Finish);
                }
            }
            Phase::Open => {
                if let Some(ka) = &mut self.keepalive {
                    let timer = ka
                        .timer
                        .get_or_insert_with(|| Keepalive::new(ka.interval, ka.timeout, now));
                    if std::mem::take(&mut self.activity) {
                        timer.on_activity(now);
                    }
                    match timer.poll(now) {
                        KeepaliveAction::Wait => {}
                        KeepaliveAction::Ping(p) => self.owe(Owed::Ping(u64::from_be_bytes(p))),
                        KeepaliveAction::TimedOut => {
                            self.phase = Phase::Ended(Some(End::TimedOut));
                            self.owe(Owed::GoingAway);
                        }
                    }
                }
            }
            Phase::Ended(_) => {}
        }
    }

    /// The next deadline, if a timer runs (after [`handle_timeout`](Self::handle_timeout)
    /// stamped it).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closing { since } | Phase::Draining { since, .. } => {
                since.map(|s| s + self.buffers.config().close_timeout)
            }
            Phase::Open => self
                .keepalive
                .as_ref()
                .and_then(|k| k.timer.as_ref())
                .map(Keepalive::deadline),
            Phase::Ended(_) => None,
        }
    }

    /// Whether a timer runs: the driver calls `handle_timeout` before it waits.
    pub(crate) fn timer_armed(&self) -> bool {
        match self.phase {
            Phase::Closing { .. } | Phase::Draining { .. } => true,
            Phase::Open => self.keepalive.is_some(),
            Phase::Ended(_) => false,
        }
    }

    /// We sent our close frame (a whole connection's `close`): wait for the peer's.
    pub(crate) fn start_closing(&mut self) -> bool {
        match self.phase {
            Phase::Open => {
                self.phase = Phase::Closing { since: None };
                true
            }
            // Reading is over already: nothing to wait for.
            Phase::Ended(_) => {
                self.phase = Phase::Ended(None);
                false
            }
            Phase::Closing { .. } | Phase::Draining { .. } => true,
        }
    }

    /// Before a driver waits for input: stamps the time if a timer runs, and says whether to poll
    /// again at once ([`Wait::Poll`]) or to wait, until the deadline if there is one.
    pub(crate) fn prepare_wait(&mut self, clock: impl FnOnce() -> Instant) -> Wait {
        if !self.timer_armed() {
            return Wait::Until(None);
        }
        self.handle_timeout(clock());
        if self.needs_poll() {
            Wait::Poll
        } else {
            Wait::Until(self.poll_timeout())
        }
    }

    /// Whether the next [`poll`](Self::poll) has something to say without input: an obligation,
    /// or the end of reading.
    pub(crate) fn needs_poll(&self) -> bool {
        self.owed.is_some() || self.ready.is_some() || matches!(self.phase, Phase::Ended(_))
    }

    /// At rest: open, nothing owed or held back, no keepalive ping out, no activity unstamped,
    /// and the buffers idle with no extension state.
    pub(crate) fn is_dormant(&self) -> bool {
        self.phase == Phase::Open
            && self.owed.is_none()
            && self.ready.is_none()
            && self.buffers.is_dormant()
            && self
                .keepalive
                .as_ref()
                .is_none_or(|k| !self.activity && k.timer.as_ref().is_none_or(|t| !t.is_waiting()))
    }

    /// As `new` makes it, keeping the keepalive's allocation.
    pub(crate) fn reset(&mut self, role: Role) {
        self.buffers.reset(role);
        self.phase = Phase::Open;
        self.owed = None;
        self.ready = None;
        self.activity = false;
        if let Some(k) = &mut self.keepalive {
            k.timer = None;
        }
    }

    /// When the keepalive last heard from the peer, if it runs.
    pub(crate) fn last_heard(&self) -> Option<Instant> {
        self.keepalive
            .as_ref()
            .and_then(|k| k.timer.as_ref())
            .map(Keepalive::last_seen)
    }

    /// Starts the keepalive timer as if the peer was last heard from `at`.
    pub(crate) fn resume_keepalive(&mut self, at: Instant) {
        if let Some(ka) = &mut self.keepalive {
            ka.timer = Some(Keepalive::new(ka.interval, ka.timeout, at));
        }
    }

    // ---- buffers and views ----------------------------------------------------------------

    pub(crate) fn is_idle(&self) -> bool {
        self.buffers.is_idle()
    }

    pub(crate) fn pooled(&self) -> bool {
        self.buffers.pooled()
    }

    pub(crate) fn holds_buffer(&self) -> bool {
        self.buffers.holds_buffer()
    }

    pub(crate) fn read_buffer_size(&self) -> usize {
        self.buffers.read_buffer_size()
    }

    pub(crate) fn release_if_idle(&mut self) {
        self.buffers.release_if_idle();
    }

    pub(crate) fn stream_next_message(&mut self) {
        self.buffers.stream_next_message();
    }

    pub(crate) fn abandon_message(&mut self) {
        self.buffers.abandon_message();
    }

    pub(crate) fn message(&self) -> &[u8] {
        self.buffers.message()
    }

    pub(crate) fn control(&self) -> &[u8] {
        self.buffers.control()
    }

    pub(crate) fn chunk(&self, c: Chunk) -> &[u8] {
        self.buffers.chunk(c)
    }
}
