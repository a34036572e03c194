//! Upgrading to WebSocket inside hyper 1.x in one call (feature `hyper`).
//!
//! [`upgrade`] (or [`upgrade_with`], for hooks) takes the request hyper parsed and a [`Config`]
//! and gives back the response to send and a future of the connection:
//!
//! - the request is validated by the same code as [`AsyncWebSocket::accept_with_upgrader`] on a
//!   raw stream (RFC 6455 §4.2.1, through `zerows_upgrade::http::upgrade`), with the same hooks
//!   (path, headers, `Origin` policy, subprotocol choice);
//! - the [`Config`]'s extension is negotiated (permessage-deflate with
//!   `Config::deflate`, honouring its settings) and installed on the connection;
//! - the agreed subprotocol and the headers named by [`Config::keep_header`] are kept
//!   ([`AsyncWebSocket::agreed`]);
//! - a request that is not an upgrade, or a bad one, gets its refusal from the same call:
//!   `426 Upgrade Required` for a `GET` that asks for no WebSocket, `400` with a reason for a
//!   broken handshake, `403` from an `Origin` policy, `405`, `426` for a version other than 13,
//!   or the status a hook chose.
//!
//! Send the response first: the [`Upgrading`] future resolves once hyper has written the `101`
//! and handed the connection over (serve the connection with `with_upgrades()`).
//!
//! # Response bodies
//!
//! Responses are generic over their body `R: From<String>`, so they fit what you already use
//! without adding a body crate: `String` itself (a hyper `Body`), axum's `Body`, or
//! `http_body_util::Full<Bytes>`. The `101`'s body is empty (`String::new()`, no allocation);
//! a refusal's body is its reason as text.
//!
//! # HTTP/2
//!
//! WebSockets over HTTP/2 (RFC 8441, extended `CONNECT`) are not supported: such a request is
//! refused (`405`, `Allow: GET`), and the connection stays usable for other requests. Do not
//! advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL` (hyper's `enable_connect_protocol`) for it:
//! browsers that see it would use it and fail.
//!
//! # Example: an echo server with compression
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use hyper::{Request, Response, body::Incoming};
//! use zerows_util::deflate::DeflateConfig;
//! use zerows_util::hyper::TokioIo;
//! use zerows_util::{Config, Error};
//!
//! # async fn run() -> std::io::Result<()> {
//! let config = Arc::new(Config::default().deflate(DeflateConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     let config = Arc::clone(&config);
//!     let service = service_fn(move |mut req: Request<Incoming>| {
//!         let config = Arc::clone(&config);
//!         async move {
//!             let (response, upgrading) = match zerows_util::hyper::upgrade(&mut req, config) {
//!                 Ok(ok) => ok,
//!                 Err(refused) => return Ok::<Response<String>, Infallible>(refused.into_response()),
//!             };
//!             tokio::spawn(async move {
//!                 let mut ws = upgrading.await?;
//!                 let mut buf = Vec::new();
//!                 loop {
//!                     match ws.read_into(&mut buf).await {
//!                         Ok(opcode) => ws.send_message(opcode, &buf).await?,
//!                         Err(Error::Closed) => return Ok::<(), Error>(()),
//!                         Err(e) => return Err(e),
//!                     }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!     });
//!     tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades());
//! }
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use ::hyper::upgrade::OnUpgrade;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use zerows_frame::Role;
use zerows_upgrade::server::{Hooks, Upgrader};

pub use ::hyper::upgrade::Upgraded;
pub use hyper_util::rt::TokioIo;

use crate::config::Config;
use crate::conn::Connection;
use crate::error::Error;
use crate::extension::Extension;
use crate::handshake::{Agreed, accept_http};
use crate::tokio::AsyncWebSocket;

/// The connection an upgrade inside hyper (or axum) gives: an [`AsyncWebSocket`] over hyper's
/// upgraded I/O.
pub type HyperWebSocket = AsyncWebSocket<TokioIo<Upgraded>>;

/// Whether `req` asks to switch to WebSocket: a `Connection` header with the token `upgrade` and
/// an `Upgrade` header with `websocket` (RFC 6455 §4.2.1 items 3 and 4; case-insensitive, in any
/// element of a list). Only a cheap test for routing: [`upgrade`] checks everything else.
///
/// ```
/// let req = http::Request::get("/chat")
///     .header("Connection", "keep-alive, Upgrade")
///     .header("Upgrade", "websocket")
///     .body(())
///     .unwrap();
/// assert!(zerows_util::hyper::is_upgrade_request(&req));
/// assert!(!zerows_util::hyper::is_upgrade_request(&http::Request::get("/").body(()).unwrap()));
/// ```
pub fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    has_token(req.headers(), header::CONNECTION, b"upgrade")
        && has_token(req.headers(), header::UPGRADE, b"websocket")
}

