//! A deterministic driver for [`EventLoop`]: scripted sockets (partial reads and writes,
//! `WouldBlock`, end of stream, resets), a fake clock, and a model of what an echo server must
//! answer. Shared by `tests/model.rs` and the `poll_loop` fuzz target (included with `#[path]`).
//!
//! Nothing here waits or sleeps: every loop is bounded by a step count.

#![allow(dead_code)] // each includer uses a part

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zerows_poll::{Closed, ConnId, Context, EventLoop, Handle, Handler, Options, Socket};
use zerows_upgrade::server::Upgrader;
use zerows_util::{CloseCode, Config, Message, OpCode};

/// A valid upgrade request (RFC 6455 §4.1; the key is the RFC's own example).
pub(crate) const REQUEST: &[u8] =
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// The status line of a successful upgrade.
pub(crate) const SWITCHING: &str = "HTTP/1.1 101 Switching Protocols";

/// What one scripted socket holds: the test's side of the wire.
#[derive(Debug)]
pub(crate) struct Wire {
    /// Bytes the server may read now.
    pub(crate) input: VecDeque<u8>,
    /// After `input` is empty: end of stream (else `WouldBlock`).
    pub(crate) eof: bool,
    /// Every read fails with `ConnectionReset`.
    pub(crate) reset: bool,
    /// At most this many bytes per read (at least 1).
    pub(crate) read_cap: usize,
    /// At most this many bytes per write (at least 1).
    pub(crate) write_cap: usize,
    /// Bytes the socket takes before writes say `WouldBlock` (the peer's receive window).
    pub(crate) write_budget: usize,
    /// Everything the server wrote.
    pub(crate) output: Vec<u8>,
    /// Whether the server shut its write side down.
    pub(crate) shut_down: bool,
    /// Read calls that returned bytes.
    pub(crate) reads: usize,
    /// Whether the socket was dropped (the server closed it).
    pub(crate) dropped: bool,
    /// A read came back short (its cap) while more input waited: for a real socket the rest
    /// arrived after that read, which is a new readable edge. The driver delivers it.
    pub(crate) edge: bool,
}

impl Default for Wire {
    fn default() -> Wire {
        Wire {
            input: VecDeque::new(),
            eof: false,
            reset: false,
            read_cap: usize::MAX,
            write_cap: usize::MAX,
            write_budget: usize::MAX,
            output: Vec::new(),
            shut_down: false,
            reads: 0,
            dropped: false,
            edge: false,
        }
    }
}

/// A [`Socket`] whose every call is decided by its [`Wire`].
#[derive(Debug)]
pub(crate) struct ScriptedSocket(pub(crate) Rc<RefCell<Wire>>);

impl Read for ScriptedSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut w = self.0.borrow_mut();
        if w.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if w.input.is_empty() {
            return if w.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(w.read_cap.max(1)).min(w.input.len());
        for (b, x) in buf.iter_mut().zip(w.input.drain(..n)) {
            *b = x;
        }
        w.reads += 1;
        if n < buf.len() && !w.input.is_empty() {
            w.edge = true;
        }
        Ok(n)
    }
}

impl Write for ScriptedSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self.0.borrow_mut();
        if w.shut_down {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if w.write_budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(w.write_cap.max(1)).min(w.write_budget);
        w.write_budget -= n;
        w.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Socket for ScriptedSocket {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.borrow_mut().shut_down = true;
        Ok(())
    }
}

impl Drop for ScriptedSocket {
    fn drop(&mut self) {
        self.0.borrow_mut().dropped = true;
    }
}

/// What the echo handler saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// `on_open`, in order.
    pub(crate) opened: Vec<ConnId>,
    /// `on_message`: (connection, opcode, payload), in order.
    pub(crate) messages: Vec<(ConnId, OpCode, Vec<u8>)>,
    /// `on_close`: (connection, peer's code, whether an error ended it), in order.
    pub(crate) closed: Vec<(ConnId, Option<CloseCode>, bool)>,
}

/// Echoes every message to its sender and records every callback.
#[derive(Debug, Default)]
pub(crate) struct Echo {
    /// What it saw.
    pub(crate) seen: Seen,
}

