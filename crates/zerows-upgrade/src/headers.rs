//! The HTTP/1.1 head lexer shared by requests and responses (RFC 9112 §2, §5), byte classes, and
//! the borrowed [`Header`] view.
//!
//! Line endings: CRLF, and bare LF as RFC 9112 §2.2 permits ("a recipient MAY recognize a single
//! LF as a line terminator and ignore any preceding CR"). This crate always does, for the start
//! line and every header line alike. A CR that is not directly followed by LF is rejected
//! ([`Error::BareCr`]). Obsolete line folding is rejected ([`Error::ObsFold`], RFC 9112 §5.2).

use crate::{Error, Limits, Status};

/// Builds a 256-entry byte class table from a `const fn` predicate, at compile time.
macro_rules! table {
    ($pred:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            // `i < 256`, so the cast is lossless.
            #[allow(clippy::cast_possible_truncation)]
            let b = i as u8;
            t[i] = $pred(b);
            i += 1;
        }
        t
    }};
}

/// `tchar` (RFC 9110 §5.6.2).
const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' |
        b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// `field-vchar / SP / HTAB` with `obs-text` (RFC 9110 §5.5): everything but CTLs and DEL.
const fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Visible ASCII, the bytes allowed in a request target (RFC 9112 §3.2, RFC 3986).
const fn is_target_byte(b: u8) -> bool {
    b > 0x20 && b < 0x7f
}

pub(crate) static TCHAR: [bool; 256] = table!(is_tchar);
pub(crate) static VALUE: [bool; 256] = table!(is_value_byte);
pub(crate) static TARGET: [bool; 256] = table!(is_target_byte);

/// Whether `s` is a non-empty `token` (RFC 9110 §5.6.2).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| TCHAR[b as usize])
}

/// Whether `s` may be sent as a header value (no CTLs but HTAB, no DEL).
pub(crate) fn is_value(s: &[u8]) -> bool {
    s.iter().all(|&b| VALUE[b as usize])
}

/// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) on both sides.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// One header field, borrowed from the parsed head.
///
/// The name is as received (compare it with [`Header::is`], which ignores ASCII case as RFC 9110
/// §5.1 requires); the value has its leading and trailing whitespace removed and may hold
/// `obs-text` bytes (0x80–0xFF), hence `&[u8]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, a `token`.
    pub name: &'b str,
    /// The field value without surrounding whitespace.
    pub value: &'b [u8],
}

impl<'b> Header<'b> {
    /// Whether the name equals `name`, ignoring ASCII case.
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value as `&str` if it is valid UTF-8 (it is whenever it is ASCII).
    #[must_use]
    pub fn value_str(&self) -> Option<&'b str> {
        core::str::from_utf8(self.value).ok()
    }
}

/// A validated head: the start line and the header block.
#[derive(Debug)]
pub(crate) struct Head<'b> {
    /// The start line without its terminator.
    pub(crate) start: &'b [u8],
    /// Header lines, each with its terminator; the final empty line excluded.
    pub(crate) block: &'b [u8],
    /// `block` as text, if it is UTF-8 (it is ASCII in practice): checked once here so that
    /// header names need no check of their own.
    pub(crate) text: Option<&'b str>,
    /// Number of header lines in `block`.
    pub(crate) count: usize,
    /// Bytes up to and including the final empty line.
    pub(crate) len: usize,
}

/// Where a line ends, or why it cannot be had.
enum Line {
    /// Content end (terminator excluded) and the index after the LF.
    Done(usize, usize),
    Partial,
}

/// Finds the line starting at `pos`, enforcing the line and head limits.
///
/// The outcome depends only on the bytes up to the limits, never on how many bytes beyond them
/// are buffered, which keeps the parser split-invariant.
fn line(buf: &[u8], pos: usize, limits: &Limits, too_long: Error) -> Result<Line, Error> {
    let line_cap = pos.saturating_add(limits.max_line_length).saturating_add(2);
    let head_cap = limits.max_head_size;
    let end = line_cap.min(head_cap).min(buf.len());
    let window = buf.get(pos..end).unwrap_or(&[]);
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            let lf = pos + i;
            let content_end = if i > 0 && buf[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            if content_end - pos > limits.max_line_length {
                return Err(too_long);
            }
            Ok(Line::Done(content_end, lf + 1))
        }
        None if end == line_cap => Err(too_long),
        None if end == head_cap => Err(Error::HeadTooLarge),
        None => Ok(Line::Partial),
    }
}

