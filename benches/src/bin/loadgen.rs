//! The loopback load generator: one thread, pre-built masked frames, every echo checked.
//!
//! ```text
//! loadgen echo --addr A --conns N --inflight K --size S [--secs D] [--warmup W] [--server-pid P] [--raw] [--source IP]
//! loadgen handshake --addr A [--secs D] [--source IP]
//! loadgen idle --addr A --conns N [--echo-size S] [--source IP]
//! loadgen scale --addr A --conns N [--source IP] [--concurrency C] [--open-timeout T]
//! loadgen tls-echo --addr A --ca PEM --conns N --inflight K --size S [--secs D] [--warmup W] [--server-pid P]
//! loadgen tls-handshake --addr A --ca PEM --concurrency K [--size S] [--secs D] [--warmup W] [--server-pid P]
//! ```
//!
//! - `echo`: N connections, each keeping K text messages of S bytes in flight: a new message is
//!   sent for every echo received. The bytes each connection receives must be exactly the
//!   server frame for the message, repeated (`--raw`: the client frame itself, for the raw TCP
//!   echo), so every echo's length, header and content are checked; any mismatch aborts the run.
//!   After `W` seconds of warm-up, messages and the server's CPU time (`utime + stime` from
//!   `/proc/P/stat`) are counted for `D` seconds. Prints one JSON line.
//! - `handshake`: sequential connect → upgrade → close cycles for D seconds (one at a time,
//!   so it measures the latency of a cycle). Prints one JSON line.
//! - `idle`: opens N upgraded connections and prints `READY handshake`, waits for a line on stdin;
//!   then (with `--echo-size`) echoes one message of S bytes on each connection, prints `READY echoed`
//!   and waits for stdin to close. The caller reads the server's RSS at each `READY`.
//!   `--source IP` (here and in `echo`, `handshake` and `scale`) binds every client socket to
//!   `IP` before connecting (IPv4; the port is chosen by `connect`, `IP_BIND_ADDRESS_NO_PORT`),
//!   so several load generators on 127.0.0.x each get their own range of ephemeral ports.
//! - `scale`: opens N upgraded connections from one thread (mio, non-blocking connects, at most C
//!   handshakes in progress at once, default 256; all of them within T seconds, default 120, or
//!   the run fails), prints `READY open <secs> <N>`, then reads commands on stdin until it closes
//!   (then closes every connection). `active K SECS`: K of the connections, spread evenly over
//!   them, each send one 64-byte text message per second, the K sends spread evenly over each
//!   second, for SECS seconds; every echo is checked byte for byte and its latency (send → the
//!   whole echo frame received) recorded. The other connections must stay silent: any byte or
//!   close on them is an error. Then one JSON line: counts, errors, p50/p99/max in µs and the
//!   exact latency histogram (`hist`: `[µs, count]` pairs) so runs of several load generators
//!   merge exactly (benches/scale.py).
//! - `tls-echo`: `echo` over TLS. The connections are dialed with `zerows_net::Dialer` to
//!   `wss://A/`, trusting only the CA in `--ca` (`ClientTls::no_roots().add_ca_pem`); then each
//!   connection's TLS stream is driven by one task of a single-threaded tokio runtime with the same
//!   pre-built masked frames and the same byte-exact check of every echo as `echo`. Prints one
//!   JSON line (with `mb_per_s`: payload MB/s each way, and the negotiated TLS parameters).
//! - `tls-handshake`: K tasks (`--concurrency`) on that runtime, each repeating a whole cycle: TCP
//!   connect, a full TLS handshake (the client keeps no session, so none is resumed), the WebSocket
//!   handshake, one text message of S bytes (default 16) echoed and checked, the close handshake.
//!   Cycles completed in the D seconds after the warm-up are counted, with the server's CPU time.
//!   Prints one JSON line.

