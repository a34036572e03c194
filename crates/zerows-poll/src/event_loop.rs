//! One event loop's connections, driven by readiness: the slot table, the handshake in the loop,
//! the idle (dormant) and active forms of a connection, timers on a hashed wheel, backpressure
//! and the handler's callbacks. It does no I/O waiting of its own: a driver (the mio
//! [`Server`](crate::Server), or a test's scripted one) tells it which socket is ready and what
//! time it is, and it reads and writes until the socket would block.
//!
//! A connection is a slot of about 48 bytes in one table: its socket, its timer links, its
//! generation and a tag. While the connection has nothing to read or write it holds nothing else
//! (its [`Connection`] is [dormant](Connection::is_dormant): no buffer, no state a fresh one would
//! not have); when bytes arrive or a message is sent to it, a `Connection` is built in a box taken
//! from the loop's spare list and its buffers come from the loop's [`BufferPool`]; when it is at
//! rest again, both go back. A connection with permessage-deflate keeps its compressor (with
//! context takeover its state must persist) and stays in the active form.

use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use zerows_upgrade::server::{Hooks, Upgrader};
use zerows_util::{
    ACCEPT_RESPONSE_SPACE, Accept, CloseCode, Config, Connection, Error, Item, MAX_REQUEST_HEAD,
    PreparedMessage, Role, accept_request,
};

use crate::handle::{Command, Mailbox};

use crate::handler::{
    Closed, ConnId, Context, Current, Handler, Limits, Opened, Outgoing, Router, SendError,
    SendStatus,
};
use crate::options::Options;
use crate::socket::Socket;
use crate::wheel::{Link, Links, NONE, Wheel};

/// Write the queue out once this much is pending during a burst of reads (the rest goes out
/// when the burst ends).
const FLUSH_AT: usize = 16 << 10;
/// Timers fired per turn at most (the rest fire on the next turn).
const TIMERS_PER_TURN: usize = 4096;
/// The wheel's buckets: with the default 10 ms tick, one turn is about 41 s.
const WHEEL_BUCKETS: usize = 4096;

/// The reason of a 1008 close for a connection over [`Options::max_backlog`].
const BACKLOG_REASON: &str = "backlog over max_backlog";
/// A close frame's reason, at most (RFC 6455 §5.5: 125 bytes of payload, 2 for the code).
const MAX_REASON_LEN: usize = 123;

/// A close asked for by a message callback for its own connection, done when it returns.
#[derive(Clone, Copy, Debug)]
struct PendingClose {
    code: CloseCode,
    reason: [u8; MAX_REASON_LEN],
    len: u8,
}

impl PendingClose {
    fn reason(&self) -> &str {
        std::str::from_utf8(&self.reason[..usize::from(self.len)]).unwrap_or("")
    }
}

/// Where a slot stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Free,
    /// Reading the request head.
    Handshake,
    /// Upgraded; `on_open` ran.
    Open,
    /// Reading is over; what is queued goes out (bounded by the close timeout), then the socket
    /// is closed.
    Finishing,
}

/// What a slot holds besides its socket.
#[derive(Debug)]
enum Body {
    /// Nothing: a dormant open connection, or a handshake whose first read is still to come.
    Empty,
    Handshake(Box<Handshake>),
    Active(Box<Connection>),
}

/// A handshake that did not complete in one read, or whose response is not all written.
#[derive(Debug)]
struct Handshake {
    buf: Box<[u8]>,
    filled: usize,
    /// The `101` not yet written, and the connection it opens.
    response: Vec<u8>,
    upgraded: Option<Upgraded>,
}

#[derive(Debug)]
struct Upgraded {
    conn: Box<Connection>,
    agreed: Option<Box<zerows_util::Agreed>>,
    head: usize,
}

// Slot flags.
const WRITE_BLOCKED: u8 = 1;
const DRAIN_WANTED: u8 = 2;
const READ_PAUSED: u8 = 4;
const DIRTY: u8 = 8;
const BUSY: u8 = 16;
const CLOSE_SEEN: u8 = 32;

/// One connection.
#[derive(Debug)]
struct Slot<S> {
    socket: Option<S>,
    body: Body,
    link: Link,
    generation: u32,
    /// The tick the peer was last heard from (keepalive, idle timeout).
    heard: u32,
    /// The tick bytes last moved either way (the stall timeout).
    progress: u32,
    phase: Phase,
    flags: u8,
    /// The peer's close code (with `CLOSE_SEEN`).
    peer_code: u16,
}

impl<S> Slot<S> {
    fn new() -> Slot<S> {
        Slot {
            socket: None,
            body: Body::Empty,
            link: Link::UNARMED,
            generation: 0,
            heard: 0,
            progress: 0,
            phase: Phase::Free,
            flags: 0,
            peer_code: 0,
        }
    }
}

struct Table<S>(Vec<Slot<S>>);

impl<S> Links for Table<S> {
    fn link(&mut self, index: u32) -> &mut Link {
        &mut self.0[index as usize].link
    }
}

