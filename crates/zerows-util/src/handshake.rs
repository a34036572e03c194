//! The opening handshake as sans-IO steps (RFC 6455 §4), shared by every driver: a driver writes
//! [`output`](Steps::output), reads into [`read_target`](Steps::read_target) and reports
//! [`handle_read`](Steps::handle_read) until [`is_done`](Steps::is_done); then
//! [`finish`](ServerHandshake::finish) gives the [`Connection`] with what was agreed. No buffer
//! of the handshake outlives it.

use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::server::{
    AcceptedExtensions, ExtensionOffers, HeaderWriter, HookResult, Hooks, Protocols, Rejected,
    Upgrader,
};
use zerows_upgrade::{Error as UpgradeError, Request, Status};

use std::sync::Arc;

use crate::config::Config;
use crate::conn::Connection;
use crate::error::Error;
use crate::extension::Extension;
use zerows_frame::Role;

/// The largest request or response head we accept: 8 KiB (the default
/// [`Limits::max_head_size`](zerows_upgrade::Limits::max_head_size)).
pub(crate) const HEAD_BUF: usize = 8 << 10;
/// Room for the response a server writes (the `101`, or a rejection).
pub(crate) const RESPONSE_BUF: usize = 2 << 10;

/// What the handshake agreed: the subprotocol, the extensions' header value, and the headers the
/// application asked to keep ([`Config::keep_header`]). Available on a connection after
/// `accept`/`connect` in both worlds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agreed {
    protocol: Option<String>,
    extensions: Option<String>,
    headers: Vec<(String, String)>,
}

impl Agreed {
    /// The subprotocol agreed on (RFC 6455 §1.9), if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The `Sec-WebSocket-Extensions` value the server answered with, if any.
    pub fn extensions(&self) -> Option<&str> {
        self.extensions.as_deref()
    }

    /// The first kept header named `name` (case-insensitive): a request header on the server
    /// side, a response header on the client side.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every kept header, in the order received (names lower-cased).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn keep(&mut self, keep: &[String], name: &str, value: &[u8]) {
        if keep.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            self.headers.push((
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
    }

    fn is_empty(&self) -> bool {
        self.protocol.is_none() && self.extensions.is_none() && self.headers.is_empty()
    }
}

/// One step at a time: what a driver asks a handshake.
pub(crate) trait Steps {
    /// Bytes to write now (empty: none).
    fn output(&self) -> &[u8];
    /// `n` bytes of the output were written.
    fn advance(&mut self, n: usize);
    /// Where to read the peer's head into (`None`: reading is over).
    fn read_target(&mut self) -> Option<&mut [u8]>;
    /// `n` bytes arrived (0: the peer closed).
    fn handle_read(&mut self, n: usize) -> Result<(), Error>;
    /// Nothing more to read or write: call `finish`.
    fn is_done(&self) -> bool;
}

/// Server hooks around the application's: negotiate the configured extension and keep the
/// headers the application asked for, then ask the application's hooks.
struct ConnectionHooks<'a, H> {
    inner: &'a mut H,
    config: &'a Arc<Config>,
    agreed: Agreed,
    extension: Option<Extension>,
}

impl<'a, H: Hooks> ConnectionHooks<'a, H> {
    /// An upgrader with `upgrader`'s limits whose hooks wrap its hooks.
    fn around(upgrader: &'a mut Upgrader<H>, config: &'a Arc<Config>) -> Upgrader<Self> {
        let limits = *upgrader.limits();
        let hooks = ConnectionHooks {
            inner: upgrader.hooks_mut(),
            config,
            agreed: Agreed::default(),
            extension: None,
        };
        Upgrader::with_hooks(hooks).with_limits(limits)
    }
}

impl<H: Hooks> Hooks for ConnectionHooks<'_, H> {
    fn on_request(&mut self, target: &str) -> HookResult {
        self.inner.on_request(target)
    }
    fn on_host(&mut self, host: &[u8]) -> HookResult {
        self.inner.on_host(host)
    }
    fn on_header(&mut self, name: &str, value: &[u8]) -> HookResult {
        self.agreed.keep(&self.config.keep_headers, name, value);
        self.inner.on_header(name, value)
    }
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        self.inner.check_origin(origin, host)
    }
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        self.inner.select_protocol(offered)
    }
    fn negotiate_extensions(
        &mut self,
        offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> HookResult {
        if let Some(n) = &self.config.extension {
            self.extension = n.respond(offered.clone(), accepted);
        }
        self.inner.negotiate_extensions(offered, accepted)
    }
    fn before_upgrade(&mut self, request: &Request<'_>, protocol: Option<&str>) -> HookResult {
        self.inner.before_upgrade(request, protocol)
    }
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        self.inner.response_headers(out)
    }
}