/// Whether a header named `name` holds `token` as one element of its comma-separated list.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// Accepts a WebSocket upgrade inside hyper with `config` and no hooks: the `101` response to
/// send and the connection to await; or the refusal to send. See the [module docs](self).
///
/// ```
/// # use std::sync::Arc;
/// use zerows_util::Config;
/// use zerows_util::hyper::{Refusal, upgrade};
///
/// // A page request on the WebSocket's route: 426 with `Upgrade: websocket`.
/// let mut req = http::Request::get("/chat").body(()).unwrap();
/// let refused = upgrade::<_, String>(&mut req, Config::default()).unwrap_err();
/// assert_eq!(refused.reason(), Refusal::NotWebSocket);
/// let response = refused.into_response();
/// assert_eq!(response.status(), 426);
/// assert_eq!(response.headers()["upgrade"], "websocket");
/// ```
///
/// # Errors
/// [`Refused`], holding the response to send (see [`Refusal`]).
// Both variants hold an `http::Response`; boxing one would only add an allocation.
#[allow(clippy::result_large_err)]
pub fn upgrade<B, R: From<String>>(
    req: &mut Request<B>,
    config: impl Into<Arc<Config>>,
) -> Result<(Response<R>, Upgrading), Refused<R>> {
    upgrade_with(req, &mut Upgrader::new(), config)
}

/// [`upgrade`] with an [`Upgrader`]: its hooks choose the subprotocol, apply an `Origin` policy,
/// route on the path, add response headers; its limits apply.
///
/// ```
/// use zerows_upgrade::origin::AllowList;
/// use zerows_upgrade::server::{HookResult, Hooks, Protocols, Upgrader};
/// use zerows_util::Config;
/// use zerows_util::hyper::{Refusal, upgrade_with};
///
/// struct Chat;
/// impl Hooks for Chat {
///     fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
///         AllowList::new(&["https://chat.example"]).check(origin, host)
///     }
///     fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
///         offered.find(|p| *p == "chat.v1")
///     }
/// }
///
/// let mut req = http::Request::get("/chat")
///     .header("Host", "chat.example")
///     .header("Origin", "https://evil.example")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .body(())
///     .unwrap();
/// let refused = upgrade_with::<_, String, _>(&mut req, &mut Upgrader::with_hooks(Chat), Config::default())
///     .unwrap_err();
/// assert_eq!(refused.status(), 403);
/// ```
///
/// # Errors
/// [`Refused`], holding the response to send (see [`Refusal`]).
#[allow(clippy::result_large_err)]
pub fn upgrade_with<B, R: From<String>, H: Hooks>(
    req: &mut Request<B>,
    upgrader: &mut Upgrader<H>,
    config: impl Into<Arc<Config>>,
) -> Result<(Response<R>, Upgrading), Refused<R>> {
    if wants_no_websocket(req) {
        return Err(Refused::new(Refusal::NotWebSocket));
    }
    let config = config.into();
    let accepted = accept_http(upgrader, &config, req).map_err(Refused::handshake)?;
    if req.extensions().get::<OnUpgrade>().is_none() {
        return Err(Refused::new(Refusal::NotUpgradable));
    }
    let on = ::hyper::upgrade::on(req);
    let upgrading = Upgrading {
        on,
        config,
        extension: accepted.extension,
        agreed: accepted.agreed,
    };
    Ok((
        accepted.response.map(|()| R::from(String::new())),
        upgrading,
    ))
}

/// RFC 9110 §15.5.22: a plain `GET` on a WebSocket-only resource is told which protocol to
/// upgrade to (426); a request that tries and gets it wrong is a bad handshake (400, RFC 6455
/// §4.2.2).
fn wants_no_websocket<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET && !has_token(req.headers(), header::UPGRADE, b"websocket")
}

/// The checks of [`upgrade`] that need no hook, no [`Config`] and do not take the connection: what
/// an extractor refuses before the application chooses its hooks.
#[cfg(feature = "axum")]
#[allow(clippy::result_large_err)]
pub(crate) fn check<B, R: From<String>>(req: &Request<B>) -> Result<(), Refused<R>> {
    if wants_no_websocket(req) {
        return Err(Refused::new(Refusal::NotWebSocket));
    }
    zerows_upgrade::http::upgrade(&mut Upgrader::new(), req).map_err(Refused::handshake)?;
    if req.extensions().get::<OnUpgrade>().is_none() {
        return Err(Refused::new(Refusal::NotUpgradable));
    }
    Ok(())
}

/// The connection being handed over: resolves to the [`HyperWebSocket`] once hyper has sent the
/// `101` response, with the negotiated extension installed and what was agreed kept. Await it
/// in a task of its own, after returning the response to hyper.
#[must_use = "the connection is only made when the future is awaited"]
#[derive(Debug)]
pub struct Upgrading {
    on: OnUpgrade,
    config: Arc<Config>,
    extension: Option<Extension>,
    agreed: Option<Box<Agreed>>,
}

impl Future for Upgrading {
    type Output = Result<HyperWebSocket, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = ready!(Pin::new(&mut this.on).poll(cx)).map_err(io::Error::other)?;
        // hyper keeps the bytes it read past the request inside `Upgraded`: nothing is left over.
        let mut conn = Connection::new(Role::Server, &this.config, &[]);
        if let Some(ext) = this.extension.take() {
            conn.set_extension(ext);
        }
        Poll::Ready(Ok(AsyncWebSocket::new(
            TokioIo::new(upgraded),
            conn,
            Arc::clone(&this.config),
            this.agreed.take(),
        )))
    }
}

