//! The axum 0.8 extractor (feature `axum`): [`WebSocketUpgrade`], in the style of axum's own
//! `axum::extract::ws`, over the same upgrade as [`hyper::upgrade`](crate::hyper::upgrade).
//!
//! - [`protocols`](WebSocketUpgrade::protocols) chooses the subprotocol (in your order of
//!   preference), [`config`](WebSocketUpgrade::config) sets the [`Config`] (its limits apply,
//!   its extension — permessage-deflate with `Config::deflate` — is negotiated and installed),
//!   [`check_origin`](WebSocketUpgrade::check_origin) /
//!   [`allowed_origins`](WebSocketUpgrade::allowed_origins) refuse other sites with `403`,
//!   [`on_failed_upgrade`](WebSocketUpgrade::on_failed_upgrade) hears about a connection lost
//!   during the switch, and [`on_upgrade`](WebSocketUpgrade::on_upgrade) returns the response
//!   and runs your callback with the connection in a task of its own.
//! - The extractor refuses what is not a valid upgrade with [`WebSocketUpgradeRejection`], an
//!   `IntoResponse`: `426 Upgrade Required` (with `Upgrade: websocket`) for a `GET` that asks for
//!   no WebSocket, `400` with the reason for a broken handshake, `405` for another method, `426`
//!   for a `Sec-WebSocket-Version` other than 13.
//! - Use it on `get()` or `any()` routes. HTTP/1.1 only: HTTP/2 extended `CONNECT` (RFC 8441) is
//!   refused with `405` (see [`hyper`](crate::hyper#http2)); do not enable it for this route.
//!
//! You do not need hyper or hyper-util in your own `Cargo.toml`: the connection type,
//! [`HyperWebSocket`], is named here.
//!
//! ```no_run
//! use axum::{Router, response::Response, routing::any};
//! use zerows_util::axum::{HyperWebSocket, WebSocketUpgrade};
//! use zerows_util::deflate::DeflateConfig;
//! use zerows_util::{Config, Error};
//!
//! async fn chat(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat.v1"])
//!         .config(Config::default().deflate(DeflateConfig::default()).max_message_size(64 << 10))
//!         .on_upgrade(|mut ws: HyperWebSocket| async move {
//!             let mut buf = Vec::new();
//!             while let Ok(opcode) = ws.read_into(&mut buf).await {
//!                 if ws.send_message(opcode, &buf).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/chat", any(chat));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use ::hyper::upgrade::OnUpgrade;
use http::Request;
use http::request::Parts;
use zerows_upgrade::origin::AllowList;
use zerows_upgrade::server::{HookResult, Hooks, Protocols, Rejection, Upgrader};

pub use crate::hyper::HyperWebSocket;
use crate::hyper::{Refusal, Refused};
use crate::{Config, Error};

/// An origin policy: called with the `Origin` header (if any) and the `Host`; `true` allows.
type OriginCheck = dyn Fn(Option<&[u8]>, &[u8]) -> bool + Send + Sync;

/// The extractor of a WebSocket upgrade; see the [module docs](self). Build the response with
/// [`on_upgrade`](Self::on_upgrade).
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    /// The request's head, with hyper's `OnUpgrade` moved into its extensions.
    request: Request<()>,
    config: Option<Arc<Config>>,
    protocols: Vec<Cow<'static, str>>,
    origin: Option<Box<OriginCheck>>,
    on_failed: F,
}

impl<F> fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("uri", self.request.uri())
            .field("config", &self.config)
            .field("protocols", &self.protocols)
            .field("origin_policy", &self.origin.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The head is copied (the handshake runs in `on_upgrade`, once the application has chosen
        // its subprotocols and policy); hyper's upgrade handle is moved.
        let mut request = Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        if let Some(on) = parts.extensions.remove::<OnUpgrade>() {
            request.extensions_mut().insert(on);
        }
        if let Err(refused) = crate::hyper::check::<_, Body>(&request) {
            // Leave hyper's handle where it was: the request may be retried by another extractor.
            if let Some(on) = request.extensions_mut().remove::<OnUpgrade>() {
                parts.extensions.insert(on);
            }
            return Err(WebSocketUpgradeRejection(refused));
        }
        Ok(WebSocketUpgrade {
            request,
            config: None,
            protocols: Vec::new(),
            origin: None,
            on_failed: DefaultOnFailedUpgrade,
        })
    }
}