impl Handler for Echo {
    fn on_open(&mut self, _cx: &mut Context<'_>, id: ConnId, _opened: &zerows_poll::Opened<'_>) {
        self.seen.opened.push(id);
    }

    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        self.seen
            .messages
            .push((id, message.opcode(), message.payload().to_vec()));
        let _ = cx.send(id, message.opcode(), message.payload());
    }

    fn on_close(&mut self, _cx: &mut Context<'_>, id: ConnId, closed: &Closed<'_>) {
        self.seen
            .closed
            .push((id, closed.code, closed.error.is_some()));
    }
}

/// An [`EventLoop`] over scripted sockets, with a fake clock.
pub(crate) struct Driver {
    /// The loop.
    pub(crate) el: EventLoop<ScriptedSocket, Echo>,
    /// The clock's start.
    pub(crate) base: Instant,
    /// The clock.
    pub(crate) now: Instant,
    /// The accepted sockets' wires, by token.
    pub(crate) wires: Vec<(usize, Rc<RefCell<Wire>>)>,
}

impl Driver {
    /// A loop with these settings and an [`Echo`] handler.
    pub(crate) fn new(config: Config, options: &Options) -> Driver {
        let base = Instant::now();
        let handle = Handle::new(0, Box::new(|| {}));
        let el = EventLoop::new(
            Arc::new(config),
            options,
            Echo::default(),
            Upgrader::new(),
            &handle,
            base,
        );
        Driver {
            el,
            base,
            now: base,
            wires: Vec::new(),
        }
    }

    /// Accepts a new scripted socket; returns its index in [`wires`](Self::wires).
    pub(crate) fn accept(&mut self) -> usize {
        let wire = Rc::new(RefCell::new(Wire::default()));
        let token = self
            .el
            .accept(ScriptedSocket(Rc::clone(&wire)), self.now, |_, _| Ok(()))
            .expect("accept")
            .expect("a slot");
        self.wires.push((token, wire));
        self.wires.len() - 1
    }

    /// The wire of connection `c`.
    pub(crate) fn wire(&self, c: usize) -> std::cell::RefMut<'_, Wire> {
        self.wires[c].1.borrow_mut()
    }

    /// Tells the loop connection `c` is readable and/or writable, then delivers the edges
    /// that follows ([`pump`](Self::pump)).
    pub(crate) fn ready(&mut self, c: usize, readable: bool, writable: bool) {
        let token = self.wires[c].0;
        self.el.ready(token, readable, writable, self.now);
        self.pump();
    }

    /// The readable edges of bytes held back by a read cap ([`Wire::edge`]), until there are
    /// none: a short read tells the loop the socket is drained (edge-triggered readiness), so
    /// the rest must come with an edge of its own, as it would from the kernel. Bounded: each
    /// edge follows a read that took at least one byte.
    pub(crate) fn pump(&mut self) {
        for _ in 0..1_000_000 {
            // A dropped socket's token may belong to a newer connection.
            let Some(c) = self.wires.iter().position(|(_, w)| {
                let w = w.borrow();
                w.edge && !w.dropped
            }) else {
                return;
            };
            self.wire(c).edge = false;
            let token = self.wires[c].0;
            self.el.ready(token, true, false, self.now);
        }
        panic!("pump: a million edges");
    }

    /// Gives connection `c` bytes to read and says it is readable.
    pub(crate) fn feed(&mut self, c: usize, bytes: &[u8]) {
        self.wire(c).input.extend(bytes.iter().copied());
        self.ready(c, true, false);
    }

    /// Moves the clock on by `d` and fires the timers due.
    pub(crate) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.el.handle_timeout(self.now);
        self.pump();
    }

    /// The id of the `opened`-th connection that opened.
    pub(crate) fn id_of(&self, opened: usize) -> ConnId {
        self.el.handler().seen.opened[opened]
    }
}

/// A frame as the client sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientFrame {
    /// FIN.
    pub(crate) fin: bool,
    /// RSV1-3 bits (0 in a valid frame without extensions).
    pub(crate) rsv: u8,
    /// The opcode, 4 bits.
    pub(crate) opcode: u8,
    /// The payload, sent masked.
    pub(crate) payload: Vec<u8>,
    /// The masking key.
    pub(crate) mask: [u8; 4],
}