/// Parses a head: optional leading empty lines (requests only, RFC 9112 §2.2), the start line,
/// header lines, the empty line. Header lines are fully validated; the start line only for CR.
pub(crate) fn parse_head<'b>(
    buf: &'b [u8],
    limits: &Limits,
    request: bool,
) -> Result<Status<Head<'b>>, Error> {
    let mut pos = 0;
    let start_too_long = if request {
        Error::RequestLineTooLong
    } else {
        Error::InvalidStatusLine
    };
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    let (start, mut pos) = loop {
        match line(buf, pos, limits, start_too_long)? {
            Line::Partial => return Ok(Status::Partial),
            Line::Done(end, next) if end == pos && request => pos = next,
            Line::Done(end, next) => break (&buf[pos..end], next),
        }
    };
    if memchr::memchr(b'\r', start).is_some() {
        return Err(Error::BareCr);
    }
    let block_start = pos;
    let mut count = 0;
    loop {
        // One pass per line: name bytes, then value bytes, then the terminator; no line is
        // looked at beyond `end`, so the outcome never depends on bytes past the limits.
        let line_cap = pos.saturating_add(limits.max_line_length).saturating_add(2);
        let head_cap = limits.max_head_size;
        let end = line_cap.min(head_cap).min(buf.len());
        let incomplete = || {
            if end == line_cap {
                Err(Error::HeaderLineTooLong)
            } else if end == head_cap {
                Err(Error::HeadTooLarge)
            } else {
                Ok(Status::Partial)
            }
        };
        let b = &buf[..end];
        let mut i = pos;
        while i < end && TCHAR[b[i] as usize] {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return incomplete();
        };
        let content_end = match c {
            b':' if i > pos => {
                let j = scan_value(b, i + 1);
                match b.get(j) {
                    None => return incomplete(),
                    Some(b'\n') => j,
                    Some(b'\r') => match b.get(j + 1) {
                        None => return incomplete(),
                        Some(b'\n') => j,
                        Some(_) => return Err(Error::BareCr),
                    },
                    Some(_) => return Err(Error::InvalidHeaderValue),
                }
            }
            b'\n' if i == pos => pos,
            b'\r' => match b.get(i + 1) {
                None => return incomplete(),
                Some(b'\n') if i == pos => pos,
                Some(b'\n') => return Err(Error::InvalidHeaderName),
                Some(_) => return Err(Error::BareCr),
            },
            // A continuation line (obs-fold), or whitespace before the first header (§2.2).
            b' ' | b'\t' if i == pos => return Err(Error::ObsFold),
            b' ' | b'\t' => return Err(Error::WhitespaceBeforeColon),
            _ => return Err(Error::InvalidHeaderName),
        };
        if content_end - pos > limits.max_line_length {
            return Err(Error::HeaderLineTooLong);
        }
        let next = if buf[content_end] == b'\r' {
            content_end + 2
        } else {
            content_end + 1
        };
        if content_end == pos {
            let block = &buf[block_start..pos];
            return Ok(Status::Complete(Head {
                start,
                block,
                text: core::str::from_utf8(block).ok(),
                count,
                len: next,
            }));
        }
        count += 1;
        if count > limits.max_headers {
            return Err(Error::TooManyHeaders);
        }
        pos = next;
    }
}

/// The index of the first byte at or after `i` that may not appear in a header value (CTLs but
/// HTAB, and DEL), or `b.len()`. Eight bytes at a time while all are printable or `obs-text`.
fn scan_value(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        // A byte below 0x20 (HTAB included: the byte loop below accepts it), or equal to 0x7F.
        let ctl = w.wrapping_sub(LO * 0x20) & !w & HI;
        let x = w ^ (LO * 0x7f);
        let del = x.wrapping_sub(LO) & !x & HI;
        if ctl | del != 0 {
            break;
        }
        i += 8;
    }
    while i < b.len() && VALUE[b[i] as usize] {
        i += 1;
    }
    i
}

/// Iterator over the header fields of a parsed head, in the order received.
///
/// Created by [`Request::headers`](crate::Request::headers) and
/// [`Response::headers`](crate::Response::headers).
#[derive(Clone, Debug)]
pub struct Headers<'b> {
    inner: HeadersInner<'b>,
}

