//! The client side: [`ClientRequest`] writes the opening handshake (RFC 6455 §4.1) into a caller
//! buffer and validates the server's response.

use crate::accept::{AcceptKey, Key};
use crate::extensions;
use crate::headers::{Headers, TARGET, Values, is_token, is_value};
use crate::server::ExtensionOffers;
use crate::token;
use crate::write::{Sink, SliceSink};
use crate::{Error, Limits, Response, Status, StatusCode};

#[cfg(feature = "std")]
pub use crate::io::{Handshake, handshake};

/// A client's opening handshake: what to send and what to expect back.
///
/// ```
/// use zerows_upgrade::client::ClientRequest;
/// use zerows_upgrade::Key;
/// let key = Key::from_nonce(*b"the sample nonce"); // use Key::random() outside examples
/// let req = ClientRequest::new("server.example.com", "/chat", key)
///     .protocols(&["chat", "superchat"])
///     .origin("http://example.com");
/// let mut buf = [0u8; 512];
/// let n = req.write(&mut buf)?;
/// assert!(buf[..n].starts_with(b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"));
/// assert_eq!(req.write(&mut [0u8; 10]), Err(zerows_upgrade::Error::InsufficientSize { required: n }));
/// # Ok::<(), zerows_upgrade::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    host: &'a str,
    target: &'a str,
    key: Key,
    origin: Option<&'a str>,
    protocols: &'a [&'a str],
    extensions: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
    limits: Limits,
}

impl<'a> ClientRequest<'a> {
    /// A request for `target` (e.g. `/chat?x=1`) on `host` (the `Host` header: `name[:port]`),
    /// with this key.
    #[must_use]
    pub const fn new(host: &'a str, target: &'a str, key: Key) -> Self {
        Self {
            host,
            target,
            key,
            origin: None,
            protocols: &[],
            extensions: None,
            headers: &[],
            limits: Limits::DEFAULT,
        }
    }

    /// A request with a fresh key from the operating system's secure generator.
    ///
    /// # Errors
    /// When the generator is unavailable.
    #[cfg(feature = "std")]
    pub fn with_random_key(host: &'a str, target: &'a str) -> Result<Self, getrandom::Error> {
        Ok(Self::new(host, target, Key::random()?))
    }

    /// Subprotocols to offer, in order of preference (`Sec-WebSocket-Protocol`, §4.1 item 10).
    #[must_use]
    pub const fn protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Extension offers (`Sec-WebSocket-Extensions`, §4.1 item 11, §9.1), e.g.
    /// `"permessage-deflate; client_max_window_bits"`.
    #[must_use]
    pub const fn extensions(mut self, offers: &'a str) -> Self {
        self.extensions = Some(offers);
        self
    }