/// Counters of what the loop did (for tests and monitoring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted.
    pub accepted: u64,
    /// Upgrades completed (`on_open` ran).
    pub opened: u64,
    /// Handshakes refused with an HTTP error status.
    pub refused: u64,
    /// Handshakes cut off by the handshake timeout.
    pub handshake_timeouts: u64,
    /// Connections closed with 1008 for their backlog.
    pub backlog_closes: u64,
    /// Connections closed by the idle timeout.
    pub idle_closes: u64,
    /// Connections closed by the stall timeout (a frame started, nothing more sent).
    pub stall_closes: u64,
    /// Times a dormant connection became active.
    pub activations: u64,
    /// Read calls on open connections.
    pub reads: u64,
    /// Prepared messages written straight to a dormant connection's socket (no `Connection`
    /// built for them).
    pub direct_writes: u64,
}

/// Everything but the handler and the upgrader: what a [`Context`] routes to.
struct State<S> {
    worker: u32,
    config: Arc<Config>,
    options: Options,
    slots: Table<S>,
    free: Vec<u32>,
    open: usize,
    wheel: Wheel,
    epoch: Instant,
    now: Instant,
    tick: Duration,
    /// Boxes for active connections, kept for the next activation (boxes, not values: a slot
    /// holds a box, and handing one over moves a pointer).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Connection>>,
    #[allow(clippy::vec_box)]
    spare_handshakes: Vec<Box<Handshake>>,
    /// Connections with output queued by a send to write at the end of the turn.
    dirty: Vec<u32>,
    /// The close a message callback asked for its own connection.
    close_current: Option<PendingClose>,
    stats: Stats,
    shutting_down: bool,
    /// Why the last write dropped a connection's socket (taken by the drive that wrote).
    write_error: Option<io::Error>,
}

/// One event loop: the connections of one thread. See the [crate docs](crate).
pub struct EventLoop<S, H, U = zerows_upgrade::server::NoHooks> {
    state: State<S>,
    handler: H,
    upgrader: Upgrader<U>,
    mailbox: Arc<Mailbox>,
    commands: Vec<Command>,
    fired: Vec<u32>,
    scratch: Box<[u8]>,
    response: Box<[u8]>,
    target: String,
}

