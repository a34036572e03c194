//! Writing heads: an internal byte sink (a caller slice, or a stack buffer in front of an
//! `io::Write`), the [`HeaderWriter`] hooks use, and the response/rejection/request layouts.

use core::fmt;

use crate::headers::{is_token, is_value};
use crate::{Error, StatusCode};

/// Where head bytes go.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    /// Forgets everything put since the start, if nothing has left the sink yet.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    fn rewind(&mut self) -> bool;
}

/// Writes into a caller slice; counts what did not fit so the required size can be reported.
pub(crate) struct SliceSink<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> SliceSink<'o> {
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        Self { out, len: 0 }
    }

    pub(crate) fn finish(self) -> Result<usize, Error> {
        if self.len <= self.out.len() {
            Ok(self.len)
        } else {
            Err(Error::InsufficientSize { required: self.len })
        }
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    fn rewind(&mut self) -> bool {
        self.len = 0;
        true
    }
}

/// Batches head bytes in a stack buffer and writes them to an `io::Write` in as few calls as
/// possible (one, unless hooks add more than the buffer holds).
#[cfg(feature = "std")]
pub(crate) struct IoSink<'w, W: std::io::Write + ?Sized> {
    w: &'w mut W,
    buf: [u8; IO_CHUNK],
    len: usize,
    flushed: bool,
    err: Option<std::io::Error>,
}

#[cfg(feature = "std")]
const IO_CHUNK: usize = 1024;

#[cfg(feature = "std")]
impl<'w, W: std::io::Write + ?Sized> IoSink<'w, W> {
    pub(crate) fn new(w: &'w mut W) -> Self {
        Self {
            w,
            buf: [0; IO_CHUNK],
            len: 0,
            flushed: false,
            err: None,
        }
    }

    fn drain(&mut self) {
        if self.err.is_none()
            && self.len > 0
            && let Err(e) = self.w.write_all(&self.buf[..self.len])
        {
            self.err = Some(e);
        }
        self.len = 0;
    }

    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.drain();
        match self.err.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        }
    }
}

#[cfg(feature = "std")]
impl<W: std::io::Write + ?Sized> Sink for IoSink<'_, W> {
    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == IO_CHUNK {
                self.drain();
                self.flushed = true;
            }
            let n = bytes.len().min(IO_CHUNK - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    fn rewind(&mut self) -> bool {
        self.len = 0;
        !self.flushed
    }
}

/// Lets `core::fmt` write into a sink, checking that every byte may appear in a header value.
struct FmtValue<'a> {
    sink: Option<&'a mut dyn Sink>,
    ok: bool,
}

impl fmt::Write for FmtValue<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !is_value(s.as_bytes()) {
            self.ok = false;
        }
        if let Some(sink) = self.sink.as_deref_mut() {
            sink.put(s.as_bytes());
        }
        Ok(())
    }
}

/// Adds headers to a response; handed to [`Hooks::response_headers`](crate::server::Hooks::response_headers).
///
/// Names must be tokens and values must not hold control characters (so no header can be
/// injected); an invalid header is not written and fails the upgrade with
/// [`Error::InvalidResponseHeader`] (`500`).
pub struct HeaderWriter<'a> {
    target: Target<'a>,
    invalid: bool,
}

