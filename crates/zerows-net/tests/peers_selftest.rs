//! Checks that the real peers in `tests/peers/` start and behave as the proxy and TLS tests
//! expect, with raw bytes only (no zerows code): tinyproxy CONNECT with and without Basic auth,
//! danted SOCKS5 with RFC 1929 auth (IPv4 and domain-name targets, wrong password), the
//! `websockets` echo server's handshake and echo, plain and over TLS (checked with
//! `openssl s_client`). Needs `bash scripts/net-peers.sh` and root, so every test is ignored in a
//! plain `cargo test`; `bash scripts/net-interop.sh` runs them with `--include-ignored`.

mod peers;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP echo server on 127.0.0.1 in this process (one thread per connection).
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn assert_echoes(stream: &mut TcpStream, what: &str) {
    let msg = format!("hello through {what}");
    stream.write_all(msg.as_bytes()).unwrap();
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, msg.as_bytes(), "echo through {what}");
}

/// Reads an HTTP response head byte by byte (nothing past the blank line is consumed).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "response head cut short ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8(head).unwrap()
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn http_connect(proxy: SocketAddr, target: SocketAddr, auth: Option<&str>) -> (TcpStream, String) {
    let mut s = connect(proxy);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = auth {
        req += &format!("Proxy-Authorization: Basic {}\r\n", base64(auth.as_bytes()));
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s);
    (s, head)
}