impl<S, H, U> std::fmt::Debug for EventLoop<S, H, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("worker", &self.state.worker)
            .field(
                "connections",
                &(self.state.slots.0.len() - self.state.free.len()),
            )
            .field("stats", &self.state.stats)
            .finish_non_exhaustive()
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl<S: Socket, H: Handler, U: Hooks> EventLoop<S, H, U> {
    /// A loop numbered by its handle's worker (it is in every [`ConnId`] it gives out), its connections
    /// configured by `config`, upgrades checked by `upgrader`'s hooks, messages given to
    /// `handler`. `wake` is called (from any thread) when a [`Handle`](crate::Handle) queued a
    /// command: the driver then calls [`run_commands`](Self::run_commands). `handle` is this
    /// loop's mailbox ([`Handle::new`](crate::Handle::new)).
    pub fn new(
        config: Arc<Config>,
        options: &Options,
        handler: H,
        upgrader: Upgrader<U>,
        handle: &crate::Handle,
        now: Instant,
    ) -> EventLoop<S, H, U> {
        EventLoop {
            state: State {
                worker: handle.worker,
                config,
                options: options.clone(),
                slots: Table(Vec::new()),
                free: Vec::new(),
                open: 0,
                wheel: Wheel::new(WHEEL_BUCKETS),
                epoch: now,
                now,
                tick: options.timer_tick.max(Duration::from_millis(1)),
                spare: Vec::new(),
                spare_handshakes: Vec::new(),
                dirty: Vec::new(),
                close_current: None,
                stats: Stats::default(),
                shutting_down: false,
                write_error: None,
            },
            handler,
            upgrader,
            mailbox: Arc::clone(&handle.mailbox),
            commands: Vec::new(),
            fired: Vec::new(),
            scratch: vec![0; MAX_REQUEST_HEAD].into_boxed_slice(),
            response: vec![0; ACCEPT_RESPONSE_SPACE].into_boxed_slice(),
            target: String::new(),
        }
    }

    /// A handle to send to this loop's connections from any thread.
    pub fn handle(&self) -> crate::Handle {
        crate::Handle {
            worker: self.state.worker,
            mailbox: Arc::clone(&self.mailbox),
        }
    }

    /// The application.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The application, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Connections held (handshaking, open or finishing).
    pub fn connections(&self) -> usize {
        self.state.slots.0.len() - self.state.free.len()
    }

    /// Connections upgraded and not yet closed.
    pub fn open_connections(&self) -> usize {
        self.state.open
    }

    /// What the loop did so far.
    pub fn stats(&self) -> Stats {
        self.state.stats
    }

    /// Connections holding an active [`Connection`] (the rest are dormant or handshaking).
    pub fn active_connections(&self) -> usize {
        self.state
            .slots
            .0
            .iter()
            .filter(|s| matches!(s.body, Body::Active(_)))
            .count()
    }

    /// Takes a new connection: `register` is called with its socket and its token (the index
    /// the driver passes to [`ready`](Self::ready)) before anything is read. `None`: the loop is
    /// full ([`Options::max_connections`]) or shutting down, and the socket was dropped.
    pub fn accept(
        &mut self,
        mut socket: S,
        now: Instant,
        register: impl FnOnce(&mut S, usize) -> io::Result<()>,
    ) -> io::Result<Option<usize>> {
        self.set_now(now);
        let held = self.connections();
        let st = &mut self.state;
        if st.shutting_down || held >= st.options.max_connections {
            return Ok(None);
        }
        let index = match st.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(st.slots.0.len())
                    .ok()
                    .filter(|&i| i < NONE)
                    .ok_or_else(|| io::Error::other("slot table full"))?;
                st.slots.0.push(Slot::new());
                i
            }
        };
        if let Err(e) = register(&mut socket, index as usize) {
            st.free.push(index);
            return Err(e);
        }
        let heard = st.tick_of(now);
        let slot = &mut st.slots.0[index as usize];
        slot.socket = Some(socket);
        slot.phase = Phase::Handshake;
        slot.flags = 0;
        slot.heard = heard;
        slot.progress = heard;
        st.stats.accepted += 1;
        let at = st.tick_after(now, st.options.handshake_timeout);
        st.wheel.arm(&mut st.slots, index, at);
        Ok(Some(index as usize))
    }

    /// The socket of `token` is ready: readable (data, end of stream or an error) and/or
    /// writable. Readiness is edge-triggered: the loop reads and writes until the socket would
    /// block (or a read comes back short).
    pub fn ready(&mut self, token: usize, readable: bool, writable: bool, now: Instant) {
        self.set_now(now);
        let Ok(index) = u32::try_from(token) else {
            return;
        };
        let Some(slot) = self.state.slots.0.get_mut(index as usize) else {
            return;
        };
        match slot.phase {
            Phase::Free => {}
            Phase::Handshake => {
                if writable && matches!(&slot.body, Body::Handshake(h) if h.upgraded.is_some()) {
                    self.write_response(index);
                } else if readable {
                    self.read_handshake(index);
                }
            }
            Phase::Open | Phase::Finishing => {
                if writable {
                    slot.flags &= !WRITE_BLOCKED;
                }
                // A paused connection (its peer sends faster than it reads) is not read from
                // until it is writable again: a readable edge alone does not resume it.
                let paused = slot.flags & READ_PAUSED != 0;
                if readable || paused || (writable && matches!(slot.body, Body::Active(_))) {
                    self.drive(index, readable);
                }
            }
        }
        self.flush_dirty();
    }

    /// When the driver must call [`handle_timeout`](Self::handle_timeout) at the latest.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let st = &self.state;
        if !st.dirty.is_empty() {
            return Some(st.now);
        }
        st.wheel
            .next_deadline()
            .map(|t| st.epoch + st.tick * t.saturating_add(1))
    }

    /// The time is `now`: fires the timers that are due (handshake and idle timeouts, keepalive
    /// pings, close timeouts).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.set_now(now);
        let until = self.state.tick_of(now);
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        let st = &mut self.state;
        st.wheel
            .expire(&mut st.slots, until, &mut fired, TIMERS_PER_TURN);
        for &index in &fired {
            self.on_timer(index);
        }
        self.fired = fired;
        self.flush_dirty();
    }

    /// Runs the commands [`Handle`](crate::Handle)s queued.
    pub fn run_commands(&mut self, now: Instant) {
        self.set_now(now);
        let mut commands = std::mem::take(&mut self.commands);
        std::mem::swap(
            &mut commands,
            &mut *self
                .mailbox
                .commands
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for cmd in commands.drain(..) {
            match cmd {
                Command::Send(id, msg) => {
                    let _ = Router::send(
                        &mut self.state,
                        id,
                        Outgoing::Message(msg.opcode(), msg.payload()),
                    );
                }
                Command::SendPrepared(id, msg) => {
                    let _ = Router::send(&mut self.state, id, Outgoing::Prepared(&msg));
                }
                Command::Broadcast(msg, ids) => {
                    for id in ids {
                        let _ = Router::send(&mut self.state, id, Outgoing::Prepared(&msg));
                    }
                }
                Command::BroadcastAll(msg) => {
                    Router::broadcast_all(&mut self.state, &msg);
                }
                Command::Close(id, code, reason) => {
                    Router::close(&mut self.state, id, code, &reason);
                }
                Command::Shutdown => self.shutdown(now),
            }
        }
        self.commands = commands;
        self.flush_dirty();
    }

    /// Stops taking connections and closes every open one with 1001 (going away); the loop is
    /// done when [`connections`](Self::connections) is 0 (each close is bounded by the close
    /// timeout). Handshakes in progress are dropped.
    pub fn shutdown(&mut self, now: Instant) {
        self.set_now(now);
        self.state.shutting_down = true;
        for index in 0..self.state.slot_count() {
            match self.state.slots.0[index as usize].phase {
                Phase::Handshake => self.release(index),
                Phase::Open => {
                    let id = self.state.id(index);
                    Router::close(
                        &mut self.state,
                        id,
                        CloseCode::GOING_AWAY,
                        "server shutdown",
                    );
                }
                Phase::Free | Phase::Finishing => {}
            }
        }
        self.flush_dirty();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.state.shutting_down
    }

    fn set_now(&mut self, now: Instant) {
        if now > self.state.now {
            self.state.now = now;
        }
    }

    // ---- handshake ------------------------------------------------------------------------

    fn read_handshake(&mut self, index: u32) {
        loop {
            let st = &mut self.state;
            let slot = &mut st.slots.0[index as usize];
            let Some(socket) = slot.socket.as_mut() else {
                return;
            };
            // The first read goes to the loop's scratch buffer: a request that arrives whole
            // (almost all do) never takes a buffer of its own.
            let read = match &mut slot.body {
                Body::Handshake(h) => {
                    if h.upgraded.is_some() {
                        return;
                    }
                    socket.read(&mut h.buf[h.filled..])
                }
                _ => socket.read(&mut self.scratch),
            };
            let n = match read {
                Ok(0) => return self.release(index),
                Ok(n) => n,
                Err(e) if would_block(&e) => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.release(index),
            };
            let request: &[u8] = match &mut slot.body {
                Body::Handshake(h) => {
                    h.filled += n;
                    &h.buf[..h.filled]
                }
                _ => &self.scratch[..n],
            };
            match accept_request(&mut self.upgrader, &st.config, request, &mut self.response) {
                Accept::Partial => {
                    if matches!(slot.body, Body::Empty) {
                        let mut h = st.spare_handshakes.pop().unwrap_or_else(|| {
                            Box::new(Handshake {
                                buf: vec![0; MAX_REQUEST_HEAD].into_boxed_slice(),
                                filled: 0,
                                response: Vec::new(),
                                upgraded: None,
                            })
                        });
                        h.buf[..n].copy_from_slice(&self.scratch[..n]);
                        h.filled = n;
                        slot.body = Body::Handshake(h);
                    }
                }
                Accept::Refused { response_len, .. } => {
                    // Best effort: the status goes out if the socket takes it now.
                    let _ = socket.write(&self.response[..response_len]);
                    let _ = socket.shutdown_write();
                    st.stats.refused += 1;
                    return self.release(index);
                }
                Accept::Upgraded {
                    response_len,
                    connection,
                    agreed,
                } => {
                    self.target.clear();
                    self.target.push_str(request_target(request));
                    let written = write_all_now(socket, &self.response[..response_len]);
                    let conn = boxed(&mut st.spare, connection);
                    match written {
                        Ok(w) if w == response_len => {
                            if let Body::Handshake(h) =
                                std::mem::replace(&mut slot.body, Body::Empty)
                            {
                                st.spare_handshake(h);
                            }
                            return self.open(index, conn, agreed.as_deref());
                        }
                        Ok(w) => {
                            // The socket took part of the 101 (rare): the rest waits for
                            // writability, with the connection.
                            let mut h = match std::mem::replace(&mut slot.body, Body::Empty) {
                                Body::Handshake(h) => h,
                                _ => st.spare_handshakes.pop().unwrap_or_else(|| {
                                    Box::new(Handshake {
                                        buf: vec![0; MAX_REQUEST_HEAD].into_boxed_slice(),
                                        filled: 0,
                                        response: Vec::new(),
                                        upgraded: None,
                                    })
                                }),
                            };
                            let t = self.target.as_bytes();
                            h.buf[..t.len()].copy_from_slice(t);
                            h.response.clear();
                            h.response
                                .extend_from_slice(&self.response[w..response_len]);
                            h.upgraded = Some(Upgraded {
                                conn,
                                agreed,
                                head: t.len(),
                            });
                            slot.body = Body::Handshake(h);
                            return;
                        }
                        Err(_) => {
                            st.spare.push(conn);
                            return self.release(index);
                        }
                    }
                }
                _ => return self.release(index),
            }
        }
    }

    fn write_response(&mut self, index: u32) {
        let st = &mut self.state;
        let slot = &mut st.slots.0[index as usize];
        let (Some(socket), Body::Handshake(h)) = (slot.socket.as_mut(), &mut slot.body) else {
            return;
        };
        match write_all_now(socket, &h.response) {
            Ok(w) if w == h.response.len() => {}
            Ok(w) => {
                h.response.drain(..w);
                return;
            }
            Err(_) => return self.release(index),
        }
        let Body::Handshake(mut h) = std::mem::replace(&mut slot.body, Body::Empty) else {
            return;
        };
        let Some(up) = h.upgraded.take() else {
            return;
        };
        self.target.clear();
        self.target
            .push_str(std::str::from_utf8(&h.buf[..up.head]).unwrap_or("/"));
        st.spare_handshake(h);
        self.open(index, up.conn, up.agreed.as_deref());
    }

    /// The upgrade is done: `on_open`, then the bytes that followed the head and whatever is
    /// readable.
    fn open(&mut self, index: u32, conn: Box<Connection>, agreed: Option<&zerows_util::Agreed>) {
        let st = &mut self.state;
        st.wheel.cancel(&mut st.slots, index);
        let now = st.now;
        let heard = st.tick_of(now);
        let slot = &mut st.slots.0[index as usize];
        slot.phase = Phase::Open;
        slot.heard = heard;
        slot.progress = heard;
        slot.body = Body::Active(conn);
        st.open += 1;
        st.stats.opened += 1;
        let id = st.id(index);
        let target = std::mem::take(&mut self.target);
        {
            let mut cx = Context {
                router: &mut self.state,
                current: None,
            };
            self.handler.on_open(
                &mut cx,
                id,
                &Opened {
                    target: &target,
                    agreed,
                },
            );
        }
        self.target = target;
        self.drive(index, true);
    }

    // ---- open connections -----------------------------------------------------------------

    /// Reads what the socket has, hands items to the handler, writes the replies; then settles
    /// the connection's form and timer.
    fn drive(&mut self, index: u32, readable: bool) {
        let st = &mut self.state;
        let slot = &mut st.slots.0[index as usize];
        if slot.phase == Phase::Free {
            return;
        }
        let mut conn = match std::mem::replace(&mut slot.body, Body::Empty) {
            Body::Active(c) => c,
            Body::Empty if readable && slot.phase == Phase::Open => {
                let heard = slot.heard;
                st.activate(heard)
            }
            other => {
                slot.body = other;
                return;
            }
        };
        st.slots.0[index as usize].flags |= BUSY;
        let id = st.id(index);
        let slot = &mut st.slots.0[index as usize];
        // Paused for its backlog: readiness edges may have passed meanwhile, so read again.
        let paused = slot.flags & READ_PAUSED != 0;
        slot.flags &= !READ_PAUSED;
        let mut can_read = (readable || paused) && slot.phase == Phase::Open;
        let flush_at = FLUSH_AT.min(st.options.backpressure_threshold.max(1));
        let mut timed = false;
        let mut ended: Option<Error> = None;
        loop {
            if conn.pending_output() >= flush_at {
                let blocked = !self.state.write_out(index, &mut conn);
                // (Not once our close is out: what arrives then is dropped, and reading is what
                // sees the peer's close or runs out the close timeout.)
                if blocked
                    && !conn.is_closed()
                    && conn.pending_output() > self.state.options.backpressure_threshold
                {
                    // The peer sends faster than it reads what it is sent: its next messages wait
                    // (in the read buffer and its socket: TCP pushes back) until the output
                    // drains, so that answering it never runs into max_backlog.
                    self.state.slots.0[index as usize].flags |= READ_PAUSED;
                    break;
                }
            }
            match conn.poll_item() {
                Poll::Ready(Ok(item)) => {
                    // A reply the item obliged (a pong) goes out before the next item can
                    // replace it (the control slot holds one).
                    if conn.reply_pending() {
                        self.state.write_out(index, &mut conn);
                    }
                    self.dispatch(index, id, &mut conn, item);
                    if let Some(close) = self.state.close_current.take() {
                        // Asked by the handler for its own connection: from here on, what the
                        // peer sends is dropped until its close arrives (RFC 6455 §7.1.2).
                        let _ = conn.close(close.code, close.reason());
                    }
                }
                Poll::Ready(Err(e)) => {
                    ended = Some(e);
                    break;
                }
                Poll::Pending => {
                    if can_read {
                        let st = &mut self.state;
                        let tick_now = st.wheel_tick_now();
                        let slot = &mut st.slots.0[index as usize];
                        let Some(socket) = slot.socket.as_mut() else {
                            break;
                        };
                        let target = conn.read_target();
                        let len = target.len();
                        st.stats.reads += 1;
                        match socket.read(target) {
                            Ok(n) => {
                                conn.handle_read(n);
                                // A short read drained the socket; the next edge says when more
                                // arrives (one read per message that fits in one).
                                can_read = n == len;
                                if n > 0 {
                                    slot.heard = tick_now;
                                    slot.progress = tick_now;
                                } else {
                                    can_read = false;
                                }
                            }
                            Err(e) if would_block(&e) => can_read = false,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                ended = Some(Error::Io(e));
                                break;
                            }
                        }
                        continue;
                    }
                    if conn.timer_armed() && !timed {
                        timed = true;
                        conn.handle_timeout(self.state.now);
                        continue;
                    }
                    break;
                }
            }
        }
        let st = &mut self.state;
        st.write_out(index, &mut conn);
        let lost = st.write_error.take();
        if ended.is_none() && st.slots.0[index as usize].socket.is_none() {
            // A write failed (the peer reset or went away) and dropped the socket: no
            // readiness will come for it again, so the connection ends here.
            ended = Some(Error::Io(
                lost.unwrap_or_else(|| io::ErrorKind::WriteZero.into()),
            ));
        }
        st.slots.0[index as usize].flags &= !BUSY;
        self.settle(index, id, conn, ended);
    }

    /// One item for the handler.
    fn dispatch(&mut self, index: u32, id: ConnId, conn: &mut Connection, item: Item) {
        match item {
            Item::Message(_) => {
                let handler = &mut self.handler;
                let st = &mut self.state;
                let over = conn.with_view(item, |view, outbox| {
                    let Some(message) = view else {
                        return false;
                    };
                    let mut cx = Context {
                        router: st,
                        current: Some(Current {
                            id,
                            outbox,
                            over_backlog: false,
                        }),
                    };
                    handler.on_message(&mut cx, id, message);
                    cx.current.is_some_and(|c| c.over_backlog)
                });
                let st = &mut self.state;
                if over {
                    st.stats.backlog_closes += 1;
                    st.close_current(CloseCode::POLICY_VIOLATION, BACKLOG_REASON);
                }
                if conn.pending_output() > st.options.backpressure_threshold {
                    st.slots.0[index as usize].flags |= DRAIN_WANTED;
                }
            }
            Item::Close(code) => {
                let slot = &mut self.state.slots.0[index as usize];
                slot.flags |= CLOSE_SEEN;
                slot.peer_code = code.map_or(0, u16::from);
            }
            _ => {}
        }
    }

    /// After a drive: the connection ends, goes dormant, or stays active; its timer follows.
    fn settle(&mut self, index: u32, id: ConnId, mut conn: Box<Connection>, ended: Option<Error>) {
        let st = &mut self.state;
        let slot = &mut st.slots.0[index as usize];
        if slot.phase == Phase::Open && ended.is_some() {
            // Reading is over: tell the application now; what is queued still goes out.
            slot.phase = Phase::Finishing;
            st.open -= 1;
            let closed_code = (slot.flags & CLOSE_SEEN != 0 && slot.peer_code != 0)
                .then(|| CloseCode::from(slot.peer_code));
            let error = ended.filter(|e| !matches!(e, Error::Closed));
            let mut cx = Context {
                router: &mut self.state,
                current: None,
            };
            self.handler.on_close(
                &mut cx,
                id,
                &Closed {
                    code: closed_code,
                    error: error.as_ref(),
                },
            );
        }
        let st = &mut self.state;
        let slot = &mut st.slots.0[index as usize];
        if slot.phase == Phase::Finishing {
            if !conn.has_output() || slot.socket.is_none() {
                st.spare.push(conn);
                return self.release(index);
            }
            slot.body = Body::Active(conn);
            let at = st.tick_after(st.now, st.config.close_timeout);
            st.wheel.arm(&mut st.slots, index, at);
            return;
        }
        let drained = slot.flags & DRAIN_WANTED != 0 && !conn.has_output();
        if conn.timer_armed() {
            conn.handle_timeout(st.now);
        }
        let deadline = conn.poll_timeout();
        if slot.flags & READ_PAUSED == 0 && !conn.has_output() && conn.is_dormant() {
            if let Some(at) = conn.last_heard() {
                let heard = st.tick_of(at);
                st.slots.0[index as usize].heard = heard;
            }
            let slot = &mut st.slots.0[index as usize];
            conn.release_buffers();
            st.spare.push(conn);
            slot.body = Body::Empty;
            let at = st.dormant_deadline(index);
            match at {
                Some(at) => st.wheel.arm(&mut st.slots, index, at),
                None => st.wheel.cancel(&mut st.slots, index),
            }
        } else {
            conn.release_buffers();
            // Stalled: a frame started and nothing more came, or output waits and the peer
            // takes none of it (nor sends: a paused peer).
            let stuck = !conn.is_closed() && (!conn.is_idle() || conn.has_output());
            slot.body = Body::Active(conn);
            let heard = slot.heard;
            let progress = slot.progress;
            let idle = st
                .options
                .idle_timeout
                .map(|d| st.tick_after_tick(heard, d));
            let stall = stuck.then(|| st.tick_after_tick(progress, st.options.stall_timeout));
            let at = [deadline.map(|d| st.tick_of_ceil(d)), idle, stall]
                .into_iter()
                .flatten()
                .min();
            match at {
                Some(at) => st.wheel.arm(&mut st.slots, index, at),
                None => st.wheel.cancel(&mut st.slots, index),
            }
        }
        if drained {
            st.slots.0[index as usize].flags &= !DRAIN_WANTED;
            let mut cx = Context {
                router: &mut self.state,
                current: None,
            };
            self.handler.on_drain(&mut cx, id);
        }
    }

    fn on_timer(&mut self, index: u32) {
        let st = &mut self.state;
        let now_tick = st.tick_of(st.now);
        let slot = &st.slots.0[index as usize];
        let (phase, heard, progress) = (slot.phase, slot.heard, slot.progress);
        let dormant = matches!(slot.body, Body::Empty);
        // Stuck, and not closing already (then the close timeout bounds it).
        let stuck = matches!(&slot.body,
            Body::Active(c) if !c.is_closed() && (!c.is_idle() || c.has_output()));
        match phase {
            Phase::Free => {}
            Phase::Handshake => {
                st.stats.handshake_timeouts += 1;
                self.release(index);
            }
            Phase::Finishing => self.release(index),
            Phase::Open => {
                if let Some(idle) = st.options.idle_timeout
                    && now_tick >= st.tick_after_tick(heard, idle)
                {
                    st.stats.idle_closes += 1;
                    let id = st.id(index);
                    Router::close(st, id, CloseCode::GOING_AWAY, "idle timeout");
                    return;
                }
                if stuck && now_tick >= st.tick_after_tick(progress, st.options.stall_timeout) {
                    st.stats.stall_closes += 1;
                    let id = st.id(index);
                    Router::close(st, id, CloseCode::POLICY_VIOLATION, "stalled");
                    return;
                }
                if dormant {
                    // A dormant connection's keepalive is due: wake it; its timer pings.
                    let conn = st.activate(heard);
                    st.slots.0[index as usize].body = Body::Active(conn);
                }
                self.drive(index, false);
            }
        }
    }

    /// Closes the socket and frees the slot.
    fn release(&mut self, index: u32) {
        let st = &mut self.state;
        st.wheel.cancel(&mut st.slots, index);
        let slot = &mut st.slots.0[index as usize];
        if slot.phase == Phase::Open {
            st.open -= 1;
        }
        slot.socket = None;
        match std::mem::replace(&mut slot.body, Body::Empty) {
            Body::Active(c) => st.spare.push(c),
            Body::Handshake(mut h) => {
                if let Some(up) = h.upgraded.take() {
                    st.spare.push(up.conn);
                }
                st.spare_handshake(h);
            }
            Body::Empty => {}
        }
        let slot = &mut st.slots.0[index as usize];
        slot.phase = Phase::Free;
        slot.flags = 0;
        slot.peer_code = 0;
        slot.generation = slot.generation.wrapping_add(1);
        st.free.push(index);
    }

    /// Writes what sends queued this turn.
    fn flush_dirty(&mut self) {
        while let Some(index) = self.state.dirty.pop() {
            let slot = &mut self.state.slots.0[index as usize];
            slot.flags &= !DIRTY;
            if slot.flags & BUSY != 0 {
                continue;
            }
            if matches!(slot.body, Body::Active(_)) {
                self.drive(index, false);
            }
        }
    }
}

