//! The write queue: messages fed with `feed_message` wait, encoded, until a flush, a send, a
//! control frame or a read that has to wait; a burst of replies goes out in one write; order is
//! kept with everything else on the wire, and short writes never split a frame's bookkeeping.

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use zerows_frame::{CloseCode, OpCode, Role};
use zerows_util::{Config, Error, Message, Transport, WebSocket};

/// A Unix socket that counts write calls and can cut every write short.
struct Counted {
    io: UnixStream,
    writes: Arc<AtomicUsize>,
    /// At most this many bytes per write call (0: no limit).
    short: usize,
}

impl Counted {
    fn new(io: UnixStream) -> (Counted, Arc<AtomicUsize>) {
        let writes = Arc::new(AtomicUsize::new(0));
        let c = Counted {
            io,
            writes: Arc::clone(&writes),
            short: 0,
        };
        (c, writes)
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let n = if self.short > 0 {
            buf.len().min(self.short)
        } else {
            buf.len()
        };
        self.io.write(&buf[..n])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.short > 0 {
            // Short writes: only the first non-empty slice, cut.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            return self.write(first);
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.io.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Counted {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.io.shutdown(std::net::Shutdown::Write)
    }
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(timeout)
    }
}

fn pair(config: Config) -> (WebSocket<Counted>, Arc<AtomicUsize>, WebSocket<UnixStream>) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (a, writes) = Counted::new(a);
    let server = WebSocket::from_raw(a, Role::Server, &[], config);
    let client = WebSocket::from_raw(b, Role::Client, &[], Config::default());
    (server, writes, client)
}

fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| b'a' + u8::try_from((i + j) % 26).unwrap())
        .collect()
}

fn expect_binary(ws: &mut WebSocket<UnixStream>, want: &[u8]) {
    match ws.read().unwrap() {
        Message::Binary(b) => assert!(b == want, "payload differs ({} bytes)", want.len()),
        other => panic!("expected binary, got {other:?}"),
    }
}

#[test]
fn fed_messages_wait_for_flush_then_go_out_in_one_write() {
    let (mut server, writes, mut client) = pair(Config::default());
    for i in 0..16 {
        server
            .feed_message(OpCode::Binary, &payload(i, 16))
            .unwrap();
    }
    assert_eq!(writes.load(Ordering::Relaxed), 0, "feeding writes nothing");
    client.get_mut().set_nonblocking(true).unwrap();
    let mut probe = [0u8; 1];
    let e = client.get_mut().read(&mut probe).unwrap_err();
    assert_eq!(
        e.kind(),
        io::ErrorKind::WouldBlock,
        "nothing on the wire yet"
    );
    client.get_mut().set_nonblocking(false).unwrap();

    server.flush().unwrap();
    assert_eq!(writes.load(Ordering::Relaxed), 1, "16 frames, one write");
    for i in 0..16 {
        expect_binary(&mut client, &payload(i, 16));
    }
    server.flush().unwrap();
    assert_eq!(
        writes.load(Ordering::Relaxed),
        1,
        "an empty flush writes nothing"
    );
}

#[test]
fn a_read_that_waits_writes_the_fed_replies_first() {
    let (mut server, writes, mut client) = pair(Config::default());
    let echo = thread::spawn(move || {
        let mut buf = Vec::new();
        loop {
            match server.read_into(&mut buf) {
                Ok(op) => server.feed_message(op, &buf).unwrap(),
                Err(Error::Closed) => return,
                Err(e) => panic!("{e}"),
            }
        }
    });
    // Lock-step: each request waits for its reply, which only the server's next read sends.
    for i in 0..200 {
        let p = payload(i, 1 + i % 300);
        client.send_binary(&p).unwrap();
        expect_binary(&mut client, &p);
    }
    client.close(CloseCode::NORMAL, "").unwrap();
    echo.join().unwrap();
    assert!(writes.load(Ordering::Relaxed) >= 200);
}

#[test]
fn a_burst_is_answered_with_one_write() {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (a, writes) = Counted::new(a);
    let (b, client_writes) = Counted::new(b);
    let mut server = WebSocket::from_raw(a, Role::Server, &[], Config::default());
    let mut client = WebSocket::from_raw(b, Role::Client, &[], Config::default());
    // The client feeds 16 masked frames and writes them at once.
    for i in 0..16 {
        client
            .feed_message(OpCode::Binary, &payload(i, 16))
            .unwrap();
    }
    client.flush().unwrap();
    assert_eq!(client_writes.load(Ordering::Relaxed), 1);
    // The server reads them (one read), feeds 16 echoes; its next read flushes them in one write.
    let mut buf = Vec::new();
    for i in 0..16 {
        assert_eq!(server.read_into(&mut buf).unwrap(), OpCode::Binary);
        assert_eq!(buf, payload(i, 16));
        server.feed_message(OpCode::Binary, &buf).unwrap();
    }
    assert_eq!(writes.load(Ordering::Relaxed), 0);
    let t = thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..16 {
            match client.read().unwrap() {
                Message::Binary(b) => got.push(b.to_vec()),
                other => panic!("{other:?}"),
            }
        }
        client.send_binary(b"last").unwrap();
        got
    });
    assert_eq!(server.read_into(&mut buf).unwrap(), OpCode::Binary);
    assert_eq!(buf, b"last");
    assert_eq!(writes.load(Ordering::Relaxed), 1, "16 echoes, one write");
    let got = t.join().unwrap();
    for (i, g) in got.iter().enumerate() {
        assert_eq!(*g, payload(i, 16));
    }
}

