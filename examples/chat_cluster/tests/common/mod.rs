//! Real parts for the tests: `chat_cluster` processes and a `redis-server` on loopback, started
//! here and killed on drop; members are tungstenite clients.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-server` from the system (Debian package `redis-server`), no persistence.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Redis {
        let mut r = Redis { port, child: None };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends one command (RESP) and returns the raw reply (read until a short pause).
    pub fn command(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("write to redis");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// How many clients are subscribed to `channel` (`PUBSUB NUMSUB`).
    pub fn subscribers(&self, channel: &str) -> usize {
        let reply = self.command(&["PUBSUB", "NUMSUB", channel]);
        // *2 $len channel :N
        reply
            .lines()
            .last()
            .and_then(|l| l.strip_prefix(':'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("PUBSUB NUMSUB reply {reply:?}"))
    }

    /// How many `PUBLISH` commands Redis has run (`INFO commandstats`).
    pub fn publishes(&self) -> usize {
        let reply = self.command(&["INFO", "commandstats"]);
        reply
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_publish:calls="))
            .map_or(0, |rest| {
                rest.split(',')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            })
    }

    /// Stops (`SIGSTOP`) or continues (`SIGCONT`) the server: its sockets stay open but nothing
    /// answers, as with a hung server or a dead link.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([signal, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {pid}");
    }

    /// Starts it (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "redis-server (Debian package redis-server; scripts/chat-cluster.sh installs it)",
            );
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut pong = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut pong).is_ok() {
                    assert_eq!(&pong, b"+PONG\r\n");
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `chat_cluster` process.
pub struct Node {
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts `chat_cluster --addr ADDR ARGS…` and waits for its listening line.
    pub fn start(addr: &str, args: &[&str]) -> Node {
        Self::try_start(addr, args)
            .unwrap_or_else(|log| panic!("chat_cluster did not start:\n{log}"))
    }

    /// As [`start`](Self::start); `Err` with its stderr if it exited instead.
    pub fn try_start(addr: &str, args: &[&str]) -> Result<Node, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat_cluster"))
            .args(["--addr", addr])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the chat_cluster binary");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("chat_cluster: listening on http://") {
                    let _ = tx.send(rest.split(' ').next().unwrap_or_default().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(WAIT) {
            Ok(addr) => Ok(Node {
                addr: addr.parse().expect("the listening address"),
                child,
                log,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().join("\n"))
            }
        }
    }

    /// The process's stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.log().iter().any(|l| l.contains(needle)) {
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Joins `room` as a new member.
    pub fn join(&self, room: &str) -> Member {
        Member::join(self.addr, room)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A member: a WebSocket client in one room.
pub struct Member {
    pub ws: WebSocket<TcpStream>,
    /// The name the server gave it (from its own join notice).
    pub name: String,
}

impl Member {
    pub fn join(addr: SocketAddr, room: &str) -> Member {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let url = format!("ws://{addr}/room/{room}");
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("upgrade");
        let mut m = Member {
            ws,
            name: String::new(),
        };
        // Its own join notice comes first (delivered locally at once).
        let hello = m.next_text().expect("the join notice");
        let name = hello
            .strip_prefix("* ")
            .and_then(|h| h.strip_suffix(" joined"))
            .unwrap_or_else(|| panic!("not a join notice: {hello:?}"));
        m.name = name.to_owned();
        m
    }

    pub fn say(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// The next text (pings answered on the way); `None` once closed.
    pub fn next_text(&mut self) -> Option<String> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(t.as_str().to_owned()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next message that is not a join/leave notice, as (sender name, text).
    pub fn next_said(&mut self) -> Option<(String, String)> {
        loop {
            let t = self.next_text()?;
            if t.starts_with("* ") {
                continue;
            }
            let (who, what) = t.split_once(": ").expect("NAME: text");
            return Some((who.to_owned(), what.to_owned()));
        }
    }

    /// Reads until the close frame: its code.
    pub fn close_code(&mut self) -> Option<CloseCode> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Reads with a short timeout: the texts that arrive within `quiet`.
    pub fn drain_for(&mut self, quiet: Duration) -> Vec<String> {
        let stream = self.ws.get_ref();
        stream.set_read_timeout(Some(quiet)).expect("timeout");
        let mut got = Vec::new();
        while let Ok(m) = self.ws.read() {
            if let Message::Text(t) = m {
                got.push(t.as_str().to_owned());
            }
        }
        self.ws
            .get_ref()
            .set_read_timeout(Some(WAIT))
            .expect("timeout");
        got
    }
}

/// `from` says numbered probes every 100 ms until `to` hears one (the other process has
/// subscribed, or Redis is back); then both read up to that probe so they start level.
/// Panics after [`WAIT`]. Returns how long it took.
pub fn until_heard(from: &mut Member, to: &mut Member, tag: &str) -> Duration {
    let start = Instant::now();
    let mut n = 0;
    to.ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let heard = loop {
        assert!(
            start.elapsed() < WAIT,
            "{tag}: {} never heard {} ({n} probes)",
            to.name,
            from.name
        );
        n += 1;
        from.say(&format!("probe {tag} {n}"));
        match to.ws.read() {
            Ok(Message::Text(t)) if t.as_str().contains(&format!("probe {tag} ")) => {
                break t
                    .as_str()
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .parse::<u32>()
                    .unwrap();
            }
            _ => {}
        }
    };
    to.ws.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    // `to` may still get later probes; `from` gets all of its own.
    let last = format!("probe {tag} {n}");
    while from.next_text().is_some_and(|t| !t.ends_with(&last)) {}
    if heard < n {
        while to.next_text().is_some_and(|t| !t.ends_with(&last)) {}
    }
    start.elapsed()
}