/// Why an upgrade was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A `GET` without `Upgrade: websocket`, e.g. a browser opening the WebSocket's URL as a
    /// page: `426 Upgrade Required` with `Upgrade: websocket` (RFC 9110 §15.5.22).
    NotWebSocket,
    /// A valid handshake on a connection hyper cannot hand over (not served with
    /// `with_upgrades()`, or not HTTP/1.1): `426 Upgrade Required`.
    NotUpgradable,
    /// The handshake was refused by its validation or a hook: the status is the error's
    /// ([`zerows_upgrade::Error::status`]) or the one the hook chose.
    Handshake(zerows_upgrade::Error),
}

impl Refusal {
    /// A short description, also the body of the response.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotWebSocket => {
                "this resource is a WebSocket endpoint: send a WebSocket upgrade (Upgrade: websocket)"
            }
            Refusal::NotUpgradable => "this connection cannot switch protocols",
            Refusal::Handshake(e) => e.as_str(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused upgrade: why, and the response to send (status, headers, a reason as the body).
pub struct Refused<R> {
    reason: Refusal,
    response: Response<R>,
}

impl<R: From<String>> Refused<R> {
    fn new(reason: Refusal) -> Refused<R> {
        let mut response = Response::new(R::from(format!("{}\n", reason.as_str())));
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Refused { reason, response }
    }
}

impl<R: From<String>> Refused<R> {
    fn handshake(r: zerows_upgrade::http::Refused) -> Refused<R> {
        let body = |b: &[u8]| R::from(String::from_utf8_lossy(b).into_owned());
        Refused {
            reason: Refusal::Handshake(r.error),
            response: r.response.map(body),
        }
    }
}

impl<R> Refused<R> {
    /// Why.
    pub fn reason(&self) -> Refusal {
        self.reason
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The response to send.
    pub fn response(&self) -> &Response<R> {
        &self.response
    }

    /// The response to send, taken.
    pub fn into_response(self) -> Response<R> {
        self.response
    }
}

impl<R> fmt::Debug for Refused<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("reason", &self.reason)
            .field("status", &self.response.status())
            .finish()
    }
}

impl<R> fmt::Display for Refused<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebSocket upgrade refused ({}): {}",
            self.response.status(),
            self.reason
        )
    }
}

impl<R> std::error::Error for Refused<R> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake() -> http::request::Builder {
        Request::get("/chat")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
    }

    #[test]
    fn a_page_request_is_told_to_upgrade() {
        let mut req = Request::get("/chat").body(()).unwrap();
        let r = upgrade::<_, String>(&mut req, Config::default()).unwrap_err();
        assert_eq!(r.reason(), Refusal::NotWebSocket);
        assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(r.response().headers()["sec-websocket-version"], "13");
        assert!(r.into_response().body().contains("WebSocket endpoint"));
    }

    #[test]
    fn a_broken_handshake_gets_400_with_its_reason() {
        let mut req = handshake()
            .header("Sec-WebSocket-Key", "short")
            .body(())
            .unwrap();
        let r = upgrade::<_, String>(&mut req, Config::default()).unwrap_err();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.reason(),
            Refusal::Handshake(zerows_upgrade::Error::InvalidKey)
        );
        assert_eq!(
            r.response().body(),
            zerows_upgrade::Error::InvalidKey.as_str()
        );
        // Upgrade: websocket without Connection: Upgrade is a bad handshake, not a page request.
        let mut req = Request::get("/")
            .header("Upgrade", "websocket")
            .body(())
            .unwrap();
        let r = upgrade::<_, String>(&mut req, Config::default()).unwrap_err();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_valid_handshake_outside_hyper_cannot_be_handed_over() {
        let mut req = handshake().body(()).unwrap();
        let r = upgrade::<_, String>(&mut req, Config::default()).unwrap_err();
        assert_eq!(r.reason(), Refusal::NotUpgradable);
        assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    }

    #[test]
    fn http2_extended_connect_is_refused() {
        let mut req = Request::connect("/chat")
            .version(http::Version::HTTP_2)
            .header("Sec-WebSocket-Version", "13")
            .body(())
            .unwrap();
        let r = upgrade::<_, String>(&mut req, Config::default()).unwrap_err();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.response().headers()["allow"], "GET");
    }

    #[test]
    fn upgrade_tokens_are_found_in_lists_case_insensitively() {
        let req = Request::get("/")
            .header("Connection", "keep-alive")
            .header("Connection", " UPGRADE ")
            .header("Upgrade", "h2c, WebSocket")
            .body(())
            .unwrap();
        assert!(is_upgrade_request(&req));
        let req = Request::get("/")
            .header("Connection", "upgraded")
            .header("Upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(!is_upgrade_request(&req));
    }
}
