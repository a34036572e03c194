//! The server side: [`Upgrader`] validates a request (RFC 6455 §4.2.1), runs the [`Hooks`] and
//! writes the `101` (§4.2.2) or a rejection.
//!
//! Order of checks and hooks in [`Upgrader::negotiate`]:
//!
//! 1. method `GET` (else `405`), HTTP/1.1 or later (else `505`);
//! 2. [`Hooks::on_request`] with the target;
//! 3. for every header in order: [`Hooks::on_header`], and [`Hooks::on_host`] for `Host`;
//!    duplicate `Host`, malformed `Sec-WebSocket-Protocol`/`-Extensions` are found here (`400`);
//! 4. `Host`, `Upgrade`, `Connection` present (`400`), `Sec-WebSocket-Version: 13` (`426`),
//!    `Sec-WebSocket-Key` (`400`);
//! 5. [`Hooks::check_origin`]; 6. [`Hooks::select_protocol`] (only if protocols were offered);
//! 7. [`Hooks::negotiate_extensions`] (only if extensions were offered);
//! 8. [`Hooks::before_upgrade`].
//!
//! The response is then written by [`Upgrader::write_response`], which calls
//! [`Hooks::response_headers`].

use core::fmt;

use crate::accept::{AcceptKey, is_valid_key};
use crate::extensions::{self, Extension, Extensions};
use crate::headers::Values;
use crate::token;
use crate::write::{Sink, SliceSink, put_status_line, put_usize};
use crate::{Error, Limits, Request, Status, StatusCode};

#[cfg(feature = "std")]
pub use crate::io::{Upgraded, accept};
pub use crate::token::Protocols;
pub use crate::write::HeaderWriter;

/// A refusal from a hook: status, extra headers and body of the response, all `'static`.
///
/// ```
/// use zerows_upgrade::server::Rejection;
/// use zerows_upgrade::StatusCode;
/// const NEED_AUTH: Rejection = Rejection::new(StatusCode::UNAUTHORIZED)
///     .with_headers(&[("WWW-Authenticate", "Bearer")])
///     .with_body(b"token required\n");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection<'r> {
    /// The response status.
    pub status: StatusCode,
    /// Extra response headers (`Content-Length` and `Connection: close` are always added).
    /// Headers with an invalid name or value are skipped.
    pub headers: &'r [(&'r str, &'r str)],
    /// The response body.
    pub body: &'r [u8],
}

impl Rejection<'static> {
    /// A rejection with this status, no extra headers and an empty body.
    #[must_use]
    pub const fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: &[],
            body: b"",
        }
    }

    /// `403 Forbidden`, e.g. for an origin that is not allowed.
    pub const FORBIDDEN: Self = Self::new(StatusCode::FORBIDDEN);
    /// `404 Not Found`, e.g. for a target that has no WebSocket endpoint.
    pub const NOT_FOUND: Self = Self::new(StatusCode::NOT_FOUND);

    /// Sets the extra headers.
    #[must_use]
    pub const fn with_headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the body.
    #[must_use]
    pub const fn with_body(mut self, body: &'static [u8]) -> Self {
        self.body = body;
        self
    }
}

/// What a hook returns: go on, or refuse with this response.
pub type HookResult = Result<(), Rejection<'static>>;

/// Callbacks run during [`Upgrader::negotiate`], as gobwas/ws' `Upgrader` hooks. Every method has
/// a default that accepts, so implement only what you need. All arguments borrow the request
/// buffer: nothing is copied.
///
/// ```
/// use zerows_upgrade::server::{HookResult, Hooks, Protocols, Rejection};
/// struct Chat;
/// impl Hooks for Chat {
///     fn on_request(&mut self, target: &str) -> HookResult {
///         if target.starts_with("/chat") { Ok(()) } else { Err(Rejection::NOT_FOUND) }
///     }
///     fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
///         offered.find(|p| *p == "chat.v2" || *p == "chat.v1")
///     }
/// }
/// ```
pub trait Hooks {
    /// Called with the request target (e.g. `/chat?room=1`) once the method and version are
    /// known to be right.
    fn on_request(&mut self, target: &str) -> HookResult {
        let _ = target;
        Ok(())
    }

