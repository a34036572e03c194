//! zerows-net against real third-party peers (`tests/peers/`): the `websockets` (PyPI) echo
//! server over TLS, tinyproxy (HTTP CONNECT, with and without Basic auth) and danted (SOCKS5,
//! with and without RFC 1929 username/password), blocking and tokio.
//!
//! Every test is ignored in a plain `cargo test`: they need the peers installed and root (danted
//! checks the system password database). `bash scripts/net-interop.sh` installs them and runs
//! these with `--include-ignored` and `--all-features` (the tokio variants need the `tokio`
//! feature; the file needs `tls`).
//!
//! Certificates are made here with rcgen: a private CA and a leaf for `localhost` and
//! `127.0.0.1` signed by it, written to a temp dir for Python; the client trusts only that CA
//! (`ClientTls::no_roots().add_ca_pem`). Our own echo server runs in this process (a thread per
//! connection, `zerows_util::WebSocket::accept_with_config`, permessage-deflate accepted) and
//! records who connected and the close code it got, so a test can tell a proxied connection
//! (the server sees the proxy's socket, not ours) from a direct one.
//!
//! Every dial is bounded by the dialer's timeouts, every blocking read by a socket read
//! timeout, every tokio test by [`TEST_TIMEOUT`]; peers are stopped when their handle drops.

#![cfg(feature = "tls")]

mod peers;

use std::fmt::Debug;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use peers::Peer;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use zerows_net::{ClientTls, DialError, Dialer, ProxyError, TlsErrorKind};
use zerows_util::deflate::DeflateConfig;
use zerows_util::{CloseCode, Config, Error as WsError, Message, WebSocket};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout on every blocking socket (client and our echo server).
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// The bound on a whole tokio test.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// tinyproxy's BasicAuth takes only `[A-Za-z0-9._-]+`.
const TP_USER: &str = "zwuser";
const TP_PASS: &str = "zw.pass-1";
/// danted checks the system password database: one password per user name, whatever test runs
/// (`peers::dante` sets it). The password needs percent-encoding in a URL: `DANTE_PASS_URL`.
const DANTE_USER: &str = "zwrealpeers";
const DANTE_PASS: &str = "Pa55:w@rd";
const DANTE_PASS_URL: &str = "Pa55%3Aw%40rd";

// ---- messages ---------------------------------------------------------------------------------

fn texts() -> Vec<String> {
    vec![
        "hello".to_owned(),
        String::new(),
        "héllo wörld — ✓ 日本語 🦀".to_owned(),
        // ~300 KB, compressible, multi-byte characters across every frame boundary
        "zerows ✓ 🦀 ".repeat(20_000),
    ]
}

fn binaries() -> Vec<Vec<u8>> {
    let mut x: u32 = 0x9e37_79b9;
    let noise = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    vec![(0..=255u8).collect(), Vec::new(), noise]
}

