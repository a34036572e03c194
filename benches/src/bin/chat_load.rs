//! The chat load generator (issue 18): M members in R rooms of `chat_cluster`, each sending one
//! text message a second; every delivery is timed and checked for per-sender order.
//!
//! ```text
//! chat_load --addr A [--members M] [--rooms R] [--duration D] [--warmup W] [--drain S]
//!           [--open-timeout T] [--sync-timeout T] [--concurrency C]
//! ```
//!
//! One thread, one mio `Poll`, non-blocking sockets (at most C handshakes in progress, default
//! 256). Member `i` opens `ws://A/room/room-K` with `K = i % R`, without an Origin header; with
//! several server processes sharing the port (SO_REUSEPORT) the kernel spreads the members over
//! them. Then:
//!
//! 1. Sync: every member sends `s <i> <round>` (round 1 spread over the first second, round 2
//!    over the third, ...) until every member has received a sync message from every member of
//!    its room (itself included). Then each process has every room it serves subscribed, wherever
//!    its senders are. A message the broker dropped before a subscription was ready only delays
//!    this by a round.
//! 2. Send: message `n` (n = 0, 1, ...) is sent by member `n % M` at `n / M` seconds after the
//!    start, so each member sends once a second, the members spread evenly over the second. Its
//!    text is `m <i> <seq> <t>`: sender, per-sender sequence number (`n / M`), and the send time
//!    in ns since the load generator's start. The first W seconds are warm-up (delivered and
//!    order-checked, not counted); the next D seconds are measured.
//! 3. Drain: up to S seconds (default 10) after the last send for the measured deliveries still
//!    owed.
//!
//! Every member reads everything. A delivered text is `WHO: T`; notices starting with `* ` (joins,
//! leaves) are ignored. For each `m` message: the latency (now − its send time, µs), the order
//! (its sequence number must exceed the last one this member received from that sender, else an
//! order violation), and whether it belongs to the receiver's room. A server ping is answered;
//! a close, a binary or fragmented message, or text that does not parse is an error.
//!
//! Prints `PHASE measure` when the measured sends begin and `PHASE end` when the drain ends (a
//! harness samples the servers' CPU time there), then one JSON line: members, rooms, duration, sent, delivered, expected (each measured
//! message times the number of members of its room), deliveries_per_s (delivered / duration),
//! p50_us, p99_us, max_us, order_violations, errors and the first error, and the load
//! generator's own CPU time (getrusage: `loadgen_cpu_s` over the measured window and the drain,
//! `loadgen_cpu_total_s` over the whole run), so a reader can tell whether it was the limit.
//! Exits 1 if the members do not all open and hear each other in time, and 1 at a hard overall
//! deadline (open + sync timeouts + warm-up + duration + drain + 30 s) whatever happens.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use zerows_benches::frames::KEY;
use zerows_frame::{OpCode, encode_frame_vec};

struct Args {
    addr: SocketAddr,
    members: usize,
    rooms: usize,
    duration: f64,
    warmup: f64,
    drain: f64,
    open_timeout: f64,
    sync_timeout: f64,
    concurrency: usize,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        addr: "127.0.0.1:3000".parse().expect("address"),
        members: 2500,
        rooms: 50,
        duration: 10.0,
        warmup: 2.0,
        drain: 10.0,
        open_timeout: 60.0,
        sync_timeout: 30.0,
        concurrency: 256,
    };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        let ok = match k.as_str() {
            "--addr" => v.parse().map(|x| a.addr = x).is_ok(),
            "--members" => v.parse().map(|x| a.members = x).is_ok(),
            "--rooms" => v.parse().map(|x| a.rooms = x).is_ok(),
            "--duration" => v.parse().map(|x| a.duration = x).is_ok(),
            "--warmup" => v.parse().map(|x| a.warmup = x).is_ok(),
            "--drain" => v.parse().map(|x| a.drain = x).is_ok(),
            "--open-timeout" => v.parse().map(|x| a.open_timeout = x).is_ok(),
            "--sync-timeout" => v.parse().map(|x| a.sync_timeout = x).is_ok(),
            "--concurrency" => v.parse().map(|x| a.concurrency = x).is_ok(),
            _ => false,
        };
        if !ok {
            usage();
        }
    }
    if a.members == 0 || a.rooms == 0 || a.rooms > a.members || a.duration <= 0.0 {
        eprintln!("chat_load: need 0 < rooms <= members and a positive duration");
        std::process::exit(2);
    }
    a
}

