//! Real third-party peers for zerows-net's integration tests: no mocks, every peer is a separate
//! process listening on a free 127.0.0.1 port. Include with `mod peers;` from a test file.
//!
//! Versions checked (Debian bookworm, as root, 2 cores):
//! - [`tinyproxy`]: tinyproxy 1.11.1 (Debian `tinyproxy` 1.11.1-2.1+deb12u1)
//! - [`dante`], [`dante_no_auth`]: danted 1.4.2 (Debian `dante-server` 1.4.2+dfsg-7+b8)
//! - [`python_ws_echo`], [`python_ws_tls_echo`]: `scripts/net-peers/ws_echo.py` on PyPI
//!   `websockets` 15.0.1 (pinned in `scripts/net-peers.sh`), Python 3.11.7
//!
//! `bash scripts/net-peers.sh` installs all of them (apt-get, and a venv at `.venv-net/`).
//! Overrides: `ZEROWS_TINYPROXY`, `ZEROWS_DANTED` (binary paths), `ZEROWS_PYTHON` (interpreter;
//! default `.venv-net/bin/python` at the workspace root when present, else `python3`),
//! `ZEROWS_WORKSPACE` (where `scripts/` is, when not an ancestor of the test crate),
//! `ZEROWS_KEEP_PEER_DIRS=1` (keep each peer's temp dir with its config and logs).
//!
//! Every peer runs in the foreground in a fresh temp dir holding its config and logs; [`Peer`]
//! sends SIGTERM on drop (SIGKILL after 5 s), reaps the process and removes the dir. A peer that
//! exits before it accepts connections (port taken between our probe and its bind) is restarted
//! on another port, up to 3 tries; so is one whose port turns out to be listened on by another
//! process (a TCP connect cannot tell, `/proc/net/tcp` and `/proc/PID/fd` can: e.g. a child
//! forked elsewhere in the test process holds the probe socket until it execs; seen once as two
//! peers of one test reporting the same port). A failure panics with the peer's logs. Ports are
//! never handed out twice in a process.
//!
//! Quirks found (Debian bookworm, as root):
//! - tinyproxy: with no `ConnectPort` line CONNECT is allowed to every port (checked: CONNECT to
//!   an ephemeral port gets 200); `ConnectPort 0` would forbid CONNECT. Run as root without
//!   `User`/`Group` it only warns ("You SHOULD set a UserName") and keeps running as root; no
//!   privilege drop needed. `BasicAuth user pass` accepts only `[A-Za-z0-9._-]+` for both fields
//!   (anything else, quoted or not, is "Syntax error on line N" and exit 70). Its CONNECT answer
//!   is `HTTP/1.0 200 Connection established`. With BasicAuth, a request without
//!   `Proxy-Authorization` gets `HTTP/1.0 407` + `Proxy-Authenticate: Basic realm="Tinyproxy"`,
//!   but wrong credentials (or a non-Basic scheme) get `HTTP/1.0 401 Unauthorized` +
//!   `WWW-Authenticate`, not 407. A refused target gets `HTTP/1.1 500 Unable to connect`. Every
//!   error closes the connection. Bind failure: exit 71.
//! - danted: foreground unless `-D`; `-p FILE` moves the pid file out of /run. It forks a
//!   monitor, a negotiate, 16 request and an io child; SIGTERM to the main process stops them all
//!   (after a SIGKILL of the main process the children exit on their own). Method `username`
//!   checks the system password database (getspnam + crypt), so the user must exist with that
//!   password and `user.privileged` must be root; the login shell does not matter (nologin is
//!   fine). `user.unprivileged: nobody` works. A wrong password gets the RFC 1929 reply
//!   `01 01` and the connection is closed; CONNECT by domain name ("localhost") is resolved by
//!   danted and matched against the `to: 127.0.0.0/8` rule. A client offering only method 0x00
//!   to the `username` server gets `05 FF`. The system password is global: concurrent test
//!   processes must use one password per user name. Bind failure: exit 1.
//! - websockets 15: `async for message in ws` yields `str` for text and `bytes` for binary, so
//!   echoing with `send(message)` keeps the opcode; fragmented messages are reassembled.
//!   `ping_interval=None` so the server never pings on its own. A Close frame that arrives in the
//!   same read as the upgrade request makes the server's handshake fail ("received 1000 (OK); no
//!   close frame sent", no 101); one in the same read as a message is answered at once and the
//!   echo is lost: a client should read its echoes before it closes. The TCP readiness probe
//!   (connect, close) logs nothing.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a peer may take to accept its first TCP connection.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries with a fresh port when a peer exits before it listens.
const TRIES: usize = 3;
const SETUP_HINT: &str = "run `bash scripts/net-peers.sh` to install the test peers";