/// What an upgrade inside an HTTP framework agreed ([`accept_http`]): the `101` response to send,
/// the extension to install and what to keep on the connection.
#[cfg(feature = "hyper")]
pub(crate) struct HttpAccepted {
    pub(crate) response: http::Response<()>,
    pub(crate) extension: Option<Extension>,
    pub(crate) agreed: Option<Box<Agreed>>,
}

/// The server's handshake on a request parsed by an HTTP framework (hyper, axum): the same
/// validation and hooks as [`ServerHandshake`] (through [`zerows_upgrade::http::upgrade`]), the
/// same negotiation of the configured extension and the same kept headers; the framework then
/// switches protocols.
#[cfg(feature = "hyper")]
#[allow(clippy::result_large_err)] // a response either way: the error is what is sent
pub(crate) fn accept_http<B, H: Hooks>(
    upgrader: &mut Upgrader<H>,
    config: &Arc<Config>,
    req: &http::Request<B>,
) -> Result<HttpAccepted, zerows_upgrade::http::Refused> {
    let mut up = ConnectionHooks::around(upgrader, config);
    let response = zerows_upgrade::http::upgrade(&mut up, req)?;
    let ConnectionHooks {
        mut agreed,
        extension,
        ..
    } = up.into_hooks();
    let value = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    agreed.protocol = value(http::header::SEC_WEBSOCKET_PROTOCOL);
    agreed.extensions = value(http::header::SEC_WEBSOCKET_EXTENSIONS);
    Ok(HttpAccepted {
        response,
        extension,
        agreed: (!agreed.is_empty()).then(|| Box::new(agreed)),
    })
}

/// The server's handshake over `space` (at least [`HEAD_BUF`] + [`RESPONSE_BUF`] bytes): read the
/// request, answer `101` or the rejection (RFC 6455 §4.2.2), keep the bytes that followed.
pub(crate) struct ServerHandshake<'a, H> {
    upgrader: Upgrader<ConnectionHooks<'a, H>>,
    space: &'a mut [u8],
    filled: usize,
    /// The response: `space[HEAD_BUF..HEAD_BUF + written]`, `sent` of it written, and the outcome
    /// (where the request head ended).
    response: Option<(usize, usize, Result<usize, UpgradeError>)>,
}

impl<'a, H: Hooks> ServerHandshake<'a, H> {
    pub(crate) fn new(
        upgrader: &'a mut Upgrader<H>,
        config: &'a Arc<Config>,
        space: &'a mut [u8],
    ) -> ServerHandshake<'a, H> {
        ServerHandshake {
            upgrader: ConnectionHooks::around(upgrader, config),
            space,
            filled: 0,
            response: None,
        }
    }

    /// The connection, with the bytes the client sent behind its request; or why the upgrade
    /// failed (after the rejection was written).
    pub(crate) fn finish(self) -> Result<(Connection, Option<Box<Agreed>>), Error> {
        let Some((_, _, result)) = self.response else {
            return Err(Error::Handshake(UpgradeError::HeadTooLarge));
        };
        let head = result.map_err(Error::Handshake)?;
        let hooks = self.upgrader.into_hooks();
        let mut conn = Connection::new(Role::Server, hooks.config, &self.space[head..self.filled]);
        if let Some(ext) = hooks.extension {
            conn.set_extension(ext);
        }
        let agreed = hooks.agreed;
        Ok((conn, (!agreed.is_empty()).then(|| Box::new(agreed))))
    }
}

impl<H: Hooks> Steps for ServerHandshake<'_, H> {
    fn output(&self) -> &[u8] {
        match &self.response {
            Some((written, sent, _)) => &self.space[HEAD_BUF + sent..HEAD_BUF + written],
            None => &[],
        }
    }

    fn advance(&mut self, n: usize) {
        if let Some((_, sent, _)) = &mut self.response {
            *sent += n;
        }
    }

    fn read_target(&mut self) -> Option<&mut [u8]> {
        match self.response {
            None => Some(&mut self.space[self.filled..HEAD_BUF]),
            Some(_) => None,
        }
    }

    fn handle_read(&mut self, n: usize) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.filled += n;
        let (input, out) = self.space.split_at_mut(HEAD_BUF);
        self.response = respond(
            &mut self.upgrader,
            &input[..self.filled],
            &mut out[..RESPONSE_BUF],
        )
        .map(|(written, result)| (written, 0, result));
        Ok(())
    }

    fn is_done(&self) -> bool {
        matches!(self.response, Some((written, sent, _)) if sent >= written)
    }
}