impl ClientFrame {
    /// A valid masked frame.
    pub(crate) fn new(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> ClientFrame {
        ClientFrame {
            fin,
            rsv: 0,
            opcode,
            payload: payload.to_vec(),
            mask,
        }
    }

    /// The frame on the wire (RFC 6455 §5.2: client frames are masked; minimal lengths).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 15));
        let len = self.payload.len();
        if let Ok(short @ 0..126) = u8::try_from(len) {
            out.push(0x80 | short);
        } else if let Ok(medium) = u16::try_from(len) {
            out.push(0x80 | 126);
            out.extend_from_slice(&medium.to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&self.mask);
        out.extend(
            self.payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ self.mask[i % 4]),
        );
    }
}

/// A frame as the server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerFrame {
    /// FIN.
    pub(crate) fin: bool,
    /// The opcode.
    pub(crate) opcode: u8,
    /// The payload.
    pub(crate) payload: Vec<u8>,
}

/// What the server wrote to one connection, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The status line of the HTTP response (`None`: no whole head).
    pub(crate) status: Option<String>,
    /// The data messages, reassembled: (opcode of the first frame, payload).
    pub(crate) messages: Vec<(u8, Vec<u8>)>,
    /// The pongs' payloads, in order.
    pub(crate) pongs: Vec<Vec<u8>>,
    /// The pings' payloads, in order (keepalive).
    pub(crate) pings: Vec<Vec<u8>>,
    /// The close frame's payload, if one came.
    pub(crate) close: Option<Vec<u8>>,
    /// What a server must not send: bytes after its close frame, a masked frame, RSV bits, an
    /// unknown opcode, a continuation out of place, a fragmented or long control frame.
    pub(crate) junk: Vec<u8>,
    /// The output's end, cut short: a head or a frame not all written, a message not finished
    /// (a connection given up on by a timer).
    pub(crate) cut: Vec<u8>,
}