    /// Called with the value of the `Host` header (after [`Hooks::on_header`] for it).
    fn on_host(&mut self, host: &[u8]) -> HookResult {
        let _ = host;
        Ok(())
    }

    /// Called for every header, in the order received, with its value trimmed.
    fn on_header(&mut self, name: &str, value: &[u8]) -> HookResult {
        let _ = (name, value);
        Ok(())
    }

    /// The origin policy (RFC 6455 §4.2.2 item 4, §10.2): called with the `Origin` header (if
    /// any) and the `Host`. Browsers always send `Origin`; other clients usually do not. The
    /// default accepts every request; see [`crate::origin`] for an allow-list helper.
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        let _ = (origin, host);
        Ok(())
    }

    /// Picks one of the offered subprotocols (RFC 6455 §4.2.2 item 5.4: "either a single value
    /// representing the subprotocol the server is ready to use or null"); called only when the
    /// client offered some. It must return one of the offered values (exact match), or `None`
    /// for no subprotocol; any other value fails the upgrade with `500`.
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        let _ = offered;
        None
    }

    /// Negotiates extensions (RFC 6455 §9.1): `offered` iterates the client's offers in order;
    /// write the accepted ones, with their response parameters, into `accepted`. Called only
    /// when the client offered some. The default accepts none.
    fn negotiate_extensions(
        &mut self,
        offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> HookResult {
        let _ = (offered, accepted);
        Ok(())
    }

    /// The last chance to refuse, with the whole request and the selected subprotocol.
    fn before_upgrade(&mut self, request: &Request<'_>, protocol: Option<&str>) -> HookResult {
        let _ = (request, protocol);
        Ok(())
    }

    /// Adds headers to the `101` response (e.g. `Set-Cookie`).
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        let _ = out;
    }
}

/// Hooks that accept every valid request and negotiate nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

impl<H: Hooks + ?Sized> Hooks for &mut H {
    fn on_request(&mut self, target: &str) -> HookResult {
        (**self).on_request(target)
    }
    fn on_host(&mut self, host: &[u8]) -> HookResult {
        (**self).on_host(host)
    }
    fn on_header(&mut self, name: &str, value: &[u8]) -> HookResult {
        (**self).on_header(name, value)
    }
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        (**self).check_origin(origin, host)
    }
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        (**self).select_protocol(offered)
    }
    fn negotiate_extensions(
        &mut self,
        offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> HookResult {
        (**self).negotiate_extensions(offered, accepted)
    }
    fn before_upgrade(&mut self, request: &Request<'_>, protocol: Option<&str>) -> HookResult {
        (**self).before_upgrade(request, protocol)
    }
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        (**self).response_headers(out);
    }
}

/// The extensions a peer sent: every extension of every `Sec-WebSocket-Extensions` header, in
/// order. The values were validated against RFC 6455 §9.1 before this iterator is handed out,
/// so it yields plain [`Extension`]s.
#[derive(Clone, Debug)]
pub struct ExtensionOffers<'b> {
    values: Values<'b>,
    current: Option<Extensions<'b>>,
}

impl<'b> ExtensionOffers<'b> {
    pub(crate) fn new(values: Values<'b>) -> Self {
        Self {
            values,
            current: None,
        }
    }
}

impl<'b> Iterator for ExtensionOffers<'b> {
    type Item = Extension<'b>;

    fn next(&mut self) -> Option<Extension<'b>> {
        loop {
            if let Some(Some(Ok(e))) = self.current.as_mut().map(Iterator::next) {
                return Some(e);
            }
            self.current = Some(extensions::parse(self.values.next()?));
        }
    }
}

/// The `Sec-WebSocket-Extensions` response value a server builds while negotiating: an inline
/// buffer of [`AcceptedExtensions::CAPACITY`] bytes, so the result of an upgrade owns it
/// without allocating.
#[derive(Clone, Copy)]
pub struct AcceptedExtensions {
    buf: [u8; Self::CAPACITY],
    len: usize,
}

impl AcceptedExtensions {
    /// Bytes available for the header value (all registered extensions with all parameters
    /// take well under 100).
    pub const CAPACITY: usize = 256;