impl<S: Socket> State<S> {
    /// Slots in the table (at most `NONE`: `accept` refuses more).
    fn slot_count(&self) -> u32 {
        u32::try_from(self.slots.0.len()).unwrap_or(NONE)
    }

    fn id(&self, index: u32) -> ConnId {
        ConnId {
            worker: self.worker,
            slot: index,
            generation: self.slots.0[index as usize].generation,
        }
    }

    fn tick_of(&self, t: Instant) -> u32 {
        let ticks = t.saturating_duration_since(self.epoch).as_nanos() / self.tick.as_nanos();
        u32::try_from(ticks).unwrap_or(NONE - 1)
    }

    fn tick_of_ceil(&self, t: Instant) -> u32 {
        let d = t.saturating_duration_since(self.epoch).as_nanos();
        let ticks = d.div_ceil(self.tick.as_nanos());
        u32::try_from(ticks).unwrap_or(NONE - 1)
    }

    fn wheel_tick_now(&self) -> u32 {
        self.tick_of(self.now)
    }

    fn tick_after(&self, t: Instant, d: Duration) -> u32 {
        self.tick_of_ceil(t + d)
    }

    fn tick_after_tick(&self, tick: u32, d: Duration) -> u32 {
        let n = d.as_nanos().div_ceil(self.tick.as_nanos());
        tick.saturating_add(u32::try_from(n).unwrap_or(NONE - 1))
            .min(NONE - 1)
    }