#[derive(Clone, Debug)]
enum HeadersInner<'b> {
    Block {
        rest: &'b [u8],
        text: Option<&'b str>,
    },
    #[cfg(feature = "http")]
    Http(&'b ::http::HeaderMap, usize),
}

impl<'b> Headers<'b> {
    #[cfg(test)]
    pub(crate) fn block(block: &'b [u8]) -> Self {
        Self::block_text(block, core::str::from_utf8(block).ok())
    }

    /// Headers of a validated block; `text` is the block itself, when it is UTF-8.
    pub(crate) fn block_text(block: &'b [u8], text: Option<&'b str>) -> Self {
        Self {
            inner: HeadersInner::Block { rest: block, text },
        }
    }

    #[cfg(feature = "http")]
    pub(crate) fn http(map: &'b ::http::HeaderMap) -> Self {
        Self {
            inner: HeadersInner::Http(map, 0),
        }
    }
}

impl<'b> Iterator for Headers<'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        match &mut self.inner {
            HeadersInner::Block { rest, text } => {
                // The block was validated by `parse_head`: every line has a colon and a LF.
                let b: &'b [u8] = rest;
                if b.is_empty() {
                    return None;
                }
                let lf = memchr::memchr(b'\n', b).unwrap_or(b.len());
                let line_text = text.and_then(|t| t.get(..lf));
                *rest = b.get(lf + 1..).unwrap_or(&[]);
                *text = text.and_then(|t| t.get(lf + 1..));
                let mut l = &b[..lf];
                if let [body @ .., b'\r'] = l {
                    l = body;
                }
                // Names are short: a plain scan beats `memchr`'s dispatch here.
                let colon = l.iter().position(|&c| c == b':').unwrap_or(l.len());
                let name = match line_text {
                    Some(t) => t.get(..colon).unwrap_or(""),
                    None => core::str::from_utf8(&l[..colon]).unwrap_or(""),
                };
                let value = trim_ows(l.get(colon + 1..).unwrap_or(&[]));
                Some(Header { name, value })
            }
            #[cfg(feature = "http")]
            HeadersInner::Http(map, pos) => {
                // `http::header::Iter` is not `Clone`; re-walking is fine for a few headers.
                let map: &'b ::http::HeaderMap = map;
                let (n, v) = map.iter().nth(*pos)?;
                *pos += 1;
                Some(Header {
                    name: n.as_str(),
                    value: trim_ows(v.as_bytes()),
                })
            }
        }
    }
}

/// Iterator over the values of every header with one name (case-insensitive), in order.
#[derive(Clone, Debug)]
pub(crate) struct Values<'b> {
    headers: Headers<'b>,
    name: &'static str,
}

impl<'b> Values<'b> {
    pub(crate) fn new(headers: Headers<'b>, name: &'static str) -> Self {
        Self { headers, name }
    }
}

