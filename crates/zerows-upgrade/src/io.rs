//! The std layer: the handshakes over any `std::io::Read + Write`, reading into a caller buffer.

use core::ops::Range;
use std::io::{self, Read, Write};

use crate::client::{ClientRequest, Negotiated};
use crate::server::{Accepted, Hooks, Rejected, Upgrader};
use crate::write::{IoSink, Sink};
use crate::{Error, Status};

/// An error of [`accept`] or [`handshake`]: I/O, or the handshake itself.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Reading or writing failed; `UnexpectedEof` if the peer closed before the head was
    /// complete.
    Io(io::Error),
    /// The handshake failed. On the server side the rejection response has been written; on
    /// the client side [`Error::UnexpectedStatus`] carries a non-101 status.
    Protocol(Error),
}

impl HandshakeError {
    /// The HTTP status of a protocol error (the one a server sent, or answered with).
    #[must_use]
    pub fn status(&self) -> Option<crate::StatusCode> {
        match self {
            Self::Io(_) => None,
            Self::Protocol(e) => Some(e.status()),
        }
    }
}

impl core::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "websocket handshake I/O: {e}"),
            Self::Protocol(e) => write!(f, "websocket handshake: {e}"),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Protocol(e) => Some(e),
        }
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<Error> for HandshakeError {
    fn from(e: Error) -> Self {
        Self::Protocol(e)
    }
}

impl From<HandshakeError> for io::Error {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Io(e) => e,
            HandshakeError::Protocol(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Whether `buf` holds the end of a head: an empty line after the start line (leading empty
/// lines skipped, as the request parser does). When this is true the parser's answer is
/// `Complete` or an error, never `Partial`.
fn has_head_end(buf: &[u8]) -> bool {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\n', ..]) => i += 1,
            Some([b'\r', b'\n', ..]) => i += 2,
            _ => break,
        }
    }
    let rest = &buf[i..];
    memchr::memchr_iter(b'\n', rest)
        .any(|p| matches!(rest.get(p + 1..), Some([b'\n', ..] | [b'\r', b'\n', ..])))
}

/// Reads into `buf` until it holds the end of a head, the buffer is full, or `check` (run on
/// incomplete input, so that a malformed or oversized head is refused as soon as it is seen)
/// fails; returns the bytes filled. The caller then parses once.
fn read_head<S: Read + ?Sized>(
    stream: &mut S,
    buf: &mut [u8],
    mut check: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<usize, HandshakeError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        filled += n;
        if has_head_end(&buf[..filled]) {
            break;
        }
        check(&buf[..filled])?;
    }
    Ok(filled)
}

/// A completed server upgrade: what was negotiated, and the bytes read past the request.
///
/// Borrows the buffer (the request target, subprotocol and leftover bytes live there), never
/// the stream: move the stream into a connection and hand it [`Upgraded::leftover`].
#[derive(Debug)]
pub struct Upgraded<'b> {
    accepted: Accepted<'b>,
    buf: &'b [u8],
    head: usize,
}

impl<'b> Upgraded<'b> {
    /// What the `101` said: target, subprotocol, extensions.
    #[must_use]
    pub fn accepted(&self) -> &Accepted<'b> {
        &self.accepted
    }

    /// The selected subprotocol, if any.
    #[must_use]
    pub fn protocol(&self) -> Option<&'b str> {
        self.accepted.protocol()
    }

    /// The accepted extensions' response value, if any.
    #[must_use]
    pub fn extensions(&self) -> Option<&str> {
        self.accepted.extensions()
    }

    /// Bytes the client sent after the request head (its first frames): feed them to the
    /// connection before reading from the stream again.
    #[must_use]
    pub fn leftover(&self) -> &'b [u8] {
        &self.buf[self.head..]
    }

    /// Where [`Upgraded::leftover`] lies in the buffer passed to [`accept`].
    #[must_use]
    pub fn leftover_range(&self) -> Range<usize> {
        self.head..self.buf.len()
    }
}

/// Accepts a WebSocket upgrade on `stream` (RFC 6455 §4.2): reads the request into `buf` until
/// the head is complete, validates it, runs the hooks, and writes the `101` response — or the
/// rejection, before returning the error — with a single `write_all` (unless hooks add more
/// than 1 KiB of headers). Nothing is allocated.
///
/// `buf` bounds the head (with [`Limits::max_head_size`](crate::Limits::max_head_size)); bytes
/// read past the head are returned in [`Upgraded::leftover`], never dropped.
///
/// # Errors
/// [`HandshakeError::Io`] if reading or writing fails (or the peer closes early);
/// [`HandshakeError::Protocol`] if the request was refused, after the rejection was written.
pub fn accept<'b, S, H>(
    stream: &mut S,
    upgrader: &mut Upgrader<H>,
    buf: &'b mut [u8],
) -> Result<Upgraded<'b>, HandshakeError>
where
    S: Read + Write + ?Sized,
    H: Hooks,
{
    let limits = *upgrader.limits();
    let filled = match read_head(stream, buf, |b| {
        crate::parse_request(b, &limits).map(|_| ())
    }) {
        Ok(n) => n,
        Err(HandshakeError::Protocol(e)) => return reject(stream, Rejected::from(e)),
        Err(e) => return Err(e),
    };
    // The only full parse on the usual path (the whole head arrives in one read).
    let buf: &'b [u8] = &buf[..filled];
    let (req, head) = match crate::parse_request(buf, &limits) {
        Ok(Status::Complete(r)) => r,
        // The buffer filled up before the head ended.
        Ok(Status::Partial) => return reject(stream, Rejected::from(Error::HeadTooLarge)),
        Err(e) => return reject(stream, Rejected::from(e)),
    };
    let accepted = match upgrader.negotiate(&req) {
        Ok(a) => a,
        Err(r) => return reject(stream, r),
    };
    let mut sink = IoSink::new(stream);
    if let Err(e) = upgrader.put_response(&accepted, &mut sink) {
        // A hook wrote an invalid header: answer 500 if nothing has been sent yet.
        if sink.rewind() {
            Rejected::from(e).put(&mut sink);
            sink.finish()?;
        }
        return Err(e.into());
    }
    sink.finish()?;
    Ok(Upgraded {
        accepted,
        buf,
        head,
    })
}