enum Target<'a> {
    Wire(&'a mut dyn Sink),
    #[cfg(feature = "http")]
    Map(&'a mut ::http::HeaderMap),
}

impl<'a> HeaderWriter<'a> {
    pub(crate) fn wire(sink: &'a mut dyn Sink) -> Self {
        Self {
            target: Target::Wire(sink),
            invalid: false,
        }
    }

    #[cfg(feature = "http")]
    pub(crate) fn map(map: &'a mut ::http::HeaderMap) -> Self {
        Self {
            target: Target::Map(map),
            invalid: false,
        }
    }

    pub(crate) fn is_invalid(&self) -> bool {
        self.invalid
    }

    /// Adds `name: value`.
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        if !is_token(name.as_bytes()) || !is_value(value) {
            self.invalid = true;
            return self;
        }
        match &mut self.target {
            Target::Wire(sink) => {
                sink.put(name.as_bytes());
                sink.put(b": ");
                sink.put(value);
                sink.put(b"\r\n");
            }
            #[cfg(feature = "http")]
            Target::Map(map) => {
                match (
                    ::http::HeaderName::from_bytes(name.as_bytes()),
                    ::http::HeaderValue::from_bytes(value),
                ) {
                    (Ok(n), Ok(v)) => {
                        map.append(n, v);
                    }
                    _ => self.invalid = true,
                }
            }
        }
        self
    }

    /// Adds `name: <formatted value>` without allocating, e.g.
    /// `w.header_fmt("Set-Cookie", format_args!("sid={id}; HttpOnly"))`.
    ///
    /// The arguments are formatted twice (once to check them, once to write them), so they must
    /// format the same way both times.
    pub fn header_fmt(&mut self, name: &str, value: fmt::Arguments<'_>) -> &mut Self {
        let mut check = FmtValue {
            sink: None,
            ok: true,
        };
        let _ = fmt::write(&mut check, value);
        if !is_token(name.as_bytes()) || !check.ok {
            self.invalid = true;
            return self;
        }
        match &mut self.target {
            Target::Wire(sink) => {
                sink.put(name.as_bytes());
                sink.put(b": ");
                let mut w = FmtValue {
                    sink: Some(&mut **sink),
                    ok: true,
                };
                let _ = fmt::write(&mut w, value);
                sink.put(b"\r\n");
            }
            #[cfg(feature = "http")]
            Target::Map(_) => {
                let s = std::fmt::format(value);
                self.header(name, s.as_bytes());
            }
        }
        self
    }
}

/// Writes a decimal number.
pub(crate) fn put_usize(sink: &mut dyn Sink, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10 < 10`, so the cast never truncates.
        #[allow(clippy::cast_possible_truncation)]
        let d = (n % 10) as u8;
        digits[i] = b'0' + d;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    sink.put(&digits[i..]);
}

/// `HTTP/1.1 <code> <reason>\r\n`.
pub(crate) fn put_status_line(sink: &mut dyn Sink, status: StatusCode) {
    sink.put(b"HTTP/1.1 ");
    sink.put(&status.digits());
    sink.put(b" ");
    sink.put(status.reason().as_bytes());
    sink.put(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_sink_reports_required() {
        let mut out = [0u8; 4];
        let mut s = SliceSink::new(&mut out);
        s.put(b"abc");
        s.put(b"def");
        assert_eq!(s.finish(), Err(Error::InsufficientSize { required: 6 }));
        let mut s = SliceSink::new(&mut out);
        put_usize(&mut s, 1234);
        assert_eq!(s.finish(), Ok(4));
        assert_eq!(&out, b"1234");
    }

    #[test]
    fn header_writer_rejects_injection() {
        let mut out = [0u8; 128];
        let mut s = SliceSink::new(&mut out);
        let mut w = HeaderWriter::wire(&mut s);
        w.header("Set-Cookie", "a=1");
        w.header_fmt("X-N", format_args!("{}-{}", 1, 2));
        assert!(!w.is_invalid());
        w.header("X", "a\r\nEvil: 1");
        assert!(w.is_invalid());
        let mut w = HeaderWriter::wire(&mut s);
        w.header_fmt("X", format_args!("{}", "a\nb"));
        assert!(w.is_invalid());
        let mut w = HeaderWriter::wire(&mut s);
        w.header("Bad Name", "1");
        assert!(w.is_invalid());
        let n = s.finish().unwrap();
        assert_eq!(&out[..n], b"Set-Cookie: a=1\r\nX-N: 1-2\r\n");
    }

    #[cfg(feature = "std")]
    #[test]
    fn io_sink_batches() {
        struct Counting(std::vec::Vec<u8>, usize);
        impl std::io::Write for Counting {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.extend_from_slice(b);
                self.1 += 1;
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut c = Counting(std::vec::Vec::new(), 0);
        let mut s = IoSink::new(&mut c);
        s.put(b"hello ");
        s.put(b"world");
        assert!(s.rewind());
        s.put(b"x");
        s.finish().unwrap();
        assert_eq!((&c.0[..], c.1), (&b"x"[..], 1));
        let mut c = Counting(std::vec::Vec::new(), 0);
        let mut s = IoSink::new(&mut c);
        let big = [b'a'; 3000];
        s.put(&big);
        assert!(!s.rewind());
        s.finish().unwrap();
        assert_eq!((c.0.len(), c.1), (2048, 2));
    }
}
