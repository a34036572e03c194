//! Why dialing failed: one variant per step, each naming its cause.

use std::fmt;
use std::io;

use crate::proxy::ProxyError;
#[cfg(feature = "tls")]
use crate::tls::TlsError;
use crate::url::UrlError;

/// The step of dialing that a timeout stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Resolving the host name (counts against the connect timeout).
    Resolve,
    /// Opening the TCP connection (to the server or the proxy).
    Connect,
    /// The proxy's tunnel (counts against the handshake timeout).
    Proxy,
    /// The TLS handshake (counts against the handshake timeout).
    Tls,
    /// The WebSocket opening handshake (counts against the handshake timeout).
    Handshake,
}

impl Stage {
    /// What was being done, as a phrase.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolving the host name",
            Stage::Connect => "connecting",
            Stage::Proxy => "opening the proxy tunnel",
            Stage::Tls => "in the TLS handshake",
            Stage::Handshake => "in the WebSocket handshake",
        }
    }
}

/// Why [`Dialer::connect`](crate::Dialer::connect) (or `connect_async`) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DialError {
    /// The URL is not a `ws://` or `wss://` URL we can dial.
    Url(UrlError),
    /// The proxy URL (given, or from the environment) is not one we can use.
    ProxyUrl(UrlError),
    /// The host name did not resolve (or resolved to no address).
    Resolve {
        /// The name.
        host: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// No TCP connection could be opened (refused, unreachable): the error of the last address
    /// tried.
    Connect {
        /// The address (and which: the server or its proxy).
        addr: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// A step did not finish within its timeout.
    Timeout(Stage),
    /// The proxy did not open the tunnel.
    Proxy(ProxyError),
    /// The TLS handshake failed.
    #[cfg(feature = "tls")]
    Tls(TlsError),
    /// The WebSocket handshake failed: the server's status, a bad `101`, an extension refused
    /// (inside), or the connection broke.
    Handshake(zerows_util::Error),
    /// The connection broke while dialing.
    Io {
        /// The step.
        stage: Stage,
        /// The error.
        source: io::Error,
    },
}

impl DialError {
    /// Maps an I/O error of `stage`: timeouts become [`DialError::Timeout`].
    pub(crate) fn io(stage: Stage, e: io::Error) -> DialError {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => DialError::Timeout(stage),
            _ => DialError::Io { stage, source: e },
        }
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Url(e) => write!(f, "invalid URL: {e}"),
            DialError::ProxyUrl(e) => write!(f, "invalid proxy URL: {e}"),
            DialError::Resolve { host, source } => write!(f, "cannot resolve {host}: {source}"),
            DialError::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            DialError::Timeout(stage) => write!(f, "timed out {}", stage.as_str()),
            DialError::Proxy(e) => write!(f, "proxy: {e}"),
            #[cfg(feature = "tls")]
            DialError::Tls(e) => write!(f, "TLS: {e}"),
            DialError::Handshake(e) => write!(f, "WebSocket handshake: {e}"),
            DialError::Io { stage, source } => {
                write!(f, "connection lost {}: {source}", stage.as_str())
            }
        }
    }
}

impl std::error::Error for DialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DialError::Url(e) | DialError::ProxyUrl(e) => Some(e),
            DialError::Resolve { source, .. }
            | DialError::Connect { source, .. }
            | DialError::Io { source, .. } => Some(source),
            DialError::Proxy(e) => Some(e),
            #[cfg(feature = "tls")]
            DialError::Tls(e) => Some(e),
            DialError::Handshake(e) => Some(e),
            DialError::Timeout(_) => None,
        }
    }
}

impl From<DialError> for io::Error {
    fn from(e: DialError) -> io::Error {
        let kind = match &e {
            DialError::Timeout(_) => io::ErrorKind::TimedOut,
            DialError::Connect { source, .. } | DialError::Io { source, .. } => source.kind(),
            DialError::Url(_) | DialError::ProxyUrl(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