/// A running peer process. Dropping it stops the process and removes its temp dir.
pub struct Peer {
    child: Child,
    /// Where the peer listens (always 127.0.0.1).
    pub addr: SocketAddr,
    dir: PathBuf,
    name: String,
}

impl Peer {
    /// The port the peer listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The peer's temp dir (config and log files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its config and everything it logged so far: each `*.conf` and `*.log` file in its dir.
    pub fn logs(&self) -> String {
        dir_logs(&self.dir)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) until a TCP connect to the peer's port succeeds. `Err` carries the exit
    /// status when the process ended first; panics, with the logs, on timeout.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(status);
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                panic!(
                    "peer {} did not accept TCP connections on {} within {:?}\n{}",
                    self.name,
                    self.addr,
                    timeout,
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                sys::kill(pid, sys::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() >= deadline {
                    let _ = self.child.kill();
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("ZEROWS_KEEP_PEER_DIRS").is_some_and(|v| v == "1") {
            eprintln!("peers: kept {} dir {}", self.name, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("addr", &self.addr)
            .field("dir", &self.dir)
            .finish()
    }
}

mod sys {
    pub(super) const SIGTERM: i32 = 15;
    // SAFETY: `kill(2)` from the C library with its C signature; it takes two integers and
    // touches no memory of ours, so calling it is safe for any arguments.
    unsafe extern "C" {
        pub(super) safe fn kill(pid: i32, sig: i32) -> i32;
    }
}

/// tinyproxy as an HTTP CONNECT proxy on 127.0.0.1, CONNECT allowed to every port; with
/// `basic_auth`, only requests with `Proxy-Authorization: Basic base64(user:pass)` pass (others get
/// 407). User and password must match `[A-Za-z0-9._-]+` (tinyproxy's config grammar).
pub fn tinyproxy(basic_auth: Option<(&str, &str)>) -> Peer {
    if let Some((user, pass)) = basic_auth {
        for field in [user, pass] {
            assert!(
                !field.is_empty()
                    && field
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "tinyproxy BasicAuth takes only [A-Za-z0-9._-]+, got {field:?}"
            );
        }
    }
    let bin = binary(
        "ZEROWS_TINYPROXY",
        "tinyproxy",
        &["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"],
    );
    spawn_peer("tinyproxy", |dir, port| {
        let mut conf = String::new();
        let _ = writeln!(conf, "Port {port}");
        conf.push_str("Listen 127.0.0.1\nAllow 127.0.0.1\n");
        conf.push_str("# no ConnectPort line: CONNECT may reach every port\n");
        conf.push_str("MaxClients 64\nTimeout 60\nLogLevel Info\n");
        let _ = writeln!(conf, "LogFile \"{}\"", dir.join("tinyproxy.log").display());
        let _ = writeln!(conf, "PidFile \"{}\"", dir.join("tinyproxy.pid").display());
        if let Some((user, pass)) = basic_auth {
            let _ = writeln!(conf, "BasicAuth {user} {pass}");
        }
        let path = dir.join("tinyproxy.conf");
        write_file(&path, &conf);
        let mut cmd = Command::new(&bin);
        cmd.arg("-d").arg("-c").arg(&path);
        cmd
    })
}

/// danted as a SOCKS5 proxy on 127.0.0.1 that requires RFC 1929 username/password `user` /
/// `password`, checked against the system password database: creates the system user (no home,
/// nologin shell) when missing and sets its password, so it needs root. CONNECT is allowed to
/// 127.0.0.0/8 only (IPv4 or a name resolving there, e.g. "localhost").
pub fn dante(user: &str, password: &str) -> Peer {
    ensure_system_user(user, password);
    dante_with("username")
}

/// danted as a SOCKS5 proxy on 127.0.0.1 that requires no authentication (method 0x00).
pub fn dante_no_auth() -> Peer {
    dante_with("none")
}

fn dante_with(method: &str) -> Peer {
    let bin = binary(
        "ZEROWS_DANTED",
        "danted",
        &["/usr/sbin/danted", "/usr/bin/danted"],
    );
    spawn_peer(&format!("danted ({method})"), |dir, port| {
        let conf = format!(
            "logoutput: {log}\n\
             internal: 127.0.0.1 port = {port}\n\
             external: 127.0.0.1\n\
             clientmethod: none\n\
             socksmethod: {method}\n\
             user.privileged: root\n\
             user.unprivileged: nobody\n\
             user.libwrap: nobody\n\
             client pass {{\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  log: error connect disconnect\n}}\n\
             socks pass {{\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  command: connect\n  log: error connect disconnect\n}}\n",
            log = dir.join("danted.log").display(),
        );
        let path = dir.join("danted.conf");
        write_file(&path, &conf);
        let mut cmd = Command::new(&bin);
        cmd.arg("-f")
            .arg(&path)
            .arg("-p")
            .arg(dir.join("danted.pid"))
            .arg("-N")
            .arg("1");
        cmd
    })
}

/// Users this process already set up: (name, password).
static SYSTEM_USERS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Makes sure system user `user` exists with password `password` (once per process).
fn ensure_system_user(user: &str, password: &str) {
    assert!(
        !user.is_empty()
            && user.len() <= 32
            && user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
            && !user.starts_with('-'),
        "dante user name must be [a-z0-9_-]{{1,32}}, got {user:?}"
    );
    assert!(
        !password.is_empty() && !password.contains(['\n', '\r', '\0']) && password.len() <= 255,
        "dante password must be 1..=255 bytes without newlines"
    );
    let mut done = SYSTEM_USERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, pw)) = done.iter().find(|(u, _)| u == user) {
        assert!(
            pw == password,
            "system user {user:?} was already given another password in this test process; \
             use one password per user name"
        );
        return;
    }
    let exists = || {
        Command::new("id")
            .arg("-u")
            .arg(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !exists() {
        let out = Command::new("useradd")
            .args(["-M", "-s", "/usr/sbin/nologin", user])
            .output()
            .unwrap_or_else(|e| panic!("cannot run useradd for dante user {user:?}: {e}"));
        // another test process may have created it meanwhile
        assert!(
            out.status.success() || exists(),
            "useradd -M {user} failed (dante's `username` method needs a system user; run the \
             tests as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run chpasswd for dante user {user:?}: {e}"));
    let mut stdin = child.stdin.take().expect("chpasswd stdin");
    stdin
        .write_all(format!("{user}:{password}\n").as_bytes())
        .expect("write to chpasswd");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for chpasswd");
    assert!(
        out.status.success(),
        "chpasswd for {user:?} failed (needs root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    done.push((user.to_owned(), password.to_owned()));
}

/// The `websockets` (PyPI) echo server, plain `ws://`, on 127.0.0.1. With `deflate` it accepts
/// permessage-deflate offers; without, it never negotiates compression.
pub fn python_ws_echo(deflate: bool) -> Peer {
    python_ws(None, deflate)
}

/// The `websockets` (PyPI) echo server over TLS (`wss://`) with the given PEM certificate chain
/// and private key.
pub fn python_ws_tls_echo(cert_pem: &Path, key_pem: &Path, deflate: bool) -> Peer {
    python_ws(Some((cert_pem, key_pem)), deflate)
}

fn python_ws(tls: Option<(&Path, &Path)>, deflate: bool) -> Peer {
    let root = workspace_root();
    let script = root.join("scripts/net-peers/ws_echo.py");
    let python = match std::env::var_os("ZEROWS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let venv = root.join(".venv-net/bin/python");
            if venv.exists() {
                venv
            } else {
                PathBuf::from("python3")
            }
        }
    };
    let tls = tls.map(|(c, k)| (absolute(c), absolute(k)));
    let name = if tls.is_some() {
        "websockets wss echo"
    } else {
        "websockets ws echo"
    };
    spawn_peer(name, |_dir, port| {
        let mut cmd = Command::new(&python);
        cmd.arg("-u")
            .arg(&script)
            .arg("--port")
            .arg(port.to_string());
        if let Some((cert, key)) = &tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if !deflate {
            cmd.arg("--no-deflate");
        }
        cmd
    })
}

/// Starts `make(dir, port)`'s command in a fresh temp dir with stdout/stderr in `stdout.log` /
/// `stderr.log`, and waits until it accepts TCP connections; retries on a new port when the
/// process exits first.
fn spawn_peer(name: &str, mut make: impl FnMut(&Path, u16) -> Command) -> Peer {
    let mut failures = String::new();
    for attempt in 1..=TRIES {
        let dir = fresh_dir(name);
        let port = free_port();
        let mut cmd = make(&dir, port);
        let program = cmd.get_program().to_owned();
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log_file(&dir, "stdout.log"))
            .stderr(log_file(&dir, "stderr.log"));
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                if e.kind() == io::ErrorKind::NotFound {
                    panic!(
                        "peer {name}: {} not found: {e}; {SETUP_HINT}",
                        program.to_string_lossy()
                    );
                }
                panic!(
                    "peer {name}: cannot start {}: {e}",
                    program.to_string_lossy()
                );
            }
        };
        let mut peer = Peer {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            dir,
            name: name.to_owned(),
        };
        match peer.wait_ready(READY_TIMEOUT) {
            // The readiness probe only shows that *something* listens on the port: another
            // process may have bound it between `free_port` and the peer's own bind, which then
            // fails. Use the port only when the listening socket is the peer's.
            Ok(()) => match listener_owned_by(peer.child.id(), port) {
                Some(false) => {
                    peer.stop();
                    let _ = write!(
                        failures,
                        "--- try {attempt}/{TRIES}: port {port} was taken by another process\n{}",
                        peer.logs()
                    );
                }
                Some(true) | None => return peer,
            },
            Err(status) => {
                let _ = write!(
                    failures,
                    "--- try {attempt}/{TRIES}: port {port}, exited with {status} before listening\n{}",
                    peer.logs()
                );
            }
        }
    }
    panic!(
        "peer {name} failed to start {TRIES} times ({SETUP_HINT} if it is not set up)\n{failures}"
    );
}

/// A port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close), and never
/// handed out before in this process: two peers starting at once cannot be given the same one.
fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Whether the socket listening on 127.0.0.1:`port` (or 0.0.0.0:`port`) is open in process
/// `pid`, from `/proc/net/tcp` and `/proc/PID/fd` (Linux); `None` when `/proc` cannot tell.
pub fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    // `local_address` is the IPv4 address as the host's u32 in hex (either byte order) and the port
    let locals = ["0100007F", "7F000001", "00000000"].map(|ip| format!("{ip}:{port:04X}"));
    let sockets: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st(0A = LISTEN) tx:rx tr:when retrnsmt uid timeout inode
            let listening = f.len() > 9 && locals.iter().any(|l| l == f[1]) && f[3] == "0A";
            listening.then(|| format!("socket:[{}]", f[9]))
        })
        .collect();
    if sockets.is_empty() {
        return None;
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
    }))
}

