//! Errors of the message layer.

use std::fmt;
use std::io;

use zerows_frame::CloseCode;

/// Why a read, write or handshake failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The peer broke the protocol or a limit. We sent a close frame with
    /// [`CloseCode::from(&e)`](zerows_frame::CloseCode) (1002, 1007 or 1009) and closed the connection.
    Protocol(zerows_frame::Error),
    /// A negotiated extension could not decode a message; we sent a close frame with its code.
    Extension(crate::ExtensionError),
    /// The opening handshake failed (the HTTP status to answer or that was received is inside).
    Handshake(zerows_upgrade::Error),
    /// The close handshake has finished (or the connection was failed): nothing more can be read or
    /// written.
    Closed,
    /// The peer closed the TCP connection without a close frame (RFC 6455 §7.1.5: status 1006).
    AbnormalClosure,
    /// The application asked for something the protocol does not allow.
    InvalidInput(Misuse),
    /// `send_json` could not serialize the value (nothing was sent), or the message `read_json`
    /// read was not JSON of the type asked for: bad syntax, bytes that are not UTF-8, or the wrong
    /// shape. Only this call failed: the message was consumed, no close frame was sent, and the
    /// next read returns the next message.
    #[cfg(feature = "json")]
    Json(serde_json::Error),
}

/// What was wrong with a request of the application (never something the peer did, nor the
/// operating system).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// A control frame payload over 125 bytes (RFC 6455 §5.5).
    ControlTooLong,
    /// A message opcode that is not `Text` or `Binary`.
    NotData,
    /// A new message while a fragmented one is unfinished (RFC 6455 §5.4).
    UnfinishedMessage,
    /// A continuation frame with no message in progress.
    NoMessage,
    /// An earlier write was abandoned (its future dropped) in the middle of a frame; the stream
    /// is corrupt and nothing more can be written.
    Poisoned,
}

impl Misuse {
    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Misuse::ControlTooLong => "control payload over 125 bytes",
            Misuse::NotData => "a message is text or binary",
            Misuse::UnfinishedMessage => "a fragmented message is unfinished",
            Misuse::NoMessage => "continuation without a message",
            Misuse::Poisoned => "an earlier write stopped mid-frame",
        }
    }
}

impl Error {
    /// The close code that describes this error to an application (RFC 6455 §7.1.5): the code we
    /// sent for protocol errors, 1006 for a connection lost without a close frame.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            Error::Extension(e) => Some(e.code),
            Error::AbnormalClosure | Error::Io(_) => Some(CloseCode::ABNORMAL_CLOSURE),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e} (closed with {})", e.close_code()),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Extension(e) => write!(f, "extension error: {e}"),
            Error::Closed => f.write_str("connection closed"),
            Error::AbnormalClosure => f.write_str("connection lost without a close frame"),
            Error::InvalidInput(what) => write!(f, "invalid input: {}", what.as_str()),
            #[cfg(feature = "json")]
            Error::Json(e) => write!(f, "JSON: {e}"),
        }
    }
}

/// `reunite` was given the halves of two different connections: here they are back
/// ([`into_halves`](Self::into_halves)).
#[derive(Debug)]
pub struct ReuniteError<R, W> {
    halves: Box<Halves<R, W>>,
}

/// A read half and a write half.
#[derive(Debug)]
pub struct Halves<R, W> {
    /// The read half.
    pub read: R,
    /// The write half.
    pub write: W,
}

impl<R, W> ReuniteError<R, W> {
    pub(crate) fn new(read: R, write: W) -> Self {
        ReuniteError {
            halves: Box::new(Halves { read, write }),
        }
    }

    /// The two halves, given back.
    pub fn into_halves(self) -> Halves<R, W> {
        *self.halves
    }
}

impl<R, W> fmt::Display for ReuniteError<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the halves are not of the same connection")
    }
}

impl<R: fmt::Debug, W: fmt::Debug> std::error::Error for ReuniteError<R, W> {}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Misuse {}

impl std::error::Error for Error {
    /// The error underneath: the I/O error, the broken frame rule, the extension's or the
    /// handshake's error, or the misuse. `Closed` and `AbnormalClosure` have none.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Extension(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::InvalidInput(m) => Some(m),
            #[cfg(feature = "json")]
            Error::Json(e) => Some(e),
            Error::Closed | Error::AbnormalClosure => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<zerows_upgrade::Error> for Error {
    fn from(e: zerows_upgrade::Error) -> Error {
        Error::Handshake(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::Protocol(_) | Error::Handshake(_) | Error::Extension(_) => {
                io::Error::new(io::ErrorKind::InvalidData, e)
            }
            Error::Closed => io::Error::new(io::ErrorKind::NotConnected, e),
            Error::AbnormalClosure => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            Error::InvalidInput(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            #[cfg(feature = "json")]
            Error::Json(_) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_with_a_cause_names_it() {
        use std::error::Error as _;
        let cases = [
            Error::Io(io::ErrorKind::TimedOut.into()),
            Error::Protocol(zerows_frame::Error::InvalidUtf8),
            Error::Extension(crate::ExtensionError::TOO_BIG),
            Error::Handshake(zerows_upgrade::Error::MissingKey),
            Error::InvalidInput(Misuse::ControlTooLong),
            #[cfg(feature = "json")]
            Error::Json(serde_json::from_slice::<u8>(b"[").unwrap_err()),
        ];
        for e in cases {
            let source = e.source().map(ToString::to_string);
            assert!(
                source
                    .as_ref()
                    .is_some_and(|s| e.to_string().contains(s.as_str())),
                "{e}: {source:?}"
            );
        }
        assert!(Error::Closed.source().is_none() && Error::AbnormalClosure.source().is_none());
    }

    #[test]
    fn error_stays_small() {
        // Four words at most: no larger than the `Message` it shares a `Result` with.
        let size = std::mem::size_of::<Error>();
        assert!(size <= 32, "{size}");
        assert!(std::mem::size_of::<Result<crate::Message<'static>, Error>>() <= 40);
    }
}