fn reject<S: Write + ?Sized, T>(stream: &mut S, r: Rejected) -> Result<T, HandshakeError> {
    let mut sink = IoSink::new(stream);
    r.put(&mut sink);
    sink.finish()?;
    Err(r.error().into())
}

/// A completed client handshake: what the server agreed to, and the bytes read past the
/// response (frames the server sent right away).
#[derive(Debug)]
pub struct Handshake<'b> {
    negotiated: Negotiated<'b>,
    buf: &'b [u8],
    head: usize,
}

impl<'b> Handshake<'b> {
    /// The selected subprotocol and accepted extensions.
    #[must_use]
    pub fn negotiated(&self) -> &Negotiated<'b> {
        &self.negotiated
    }

    /// The subprotocol the server selected, if any.
    #[must_use]
    pub fn protocol(&self) -> Option<&'b str> {
        self.negotiated.protocol()
    }

    /// Bytes after the response head: feed them to the connection first.
    #[must_use]
    pub fn leftover(&self) -> &'b [u8] {
        &self.buf[self.head..]
    }

    /// Where [`Handshake::leftover`] lies in the buffer passed to [`handshake`].
    #[must_use]
    pub fn leftover_range(&self) -> Range<usize> {
        self.head..self.buf.len()
    }
}

/// Performs the client handshake on `stream` (RFC 6455 §4.1): writes `request` (composed in
/// `buf`, sent with one `write_all`), reads the response into `buf` until the head is complete
/// and validates it. Nothing is allocated.
///
/// # Errors
/// [`HandshakeError::Io`] for I/O failures (or an early close); [`HandshakeError::Protocol`]
/// for a response that is not a valid `101` — [`Error::UnexpectedStatus`] carries the status —
/// or [`Error::InsufficientSize`] if `buf` cannot hold the request.
pub fn handshake<'b, S>(
    stream: &mut S,
    request: &ClientRequest<'_>,
    buf: &'b mut [u8],
) -> Result<Handshake<'b>, HandshakeError>
where
    S: Read + Write + ?Sized,
{
    let n = request.write(buf)?;
    stream.write_all(&buf[..n])?;
    stream.flush()?;
    let limits = *request.response_limits();
    let filled = read_head(stream, buf, |b| {
        crate::parse_response(b, &limits).map(|_| ())
    })?;
    let buf: &'b [u8] = &buf[..filled];
    match request.parse_response(buf)? {
        Status::Complete((negotiated, head)) => Ok(Handshake {
            negotiated,
            buf,
            head,
        }),
        // The buffer filled up before the head ended.
        Status::Partial => Err(Error::HeadTooLarge.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_detection_matches_the_parser() {
        for (s, end) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], true),
            (b"GET / HTTP/1.1\n\n", true),
            (b"GET / HTTP/1.1\r\nA: 1\n\r\n", true),
            (b"\r\n\nGET / HTTP/1.1\r\n", false),
            (b"\r\n\r\n", false),
            (b"\r\n\r", false),
            (b"GET / HTTP/1.1\r\nA: 1\r\n\r", false),
            (b"GET / HTTP/1.1\r\nA: 1\r\n", false),
        ] {
            assert_eq!(has_head_end(s), end, "{s:?}");
            // when the end is there, the parser never asks for more
            if end {
                assert!(
                    crate::parse_request(s, &crate::Limits::DEFAULT)
                        .unwrap()
                        .is_complete()
                );
            }
        }
    }

    #[test]
    fn handshake_error_is_small() {
        assert!(core::mem::size_of::<HandshakeError>() <= 24);
    }

    #[test]
    fn upgrader_accept_method() {
        let req = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nxy";
        let mut stream = io::Cursor::new(std::vec::Vec::from(&req[..]));
        let mut buf = [0u8; 512];
        let up = Upgrader::new().accept(&mut stream, &mut buf).unwrap();
        assert_eq!(up.leftover(), b"xy");
        assert_eq!(up.leftover_range(), req.len() - 2..req.len());
    }
}
