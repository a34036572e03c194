//! [`Dialer`]: a URL in, an open WebSocket out, through a proxy and TLS when asked, every step
//! bounded by a timeout. The steps are the same in both worlds; only the waiting differs.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zerows_upgrade::client::ClientRequest;
use zerows_util::{Config, WebSocket};

use crate::error::{DialError, Stage};
use crate::proxy::{Exchange, Proxy, ProxyKind};
use crate::stream::{Stream, Tcp};
#[cfg(feature = "tls")]
use crate::tls::{ClientTls, TlsError};
use crate::url::{Host, WsUrl};

/// How long resolving and opening the TCP connection may take by default: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the proxy tunnel, the TLS handshake and the WebSocket handshake together may take
/// by default: 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
enum ProxyChoice {
    #[default]
    Direct,
    Fixed(Proxy),
    Env,
}

/// Everything about reaching a server but its URL; cheap to clone, reusable for many dials.
///
/// ```no_run
/// use std::time::Duration;
/// use zerows_net::Dialer;
/// use zerows_util::{Config, Message};
///
/// let mut ws = Dialer::new()
///     .config(Config::default().max_message_size(1 << 20))
///     .protocol("chat.v2")
///     .header("Authorization", "Bearer 8f3a")
///     .proxy("socks5h://127.0.0.1:1080")?
///     .connect_timeout(Duration::from_secs(5))
///     .connect("wss://example.com/chat?room=7")?;
/// println!("agreed on {:?}", ws.agreed().and_then(|a| a.protocol()));
/// ws.send_text("hello")?;
/// if let Message::Text(t) = ws.read()? {
///     println!("< {t}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The timeouts ([`connect_timeout`](Dialer::connect_timeout), default
/// [`DEFAULT_CONNECT_TIMEOUT`]; [`handshake_timeout`](Dialer::handshake_timeout), default
/// [`DEFAULT_HANDSHAKE_TIMEOUT`]) bound dialing; the close handshake is bounded by the
/// connection's [`Config::close_timeout`] (5 s by default).
#[derive(Clone)]
pub struct Dialer {
    config: Arc<Config>,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    origin: Option<String>,
    proxy: ProxyChoice,
    #[cfg(feature = "tls")]
    tls: ClientTls,
    connect_timeout: Duration,
    handshake_timeout: Duration,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Dialer");
        d.field("protocols", &self.protocols)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("origin", &self.origin)
            .field("proxy", &self.proxy);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer::new()
    }
}

/// Dials `url` with a default [`Dialer`]: no proxy, the default roots, the default timeouts.
///
/// # Errors
/// [`DialError`] names the step and its cause.
pub fn connect(url: &str) -> Result<WebSocket<Stream>, DialError> {
    Dialer::new().connect(url)
}

/// Dials `url` with a default [`Dialer`], over tokio.
///
/// # Errors
/// As [`connect`].
#[cfg(feature = "tokio")]
pub async fn connect_async(
    url: &str,
) -> Result<zerows_util::AsyncWebSocket<crate::AsyncStream>, DialError> {
    Dialer::new().connect_async(url).await
}

/// What one dial needs, worked out from the URL before any I/O.
struct Plan<'a> {
    url: WsUrl<'a>,
    proxy: Option<Proxy>,
    target: std::borrow::Cow<'a, str>,
}