/// A `Debug` rendering cut to 300 characters (a 300 KB message in a panic helps nobody).
fn brief(v: &impl Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Sends every text and binary message and checks each echo (content and opcode), then closes
/// with 1000 "bye" and checks the connection is closed. `$($aw)*` is empty (blocking) or `.await`.
macro_rules! round_trip_and_close {
    ($ws:expr, $what:expr, $($aw:tt)*) => {{
        let ws = $ws;
        let what: &str = $what;
        for text in texts() {
            ws.send_text(&text)$($aw)*
                .unwrap_or_else(|e| panic!("{what}: send text: {e}"));
            match ws.read()$($aw)* {
                Ok(Message::Text(back)) => assert!(
                    back == text,
                    "{what}: text of {} bytes came back changed: {}",
                    text.len(),
                    brief(&back)
                ),
                other => panic!("{what}: expected the text echo, got {}", brief(&other)),
            }
        }
        for data in binaries() {
            ws.send_binary(&data)$($aw)*
                .unwrap_or_else(|e| panic!("{what}: send binary: {e}"));
            match ws.read()$($aw)* {
                Ok(Message::Binary(back)) => assert!(
                    back == &data[..],
                    "{what}: binary of {} bytes came back changed: {}",
                    data.len(),
                    brief(&back)
                ),
                other => panic!("{what}: expected the binary echo, got {}", brief(&other)),
            }
        }
        ws.close(CloseCode::NORMAL, "bye")$($aw)*
            .unwrap_or_else(|e| panic!("{what}: clean close: {e}"));
        assert!(ws.is_closed(), "{what}: closed after close()");
        let after = ws.read()$($aw)*;
        assert!(
            matches!(after, Err(WsError::Closed)),
            "{what}: read after close: {}",
            brief(&after)
        );
    }};
}

// ---- certificates -----------------------------------------------------------------------------

/// A private CA and a leaf signed by it for `names`, as PEM files in a temp dir (removed on drop).
struct Certs {
    dir: PathBuf,
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

impl Certs {
    fn new(names: &[&str]) -> Certs {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // a distinct name per CA: a stranger CA with the same name would be picked as the issuer
        // and fail as a bad signature (BadCertificate), not as an unknown issuer
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("zerows-net real_peers test CA {n}"),
        );
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(names.iter().map(|&n| n.to_owned()).collect::<Vec<_>>())
                .unwrap();
        leaf.distinguished_name.push(DnType::CommonName, names[0]);
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

        let dir = std::env::temp_dir().join(format!(
            "zerows-real-peers-certs-{}-{}",
            std::process::id(),
            n
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::write(&cert, leaf_cert.pem()).unwrap();
        fs::write(&key, leaf_key.serialize_pem()).unwrap();
        Certs {
            dir,
            ca_pem: ca_cert.pem(),
            cert,
            key,
        }
    }

    /// Trusts this CA only.
    fn client_tls(&self) -> ClientTls {
        ClientTls::no_roots()
            .add_ca_pem(self.ca_pem.as_bytes())
            .unwrap()
    }

    fn python_server(&self, deflate: bool) -> Peer {
        peers::python_ws_tls_echo(&self.cert, &self.key, deflate)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---- our echo server --------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Seen {
    /// The peer address of every TCP connection accepted.
    peers: Vec<SocketAddr>,
    /// The close frame of every connection the client closed: (code, reason); `None` for a close
    /// without a body.
    closes: Vec<Option<(u16, String)>>,
    /// Connections that ended otherwise.
    errors: Vec<String>,
}

/// A plain `ws://` echo server in this process, on 127.0.0.1: text back as text, binary as
/// binary, permessage-deflate accepted when offered. Stops on drop.
struct EchoServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|e| e.into_inner())
}

impl EchoServer {
    fn start() -> EchoServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(Config::default().deflate(DeflateConfig::default()));
        let accept = {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                for tcp in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = tcp else { continue };
                    if let Ok(peer) = tcp.peer_addr() {
                        lock(&seen).peers.push(peer);
                    }
                    let (seen, config) = (seen.clone(), config.clone());
                    thread::spawn(move || echo(tcp, &config, &seen));
                }
            })
        };
        EchoServer {
            addr,
            seen,
            stop,
            accept: Some(accept),
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    /// Waits (bounded) for the `n`th close the server received and returns it.
    fn close_number(&self, n: usize) -> Option<(u16, String)> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            {
                let seen = self.seen();
                if let Some(c) = seen.closes.get(n - 1) {
                    return c.clone();
                }
                assert!(
                    Instant::now() < deadline,
                    "echo server: no close #{n} within {IO_TIMEOUT:?}: {seen:?}"
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn echo(tcp: TcpStream, config: &Arc<Config>, seen: &Mutex<Seen>) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let mut ws = match WebSocket::accept_with_config(tcp, config.clone()) {
        Ok(ws) => ws,
        Err(e) => {
            lock(seen).errors.push(format!("handshake: {e}"));
            return;
        }
    };
    loop {
        let sent = match ws.read() {
            Ok(Message::Text(t)) => {
                let t = t.to_owned();
                ws.send_text(&t)
            }
            Ok(Message::Binary(b)) => {
                let b = b.to_vec();
                ws.send_binary(&b)
            }
            Ok(Message::Close(frame)) => {
                let frame = frame.map(|f| (u16::from(f.code), f.reason.to_owned()));
                lock(seen).closes.push(frame);
                return;
            }
            Ok(_) => Ok(()),
            Err(e) => {
                lock(seen).errors.push(format!("read: {e}"));
                return;
            }
        };
        if let Err(e) = sent {
            lock(seen).errors.push(format!("send: {e}"));
            return;
        }
    }
}

// ---- dialing helpers --------------------------------------------------------------------------

/// The dialer every test starts from: bounded timeouts, no roots at all unless `certs` gives a
/// CA, permessage-deflate offered when `deflate`.
fn dialer(certs: Option<&Certs>, deflate: bool) -> Dialer {
    let config = if deflate {
        Config::default().deflate(DeflateConfig::default())
    } else {
        Config::default()
    };
    Dialer::new()
        .connect_timeout(CONNECT_TIMEOUT)
        .handshake_timeout(HANDSHAKE_TIMEOUT)
        .config(config)
        .tls(certs.map_or_else(ClientTls::no_roots, Certs::client_tls))
}

fn with_proxy(d: Dialer, proxy: &str) -> Dialer {
    d.proxy(proxy)
        .unwrap_or_else(|e| panic!("proxy URL {proxy}: {e}"))
}

fn logs(peers: &[&Peer]) -> String {
    peers.iter().map(|p| p.logs()).collect()
}

/// Dials (blocking) and sets a read timeout on the socket.
fn connect(d: &Dialer, url: &str, peers: &[&Peer]) -> WebSocket<zerows_net::Stream> {
    let ws = d
        .connect(url)
        .unwrap_or_else(|e| panic!("dialing {url}: {e}\n{}", logs(peers)));
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(IO_TIMEOUT))
        .unwrap();
    ws
}

#[cfg(feature = "tokio")]
async fn connect_async(
    d: &Dialer,
    url: &str,
    peers: &[&Peer],
) -> zerows_util::AsyncWebSocket<zerows_net::AsyncStream> {
    d.connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("dialing {url}: {e}\n{}", logs(peers)))
}

fn dial_error<T>(r: Result<T, DialError>, url: &str) -> DialError {
    match r {
        Ok(_) => panic!("dialing {url} should have failed"),
        Err(e) => e,
    }
}

/// Runs a tokio test body within [`TEST_TIMEOUT`].
#[cfg(feature = "tokio")]
async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST_TIMEOUT:?}"));
}