use std::io::{self, BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use zerows_benches::frames::{REQUEST, ascii, client_frame, server_frame};
use zerows_frame::OpCode;

struct Args {
    mode: String,
    addr: SocketAddr,
    conns: usize,
    inflight: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    server_pid: Option<u32>,
    raw: bool,
    echo_size: usize,
    ca: Option<String>,
    concurrency: usize,
    source: Option<Ipv4Addr>,
    open_timeout: f64,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_default();
    let mut a = Args {
        mode,
        addr: "127.0.0.1:9001".parse().unwrap(),
        conns: 10,
        inflight: 1,
        size: 16,
        secs: 2.0,
        warmup: 0.5,
        server_pid: None,
        raw: false,
        echo_size: 0,
        ca: None,
        concurrency: 1,
        source: None,
        open_timeout: 120.0,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("missing value");
        match k.as_str() {
            "--addr" => a.addr = v().parse().expect("--addr"),
            "--conns" => a.conns = v().parse().expect("--conns"),
            "--inflight" => a.inflight = v().parse().expect("--inflight"),
            "--size" => a.size = v().parse().expect("--size"),
            "--secs" => a.secs = v().parse().expect("--secs"),
            "--warmup" => a.warmup = v().parse().expect("--warmup"),
            "--server-pid" => a.server_pid = Some(v().parse().expect("--server-pid")),
            "--echo-size" => a.echo_size = v().parse().expect("--echo-size"),
            "--ca" => a.ca = Some(v()),
            "--concurrency" => a.concurrency = v().parse().expect("--concurrency"),
            "--source" => a.source = Some(v().parse().expect("--source (an IPv4 address)")),
            "--open-timeout" => a.open_timeout = v().parse().expect("--open-timeout"),
            "--raw" => a.raw = true,
            _ => {
                eprintln!("loadgen: unknown argument {k}");
                std::process::exit(2);
            }
        }
    }
    a
}

fn main() {
    let a = parse_args();
    let r = match a.mode.as_str() {
        "echo" => echo(&a),
        "handshake" => handshake(&a),
        "idle" => idle(&a),
        "scale" => scale::run(&a),
        "tls-echo" => tls::run(&a, tls::echo(&a)),
        "tls-handshake" => tls::run(&a, tls::handshake(&a)),
        _ => {
            eprintln!(
                "usage: loadgen echo|handshake|idle|scale|tls-echo|tls-handshake [options] \
                 (see the source)"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("loadgen {}: {e}", a.mode);
        std::process::exit(1);
    }
}

/// Connects (from `source` when given) and performs the client handshake; returns the blocking
/// stream.
fn connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let mut s = match source {
        Some(ip) => connect_from(addr, ip, false)?,
        None => TcpStream::connect(addr)?,
    };
    s.set_nodelay(true)?;
    s.write_all(REQUEST)?;
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 512];
    loop {
        let n = s.read(&mut b)?;
        if n == 0 {
            return Err(io::Error::other("EOF during handshake"));
        }
        head.extend_from_slice(&b[..n]);
        if let Some(end) = find(&head, b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 101") {
                return Err(io::Error::other(format!(
                    "handshake refused: {}",
                    String::from_utf8_lossy(&head)
                )));
            }
            if end + 4 != head.len() {
                return Err(io::Error::other("bytes after the 101 response"));
            }
            return Ok(s);
        }
    }
}