impl Reply {
    /// The close code the server sent.
    pub(crate) fn close_code(&self) -> Option<u16> {
        let c = self.close.as_ref()?;
        (c.len() >= 2).then(|| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// Decodes a server's output by hand (RFC 6455 §5.2: unmasked frames), independently of
/// zerows-frame.
pub(crate) fn decode_reply(out: &[u8]) -> Reply {
    let mut r = Reply::default();
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        r.cut = out.to_vec();
        return r;
    };
    let head = String::from_utf8_lossy(&out[..end]);
    r.status = head.lines().next().map(str::to_owned);
    let mut at = end + 4;
    let mut partial: Option<(u8, Vec<u8>)> = None;
    while at < out.len() {
        let rest = &out[at..];
        if r.close.is_some() || rest[0] & 0x70 != 0 || rest.get(1).is_some_and(|b| b & 0x80 != 0) {
            // After the close, RSV bits, a mask: a server must not send these.
            r.junk = rest.to_vec();
            return r;
        }
        let (len, hdr) = match rest.get(1).map(|b| b & 127) {
            Some(126) if rest.len() >= 4 => (u64::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            Some(127) if rest.len() >= 10 => (
                u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes")),
                10,
            ),
            Some(n @ 0..126) => (u64::from(n), 2),
            _ => {
                r.cut = rest.to_vec();
                return r;
            }
        };
        let fin = rest[0] & 0x80 != 0;
        let opcode = rest[0] & 15;
        let total = usize::try_from(len).map_or(usize::MAX, |l| l.saturating_add(hdr));
        if opcode >= 8 && (!fin || len > 125) {
            r.junk = rest.to_vec();
            return r;
        }
        if rest.len() < total {
            r.cut = rest.to_vec();
            return r;
        }
        let payload = rest[hdr..total].to_vec();
        at += total;
        match opcode {
            0x9 => r.pings.push(payload),
            0xA => r.pongs.push(payload),
            0x8 => r.close = Some(payload),
            0x1 | 0x2 if partial.is_none() => {
                if fin {
                    r.messages.push((opcode, payload));
                } else {
                    partial = Some((opcode, payload));
                }
            }
            0x0 if partial.is_some() => {
                let (_, buf) = partial.as_mut().expect("some");
                buf.extend_from_slice(&payload);
                if fin {
                    r.messages.push(partial.take().expect("some"));
                }
            }
            _ => {
                r.junk = out[at - total..].to_vec();
                return r;
            }
        }
    }
    if let Some(p) = partial {
        r.cut = p.1;
    }
    r
}

/// One client message of a script: sent as `fragments` frames, with a ping before each.
#[derive(Clone, Debug)]
pub(crate) struct ScriptMessage {
    /// Text (payload is UTF-8) or binary.
    pub(crate) text: bool,
    /// The payload.
    pub(crate) payload: Vec<u8>,
    /// Where the payload is cut into fragments (sorted, deduplicated offsets inside it).
    pub(crate) cuts: Vec<usize>,
    /// Pings (payload) sent before the fragment with the same index (if any).
    pub(crate) pings: Vec<Option<Vec<u8>>>,
}

/// One connection of a script.
#[derive(Clone, Debug)]
pub(crate) struct ConnScript {
    /// The request head (plus anything), sent first.
    pub(crate) request: Vec<u8>,
    /// The messages.
    pub(crate) messages: Vec<ScriptMessage>,
    /// Raw bytes sent after the messages (a corrupted frame in a fuzz script).
    pub(crate) garbage: Vec<u8>,
    /// Send a close frame (1000) after the messages.
    pub(crate) close: bool,
    /// The caps of successive reads (cycled; empty: no cap).
    pub(crate) read_caps: Vec<usize>,
    /// The caps of successive writes (cycled; empty: no cap).
    pub(crate) write_caps: Vec<usize>,
    /// Masking key.
    pub(crate) mask: [u8; 4],
}

impl ConnScript {
    /// A connection with a valid request and these messages, closed with 1000.
    pub(crate) fn valid(messages: Vec<ScriptMessage>) -> ConnScript {
        ConnScript {
            request: REQUEST.to_vec(),
            messages,
            garbage: Vec::new(),
            close: true,
            read_caps: Vec::new(),
            write_caps: Vec::new(),
            mask: [0x37, 0xfa, 0x21, 0x3d],
        }
    }

    /// Whether the model applies: the request is the valid one and every byte after it is valid
    /// frames (the bytes the fuzzer may corrupt are untouched).
    pub(crate) fn is_valid(&self) -> bool {
        self.request == REQUEST && self.garbage.is_empty()
    }

    /// Every byte the client sends.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut out = self.request.clone();
        for m in &self.messages {
            let mut cuts: Vec<usize> = m
                .cuts
                .iter()
                .copied()
                .filter(|&c| c > 0 && c < m.payload.len())
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(m.payload.len());
            let n = bounds.len() - 1;
            for i in 0..n {
                if let Some(Some(ping)) = m.pings.get(i) {
                    ClientFrame::new(true, 0x9, &ping[..ping.len().min(125)], self.mask)
                        .encode(&mut out);
                }
                let opcode = match (i, m.text) {
                    (0, true) => 0x1,
                    (0, false) => 0x2,
                    _ => 0x0,
                };
                ClientFrame::new(
                    i + 1 == n,
                    opcode,
                    &m.payload[bounds[i]..bounds[i + 1]],
                    self.mask,
                )
                .encode(&mut out);
            }
        }
        out.extend_from_slice(&self.garbage);
        if self.close {
            ClientFrame::new(true, 0x8, &1000u16.to_be_bytes(), self.mask).encode(&mut out);
        }
        out
    }

    /// The pings sent, in order.
    pub(crate) fn pings(&self) -> Vec<Vec<u8>> {
        self.messages
            .iter()
            .flat_map(|m| {
                let frames = m
                    .cuts
                    .iter()
                    .filter(|&&c| c > 0 && c < m.payload.len())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
                    + 1;
                m.pings
                    .iter()
                    .take(frames)
                    .flatten()
                    .map(|p| p[..p.len().min(125)].to_vec())
            })
            .collect()
    }
}

/// One step of a script.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// Connection `conn` (modulo their number) receives up to `bytes` more of its script, then a
    /// readable event.
    Deliver {
        /// Which connection.
        conn: usize,
        /// How many bytes.
        bytes: usize,
    },
    /// Connection `conn`'s peer reads `bytes` (its window grows), then a writable event.
    Drain {
        /// Which connection.
        conn: usize,
        /// How many bytes.
        bytes: usize,
    },
    /// A spurious event on `conn` (nothing changed).
    Spurious {
        /// Which connection.
        conn: usize,
        /// Readable.
        readable: bool,
        /// Writable.
        writable: bool,
    },
    /// The clock moves on this many milliseconds; timers fire.
    Tick {
        /// Milliseconds.
        ms: u64,
    },
}

/// A whole script: connections, then steps, then the end (everything delivered, the peers read
/// everything, end of stream, timers until every connection is gone).
#[derive(Clone, Debug)]
pub(crate) struct Script {
    /// The connections.
    pub(crate) conns: Vec<ConnScript>,
    /// The interleaving.
    pub(crate) steps: Vec<Step>,
    /// The peers' windows before any `Drain` (bytes the socket takes at first).
    pub(crate) initial_window: usize,
}

/// What running a script did.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Each connection's decoded reply.
    pub(crate) replies: Vec<Reply>,
    /// Connections the loop still held at the end.
    pub(crate) left: usize,
    /// What the handler saw.
    pub(crate) seen: Seen,
    /// The clock steps taken at the end.
    pub(crate) end_steps: usize,
}