/// Answers the request head in `input` (all the bytes read so far) into `out`: `None` while the
/// head is incomplete and under [`HEAD_BUF`]; else the response's length and where the head ended
/// (or why the upgrade was refused, with the rejection written).
fn respond<H: Hooks>(
    upgrader: &mut Upgrader<ConnectionHooks<'_, H>>,
    input: &[u8],
    out: &mut [u8],
) -> Option<(usize, Result<usize, UpgradeError>)> {
    match upgrader.upgrade(input, out) {
        Status::Partial if input.len() < HEAD_BUF => None,
        // The head does not fit: 431 (RFC 6585 §5).
        Status::Partial => {
            let rejected = Rejected::from(UpgradeError::HeadTooLarge);
            let written = rejected.write(out).unwrap_or(0);
            Some((written, Err(UpgradeError::HeadTooLarge)))
        }
        Status::Complete(up) => {
            let result = match up.result {
                Ok(accepted) => {
                    let agreed = &mut upgrader.hooks_mut().agreed;
                    agreed.protocol = accepted.protocol().map(str::to_owned);
                    agreed.extensions = accepted.extensions().map(str::to_owned);
                    Ok(up.consumed)
                }
                Err(e) => Err(e),
            };
            Some((up.written, result))
        }
    }
}

/// What [`accept_request`] made of the bytes collected so far.
#[derive(Debug)]
#[non_exhaustive]
// Returned once per handshake and moved into the driver's own (reused) box: boxing the
// connection here would allocate per handshake.
#[allow(clippy::large_enum_variant)]
pub enum Accept {
    /// The request head is not complete: read more, append it, and call again with all of it.
    Partial,
    /// Upgraded (RFC 6455 §4.2.2): write `response[..response_len]`, then run `connection`, which
    /// already holds the bytes that followed the head (the client's first frames).
    Upgraded {
        /// The length of the `101` response written to `response`.
        response_len: usize,
        /// The connection, with the negotiated extension installed.
        connection: Connection,
        /// The subprotocol, extensions and kept headers (`None` when there is nothing to say).
        agreed: Option<Box<Agreed>>,
    },
    /// Refused: write `response[..response_len]` (the rejection's status, e.g. 400, 403, 426, 431),
    /// then close the transport.
    Refused {
        /// The length of the rejection written to `response`.
        response_len: usize,
        /// Why ([`Error::Handshake`]).
        error: Error,
    },
}

/// The server's opening handshake for a driver that keeps no handshake state between reads (a
/// readiness loop holding thousands of connections): `request` is every byte read so far from the
/// client, `response` where the answer is written (at least [`ACCEPT_RESPONSE_SPACE`] bytes).
/// The request is parsed again from its start on each call, without allocating; a head longer
/// than [`MAX_REQUEST_HEAD`] is refused with 431. The same validation, hooks, extension
/// negotiation and kept headers as every other server handshake of this crate.
///
/// ```
/// use std::sync::Arc;
/// use zerows_util::{Accept, Config, accept_request};
/// use zerows_upgrade::server::Upgrader;
///
/// let request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let config = Arc::new(Config::default());
/// let mut upgrader = Upgrader::new();
/// let mut response = [0u8; zerows_util::ACCEPT_RESPONSE_SPACE];
/// assert!(matches!(
///     accept_request(&mut upgrader, &config, &request[..40], &mut response),
///     Accept::Partial
/// ));
/// match accept_request(&mut upgrader, &config, request, &mut response) {
///     Accept::Upgraded { response_len, .. } => {
///         assert!(response[..response_len].starts_with(b"HTTP/1.1 101"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn accept_request<H: Hooks>(
    upgrader: &mut Upgrader<H>,
    config: &Arc<Config>,
    request: &[u8],
    response: &mut [u8],
) -> Accept {
    let mut up = ConnectionHooks::around(upgrader, config);
    let Some((response_len, result)) = respond(&mut up, request, response) else {
        return Accept::Partial;
    };
    match result {
        Ok(head) => {
            let hooks = up.into_hooks();
            let mut connection = Connection::new(Role::Server, config, &request[head..]);
            if let Some(ext) = hooks.extension {
                connection.set_extension(ext);
            }
            let agreed = hooks.agreed;
            Accept::Upgraded {
                response_len,
                connection,
                agreed: (!agreed.is_empty()).then(|| Box::new(agreed)),
            }
        }
        Err(e) => Accept::Refused {
            response_len,
            error: Error::Handshake(e),
        },
    }
}