fn status_of(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("")
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn tinyproxy_connect_without_auth() {
    let echo = echo_server();
    let proxy = peers::tinyproxy(None);
    let (mut s, head) = http_connect(proxy.addr, echo, None);
    assert!(
        head.starts_with("HTTP/1.0 200 "),
        "{head}\n{}",
        proxy.logs()
    );
    assert_echoes(&mut s, "tinyproxy");
    // a target that refuses the connection: 500
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let (_, head) = http_connect(proxy.addr, closed, None);
    assert_eq!(status_of(&head), "500", "{head}");
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn tinyproxy_connect_with_basic_auth() {
    let echo = echo_server();
    let proxy = peers::tinyproxy(Some(("alice", "s3cr.t-X_1")));
    let (_, head) = http_connect(proxy.addr, echo, None);
    assert_eq!(status_of(&head), "407", "no credentials: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("proxy-authenticate: basic"),
        "{head}"
    );
    // tinyproxy 1.11 answers wrong credentials with 401 (and WWW-Authenticate), not 407
    let (_, head) = http_connect(proxy.addr, echo, Some("alice:wrong"));
    assert_eq!(status_of(&head), "401", "wrong password: {head}");
    let (mut s, head) = http_connect(proxy.addr, echo, Some("alice:s3cr.t-X_1"));
    assert_eq!(status_of(&head), "200", "{head}\n{}", proxy.logs());
    assert_echoes(&mut s, "tinyproxy with auth");
}

enum Target<'a> {
    V4(SocketAddr),
    Name(&'a str, u16),
}

/// SOCKS5 greeting offering `methods`; returns the stream and the chosen method.
fn socks_greet(proxy: SocketAddr, methods: &[u8]) -> (TcpStream, u8) {
    let mut s = connect(proxy);
    let mut hello = vec![5, u8::try_from(methods.len()).unwrap()];
    hello.extend_from_slice(methods);
    s.write_all(&hello).unwrap();
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 5, "SOCKS version in method reply");
    (s, reply[1])
}

/// RFC 1929 sub-negotiation; returns the status byte.
fn socks_userpass(s: &mut TcpStream, user: &str, pass: &str) -> u8 {
    let mut req = vec![1, u8::try_from(user.len()).unwrap()];
    req.extend_from_slice(user.as_bytes());
    req.push(u8::try_from(pass.len()).unwrap());
    req.extend_from_slice(pass.as_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 1, "RFC 1929 version");
    reply[1]
}

/// SOCKS5 CONNECT; returns the reply code (0 = succeeded), consuming the bound address.
fn socks_connect(s: &mut TcpStream, target: &Target<'_>) -> u8 {
    let mut req = vec![5, 1, 0];
    let port = match target {
        Target::V4(addr) => {
            let SocketAddr::V4(v4) = addr else {
                unreachable!()
            };
            req.push(1);
            req.extend_from_slice(&v4.ip().octets());
            v4.port()
        }
        Target::Name(name, port) => {
            req.push(3);
            req.push(u8::try_from(name.len()).unwrap());
            req.extend_from_slice(name.as_bytes());
            *port
        }
    };
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 5);
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).unwrap();
            usize::from(len[0]) + 2
        }
        t => panic!("bad address type {t} in SOCKS reply"),
    };
    let mut bound = vec![0u8; rest];
    s.read_exact(&mut bound).unwrap();
    head[1]
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn dante_username_auth() {
    let echo = echo_server();
    let proxy = peers::dante("zwpeertest", "Pa55:word with space");

    for target in [Target::V4(echo), Target::Name("localhost", echo.port())] {
        let (mut s, method) = socks_greet(proxy.addr, &[2]);
        assert_eq!(method, 2, "server picks username/password");
        assert_eq!(
            socks_userpass(&mut s, "zwpeertest", "Pa55:word with space"),
            0,
            "{}",
            proxy.logs()
        );
        assert_eq!(socks_connect(&mut s, &target), 0, "{}", proxy.logs());
        assert_echoes(&mut s, "danted");
    }

    // wrong password: RFC 1929 failure status, then the server closes
    let (mut s, method) = socks_greet(proxy.addr, &[0, 2]);
    assert_eq!(method, 2);
    assert_ne!(socks_userpass(&mut s, "zwpeertest", "wrong"), 0);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing after a failed auth: {rest:?}");

    // a client that offers only "no authentication" is refused with 0xFF
    let (_, method) = socks_greet(proxy.addr, &[0]);
    assert_eq!(method, 0xff);
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn dante_without_auth() {
    let echo = echo_server();
    let proxy = peers::dante_no_auth();
    let (mut s, method) = socks_greet(proxy.addr, &[0]);
    assert_eq!(method, 0);
    assert_eq!(
        socks_connect(&mut s, &Target::V4(echo)),
        0,
        "{}",
        proxy.logs()
    );
    assert_echoes(&mut s, "danted without auth");
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn peers_stop_and_clean_up_on_drop() {
    for (proxy, pid_file) in [
        (peers::tinyproxy(None), "tinyproxy.pid"),
        (peers::dante_no_auth(), "danted.pid"),
    ] {
        let dir = proxy.dir().to_path_buf();
        // the peer may accept connections before its pid file is (completely) written
        let started = Instant::now();
        let pid = loop {
            let text = std::fs::read_to_string(dir.join(pid_file)).unwrap_or_default();
            if let Ok(pid) = text.trim().parse::<u32>() {
                break pid.to_string();
            }
            assert!(
                started.elapsed() < IO_TIMEOUT,
                "no pid in {pid_file}: {text:?}"
            );
            thread::sleep(Duration::from_millis(10));
        };
        drop(proxy);
        assert!(!dir.exists(), "{} removed", dir.display());
        assert!(!Path::new("/proc").join(&pid).exists(), "pid {pid} gone");
        // danted's forked children are gone too
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
                let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
                let ppid = after_comm.split(' ').nth(1).unwrap();
                assert_ne!(ppid, pid, "child {:?} of {pid} left", entry.path());
            }
        }
    }
}

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn upgrade_request(addr: SocketAddr, deflate: bool) -> String {
    let ext = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    format!(
        "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
}

/// A masked client frame (FIN set) with a payload under 126 bytes.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode, 0x80 | u8::try_from(payload.len()).unwrap()];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn python_ws_echo_handshake_and_echo() {
    for deflate in [false, true] {
        let server = peers::python_ws_echo(deflate);
        let mut s = connect(server.addr);
        s.write_all(upgrade_request(server.addr, true).as_bytes())
            .unwrap();
        let head = read_head(&mut s);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "{head}\n{}",
            server.logs()
        );
        assert!(head.contains(WS_ACCEPT), "{head}");
        assert_eq!(
            head.contains("permessage-deflate"),
            deflate,
            "deflate={deflate}: {head}"
        );
        if deflate {
            continue; // the echo itself is checked uncompressed below
        }
        for (opcode, payload) in [(1u8, &b"hello text"[..]), (2, &[0u8, 1, 2, 255][..])] {
            s.write_all(&client_frame(opcode, payload)).unwrap();
            let mut hdr = [0u8; 2];
            s.read_exact(&mut hdr).unwrap();
            assert_eq!(hdr[0], 0x80 | opcode, "same opcode, FIN, no RSV");
            assert_eq!(usize::from(hdr[1]), payload.len(), "unmasked, same length");
            let mut back = vec![0u8; payload.len()];
            s.read_exact(&mut back).unwrap();
            assert_eq!(back, payload);
        }
        s.write_all(&client_frame(8, &1000u16.to_be_bytes()))
            .unwrap();
        let mut close = [0u8; 4];
        s.read_exact(&mut close).unwrap();
        assert_eq!(close, [0x88, 2, 0x03, 0xe8]);
    }
}

