//! The crate's error type and the HTTP status code each error answers with.

use core::fmt;

/// An HTTP status code, as written on the status line of a response.
///
/// A newtype rather than a bare `u16` so that the codes this crate answers with have names; any
/// value can still be built with [`StatusCode::new`] (hooks may reject with any status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

impl StatusCode {
    /// `101 Switching Protocols`: the handshake succeeded (RFC 6455 §4.2.2).
    pub const SWITCHING_PROTOCOLS: Self = Self(101);
    /// `400 Bad Request`: a malformed request or a missing/invalid handshake header.
    pub const BAD_REQUEST: Self = Self(400);
    /// `401 Unauthorized`, for hooks that authenticate.
    pub const UNAUTHORIZED: Self = Self(401);
    /// `403 Forbidden`: e.g. an `Origin` that is not allowed (RFC 6455 §4.2.2, §10.2).
    pub const FORBIDDEN: Self = Self(403);
    /// `404 Not Found`: for hooks that route on the request target.
    pub const NOT_FOUND: Self = Self(404);
    /// `405 Method Not Allowed`: the method was not `GET` (RFC 6455 §4.1, item 2).
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// `414 URI Too Long`: the request line exceeds the line limit (RFC 9112 §3).
    pub const URI_TOO_LONG: Self = Self(414);
    /// `426 Upgrade Required`: `Sec-WebSocket-Version` was not 13 (RFC 6455 §4.2.2, §4.4).
    pub const UPGRADE_REQUIRED: Self = Self(426);
    /// `431 Request Header Fields Too Large` (RFC 6585 §5): a head, line or count limit was hit.
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: Self = Self(431);
    /// `500 Internal Server Error`: a hook produced an invalid response header.
    pub const INTERNAL_SERVER_ERROR: Self = Self(500);
    /// `502 Bad Gateway`: used as the status of errors found in a *response* (client side).
    pub const BAD_GATEWAY: Self = Self(502);
    /// `505 HTTP Version Not Supported`: the request was not HTTP/1.1 or later (RFC 6455 §4.1).
    pub const HTTP_VERSION_NOT_SUPPORTED: Self = Self(505);

    /// A status code from its number. Codes outside `100..=999` are clamped into that range
    /// (status codes are exactly three digits, RFC 9110 §15).
    #[must_use]
    pub const fn new(code: u16) -> Self {
        if code < 100 {
            Self(100)
        } else if code > 999 {
            Self(999)
        } else {
            Self(code)
        }
    }

    /// The numeric code.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The three ASCII digits of the code.
    #[must_use]
    pub const fn digits(self) -> [u8; 3] {
        let c = self.0;
        // `new` keeps the code in 100..=999, so each digit fits and the casts never truncate.
        #[allow(clippy::cast_possible_truncation)]
        [
            b'0' + (c / 100 % 10) as u8,
            b'0' + (c / 10 % 10) as u8,
            b'0' + (c % 10) as u8,
        ]
    }

    /// The canonical reason phrase (RFC 9110 §15), or `""` for codes this crate does not name.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self.0 {
            101 => "Switching Protocols",
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            414 => "URI Too Long",
            426 => "Upgrade Required",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "",
        }
    }
}