#[test]
fn order_is_kept_across_fed_sent_large_control_and_close() {
    let (mut server, writes, mut client) = pair(Config::default().write_buffer_size(1024));
    let big = payload(7, 100_000);
    let reader = thread::spawn(move || {
        let mut seen = Vec::new();
        loop {
            match client.read() {
                Ok(Message::Binary(b)) => seen.push(format!("bin {}", b.len())),
                Ok(Message::Text(t)) => seen.push(format!("text {t}")),
                Ok(Message::Pong(p)) => seen.push(format!("pong {}", p.len())),
                Ok(Message::Close(c)) => seen.push(format!("close {:?}", c.map(|c| c.code))),
                Ok(other) => seen.push(format!("{other:?}")),
                Err(_) => return seen,
            }
        }
    });
    server.feed_message(OpCode::Text, b"one").unwrap();
    server.feed_message(OpCode::Text, b"two").unwrap();
    // Too big for the 1 KiB write buffer: written behind the queue, straight from our buffer.
    server.feed_message(OpCode::Binary, &big).unwrap();
    let after_big = writes.load(Ordering::Relaxed);
    assert!(
        after_big >= 1,
        "a message that does not fit is written at once"
    );
    server.feed_message(OpCode::Text, b"three").unwrap();
    server.pong(b"p").unwrap(); // a control frame writes the queue first
    server.feed_message(OpCode::Text, b"four").unwrap();
    server.send_text("five").unwrap();
    server.feed_message(OpCode::Text, b"six").unwrap();
    // The close frame goes out after what was fed (read errors end the peer's loop after it).
    let _ = server.close(CloseCode::NORMAL, "");
    let seen = reader.join().unwrap();
    assert_eq!(
        seen,
        [
            "text one",
            "text two",
            "bin 100000",
            "text three",
            "pong 1",
            "text four",
            "text five",
            "text six",
            "close Some(CloseCode(1000))",
        ]
    );
}

#[test]
fn the_queue_is_written_when_full() {
    let (mut server, writes, mut client) = pair(Config::default().write_buffer_size(512));
    let reader = thread::spawn(move || {
        for i in 0..100 {
            expect_binary(&mut client, &payload(i, 100));
        }
    });
    for i in 0..100 {
        server
            .feed_message(OpCode::Binary, &payload(i, 100))
            .unwrap();
    }
    let before_flush = writes.load(Ordering::Relaxed);
    // 100 frames of 102 bytes through a 512-byte buffer: about one write per 5 frames.
    assert!(
        (15..=30).contains(&before_flush),
        "{before_flush} writes before the flush"
    );
    server.flush().unwrap();
    reader.join().unwrap();
}

#[test]
fn short_writes_keep_frames_whole() {
    for (role, peer_role) in [(Role::Server, Role::Client), (Role::Client, Role::Server)] {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (mut a, _) = Counted::new(a);
        a.short = 7;
        let mut ws = WebSocket::from_raw(a, role, &[], Config::default().write_buffer_size(600));
        let mut peer = WebSocket::from_raw(b, peer_role, &[], Config::default());
        let reader = thread::spawn(move || {
            let mut n = 0;
            loop {
                match peer.read() {
                    Ok(Message::Binary(b)) => {
                        assert!(b == payload(n, b.len()).as_slice(), "frame {n} corrupted");
                        n += 1;
                    }
                    Ok(Message::Ping(_)) => {}
                    Ok(Message::Close(_)) | Err(_) => return n,
                    Ok(other) => panic!("{other:?}"),
                }
            }
        });
        for i in 0..60 {
            let p = payload(i, [3, 130, 700, 2000][i % 4]);
            if i % 3 == 0 {
                ws.send_binary(&p).unwrap();
            } else {
                ws.feed_message(OpCode::Binary, &p).unwrap();
            }
            if i % 10 == 0 {
                ws.ping(b"x").unwrap();
            }
        }
        ws.flush().unwrap();
        let _ = ws.close(CloseCode::NORMAL, "");
        assert_eq!(reader.join().unwrap(), 60, "{role:?}");
    }
}

#[test]
fn split_write_half_feeds_and_flushes() {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let server = WebSocket::from_raw(a, Role::Server, &[], Config::default());
    let mut client = WebSocket::from_raw(b, Role::Client, &[], Config::default());
    let (_read, write) = server.split().unwrap();
    for i in 0..10 {
        write.feed_message(OpCode::Binary, &payload(i, 50)).unwrap();
    }
    client.get_mut().set_nonblocking(true).unwrap();
    let mut probe = [0u8; 1];
    assert!(client.get_mut().read(&mut probe).is_err(), "still queued");
    client.get_mut().set_nonblocking(false).unwrap();
    write.flush().unwrap();
    for i in 0..10 {
        expect_binary(&mut client, &payload(i, 50));
    }
    assert!(matches!(
        write.feed_message(OpCode::Ping, b""),
        Err(Error::InvalidInput(_))
    ));
}