fn usage() -> ! {
    eprintln!(
        "usage: chat_load --addr A [--members M] [--rooms R] [--duration D] [--warmup W] \
         [--drain S] [--open-timeout T] [--sync-timeout T] [--concurrency C]"
    );
    std::process::exit(2)
}

fn main() {
    let a = parse_args();
    // The hard deadline: whatever the server does, the run ends.
    let limit = a.open_timeout + a.sync_timeout + a.warmup + a.duration + a.drain + 30.0;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(limit));
        eprintln!("chat_load: hard deadline ({limit:.0} s) reached; giving up");
        std::process::exit(1);
    });
    if let Err(e) = run(&a) {
        eprintln!("chat_load: {e}");
        std::process::exit(1);
    }
}

enum State {
    /// The TCP connect is in progress.
    Connecting,
    /// The request is sent; the response head read so far.
    Handshaking(Vec<u8>),
    /// Upgraded.
    Open,
    /// Closed or failed; deregistered.
    Dead,
}

struct Member {
    stream: TcpStream,
    state: State,
    /// Received bytes not yet a whole frame.
    rx: Vec<u8>,
    /// Bytes still to write (a send or a pong the socket did not take at once).
    tx: Vec<u8>,
}

/// Everything the receive side keeps.
struct Stats {
    members: usize,
    rooms: usize,
    /// Messages with `n < warm` are warm-up.
    warm: u64,
    /// Per (receiver, sender's slot in the room): the last sequence number received (+1, 0 =
    /// none), and the last sync round received.
    last_seq: Vec<u32>,
    last_round: Vec<u32>,
    /// Latency histogram: µs below `FINE` one bucket each, the rest in a map.
    fine: Vec<u32>,
    coarse: BTreeMap<u64, u64>,
    delivered: u64,
    warm_delivered: u64,
    order_violations: u64,
    /// Successful reads in the measured window and the drain (deliveries per read: how much
    /// the server's writes were batched).
    reads: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Latencies below this many µs get a bucket each.
const FINE: usize = 1_000_000;

impl Stats {
    fn new(members: usize, rooms: usize, warm: u64) -> Self {
        let slots = members.div_ceil(rooms);
        Stats {
            members,
            rooms,
            warm,
            last_seq: vec![0; members * slots],
            last_round: vec![0; members * slots],
            fine: vec![0; FINE],
            coarse: BTreeMap::new(),
            delivered: 0,
            warm_delivered: 0,
            order_violations: 0,
            reads: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn slots(&self) -> usize {
        self.members.div_ceil(self.rooms)
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn record(&mut self, us: u64) {
        match usize::try_from(us) {
            Ok(i) if i < FINE => self.fine[i] += 1,
            _ => *self.coarse.entry(us).or_default() += 1,
        }
    }

    /// The value at quantile `q` (nearest rank).
    fn quantile(&self, q: f64) -> u64 {
        let count = self.delivered;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((q * count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (us, &c) in self.fine.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return us as u64;
            }
        }
        for (&us, &c) in &self.coarse {
            seen += c;
            if seen >= rank {
                return us;
            }
        }
        0
    }

    fn max(&self) -> u64 {
        if let Some((&us, _)) = self.coarse.iter().next_back() {
            return us;
        }
        self.fine.iter().rposition(|&c| c > 0).unwrap_or(0) as u64
    }

    /// One delivered text (after `WHO: `) at receiver `r`.
    fn text(&mut self, r: usize, t: &[u8], now_ns: u64) {
        let mut w = t.split(|&b| b == b' ');
        let kind = w.next();
        let nums: [Option<u64>; 3] = [num(w.next()), num(w.next()), num(w.next())];
        match (kind, nums) {
            (Some(b"m"), [Some(s), Some(seq), Some(at)]) if w.next().is_none() => {
                let Some(k) = self.index(r, s) else {
                    return self.error(format!("member {r} got a message of member {s}"));
                };
                let seq1 = u32::try_from(seq + 1).unwrap_or(u32::MAX);
                if seq1 <= self.last_seq[k] {
                    self.order_violations += 1;
                }
                self.last_seq[k] = self.last_seq[k].max(seq1);
                if seq * self.members as u64 + s < self.warm {
                    self.warm_delivered += 1;
                } else {
                    self.delivered += 1;
                    self.record(now_ns.saturating_sub(at) / 1000);
                }
            }
            (Some(b"s"), [Some(s), Some(round), None]) => {
                let Some(k) = self.index(r, s) else {
                    return self.error(format!("member {r} got a sync of member {s}"));
                };
                let round = u32::try_from(round).unwrap_or(u32::MAX);
                self.last_round[k] = self.last_round[k].max(round);
            }
            _ => self.error(format!(
                "member {r}: unexpected text {:?}",
                String::from_utf8_lossy(t)
            )),
        }
    }

    /// The (receiver, sender slot) index, if sender `s` is in receiver `r`'s room.
    fn index(&self, r: usize, s: u64) -> Option<usize> {
        let s = usize::try_from(s).ok().filter(|&s| s < self.members)?;
        (s % self.rooms == r % self.rooms).then(|| r * self.slots() + s / self.rooms)
    }

    /// Whether every member has heard (a sync message of) every member of its room.
    fn synced(&self) -> bool {
        let slots = self.slots();
        (0..self.members).all(|r| {
            let in_room = (self.members - r % self.rooms).div_ceil(self.rooms);
            self.last_round[r * slots..r * slots + in_room]
                .iter()
                .all(|&x| x > 0)
        })
    }
}

fn num(w: Option<&[u8]>) -> Option<u64> {
    let w = w?;
    if w.is_empty() || w.len() > 19 {
        return None;
    }
    w.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

fn nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn cpu_self() -> f64 {
    // SAFETY: `ru` is a valid, writable rusage and RUSAGE_SELF a valid target.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn run(a: &Args) -> io::Result<()> {
    let start = Instant::now();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let n = a.members;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (warm, total) = (
        (a.warmup * n as f64).round() as u64,
        ((a.warmup + a.duration) * n as f64).round() as u64,
    );
    let mut st = Stats::new(n, a.rooms, warm);
    let mut members = open(a, &mut poll, &mut events, start, &mut st)?;
    let open_s = start.elapsed().as_secs_f64();
    let mut rbuf = vec![0u8; 256 << 10];

    // 1. Sync rounds: in round k (from 1) member i sends at 2(k - 1) + i / n seconds, until every
    // member has heard every member of its room at least once.
    let sync_start = Instant::now();
    let due_sync = |m: u64| {
        let (k, i) = (m / n as u64, m % n as u64);
        sync_start + Duration::from_nanos(k * 2_000_000_000 + i * 1_000_000_000 / n as u64)
    };
    let (mut sync_next, mut checked) = (0u64, sync_start);
    loop {
        let now = Instant::now();
        if now >= checked + Duration::from_millis(20) {
            checked = now;
            if st.synced() {
                break;
            }
        }
        if now >= sync_start + Duration::from_secs_f64(a.sync_timeout) {
            let heard: usize = st.last_round.iter().filter(|&&x| x > 0).count();
            let slots = st.slots();
            let deaf = (0..n)
                .filter(|r| {
                    st.last_round[r * slots..(r + 1) * slots]
                        .iter()
                        .all(|&x| x == 0)
                })
                .count();
            let dead = members
                .iter()
                .filter(|m| !matches!(m.state, State::Open))
                .count();
            return Err(io::Error::other(format!(
                "the members did not all hear each other within {} s (--sync-timeout; {} \
                 rounds: {heard} of {} member-sender pairs heard, {deaf} members heard \
                 nobody, {dead} closed; errors {}: {})",
                a.sync_timeout,
                sync_next.div_ceil(n as u64),
                (0..n)
                    .map(|r| (n - r % a.rooms).div_ceil(a.rooms))
                    .sum::<usize>(),
                st.errors,
                st.first_error.as_deref().unwrap_or("none")
            )));
        }
        while due_sync(sync_next) <= now {
            let i = usize::try_from(sync_next % n as u64).expect("index");
            let text = format!("s {i} {}", sync_next / n as u64 + 1);
            send(&poll, &mut members[i], i, text.as_bytes(), &mut st);
            sync_next += 1;
        }
        let wait = due_sync(sync_next).saturating_duration_since(Instant::now());
        poll.poll(&mut events, Some(wait.min(Duration::from_millis(20))))?;
        pump(&poll, &mut members, &events, &mut rbuf, &mut st, start);
    }
    let round = sync_next.div_ceil(n as u64);
    let sync_s = sync_start.elapsed().as_secs_f64();
    if st.errors > 0 {
        return Err(io::Error::other(format!(
            "errors while joining: {} (first: {})",
            st.errors,
            st.first_error.as_deref().unwrap_or("")
        )));
    }

    // 2. Send: message m at t0 + m / n seconds from member m % n.
    let t0 = Instant::now();
    let due = |m: u64| t0 + Duration::from_nanos(m * 1_000_000_000 / n as u64);
    let (mut next, mut sent, mut max_lag) = (0u64, 0u64, Duration::ZERO);
    let mut expected = 0u64;
    let room_size = |r: usize| (n - r % a.rooms).div_ceil(a.rooms) as u64;
    let mut cpu_at_measure = None;
    let end_of_sends = due(total);
    let drain_until = end_of_sends + Duration::from_secs_f64(a.drain);
    loop {
        let now = Instant::now();
        while next < total && due(next) <= now {
            if next == warm {
                cpu_at_measure = Some(cpu_self());
                st.reads = 0;
                // The harness samples the servers' CPU time at these lines.
                println!("PHASE measure");
                io::stdout().flush()?;
            }
            let i = usize::try_from(next % n as u64).expect("index");
            let seq = next / n as u64;
            max_lag = max_lag.max(now - due(next));
            let text = format!("m {i} {seq} {}", now_ns(start));
            if send(&poll, &mut members[i], i, text.as_bytes(), &mut st) && next >= warm {
                sent += 1;
                expected += room_size(i);
            }
            next += 1;
        }
        if next == total && (st.delivered >= expected || now >= drain_until) {
            break;
        }
        let wait = if next < total {
            due(next).saturating_duration_since(now)
        } else {
            Duration::from_millis(10)
        };
        poll.poll(&mut events, Some(wait))?;
        pump(&poll, &mut members, &events, &mut rbuf, &mut st, start);
    }
    let cpu_end = cpu_self();
    println!("PHASE end");
    let loadgen_cpu = cpu_end - cpu_at_measure.unwrap_or(cpu_end);
    let alive = members
        .iter()
        .filter(|m| matches!(m.state, State::Open))
        .count();
    let (p50, p99, max) = if st.delivered > 0 {
        (st.quantile(0.5), st.quantile(0.99), st.max())
    } else {
        (0, 0, 0)
    };
    let first = st
        .first_error
        .clone()
        .unwrap_or_default()
        .replace(['"', '\\'], "'");
    println!(
        "{{\"mode\":\"chat_load\",\"members\":{n},\"rooms\":{},\"duration\":{},\"warmup\":{},\
         \"sent\":{sent},\"delivered\":{},\"expected\":{expected},\"deliveries_per_s\":{:.0},\
         \"p50_us\":{p50},\"p99_us\":{p99},\"max_us\":{max},\"order_violations\":{},\
         \"reads\":{},\"errors\":{},\"first_error\":\"{first}\",\"members_open_at_end\":{alive},\
         \"warmup_delivered\":{},\"max_send_lag_us\":{},\"open_s\":{open_s:.3},\
         \"sync_s\":{sync_s:.3},\"sync_rounds\":{round},\"loadgen_cpu_s\":{loadgen_cpu:.3},\
         \"loadgen_cpu_total_s\":{cpu_end:.3}}}",
        a.rooms,
        a.duration,
        a.warmup,
        st.delivered,
        st.delivered as f64 / a.duration,
        st.order_violations,
        st.reads,
        st.errors,
        st.warm_delivered,
        max_lag.as_micros(),
    );
    io::stdout().flush()
}

fn now_ns(start: Instant) -> u64 {
    nanos(start)
}

/// Queues one masked text frame on member `i` and writes what the socket takes. False if the
/// member is dead (or dies now).
fn send(poll: &Poll, m: &mut Member, i: usize, text: &[u8], st: &mut Stats) -> bool {
    if !matches!(m.state, State::Open) {
        return false;
    }
    encode_frame_vec(&mut m.tx, OpCode::Text, true, Some(KEY), text);
    if let Err(e) = flush(m) {
        st.error(format!("member {i}: write: {e}"));
        kill(poll, m);
        return false;
    }
    true
}

fn flush(m: &mut Member) -> io::Result<()> {
    let mut done = 0;
    while done < m.tx.len() {
        match m.stream.write(&m.tx[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    m.tx.drain(..done);
    Ok(())
}

fn kill(poll: &Poll, m: &mut Member) {
    let _ = poll.registry().deregister(&mut m.stream);
    let _ = m.stream.shutdown(std::net::Shutdown::Both);
    m.state = State::Dead;
}

/// Reads every member an event names, parses the frames and records them.
fn pump(
    poll: &Poll,
    members: &mut [Member],
    events: &Events,
    rbuf: &mut [u8],
    st: &mut Stats,
    start: Instant,
) {
    for ev in events {
        let r = ev.token().0;
        let m = &mut members[r];
        if !matches!(m.state, State::Open) {
            continue;
        }
        let mut failed = None;
        if ev.is_writable()
            && !m.tx.is_empty()
            && let Err(e) = flush(m)
        {
            failed = Some(format!("write: {e}"));
        }
        if failed.is_none() && (ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
            loop {
                match m.stream.read(rbuf) {
                    Ok(0) => {
                        failed = Some("closed by the server (EOF)".into());
                        break;
                    }
                    Ok(k) => {
                        st.reads += 1;
                        let now = nanos(start);
                        if let Err(e) = frames(m, r, &rbuf[..k], st, now) {
                            failed = Some(e);
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(format!("read: {e}"));
                        break;
                    }
                }
            }
        }
        if failed.is_none()
            && !m.tx.is_empty()
            && let Err(e) = flush(m)
        {
            failed = Some(format!("write: {e}"));
        }
        if let Some(why) = failed {
            st.error(format!("member {r}: {why}"));
            kill(poll, m);
        }
    }
}

/// Parses the server frames in `m.rx` + `data`; keeps an incomplete tail in `m.rx`.
fn frames(m: &mut Member, r: usize, data: &[u8], st: &mut Stats, now: u64) -> Result<(), String> {
    let owned;
    let buf: &[u8] = if m.rx.is_empty() {
        data
    } else {
        m.rx.extend_from_slice(data);
        owned = std::mem::take(&mut m.rx);
        &owned
    };
    let mut at = 0;
    while let Some((fin, op, start, end)) = header(&buf[at..])? {
        let payload = &buf[at + start..at + end];
        if !fin {
            return Err("a fragmented message".into());
        }
        match op {
            0x1 => {
                if payload.starts_with(b"* ") {
                    // a join or leave notice
                } else if let Some(p) = payload.windows(2).position(|w| w == b": ") {
                    st.text(r, &payload[p + 2..], now);
                } else {
                    return Err(format!(
                        "a text without ': ': {:?}",
                        String::from_utf8_lossy(payload)
                    ));
                }
            }
            0x9 => encode_frame_vec(&mut m.tx, OpCode::Pong, true, Some(KEY), payload),
            0xA => {}
            0x8 => {
                let code = payload
                    .get(..2)
                    .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
                let why = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[])).into_owned();
                return Err(format!("closed by the server: {code} {why}"));
            }
            op => return Err(format!("unexpected opcode {op:#x}")),
        }
        at += end;
    }
    m.rx.extend_from_slice(&buf[at..]);
    Ok(())
}

/// The next server frame's (fin, opcode, payload start, payload end) if `b` holds all of it.
#[allow(clippy::type_complexity)]
fn header(b: &[u8]) -> Result<Option<(bool, u8, usize, usize)>, String> {
    if b.len() < 2 {
        return Ok(None);
    }
    if b[1] & 0x80 != 0 {
        return Err("a masked server frame".into());
    }
    if b[0] & 0x70 != 0 {
        return Err("RSV bits set (no extension was offered)".into());
    }
    let (len, head) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
        127 if b.len() >= 10 => {
            let l = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
            (usize::try_from(l).map_err(|_| "a huge frame")?, 10)
        }
        126 | 127 => return Ok(None),
        l => (usize::from(l), 2),
    };
    if len > 1 << 20 {
        return Err(format!("a {len}-byte frame"));
    }
    if b.len() < head + len {
        return Ok(None);
    }
    Ok(Some((b[0] & 0x80 != 0, b[0] & 0x0f, head, head + len)))
}

/// Opens every member: TCP connect, the handshake to `/room/room-K`, at most `a.concurrency`
/// in progress at once, all within `a.open_timeout` seconds.
fn open(
    a: &Args,
    poll: &mut Poll,
    events: &mut Events,
    start: Instant,
    st: &mut Stats,
) -> io::Result<Vec<Member>> {
    let n = a.members;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(a.open_timeout);
    let mut members: Vec<Member> = Vec::with_capacity(n);
    let (mut pending, mut opened) = (0usize, 0usize);
    let mut rbuf = vec![0u8; 16 << 10];
    // Bytes that followed a 101 (the first notices), parsed once the member is open.
    let mut early: Vec<(usize, Vec<u8>)> = Vec::new();
    let fail = |what: String, opened: usize| {
        io::Error::other(format!(
            "{what} ({opened} of {n} members open after {:.1} s)",
            t0.elapsed().as_secs_f64()
        ))
    };
    while opened < n {
        while pending < a.concurrency.max(1) && members.len() < n {
            let i = members.len();
            let mut stream =
                TcpStream::connect(a.addr).map_err(|e| fail(format!("connect: {e}"), opened))?;
            poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            members.push(Member {
                stream,
                state: State::Connecting,
                rx: Vec::new(),
                tx: Vec::new(),
            });
            pending += 1;
        }
        if Instant::now() >= deadline {
            return Err(fail(
                format!("timed out after {} s (--open-timeout)", a.open_timeout),
                opened,
            ));
        }
        poll.poll(events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let m = &mut members[i];
            if let State::Connecting = m.state {
                if !(ev.is_writable() || ev.is_error() || ev.is_write_closed()) {
                    continue;
                }
                if let Some(e) = m.stream.take_error()? {
                    return Err(fail(format!("member {i}: connect: {e}"), opened));
                }
                match m.stream.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                    Err(e) => return Err(fail(format!("member {i}: connect: {e}"), opened)),
                }
                m.stream.set_nodelay(true)?;
                let req = format!(
                    "GET /room/room-{} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n",
                    i % a.rooms,
                    a.addr
                );
                // A fresh socket's send buffer takes the whole request.
                let w = m.stream.write(req.as_bytes())?;
                if w != req.len() {
                    return Err(fail(format!("short write of the request ({w})"), opened));
                }
                m.state = State::Handshaking(Vec::new());
            }
            let State::Handshaking(head) = &mut m.state else {
                continue; // open: what it reads waits for the sync loop (edge: re-read there)
            };
            loop {
                match m.stream.read(&mut rbuf) {
                    Ok(0) => {
                        let h = String::from_utf8_lossy(head).into_owned();
                        return Err(fail(
                            format!("member {i}: EOF during the handshake: {h:?}"),
                            opened,
                        ));
                    }
                    Ok(k) => head.extend_from_slice(&rbuf[..k]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(fail(format!("member {i}: handshake: {e}"), opened)),
                }
            }
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                if !head.starts_with(b"HTTP/1.1 101") {
                    let h = String::from_utf8_lossy(&head[..end]).into_owned();
                    return Err(fail(format!("member {i}: handshake refused: {h}"), opened));
                }
                if end + 4 < head.len() {
                    early.push((i, head[end + 4..].to_vec()));
                }
                m.state = State::Open;
                pending -= 1;
                opened += 1;
            } else if head.len() > 4096 {
                return Err(fail(
                    format!("member {i}: response head over 4 KiB"),
                    opened,
                ));
            }
        }
    }
    // Notices that came with the 101.
    for (i, bytes) in early {
        frames(&mut members[i], i, &bytes, st, nanos(start))
            .map_err(|e| fail(format!("member {i}: {e}"), opened))?;
    }
    if let Some(e) = st.first_error.take() {
        return Err(fail(format!("before any message was sent: {e}"), opened));
    }
    // Members opened early may have unread notices under an edge already consumed: drain them
    // now (nothing but notices can have arrived: nobody has sent yet).
    for (i, m) in members.iter_mut().enumerate() {
        loop {
            match m.stream.read(&mut rbuf) {
                Ok(0) => return Err(fail(format!("member {i}: closed after the 101"), opened)),
                Ok(k) => frames(m, i, &rbuf[..k], st, nanos(start))
                    .map_err(|e| fail(format!("member {i}: {e}"), opened))?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(format!("member {i}: read: {e}"), opened)),
            }
        }
    }
    if let Some(e) = st.first_error.take() {
        return Err(fail(format!("before any message was sent: {e}"), opened));
    }
    Ok(members)
}