    /// No extension accepted.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            buf: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// Appends one accepted extension, e.g. `"permessage-deflate; server_no_context_takeover"`.
    ///
    /// # Errors
    /// [`Error::InvalidExtensions`] if `extension` is not one well-formed extension (RFC 6455
    /// §9.1); [`Error::InsufficientSize`] if it does not fit in the capacity.
    pub fn push(&mut self, extension: &str) -> Result<(), Error> {
        let mut it = extensions::parse(extension);
        if !matches!((it.next(), it.next()), (Some(Ok(_)), None)) {
            return Err(Error::InvalidExtensions);
        }
        self.push_raw(extension.trim_matches([' ', '\t']).as_bytes())
    }

    /// Appends one extension in canonical form (e.g. an offer, echoed back).
    ///
    /// # Errors
    /// [`Error::InsufficientSize`] if it does not fit in the capacity.
    pub fn push_extension(&mut self, extension: &Extension<'_>) -> Result<(), Error> {
        let start = self.len;
        if self.len > 0 {
            self.put(b", ")?;
        }
        let r = fmt::write(self, format_args!("{extension}"));
        if r.is_err() {
            self.len = start;
            return Err(Error::InsufficientSize {
                required: Self::CAPACITY + 1,
            });
        }
        Ok(())
    }

    fn push_raw(&mut self, ext: &[u8]) -> Result<(), Error> {
        let start = self.len;
        if self.len > 0 {
            self.put(b", ")?;
        }
        self.put(ext).inspect_err(|_| self.len = start)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), Error> {
        let end = self.len + b.len();
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(Error::InsufficientSize { required: end })?;
        dst.copy_from_slice(b);
        self.len = end;
        Ok(())
    }

    /// The header value, or `None` if nothing was accepted.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        if self.len == 0 {
            return None;
        }
        core::str::from_utf8(&self.buf[..self.len]).ok()
    }

    /// Whether nothing was accepted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The accepted extensions, parsed.
    pub fn iter(&self) -> impl Iterator<Item = Extension<'_>> {
        extensions::parse(&self.buf[..self.len]).filter_map(Result::ok)
    }
}

impl fmt::Write for AcceptedExtensions {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl Default for AcceptedExtensions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AcceptedExtensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptedExtensions")
            .field(&self.as_str())
            .finish()
    }
}

impl PartialEq for AcceptedExtensions {
    fn eq(&self, other: &Self) -> bool {
        self.buf[..self.len] == other.buf[..other.len]
    }
}

impl Eq for AcceptedExtensions {}

/// A request that passed validation and every hook: what the `101` response will say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted<'b> {
    target: &'b str,
    host: &'b [u8],
    protocol: Option<&'b str>,
    extensions: AcceptedExtensions,
    accept: AcceptKey,
}

impl<'b> Accepted<'b> {
    /// The request target.
    #[must_use]
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The `Host` header value.
    #[must_use]
    pub fn host(&self) -> &'b [u8] {
        self.host
    }

    /// The selected subprotocol, if any.
    #[must_use]
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// The accepted extensions' response value, if any (parse it with
    /// [`extensions::parse`] or [`AcceptedExtensions::iter`]).
    #[must_use]
    pub fn extensions(&self) -> Option<&str> {
        self.extensions.as_str()
    }

    /// The accepted extensions.
    #[must_use]
    pub fn accepted_extensions(&self) -> &AcceptedExtensions {
        &self.extensions
    }

    /// The `Sec-WebSocket-Accept` value.
    #[must_use]
    pub fn accept_key(&self) -> &AcceptKey {
        &self.accept
    }
}

/// A request that was refused: the error, and the hook's response if a hook refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    error: Error,
    rejection: Option<Rejection<'static>>,
}

impl Rejected {
    pub(crate) fn hook(r: Rejection<'static>) -> Self {
        Self {
            error: Error::Rejected(r.status),
            rejection: Some(r),
        }
    }

    /// The error.
    #[must_use]
    pub fn error(&self) -> Error {
        self.error
    }

