//! What the socket tests share: a [`Server`] running in a thread of the test, stopped through
//! its handles, and tungstenite clients whose every read has a timeout.
#![allow(dead_code)] // each test binary uses part of it

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::WebSocket;
use zerows_poll::{Handle, Handler, Options, Server, Service};
use zerows_upgrade::server::{Hooks, Upgrader};
use zerows_util::Config;

/// How long any single wait of a test lasts at most.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A server running on 127.0.0.1:0 in a thread of its own.
pub(crate) struct Running {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// One handle per event loop.
    pub(crate) handles: Vec<Handle>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// Shuts every loop down and joins the server's thread (within [`WAIT`]); panics if the
    /// server failed or did not stop.
    pub(crate) fn stop(mut self) {
        for h in &self.handles {
            h.shutdown();
        }
        let thread = self.thread.take().expect("joined once");
        let deadline = Instant::now() + WAIT;
        while !thread.is_finished() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
        thread
            .join()
            .expect("the server thread panicked")
            .expect("the server failed");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked before `stop`: ask the loops to stop, do not wait.
        if self.thread.is_some() {
            for h in &self.handles {
                h.shutdown();
            }
        }
    }
}

/// Starts a server whose loops run `make(worker)`'s handler and accept every valid upgrade.
pub(crate) fn start<H, F>(options: Options, config: Config, make: F) -> Running
where
    H: Handler,
    F: Fn(usize) -> H + Send + Sync + 'static,
{
    start_with(options, config, move |w| Service {
        handler: make(w),
        upgrader: Upgrader::new(),
    })
}

/// Starts a server whose loops run `make(worker)`'s service (handler and upgrader hooks).
pub(crate) fn start_with<H, U, F>(options: Options, config: Config, make: F) -> Running
where
    H: Handler,
    U: Hooks,
    F: Fn(usize) -> Service<H, U> + Send + Sync + 'static,
{
    let server = Server::bind("127.0.0.1:0", options, Arc::new(config)).expect("bind");
    let addr = server.local_addr();
    let handles = server.handles();
    let thread = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || server.run_with(make))
        .expect("spawn the server");
    Running {
        addr,
        handles,
        thread: Some(thread),
    }
}

/// A TCP connection to `addr` whose reads and writes time out after [`WAIT`].
pub(crate) fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// A WebSocket client upgraded on `path` over `stream`.
pub(crate) fn upgrade(stream: TcpStream, addr: SocketAddr, path: &str) -> WebSocket<TcpStream> {
    let url = format!("ws://{addr}{path}");
    let (ws, response) = tungstenite::client::client(url, stream).expect("upgrade");
    assert_eq!(response.status(), 101);
    ws
}

/// A WebSocket client connected to `addr` on `path`.
pub(crate) fn client(addr: SocketAddr, path: &str) -> WebSocket<TcpStream> {
    upgrade(tcp(addr), addr, path)
}

/// The next value from `rx`, within [`WAIT`].
pub(crate) fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
        Err(RecvTimeoutError::Disconnected) => panic!("no more {what}: the server is gone"),
    }
}

/// Whether `rx` stays empty for `d`.
pub(crate) fn nothing_within<T>(rx: &Receiver<T>, d: Duration) -> bool {
    matches!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout))
}

/// Waits (within [`WAIT`]) until `cond` holds.
pub(crate) fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A final client frame (masked, RFC 6455 §5.3) of `opcode` with `payload`.
pub(crate) fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | u8::try_from(n).expect("short")),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&u16::try_from(n).expect("medium").to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&u64::try_from(n).expect("fits").to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one unmasked server frame: its first byte (FIN, opcode) and its payload.
pub(crate) fn read_frame(stream: &mut impl io::Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).expect("fits")];
    stream.read_exact(&mut payload)?;
    Ok((head[0], payload))
}

/// A request head that upgrades on `path`.
pub(crate) fn request_head(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads a response head (through its blank line) from `stream`, byte by byte.
pub(crate) fn read_response_head(stream: &mut impl io::Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the response head");
        head.push(byte[0]);
        assert!(head.len() < 4096, "a response head of reasonable size");
    }
    String::from_utf8(head).expect("ascii")
}
