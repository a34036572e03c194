//! Dialing end to end in one process: TLS with a CA made at test time (both worlds), every
//! certificate failure named, bad URLs, unresolvable names, refused connections, proxies that
//! misbehave in ways no real proxy does on demand, and servers that stall. The real proxies and
//! the Python peer are in `real_peers.rs`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use zerows_net::{
    ClientTls, DialError, Dialer, ProxyError, ServerTls, Stage, TlsErrorKind, UrlError,
};
use zerows_upgrade::server::{Hooks, Protocols, Upgrader};
use zerows_util::{CloseCode, Config, Error, Message, WebSocket};

/// A CA and a server certificate it signed.
struct Pki {
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
}

fn ca() -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // a name of its own: a CA with another's name would fail as a bad signature, not as unknown
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("zerows test CA {n}"));
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

/// A leaf for `names`, valid from `not_before` to `not_after` (years), signed by a fresh CA.
fn pki_with(names: &[&str], validity: Option<(i32, i32)>) -> Pki {
    let (ca_params, ca_key, ca_pem) = ca();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut leaf =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    if let Some((from, to)) = validity {
        leaf.not_before = date_time_ymd(from, 1, 1);
        leaf.not_after = date_time_ymd(to, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        chain_pem: format!("{}{}", cert.pem(), ca_pem),
        ca_pem,
        key_pem: key.serialize_pem(),
    }
}

fn pki() -> Pki {
    pki_with(&["localhost", "127.0.0.1", "::1"], None)
}

impl Pki {
    fn server(&self) -> ServerTls {
        ServerTls::from_pem(self.chain_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }
    fn client(&self) -> ClientTls {
        ClientTls::no_roots()
            .add_ca_pem(self.ca_pem.as_bytes())
            .unwrap()
    }
}

/// Picks the first offered subprotocol.
struct FirstProtocol;
impl Hooks for FirstProtocol {
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        offered.into_iter().next()
    }
}

/// A blocking echo server (TLS when `tls` is given) on `bind`; each connection on its own thread.
/// The server keeps the `Authorization` header and answers with it as the first message's prefix
/// when a client sends "whoami".
fn echo_server(bind: &str, tls: Option<ServerTls>) -> SocketAddr {
    let listener = TcpListener::bind(bind).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let tls = tls.clone();
            std::thread::spawn(move || {
                let config = Config::default().keep_header("authorization");
                let mut upgrader = Upgrader::with_hooks(FirstProtocol);
                let _ = match tls {
                    Some(tls) => tls.accept(tcp).map_err(Error::Io).and_then(|s| {
                        WebSocket::accept_with_upgrader(s, &mut upgrader, config).and_then(serve)
                    }),
                    None => {
                        WebSocket::accept_with_upgrader(tcp, &mut upgrader, config).and_then(serve)
                    }
                };
            });
        }
    });
    addr
}

fn serve<S: zerows_util::Transport>(mut ws: WebSocket<S>) -> Result<(), Error> {
    let mut buf = Vec::new();
    loop {
        let op = ws.read_into(&mut buf)?;
        if buf == b"whoami" {
            let who = ws
                .agreed()
                .and_then(|a| a.header("authorization"))
                .unwrap_or("nobody")
                .to_owned();
            ws.send_text(&who)?;
        } else {
            ws.send_message(op, &buf)?;
        }
    }
}