impl<F> WebSocketUpgrade<F> {
    /// The subprotocols this endpoint speaks, in order of preference: the first one the client
    /// also offered is agreed (`Sec-WebSocket-Protocol`, RFC 6455 §4.2.2) and available as
    /// [`agreed().protocol()`](crate::Agreed::protocol) on the connection. None offered in
    /// common: no subprotocol (the client decides whether to go on).
    #[must_use]
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cow<'static, str>>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The connection's [`Config`]: limits (message, frame and fragment sizes; close 1009 above
    /// them), buffers, keepalive, kept headers, and the extension to accept. Default:
    /// `Config::default()` (no compression), one shared instance.
    #[must_use]
    pub fn config(mut self, config: impl Into<Arc<Config>>) -> Self {
        self.config = Some(config.into());
        self
    }

    /// The origin policy (RFC 6455 §4.2.2 item 4, §10.2): `check(origin, host)` gets the `Origin`
    /// header (browsers always send it; other clients usually do not) and the `Host`; `false`
    /// refuses the upgrade with `403 Forbidden`. Default: every origin is allowed.
    #[must_use]
    pub fn check_origin(
        mut self,
        check: impl Fn(Option<&[u8]>, &[u8]) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.origin = Some(Box::new(check));
        self
    }

    /// An allow-list origin policy ([`AllowList`]: exact origins, `scheme://*.domain` for
    /// subdomains, `*`); requests without `Origin` (non-browser clients) are allowed.
    ///
    /// ```no_run
    /// # use zerows_util::axum::WebSocketUpgrade;
    /// # fn f(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    /// ws.allowed_origins(&["https://chat.example", "https://*.chat.example"])
    /// # }
    /// ```
    #[must_use]
    pub fn allowed_origins(self, origins: &'static [&'static str]) -> Self {
        let list = AllowList::new(origins);
        self.check_origin(move |origin, host| list.check(origin, host).is_ok())
    }

    /// What to do when the connection is lost between the `101` and the callback (the client
    /// went away, or hyper could not hand the connection over). Default: nothing.
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            request: self.request,
            config: self.config,
            protocols: self.protocols,
            origin: self.origin,
            on_failed: callback,
        }
    }

    /// Finishes the handshake and returns the response: `101 Switching Protocols`, after which
    /// `callback` runs with the connection in a task of its own (`tokio::spawn`); or the refusal
    /// (`403` from the origin policy, …).
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(HyperWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        F: OnFailedUpgrade,
    {
        let WebSocketUpgrade {
            mut request,
            config,
            protocols,
            origin,
            on_failed,
        } = self;
        let config = config.unwrap_or_else(default_config);
        let mut upgrader = Upgrader::with_hooks(AxumHooks {
            protocols: &protocols,
            origin: origin.as_deref(),
        });
        match crate::hyper::upgrade_with::<_, Body, _>(&mut request, &mut upgrader, config) {
            Ok((response, upgrading)) => {
                tokio::spawn(async move {
                    match upgrading.await {
                        Ok(ws) => callback(ws).await,
                        Err(e) => on_failed.call(e),
                    }
                });
                response
            }
            Err(refused) => refused.into_response(),
        }
    }
}

/// The shared default configuration.
fn default_config() -> Arc<Config> {
    static DEFAULT: OnceLock<Arc<Config>> = OnceLock::new();
    Arc::clone(DEFAULT.get_or_init(|| Arc::new(Config::default())))
}

/// The extractor's choices as handshake hooks.
struct AxumHooks<'a> {
    protocols: &'a [Cow<'static, str>],
    origin: Option<&'a OriginCheck>,
}

impl Hooks for AxumHooks<'_> {
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        match self.origin {
            Some(check) if !check(origin, host) => {
                Err(Rejection::FORBIDDEN.with_body(b"origin not allowed\n"))
            }
            _ => Ok(()),
        }
    }

    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        self.protocols
            .iter()
            .find_map(|want| offered.clone().find(|p| *p == want.as_ref()))
    }
}

/// What [`WebSocketUpgrade::on_failed_upgrade`] takes: a callback with the error.
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with why the connection could not be handed over.
    fn call(self, error: Error);
}

impl<F: FnOnce(Error) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: Error) {
        self(error);
    }
}

/// The default [`OnFailedUpgrade`]: does nothing.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: Error) {}
}

/// Why the extractor refused a request, as the response to send: `426` with `Upgrade: websocket`
/// for a request that is not a WebSocket upgrade, `400` with the reason for a broken handshake,
/// `405`, or `426` for an unsupported `Sec-WebSocket-Version`.
pub struct WebSocketUpgradeRejection(Refused<Body>);

impl WebSocketUpgradeRejection {
    /// Why.
    pub fn reason(&self) -> Refusal {
        self.0.reason()
    }

    /// The status the response carries.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl fmt::Debug for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WebSocketUpgradeRejection {}