/// A TCP socket bound to `source` and connecting to `addr`. The port is left to `connect`
/// (`IP_BIND_ADDRESS_NO_PORT`), so it need only be unique for this destination, not across
/// every socket bound to `source`. With `nonblocking` the connect may still be in progress on
/// return: wait for writability, then check `take_error`.
fn connect_from(addr: SocketAddr, source: Ipv4Addr, nonblocking: bool) -> io::Result<TcpStream> {
    let SocketAddr::V4(dst) = addr else {
        return Err(io::Error::other("--source needs an IPv4 --addr"));
    };
    let sin = |a: SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::sa_family_t::try_from(libc::AF_INET).expect("AF_INET fits"),
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = |n: usize| libc::socklen_t::try_from(n).expect("small");
    let ty =
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, ty, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: the value points to a live c_int and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const one).cast(),
            len(size_of::<libc::c_int>()),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let src = sin(SocketAddrV4::new(source, 0));
    // SAFETY: `src` is a live sockaddr_in and the length passed is its size.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&raw const src).cast(),
            len(size_of::<libc::sockaddr_in>()),
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("bind {source}: {e}")));
    }
    let dst = sin(dst);
    // SAFETY: `dst` is a live sockaddr_in and the length passed is its size.
    let r = unsafe {
        libc::connect(
            sock.as_raw_fd(),
            (&raw const dst).cast(),
            len(size_of::<libc::sockaddr_in>()),
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if !(nonblocking && e.raw_os_error() == Some(libc::EINPROGRESS)) {
            return Err(io::Error::new(
                e.kind(),
                format!("connect {addr} from {source}: {e}"),
            ));
        }
    }
    Ok(TcpStream::from(sock))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `utime + stime` of a process in seconds (all its threads).
fn cpu_secs(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat
        .rfind(')')
        .ok_or_else(|| io::Error::other("bad stat"))?
        + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm field: state is field 3, utime 14, stime 15 (1-based) → 11, 12 here.
    let utime: f64 = f[11].parse().map_err(io::Error::other)?;
    let stime: f64 = f[12].parse().map_err(io::Error::other)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((utime + stime) / hz)
}

/// This process's CPU time (user + system) in seconds.
fn self_cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

struct Conn {
    stream: mio::net::TcpStream,
    /// Offset of the next byte to send within the client frame.
    tx_off: usize,
    /// Bytes still to send.
    tx_owed: u64,
    /// Offset of the next expected byte within the expected frame.
    rx_off: usize,
    /// Echoes received.
    echoes: u64,
}

fn echo(a: &Args) -> io::Result<()> {
    let payload = ascii(a.size);
    let frame = client_frame(OpCode::Text, &payload);
    let expected = if a.raw {
        frame.clone()
    } else {
        server_frame(OpCode::Text, &payload)
    };
    // A few copies back to back, so one write can carry several frames.
    let copies = a.inflight.clamp(1, (1 << 20) / frame.len() + 1);
    let sendbuf = frame.repeat(copies);
    let (flen, elen) = (frame.len(), expected.len());

    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(a.conns);
    for i in 0..a.conns {
        let s = connect(a.addr, a.source)?;
        s.set_nonblocking(true)?;
        let mut stream = mio::net::TcpStream::from_std(s);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            tx_off: 0,
            tx_owed: (a.inflight * flen) as u64,
            rx_off: 0,
            echoes: 0,
        });
    }

    let write = |c: &mut Conn| -> io::Result<()> {
        while c.tx_owed > 0 {
            let owed = usize::try_from(c.tx_owed).unwrap_or(usize::MAX);
            let end = sendbuf.len().min(c.tx_off.saturating_add(owed));
            match c.stream.write(&sendbuf[c.tx_off..end]) {
                Ok(n) => {
                    c.tx_owed -= n as u64;
                    c.tx_off = (c.tx_off + n) % flen;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    for c in &mut conns {
        write(c)?;
    }

    let mut rbuf = vec![0u8; 256 << 10];
    let mut events = Events::with_capacity(1024);
    let mut done: u64 = 0;
    // Connections that completed at least one echo.
    let mut started = 0usize;
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(a.warmup);
    // The measured window opens after the warm-up once every connection has echoed once (so a
    // slow start is not measured), or 10 s after the warm-up at the latest.
    let give_up = warm_end + Duration::from_secs(10);
    let mut end = give_up + Duration::from_secs_f64(a.secs);
    let mut mark: Option<(Instant, u64, f64, f64)> = None;
    loop {
        let now = Instant::now();
        if mark.is_none() && now >= warm_end && (started == conns.len() || now >= give_up) {
            end = now + Duration::from_secs_f64(a.secs);
            let cpu = match a.server_pid {
                Some(p) => cpu_secs(p)?,
                None => 0.0,
            };
            mark = Some((now, done, cpu, self_cpu_secs()));
        }
        if now >= end {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))?;
        for ev in &events {
            let c = &mut conns[ev.token().0];
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                loop {
                    match c.stream.read(&mut rbuf) {
                        Ok(0) => return Err(io::Error::other("server closed a connection")),
                        Ok(n) => {
                            let mut chunk = &rbuf[..n];
                            while !chunk.is_empty() {
                                let m = chunk.len().min(elen - c.rx_off);
                                if chunk[..m] != expected[c.rx_off..c.rx_off + m] {
                                    return Err(io::Error::other(format!(
                                        "echo mismatch at byte {} of a {elen}-byte frame",
                                        c.rx_off
                                    )));
                                }
                                c.rx_off += m;
                                chunk = &chunk[m..];
                                if c.rx_off == elen {
                                    c.rx_off = 0;
                                    done += 1;
                                    if c.echoes == 0 {
                                        started += 1;
                                    }
                                    c.echoes += 1;
                                    c.tx_owed += flen as u64;
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            write(c)?;
        }
    }
    let (t0, d0, cpu0, self0) = mark.expect("warm-up ended");
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = match a.server_pid {
        Some(p) => cpu_secs(p)?,
        None => 0.0,
    };
    let msgs = done - d0;
    if msgs == 0 {
        return Err(io::Error::other("no echo completed in the measured window"));
    }
    let server_cpu = cpu1 - cpu0;
    println!(
        "{{\"mode\":\"echo\",\"conns\":{},\"inflight\":{},\"size\":{},\"secs\":{secs:.4},\
         \"started\":{started},\"warmup_s\":{:.3},\
         \"msgs\":{msgs},\"msg_per_s\":{:.1},\"server_cpu_s\":{server_cpu:.3},\
         \"server_cpu_us_per_msg\":{:.4},\"loadgen_cpu_util\":{:.3}}}",
        a.conns,
        a.inflight,
        a.size,
        (t0 - start).as_secs_f64(),
        msgs as f64 / secs,
        server_cpu * 1e6 / msgs as f64,
        (self_cpu_secs() - self0) / secs,
    );
    Ok(())
}

fn handshake(a: &Args) -> io::Result<()> {
    // A masked close frame with code 1000.
    let close = {
        let k = zerows_benches::frames::KEY;
        [0x88, 0x82, k[0], k[1], k[2], k[3], 0x03 ^ k[0], 0xE8 ^ k[1]]
    };
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.secs);
    let mut cycles = 0u64;
    let mut b = [0u8; 64];
    while Instant::now() < end {
        let mut s = connect(a.addr, a.source)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(&close)?;
        // The server's close frame (or, for the raw echo, our own frame back), or EOF.
        let mut got = 0;
        while got < 4 {
            let n = s.read(&mut b)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        cycles += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"mode\":\"handshake\",\"cycles\":{cycles},\"secs\":{secs:.4},\"cycles_per_s\":{:.1}}}",
        cycles as f64 / secs
    );
    Ok(())
}

fn idle(a: &Args) -> io::Result<()> {
    let mut conns = Vec::with_capacity(a.conns);
    for _ in 0..a.conns {
        conns.push(connect(a.addr, a.source)?);
    }
    let stdin = io::stdin();
    let mut line = String::new();
    println!("READY handshake {}", conns.len());
    io::stdout().flush()?;
    stdin.lock().read_line(&mut line)?;
    if a.echo_size > 0 {
        let payload = ascii(a.echo_size);
        let frame = client_frame(OpCode::Text, &payload);
        let expected = server_frame(OpCode::Text, &payload);
        let mut back = vec![0u8; expected.len()];
        for s in &mut conns {
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(&frame)?;
            s.read_exact(&mut back)?;
            if back != expected {
                return Err(io::Error::other("echo mismatch"));
            }
        }
        println!("READY echoed {}", conns.len());
        io::stdout().flush()?;
    }
    line.clear();
    while stdin.lock().read_line(&mut line)? > 0 {
        line.clear();
    }
    Ok(())
}

/// The TLS modes: a single-threaded tokio runtime, connections dialed with `zerows_net::Dialer`.
mod tls {
    use std::future::{Future, poll_fn};
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::task::Poll;
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use zerows_benches::frames::{ascii, client_frame, server_frame};
    use zerows_frame::OpCode;
    use zerows_net::{AsyncStream, ClientTls, Dialer};
    use zerows_util::{CloseCode, Message};

    use super::{Args, cpu_secs, self_cpu_secs};

    fn other(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(e.to_string())
    }

    /// Runs a mode's future on a fresh current-thread runtime.
    pub(super) fn run(_a: &Args, f: impl Future<Output = io::Result<()>>) -> io::Result<()> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(f)
    }

    /// The dialer: trusts only the CA in `--ca`; the client keeps no TLS session, so every
    /// connection makes a full handshake (the rest of the configuration is `ClientTls`' own:
    /// aws-lc-rs, ALPN `http/1.1`).
    fn dialer(a: &Args) -> io::Result<(Dialer, String)> {
        let ca = a.ca.as_ref().ok_or_else(|| other("--ca PEM is required"))?;
        let pem = std::fs::read(ca).map_err(|e| other(format!("{ca}: {e}")))?;
        let base = ClientTls::no_roots().add_ca_pem(&pem).map_err(other)?;
        let mut config = (*base.config().map_err(other)?).clone();
        config.resumption = rustls::client::Resumption::disabled();
        let tls = ClientTls::from_config(Arc::new(config));
        Ok((Dialer::new().tls(tls), format!("wss://{}/", a.addr)))
    }

    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519MLKEM768 http/1.1`: what a connection negotiated.
    fn negotiated(s: &AsyncStream) -> String {
        let Some(tokio_rustls::TlsStream::Client(c)) = s.tls_stream() else {
            return "no TLS".into();
        };
        let conn = c.get_ref().1;
        format!(
            "{:?} {:?} {:?} {}",
            conn.protocol_version(),
            conn.negotiated_cipher_suite().map(|s| s.suite()),
            conn.negotiated_key_exchange_group().map(|g| g.name()),
            conn.alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        )
        .replace("Some(", "")
        .replace(')', "")
    }

    /// The connection tasks' shared counters.
    #[derive(Default)]
    struct Counts {
        /// Echoes (or cycles) completed.
        done: AtomicU64,
        /// Connections (or dialers) that completed at least one.
        started: AtomicU64,
    }

    /// Opens the measured window after the warm-up once every task completed one echo or cycle
    /// (10 s after it at the latest), keeps it open for `--secs`, and returns (window seconds,
    /// completed in it, server CPU s, load generator CPU utilisation, warm-up s). Fails as soon
    /// as a task ends: they only end on an error.
    async fn measure(
        a: &Args,
        counts: &Counts,
        tasks: usize,
        handles: &mut Vec<tokio::task::JoinHandle<io::Result<()>>>,
    ) -> io::Result<(f64, u64, f64, f64, f64)> {
        let start = Instant::now();
        let warm_end = start + Duration::from_secs_f64(a.warmup);
        let give_up = warm_end + Duration::from_secs(10);
        let mut mark: Option<(Instant, u64, f64, f64)> = None;
        let mut end = give_up + Duration::from_secs_f64(a.secs);
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Some(i) = handles.iter().position(|h| h.is_finished()) {
                let h = handles.swap_remove(i);
                return Err(match h.await {
                    Ok(Ok(())) => other("a connection task ended early"),
                    Ok(Err(e)) => e,
                    Err(e) => other(format!("a connection task panicked: {e}")),
                });
            }
            let now = Instant::now();
            if mark.is_none()
                && now >= warm_end
                && (counts.started.load(Relaxed) == tasks as u64 || now >= give_up)
            {
                end = now + Duration::from_secs_f64(a.secs);
                let cpu = a.server_pid.map(cpu_secs).transpose()?.unwrap_or(0.0);
                mark = Some((now, counts.done.load(Relaxed), cpu, self_cpu_secs()));
            }
            if now >= end {
                break;
            }
        }
        let (t0, d0, cpu0, self0) = mark.expect("warm-up ended");
        let done = counts.done.load(Relaxed) - d0;
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = a.server_pid.map(cpu_secs).transpose()?.unwrap_or(0.0);
        let util = (self_cpu_secs() - self0) / secs;
        for h in handles.drain(..) {
            h.abort();
        }
        Ok((secs, done, cpu1 - cpu0, util, (t0 - start).as_secs_f64()))
    }

    pub(super) async fn echo(a: &Args) -> io::Result<()> {
        let (dialer, url) = dialer(a)?;
        let payload = ascii(a.size);
        let frame = client_frame(OpCode::Text, &payload);
        let expected = Arc::new(server_frame(OpCode::Text, &payload));
        let copies = a.inflight.clamp(1, (1 << 20) / frame.len() + 1);
        let sendbuf = Arc::new(frame.repeat(copies));
        let flen = frame.len();

        let mut streams = Vec::with_capacity(a.conns);
        for _ in 0..a.conns {
            let ws = dialer
                .connect_async(&url)
                .await
                .map_err(|e| other(format!("dial {url}: {e}")))?;
            // Nothing was read past the 101 response: the server speaks only when spoken to.
            streams.push(ws.into_inner());
        }
        let tls = negotiated(&streams[0]);
        let counts = Arc::new(Counts::default());
        let mut handles = Vec::with_capacity(a.conns);
        for io in streams {
            handles.push(tokio::spawn(drive(
                io,
                counts.clone(),
                sendbuf.clone(),
                flen,
                expected.clone(),
                (a.inflight * flen) as u64,
            )));
        }
        let (secs, msgs, server_cpu, util, warmup) =
            measure(a, &counts, a.conns, &mut handles).await?;
        if msgs == 0 {
            return Err(other("no echo completed in the measured window"));
        }
        let rate = msgs as f64 / secs;
        println!(
            "{{\"mode\":\"tls_echo\",\"conns\":{},\"inflight\":{},\"size\":{},\"secs\":{secs:.4},\
             \"started\":{},\"warmup_s\":{warmup:.3},\"msgs\":{msgs},\"msg_per_s\":{rate:.1},\
             \"mb_per_s\":{:.2},\"server_cpu_s\":{server_cpu:.3},\"server_cpu_us_per_msg\":{:.4},\
             \"loadgen_cpu_util\":{util:.3},\"tls\":\"{tls}\"}}",
            a.conns,
            a.inflight,
            a.size,
            counts.started.load(Relaxed),
            rate * a.size as f64 / 1e6,
            server_cpu * 1e6 / msgs as f64,
        );
        Ok(())
    }

    /// One connection: keeps `owed` bytes of frames in flight, checks every byte that comes back
    /// against the expected server frame, and sends one frame per echo. Reads and writes are
    /// polled in turn on the one stream (neither waits for the other: with 64 KiB messages in
    /// flight a blocked write would deadlock against a server blocked on its own write).
    async fn drive(
        mut io: AsyncStream,
        counts: Arc<Counts>,
        sendbuf: Arc<Vec<u8>>,
        flen: usize,
        expected: Arc<Vec<u8>>,
        mut owed: u64,
    ) -> io::Result<()> {
        let elen = expected.len();
        let (mut tx_off, mut rx_off, mut echoes) = (0usize, 0usize, 0u64);
        let mut rbuf = vec![0u8; 64 << 10];
        poll_fn(|cx| {
            loop {
                let mut progress = false;
                while owed > 0 {
                    let n = usize::try_from(owed).unwrap_or(usize::MAX);
                    let end = sendbuf.len().min(tx_off.saturating_add(n));
                    match Pin::new(&mut io).poll_write(cx, &sendbuf[tx_off..end]) {
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        Poll::Ready(Ok(n)) => {
                            owed -= n as u64;
                            tx_off = (tx_off + n) % flen;
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                }
                // TLS records the socket did not take yet.
                if let Poll::Ready(Err(e)) = Pin::new(&mut io).poll_flush(cx) {
                    return Poll::Ready(Err(e));
                }
                let mut rb = ReadBuf::new(&mut rbuf);
                match Pin::new(&mut io).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let mut chunk = rb.filled();
                        if chunk.is_empty() {
                            return Poll::Ready(Err(other("server closed a connection")));
                        }
                        progress = true;
                        while !chunk.is_empty() {
                            let m = chunk.len().min(elen - rx_off);
                            if chunk[..m] != expected[rx_off..rx_off + m] {
                                return Poll::Ready(Err(other(format!(
                                    "echo mismatch at byte {rx_off} of a {elen}-byte frame"
                                ))));
                            }
                            rx_off += m;
                            chunk = &chunk[m..];
                            if rx_off == elen {
                                rx_off = 0;
                                counts.done.fetch_add(1, Relaxed);
                                if echoes == 0 {
                                    counts.started.fetch_add(1, Relaxed);
                                }
                                echoes += 1;
                                owed += flen as u64;
                            }
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
                if !progress {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    pub(super) async fn handshake(a: &Args) -> io::Result<()> {
        let (dialer, url) = dialer(a)?;
        let text: Arc<str> = String::from_utf8(ascii(a.size)).expect("ASCII").into();
        // One cycle first, to fail early and to name what was negotiated.
        let tls = {
            let mut ws = dialer
                .connect_async(&url)
                .await
                .map_err(|e| other(format!("dial {url}: {e}")))?;
            let tls = negotiated(ws.get_ref());
            ws.close(CloseCode::NORMAL, "").await.map_err(other)?;
            tls
        };
        let counts = Arc::new(Counts::default());
        let k = a.concurrency.max(1);
        let mut handles = Vec::with_capacity(k);
        for _ in 0..k {
            let (dialer, url, text, counts) =
                (dialer.clone(), url.clone(), text.clone(), counts.clone());
            handles.push(tokio::spawn(async move {
                let mut first = true;
                loop {
                    cycle(&dialer, &url, &text).await?;
                    counts.done.fetch_add(1, Relaxed);
                    if first {
                        counts.started.fetch_add(1, Relaxed);
                        first = false;
                    }
                }
            }));
        }
        let (secs, cycles, server_cpu, util, warmup) = measure(a, &counts, k, &mut handles).await?;
        if cycles == 0 {
            return Err(other("no cycle completed in the measured window"));
        }
        println!(
            "{{\"mode\":\"tls_handshake\",\"concurrency\":{k},\"size\":{},\"secs\":{secs:.4},\
             \"warmup_s\":{warmup:.3},\"cycles\":{cycles},\"cycles_per_s\":{:.1},\
             \"server_cpu_s\":{server_cpu:.3},\"server_cpu_us_per_cycle\":{:.2},\
             \"loadgen_cpu_util\":{util:.3},\"tls\":\"{tls}\"}}",
            a.size,
            cycles as f64 / secs,
            server_cpu * 1e6 / cycles as f64,
        );
        Ok(())
    }

    /// Connect, TLS, upgrade, one echo (checked), close.
    async fn cycle(dialer: &Dialer, url: &str, text: &str) -> io::Result<()> {
        let mut ws = dialer
            .connect_async(url)
            .await
            .map_err(|e| other(format!("dial {url}: {e}")))?;
        ws.send_text(text).await.map_err(other)?;
        match ws.read().await.map_err(other)? {
            Message::Text(t) if t == text => {}
            m => return Err(other(format!("unexpected reply {m:?}"))),
        }
        ws.close(CloseCode::NORMAL, "").await.map_err(other)
    }
}

/// `scale`: many upgraded connections from one thread, mostly idle, a few echoing on a schedule.
mod scale {
    use std::collections::{BTreeMap, VecDeque};
    use std::io::{self, BufRead, Read, Write};
    use std::time::{Duration, Instant};

    use mio::{Events, Interest, Poll, Token};
    use zerows_benches::frames::{REQUEST, ascii, client_frame, server_frame};
    use zerows_frame::OpCode;

    use super::{Args, connect_from, find};

    /// Payload bytes of each active message.
    const SIZE: usize = 64;
    /// How long the echoes still owed at the end of an active phase are waited for.
    const DRAIN: Duration = Duration::from_secs(5);

    enum State {
        /// The TCP connect is in progress.
        Connecting,
        /// The request is sent; the response head read so far.
        Handshaking(Vec<u8>),
        /// Upgraded.
        Open,
        /// Failed or closed by the server; deregistered.
        Dead,
    }

    struct Conn {
        stream: mio::net::TcpStream,
        state: State,
        /// Only for the connections of the current active phase.
        active: Option<Box<Active>>,
    }

    /// What an active connection has in flight.
    #[derive(Default)]
    struct Active {
        /// When each message still owed an echo was sent, oldest first.
        sent: VecDeque<Instant>,
        /// Bytes of frames still to write, and the offset of the next within the frame.
        tx_owed: usize,
        tx_off: usize,
        /// Offset of the next expected byte within the expected frame.
        rx_off: usize,
    }

    pub(super) fn run(a: &Args) -> io::Result<()> {
        let mut poll = Poll::new()?;
        let mut conns = open(a, &mut poll)?;
        let stdin = io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            if stdin.lock().read_line(&mut line)? == 0 {
                return Ok(()); // stdin closed: the connections close as they drop
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["active", k, secs] => {
                    let k: usize = k.parse().map_err(|_| io::Error::other("active K: K"))?;
                    let secs: u32 = secs.parse().map_err(|_| io::Error::other("SECS"))?;
                    active(&mut poll, &mut conns, k, secs)?;
                }
                [] => {}
                _ => return Err(io::Error::other(format!("unknown command {line:?}"))),
            }
        }
    }

    fn start(a: &Args, poll: &Poll, i: usize) -> io::Result<Conn> {
        let s = match a.source {
            Some(ip) => connect_from(a.addr, ip, true)?,
            None => {
                let s = mio::net::TcpStream::connect(a.addr)?;
                return register(poll, s, i);
            }
        };
        register(poll, mio::net::TcpStream::from_std(s), i)
    }

    fn register(poll: &Poll, mut stream: mio::net::TcpStream, i: usize) -> io::Result<Conn> {
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Conn {
            stream,
            state: State::Connecting,
            active: None,
        })
    }

    /// Opens `a.conns` upgraded connections, at most `a.concurrency` handshakes at a time.
    fn open(a: &Args, poll: &mut Poll) -> io::Result<Vec<Conn>> {
        let n = a.conns;
        let limit = a.concurrency.max(1);
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs_f64(a.open_timeout);
        let mut conns: Vec<Conn> = Vec::with_capacity(n);
        let (mut pending, mut open) = (0usize, 0usize);
        let mut events = Events::with_capacity(1024);
        let mut rbuf = vec![0u8; 4096];
        let fail = |what: String, open: usize| {
            io::Error::other(format!(
                "{what} ({open} of {n} connections open after {:.1} s)",
                t0.elapsed().as_secs_f64()
            ))
        };
        while open < n {
            while pending < limit && conns.len() < n {
                let i = conns.len();
                conns.push(start(a, poll, i).map_err(|e| fail(format!("connect: {e}"), open))?);
                pending += 1;
            }
            if Instant::now() >= deadline {
                return Err(fail(
                    format!("timed out after {} s (--open-timeout)", a.open_timeout),
                    open,
                ));
            }
            poll.poll(&mut events, Some(Duration::from_millis(100)))?;
            for ev in &events {
                let c = &mut conns[ev.token().0];
                if let State::Connecting = c.state {
                    if !(ev.is_writable() || ev.is_error() || ev.is_write_closed()) {
                        continue;
                    }
                    if let Some(e) = c.stream.take_error()? {
                        return Err(fail(format!("connect: {e}"), open));
                    }
                    match c.stream.peer_addr() {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                        Err(e) => return Err(fail(format!("connect: {e}"), open)),
                    }
                    c.stream.set_nodelay(true)?;
                    // A fresh socket's send buffer takes the whole request.
                    let w = c.stream.write(REQUEST)?;
                    if w != REQUEST.len() {
                        return Err(fail(format!("short write of the request ({w})"), open));
                    }
                    c.state = State::Handshaking(Vec::new());
                }
                let State::Handshaking(head) = &mut c.state else {
                    // An open connection spoke or closed before any message was sent.
                    if matches!(c.state, State::Open) && (ev.is_readable() || ev.is_read_closed()) {
                        return Err(fail("an open connection became readable".into(), open));
                    }
                    continue;
                };
                loop {
                    match c.stream.read(&mut rbuf) {
                        Ok(0) => return Err(fail("EOF during the handshake".into(), open)),
                        Ok(m) => head.extend_from_slice(&rbuf[..m]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(fail(format!("handshake: {e}"), open)),
                    }
                    if head.len() > 4096 {
                        return Err(fail("response head over 4 KiB".into(), open));
                    }
                }
                if let Some(end) = find(head, b"\r\n\r\n") {
                    if !head.starts_with(b"HTTP/1.1 101") {
                        let h = String::from_utf8_lossy(head).into_owned();
                        return Err(fail(format!("handshake refused: {h}"), open));
                    }
                    if end + 4 != head.len() {
                        return Err(fail("bytes after the 101 response".into(), open));
                    }
                    c.state = State::Open;
                    pending -= 1;
                    open += 1;
                }
            }
        }
        println!("READY open {:.3} {n}", t0.elapsed().as_secs_f64());
        io::stdout().flush()?;
        Ok(conns)
    }

    /// The value at quantile `q` of a histogram (nearest rank: the smallest value with at least
    /// `ceil(q * count)` samples at or below it).
    fn quantile(hist: &BTreeMap<u64, u64>, count: u64, q: f64) -> u64 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((q * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&v, &c) in hist {
            seen += c;
            if seen >= rank {
                return v;
            }
        }
        0
    }

    fn micros(d: Duration) -> u64 {
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
    }

    /// One active phase: `k` connections, one message per second each for `secs` seconds.
    fn active(poll: &mut Poll, conns: &mut [Conn], k: usize, secs: u32) -> io::Result<()> {
        let payload = ascii(SIZE);
        let frame = client_frame(OpCode::Text, &payload);
        let expected = server_frame(OpCode::Text, &payload);
        let (flen, elen) = (frame.len(), expected.len());
        let alive: Vec<usize> = (0..conns.len())
            .filter(|&i| matches!(conns[i].state, State::Open))
            .collect();
        let k = k.min(alive.len());
        // Spread evenly over the connections (so over the servers they were accepted by).
        let chosen: Vec<usize> = (0..k).map(|j| alive[j * alive.len() / k]).collect();
        for &i in &chosen {
            conns[i].active = Some(Box::default());
        }
        let total = k as u64 * u64::from(secs);
        let t0 = Instant::now();
        // Message m goes out at t0 + m / k seconds: each connection once a second, the k
        // connections spread evenly over the second.
        let due = |m: u64| t0 + Duration::from_nanos(m * 1_000_000_000 / k.max(1) as u64);
        let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut next, mut count, mut errors, mut closed) = (0u64, 0u64, 0u64, 0u64);
        let mut max_lag = Duration::ZERO;
        let mut first_error: Option<String> = None;
        let mut note = |e: String, errors: &mut u64| {
            *errors += 1;
            first_error.get_or_insert(e);
        };
        let mut events = Events::with_capacity(1024);
        let mut rbuf = vec![0u8; 64 << 10];
        let end_of_sends = due(total);
        loop {
            let now = Instant::now();
            while next < total && due(next) <= now {
                let i = chosen[usize::try_from(next % k as u64).expect("index")];
                max_lag = max_lag.max(now - due(next));
                next += 1;
                let c = &mut conns[i];
                let Some(act) = c.active.as_mut() else {
                    continue; // died earlier in this phase (counted then)
                };
                act.sent.push_back(Instant::now());
                act.tx_owed += flen;
                if let Err(e) = write(&mut c.stream, act, &frame) {
                    note(format!("write: {e}"), &mut errors);
                    kill(poll, c);
                }
            }
            let owed: usize = chosen
                .iter()
                .filter_map(|&i| conns[i].active.as_ref())
                .map(|a| a.sent.len())
                .sum();
            if next == total && owed == 0 {
                break;
            }
            if next == total && now >= end_of_sends + DRAIN {
                note(
                    format!(
                        "{owed} echoes not received {} s after the last send",
                        DRAIN.as_secs()
                    ),
                    &mut errors,
                );
                errors += owed as u64 - 1;
                break;
            }
            let wait = if next < total {
                due(next).saturating_duration_since(now)
            } else {
                Duration::from_millis(10)
            };
            poll.poll(&mut events, Some(wait))?;
            for ev in &events {
                let c = &mut conns[ev.token().0];
                if matches!(c.state, State::Dead) {
                    continue;
                }
                let Some(act) = c.active.as_mut() else {
                    // An idle connection must stay silent.
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        let why = match c.stream.read(&mut rbuf) {
                            Ok(0) => "closed by the server".to_string(),
                            Ok(n) => format!("sent {n} unexpected bytes"),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            Err(e) => e.to_string(),
                        };
                        closed += 1;
                        note(
                            format!("idle connection {}: {why}", ev.token().0),
                            &mut errors,
                        );
                        kill(poll, c);
                    }
                    continue;
                };
                let mut failed = None;
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    'read: loop {
                        match c.stream.read(&mut rbuf) {
                            Ok(0) => {
                                failed = Some("closed by the server".to_string());
                                break;
                            }
                            Ok(n) => {
                                let mut chunk = &rbuf[..n];
                                while !chunk.is_empty() {
                                    let m = chunk.len().min(elen - act.rx_off);
                                    if chunk[..m] != expected[act.rx_off..act.rx_off + m] {
                                        failed = Some(format!(
                                            "echo mismatch at byte {} of a {elen}-byte frame",
                                            act.rx_off
                                        ));
                                        break 'read;
                                    }
                                    act.rx_off += m;
                                    chunk = &chunk[m..];
                                    if act.rx_off == elen {
                                        act.rx_off = 0;
                                        let Some(at) = act.sent.pop_front() else {
                                            failed = Some("an echo nobody sent".into());
                                            break 'read;
                                        };
                                        *hist.entry(micros(at.elapsed())).or_default() += 1;
                                        count += 1;
                                    }
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                failed = Some(e.to_string());
                                break;
                            }
                        }
                    }
                }
                if failed.is_none()
                    && let Err(e) = write(&mut c.stream, act, &frame)
                {
                    failed = Some(format!("write: {e}"));
                }
                if let Some(why) = failed {
                    // Its echoes still owed are lost with it.
                    errors += act.sent.len() as u64;
                    note(
                        format!("active connection {}: {why}", ev.token().0),
                        &mut errors,
                    );
                    kill(poll, c);
                }
            }
        }
        for &i in &chosen {
            conns[i].active = None;
        }
        let q = |p| quantile(&hist, count, p);
        let (p50, p99, max) = if count > 0 {
            (q(0.5), q(0.99), *hist.keys().next_back().unwrap_or(&0))
        } else {
            (0, 0, 0)
        };
        let pairs: Vec<String> = hist.iter().map(|(v, c)| format!("[{v},{c}]")).collect();
        let first = first_error.unwrap_or_default().replace(['"', '\\'], "'");
        println!(
            "{{\"mode\":\"scale_active\",\"conns\":{},\"active\":{k},\"secs\":{secs},\
             \"size\":{SIZE},\"sent\":{next},\"count\":{count},\"errors\":{errors},\
             \"idle_closed\":{closed},\"p50_us\":{p50},\"p99_us\":{p99},\"max_us\":{max},\
             \"max_send_lag_us\":{},\"first_error\":\"{first}\",\"hist\":[{}]}}",
            conns.len(),
            micros(max_lag),
            pairs.join(","),
        );
        io::stdout().flush()
    }

    /// Writes what `act` owes of back-to-back copies of `frame` until the socket would block.
    fn write(s: &mut mio::net::TcpStream, act: &mut Active, frame: &[u8]) -> io::Result<()> {
        while act.tx_owed > 0 {
            let end = frame.len().min(act.tx_off + act.tx_owed);
            match s.write(&frame[act.tx_off..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    act.tx_owed -= n;
                    act.tx_off = (act.tx_off + n) % frame.len();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn kill(poll: &Poll, c: &mut Conn) {
        let _ = poll.registry().deregister(&mut c.stream);
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        c.state = State::Dead;
        c.active = None;
    }
}