/// Runs `openssl s_client` against a TLS WebSocket echo server with a fresh self-signed cert.
#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn python_ws_tls_echo_with_openssl_s_client() {
    let dir = std::env::temp_dir().join(format!("zerows-peers-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (run `bash scripts/net-peers.sh`)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = peers::python_ws_tls_echo(&cert, &key, false);
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &server.addr.to_string()])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-ign_eof", "-CAfile"])
        .arg(&cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // upgrade, one text message, close: the server echoes, answers the close and hangs up.
    // Spaced out, as a Close that websockets 15 reads in the same chunk as what precedes it
    // wins: with the request, the handshake fails ("received 1000 (OK); no close frame sent");
    // with a message, the close is answered and the echo is dropped.
    let mut stdin = client.stdin.take().unwrap();
    for chunk in [
        upgrade_request(server.addr, false).into_bytes(),
        client_frame(1, b"over tls"),
        client_frame(8, &1000u16.to_be_bytes()),
    ] {
        stdin.write_all(&chunk).unwrap();
        stdin.flush().unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    drop(stdin);
    let started = Instant::now();
    while client.try_wait().unwrap().is_none() {
        if started.elapsed() > IO_TIMEOUT {
            let _ = client.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        stdout.contains("Verify return code: 0 (ok)"),
        "{stdout}\n{stderr}\n{}",
        server.logs()
    );
    assert!(
        stdout.contains("HTTP/1.1 101"),
        "{stdout}\n{}",
        server.logs()
    );
    assert!(stdout.contains(WS_ACCEPT), "{stdout}");
    assert!(
        out.stdout.windows(10).any(|w| w == b"\x81\x08over tls"),
        "echoed text frame in {stdout:?}"
    );
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn many_peers_in_parallel_get_distinct_ports() {
    let handles: Vec<_> = (0..6)
        .map(|i| {
            thread::spawn(move || match i % 3 {
                0 => peers::tinyproxy(None),
                1 => peers::dante_no_auth(),
                _ => peers::python_ws_echo(false),
            })
        })
        .collect();
    let mut running: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ports: Vec<u16> = running.iter().map(peers::Peer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), running.len(), "{running:#?}");
    for peer in &mut running {
        assert!(peer.is_running(), "{peer:?}");
    }
}

/// The check that keeps a peer from taking a port another process grabbed first: the listening
/// socket must be open in the peer's process.
#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn listener_ownership_is_told_from_proc() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(
        peers::listener_owned_by(std::process::id(), port),
        Some(true)
    );
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    let owned = peers::listener_owned_by(other.id(), port);
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(owned, Some(false), "a process without the socket");
    drop(listener);
    // Not at once: a child that another test forks meanwhile holds a copy of every descriptor
    // until it execs (close-on-exec), so the socket may linger in LISTEN for a moment. (The
    // same goes for `free_port`'s probe socket, one reason a peer may lose its port.)
    let started = Instant::now();
    while peers::listener_owned_by(std::process::id(), port).is_some() {
        assert!(
            started.elapsed() < IO_TIMEOUT,
            "port {port} still listening"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