    /// The `Origin` header (§4.1 item 8; browsers send it, other clients may).
    #[must_use]
    pub const fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Extra headers (e.g. `Authorization`, `Cookie`).
    #[must_use]
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Limits for parsing the response.
    #[must_use]
    pub const fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The key sent.
    #[must_use]
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` value the server must answer with.
    #[must_use]
    pub fn expected_accept(&self) -> AcceptKey {
        self.key.accept()
    }

    fn check(&self) -> Result<(), Error> {
        let t = self.target.as_bytes();
        let ok = !t.is_empty()
            && t.iter().all(|&b| TARGET[b as usize])
            && !self.host.is_empty()
            && self.host.bytes().all(|b| TARGET[b as usize])
            && self.origin.is_none_or(|o| is_value(o.as_bytes()))
            && self.protocols.iter().all(|p| is_token(p.as_bytes()))
            && self
                .extensions
                .is_none_or(|e| is_value(e.as_bytes()) && extensions::is_valid(e))
            && self
                .headers
                .iter()
                .all(|(n, v)| is_token(n.as_bytes()) && is_value(v.as_bytes()));
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidRequestHeader)
        }
    }

    /// Writes the request head into `out`, returning its length.
    ///
    /// # Errors
    /// [`Error::InsufficientSize`] with the size needed; [`Error::InvalidRequestHeader`] if a
    /// host, target, protocol, extension offer or header would break the request.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        let mut s = SliceSink::new(out);
        self.put(&mut s);
        s.finish()
    }

    pub(crate) fn put(&self, s: &mut dyn Sink) {
        s.put(b"GET ");
        s.put(self.target.as_bytes());
        s.put(b" HTTP/1.1\r\nHost: ");
        s.put(self.host.as_bytes());
        s.put(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        s.put(self.key.as_bytes());
        s.put(b"\r\nSec-WebSocket-Version: 13\r\n");
        if let Some(o) = self.origin {
            s.put(b"Origin: ");
            s.put(o.as_bytes());
            s.put(b"\r\n");
        }
        if let [first, rest @ ..] = self.protocols {
            s.put(b"Sec-WebSocket-Protocol: ");
            s.put(first.as_bytes());
            for p in rest {
                s.put(b", ");
                s.put(p.as_bytes());
            }
            s.put(b"\r\n");
        }
        if let Some(e) = self.extensions {
            s.put(b"Sec-WebSocket-Extensions: ");
            s.put(e.as_bytes());
            s.put(b"\r\n");
        }
        for (n, v) in self.headers {
            s.put(n.as_bytes());
            s.put(b": ");
            s.put(v.as_bytes());
            s.put(b"\r\n");
        }
        s.put(b"\r\n");
    }

    /// Validates a parsed response against this request (RFC 6455 §4.1, the client's checks
    /// on the server's handshake).
    ///
    /// # Errors
    /// [`Error::UnexpectedStatus`] for anything but `101` (carrying the status), and the other
    /// client-side errors for a `101` that breaks a rule.
    pub fn validate<'b>(&self, resp: &Response<'b>) -> Result<Negotiated<'b>, Error> {
        if !matches!(resp.version(), (1, 1..)) {
            return Err(Error::InvalidResponseVersion);
        }
        // 1. "If the status code received from the server is not 101, the client handles the
        //    response per HTTP procedures" — for us, an error carrying the status.
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(Error::UnexpectedStatus(resp.status()));
        }
        // 2. |Upgrade| must be "websocket", ASCII case-insensitive.
        if !token::contains(resp.values("upgrade"), "websocket") {
            return Err(Error::MissingUpgrade);
        }
        // 3. |Connection| must contain the token "Upgrade", ASCII case-insensitive.
        if !token::contains(resp.values("connection"), "upgrade") {
            return Err(Error::MissingConnection);
        }
        // 4. |Sec-WebSocket-Accept| must be base64(SHA-1(key ++ GUID)), exactly once.
        let expected = self.expected_accept();
        let mut accepts = resp.values("sec-websocket-accept");
        if accepts.next() != Some(&expected.as_bytes()[..]) || accepts.next().is_some() {
            return Err(Error::InvalidAccept);
        }
        // 5. Every extension in use must have been offered.
        let offered = self.extensions.unwrap_or("");
        for v in resp.values("sec-websocket-extensions") {
            for e in extensions::parse(v) {
                let e = e?;
                let was_offered = extensions::parse(offered)
                    .filter_map(Result::ok)
                    .any(|o| o.name().eq_ignore_ascii_case(e.name()));
                if !was_offered {
                    return Err(Error::UnexpectedExtension);
                }
            }
        }
        // 6. The subprotocol, if any, must be one that was offered, and only one.
        let mut protocols = resp.values("sec-websocket-protocol");
        let protocol = match (protocols.next(), protocols.next()) {
            (None, _) => None,
            (Some(p), None) => {
                let p = core::str::from_utf8(p).map_err(|_| Error::UnexpectedProtocol)?;
                if !self.protocols.contains(&p) {
                    return Err(Error::UnexpectedProtocol);
                }
                Some(p)
            }
            (Some(_), Some(_)) => return Err(Error::UnexpectedProtocol),
        };
        Ok(Negotiated {
            protocol,
            headers: resp.headers(),
        })
    }

    /// Parses and validates a response from the start of `buf` (sans-IO); `Partial` consumes
    /// nothing, `Complete` gives the result and the head length (bytes after it are frames).
    ///
    /// # Errors
    /// Syntax errors, exceeded limits and the errors of [`ClientRequest::validate`].
    pub fn parse_response<'b>(
        &self,
        buf: &'b [u8],
    ) -> Result<Status<(Negotiated<'b>, usize)>, Error> {
        match crate::parse_response(buf, &self.limits)? {
            Status::Partial => Ok(Status::Partial),
            Status::Complete((resp, n)) => Ok(Status::Complete((self.validate(&resp)?, n))),
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn response_limits(&self) -> &Limits {
        &self.limits
    }
}

/// What the server agreed to, borrowed from the response buffer.
#[derive(Clone, Debug)]
pub struct Negotiated<'b> {
    protocol: Option<&'b str>,
    headers: Headers<'b>,
}

impl<'b> Negotiated<'b> {
    /// The subprotocol the server selected, if any.
    #[must_use]
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// The extensions the server accepted, with their parameters (validated).
    #[must_use]
    pub fn extensions(&self) -> ExtensionOffers<'b> {
        ExtensionOffers::new(Values::new(
            self.headers.clone(),
            "sec-websocket-extensions",
        ))
    }

    /// Every response header, e.g. to read `Set-Cookie`.
    #[must_use]
    pub fn headers(&self) -> Headers<'b> {
        self.headers.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        // RFC 6455 §1.3: "dGhlIHNhbXBsZSBub25jZQ==".
        Key::from_nonce(*b"the sample nonce")
    }

    fn ok_response(extra: &str) -> std::string::String {
        std::format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
        )
    }

    fn check(
        req: &ClientRequest<'_>,
        resp: &str,
    ) -> Result<(Option<std::string::String>, usize), Error> {
        match req.parse_response(resp.as_bytes())? {
            Status::Complete((n, len)) => {
                Ok((n.protocol().map(std::string::ToString::to_string), len))
            }
            Status::Partial => panic!("partial"),
        }
    }

    #[test]
    fn writes_rfc_request() {
        let req = ClientRequest::new("server.example.com", "/chat", key())
            .origin("http://example.com")
            .protocols(&["chat", "superchat"])
            .extensions("permessage-deflate; client_max_window_bits")
            .headers(&[("Cookie", "a=b")]);
        let mut buf = [0u8; 512];
        let n = req.write(&mut buf).unwrap();
        assert_eq!(
            core::str::from_utf8(&buf[..n]).unwrap(),
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
             Cookie: a=b\r\n\r\n"
        );
        for short in 0..n {
            assert_eq!(
                req.write(&mut buf[..short]),
                Err(Error::InsufficientSize { required: n })
            );
        }
    }

    #[test]
    fn refuses_injection() {
        let mut buf = [0u8; 512];
        for req in [
            ClientRequest::new("h", "/a b", key()),
            ClientRequest::new("h", "", key()),
            ClientRequest::new("h\r\nX: 1", "/", key()),
            ClientRequest::new("", "/", key()),
            ClientRequest::new("h", "/", key()).protocols(&["a b"]),
            ClientRequest::new("h", "/", key()).extensions("x;"),
            ClientRequest::new("h", "/", key()).headers(&[("X", "1\r\nY: 2")]),
            ClientRequest::new("h", "/", key()).headers(&[("X Y", "1")]),
            ClientRequest::new("h", "/", key()).origin("a\nb"),
        ] {
            assert_eq!(
                req.write(&mut buf),
                Err(Error::InvalidRequestHeader),
                "{req:?}"
            );
        }
    }

    #[test]
    fn validates_response() {
        let req = ClientRequest::new("h", "/", key())
            .protocols(&["chat", "superchat"])
            .extensions("permessage-deflate; client_max_window_bits, x-foo");
        let r = ok_response("");
        assert_eq!(check(&req, &r), Ok((None, r.len())));
        let r = ok_response("Sec-WebSocket-Protocol: superchat\r\n");
        assert_eq!(check(&req, &r).unwrap().0.as_deref(), Some("superchat"));
        let r = ok_response(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        );
        let Status::Complete((n, _)) = req.parse_response(r.as_bytes()).unwrap() else {
            panic!()
        };
        let e = n.extensions().next().unwrap();
        assert_eq!(e.name(), "permessage-deflate");
        assert_eq!(
            e.params().next().unwrap().name(),
            "server_no_context_takeover"
        );
        // case-insensitive tokens, multiple Connection values, bare LF
        let r = "HTTP/1.1 101 OK\nupgrade: WebSocket\nconnection: keep-alive, upgrade\n\
                 sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n\n";
        assert!(check(&req, r).is_ok());
    }

    #[test]
    fn response_rejections() {
        let req = ClientRequest::new("h", "/", key())
            .protocols(&["chat"])
            .extensions("x-foo");
        let accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        for (resp, err) in [
            (
                std::string::String::from("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
                Error::UnexpectedStatus(StatusCode::FORBIDDEN),
            ),
            (
                std::format!(
                    "HTTP/1.0 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\n"
                ),
                Error::InvalidResponseVersion,
            ),
            (
                std::format!("HTTP/1.1 101 x\r\nConnection: Upgrade\r\n{accept}\r\n"),
                Error::MissingUpgrade,
            ),
            (
                std::format!(
                    "HTTP/1.1 101 x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n{accept}\r\n"
                ),
                Error::MissingUpgrade,
            ),
            (
                std::format!("HTTP/1.1 101 x\r\nUpgrade: websocket\r\n{accept}\r\n"),
                Error::MissingConnection,
            ),
            (
                std::string::String::from(
                    "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                ),
                Error::InvalidAccept,
            ),
            (
                std::string::String::from(
                    "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                ),
                Error::InvalidAccept,
            ),
            (ok_response(accept), Error::InvalidAccept),
            (
                ok_response("Sec-WebSocket-Protocol: superchat\r\n"),
                Error::UnexpectedProtocol,
            ),
            (
                ok_response("Sec-WebSocket-Protocol: chat, chat\r\n"),
                Error::UnexpectedProtocol,
            ),
            (
                ok_response("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                Error::UnexpectedProtocol,
            ),
            (
                ok_response("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                Error::UnexpectedExtension,
            ),
            (
                ok_response("Sec-WebSocket-Extensions: x-foo;\r\n"),
                Error::InvalidExtensions,
            ),
        ] {
            assert_eq!(check(&req, &resp), Err(err), "{resp}");
        }
        // no offers at all: any protocol or extension is unexpected
        let bare = ClientRequest::new("h", "/", key());
        assert_eq!(
            check(&bare, &ok_response("Sec-WebSocket-Protocol: chat\r\n")),
            Err(Error::UnexpectedProtocol)
        );
        assert_eq!(
            check(&bare, &ok_response("Sec-WebSocket-Extensions: x-foo\r\n")),
            Err(Error::UnexpectedExtension)
        );
    }

    #[test]
    fn response_split_invariance() {
        let req = ClientRequest::new("h", "/", key()).protocols(&["chat"]);
        let r = ok_response("Sec-WebSocket-Protocol: chat\r\n");
        for k in 0..r.len() {
            assert!(
                matches!(req.parse_response(&r.as_bytes()[..k]), Ok(Status::Partial)),
                "{k}"
            );
        }
        assert!(check(&req, &r).is_ok());
    }
}
