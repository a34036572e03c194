//! The broadcast load generator: N upgraded connections that only read; once told to start, it
//! waits until every connection received K text messages of S bytes and prints one JSON line
//! with the deliveries per second.
//!
//! ```text
//! fanout --addr A --conns N --messages K --size S [--timeout SECS]
//! ```
//!
//! The connections are opened and upgraded with non-blocking sockets under one mio `Poll`
//! (hundreds of handshakes in flight), then it prints `READY <N>` and waits for a line on stdin:
//! the clock starts when the line arrives (the harness then makes the server broadcast). Every
//! byte a connection receives must be exactly the server frame of the message (`m` repeated S
//! times), K times over; anything else aborts the run.

use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use zerows_benches::frames::{REQUEST, server_frame};
use zerows_frame::OpCode;

struct Args {
    addr: SocketAddr,
    conns: usize,
    messages: usize,
    size: usize,
    timeout: f64,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        addr: "127.0.0.1:9002".parse().expect("address"),
        conns: 1000,
        messages: 10,
        size: 64,
        timeout: 60.0,
    };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--addr" => a.addr = v.parse().unwrap_or_else(|_| usage()),
            "--conns" => a.conns = v.parse().unwrap_or_else(|_| usage()),
            "--messages" => a.messages = v.parse().unwrap_or_else(|_| usage()),
            "--size" => a.size = v.parse().unwrap_or_else(|_| usage()),
            "--timeout" => a.timeout = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    a
}

fn usage() -> ! {
    eprintln!("usage: fanout --addr A --conns N --messages K --size S [--timeout SECS]");
    std::process::exit(2)
}

/// A connection's progress: the handshake response read so far, then the bytes received.
struct Conn {
    stream: TcpStream,
    upgraded: bool,
    head: Vec<u8>,
    received: usize,
}

fn main() {
    let a = parse_args();
    if let Err(e) = run(&a) {
        eprintln!("fanout: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Conn> = Vec::with_capacity(a.conns);
    // Open in batches: at most 256 handshakes in flight.
    let mut upgraded = 0;
    let mut buf = vec![0u8; 64 << 10];
    while upgraded < a.conns {
        while conns.len() < a.conns && conns.len() - upgraded < 256 {
            let mut stream = TcpStream::connect(a.addr)?;
            let token = Token(conns.len());
            poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                upgraded: false,
                head: Vec::new(),
                received: 0,
            });
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "only {upgraded} of {} upgraded in time",
                a.conns
            )));
        }
        for ev in &events {
            let c = &mut conns[ev.token().0];
            if c.upgraded {
                continue;
            }
            if ev.is_writable() && c.head.is_empty() {
                c.stream.set_nodelay(true)?;
                // A fresh socket takes the 150-byte request at once.
                if c.stream.write(REQUEST)? != REQUEST.len() {
                    return Err(io::Error::other("short write of the request"));
                }
                c.head.push(0); // marks the request as sent
            }
            if ev.is_readable() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => return Err(io::Error::other("EOF during the handshake")),
                        Ok(n) => c.head.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                let head = &c.head[1.min(c.head.len())..];
                if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    if !head.starts_with(b"HTTP/1.1 101") || end + 4 != head.len() {
                        return Err(io::Error::other("handshake refused or bytes after it"));
                    }
                    c.upgraded = true;
                    c.head = Vec::new();
                    upgraded += 1;
                }
            }
        }
    }
    for (i, c) in conns.iter_mut().enumerate() {
        poll.registry()
            .reregister(&mut c.stream, Token(i), Interest::READABLE)?;
    }
    println!("READY {}", conns.len());
    io::stdout().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(a.timeout);
    let frame = server_frame(OpCode::Text, &vec![b'm'; a.size]);
    let want = frame.len() * a.messages;
    let mut done = 0;
    while done < conns.len() {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "only {done} of {} connections got all {} messages in {} s",
                conns.len(),
                a.messages,
                a.timeout
            )));
        }
        for ev in &events {
            let c = &mut conns[ev.token().0];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return Err(io::Error::other("the server closed a connection")),
                    Ok(n) => {
                        for (i, &b) in buf[..n].iter().enumerate() {
                            if c.received + i >= want || b != frame[(c.received + i) % frame.len()]
                            {
                                return Err(io::Error::other(
                                    "unexpected bytes: not the broadcast",
                                ));
                            }
                        }
                        c.received += n;
                        if c.received == want {
                            done += 1;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let deliveries = conns.len() * a.messages;
    println!(
        "{{\"mode\":\"fanout\",\"conns\":{},\"messages\":{},\"size\":{},\"secs\":{secs:.4},\
         \"deliveries_per_s\":{:.0}}}",
        conns.len(),
        a.messages,
        a.size,
        deliveries as f64 / secs
    );
    io::stdout().flush()
}
