//! Interop with the [`http`] crate (feature `http`): upgrade inside hyper, axum or any
//! framework that hands you an `http::Request` (the gobwas `HTTPUpgrader` equivalent).
//!
//! The same validation and [`Hooks`] run as over a raw stream; the framework then performs the
//! protocol switch (with hyper: return the `101` and await `hyper::upgrade::on(req)`; see
//! `examples/hyper_upgrade.rs`). This path allocates (the `http` types do); the raw-stream path
//! does not.
//!
//! ```
//! let req = http::Request::get("/chat")
//!     .header("Host", "example.com")
//!     .header("Upgrade", "websocket")
//!     .header("Connection", "Upgrade")
//!     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
//!     .header("Sec-WebSocket-Version", "13")
//!     .body(())
//!     .unwrap();
//! let mut upgrader = zerows_upgrade::server::Upgrader::new();
//! let resp = zerows_upgrade::http::upgrade(&mut upgrader, &req).unwrap();
//! assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
//! assert_eq!(resp.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! ```

use ::http::header::{self, HeaderValue};
use ::http::{HeaderMap, Response};

use crate::server::{Accepted, Hooks, Rejected, Upgrader};
use crate::write::HeaderWriter;
use crate::{Error, Request};

/// A refused upgrade: the error and the response to send (body included).
#[derive(Debug)]
pub struct Refused {
    /// Why the request was refused.
    pub error: Error,
    /// The response to send; map the body into your framework's body type.
    pub response: Response<&'static [u8]>,
}

/// Validates `req` (RFC 6455 §4.2.1), runs the hooks, and builds the `101` response.
///
/// # Errors
/// The refusal, with its response.
// Both variants hold an `http::Response` of similar size; boxing one would only add an
// allocation.
#[allow(clippy::result_large_err)]
pub fn upgrade<B, H: Hooks>(
    upgrader: &mut Upgrader<H>,
    req: &::http::Request<B>,
) -> Result<Response<()>, Refused> {
    let view = Request::from_http(req);
    match upgrader.negotiate(&view) {
        Ok(a) => response(upgrader, &a).map_err(|e| refused(&Rejected::from(e))),
        Err(r) => Err(refused(&r)),
    }
}

/// The `101 Switching Protocols` response for an accepted request (RFC 6455 §4.2.2 item 5).
///
/// # Errors
/// [`Error::InvalidResponseHeader`] if a hook wrote an invalid header.
pub fn response<H: Hooks>(
    upgrader: &mut Upgrader<H>,
    a: &Accepted<'_>,
) -> Result<Response<()>, Error> {
    let mut resp = Response::new(());
    *resp.status_mut() = ::http::StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_bytes(a.accept_key().as_bytes())
        .map_err(|_| Error::InvalidResponseHeader)?;
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(p) = a.protocol() {
        let v = HeaderValue::from_str(p).map_err(|_| Error::InvalidResponseHeader)?;
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    if let Some(e) = a.extensions() {
        let v = HeaderValue::from_str(e).map_err(|_| Error::InvalidResponseHeader)?;
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
    }
    let mut w = HeaderWriter::map(h);
    upgrader.hooks_mut().response_headers(&mut w);
    if w.is_invalid() {
        return Err(Error::InvalidResponseHeader);
    }
    Ok(resp)
}

fn refused(r: &Rejected) -> Refused {
    let (status, extra, body) = r.parts();
    let mut resp = Response::new(body);
    *resp.status_mut() =
        ::http::StatusCode::from_u16(status.as_u16()).unwrap_or(::http::StatusCode::BAD_REQUEST);
    let h: &mut HeaderMap = resp.headers_mut();
    match r.error() {
        Error::UnsupportedVersion => {
            h.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        Error::MethodNotAllowed => {
            h.insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        _ => {}
    }
    for (n, v) in extra {
        if let (Ok(n), Ok(v)) = (
            ::http::HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(n, v);
        }
    }
    if r.is_default() && !body.is_empty() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Refused {
        error: r.error(),
        response: resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{HookResult, Rejection};

    fn request() -> ::http::request::Builder {
        ::http::Request::get("/chat?x=1")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
    }

    struct H;
    impl Hooks for H {
        fn on_request(&mut self, target: &str) -> HookResult {
            if target == "/chat?x=1" {
                Ok(())
            } else {
                Err(Rejection::NOT_FOUND.with_body(b"nope"))
            }
        }
        fn select_protocol<'b>(
            &mut self,
            mut offered: crate::server::Protocols<'b>,
        ) -> Option<&'b str> {
            offered.find(|p| *p == "b")
        }
        fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
            out.header_fmt("Set-Cookie", format_args!("sid={}", 42));
        }
    }

    #[test]
    fn accepts_and_builds_101() {
        let req = request()
            .header("Sec-WebSocket-Protocol", "a, b")
            .body(())
            .unwrap();
        let resp = upgrade(&mut Upgrader::with_hooks(H), &req).unwrap();
        assert_eq!(resp.status(), 101);
        assert_eq!(resp.headers()["upgrade"], "websocket");
        assert_eq!(resp.headers()["connection"], "Upgrade");
        assert_eq!(resp.headers()["sec-websocket-protocol"], "b");
        assert_eq!(resp.headers()["set-cookie"], "sid=42");
    }

    #[test]
    fn refusals_carry_status_and_headers() {
        let req = request()
            .header("Sec-WebSocket-Version", "8")
            .body(())
            .unwrap();
        let r = upgrade(&mut Upgrader::new(), &req).unwrap_err();
        assert_eq!(r.error, Error::UnsupportedVersion);
        assert_eq!(r.response.status(), 426);
        assert_eq!(r.response.headers()["sec-websocket-version"], "13");
        let req = ::http::Request::post("/chat").body(()).unwrap();
        let r = upgrade(&mut Upgrader::new(), &req).unwrap_err();
        assert_eq!(r.response.status(), 405);
        assert_eq!(r.response.headers()["allow"], "GET");
        let req = request().uri("/other").body(()).unwrap();
        let r = upgrade(&mut Upgrader::with_hooks(H), &req).unwrap_err();
        assert_eq!(
            (r.response.status().as_u16(), *r.response.body()),
            (404, &b"nope"[..])
        );
        let req = request()
            .version(::http::Version::HTTP_10)
            .body(())
            .unwrap();
        assert_eq!(
            upgrade(&mut Upgrader::new(), &req)
                .unwrap_err()
                .response
                .status(),
            505
        );
    }
}