fn has_deflate(agreed: Option<&zerows_util::Agreed>) -> bool {
    agreed
        .and_then(|a| a.extensions())
        .is_some_and(|e| e.contains("permessage-deflate"))
}

/// A 127.0.0.1 port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The combinations of (client offers deflate, server accepts deflate).
const DEFLATE_CASES: [(bool, bool); 4] =
    [(false, false), (true, true), (true, false), (false, true)];

// ---- 1. wss:// to the Python websockets server -------------------------------------------------

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn wss_to_python_websockets_echoes_text_and_binary_with_and_without_deflate_blocking() {
    let certs = Certs::new(&["localhost", "127.0.0.1"]);
    for server_deflate in [false, true] {
        let server = certs.python_server(server_deflate);
        for (client_deflate, _) in DEFLATE_CASES.iter().filter(|c| c.1 == server_deflate) {
            for host in ["localhost", "127.0.0.1"] {
                let url = format!("wss://{host}:{}/echo", server.port());
                let what = format!(
                    "{url} client_deflate={client_deflate} server_deflate={server_deflate}"
                );
                let mut ws = connect(&dialer(Some(&certs), *client_deflate), &url, &[&server]);
                assert!(ws.get_ref().is_tls(), "{what}: TLS");
                assert_eq!(
                    has_deflate(ws.agreed()),
                    *client_deflate && server_deflate,
                    "{what}: agreed {:?}",
                    ws.agreed()
                );
                round_trip_and_close!(&mut ws, &what,);
            }
        }
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
async fn wss_to_python_websockets_echoes_text_and_binary_with_and_without_deflate_tokio() {
    bounded(async {
        let certs = Certs::new(&["localhost", "127.0.0.1"]);
        for server_deflate in [false, true] {
            let server = certs.python_server(server_deflate);
            for (client_deflate, _) in DEFLATE_CASES.iter().filter(|c| c.1 == server_deflate) {
                for host in ["localhost", "127.0.0.1"] {
                    let url = format!("wss://{host}:{}/echo", server.port());
                    let what = format!(
                        "{url} client_deflate={client_deflate} server_deflate={server_deflate}"
                    );
                    let d = dialer(Some(&certs), *client_deflate);
                    let mut ws = connect_async(&d, &url, &[&server]).await;
                    assert!(ws.get_ref().is_tls(), "{what}: TLS");
                    assert_eq!(
                        has_deflate(ws.agreed()),
                        *client_deflate && server_deflate,
                        "{what}: agreed {:?}",
                        ws.agreed()
                    );
                    round_trip_and_close!(&mut ws, &what, .await);
                }
            }
        }
    })
    .await;
}

/// The same server, trusted or not: a CA we do not trust is `UnknownIssuer`; a certificate for
/// `localhost` only, dialed as `127.0.0.1`, is `WrongName`; the right CA and name work.
#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn wss_rejects_an_untrusted_or_misnamed_certificate_blocking() {
    let certs = Certs::new(&["localhost"]);
    let stranger = Certs::new(&["localhost"]);
    let server = certs.python_server(false);
    let port = server.port();

    let url = format!("wss://localhost:{port}/");
    match dial_error(dialer(Some(&stranger), false).connect(&url), &url) {
        DialError::Tls(e) => assert_eq!(e.kind(), TlsErrorKind::UnknownIssuer, "{e}"),
        e => panic!("{url} with another CA: {e:?}"),
    }
    let url = format!("wss://127.0.0.1:{port}/");
    match dial_error(dialer(Some(&certs), false).connect(&url), &url) {
        DialError::Tls(e) => assert_eq!(e.kind(), TlsErrorKind::WrongName, "{e}"),
        e => panic!("{url} with a certificate for localhost only: {e:?}"),
    }
    let url = format!("wss://localhost:{port}/");
    let mut ws = connect(&dialer(Some(&certs), false), &url, &[&server]);
    ws.send_text("trusted").unwrap();
    assert!(matches!(ws.read(), Ok(Message::Text("trusted"))));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
async fn wss_rejects_an_untrusted_or_misnamed_certificate_tokio() {
    bounded(async {
        let certs = Certs::new(&["localhost"]);
        let stranger = Certs::new(&["localhost"]);
        let server = certs.python_server(false);
        let port = server.port();

        let url = format!("wss://localhost:{port}/");
        match dial_error(
            dialer(Some(&stranger), false).connect_async(&url).await,
            &url,
        ) {
            DialError::Tls(e) => assert_eq!(e.kind(), TlsErrorKind::UnknownIssuer, "{e}"),
            e => panic!("{url} with another CA: {e:?}"),
        }
        let url = format!("wss://127.0.0.1:{port}/");
        match dial_error(dialer(Some(&certs), false).connect_async(&url).await, &url) {
            DialError::Tls(e) => assert_eq!(e.kind(), TlsErrorKind::WrongName, "{e}"),
            e => panic!("{url} with a certificate for localhost only: {e:?}"),
        }
        let url = format!("wss://localhost:{port}/");
        let mut ws = connect_async(&dialer(Some(&certs), false), &url, &[&server]).await;
        ws.send_text("trusted").await.unwrap();
        assert!(matches!(ws.read().await, Ok(Message::Text("trusted"))));
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    })
    .await;
}

// ---- proxied round trips, shared by tinyproxy and danted ---------------------------------------

/// Through `proxy_url` (the peer `proxy`): `ws_url` to our echo server `echo` (permessage-deflate
/// offered) and `wss_url` to the Python TLS server. Checks the connection runs to the proxy, that
/// the echo server saw the proxy's socket rather than ours, and the close code it received.
fn proxied_round_trips_blocking(
    certs: &Certs,
    proxy_url: &str,
    proxy: &Peer,
    echo: &EchoServer,
    ws_url: &str,
    wss: Option<(&str, &Peer)>,
) {
    let what = format!("{ws_url} via {proxy_url}");
    let d = with_proxy(dialer(Some(certs), true), proxy_url);
    let before = echo.seen().peers.len();
    let mut ws = connect(&d, ws_url, &[proxy]);
    let local = ws.get_ref().tcp().local_addr().unwrap();
    assert_eq!(
        ws.get_ref().tcp().peer_addr().unwrap(),
        proxy.addr,
        "{what}: TCP to the proxy"
    );
    {
        let seen = echo.seen();
        assert_eq!(
            seen.peers.len(),
            before + 1,
            "{what}: one connection at the server"
        );
        assert!(
            !seen.peers.contains(&local),
            "{what}: the server saw our socket, not the proxy's"
        );
    }
    assert!(
        has_deflate(ws.agreed()),
        "{what}: deflate agreed with our server"
    );
    let closes = echo.seen().closes.len();
    round_trip_and_close!(&mut ws, &what,);
    assert_eq!(
        echo.close_number(closes + 1),
        Some((1000, "bye".to_owned())),
        "{what}: the close the server got"
    );

    if let Some((wss_url, server)) = wss {
        let what = format!("{wss_url} via {proxy_url}");
        let mut ws = connect(&d, wss_url, &[proxy, server]);
        assert_eq!(
            ws.get_ref().tcp().peer_addr().unwrap(),
            proxy.addr,
            "{what}: TCP to the proxy"
        );
        assert!(ws.get_ref().is_tls(), "{what}: TLS through the tunnel");
        round_trip_and_close!(&mut ws, &what,);
    }
}

#[cfg(feature = "tokio")]
async fn proxied_round_trips_tokio(
    certs: &Certs,
    proxy_url: &str,
    proxy: &Peer,
    echo: &EchoServer,
    ws_url: &str,
    wss: Option<(&str, &Peer)>,
) {
    let what = format!("{ws_url} via {proxy_url}");
    let d = with_proxy(dialer(Some(certs), true), proxy_url);
    let before = echo.seen().peers.len();
    let mut ws = connect_async(&d, ws_url, &[proxy]).await;
    let local = ws.get_ref().tcp().local_addr().unwrap();
    assert_eq!(
        ws.get_ref().tcp().peer_addr().unwrap(),
        proxy.addr,
        "{what}: TCP to the proxy"
    );
    {
        let seen = echo.seen();
        assert_eq!(
            seen.peers.len(),
            before + 1,
            "{what}: one connection at the server"
        );
        assert!(
            !seen.peers.contains(&local),
            "{what}: the server saw our socket, not the proxy's"
        );
    }
    assert!(
        has_deflate(ws.agreed()),
        "{what}: deflate agreed with our server"
    );
    let closes = echo.seen().closes.len();
    round_trip_and_close!(&mut ws, &what, .await);
    assert_eq!(
        echo.close_number(closes + 1),
        Some((1000, "bye".to_owned())),
        "{what}: the close the server got"
    );

    if let Some((wss_url, server)) = wss {
        let what = format!("{wss_url} via {proxy_url}");
        let mut ws = connect_async(&d, wss_url, &[proxy, server]).await;
        assert_eq!(
            ws.get_ref().tcp().peer_addr().unwrap(),
            proxy.addr,
            "{what}: TCP to the proxy"
        );
        assert!(ws.get_ref().is_tls(), "{what}: TLS through the tunnel");
        round_trip_and_close!(&mut ws, &what, .await);
    }
}

// ---- 2. tinyproxy without auth ----------------------------------------------------------------

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn tinyproxy_tunnels_ws_to_our_server_and_wss_to_python_blocking() {
    let certs = Certs::new(&["localhost", "127.0.0.1"]);
    let echo = EchoServer::start();
    let server = certs.python_server(true);
    let proxy = peers::tinyproxy(None);
    let proxy_url = format!("http://{}", proxy.addr);
    for host in ["127.0.0.1", "localhost"] {
        let ws_url = format!("ws://{host}:{}/echo", echo.port());
        let wss_url = format!("wss://{host}:{}/echo", server.port());
        proxied_round_trips_blocking(
            &certs,
            &proxy_url,
            &proxy,
            &echo,
            &ws_url,
            Some((&wss_url, &server)),
        );
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
async fn tinyproxy_tunnels_ws_to_our_server_and_wss_to_python_tokio() {
    bounded(async {
        let certs = Certs::new(&["localhost", "127.0.0.1"]);
        let echo = EchoServer::start();
        let server = certs.python_server(true);
        let proxy = peers::tinyproxy(None);
        let proxy_url = format!("http://{}", proxy.addr);
        for host in ["127.0.0.1", "localhost"] {
            let ws_url = format!("ws://{host}:{}/echo", echo.port());
            let wss_url = format!("wss://{host}:{}/echo", server.port());
            proxied_round_trips_tokio(
                &certs,
                &proxy_url,
                &proxy,
                &echo,
                &ws_url,
                Some((&wss_url, &server)),
            )
            .await;
        }
    })
    .await;
}

// ---- 3. tinyproxy with BasicAuth --------------------------------------------------------------

/// What a `BasicAuth` tinyproxy answers: credentials in the URL pass; none is 407 →
/// `AuthenticationRequired`; wrong ones are a quirk of tinyproxy 1.11: `401 Unauthorized` (with
/// `WWW-Authenticate`), not 407, so they surface as `Refused { status: 401 }`, not as
/// `AuthenticationFailed` (which HTTP has no status for).
fn check_tinyproxy_auth_errors(no_credentials: DialError, wrong_credentials: DialError) {
    assert!(
        matches!(
            no_credentials,
            DialError::Proxy(ProxyError::AuthenticationRequired)
        ),
        "no credentials: {no_credentials:?}"
    );
    let shown = no_credentials.to_string();
    assert!(
        shown.contains("authentication"),
        "Display of {no_credentials:?}: {shown}"
    );
    assert!(
        matches!(
            wrong_credentials,
            DialError::Proxy(ProxyError::Refused { status: 401 })
        ),
        "wrong credentials: {wrong_credentials:?}"
    );
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn tinyproxy_basic_auth_accepts_url_credentials_and_reports_missing_or_wrong_ones_blocking() {
    let certs = Certs::new(&["localhost", "127.0.0.1"]);
    let echo = EchoServer::start();
    let proxy = peers::tinyproxy(Some((TP_USER, TP_PASS)));
    let ws_url = format!("ws://127.0.0.1:{}/echo", echo.port());

    let good = format!("http://{TP_USER}:{TP_PASS}@{}", proxy.addr);
    proxied_round_trips_blocking(&certs, &good, &proxy, &echo, &ws_url, None);

    let none = with_proxy(dialer(None, false), &format!("http://{}", proxy.addr)).connect(&ws_url);
    let wrong = format!("http://{TP_USER}:wrong@{}", proxy.addr);
    let wrong = with_proxy(dialer(None, false), &wrong).connect(&ws_url);
    check_tinyproxy_auth_errors(dial_error(none, &ws_url), dial_error(wrong, &ws_url));
    assert_eq!(
        echo.seen().peers.len(),
        1,
        "only the authenticated dial reached the server"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
async fn tinyproxy_basic_auth_accepts_url_credentials_and_reports_missing_or_wrong_ones_tokio() {
    bounded(async {
        let certs = Certs::new(&["localhost", "127.0.0.1"]);
        let echo = EchoServer::start();
        let proxy = peers::tinyproxy(Some((TP_USER, TP_PASS)));
        let ws_url = format!("ws://127.0.0.1:{}/echo", echo.port());

        let good = format!("http://{TP_USER}:{TP_PASS}@{}", proxy.addr);
        proxied_round_trips_tokio(&certs, &good, &proxy, &echo, &ws_url, None).await;

        let none = with_proxy(dialer(None, false), &format!("http://{}", proxy.addr));
        let none = none.connect_async(&ws_url).await;
        let wrong = format!("http://{TP_USER}:wrong@{}", proxy.addr);
        let wrong = with_proxy(dialer(None, false), &wrong)
            .connect_async(&ws_url)
            .await;
        check_tinyproxy_auth_errors(dial_error(none, &ws_url), dial_error(wrong, &ws_url));
        assert_eq!(
            echo.seen().peers.len(),
            1,
            "only the authenticated dial reached the server"
        );
    })
    .await;
}

// ---- 4. danted with username/password ---------------------------------------------------------

/// The proxy URLs for danted: `socks5h://` (the proxy resolves `localhost`) and `socks5://`
/// (resolved here, the address sent), both with the percent-encoded password.
fn dante_urls(proxy: &Peer) -> [String; 2] {
    ["socks5h", "socks5"]
        .map(|scheme| format!("{scheme}://{DANTE_USER}:{DANTE_PASS_URL}@{}", proxy.addr))
}

fn check_dante_auth_errors(wrong_password: DialError, no_credentials: DialError) {
    assert!(
        matches!(
            wrong_password,
            DialError::Proxy(ProxyError::AuthenticationFailed)
        ),
        "wrong password: {wrong_password:?}"
    );
    assert!(
        matches!(
            no_credentials,
            DialError::Proxy(ProxyError::AuthenticationRequired)
        ),
        "no credentials: {no_credentials:?}"
    );
    assert!(
        no_credentials.to_string().contains("authentication"),
        "{no_credentials}"
    );
}

/// danted logs each tunnel with the authenticated user and the address it connected to (only
/// the address: whether it or we resolved `localhost` does not show).
fn check_dante_log(proxy: &Peer, port: u16, tunnels: usize) {
    let log = fs::read_to_string(proxy.dir().join("danted.log")).unwrap_or_default();
    let opened = format!("tcp/connect [: username%{DANTE_USER}@");
    let target = format!(" 127.0.0.1.{port}");
    let to_port = log
        .lines()
        .filter(|l| l.contains(&opened) && l.ends_with(&target))
        .count();
    assert_eq!(
        to_port, tunnels,
        "tunnels by {DANTE_USER} to port {port} in danted's log:\n{log}"
    );
}

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn dante_socks5_and_socks5h_with_username_password_blocking() {
    let certs = Certs::new(&["localhost", "127.0.0.1"]);
    let echo = EchoServer::start();
    let server = certs.python_server(false);
    let proxy = peers::dante(DANTE_USER, DANTE_PASS);
    let ws_url = format!("ws://localhost:{}/", echo.port());
    let wss_url = format!("wss://localhost:{}/", server.port());
    for proxy_url in dante_urls(&proxy) {
        proxied_round_trips_blocking(
            &certs,
            &proxy_url,
            &proxy,
            &echo,
            &ws_url,
            Some((&wss_url, &server)),
        );
    }
    check_dante_log(&proxy, echo.port(), 2);

    let wrong = format!("socks5h://{DANTE_USER}:wrong@{}", proxy.addr);
    let wrong = with_proxy(dialer(None, false), &wrong).connect(&ws_url);
    let none = format!("socks5h://{}", proxy.addr);
    let none = with_proxy(dialer(None, false), &none).connect(&ws_url);
    check_dante_auth_errors(dial_error(wrong, &ws_url), dial_error(none, &ws_url));
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
async fn dante_socks5_and_socks5h_with_username_password_tokio() {
    bounded(async {
        let certs = Certs::new(&["localhost", "127.0.0.1"]);
        let echo = EchoServer::start();
        let server = certs.python_server(false);
        let proxy = peers::dante(DANTE_USER, DANTE_PASS);
        let ws_url = format!("ws://localhost:{}/", echo.port());
        let wss_url = format!("wss://localhost:{}/", server.port());
        for proxy_url in dante_urls(&proxy) {
            proxied_round_trips_tokio(
                &certs,
                &proxy_url,
                &proxy,
                &echo,
                &ws_url,
                Some((&wss_url, &server)),
            )
            .await;
        }
        check_dante_log(&proxy, echo.port(), 2);

        let wrong = format!("socks5h://{DANTE_USER}:wrong@{}", proxy.addr);
        let wrong = with_proxy(dialer(None, false), &wrong)
            .connect_async(&ws_url)
            .await;
        let none = format!("socks5h://{}", proxy.addr);
        let none = with_proxy(dialer(None, false), &none)
            .connect_async(&ws_url)
            .await;
        check_dante_auth_errors(dial_error(wrong, &ws_url), dial_error(none, &ws_url));
    })
    .await;
}

// ---- 5. proxies that cannot reach the target ---------------------------------------------------

/// tinyproxy answers a CONNECT it cannot complete with `500 Unable to connect` (not 502).
fn check_tinyproxy_refusal(e: DialError) {
    assert!(
        matches!(e, DialError::Proxy(ProxyError::Refused { status: 500 })),
        "{e:?}"
    );
    assert!(e.to_string().contains("500"), "{e}");
}

/// danted answers a refused TCP connection with REP 5, "connection refused"; a target outside
/// its `to: 127.0.0.0/8` rule with REP 2, "not allowed by ruleset" (without trying to reach it).
fn check_dante_refusals(refused: DialError, not_allowed: DialError) {
    assert!(
        matches!(
            refused,
            DialError::Proxy(ProxyError::SocksRefused { code: 5 })
        ),
        "connection refused: {refused:?}"
    );
    assert!(
        refused.to_string().contains("connection refused"),
        "{refused}"
    );
    assert!(
        matches!(
            not_allowed,
            DialError::Proxy(ProxyError::SocksRefused { code: 2 })
        ),
        "outside the rules: {not_allowed:?}"
    );
    assert!(
        not_allowed.to_string().contains("not allowed"),
        "{not_allowed}"
    );
}

/// TEST-NET-1 (RFC 5737): never routed; danted refuses it by rule before any connect.
const UNROUTED: &str = "192.0.2.1";

#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn proxies_report_a_target_they_cannot_reach_blocking() {
    let closed = format!("ws://127.0.0.1:{}/", closed_port());
    let tinyproxy = peers::tinyproxy(None);
    let d = with_proxy(dialer(None, false), &format!("http://{}", tinyproxy.addr));
    check_tinyproxy_refusal(dial_error(d.connect(&closed), &closed));

    let dante = peers::dante_no_auth();
    let d = with_proxy(dialer(None, false), &format!("socks5://{}", dante.addr));
    let unrouted = format!("ws://{UNROUTED}:80/");
    check_dante_refusals(
        dial_error(d.connect(&closed), &closed),
        dial_error(d.connect(&unrouted), &unrouted),
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
async fn proxies_report_a_target_they_cannot_reach_tokio() {
    bounded(async {
        let closed = format!("ws://127.0.0.1:{}/", closed_port());
        let tinyproxy = peers::tinyproxy(None);
        let d = with_proxy(dialer(None, false), &format!("http://{}", tinyproxy.addr));
        check_tinyproxy_refusal(dial_error(d.connect_async(&closed).await, &closed));

        let dante = peers::dante_no_auth();
        let d = with_proxy(dialer(None, false), &format!("socks5://{}", dante.addr));
        let unrouted = format!("ws://{UNROUTED}:80/");
        check_dante_refusals(
            dial_error(d.connect_async(&closed).await, &closed),
            dial_error(d.connect_async(&unrouted).await, &unrouted),
        );
    })
    .await;
}

// ---- 6. the proxy from the environment ---------------------------------------------------------

/// Set in the child process: the tinyproxy address the parent put in `http_proxy`.
const ENV_CHILD: &str = "ZEROWS_REAL_PEERS_ENV_CHILD";
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// `Dialer::proxy_from_env` with `http_proxy=http://<tinyproxy>` and `no_proxy=localhost`:
/// `ws://127.0.0.1:P/` goes through the proxy, `ws://localhost:P/` directly, blocking and tokio.
///
/// The environment is process-global and tests run in parallel threads, so this test never
/// changes it: it starts tinyproxy and runs itself again in a child process (this test binary,
/// `--exact`) whose environment has the variables set (and every other proxy variable removed);
/// the child does the dialing.
#[test]
#[ignore = "needs tinyproxy, dante-server and Python websockets: bash scripts/net-interop.sh"]
fn proxy_from_env_honours_http_proxy_and_no_proxy() {
    const NAME: &str = "proxy_from_env_honours_http_proxy_and_no_proxy";
    if let Some(proxy) = std::env::var_os(ENV_CHILD) {
        let proxy: SocketAddr = proxy.to_str().unwrap().parse().unwrap();
        env_child(proxy);
        return;
    }
    let tinyproxy = peers::tinyproxy(None);
    let out_dir = Certs::new(&["localhost"]); // a temp dir removed on drop
    let (stdout, stderr) = (out_dir.dir.join("stdout"), out_dir.dir.join("stderr"));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        NAME,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("http_proxy", format!("http://{}", tinyproxy.addr))
        .env("no_proxy", "localhost")
        .env(ENV_CHILD, tinyproxy.addr.to_string())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + TEST_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = fs::read_to_string(&stdout).unwrap_or_default();
    let err = fs::read_to_string(&stderr).unwrap_or_default();
    let report = format!(
        "--- child stdout\n{out}--- child stderr\n{err}{}",
        tinyproxy.logs()
    );
    let status =
        status.unwrap_or_else(|| panic!("child did not finish in {TEST_TIMEOUT:?}\n{report}"));
    assert!(status.success(), "child failed: {status}\n{report}");
    // an exit code 0 with nothing run would prove nothing
    assert!(
        out.contains("test result: ok. 1 passed"),
        "the child ran the test\n{report}"
    );
}

fn env_child(proxy: SocketAddr) {
    assert_eq!(std::env::var("no_proxy").as_deref(), Ok("localhost"));
    let echo = EchoServer::start();
    let d = dialer(None, false).proxy_from_env();
    let via_proxy = format!("ws://127.0.0.1:{}/", echo.port());
    let direct = format!("ws://localhost:{}/", echo.port());

    let mut ws = d.connect(&via_proxy).unwrap();
    assert_eq!(
        ws.get_ref().tcp().peer_addr().unwrap(),
        proxy,
        "{via_proxy}: via http_proxy"
    );
    ws.send_text("env").unwrap();
    assert!(matches!(ws.read(), Ok(Message::Text("env"))));
    ws.close(CloseCode::NORMAL, "bye").unwrap();

    let mut ws = d.connect(&direct).unwrap();
    assert_eq!(
        ws.get_ref().tcp().peer_addr().unwrap(),
        echo.addr,
        "{direct}: no_proxy"
    );
    ws.close(CloseCode::NORMAL, "bye").unwrap();

    #[cfg(feature = "tokio")]
    env_child_tokio(&d, proxy, &echo);

    // every dial once via tinyproxy, once straight
    let dials = if cfg!(feature = "tokio") { 4 } else { 2 };
    assert_eq!(echo.close_number(dials), Some((1000, "bye".to_owned())));
    let seen = echo.seen();
    assert_eq!(
        (seen.peers.len(), seen.closes.len()),
        (dials, dials),
        "{seen:?}"
    );
}

#[cfg(feature = "tokio")]
fn env_child_tokio(d: &Dialer, proxy: SocketAddr, echo: &EchoServer) {
    let via_proxy = format!("ws://127.0.0.1:{}/", echo.port());
    let direct = format!("ws://localhost:{}/", echo.port());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bounded(async {
        let mut ws = d.connect_async(&via_proxy).await.unwrap();
        assert_eq!(
            ws.get_ref().tcp().peer_addr().unwrap(),
            proxy,
            "{via_proxy}: via http_proxy (tokio)"
        );
        ws.send_text("env").await.unwrap();
        assert!(matches!(ws.read().await, Ok(Message::Text("env"))));
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();

        let mut ws = d.connect_async(&direct).await.unwrap();
        assert_eq!(
            ws.get_ref().tcp().peer_addr().unwrap(),
            echo.addr,
            "{direct}: no_proxy (tokio)"
        );
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    }));
}