    /// The status the response carries.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.error.status()
    }

    /// Writes the rejection response (a complete HTTP/1.1 response with `Content-Length` and
    /// `Connection: close`) into `out`.
    ///
    /// # Errors
    /// [`Error::InsufficientSize`] with the size needed.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut sink = SliceSink::new(out);
        self.put(&mut sink);
        sink.finish()
    }

    /// Status, extra headers and body of the response.
    pub(crate) fn parts(
        &self,
    ) -> (
        StatusCode,
        &'static [(&'static str, &'static str)],
        &'static [u8],
    ) {
        match self.rejection {
            Some(r) => (r.status, r.headers, r.body),
            None => (self.error.status(), &[], self.error.as_str().as_bytes()),
        }
    }

    /// Whether the response is this crate's (not a hook's).
    pub(crate) fn is_default(&self) -> bool {
        self.rejection.is_none()
    }

    pub(crate) fn put(&self, sink: &mut dyn Sink) {
        let (status, headers, body) = self.parts();
        put_status_line(sink, status);
        match self.error {
            // RFC 6455 §4.4: tell the client which versions we speak.
            Error::UnsupportedVersion => sink.put(b"Sec-WebSocket-Version: 13\r\n"),
            // RFC 9110 §15.5.6: a 405 MUST carry Allow.
            Error::MethodNotAllowed => sink.put(b"Allow: GET\r\n"),
            _ => {}
        }
        for (name, value) in headers {
            if crate::headers::is_token(name.as_bytes())
                && crate::headers::is_value(value.as_bytes())
            {
                sink.put(name.as_bytes());
                sink.put(b": ");
                sink.put(value.as_bytes());
                sink.put(b"\r\n");
            }
        }
        if self.is_default() && !body.is_empty() {
            sink.put(b"Content-Type: text/plain; charset=utf-8\r\n");
        }
        sink.put(b"Connection: close\r\nContent-Length: ");
        put_usize(sink, body.len());
        sink.put(b"\r\n\r\n");
        sink.put(body);
    }
}

impl From<Error> for Rejected {
    fn from(error: Error) -> Self {
        Self {
            error,
            rejection: None,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// The result of [`Upgrader::upgrade`]: bytes consumed, response bytes written, and the outcome.
#[derive(Debug)]
pub struct Upgrade<'b> {
    /// Bytes of the input the request head occupied (`0` if it could not be parsed). Bytes
    /// after that belong to the WebSocket connection.
    pub consumed: usize,
    /// Bytes of the response (the `101` or the rejection) written to the output buffer;
    /// `0` when the buffer was too small, in which case `result` is
    /// `Err(Error::InsufficientSize { .. })`.
    pub written: usize,
    /// What was accepted, or why the request was refused.
    pub result: Result<Accepted<'b>, Error>,
}

/// The server side of the handshake: limits and hooks.
///
/// Sans-IO use (no_std): [`Upgrader::upgrade`] from bytes to bytes, or [`Upgrader::parse`] +
/// [`Upgrader::negotiate`] + [`Upgrader::write_response`] / [`Rejected::write`]. Over a stream
/// (feature `std`): `server::accept`.
#[derive(Clone, Debug, Default)]
pub struct Upgrader<H = NoHooks> {
    limits: Limits,
    hooks: H,
}

impl Upgrader<NoHooks> {
    /// An upgrader with default limits and no hooks.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            limits: Limits::DEFAULT,
            hooks: NoHooks,
        }
    }
}

impl<H: Hooks> Upgrader<H> {
    /// An upgrader with default limits and these hooks.
    pub const fn with_hooks(hooks: H) -> Self {
        Self {
            limits: Limits::DEFAULT,
            hooks,
        }
    }

    /// Replaces the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The hooks.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The hooks, mutably (e.g. to reset per-connection state between upgrades).
    pub fn hooks_mut(&mut self) -> &mut H {
        &mut self.hooks
    }

    /// Consumes the upgrader, returning the hooks.
    pub fn into_hooks(self) -> H {
        self.hooks
    }