/// The close timeout of the model runs: longer than any script's clock before its end, so
/// that a close echo held up by a closed window is not given up on (the default, 1 s, would).
pub(crate) const MODEL_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The config of the model runs: the default with [`MODEL_CLOSE_TIMEOUT`].
pub(crate) fn model_config() -> Config {
    Config::default().close_timeout(MODEL_CLOSE_TIMEOUT)
}

/// Runs `script` on a fresh loop ([`model_config`], default options).
pub(crate) fn run(script: &Script) -> Outcome {
    run_with(script, model_config(), &Options::default())
}

/// The most end steps (each moves the clock 1 s): more than the longest timer (60 s stall).
pub(crate) const END_STEPS: usize = 200;

/// Runs `script` on a fresh loop with these settings.
pub(crate) fn run_with(script: &Script, config: Config, options: &Options) -> Outcome {
    let mut d = Driver::new(config, options);
    let n = script.conns.len();
    let mut pending: Vec<VecDeque<u8>> = Vec::with_capacity(n);
    let mut caps: Vec<(usize, usize)> = vec![(0, 0); n];
    for cs in &script.conns {
        let c = d.accept();
        let mut w = d.wire(c);
        w.write_budget = script.initial_window;
        if let Some(&r) = cs.read_caps.first() {
            w.read_cap = r.max(1);
        }
        if let Some(&wc) = cs.write_caps.first() {
            w.write_cap = wc.max(1);
        }
        drop(w);
        pending.push(cs.bytes().into());
    }
    let rotate = |d: &mut Driver, c: usize, caps: &mut Vec<(usize, usize)>| {
        let cs = &script.conns[c];
        let (r, w) = &mut caps[c];
        let mut wire = d.wire(c);
        if !cs.read_caps.is_empty() {
            *r = (*r + 1) % cs.read_caps.len();
            wire.read_cap = cs.read_caps[*r].max(1);
        }
        if !cs.write_caps.is_empty() {
            *w = (*w + 1) % cs.write_caps.len();
            wire.write_cap = cs.write_caps[*w].max(1);
        }
    };
    if n > 0 {
        for step in &script.steps {
            match *step {
                Step::Deliver { conn, bytes } => {
                    let c = conn % n;
                    let take = bytes.min(pending[c].len());
                    let chunk: Vec<u8> = pending[c].drain(..take).collect();
                    d.wire(c).input.extend(chunk);
                    rotate(&mut d, c, &mut caps);
                    d.ready(c, true, false);
                }
                Step::Drain { conn, bytes } => {
                    let c = conn % n;
                    {
                        let mut w = d.wire(c);
                        w.write_budget = w.write_budget.saturating_add(bytes);
                    }
                    rotate(&mut d, c, &mut caps);
                    d.ready(c, false, true);
                }
                Step::Spurious {
                    conn,
                    readable,
                    writable,
                } => d.ready(conn % n, readable, writable),
                Step::Tick { ms } => d.advance(Duration::from_millis(ms)),
            }
        }
    }
    // The end: everything delivered, the peers read everything, then end of stream.
    for (c, pending) in pending.iter_mut().enumerate() {
        let rest: Vec<u8> = pending.drain(..).collect();
        let mut w = d.wire(c);
        w.input.extend(rest);
        w.write_budget = usize::MAX;
        w.eof = true;
    }
    let mut end_steps = 0;
    for _ in 0..END_STEPS {
        for c in 0..n {
            d.ready(c, true, true);
        }
        if d.el.connections() == 0 {
            break;
        }
        end_steps += 1;
        d.advance(Duration::from_secs(1));
    }
    let replies = d
        .wires
        .iter()
        .map(|(_, w)| decode_reply(&w.borrow().output))
        .collect();
    let left = d.el.connections();
    let seen = std::mem::take(&mut d.el.handler_mut().seen);
    Outcome {
        replies,
        left,
        seen,
        end_steps,
    }
}

