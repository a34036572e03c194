//! Proxies between a client and its server: HTTP `CONNECT` ([`http`]) and SOCKS5 ([`socks5`]),
//! each a sans-IO exchange that a driver runs over the proxy's stream before TLS and the
//! WebSocket handshake; [`Proxy`] is a parsed proxy URL, [`Proxy::from_env`] the conventional
//! environment variables.

pub mod http;
pub mod socks5;

use std::fmt;

use crate::url::{self, Host, UrlError};

/// Why a proxy did not open a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy wants credentials (HTTP 407, RFC 9110 §15.5.8; or a SOCKS5 proxy that accepts
    /// none of the methods offered without them).
    AuthenticationRequired,
    /// The proxy refused the credentials (SOCKS5 RFC 1929 status other than 0).
    AuthenticationFailed,
    /// The HTTP proxy answered `CONNECT` with this non-2xx status (e.g. 403 by policy, 502 or 500
    /// when it could not reach the server; some proxies answer 401 to wrong credentials).
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// The SOCKS5 proxy answered with this reply code (RFC 1928 §6).
    SocksRefused {
        /// `REP`: 1 general failure, 2 not allowed by ruleset, 3 network unreachable, 4 host
        /// unreachable, 5 connection refused, 6 TTL expired, 7 command not supported, 8 address
        /// type not supported.
        code: u8,
    },
    /// The proxy closed the connection before its reply was complete.
    Closed,
    /// The reply head did not end within 8 KiB ([`http::MAX_REPLY_HEAD`]), or had a line over
    /// 4 KiB or more than 64 header lines (the handshake's limits).
    HeadTooLarge,
    /// The reply broke the protocol (what was wrong is inside).
    Malformed(&'static str),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::AuthenticationRequired => f.write_str(
                "the proxy requires authentication (set user:password in the proxy URL)",
            ),
            ProxyError::AuthenticationFailed => f.write_str("the proxy rejected the credentials"),
            ProxyError::Refused { status } => {
                write!(f, "the proxy refused the tunnel with HTTP status {status}")
            }
            ProxyError::SocksRefused { code } => {
                let why = match code {
                    1 => "general failure",
                    2 => "not allowed by its rules",
                    3 => "network unreachable",
                    4 => "host unreachable",
                    5 => "connection refused by the server",
                    6 => "TTL expired",
                    7 => "command not supported",
                    8 => "address type not supported",
                    _ => "unknown reply code",
                };
                write!(
                    f,
                    "the SOCKS5 proxy refused the tunnel: {why} (reply {code})"
                )
            }
            ProxyError::Closed => f.write_str("the proxy closed the connection before replying"),
            ProxyError::HeadTooLarge => f.write_str(
                "the proxy's reply head is too large (over 8 KiB, 64 lines or 4 KiB a line)",
            ),
            ProxyError::Malformed(why) => write!(f, "malformed proxy reply: {why}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// One step at a time, as the WebSocket handshake runs: a driver writes [`output`], reads into
/// [`read_target`] and reports [`handle_read`] until [`is_done`]. The tunnel's first byte is
/// never read.
///
/// [`output`]: Exchange::output
/// [`read_target`]: Exchange::read_target
/// [`handle_read`]: Exchange::handle_read
/// [`is_done`]: Exchange::is_done
pub trait Exchange {
    /// Bytes to write now (empty: none).
    fn output(&self) -> &[u8];
    /// `n` bytes of the output were written.
    fn advance(&mut self, n: usize);
    /// Where to read the proxy's reply into (`None`: nothing to read now).
    fn read_target(&mut self) -> Option<&mut [u8]>;
    /// `n` bytes arrived (0: the proxy closed).
    ///
    /// # Errors
    /// Why the proxy did not open the tunnel.
    fn handle_read(&mut self, n: usize) -> Result<(), ProxyError>;
    /// The tunnel is open.
    fn is_done(&self) -> bool;
}

/// The kind of a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// `http://`: an HTTP proxy, tunnelled with `CONNECT`.
    Http,
    /// `socks5://`: SOCKS5; the server's name is resolved here and its address sent.
    Socks5,
    /// `socks5h://`: SOCKS5; the server's name is sent for the proxy to resolve.
    Socks5h,
}

