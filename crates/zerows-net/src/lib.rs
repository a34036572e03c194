//! # zerows-net
//!
//! Reach any WebSocket server, and serve one over TLS, in one call: `ws://` and `wss://` URLs,
//! TLS with rustls in both roles, HTTP `CONNECT` and SOCKS5 proxies, and a timeout on every step.
//! Blocking and tokio, the same steps and errors in both.
//!
//! ```no_run
//! use zerows_util::Message;
//!
//! let mut ws = zerows_net::connect("wss://echo.example/")?;
//! ws.send_text("hello")?;
//! if let Message::Text(reply) = ws.read()? {
//!     println!("< {reply}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Anything else goes through a [`Dialer`]: the connection's `Config` (limits, deflate,
//! keepalive), subprotocols, headers, `Origin`, a proxy (given or from the environment), the TLS
//! trust ([`tls::ClientTls`]: built-in roots, your CA, your `rustls::ClientConfig`) and the
//! timeouts. Failures are a [`DialError`] that names the step and its cause: a bad URL, a name
//! that does not resolve, a refused connection, a proxy that wants credentials or refuses, a
//! certificate from an unknown issuer, for another name or expired, a handshake the server
//! refused, a timeout and which step it stopped.
//!
//! The parts are sans-IO and usable alone: [`url::WsUrl`] parses without allocating; the proxy
//! exchanges ([`proxy::http::Connect`], [`proxy::socks5::Socks5`]) take bytes and give bytes like
//! the handshake does, and read exactly the proxy's reply, never a byte of the tunnel.
//!
//! # Serving over TLS
//!
//! [`tls::ServerTls`] turns an accepted `TcpStream` into a [`Stream`] that `WebSocket::accept`
//! takes like any other; over tokio, `accept_async` gives an [`AsyncStream`].
//!
//! # Crate features
//!
//! - `tls` (default): rustls with the aws-lc-rs provider, chosen by this crate: no process-level
//!   `CryptoProvider` is needed, so none can be missing.
//! - `webpki-roots` (default): trust Mozilla's roots, compiled in.
//! - `native-roots`: trust the platform's roots.
//! - `tokio`: [`Dialer::connect_async`], [`connect_async`], `ServerTls::accept_async`.
//! - `deflate`: permessage-deflate in the connections (`zerows_util::deflate`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod dial;
mod error;
pub mod proxy;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
pub mod url;

#[cfg(feature = "tokio")]
pub use dial::connect_async;
pub use dial::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, Dialer, connect};
pub use error::{DialError, Stage};
pub use proxy::{Proxy, ProxyError, ProxyKind};
#[cfg(feature = "tokio")]
pub use stream::AsyncStream;
pub use stream::Stream;
#[cfg(feature = "tls")]
pub use tls::{ClientTls, ServerTls, TlsError, TlsErrorKind};
pub use url::{Host, UrlError, WsUrl};
