//! WebSocket URLs (RFC 6455 §3): `ws://host[:port]/path?query` and `wss://…`, parsed without
//! allocating; every part borrows the input.
//!
//! ```
//! use zerows_net::url::{Host, WsUrl};
//! let url = WsUrl::parse("wss://[::1]:9443/chat?room=7")?;
//! assert!(url.is_secure());
//! assert_eq!(url.host(), Host::Ip("::1".parse().unwrap()));
//! assert_eq!(url.port(), 9443);
//! assert_eq!(url.host_header(), "[::1]:9443");
//! assert_eq!(url.path(), "/chat");
//! assert_eq!(url.query(), Some("room=7"));
//! # Ok::<(), zerows_net::url::UrlError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host of a URL: a name to resolve or an IP literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// A registered name (`example.com`), as written.
    Name(&'a str),
    /// An IPv4 literal or a bracketed IPv6 literal (`[::1]`).
    Ip(IpAddr),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
        }
    }
}

/// Why a string is not a WebSocket URL we can dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme://` at the start.
    MissingScheme,
    /// A scheme other than the ones accepted here (`ws`/`wss` for servers; `http`,
    /// `socks5`/`socks5h` for proxies).
    UnknownScheme,
    /// Nothing between `//` and the path.
    MissingHost,
    /// A host that is neither a valid name, an IPv4 literal nor a bracketed IPv6 literal.
    InvalidHost,
    /// A port that is not a number from 1 to 65535.
    InvalidPort,
    /// `user:password@` in a server URL: RFC 6455 §3 has no such part. Send credentials in a
    /// header instead (`Dialer::header("Authorization", …)`).
    UserInfo,
    /// A `#fragment`: RFC 6455 §3 says fragment identifiers MUST NOT be used.
    Fragment,
    /// A space, control character or non-ASCII byte in the path or query (percent-encode it).
    InvalidCharacter,
}

impl UrlError {
    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            UrlError::MissingScheme => "no scheme (expected ws:// or wss://)",
            UrlError::UnknownScheme => "unknown scheme (expected ws:// or wss://)",
            UrlError::MissingHost => "no host",
            UrlError::InvalidHost => "invalid host",
            UrlError::InvalidPort => "invalid port (1-65535)",
            UrlError::UserInfo => {
                "user:password@ is not part of a WebSocket URL (RFC 6455 §3); send an Authorization header"
            }
            UrlError::Fragment => "a #fragment must not be used in a WebSocket URL (RFC 6455 §3)",
            UrlError::InvalidCharacter => {
                "a space, control or non-ASCII character in the path or query (percent-encode it)"
            }
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for UrlError {}

/// The parts every URL here has: scheme, authority, the rest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parts<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) userinfo: Option<&'a str>,
    pub(crate) host: Host<'a>,
    /// `host[:port]` as written (no userinfo, no empty port).
    pub(crate) authority: &'a str,
    pub(crate) port: Option<u16>,
    /// From the first `/` or `?` to the end (or the `#`).
    pub(crate) rest: &'a str,
    pub(crate) fragment: bool,
}

/// `scheme "://" [ userinfo "@" ] host [ ":" port ] rest` (RFC 3986 §3), no allocation.
pub(crate) fn split(input: &str) -> Result<Parts<'_>, UrlError> {
    let (scheme, after) = input.split_once("://").ok_or(UrlError::MissingScheme)?;
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(UrlError::MissingScheme);
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (rest, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], true),
        None => (rest, false),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if hostport.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let (host, port_str) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let close = bracketed.find(']').ok_or(UrlError::InvalidHost)?;
        let literal = &bracketed[..close];
        let ip: Ipv6Addr = literal.parse().map_err(|_| UrlError::InvalidHost)?;
        let after = &bracketed[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError::InvalidHost),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match hostport.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (hostport, None),
        };
        (parse_host(name)?, port)
    };
    let port = match port_str {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    let authority = hostport.strip_suffix(':').unwrap_or(hostport);
    if !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UrlError::InvalidCharacter);
    }
    Ok(Parts {
        scheme,
        userinfo,
        host,
        authority,
        port,
        rest,
        fragment,
    })
}

/// A registered name (RFC 3986 §3.2.2: unreserved characters; percent-encoding and sub-delims are
/// refused, as DNS names never need them) or an IPv4 literal.
fn parse_host(name: &str) -> Result<Host<'_>, UrlError> {
    if name.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let ok = name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if ok {
        Ok(Host::Name(name))
    } else {
        Err(UrlError::InvalidHost)
    }
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort),
        Ok(n) => Ok(n),
    }
}

/// A parsed `ws://` or `wss://` URL (RFC 6455 §3). The scheme is matched without regard to case;
/// the default ports are 80 and 443.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsUrl<'a> {
    secure: bool,
    host: Host<'a>,
    port: u16,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    /// `path[?query]` as written.
    target: &'a str,
}