/// The longest request head [`accept_request`] takes: 8 KiB.
pub const MAX_REQUEST_HEAD: usize = HEAD_BUF;
/// The room [`accept_request`] needs to write its answer: 2 KiB.
pub const ACCEPT_RESPONSE_SPACE: usize = RESPONSE_BUF;

/// The client's handshake over `space` ([`HEAD_BUF`] bytes): write the request with our
/// extension offer, read the response and check it (RFC 6455 §4.1), keep what followed it.
pub(crate) struct ClientHandshake<'a> {
    request: ClientRequest<'a>,
    config: &'a Arc<Config>,
    space: &'a mut [u8],
    /// Writing the request: its length and how much was written; then reading the response.
    written: usize,
    sent: usize,
    filled: usize,
    /// Where the response head ended.
    head: Option<usize>,
}

impl<'a> ClientHandshake<'a> {
    /// `offer` is the configured extension's offer (kept by the caller for the request's
    /// lifetime).
    pub(crate) fn new(
        request: &ClientRequest<'a>,
        offer: Option<&'a str>,
        config: &'a Arc<Config>,
        space: &'a mut [u8],
    ) -> Result<ClientHandshake<'a>, Error> {
        let request = match offer {
            Some(o) => request.extensions(o),
            None => *request,
        };
        let written = request.write(space).map_err(Error::Handshake)?;
        Ok(ClientHandshake {
            request,
            config,
            space,
            written,
            sent: 0,
            filled: 0,
            head: None,
        })
    }

    /// The connection and what the server agreed; or why the server's response is refused.
    pub(crate) fn finish(self) -> Result<(Connection, Option<Box<Agreed>>), Error> {
        let buf = &self.space[..self.filled];
        let (negotiated, head) = match self.request.parse_response(buf).map_err(Error::Handshake)? {
            Status::Complete(r) => r,
            Status::Partial => return Err(Error::Handshake(UpgradeError::HeadTooLarge)),
        };
        let extension = match &self.config.extension {
            // RFC 6455 §9.1: an extension we did not offer is refused by `parse_response`; one we
            // offered is checked by its own rules.
            Some(n) => n
                .accept(negotiated.extensions())
                .map_err(Error::Extension)?,
            None => None,
        };
        let mut agreed = Agreed {
            protocol: negotiated.protocol().map(str::to_owned),
            extensions: None,
            headers: Vec::new(),
        };
        for h in negotiated.headers() {
            if h.name.eq_ignore_ascii_case("sec-websocket-extensions") {
                agreed.extensions = Some(String::from_utf8_lossy(h.value).into_owned());
            }
            agreed.keep(&self.config.keep_headers, h.name, h.value);
        }
        let mut conn = Connection::new(Role::Client, self.config, &buf[head..]);
        if let Some(ext) = extension {
            conn.set_extension(ext);
        }
        Ok((conn, (!agreed.is_empty()).then(|| Box::new(agreed))))
    }
}

impl Steps for ClientHandshake<'_> {
    fn output(&self) -> &[u8] {
        &self.space[self.sent.min(self.written)..self.written]
    }

    fn advance(&mut self, n: usize) {
        self.sent += n;
        if self.sent >= self.written {
            // The request went out: the space now holds the response.
            self.written = 0;
            self.sent = 0;
        }
    }

    fn read_target(&mut self) -> Option<&mut [u8]> {
        if self.written > 0 || self.head.is_some() {
            return None;
        }
        Some(&mut self.space[self.filled..HEAD_BUF])
    }

    fn handle_read(&mut self, n: usize) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.filled += n;
        match self
            .request
            .parse_response(&self.space[..self.filled])
            .map_err(Error::Handshake)?
        {
            Status::Complete((_, head)) => self.head = Some(head),
            Status::Partial if self.filled < HEAD_BUF => {}
            Status::Partial => return Err(Error::Handshake(UpgradeError::HeadTooLarge)),
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.head.is_some()
    }
}
