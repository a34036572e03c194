//! The backpressure pause over real sockets (mio's edge-triggered epoll): a client that sends
//! far more than it reads is paused, and once it reads, every echo arrives (the writable edge
//! that resumes reading is never lost).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zerows_poll::{ConnId, Context, Handler, Options, SendStatus, Server};
use zerows_util::{Config, Message};

/// Echoes every message; counts the sends that said `Backpressured` and the drains.
struct Echo(Arc<(AtomicUsize, AtomicUsize)>);

impl Handler for Echo {
    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        if let Ok(SendStatus::Backpressured) = cx.send(id, message.opcode(), message.payload()) {
            self.0.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_drain(&mut self, _cx: &mut Context<'_>, _id: ConnId) {
        self.0.1.fetch_add(1, Ordering::Relaxed);
    }
}

/// A valid upgrade request (RFC 6455 §4.1).
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// A masked binary frame of 8 KiB (key 0: the payload goes as is).
fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("under 64 KiB");
    let mut f = vec![0x82, 0x80 | 126];
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn a_flooding_client_that_reads_late_gets_every_echo() {
    let options = Options::default().threads(1).backpressure_threshold(1024);
    let server = Server::bind("127.0.0.1:0", options, Arc::new(Config::default())).expect("bind");
    let addr = server.local_addr();
    let handles = server.handles();
    let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let (done_tx, done_rx) = mpsc::channel();
    let c = Arc::clone(&counts);
    std::thread::spawn(move || {
        let _ = done_tx.send(server.run(|_| Echo(Arc::clone(&c))));
    });

    // A small receive buffer: the server's writes block after a few echoes.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(8 << 10).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let mut client: TcpStream = socket.into();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    client
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    client.write_all(REQUEST).expect("request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        client.read_exact(&mut byte).expect("the response");
        head.push(byte[0]);
        assert!(head.len() < 4096);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));

    const N: usize = 2000;
    let payload = vec![0x33u8; 8 << 10];
    let message = frame(&payload);
    let mut writer = client.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        for _ in 0..N {
            if writer.write_all(&message).is_err() {
                return false;
            }
        }
        true
    });
    // Read nothing for a while: the server's writes block and it stops reading.
    std::thread::sleep(Duration::from_millis(300));
    let want = N * (payload.len() + 4);
    let mut got = 0;
    let mut buf = vec![0u8; 64 << 10];
    let deadline = Instant::now() + Duration::from_secs(15);
    while got < want {
        assert!(Instant::now() < deadline, "{got} of {want} bytes echoed");
        match client.read(&mut buf) {
            Ok(0) => panic!("closed after {got} of {want} bytes"),
            Ok(n) => got += n,
            Err(e) => panic!("{e} after {got} of {want} bytes"),
        }
    }
    assert_eq!(got, want);
    assert!(sender.join().expect("the sender"), "all sent");
    let (pressed, drained) = (
        counts.0.load(Ordering::Relaxed),
        counts.1.load(Ordering::Relaxed),
    );
    assert!(
        pressed > 0 && drained > 0,
        "backpressured {pressed}, drained {drained}"
    );
    drop(client);
    for h in &handles {
        h.shutdown();
    }
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server stops")
        .expect("and returns Ok");
}