/// A proxy: kind, address and optional credentials, from a URL such as
/// `http://user:pass@proxy.example:3128` or `socks5h://127.0.0.1:1080`. Default ports: 80 for
/// `http`, 1080 for SOCKS. User and password may be percent-encoded.
///
/// ```
/// use zerows_net::proxy::{Proxy, ProxyKind};
/// let p = Proxy::parse("http://alice:s%40cret@127.0.0.1:3128")?;
/// assert_eq!(p.kind(), ProxyKind::Http);
/// assert_eq!(p.port(), 3128);
/// assert_eq!(p.credentials(), Some(("alice", "s@cret")));
/// # Ok::<(), zerows_net::url::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // never print the password
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .finish()
    }
}

impl Proxy {
    /// Parses a proxy URL. A trailing `/` is allowed; any other path is an error.
    ///
    /// # Errors
    /// [`UrlError::UnknownScheme`] for schemes other than `http`, `socks5`, `socks5h` (TLS to
    /// the proxy, `https://`, is not supported); the other [`UrlError`]s as for server URLs.
    pub fn parse(input: &str) -> Result<Proxy, UrlError> {
        let parts = url::split(input)?;
        let (kind, default_port) = match parts.scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 80),
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            _ => return Err(UrlError::UnknownScheme),
        };
        if parts.fragment || !matches!(parts.rest, "" | "/") {
            return Err(UrlError::InvalidCharacter);
        }
        let credentials = match parts.userinfo {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                Some((percent_decode(user)?, percent_decode(password)?))
            }
        };
        let host = match parts.host {
            Host::Name(n) => n.to_owned(),
            Host::Ip(ip) => ip.to_string(),
        };
        Ok(Proxy {
            kind,
            host,
            port: parts.port.unwrap_or(default_port),
            credentials,
        })
    }

    /// The proxy to use for `url` from the environment, as curl reads it: `https_proxy` for
    /// `wss://` and `http_proxy` for `ws://` (lower case first, then upper case; curl ignores
    /// upper-case `HTTP_PROXY`, we accept it), then `all_proxy`/`ALL_PROXY`; none when
    /// `no_proxy`/`NO_PROXY` matches the host. Empty values count as unset.
    ///
    /// # Errors
    /// A variable that is set but not a proxy URL is an error, not silently ignored.
    pub fn from_env(secure: bool, host: Host<'_>) -> Result<Option<Proxy>, UrlError> {
        Self::from_vars(secure, host, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read from `var` (for tests and for
    /// applications that keep their own configuration).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(
        secure: bool,
        host: Host<'_>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, UrlError> {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
        };
        if let Some(no) = get(&["no_proxy", "NO_PROXY"])
            && no_proxy_matches(&no, host)
        {
            return Ok(None);
        }
        let scheme_vars: &[&str] = if secure {
            &["https_proxy", "HTTPS_PROXY"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        match get(scheme_vars).or_else(|| get(&["all_proxy", "ALL_PROXY"])) {
            None => Ok(None),
            Some(v) => {
                let v = v.trim();
                // curl's convention: a value without a scheme is an HTTP proxy
                if v.contains("://") {
                    Proxy::parse(v).map(Some)
                } else {
                    Proxy::parse(&format!("http://{v}")).map(Some)
                }
            }
        }
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host (a name or an IP address).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name and password, decoded.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The exchange that opens a tunnel through this proxy to `host:port` (after the caller
    /// resolved `host` when the kind is [`ProxyKind::Socks5`]).
    ///
    /// # Errors
    /// When the request cannot be built (over-long names or credentials).
    pub fn exchange(
        &self,
        host: Host<'_>,
        port: u16,
    ) -> Result<Box<dyn Exchange + Send>, ProxyError> {
        Ok(match self.kind {
            ProxyKind::Http => Box::new(http::Connect::new(host, port, self.credentials())?),
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                Box::new(socks5::Socks5::new(host, port, self.credentials())?)
            }
        })
    }
}

/// `NO_PROXY`: comma- or space-separated entries; `*` matches everything; a name matches itself
/// and its subdomains (a leading `.` is optional); an IP address matches itself. Ports in
/// entries are ignored.
fn no_proxy_matches(list: &str, host: Host<'_>) -> bool {
    let host_str = match host {
        Host::Name(n) => n.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ip(ip) => ip.to_string(),
    };
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches('[');
            let entry = match entry.split_once(']') {
                Some((ip6, _)) => ip6,
                None => entry.rsplit_once(':').map_or(entry, |(h, p)| {
                    if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') {
                        h
                    } else {
                        entry
                    }
                }),
            };
            let entry = entry.trim_matches('.').to_ascii_lowercase();
            match host {
                Host::Ip(ip) => entry.parse::<std::net::IpAddr>().is_ok_and(|e| e == ip),
                Host::Name(_) => {
                    host_str == entry
                        || host_str
                            .strip_suffix(&entry)
                            .is_some_and(|rest| rest.ends_with('.'))
                }
            }
        })
}