impl From<StatusCode> for u16 {
    fn from(s: StatusCode) -> u16 {
        s.0
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

/// Everything that can go wrong in an opening handshake, on either side.
///
/// Small and `Copy`: no variant owns data beyond a status code or a size. Every variant maps to
/// the HTTP status a server answers with ([`Error::status`]); errors that can only be found in a
/// server's *response* (client side) map to `502 Bad Gateway`, the status a proxy would use, and
/// are never written on the wire by this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    // ---- HTTP/1.1 head syntax (RFC 9112) ----
    /// The head (start line and header section) is longer than [`Limits::max_head_size`] or the
    /// buffer it is read into. `431`.
    ///
    /// [`Limits::max_head_size`]: crate::Limits::max_head_size
    HeadTooLarge,
    /// A header line is longer than [`Limits::max_line_length`]. `431`.
    ///
    /// [`Limits::max_line_length`]: crate::Limits::max_line_length
    HeaderLineTooLong,
    /// The request line is longer than [`Limits::max_line_length`] (RFC 9112 §3). `414`.
    ///
    /// [`Limits::max_line_length`]: crate::Limits::max_line_length
    RequestLineTooLong,
    /// More header fields than [`Limits::max_headers`]. `431`.
    ///
    /// [`Limits::max_headers`]: crate::Limits::max_headers
    TooManyHeaders,
    /// The request line is not `method SP request-target SP HTTP-version` (RFC 9112 §3). `400`.
    InvalidRequestLine,
    /// The request target is not in origin-form or absolute-form, or has bytes outside
    /// visible ASCII (RFC 9112 §3.2). `400`.
    InvalidTarget,
    /// The status line is not `HTTP-version SP 3DIGIT SP reason` (RFC 9112 §4). `502`.
    InvalidStatusLine,
    /// A header name is empty or holds a byte that is not a `tchar` (RFC 9110 §5.1). `400`.
    InvalidHeaderName,
    /// Whitespace between a header name and the colon (RFC 9112 §5.1: MUST be rejected with
    /// 400). `400`.
    WhitespaceBeforeColon,
    /// A header value holds a control character (RFC 9110 §5.5). `400`.
    InvalidHeaderValue,
    /// Obsolete line folding (RFC 9112 §5.2: a server MAY reject it with 400; this crate always
    /// does, on both sides). Also whitespace before the first header line (RFC 9112 §2.2). `400`.
    ObsFold,
    /// A CR not followed by LF (RFC 9112 §2.2: a bare CR MUST be rejected). `400`.
    BareCr,

    // ---- WebSocket request rules (RFC 6455 §4.1 and §4.2.1) ----
    /// The method is not `GET` (RFC 6455 §4.2.1, item 1). `405` with `Allow: GET`.
    MethodNotAllowed,
    /// The HTTP version is not 1.1 or later within HTTP/1 (RFC 6455 §4.2.1, item 1). `505`.
    UnsupportedHttpVersion,
    /// No `Host` header (RFC 6455 §4.2.1, item 2). `400`.
    MissingHost,
    /// More than one `Host` header (RFC 9112 §3.2: MUST answer 400). `400`.
    DuplicateHost,
    /// No `Upgrade` header containing the token `websocket` (RFC 6455 §4.2.1, item 3). `400`.
    MissingUpgrade,
    /// No `Connection` header containing the token `Upgrade` (RFC 6455 §4.2.1, item 4). `400`.
    MissingConnection,
    /// No `Sec-WebSocket-Key` header (RFC 6455 §4.2.1, item 5). `400`.
    MissingKey,
    /// `Sec-WebSocket-Key` does not base64-decode to exactly 16 bytes (RFC 6455 §4.2.1, item 5),
    /// or appears more than once (§11.3.1). `400`.
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing, repeated or not `13` (RFC 6455 §4.2.1, item 6;
    /// §4.4). `426` with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Protocol` is not a comma-separated list of tokens (RFC 6455 §4.1, §11.3.4).
    /// `400`.
    InvalidProtocol,
    /// `Sec-WebSocket-Extensions` does not follow the RFC 6455 §9.1 grammar. `400`.
    InvalidExtensions,
    /// A hook rejected the request with this status.
    Rejected(StatusCode),
    /// A hook wrote a response header with an invalid name or a value with control characters
    /// (which would let it inject headers). `500`.
    InvalidResponseHeader,

    // ---- client side: validating the server's response (RFC 6455 §4.1, "the client MUST") ----
    /// The server answered with this status instead of `101` (RFC 6455 §4.1, item 1 of the
    /// response checks).
    UnexpectedStatus(StatusCode),
    /// The response is not `HTTP/1.1`. `502`.
    InvalidResponseVersion,
    /// No `Sec-WebSocket-Accept`, or it is not the expected value (RFC 6455 §4.1, item 4). `502`.
    InvalidAccept,
    /// The server selected a subprotocol the client did not offer, or more than one
    /// (RFC 6455 §4.1, item 6). `502`.
    UnexpectedProtocol,
    /// The server accepted an extension the client did not offer (RFC 6455 §4.1, item 5). `502`.
    UnexpectedExtension,

    // ---- encoding ----
    /// The output buffer is too small; `required` is the size that would have fitted.
    InsufficientSize {
        /// Bytes needed for the whole output.
        required: usize,
    },
    /// A client request header (host, path or custom header) holds a byte that would break the
    /// request (CR, LF, NUL, or a non-token name).
    InvalidRequestHeader,
}

impl Error {
    /// The HTTP status a server answers with when it finds this error in a request.
    ///
    /// For [`Error::UnexpectedStatus`] it is the status the server sent; for the other errors
    /// only a client can find (in a response) it is `502 Bad Gateway`.
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::HeadTooLarge | Self::HeaderLineTooLong | Self::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::RequestLineTooLong => StatusCode::URI_TOO_LONG,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedHttpVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            Self::Rejected(s) | Self::UnexpectedStatus(s) => *s,
            Self::InvalidResponseHeader
            | Self::InsufficientSize { .. }
            | Self::InvalidRequestHeader => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidStatusLine
            | Self::InvalidResponseVersion
            | Self::InvalidAccept
            | Self::UnexpectedProtocol
            | Self::UnexpectedExtension => StatusCode::BAD_GATEWAY,
            Self::InvalidRequestLine
            | Self::InvalidTarget
            | Self::InvalidHeaderName
            | Self::WhitespaceBeforeColon
            | Self::InvalidHeaderValue
            | Self::ObsFold
            | Self::BareCr
            | Self::MissingHost
            | Self::DuplicateHost
            | Self::MissingUpgrade
            | Self::MissingConnection
            | Self::MissingKey
            | Self::InvalidKey
            | Self::InvalidProtocol
            | Self::InvalidExtensions => StatusCode::BAD_REQUEST,
        }
    }