/// Checks the invariants every script must keep, and for valid connections the model: the same
/// messages back in order, pongs that answer the pings in order ([`pongs_answer`]), the client's
/// close echoed (RFC 6455 §5.5.1), `on_close` once per opened connection. Returns what is wrong.
pub(crate) fn check(script: &Script, out: &Outcome) -> Result<(), String> {
    check_invariants(out)?;
    check_model(script, out)
}

/// What holds for any script: every connection released at the end, `on_close` exactly once
/// per opened connection, and after a `101` only well-formed server frames (unmasked, no RSV
/// bits, nothing after the close frame; the last one may be cut short by a timer).
pub(crate) fn check_invariants(out: &Outcome) -> Result<(), String> {
    if out.left != 0 {
        return Err(format!("{} connections left after the end", out.left));
    }
    let seen = &out.seen;
    for id in &seen.opened {
        let n = seen.closed.iter().filter(|c| c.0 == *id).count();
        if n != 1 {
            return Err(format!("on_close ran {n} times for {id}"));
        }
    }
    if seen.closed.len() != seen.opened.len() {
        return Err(format!(
            "{} opened, {} closed",
            seen.opened.len(),
            seen.closed.len()
        ));
    }
    for (c, reply) in out.replies.iter().enumerate() {
        if !reply.junk.is_empty() && reply.status.as_deref() == Some(SWITCHING) {
            return Err(format!(
                "connection {c}: junk after the frames: {:?}",
                reply.junk
            ));
        }
    }
    Ok(())
}

/// The model, for the connections whose bytes are all valid ([`ConnScript::is_valid`]) and
/// that no timer cut short: the same messages back in order, pongs answering the pings, the
/// client's close echoed with 1000, no ping from the server, nothing cut short.
pub(crate) fn check_model(script: &Script, out: &Outcome) -> Result<(), String> {
    for (c, (cs, reply)) in script.conns.iter().zip(&out.replies).enumerate() {
        if !cs.is_valid() {
            continue;
        }
        if !reply.cut.is_empty() {
            return Err(format!(
                "connection {c}: output cut short: {} bytes",
                reply.cut.len()
            ));
        }
        if reply.status.as_deref() != Some(SWITCHING) {
            return Err(format!("connection {c}: status {:?}", reply.status));
        }
        let want: Vec<(u8, Vec<u8>)> = cs
            .messages
            .iter()
            .map(|m| (if m.text { 0x1 } else { 0x2 }, m.payload.clone()))
            .collect();
        if reply.messages != want {
            return Err(format!(
                "connection {c}: echoed {} messages, sent {}: {:?} vs {:?}",
                reply.messages.len(),
                want.len(),
                summary(&reply.messages),
                summary(&want)
            ));
        }
        if !pongs_answer(&reply.pongs, &cs.pings()) {
            return Err(format!(
                "connection {c}: pongs {:?}, pings {:?}",
                reply.pongs,
                cs.pings()
            ));
        }
        if cs.close && reply.close_code() != Some(1000) {
            return Err(format!(
                "connection {c}: close {:?} (want 1000 echoed)",
                reply.close
            ));
        }
        if !reply.pings.is_empty() {
            return Err(format!(
                "connection {c}: unexpected pings {:?}",
                reply.pings
            ));
        }
    }
    Ok(())
}

/// RFC 6455 §5.5.3: each pong carries a ping's payload, in the pings' order, and the latest
/// ping is answered; a pong not yet written may be replaced by the answer to a newer ping, so
/// the pongs are a subsequence of the pings that ends with the last one.
pub(crate) fn pongs_answer(pongs: &[Vec<u8>], pings: &[Vec<u8>]) -> bool {
    if pongs.last() != pings.last() {
        return false;
    }
    let mut rest = pings.iter();
    pongs.iter().all(|p| rest.any(|q| q == p))
}

/// Messages as (opcode, length), for short failure messages.
fn summary(m: &[(u8, Vec<u8>)]) -> Vec<(u8, usize)> {
    m.iter().map(|(o, p)| (*o, p.len())).collect()
}

// ---- the fuzz target's input --------------------------------------------------------------