fn percent_decode(s: &str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .ok_or(UrlError::InvalidCharacter)?;
            let hex = std::str::from_utf8(hex).map_err(|_| UrlError::InvalidCharacter)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlError::InvalidCharacter)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::InvalidCharacter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_defaults_and_decoded_credentials() {
        let p = Proxy::parse("socks5h://u:p%3Aq@[::1]").unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5h);
        assert_eq!((p.host(), p.port()), ("::1", 1080));
        assert_eq!(p.credentials(), Some(("u", "p:q")));
        assert_eq!(Proxy::parse("HTTP://proxy/").unwrap().port(), 80);
        assert_eq!(
            Proxy::parse("socks5://h:9").unwrap().kind(),
            ProxyKind::Socks5
        );
        assert_eq!(Proxy::parse("https://h"), Err(UrlError::UnknownScheme));
        assert_eq!(
            Proxy::parse("http://h/path"),
            Err(UrlError::InvalidCharacter)
        );
        assert_eq!(
            Proxy::parse("http://u:%zz@h"),
            Err(UrlError::InvalidCharacter)
        );
        // fuzz finding (net_url_parse-pct-plus-sign): `%` takes two hex digits, not a sign
        assert_eq!(
            Proxy::parse("http://u:%+0@h"),
            Err(UrlError::InvalidCharacter)
        );
        assert!(
            !format!("{p:?}").contains("p:q"),
            "Debug must not print the password"
        );
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_picks_by_scheme_then_all_proxy() {
        let vars = [
            ("https_proxy", "http://secure:1"),
            ("HTTP_PROXY", "plain:2"),
            ("ALL_PROXY", "socks5h://all:3"),
        ];
        let h = Host::Name("example.com");
        let pick = |secure| Proxy::from_vars(secure, h, env(&vars)).unwrap().unwrap();
        assert_eq!(pick(true).host(), "secure");
        assert_eq!(
            (pick(false).host(), pick(false).kind()),
            ("plain", ProxyKind::Http)
        );
        let only_all = [("ALL_PROXY", "socks5h://all:3"), ("http_proxy", " ")];
        let p = Proxy::from_vars(false, h, env(&only_all)).unwrap().unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5h);
        assert_eq!(Proxy::from_vars(false, h, env(&[])).unwrap(), None);
        assert!(Proxy::from_vars(false, h, env(&[("http_proxy", "ftp://x")])).is_err());
    }

    #[test]
    fn no_proxy_matches_names_subdomains_ips_and_star() {
        let m = |list, host: &str| {
            let h = match host.parse() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(host),
            };
            no_proxy_matches(list, h)
        };
        assert!(m("example.com", "example.com"));
        assert!(m("example.com", "a.example.com"));
        assert!(m(".example.com", "a.example.com"));
        assert!(!m("example.com", "badexample.com"));
        assert!(m("localhost, 127.0.0.1", "127.0.0.1"));
        assert!(m("[::1]:80", "::1"));
        assert!(m("host:8080", "host"));
        assert!(m("*", "anything"));
        assert!(!m("other.org", "example.com"));
        // fuzz finding (net_url_parse-no-proxy-trailing-dot): a trailing dot on either side
        assert!(m("h.", "h."));
        assert!(m("example.com.", "a.example.com"));
        let vars = [("http_proxy", "p:1"), ("no_proxy", "example.com")];
        assert_eq!(
            Proxy::from_vars(false, Host::Name("x.example.com"), env(&vars)).unwrap(),
            None
        );
    }
}