    fn instant_of(&self, tick: u32) -> Instant {
        self.epoch + self.tick * tick
    }

    /// A dormant connection's next deadline: its keepalive ping or its idle timeout.
    fn dormant_deadline(&self, index: u32) -> Option<u32> {
        let heard = self.slots.0[index as usize].heard;
        let keepalive = self
            .config
            .keepalive
            .map(|k| self.tick_after_tick(heard, k.interval));
        let idle = self
            .options
            .idle_timeout
            .map(|d| self.tick_after_tick(heard, d));
        [keepalive, idle].into_iter().flatten().min()
    }

    /// A connection for a dormant slot: a spare one reset (no allocation once the loop has
    /// warmed up, with or without a keepalive).
    fn activate(&mut self, heard: u32) -> Box<Connection> {
        self.stats.activations += 1;
        // A spare connection, reset (it keeps its keepalive timer's allocation), or a new one.
        let mut conn = match self.spare.pop() {
            Some(mut conn) => {
                conn.reset();
                conn
            }
            None => Box::new(Connection::new(Role::Server, &self.config, &[])),
        };
        if self.config.keepalive.is_some() {
            conn.resume_keepalive(self.instant_of(heard));
        }
        conn
    }

    fn spare_handshake(&mut self, mut h: Box<Handshake>) {
        h.filled = 0;
        h.response = Vec::new();
        h.upgraded = None;
        self.spare_handshakes.push(h);
    }