    /// A one-line description; also the default body of a rejection response.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::HeadTooLarge => "request head too large",
            Self::HeaderLineTooLong => "header line too long",
            Self::RequestLineTooLong => "request line too long",
            Self::TooManyHeaders => "too many header fields",
            Self::InvalidRequestLine => "malformed request line",
            Self::InvalidTarget => "malformed request target",
            Self::InvalidStatusLine => "malformed status line",
            Self::InvalidHeaderName => "malformed header name",
            Self::WhitespaceBeforeColon => "whitespace between header name and colon",
            Self::InvalidHeaderValue => "control character in header value",
            Self::ObsFold => "obsolete line folding is not accepted",
            Self::BareCr => "bare CR in head",
            Self::MethodNotAllowed => "websocket upgrade requires GET",
            Self::UnsupportedHttpVersion => "websocket upgrade requires HTTP/1.1",
            Self::MissingHost => "missing Host header",
            Self::DuplicateHost => "more than one Host header",
            Self::MissingUpgrade => "missing 'Upgrade: websocket'",
            Self::MissingConnection => "missing 'Connection: Upgrade'",
            Self::MissingKey => "missing Sec-WebSocket-Key",
            Self::InvalidKey => "Sec-WebSocket-Key is not 16 base64-encoded bytes",
            Self::UnsupportedVersion => "unsupported Sec-WebSocket-Version (13 is supported)",
            Self::InvalidProtocol => "malformed Sec-WebSocket-Protocol",
            Self::InvalidExtensions => "malformed Sec-WebSocket-Extensions",
            Self::Rejected(_) => "rejected by the server",
            Self::InvalidResponseHeader => "invalid response header from a hook",
            Self::UnexpectedStatus(_) => "server did not switch protocols",
            Self::InvalidResponseVersion => "response is not HTTP/1.1",
            Self::InvalidAccept => "missing or wrong Sec-WebSocket-Accept",
            Self::UnexpectedProtocol => "server selected a subprotocol that was not offered",
            Self::UnexpectedExtension => "server accepted an extension that was not offered",
            Self::InsufficientSize { .. } => "output buffer too small",
            Self::InvalidRequestHeader => "invalid byte in a request header",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(s) | Self::UnexpectedStatus(s) => write!(f, "{}: {s}", self.as_str()),
            Self::InsufficientSize { required } => {
                write!(f, "{} ({required} bytes needed)", self.as_str())
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small() {
        assert!(core::mem::size_of::<Error>() <= 16);
    }

    #[test]
    fn status_mapping() {
        let table = [
            (Error::HeadTooLarge, 431),
            (Error::HeaderLineTooLong, 431),
            (Error::TooManyHeaders, 431),
            (Error::RequestLineTooLong, 414),
            (Error::InvalidRequestLine, 400),
            (Error::ObsFold, 400),
            (Error::WhitespaceBeforeColon, 400),
            (Error::MethodNotAllowed, 405),
            (Error::UnsupportedHttpVersion, 505),
            (Error::MissingHost, 400),
            (Error::MissingKey, 400),
            (Error::UnsupportedVersion, 426),
            (Error::Rejected(StatusCode::NOT_FOUND), 404),
            (Error::Rejected(StatusCode::FORBIDDEN), 403),
            (Error::UnexpectedStatus(StatusCode::new(401)), 401),
            (Error::InvalidAccept, 502),
        ];
        for (e, code) in table {
            assert_eq!(e.status().as_u16(), code, "{e:?}");
            assert!(!e.as_str().is_empty());
        }
    }

    #[test]
    fn status_code_digits_and_clamp() {
        assert_eq!(&StatusCode::new(426).digits(), b"426");
        assert_eq!(StatusCode::new(7).as_u16(), 100);
        assert_eq!(StatusCode::new(1234).as_u16(), 999);
        assert_eq!(StatusCode::UPGRADE_REQUIRED.reason(), "Upgrade Required");
    }
}