impl<'a> WsUrl<'a> {
    /// Parses `input`.
    ///
    /// # Errors
    /// [`UrlError`] names the part that is wrong.
    pub fn parse(input: &'a str) -> Result<WsUrl<'a>, UrlError> {
        let parts = split(input)?;
        let secure = if parts.scheme.eq_ignore_ascii_case("wss") {
            true
        } else if parts.scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(UrlError::UnknownScheme);
        };
        if parts.userinfo.is_some() {
            return Err(UrlError::UserInfo);
        }
        if parts.fragment {
            return Err(UrlError::Fragment);
        }
        let (path, query) = match parts.rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (parts.rest, None),
        };
        Ok(WsUrl {
            secure,
            host: parts.host,
            port: parts.port.unwrap_or(if secure { 443 } else { 80 }),
            authority: parts.authority,
            path,
            query,
            target: parts.rest,
        })
    }

    /// `wss://`: TLS to the server.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host to connect to.
    pub fn host(&self) -> Host<'a> {
        self.host
    }

    /// The port to connect to (the default for the scheme when none is written).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header's value (RFC 6455 §4.1 item 4, RFC 9110 §7.2): the host and, when
    /// written, the port; IPv6 literals keep their brackets.
    pub fn host_header(&self) -> &'a str {
        self.authority
    }

    /// The path; empty when the URL has none (the request target is then `/`).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The request target of the opening handshake (RFC 6455 §3: the path, `/` when empty, and
    /// the query). Borrowed from the input unless the path is empty and there is a query.
    pub fn request_target(&self) -> Cow<'a, str> {
        if self.target.is_empty() {
            Cow::Borrowed("/")
        } else if self.target.starts_with('?') {
            Cow::Owned(format!("/{}", self.target))
        } else {
            Cow::Borrowed(self.target)
        }
    }
}

impl fmt::Display for WsUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.authority, self.request_target())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> WsUrl<'_> {
        WsUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(ok("ws://example.com").port(), 80);
        assert_eq!(ok("wss://example.com").port(), 443);
        assert_eq!(ok("WSS://example.com:8443/").port(), 8443);
        assert!(ok("WsS://example.com").is_secure());
    }

    #[test]
    fn an_empty_path_is_slash_and_the_query_is_kept() {
        assert_eq!(ok("ws://h").request_target(), "/");
        assert_eq!(ok("ws://h?x=1").request_target(), "/?x=1");
        assert_eq!(ok("ws://h/a/b?x=1&y").request_target(), "/a/b?x=1&y");
        assert_eq!(ok("ws://h/a/b").request_target(), "/a/b");
        assert!(matches!(ok("ws://h/a").request_target(), Cow::Borrowed(_)));
    }

    #[test]
    fn ip_literals_are_hosts_and_keep_brackets_in_the_host_header() {
        let u = ok("ws://[::1]:9001/");
        assert_eq!(u.host(), Host::Ip("::1".parse().unwrap()));
        assert_eq!(u.port(), 9001);
        assert_eq!(u.host_header(), "[::1]:9001");
        let u = ok("ws://127.0.0.1/");
        assert_eq!(u.host(), Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(u.host_header(), "127.0.0.1");
        assert_eq!(ok("ws://[::1]").port(), 80);
        assert_eq!(ok("ws://h:/").port(), 80);
        assert_eq!(ok("ws://h:/").host_header(), "h");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("example.com", UrlError::MissingScheme),
            ("http://example.com", UrlError::UnknownScheme),
            ("ftp://x", UrlError::UnknownScheme),
            ("ws:///path", UrlError::MissingHost),
            ("ws://:80/", UrlError::MissingHost),
            ("ws://exa mple.com/", UrlError::InvalidHost),
            ("ws://[::1/", UrlError::InvalidHost),
            ("ws://[nope]/", UrlError::InvalidHost),
            ("ws://[::1]x/", UrlError::InvalidHost),
            ("ws://h:0/", UrlError::InvalidPort),
            ("ws://h:65536/", UrlError::InvalidPort),
            ("ws://h:80a/", UrlError::InvalidPort),
            ("ws://h:+80/", UrlError::InvalidPort),
            ("ws://user:pw@h/", UrlError::UserInfo),
            ("ws://h/#frag", UrlError::Fragment),
            ("ws://h/a b", UrlError::InvalidCharacter),
            ("ws://h/\u{e9}", UrlError::InvalidCharacter),
        ];
        for (s, e) in cases {
            assert_eq!(WsUrl::parse(s), Err(e), "{s}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["ws://h/", "wss://[::1]:9/a?b", "ws://127.0.0.1:9001/x"] {
            assert_eq!(ok(s).to_string(), s);
        }
    }
}