    /// Parses a request head with this upgrader's limits; see [`crate::parse_request`].
    ///
    /// # Errors
    /// Syntax errors and exceeded limits.
    pub fn parse<'b>(&self, buf: &'b [u8]) -> Result<Status<(Request<'b>, usize)>, Error> {
        crate::parse_request(buf, &self.limits)
    }

    /// Validates a parsed request against RFC 6455 §4.2.1 and runs the hooks, in the order
    /// given in the [module docs](self).
    ///
    /// # Errors
    /// The refusal, whose [`Rejected::write`] produces the response to send before closing.
    pub fn negotiate<'b>(&mut self, req: &Request<'b>) -> Result<Accepted<'b>, Rejected> {
        // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
        if req.method() != "GET" {
            return Err(Error::MethodNotAllowed.into());
        }
        if !matches!(req.version(), (1, 1..)) {
            return Err(Error::UnsupportedHttpVersion.into());
        }
        let hooks = &mut self.hooks;
        hooks.on_request(req.target()).map_err(Rejected::hook)?;

        let mut host = None;
        let mut origin = None;
        let mut upgrade = false;
        let mut connection = false;
        let mut key = None;
        let mut keys = 0u32;
        let mut versions = 0u32;
        let mut version_13 = false;
        let mut protocols = false;
        let mut exts = false;
        for h in req.headers() {
            hooks.on_header(h.name, h.value).map_err(Rejected::hook)?;
            // Dispatch on the length first: one comparison per header in the common case.
            let n = h.name;
            match n.len() {
                4 if n.eq_ignore_ascii_case("host") => {
                    // RFC 9112 §3.2: more than one Host MUST be answered with 400.
                    if host.is_some() {
                        return Err(Error::DuplicateHost.into());
                    }
                    host = Some(h.value);
                    hooks.on_host(h.value).map_err(Rejected::hook)?;
                }
                6 if n.eq_ignore_ascii_case("origin") => origin = Some(h.value),
                7 if n.eq_ignore_ascii_case("upgrade") => {
                    upgrade = upgrade
                        || token::elements(h.value).any(|e| e.eq_ignore_ascii_case(b"websocket"));
                }
                10 if n.eq_ignore_ascii_case("connection") => {
                    connection = connection
                        || token::elements(h.value).any(|e| e.eq_ignore_ascii_case(b"upgrade"));
                }
                17 if n.eq_ignore_ascii_case("sec-websocket-key") => {
                    keys += 1;
                    key = Some(h.value);
                }
                21 if n.eq_ignore_ascii_case("sec-websocket-version") => {
                    versions += 1;
                    version_13 = h.value == b"13";
                }
                22 if n.eq_ignore_ascii_case("sec-websocket-protocol") => {
                    if !token::is_token_list(h.value) {
                        return Err(Error::InvalidProtocol.into());
                    }
                    protocols = true;
                }
                24 if n.eq_ignore_ascii_case("sec-websocket-extensions") => {
                    if !extensions::is_valid(h.value) {
                        return Err(Error::InvalidExtensions.into());
                    }
                    exts = true;
                }
                _ => {}
            }
        }
        // §4.2.1 item 2: a |Host| header field.
        let host = host.ok_or(Error::MissingHost)?;
        // §4.2.1 item 3: an |Upgrade| header field containing "websocket" (case-insensitive).
        if !upgrade {
            return Err(Error::MissingUpgrade.into());
        }
        // §4.2.1 item 4: a |Connection| header field that includes the token "Upgrade".
        if !connection {
            return Err(Error::MissingConnection.into());
        }
        // §4.2.1 item 6 and §4.4: |Sec-WebSocket-Version| 13, at most once (§11.3.5); else 426.
        if versions != 1 || !version_13 {
            return Err(Error::UnsupportedVersion.into());
        }
        // §4.2.1 item 5: |Sec-WebSocket-Key|, base64 of 16 bytes, at most once (§11.3.1).
        let key = key.ok_or(Error::MissingKey)?;
        if keys != 1 || !is_valid_key(key) {
            return Err(Error::InvalidKey.into());
        }
        // §4.2.1 item 7 and §4.2.2 item 4: the origin policy.
        hooks.check_origin(origin, host).map_err(Rejected::hook)?;
        // §4.2.2 item 5.4 (/subprotocol/).
        let protocol = if protocols {
            let offered = Protocols::new(req.values("sec-websocket-protocol"));
            match hooks.select_protocol(offered.clone()) {
                Some(p) if !offered.contains(p) => return Err(Error::InvalidResponseHeader.into()),
                p => p,
            }
        } else {
            None
        };
        // §4.2.2 item 5.5 and §9.1 (/extensions/).
        let mut accepted = AcceptedExtensions::new();
        if exts {
            let offers = ExtensionOffers::new(req.values("sec-websocket-extensions"));
            hooks
                .negotiate_extensions(offers, &mut accepted)
                .map_err(Rejected::hook)?;
        }
        hooks
            .before_upgrade(req, protocol)
            .map_err(Rejected::hook)?;
        Ok(Accepted {
            target: req.target(),
            host,
            protocol,
            extensions: accepted,
            accept: AcceptKey::from_key(key),
        })
    }

    /// Writes the `101 Switching Protocols` response (RFC 6455 §4.2.2 item 5) into `out`,
    /// including the headers from [`Hooks::response_headers`].
    ///
    /// # Errors
    /// [`Error::InsufficientSize`] with the size needed; [`Error::InvalidResponseHeader`] if a
    /// hook wrote an invalid header (answer with [`Rejected::write`] then).
    pub fn write_response(
        &mut self,
        accepted: &Accepted<'_>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let mut sink = SliceSink::new(out);
        self.put_response(accepted, &mut sink)?;
        sink.finish()
    }

    pub(crate) fn put_response(
        &mut self,
        a: &Accepted<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        sink.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
        sink.put(a.accept.as_bytes());
        sink.put(b"\r\n");
        if let Some(p) = a.protocol {
            sink.put(b"Sec-WebSocket-Protocol: ");
            sink.put(p.as_bytes());
            sink.put(b"\r\n");
        }
        if let Some(e) = a.extensions() {
            sink.put(b"Sec-WebSocket-Extensions: ");
            sink.put(e.as_bytes());
            sink.put(b"\r\n");
        }
        let mut w = HeaderWriter::wire(sink);
        self.hooks.response_headers(&mut w);
        if w.is_invalid() {
            return Err(Error::InvalidResponseHeader);
        }
        sink.put(b"\r\n");
        Ok(())
    }

    /// [`accept`] as a method: the whole server handshake over `stream`, reading into `buf`.
    ///
    /// # Errors
    /// See [`accept`].
    #[cfg(feature = "std")]
    pub fn accept<'b, S>(
        &mut self,
        stream: &mut S,
        buf: &'b mut [u8],
    ) -> Result<Upgraded<'b>, crate::HandshakeError>
    where
        S: std::io::Read + std::io::Write + ?Sized,
    {
        accept(stream, self, buf)
    }

    /// The whole server handshake from bytes to bytes, without I/O: parses `input`, validates,
    /// runs the hooks and writes the response (the `101`, or the rejection) into `out`.
    ///
    /// Returns [`Status::Partial`] while the head is incomplete (call again with more input
    /// from the same start; nothing was written). Once complete, send `out[..written]`; if the
    /// result is an error, close the connection after sending.
    ///
    /// ```
    /// use zerows_upgrade::server::Upgrader;
    /// use zerows_upgrade::Status;
    /// let req = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Sec-WebSocket-Version: 13\r\n\r\n";
    /// let mut out = [0u8; 256];
    /// let Status::Complete(up) = Upgrader::new().upgrade(req, &mut out) else { unreachable!() };
    /// assert!(up.result.is_ok());
    /// assert_eq!(up.consumed, req.len());
    /// assert!(out[..up.written].ends_with(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    /// ```
    pub fn upgrade<'b>(&mut self, input: &'b [u8], out: &mut [u8]) -> Status<Upgrade<'b>> {
        let (outcome, consumed) = match self.parse(input) {
            Ok(Status::Partial) => return Status::Partial,
            Ok(Status::Complete((req, n))) => (self.negotiate(&req), n),
            Err(e) => (Err(Rejected::from(e)), 0),
        };
        let (written, result) = match outcome {
            Ok(a) => match self.write_response(&a, out) {
                Ok(n) => (n, Ok(a)),
                Err(e @ Error::InsufficientSize { .. }) => (0, Err(e)),
                Err(e) => write_rejection(Rejected::from(e), out),
            },
            Err(r) => write_rejection(r, out),
        };
        Status::Complete(Upgrade {
            consumed,
            written,
            result,
        })
    }
}

fn write_rejection<'b>(r: Rejected, out: &mut [u8]) -> (usize, Result<Accepted<'b>, Error>) {
    match r.write(out) {
        Ok(n) => (n, Err(r.error)),
        Err(e) => (0, Err(e)),
    }
}

#[cfg(test)]
mod tests;