/// Reads an input from the front; 0 once it is used up.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    /// The next byte.
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next `n` bytes (fewer at the end).
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }

    /// One message of a connection (layout: the fuzz target's docs).
    fn message(&mut self) -> ScriptMessage {
        let flags = self.u8();
        let text = flags & 1 != 0;
        let len = usize::from(self.u16() % 4096);
        let raw = self.take(len);
        let payload = if text {
            String::from_utf8_lossy(&raw).into_owned().into_bytes()
        } else {
            raw
        };
        let cuts = (0..(flags >> 1) & 3)
            .map(|_| usize::from(self.u16()))
            .collect();
        let pings = (0..(flags >> 3) & 7)
            .map(|_| match self.u8() {
                255 => None,
                n => Some(self.take(usize::from(n % 32))),
            })
            .collect();
        ScriptMessage {
            text,
            payload,
            cuts,
            pings,
        }
    }

    /// Two caps (u16 LE), 0 meaning none.
    fn caps(&mut self) -> Vec<usize> {
        (0..2)
            .map(|_| usize::from(self.u16()))
            .filter(|&c| c > 0)
            .collect()
    }
}

/// The most steps a fuzz input makes.
pub(crate) const MAX_FUZZ_STEPS: usize = 512;

/// A script with its settings, read from a fuzz input (layout: `fuzz/fuzz_targets/poll_loop.rs`).
#[derive(Debug)]
pub(crate) struct FuzzCase {
    /// The script.
    pub(crate) script: Script,
    /// The connections' config.
    pub(crate) config: Config,
    /// The loop's options.
    pub(crate) options: Options,
    /// Whether the model applies to the valid connections: no timer can have cut them short.
    pub(crate) model: bool,
}

/// Reads a fuzz input (any bytes) as a script.
pub(crate) fn fuzz_case(data: &[u8]) -> FuzzCase {
    let mut b = Input(data);
    let flags = b.u8();
    let initial_window = match b.u8() {
        0 => 0,
        255 => usize::MAX,
        w => usize::from(w) * 4,
    };
    let n = usize::from(flags & 3) + 1;
    let mut conns = Vec::with_capacity(n);
    for c in 0..n {
        let messages = (0..b.u8() % 5).map(|_| b.message()).collect();
        let mut cs = ConnScript::valid(messages);
        cs.close = flags & 16 == 0;
        cs.read_caps = b.caps();
        cs.write_caps = b.caps();
        if c == 0 && flags & 4 != 0 {
            let at = usize::from(b.u8()) % cs.request.len();
            cs.request[at] ^= b.u8().max(1);
        }
        conns.push(cs);
    }
    if flags & 8 != 0 {
        let len = usize::from(b.u8());
        conns[0].garbage = b.take(len);
    }
    let mut steps = Vec::new();
    let mut clock = Duration::ZERO;
    while !b.0.is_empty() && steps.len() < MAX_FUZZ_STEPS {
        let (kind, conn, amount) = (b.u8() % 4, usize::from(b.u8()), b.u8());
        steps.push(match kind {
            0 => Step::Deliver {
                conn,
                bytes: usize::from(amount) * 7 + 1,
            },
            1 => Step::Drain {
                conn,
                bytes: usize::from(amount) * 7 + 1,
            },
            2 => Step::Spurious {
                conn,
                readable: amount & 1 != 0,
                writable: amount & 2 != 0,
            },
            _ => {
                let ms = u64::from(amount) * 25;
                clock += Duration::from_millis(ms);
                Step::Tick { ms }
            }
        });
    }
    let mut config = model_config();
    // A low threshold: reading pauses for a peer that does not read (the pause needs 16 KiB
    // pending, which a few messages of the script reach).
    let mut options = Options::default().backpressure_threshold(1024);
    if flags & 32 != 0 {
        config = config.keepalive(Duration::from_secs(1), Duration::from_secs(1));
    }
    if flags & 64 != 0 {
        options = options.idle_timeout(Some(Duration::from_secs(3)));
    }
    if flags & 128 != 0 {
        config = config.max_message_size(1024);
    }
    let model =
        flags & (32 | 64 | 128) == 0 && clock < options.handshake_timeout.min(config.close_timeout);
    FuzzCase {
        script: Script {
            conns,
            steps,
            initial_window,
        },
        config,
        options,
        model,
    }
}

impl FuzzCase {
    /// Runs the script: the invariants always, the model where it applies.
    pub(crate) fn verdict(self) -> Result<(), String> {
        let out = run_with(&self.script, self.config, &self.options);
        check_invariants(&out)?;
        if self.model {
            check_model(&self.script, &out)?;
        }
        Ok(())
    }
}