impl Dialer {
    /// No proxy, the default [`Config`], the roots of the enabled features, the default
    /// timeouts.
    pub fn new() -> Dialer {
        Dialer {
            config: Arc::new(Config::default()),
            protocols: Vec::new(),
            headers: Vec::new(),
            origin: None,
            proxy: ProxyChoice::Direct,
            #[cfg(feature = "tls")]
            tls: ClientTls::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// The connection's settings (limits, buffers, keepalive, an extension to offer such as
    /// permessage-deflate, response headers to keep with [`Config::keep_header`]).
    #[must_use]
    pub fn config(mut self, config: impl Into<Arc<Config>>) -> Dialer {
        self.config = config.into();
        self
    }

    /// Offers a subprotocol (RFC 6455 §1.9); call once per protocol, in order of preference.
    /// The server's choice is in `ws.agreed()`.
    #[must_use]
    pub fn protocol(mut self, name: &str) -> Dialer {
        self.protocols.push(name.to_owned());
        self
    }

    /// Adds a request header (`Authorization`, `Cookie`, …). Checked when dialing: an invalid
    /// name or value fails the handshake before anything is sent.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Dialer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends `Origin` (RFC 6455 §4.1 item 8, §10.2), as a browser would.
    #[must_use]
    pub fn origin(mut self, origin: &str) -> Dialer {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Goes through `proxy`: `http://[user:pass@]host[:port]`, `socks5://…` (names resolved
    /// here) or `socks5h://…` (names resolved by the proxy).
    ///
    /// # Errors
    /// The proxy URL's problem.
    pub fn proxy(mut self, proxy: &str) -> Result<Dialer, DialError> {
        self.proxy = ProxyChoice::Fixed(Proxy::parse(proxy).map_err(DialError::ProxyUrl)?);
        Ok(self)
    }

    /// Goes through a parsed [`Proxy`].
    #[must_use]
    pub fn via(mut self, proxy: Proxy) -> Dialer {
        self.proxy = ProxyChoice::Fixed(proxy);
        self
    }

    /// Takes the proxy from the environment at each dial ([`Proxy::from_env`]:
    /// `https_proxy`/`http_proxy`, `all_proxy`, `no_proxy`, either case). Off unless asked.
    #[must_use]
    pub fn proxy_from_env(mut self) -> Dialer {
        self.proxy = ProxyChoice::Env;
        self
    }

    /// How `wss://` servers are verified (default: [`ClientTls::new`]).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: ClientTls) -> Dialer {
        self.tls = tls;
        self
    }

    /// The bound on resolving the name and opening TCP, to the server or the proxy (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Dialer {
        self.connect_timeout = timeout;
        self
    }

    /// The bound on the proxy tunnel, TLS and the WebSocket handshake together (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]): a server that accepts and then stalls or trickles costs
    /// at most this.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Dialer {
        self.handshake_timeout = timeout;
        self
    }

    fn plan<'a>(&self, url: &'a str) -> Result<Plan<'a>, DialError> {
        let url = WsUrl::parse(url).map_err(DialError::Url)?;
        let proxy = match &self.proxy {
            ProxyChoice::Direct => None,
            ProxyChoice::Fixed(p) => Some(p.clone()),
            ProxyChoice::Env => {
                Proxy::from_env(url.is_secure(), url.host()).map_err(DialError::ProxyUrl)?
            }
        };
        #[cfg(not(feature = "tls"))]
        if url.is_secure() {
            return Err(DialError::Url(crate::url::UrlError::UnknownScheme));
        }
        Ok(Plan {
            target: url.request_target(),
            url,
            proxy,
        })
    }

    /// The handshake request; protocols borrowed from `names`.
    fn request<'a>(
        &'a self,
        plan: &'a Plan<'_>,
        names: &'a [&'a str],
        headers: &'a [(&'a str, &'a str)],
    ) -> Result<ClientRequest<'a>, DialError> {
        let mut request = ClientRequest::with_random_key(plan.url.host_header(), &plan.target)
            .map_err(|e| DialError::Io {
                stage: Stage::Handshake,
                source: std::io::Error::other(e),
            })?
            .protocols(names)
            .headers(headers);
        if let Some(o) = &self.origin {
            request = request.origin(o);
        }
        Ok(request)
    }

    /// Dials `url` and returns the open connection; what the server agreed to (subprotocol,
    /// extensions, kept response headers) is in [`WebSocket::agreed`].
    ///
    /// # Errors
    /// [`DialError`] names the step and its cause; never hangs past the timeouts.
    pub fn connect(&self, url: &str) -> Result<WebSocket<Stream>, DialError> {
        let plan = self.plan(url)?;
        let (host, port) = match &plan.proxy {
            Some(p) => (proxy_host(p), p.port()),
            None => (plan.url.host(), plan.url.port()),
        };
        let mut tcp = Tcp::new(connect_tcp(host, port, self.connect_timeout)?);
        tcp.set_deadline(Some(Instant::now() + self.handshake_timeout));

        if let Some(proxy) = &plan.proxy {
            let target = tunnel_target(
                proxy,
                plan.url.host(),
                plan.url.port(),
                self.connect_timeout,
            )?;
            let mut exchange = proxy
                .exchange(target, plan.url.port())
                .map_err(DialError::Proxy)?;
            run_exchange(&mut tcp, exchange.as_mut())?;
        }

        let stream = if plan.url.is_secure() {
            self.tls_connect(&plan, tcp)?
        } else {
            Stream::plain(tcp)
        };

        let names: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = self.request(&plan, &names, &headers)?;
        let mut ws = WebSocket::connect_with_config(stream, &request, self.config.clone())
            .map_err(handshake_error)?;
        let tcp = ws.get_mut().tcp_mut();
        tcp.set_deadline(None);
        tcp.clear_timeouts()
            .map_err(|e| DialError::io(Stage::Handshake, e))?;
        Ok(ws)
    }

    #[cfg(feature = "tls")]
    fn tls_connect(&self, plan: &Plan<'_>, tcp: Tcp) -> Result<Stream, DialError> {
        let config = self.tls.config().map_err(DialError::Tls)?;
        let name = crate::tls::server_name(plan.url.host()).map_err(DialError::Tls)?;
        let conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| DialError::Tls(TlsError::from_rustls(&e)))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| tls_error(Stage::Tls, e))?;
        }
        Ok(Stream::client(tls))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_connect(&self, _plan: &Plan<'_>, _tcp: Tcp) -> Result<Stream, DialError> {
        Err(DialError::Url(crate::url::UrlError::UnknownScheme))
    }

    /// Dials `url` over tokio; the same steps, bounds and errors as [`connect`](Self::connect).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    #[cfg(feature = "tokio")]
    pub async fn connect_async(
        &self,
        url: &str,
    ) -> Result<zerows_util::AsyncWebSocket<crate::AsyncStream>, DialError> {
        use tokio::time::timeout;
        let plan = self.plan(url)?;
        let (host, port) = match &plan.proxy {
            Some(p) => (proxy_host(p), p.port()),
            None => (plan.url.host(), plan.url.port()),
        };
        let tcp = timeout(self.connect_timeout, connect_tcp_async(host, port))
            .await
            .map_err(|_| DialError::Timeout(Stage::Connect))??;
        let names: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = self.request(&plan, &names, &headers)?;
        let stage = std::sync::Mutex::new(Stage::Proxy);
        let steps = async {
            let mut tcp = tcp;
            if let Some(proxy) = &plan.proxy {
                let target = tunnel_target_async(proxy, plan.url.host(), plan.url.port()).await?;
                let mut exchange = proxy
                    .exchange(target, plan.url.port())
                    .map_err(DialError::Proxy)?;
                run_exchange_async(&mut tcp, exchange.as_mut()).await?;
            }
            *stage.lock().unwrap_or_else(|e| e.into_inner()) = Stage::Tls;
            let stream = if plan.url.is_secure() {
                self.tls_connect_async(&plan, tcp).await?
            } else {
                crate::AsyncStream::plain(tcp)
            };
            *stage.lock().unwrap_or_else(|e| e.into_inner()) = Stage::Handshake;
            zerows_util::AsyncWebSocket::connect_with_config(stream, &request, self.config.clone())
                .await
                .map_err(handshake_error)
        };
        match timeout(self.handshake_timeout, steps).await {
            Ok(result) => result,
            Err(_) => Err(DialError::Timeout(
                *stage.lock().unwrap_or_else(|e| e.into_inner()),
            )),
        }
    }

    #[cfg(all(feature = "tokio", feature = "tls"))]
    async fn tls_connect_async(
        &self,
        plan: &Plan<'_>,
        tcp: tokio::net::TcpStream,
    ) -> Result<crate::AsyncStream, DialError> {
        let config = self.tls.config().map_err(DialError::Tls)?;
        let name = crate::tls::server_name(plan.url.host()).map_err(DialError::Tls)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| tls_error(Stage::Tls, e))?;
        Ok(crate::AsyncStream::tls(tokio_rustls::TlsStream::Client(
            tls,
        )))
    }

    #[cfg(all(feature = "tokio", not(feature = "tls")))]
    async fn tls_connect_async(
        &self,
        _plan: &Plan<'_>,
        _tcp: tokio::net::TcpStream,
    ) -> Result<crate::AsyncStream, DialError> {
        Err(DialError::Url(crate::url::UrlError::UnknownScheme))
    }
}