fn fresh_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "zerows-peer-{slug}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create temp dir {}: {e}", dir.display()),
        }
    }
}

fn log_file(dir: &Path, name: &str) -> fs::File {
    let path = dir.join(name);
    fs::File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn dir_logs(dir: &Path) -> String {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "log" || e == "conf"));
    names.sort();
    let mut out = String::new();
    for path in names {
        let text = fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned());
        let _ = writeln!(out, "==> {} <==", path.display());
        match text {
            Ok(t) if t.is_empty() => out.push_str("(empty)\n"),
            Ok(t) => {
                out.push_str(&t);
                if !t.ends_with('\n') {
                    out.push('\n');
                }
            }
            Err(e) => {
                let _ = writeln!(out, "(unreadable: {e})");
            }
        }
    }
    out
}

/// A binary from env var `var`, else `name` on PATH, else the first existing `fallbacks` entry.
fn binary(var: &str, name: &str, fallbacks: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found on PATH nor in {fallbacks:?} (or set {var}); {SETUP_HINT}")
        })
}

/// The directory holding `scripts/net-peers/`: `ZEROWS_WORKSPACE`, else the nearest ancestor of
/// this test crate (or of the current dir) that has it.
fn workspace_root() -> PathBuf {
    if let Some(p) = std::env::var_os("ZEROWS_WORKSPACE") {
        return PathBuf::from(p);
    }
    let starts = [
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
        std::env::current_dir().ok(),
    ];
    starts
        .iter()
        .flatten()
        .flat_map(|s| s.ancestors())
        .find(|d| d.join("scripts/net-peers/ws_echo.py").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            panic!(
                "scripts/net-peers/ws_echo.py not found above {}; set ZEROWS_WORKSPACE",
                env!("CARGO_MANIFEST_DIR")
            )
        })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