impl<'b> Iterator for Values<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        let name = self.name;
        self.headers.find(|h| h.is(name)).map(|h| h.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &[u8]) -> Result<Status<Head<'_>>, Error> {
        parse_head(s, &Limits::DEFAULT, true)
    }

    fn err(s: &[u8]) -> Error {
        head(s).expect_err("must fail")
    }

    #[test]
    fn tables() {
        assert!(is_token(b"permessage-deflate"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a\"b"));
        assert!(is_value(b"a \t\x80\xff~"));
        assert!(!is_value(b"a\rb"));
        assert!(!is_value(b"\x7f"));
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
    }

    #[test]
    fn crlf_and_bare_lf_heads() {
        for s in [
            &b"GET / HTTP/1.1\r\nA: 1\r\nB:2 \r\n\r\nrest"[..],
            b"GET / HTTP/1.1\nA: 1\nB:2 \n\nrest",
            b"GET / HTTP/1.1\r\nA: 1\nB:2 \r\n\nrest",
        ] {
            let Status::Complete(h) = head(s).unwrap() else {
                panic!("partial")
            };
            assert_eq!(h.start, b"GET / HTTP/1.1");
            assert_eq!(h.count, 2);
            assert_eq!(&s[h.len..], b"rest");
            let v: [Header<'_>; 2] = {
                let mut it = Headers::block(h.block);
                [it.next().unwrap(), it.next().unwrap()]
            };
            assert_eq!(
                v[0],
                Header {
                    name: "A",
                    value: b"1"
                }
            );
            assert_eq!(
                v[1],
                Header {
                    name: "B",
                    value: b"2"
                }
            );
        }
    }

    #[test]
    fn scan_value_matches_the_table() {
        let mut bytes = [b'a'; 40];
        for bad in 0u8..=255 {
            for at in 0..20 {
                bytes[at] = bad;
                for start in 0..8 {
                    let want = bytes[start..]
                        .iter()
                        .position(|&b| !VALUE[b as usize])
                        .map_or(bytes.len(), |p| p + start);
                    assert_eq!(scan_value(&bytes, start), want, "{bad:#x} at {at}");
                }
                bytes[at] = b'a';
            }
        }
    }

    #[test]
    fn partial_never_consumes() {
        let s = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for k in 0..s.len() {
            assert!(matches!(head(&s[..k]), Ok(Status::Partial)), "{k}");
        }
        assert!(matches!(head(s), Ok(Status::Complete(_))));
    }

    #[test]
    fn leading_empty_lines_ignored_in_requests_only() {
        assert!(matches!(
            head(b"\r\n\nGET / HTTP/1.1\r\n\r\n"),
            Ok(Status::Complete(Head { len: 21, .. }))
        ));
        // responses get no such leniency: the empty line is the (invalid) status line, and the
        // real status line then fails as a header line
        assert!(parse_head(b"\r\nHTTP/1.1 101 x\r\n\r\n", &Limits::DEFAULT, false).is_err());
    }

    #[test]
    fn syntax_rejections() {
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n"),
            Error::ObsFold
        );
        assert_eq!(err(b"GET / HTTP/1.1\r\n\tA: 1\r\n\r\n"), Error::ObsFold);
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nA : 1\r\n\r\n"),
            Error::WhitespaceBeforeColon
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nA\t: 1\r\n\r\n"),
            Error::WhitespaceBeforeColon
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\n: 1\r\n\r\n"),
            Error::InvalidHeaderName
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nA(: 1\r\n\r\n"),
            Error::InvalidHeaderName
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"),
            Error::InvalidHeaderName
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nA: 1\x002\r\n\r\n"),
            Error::InvalidHeaderValue
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nA: 1\x7f\r\n\r\n"),
            Error::InvalidHeaderValue
        );
        assert_eq!(err(b"GET / HTTP/1.1\r\nA: 1\r2\r\n\r\n"), Error::BareCr);
        assert_eq!(err(b"GET / HTTP/1.1\r\nA\r: 1\r\n\r\n"), Error::BareCr);
        assert_eq!(err(b"GET / HT\rTP/1.1\r\n\r\n"), Error::BareCr);
        assert_eq!(err(b"GET / HTTP/1.1\r\nA: 1\r\n\r\r\n"), Error::BareCr);
    }

    #[test]
    fn limits() {
        let small = Limits::new()
            .with_max_line_length(10)
            .with_max_headers(2)
            .with_max_head_size(40);
        let p = |s: &'static [u8]| parse_head(s, &small, true);
        assert_eq!(
            p(b"GET /abcdefgh HTTP/1.1").unwrap_err(),
            Error::RequestLineTooLong
        );
        assert_eq!(
            p(b"GET / H\r\nA: 12345678\r\n").unwrap_err(),
            Error::HeaderLineTooLong
        );
        assert_eq!(
            p(b"GET / H\r\nA: 1234567890123").unwrap_err(),
            Error::HeaderLineTooLong
        );
        // exactly at the line limit is fine
        assert!(matches!(
            p(b"GET / H\r\nA: 1234567\r\n"),
            Ok(Status::Partial)
        ));
        assert!(matches!(p(b"GET / H\nA: 1234567\n"), Ok(Status::Partial)));
        assert_eq!(
            p(b"GET / H\nA: 12345678\n").unwrap_err(),
            Error::HeaderLineTooLong
        );
        assert_eq!(
            p(b"GET / H\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").unwrap_err(),
            Error::TooManyHeaders
        );
        assert_eq!(
            p(b"GET / H\r\nA: 1234567\r\nB: 1234567\r\nC: 1234567\r\n").unwrap_err(),
            Error::HeadTooLarge
        );
        // the head limit counts the final empty line too
        let exact = b"GET / H\r\nA: 1234567\r\nB: 123456\r\n\r\n";
        assert_eq!(exact.len(), 34);
        assert!(parse_head(exact, &small.with_max_head_size(34), true).is_ok());
        assert_eq!(
            parse_head(exact, &small.with_max_head_size(33), true).unwrap_err(),
            Error::HeadTooLarge
        );
    }
}