fn proxy_host(p: &Proxy) -> Host<'_> {
    match p.host().parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(p.host()),
    }
}

/// What the proxy is asked to connect to: the name itself, except for `socks5://`, which gets an
/// address resolved here.
fn tunnel_target<'a>(
    proxy: &Proxy,
    host: Host<'a>,
    port: u16,
    timeout: Duration,
) -> Result<Host<'a>, DialError> {
    match (proxy.kind(), host) {
        (ProxyKind::Socks5, Host::Name(_)) => {
            let addrs = resolve(host, port, timeout)?;
            Ok(Host::Ip(addrs[0].ip()))
        }
        _ => Ok(host),
    }
}

#[cfg(feature = "tokio")]
async fn tunnel_target_async<'a>(
    proxy: &Proxy,
    host: Host<'a>,
    port: u16,
) -> Result<Host<'a>, DialError> {
    match (proxy.kind(), host) {
        (ProxyKind::Socks5, Host::Name(name)) => {
            let addrs = resolve_async(name, port).await?;
            Ok(Host::Ip(addrs[0].ip()))
        }
        _ => Ok(host),
    }
}

fn handshake_error(e: zerows_util::Error) -> DialError {
    match e {
        zerows_util::Error::Io(e) => {
            #[cfg(feature = "tls")]
            if let Some(t) = TlsError::from_io(&e) {
                return DialError::Tls(t);
            }
            DialError::io(Stage::Handshake, e)
        }
        e => DialError::Handshake(e),
    }
}

