//! The request head: [`parse_request`] and the borrowed [`Request`] view.

use crate::headers::{self, Headers, TARGET, TCHAR, Values};
use crate::{Error, Header, Limits, Status};

/// A parsed request head, borrowing the buffer it was parsed from.
///
/// Produced by [`parse_request`] (syntax only: the WebSocket rules are checked by
/// [`Upgrader::negotiate`](crate::server::Upgrader::negotiate)) or, with the `http` feature, by
/// `Request::from_http`.
#[derive(Clone, Debug)]
pub struct Request<'b> {
    method: &'b str,
    target: &'b str,
    version: (u8, u8),
    headers: Source<'b>,
}

#[derive(Clone, Copy, Debug)]
enum Source<'b> {
    Block {
        block: &'b [u8],
        text: Option<&'b str>,
        count: usize,
    },
    #[cfg(feature = "http")]
    Http(&'b ::http::HeaderMap),
}

impl<'b> Request<'b> {
    /// The method, e.g. `"GET"` (case-sensitive, RFC 9110 §9.1).
    #[must_use]
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// The request target as received, e.g. `"/chat?room=1"`.
    #[must_use]
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The path of the target: everything before `?`, with the scheme and authority of an
    /// absolute-form target removed.
    #[must_use]
    pub fn path(&self) -> &'b str {
        let t = self.target;
        let t = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            _ => t,
        };
        t.split('?').next().unwrap_or(t)
    }

    /// The HTTP version as `(major, minor)`, e.g. `(1, 1)`.
    #[must_use]
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    /// The header fields in the order received.
    #[must_use]
    pub fn headers(&self) -> Headers<'b> {
        match self.headers {
            Source::Block { block, text, .. } => Headers::block_text(block, text),
            #[cfg(feature = "http")]
            Source::Http(map) => Headers::http(map),
        }
    }

    /// Number of header fields.
    #[must_use]
    pub fn header_count(&self) -> usize {
        match self.headers {
            Source::Block { count, .. } => count,
            #[cfg(feature = "http")]
            Source::Http(map) => map.len(),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive), trimmed.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().find(|h| h.is(name)).map(|h| h.value)
    }

    pub(crate) fn values(&self, name: &'static str) -> Values<'b> {
        Values::new(self.headers(), name)
    }

    /// A view of an [`http::Request`]'s method, target, version and headers, so that the same
    /// validation and hooks run on requests parsed by hyper or another framework.
    ///
    /// The target is the request URI's path and query (`/` if it has none).
    #[cfg(feature = "http")]
    #[must_use]
    pub fn from_http<B>(req: &'b ::http::Request<B>) -> Self {
        let version = match req.version() {
            ::http::Version::HTTP_09 => (0, 9),
            ::http::Version::HTTP_10 => (1, 0),
            ::http::Version::HTTP_11 => (1, 1),
            ::http::Version::HTTP_2 => (2, 0),
            _ => (3, 0),
        };
        Self {
            method: req.method().as_str(),
            target: req.uri().path_and_query().map_or("/", |p| p.as_str()),
            version,
            headers: Source::Http(req.headers()),
        }
    }
}

/// Parses `"HTTP/" DIGIT "." DIGIT` (RFC 9112 §2.3; the name is case-sensitive).
pub(crate) fn parse_version(v: &[u8]) -> Option<(u8, u8)> {
    match v {
        [
            b'H',
            b'T',
            b'T',
            b'P',
            b'/',
            major @ b'0'..=b'9',
            b'.',
            minor @ b'0'..=b'9',
        ] => Some((major - b'0', minor - b'0')),
        _ => None,
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns [`Status::Partial`] while the head is incomplete (nothing is consumed: call again
/// with more bytes, from the same start), or the request and the number of bytes the head
/// occupies; bytes after that belong to the WebSocket connection. Only syntax is checked here
/// (RFC 9112 §2–§5 and the `limits`); an error's [`Error::status`] is the status to answer with.
///
/// The outcome does not depend on how the input was split: any prefix of a valid head is
/// `Partial`, and any prefix of an invalid one is `Partial` or the same error.
///
/// ```
/// use zerows_upgrade::{parse_request, Limits, Status};
/// let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n\x81\x80";
/// let Status::Complete((req, n)) = parse_request(buf, &Limits::DEFAULT)? else { unreachable!() };
/// assert_eq!(req.target(), "/chat");
/// assert_eq!(req.header("host"), Some(&b"example.com"[..]));
/// assert_eq!(&buf[n..], b"\x81\x80");
/// assert!(parse_request(&buf[..20], &Limits::DEFAULT)?.is_partial());
/// # Ok::<(), zerows_upgrade::Error>(())
/// ```
pub fn parse_request<'b>(
    buf: &'b [u8],
    limits: &Limits,
) -> Result<Status<(Request<'b>, usize)>, Error> {
    let head = match headers::parse_head(buf, limits, true)? {
        Status::Partial => return Ok(Status::Partial),
        Status::Complete(h) => h,
    };
    let (method, target, version) = request_line(head.start)?;
    Ok(Status::Complete((
        Request {
            method,
            target,
            version,
            headers: Source::Block {
                block: head.block,
                text: head.text,
                count: head.count,
            },
        },
        head.len,
    )))
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3), single spaces only.
fn request_line(line: &[u8]) -> Result<(&str, &str, (u8, u8)), Error> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::InvalidRequestLine);
    };
    if !headers::is_token(method) {
        return Err(Error::InvalidRequestLine);
    }
    let version = parse_version(version).ok_or(Error::InvalidRequestLine)?;
    if target.is_empty() || !target.iter().all(|&b| TARGET[b as usize]) {
        return Err(Error::InvalidTarget);
    }
    // origin-form, or absolute-form (`scheme ":" hier-part`); asterisk- and authority-form are
    // not valid for GET (RFC 9112 §3.2).
    let absolute = target[0].is_ascii_alphabetic()
        && target
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|i| target[..i].iter().all(|&b| TCHAR[b as usize] && b != b'/'))
        && target.windows(3).any(|w| w == b"://");
    if target[0] != b'/' && !absolute {
        return Err(Error::InvalidTarget);
    }
    // Both parts are ASCII (checked above), so these never fail.
    let method = core::str::from_utf8(method).map_err(|_| Error::InvalidRequestLine)?;
    let target = core::str::from_utf8(target).map_err(|_| Error::InvalidTarget)?;
    Ok((method, target, version))
}

