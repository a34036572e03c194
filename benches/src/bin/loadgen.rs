//! The loopback load generator: one thread, pre-built masked frames, every echo checked.
//!
//! ```text
//! loadgen echo --addr A --conns N --inflight K --size S [--secs D] [--warmup W] [--server-pid P] [--raw]
//! loadgen handshake --addr A [--secs D]
//! loadgen idle --addr A --conns N [--echo-size S]
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

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
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
        _ => {
            eprintln!("usage: loadgen echo|handshake|idle [options] (see the source)");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("loadgen {}: {e}", a.mode);
        std::process::exit(1);
    }
}

/// Connects and performs the client handshake; returns the blocking stream.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
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
        let s = connect(a.addr)?;
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
        let mut s = connect(a.addr)?;
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
        conns.push(connect(a.addr)?);
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