#[cfg(feature = "tls")]
fn tls_error(stage: Stage, e: std::io::Error) -> DialError {
    match TlsError::from_io(&e) {
        Some(t) => DialError::Tls(t),
        None => DialError::io(stage, e),
    }
}

/// Resolves `host` within `timeout`. The system resolver cannot be cancelled, so it runs on a
/// short-lived thread that is abandoned (and ends on its own) when the timeout passes.
fn resolve(host: Host<'_>, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, DialError> {
    let name = match host {
        Host::Ip(ip) => return Ok(vec![SocketAddr::new(ip, port)]),
        Host::Name(n) => n.to_owned(),
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let lookup = name.clone();
    std::thread::Builder::new()
        .name("zerows-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (lookup.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect),
            );
        })
        .map_err(|e| DialError::Resolve {
            host: name.clone(),
            source: e,
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => non_empty(name, addrs),
        Ok(Err(e)) => Err(DialError::Resolve {
            host: name,
            source: e,
        }),
        Err(_) => Err(DialError::Timeout(Stage::Resolve)),
    }
}

fn non_empty(name: String, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, DialError> {
    if addrs.is_empty() {
        Err(DialError::Resolve {
            host: name,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })
    } else {
        Ok(addrs)
    }
}

/// Resolves, then tries each address in turn until one connects, all within `timeout`.
fn connect_tcp(host: Host<'_>, port: u16, timeout: Duration) -> Result<TcpStream, DialError> {
    let deadline = Instant::now() + timeout;
    let addrs = resolve(host, port, timeout)?;
    let mut last = None;
    for addr in addrs {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Err(DialError::Timeout(Stage::Connect));
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = Some((addr, e));
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    match last {
        Some((_, e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err(DialError::Timeout(Stage::Connect))
        }
        Some((addr, e)) => Err(DialError::Connect {
            addr: addr.to_string(),
            source: e,
        }),
        None => Err(DialError::Timeout(Stage::Connect)),
    }
}

#[cfg(feature = "tokio")]
async fn resolve_async(name: &str, port: u16) -> Result<Vec<SocketAddr>, DialError> {
    match tokio::net::lookup_host((name, port)).await {
        Ok(a) => non_empty(name.to_owned(), a.collect()),
        Err(e) => Err(DialError::Resolve {
            host: name.to_owned(),
            source: e,
        }),
    }
}

#[cfg(feature = "tokio")]
async fn connect_tcp_async(host: Host<'_>, port: u16) -> Result<tokio::net::TcpStream, DialError> {
    let addrs = match host {
        Host::Ip(ip) => vec![SocketAddr::new(ip, port)],
        Host::Name(n) => resolve_async(n, port).await?,
    };
    let mut last = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("at least one address");
    Err(DialError::Connect {
        addr: addr.to_string(),
        source: e,
    })
}

fn run_exchange(tcp: &mut Tcp, exchange: &mut dyn Exchange) -> Result<(), DialError> {
    use std::io::{Read, Write};
    while !exchange.is_done() {
        let out = exchange.output();
        if !out.is_empty() {
            let n = tcp.write(out).map_err(|e| DialError::io(Stage::Proxy, e))?;
            exchange.advance(n);
            continue;
        }
        let Some(target) = exchange.read_target() else {
            break;
        };
        let n = tcp
            .read(target)
            .map_err(|e| DialError::io(Stage::Proxy, e))?;
        exchange.handle_read(n).map_err(DialError::Proxy)?;
    }
    Ok(())
}

#[cfg(feature = "tokio")]
async fn run_exchange_async(
    tcp: &mut tokio::net::TcpStream,
    exchange: &mut (dyn Exchange + Send),
) -> Result<(), DialError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while !exchange.is_done() {
        let out = exchange.output();
        if !out.is_empty() {
            let n = tcp
                .write(out)
                .await
                .map_err(|e| DialError::io(Stage::Proxy, e))?;
            exchange.advance(n);
            continue;
        }
        let Some(target) = exchange.read_target() else {
            break;
        };
        let n = tcp
            .read(target)
            .await
            .map_err(|e| DialError::io(Stage::Proxy, e))?;
        exchange.handle_read(n).map_err(DialError::Proxy)?;
    }
    Ok(())
}
