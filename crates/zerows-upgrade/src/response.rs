//! The response head: [`parse_response`] and the borrowed [`Response`] view.

use crate::headers::{self, Headers, VALUE, Values};
use crate::request::parse_version;
use crate::{Error, Limits, Status, StatusCode};

/// A parsed response head, borrowing the buffer it was parsed from.
#[derive(Clone, Debug)]
pub struct Response<'b> {
    version: (u8, u8),
    status: StatusCode,
    reason: &'b [u8],
    block: &'b [u8],
    text: Option<&'b str>,
    count: usize,
}

impl<'b> Response<'b> {
    /// The status code.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason phrase as received (may be empty).
    #[must_use]
    pub fn reason(&self) -> &'b [u8] {
        self.reason
    }

    /// The HTTP version as `(major, minor)`.
    #[must_use]
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    /// The header fields in the order received.
    #[must_use]
    pub fn headers(&self) -> Headers<'b> {
        Headers::block_text(self.block, self.text)
    }

    /// Number of header fields.
    #[must_use]
    pub fn header_count(&self) -> usize {
        self.count
    }

    /// The value of the first header named `name` (ASCII case-insensitive), trimmed.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers().find(|h| h.is(name)).map(|h| h.value)
    }

    pub(crate) fn values(&self, name: &'static str) -> Values<'b> {
        Values::new(self.headers(), name)
    }
}

/// Parses a response head from the start of `buf`; see [`parse_request`](crate::parse_request)
/// for the contract (`Partial` consumes nothing; the count is the head's length).
///
/// `status-line = HTTP-version SP status-code SP [ reason-phrase ]` (RFC 9112 §4); a missing
/// final SP before an empty reason is tolerated, as many servers omit it.
pub fn parse_response<'b>(
    buf: &'b [u8],
    limits: &Limits,
) -> Result<Status<(Response<'b>, usize)>, Error> {
    let head = match headers::parse_head(buf, limits, false)? {
        Status::Partial => return Ok(Status::Partial),
        Status::Complete(h) => h,
    };
    let l = head.start;
    let (version, code, reason) = match l {
        [v @ .., b' ', d0, d1, d2] if v.len() == 8 => (v, [*d0, *d1, *d2], &[][..]),
        _ if l.len() >= 13 && l[8] == b' ' && l[12] == b' ' => {
            (&l[..8], [l[9], l[10], l[11]], &l[13..])
        }
        _ => return Err(Error::InvalidStatusLine),
    };
    let version = parse_version(version).ok_or(Error::InvalidStatusLine)?;
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(Error::InvalidStatusLine);
    }
    if !reason.iter().all(|&b| VALUE[b as usize]) {
        return Err(Error::InvalidStatusLine);
    }
    let status = StatusCode::new(
        u16::from(code[0] - b'0') * 100
            + u16::from(code[1] - b'0') * 10
            + u16::from(code[2] - b'0'),
    );
    Ok(Status::Complete((
        Response {
            version,
            status,
            reason,
            block: head.block,
            text: head.text,
            count: head.count,
        },
        head.len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(s: &[u8]) -> Result<Response<'_>, Error> {
        match parse_response(s, &Limits::DEFAULT)? {
            Status::Complete((r, _)) => Ok(r),
            Status::Partial => panic!("partial"),
        }
    }

    #[test]
    fn status_lines() {
        let r = resp(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").unwrap();
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(r.reason(), b"Switching Protocols");
        assert_eq!(r.header("upgrade"), Some(&b"websocket"[..]));
        assert_eq!(r.version(), (1, 1));
        assert_eq!(resp(b"HTTP/1.1 101\r\n\r\n").unwrap().reason(), b"");
        assert_eq!(
            resp(b"HTTP/1.1 404 \r\n\r\n").unwrap().status().as_u16(),
            404
        );
        for bad in [
            &b"HTTP/1.1 1O1 x\r\n\r\n"[..],
            b"HTTP/1.1 101x\r\n\r\n",
            b"HTTP/1.1  101 x\r\n\r\n",
            b"HTTP/1.1 011 x\r\n\r\n",
            b"HTTP/1.1 101 a\x01\r\n\r\n",
            b"HTTP/1 101 x\r\n\r\n",
            b"ICY 200 OK\r\n\r\n",
        ] {
            assert_eq!(resp(bad).unwrap_err(), Error::InvalidStatusLine, "{bad:?}");
        }
    }
}