impl<'b> IntoIterator for &Request<'b> {
    type Item = Header<'b>;
    type IntoIter = Headers<'b>;

    fn into_iter(self) -> Headers<'b> {
        self.headers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &[u8]) -> Result<Request<'_>, Error> {
        match parse_request(s, &Limits::DEFAULT)? {
            Status::Complete((r, n)) => {
                assert!(n <= s.len());
                Ok(r)
            }
            Status::Partial => panic!("partial"),
        }
    }

    #[test]
    fn request_line_ok() {
        let r = req(b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (r.method(), r.target(), r.version()),
            ("GET", "/a?b=c", (1, 1))
        );
        assert_eq!(r.path(), "/a");
        assert_eq!(r.header_count(), 1);
        let r = req(b"GET ws://example.com:80/x?y HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.path(), "/x");
        let r = req(b"GET http://example.com HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.path(), "/");
        // syntax only: other methods and versions parse, negotiation rejects them
        assert_eq!(req(b"POST / HTTP/1.0\r\n\r\n").unwrap().version(), (1, 0));
    }

    #[test]
    fn request_line_rejections() {
        for (s, e) in [
            (&b"GET  / HTTP/1.1\r\n\r\n"[..], Error::InvalidRequestLine),
            (b"GET / HTTP/1.1 \r\n\r\n", Error::InvalidRequestLine),
            (b"GET /\r\n\r\n", Error::InvalidRequestLine),
            (b"GET / http/1.1\r\n\r\n", Error::InvalidRequestLine),
            (b"GET / HTTP/11\r\n\r\n", Error::InvalidRequestLine),
            (b"G(T / HTTP/1.1\r\n\r\n", Error::InvalidRequestLine),
            (b" GET / HTTP/1.1\r\n\r\n", Error::InvalidRequestLine),
            (b"GET * HTTP/1.1\r\n\r\n", Error::InvalidTarget),
            (b"GET example.com:80 HTTP/1.1\r\n\r\n", Error::InvalidTarget),
            (b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", Error::InvalidTarget),
            (b"GET /a\x01 HTTP/1.1\r\n\r\n", Error::InvalidTarget),
            (b"GET\t/ HTTP/1.1\r\n\r\n", Error::InvalidRequestLine),
        ] {
            assert_eq!(req(s).unwrap_err(), e, "{:?}", core::str::from_utf8(s));
        }
    }

    #[test]
    fn obs_text_values_are_kept_as_bytes() {
        // Not UTF-8: names then come from the per-name path.
        let r = req(b"GET / HTTP/1.1\r\nX-A: caf\xe9 \r\nHost: h\r\n\r\n").unwrap();
        let mut it = r.headers();
        let a = it.next().unwrap();
        assert_eq!(
            (a.name, a.value, a.value_str()),
            ("X-A", &b"caf\xe9"[..], None)
        );
        assert_eq!(
            it.next().unwrap(),
            Header {
                name: "Host",
                value: b"h"
            }
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let r = req(b"GET / HTTP/1.1\r\nsec-websocket-KEY:  k \r\nX: 1\r\nx: 2\r\n\r\n").unwrap();
        assert_eq!(r.header("Sec-WebSocket-Key"), Some(&b"k"[..]));
        let v: [&[u8]; 2] = {
            let mut it = r.values("X");
            [it.next().unwrap(), it.next().unwrap()]
        };
        assert_eq!(v, [&b"1"[..], b"2"]);
        assert_eq!((&r).into_iter().count(), 3);
    }
}