    /// Writes `conn`'s output until it is all written or the socket would block; `false` if it
    /// blocked. A write error drops the socket and is kept in `write_error`: the drive that wrote
    /// ends the connection with it.
    fn write_out(&mut self, index: u32, conn: &mut Connection) -> bool {
        let tick_now = self.wheel_tick_now();
        let slot = &mut self.slots.0[index as usize];
        let Some(socket) = slot.socket.as_mut() else {
            return true;
        };
        while conn.has_output() {
            let out = conn.output(&[]);
            let bufs: [IoSlice<'_>; 4] = out;
            match socket.write_vectored(&bufs) {
                Ok(0) => {
                    slot.socket = None;
                    return true;
                }
                Ok(n) => {
                    conn.advance(n);
                    slot.progress = tick_now;
                }
                Err(e) if would_block(&e) => {
                    slot.flags |= WRITE_BLOCKED;
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Lost: nothing more can be written; dropping the socket ends reading too.
                    slot.socket = None;
                    self.write_error = Some(e);
                    return true;
                }
            }
        }
        if conn.wants_shutdown() {
            let _ = socket.shutdown_write();
            conn.shutdown_done();
        }
        true
    }

    /// Whether `id` is open and dormant (no `Connection` held, not in a callback).
    fn is_dormant(&self, id: ConnId) -> bool {
        self.slots.0.get(id.slot as usize).is_some_and(|slot| {
            slot.generation == id.generation
                && id.worker == self.worker
                && slot.phase == Phase::Open
                && slot.flags & BUSY == 0
                && matches!(slot.body, Body::Empty)
        })
    }

    /// The connection of an open id, made active (for a send or a close).
    fn active(&mut self, id: ConnId) -> Option<&mut Connection> {
        let slot = self.slots.0.get(id.slot as usize)?;
        if slot.generation != id.generation
            || id.worker != self.worker
            || slot.phase != Phase::Open
            || slot.flags & BUSY != 0
        {
            return None;
        }
        if matches!(slot.body, Body::Empty) {
            let heard = slot.heard;
            let conn = self.activate(heard);
            self.slots.0[id.slot as usize].body = Body::Active(conn);
        }
        let slot = &mut self.slots.0[id.slot as usize];
        if slot.flags & DIRTY == 0 {
            slot.flags |= DIRTY;
            self.dirty.push(id.slot);
        }
        match &mut slot.body {
            Body::Active(c) => Some(c),
            _ => None,
        }
    }
}

impl<S: Socket> Router for State<S> {
    fn send(&mut self, id: ConnId, what: Outgoing<'_>) -> Result<SendStatus, SendError> {
        let limits = self.limits();
        // A prepared message to a dormant connection (open, nothing queued, no extension) is its
        // server frame verbatim, which is what the connection would queue: written straight to
        // the socket, it needs no `Connection` at all unless the socket takes only part of it.
        let mut written = 0;
        if let Outgoing::Prepared(msg) = what
            && self.is_dormant(id)
            && let Some(socket) = self.slots.0[id.slot as usize].socket.as_mut()
        {
            let frame = msg.server_frame();
            match socket.write(frame) {
                Ok(n) if n == frame.len() => {
                    self.stats.direct_writes += 1;
                    return Ok(SendStatus::Queued);
                }
                Ok(n) => written = n,
                // Would block, or lost: the connection queues it and its next turn finds out.
                Err(_) => {}
            }
        }
        let conn = self.active(id).ok_or(SendError::NotOpen)?;
        if conn.pending_output() > limits.max_backlog {
            let _ = conn.close(CloseCode::POLICY_VIOLATION, BACKLOG_REASON);
            self.stats.backlog_closes += 1;
            return Err(SendError::Backlog);
        }
        match what {
            Outgoing::Message(op, payload) => conn.queue_message(op, payload),
            Outgoing::Prepared(msg) => conn.queue_prepared(msg),
        }
        .map_err(|e| match e {
            Error::InvalidInput(_) => SendError::Refused(e),
            _ => SendError::NotOpen,
        })?;
        if written > 0 {
            // The part the socket took: the queued frame is all the output there is.
            conn.advance(written);
        }
        if conn.pending_output() > limits.threshold {
            self.slots.0[id.slot as usize].flags |= DRAIN_WANTED;
            Ok(SendStatus::Backpressured)
        } else {
            Ok(SendStatus::Queued)
        }
    }

    fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        match self.active(id) {
            Some(conn) => conn.close(code, reason).is_ok(),
            None => false,
        }
    }

    fn backlog(&self, id: ConnId) -> Option<usize> {
        let slot = self.slots.0.get(id.slot as usize)?;
        if slot.generation != id.generation || slot.phase != Phase::Open {
            return None;
        }
        Some(match &slot.body {
            Body::Active(c) => c.pending_output(),
            _ => 0,
        })
    }

    fn broadcast_all(&mut self, msg: &PreparedMessage) -> usize {
        let mut n = 0;
        for index in 0..self.slot_count() {
            let slot = &self.slots.0[index as usize];
            if slot.phase == Phase::Open && slot.flags & BUSY == 0 {
                let id = self.id(index);
                n += usize::from(self.send(id, Outgoing::Prepared(msg)).is_ok());
            }
        }
        n
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn limits(&self) -> Limits {
        Limits {
            threshold: self.options.backpressure_threshold,
            max_backlog: self.options.max_backlog,
        }
    }

    fn close_current(&mut self, code: CloseCode, reason: &str) {
        let mut len = reason.len().min(MAX_REASON_LEN);
        while !reason.is_char_boundary(len) {
            len -= 1;
        }
        let mut close = PendingClose {
            code,
            reason: [0; MAX_REASON_LEN],
            len: 0,
        };
        close.reason[..len].copy_from_slice(&reason.as_bytes()[..len]);
        close.len = u8::try_from(len).unwrap_or(0);
        self.close_current = Some(close);
    }
}

/// `conn` in a spare box if there is one.
#[allow(clippy::vec_box)]
fn boxed(spare: &mut Vec<Box<Connection>>, conn: Connection) -> Box<Connection> {
    match spare.pop() {
        Some(mut b) => {
            *b = conn;
            b
        }
        None => Box::new(conn),
    }
}

/// The request target of a request head (`GET /path HTTP/1.1`): the upgrader checked it.
fn request_target(head: &[u8]) -> &str {
    let line = head.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let _method = parts.next();
    parts
        .next()
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or("/")
}

/// Writes as much of `bytes` as the socket takes now.
fn write_all_now<S: Write>(socket: &mut S, bytes: &[u8]) -> io::Result<usize> {
    let mut at = 0;
    while at < bytes.len() {
        match socket.write(&bytes[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if would_block(&e) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_target_is_the_second_word_of_the_request_line() {
        assert_eq!(
            request_target(b"GET /room/a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"),
            "/room/a?x=1"
        );
        assert_eq!(request_target(b""), "/");
    }

    #[test]
    fn an_idle_slot_is_small() {
        // A 4-byte socket (a file descriptor) in a slot of 48 bytes. (mio's TcpStream adds a
        // selector id in debug builds only.)
        let size = std::mem::size_of::<Slot<std::net::TcpStream>>();
        assert!(size <= 48, "{size}");
    }
}
