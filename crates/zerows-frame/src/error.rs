//! The one error type of the frame layer, and its mapping to close codes.

use core::fmt;

use crate::close::CloseCode;

/// Why a frame, a message or a close payload was rejected.
///
/// Every variant is a reason to fail the WebSocket connection (RFC 6455 §7.1.7). The close code to
/// send back is `CloseCode::from(&error)`: 1002 (protocol error), 1007 (invalid payload data) or
/// 1009 (message too big).
///
/// Errors are sticky in [`Decoder`](crate::Decoder): once one is returned, every later call returns it
/// again, so a caller can never read past a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A client sent a frame without a masking key (RFC 6455 §5.1, §5.3).
    UnmaskedFrame,
    /// A server sent a masked frame (RFC 6455 §5.1).
    MaskedFrame,
    /// An RSV bit is set that no negotiated extension owns (RFC 6455 §5.2).
    ReservedBits,
    /// The opcode is one of the reserved values 3–7 or 0xB–0xF (RFC 6455 §5.2).
    ReservedOpcode,
    /// A control frame has FIN clear (RFC 6455 §5.5).
    FragmentedControl,
    /// A control frame declares a payload longer than 125 bytes (RFC 6455 §5.5).
    ControlTooLong,
    /// A 64-bit payload length has its most significant bit set (RFC 6455 §5.2).
    LengthOverflow,
    /// A payload length is not encoded in the minimal number of bytes (RFC 6455 §5.2:
    /// "the minimal number of bytes MUST be used to encode the length").
    NonMinimalLength,
    /// A continuation frame arrived when no fragmented message was in progress (RFC 6455 §5.4).
    UnexpectedContinuation,
    /// A text or binary frame arrived in the middle of a fragmented message (RFC 6455 §5.4).
    ExpectedContinuation,
    /// A frame arrived after the peer's close frame (RFC 6455 §5.5.1: the close frame is the last one).
    FrameAfterClose,
    /// A frame's declared payload length exceeds the configured maximum frame size.
    FrameTooLarge,
    /// A message's total payload length exceeds the configured maximum message size.
    MessageTooLarge,
    /// A message has more fragments than the configured maximum.
    TooManyFragments,
    /// A text message or close reason is not valid UTF-8 (RFC 6455 §5.6, §8.1).
    InvalidUtf8,
    /// A close frame payload is one byte long (RFC 6455 §5.5.1: a body starts with a 2-byte code).
    InvalidClosePayload,
    /// A close frame carries a code that must not appear on the wire (RFC 6455 §7.4).
    InvalidCloseCode,
}

impl Error {
    /// A short, static description of the error, suitable as a close reason (always ≤ 123 bytes).
    pub const fn as_str(&self) -> &'static str {
        match self {
            Error::UnmaskedFrame => "client frame not masked",
            Error::MaskedFrame => "server frame masked",
            Error::ReservedBits => "reserved bits set",
            Error::ReservedOpcode => "reserved opcode",
            Error::FragmentedControl => "fragmented control frame",
            Error::ControlTooLong => "control frame payload over 125 bytes",
            Error::LengthOverflow => "payload length has the top bit set",
            Error::NonMinimalLength => "non-minimal payload length encoding",
            Error::UnexpectedContinuation => "continuation frame without a message",
            Error::ExpectedContinuation => "new data frame inside a fragmented message",
            Error::FrameAfterClose => "frame after close",
            Error::FrameTooLarge => "frame too large",
            Error::MessageTooLarge => "message too large",
            Error::TooManyFragments => "too many fragments",
            Error::InvalidUtf8 => "invalid UTF-8",
            Error::InvalidClosePayload => "close payload of one byte",
            Error::InvalidCloseCode => "invalid close code",
        }
    }

    /// The close code an endpoint sends when it fails the connection for this error.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Error::FrameTooLarge | Error::MessageTooLarge | Error::TooManyFragments => {
                CloseCode::MESSAGE_TOO_BIG
            }
            Error::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for Error {}

impl From<&Error> for CloseCode {
    fn from(e: &Error) -> CloseCode {
        e.close_code()
    }
}

impl From<Error> for CloseCode {
    fn from(e: Error) -> CloseCode {
        e.close_code()
    }
}

/// An encode target buffer was too small; `required` bytes are needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InsufficientSize {
    /// The number of bytes the encoding needs.
    pub required: usize,
}

impl fmt::Display for InsufficientSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer too small: {} bytes required", self.required)
    }
}

impl core::error::Error for InsufficientSize {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small() {
        assert_eq!(core::mem::size_of::<Error>(), 1);
    }

    #[test]
    fn close_code_mapping() {
        assert_eq!(
            CloseCode::from(&Error::InvalidUtf8),
            CloseCode::INVALID_PAYLOAD
        );
        assert_eq!(CloseCode::from(&Error::MessageTooLarge), CloseCode(1009));
        assert_eq!(CloseCode::from(Error::FrameTooLarge), CloseCode(1009));
        assert_eq!(CloseCode::from(&Error::TooManyFragments), CloseCode(1009));
        assert_eq!(CloseCode::from(&Error::ReservedBits), CloseCode(1002));
        assert_eq!(CloseCode::from(&Error::InvalidCloseCode), CloseCode(1002));
    }

    #[test]
    fn reasons_fit_in_a_close_frame() {
        use Error::*;
        for e in [
            UnmaskedFrame,
            MaskedFrame,
            ReservedBits,
            ReservedOpcode,
            FragmentedControl,
            ControlTooLong,
            LengthOverflow,
            NonMinimalLength,
            UnexpectedContinuation,
            ExpectedContinuation,
            FrameAfterClose,
            FrameTooLarge,
            MessageTooLarge,
            TooManyFragments,
            InvalidUtf8,
            InvalidClosePayload,
            InvalidCloseCode,
        ] {
            assert!(e.as_str().len() <= 123);
            assert!(!e.as_str().is_empty());
        }
    }
}