fn echo_once<S: zerows_util::Transport>(ws: &mut WebSocket<S>, text: &str) -> String {
    ws.send_text(text).unwrap();
    match ws.read().unwrap() {
        Message::Text(t) => t.to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn wss_with_a_private_ca_echoes_and_closes_cleanly() {
    let pki = pki();
    let addr = echo_server("127.0.0.1:0", Some(pki.server()));
    let dialer = Dialer::new().tls(pki.client());
    for url in [
        format!("wss://localhost:{}/", addr.port()),
        format!("wss://127.0.0.1:{}/chat?x=1", addr.port()),
    ] {
        let mut ws = dialer.connect(&url).unwrap();
        assert!(ws.get_ref().is_tls());
        let alpn = ws.get_ref().tls_client().unwrap().alpn_protocol();
        assert_eq!(alpn, Some(&b"http/1.1"[..]));
        assert_eq!(echo_once(&mut ws, "hello κόσμε"), "hello κόσμε");
        let big = "x".repeat(200_000);
        assert_eq!(echo_once(&mut ws, &big), big);
        ws.close(CloseCode::NORMAL, "bye").unwrap();
        assert!(matches!(ws.read(), Err(Error::Closed)));
    }
    // Nothing installed a process-wide provider: the crate chose its own.
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

#[test]
fn subprotocols_headers_and_origin_reach_the_server() {
    let addr = echo_server("127.0.0.1:0", None);
    let mut ws = Dialer::new()
        .protocol("chat.v2")
        .protocol("chat.v1")
        .header("Authorization", "Bearer 8f3a")
        .origin("http://example.com")
        .connect(&format!("ws://127.0.0.1:{}/", addr.port()))
        .unwrap();
    assert_eq!(ws.agreed().and_then(|a| a.protocol()), Some("chat.v2"));
    assert_eq!(echo_once(&mut ws, "whoami"), "Bearer 8f3a");
    assert!(!ws.get_ref().is_tls());
}

#[test]
fn an_ipv6_literal_url_dials() {
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    drop(probe);
    let pki = pki();
    let addr = echo_server("[::1]:0", Some(pki.server()));
    let mut ws = Dialer::new()
        .tls(pki.client())
        .connect(&format!("wss://[::1]:{}/", addr.port()))
        .unwrap();
    assert_eq!(echo_once(&mut ws, "six"), "six");
}

fn tls_kind(r: Result<impl std::fmt::Debug, DialError>) -> TlsErrorKind {
    match r {
        Err(DialError::Tls(e)) => e.kind(),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn certificate_failures_say_which() {
    // unknown issuer: the client trusts another CA
    let pki_a = pki();
    let pki_b = pki();
    let addr = echo_server("127.0.0.1:0", Some(pki_a.server()));
    let url = format!("wss://localhost:{}/", addr.port());
    let err = Dialer::new().tls(pki_b.client()).connect(&url);
    let err = err.err().unwrap();
    assert!(matches!(&err, DialError::Tls(e) if e.kind() == TlsErrorKind::UnknownIssuer));
    assert!(
        err.to_string().contains("not trusted (unknown issuer)"),
        "{err}"
    );

    // wrong name
    let other = pki_with(&["other.example"], None);
    let addr = echo_server("127.0.0.1:0", Some(other.server()));
    let url = format!("wss://localhost:{}/", addr.port());
    let err = Dialer::new().tls(other.client()).connect(&url);
    assert_eq!(tls_kind(err), TlsErrorKind::WrongName);

    // expired, and not yet valid
    let old = pki_with(&["localhost"], Some((2001, 2002)));
    let addr = echo_server("127.0.0.1:0", Some(old.server()));
    let url = format!("wss://localhost:{}/", addr.port());
    let err = Dialer::new().tls(old.client()).connect(&url).err().unwrap();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(tls_kind(Err::<(), _>(err)), TlsErrorKind::Expired);
    let future = pki_with(&["localhost"], Some((2999, 3000)));
    let addr = echo_server("127.0.0.1:0", Some(future.server()));
    let url = format!("wss://localhost:{}/", addr.port());
    let err = Dialer::new().tls(future.client()).connect(&url);
    assert_eq!(tls_kind(err), TlsErrorKind::NotYetValid);

    // no roots at all
    let err = Dialer::new().tls(ClientTls::no_roots()).connect(&url);
    assert_eq!(tls_kind(err), TlsErrorKind::NoRootCertificates);
}

#[test]
fn the_dangerous_opt_in_accepts_an_unknown_issuer() {
    let pki = pki();
    let addr = echo_server("127.0.0.1:0", Some(pki.server()));
    let mut ws = Dialer::new()
        .tls(ClientTls::dangerous_accept_any_certificate())
        .connect(&format!("wss://localhost:{}/", addr.port()))
        .unwrap();
    assert_eq!(echo_once(&mut ws, "trusting"), "trusting");
}

#[test]
fn the_default_roots_do_not_trust_a_private_ca() {
    let pki = pki();
    let addr = echo_server("127.0.0.1:0", Some(pki.server()));
    let err = Dialer::new().connect(&format!("wss://localhost:{}/", addr.port()));
    assert_eq!(tls_kind(err), TlsErrorKind::UnknownIssuer);
}

#[test]
fn bad_urls_fail_before_any_io() {
    for (url, expect) in [
        ("http://127.0.0.1:1/", UrlError::UnknownScheme),
        ("127.0.0.1:1", UrlError::MissingScheme),
        ("ws://u:p@127.0.0.1:1/", UrlError::UserInfo),
        ("ws://127.0.0.1:1/#x", UrlError::Fragment),
        ("ws://127.0.0.1:99999/", UrlError::InvalidPort),
    ] {
        match Dialer::new().connect(url) {
            Err(DialError::Url(e)) => assert_eq!(e, expect, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    let err = Dialer::new().proxy("ftp://proxy").err().unwrap();
    assert!(err.to_string().starts_with("invalid proxy URL"), "{err}");
}

#[test]
fn an_unresolvable_host_is_named() {
    // `.invalid` never resolves (RFC 6761 §6.4); without network the resolver may also time out.
    let started = Instant::now();
    let err = Dialer::new()
        .connect_timeout(Duration::from_secs(3))
        .connect("ws://zerows-test.invalid/")
        .err()
        .unwrap();
    match &err {
        DialError::Resolve { host, .. } => assert_eq!(host, "zerows-test.invalid"),
        DialError::Timeout(Stage::Resolve) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.to_string().contains("resolv"),
        "the message says what failed: {err}"
    );
}

#[test]
fn a_refused_connection_is_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Dialer::new()
        .connect(&format!("ws://127.0.0.1:{port}/"))
        .err()
        .unwrap();
    match &err {
        DialError::Connect { addr, source } => {
            assert_eq!(addr, &format!("127.0.0.1:{port}"));
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with("cannot connect to 127.0.0.1:"),
        "{err}"
    );
}

/// A "proxy" that reads the request and then does `then` with the socket.
fn fake_proxy(then: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let then = Arc::new(then);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let then = then.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                then(s);
            });
        }
    });
    addr
}

#[test]
fn a_proxy_that_closes_without_replying_is_named() {
    let proxy = fake_proxy(drop);
    for scheme in ["http", "socks5h"] {
        let err = Dialer::new()
            .proxy(&format!("{scheme}://{proxy}"))
            .unwrap()
            .connect("ws://example.com/")
            .err()
            .unwrap();
        assert!(
            matches!(err, DialError::Proxy(ProxyError::Closed)),
            "{scheme}: {err:?}"
        );
        assert!(err.to_string().contains("proxy closed"), "{err}");
    }
}

#[test]
fn a_proxy_with_an_endless_header_is_cut_off() {
    let proxy = fake_proxy(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n");
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        while s.write_all(line).is_ok() {}
    });
    let err = Dialer::new()
        .proxy(&format!("http://{proxy}"))
        .unwrap()
        .connect("ws://example.com/")
        .err()
        .unwrap();
    assert!(
        matches!(err, DialError::Proxy(ProxyError::HeadTooLarge)),
        "{err:?}"
    );
}

#[test]
fn a_proxy_that_trickles_is_stopped_by_the_handshake_timeout() {
    let proxy = fake_proxy(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        for _ in 0..100 {
            if s.write_all(b"X: y\r\n").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let started = Instant::now();
    let err = Dialer::new()
        .proxy(&format!("http://{proxy}"))
        .unwrap()
        .handshake_timeout(Duration::from_millis(700))
        .connect("ws://example.com/")
        .err()
        .unwrap();
    assert!(matches!(err, DialError::Timeout(Stage::Proxy)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.to_string(), "timed out opening the proxy tunnel");
}

#[test]
fn a_proxy_refusal_and_407_are_named() {
    let p407 = fake_proxy(|mut s| {
        let _ = s.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let err = Dialer::new()
        .proxy(&format!("http://{p407}"))
        .unwrap()
        .connect("ws://example.com/")
        .err()
        .unwrap();
    assert!(matches!(
        err,
        DialError::Proxy(ProxyError::AuthenticationRequired)
    ));
    assert!(
        err.to_string().contains("proxy requires authentication"),
        "{err}"
    );
}

/// Accepts TCP and never answers.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    addr
}

#[test]
fn a_server_that_stalls_times_out_in_the_right_step() {
    let addr = silent_server();
    let dialer = Dialer::new().handshake_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = dialer.connect(&format!("ws://{addr}/")).err().unwrap();
    assert!(
        matches!(err, DialError::Timeout(Stage::Handshake)),
        "{err:?}"
    );
    let err = dialer.connect(&format!("wss://{addr}/")).err().unwrap();
    assert!(matches!(err, DialError::Timeout(Stage::Tls)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_refuses_the_upgrade_is_a_handshake_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    });
    let err = Dialer::new()
        .connect(&format!("ws://{addr}/"))
        .err()
        .unwrap();
    assert!(matches!(err, DialError::Handshake(_)), "{err:?}");
    assert!(err.to_string().contains("403"), "{err}");
}

mod tokio_world {
    use super::*;
    use zerows_util::AsyncWebSocket;

    /// The tokio TLS echo server: `ServerTls::accept_async`, then `AsyncWebSocket::accept`.
    async fn tls_echo_server(tls: ServerTls) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let stream = tls.accept_async(tcp).await?;
                    let mut ws = AsyncWebSocket::accept(stream).await?;
                    let mut buf = Vec::new();
                    loop {
                        let op = ws.read_into(&mut buf).await?;
                        ws.send_message(op, &buf).await?;
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), Error>(())
                });
            }
        });
        addr
    }

    async fn echo<S>(ws: &mut AsyncWebSocket<S>, text: &str) -> String
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        ws.send_text(text).await.unwrap();
        match ws.read().await.unwrap() {
            Message::Text(t) => t.to_owned(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn wss_with_a_private_ca_echoes_and_closes_cleanly() {
        let pki = pki();
        let addr = tls_echo_server(pki.server()).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let mut ws = Dialer::new()
            .tls(pki.client())
            .connect_async(&url)
            .await
            .unwrap();
        assert!(ws.get_ref().is_tls());
        assert_eq!(echo(&mut ws, "hello κόσμε").await, "hello κόσμε");
        let big = "y".repeat(300_000);
        assert_eq!(echo(&mut ws, &big).await, big);
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert!(matches!(ws.read().await, Err(Error::Closed)));
    }

    #[tokio::test]
    async fn certificate_failures_say_which() {
        let pki_a = pki();
        let addr = tls_echo_server(pki_a.server()).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let r = Dialer::new().tls(pki().client()).connect_async(&url).await;
        assert_eq!(tls_kind(r), TlsErrorKind::UnknownIssuer);
        let other = pki_with(&["other.example"], None);
        let addr = tls_echo_server(other.server()).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let r = Dialer::new().tls(other.client()).connect_async(&url).await;
        assert_eq!(tls_kind(r), TlsErrorKind::WrongName);
        let old = pki_with(&["localhost"], Some((2001, 2002)));
        let addr = tls_echo_server(old.server()).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let r = Dialer::new().tls(old.client()).connect_async(&url).await;
        assert_eq!(tls_kind(r), TlsErrorKind::Expired);
    }

    #[tokio::test]
    async fn a_server_that_stalls_times_out_in_the_right_step() {
        let addr = silent_server();
        let dialer = Dialer::new().handshake_timeout(Duration::from_millis(500));
        let err = dialer
            .connect_async(&format!("ws://{addr}/"))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, DialError::Timeout(Stage::Handshake)),
            "{err:?}"
        );
        let err = dialer
            .connect_async(&format!("wss://{addr}/"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, DialError::Timeout(Stage::Tls)), "{err:?}");
    }

    #[tokio::test]
    async fn refused_connections_and_closing_proxies_are_named() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = Dialer::new()
            .connect_async(&format!("ws://127.0.0.1:{port}/"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, DialError::Connect { .. }), "{err:?}");
        let proxy = fake_proxy(drop);
        let err = Dialer::new()
            .proxy(&format!("socks5h://{proxy}"))
            .unwrap()
            .connect_async("ws://example.com/")
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, DialError::Proxy(ProxyError::Closed)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_server_tls_accept_times_out_a_silent_client() {
        let pki = pki();
        let tls = pki.server().accept_timeout(Duration::from_millis(300));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let err = tls.accept_async(tcp).await.err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}

#[test]
fn a_server_tls_accept_times_out_a_silent_client() {
    let pki = pki();
    let tls = pki.server().accept_timeout(Duration::from_millis(300));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (tcp, _) = listener.accept().unwrap();
    let started = Instant::now();
    let err = tls.accept(tcp).err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(2));
}
