//! The extension hook: per-message transforms that own RSV bits (RFC 6455 §9), such as
//! permessage-deflate (RFC 7692), which owns RSV1.
//!
//! An extension is two halves, one per direction, so a split connection can give each half its
//! own: a [`MessageDecoder`] that turns the payload of a received message whose first frame carries
//! the extension's bits back into the application's bytes, and a [`MessageEncoder`] that may
//! transform an outgoing message and says which bits to set. The connection does the rest: it
//! declares the bits to the frame decoder (so RSV bits nobody owns stay a protocol error, and the
//! owned ones are accepted on the first frame of a data message only), feeds every payload chunk of
//! a transformed message through the decoder as it arrives, enforces the message size limit on the
//! *decoded* size, and checks decoded text as UTF-8 as it comes out (fail fast).
//!
//! ```
//! use zerows_frame::{OpCode, Rsv};
//! use zerows_util::{Extension, ExtensionError, MessageDecoder, MessageEncoder};
//!
//! /// A toy transform: XOR every byte with 0x55, flagged with RSV1.
//! #[derive(Debug)]
//! struct Xor;
//!
//! impl MessageDecoder for Xor {
//!     fn decode(&mut self, _rsv: Rsv, chunk: &[u8], _last: bool, out: &mut Vec<u8>, max_len: usize) -> Result<(), ExtensionError> {
//!         if out.len() + chunk.len() > max_len {
//!             return Err(ExtensionError::TOO_BIG);
//!         }
//!         out.extend(chunk.iter().map(|b| b ^ 0x55));
//!         Ok(())
//!     }
//! }
//!
//! impl MessageEncoder for Xor {
//!     fn encode(&mut self, _op: OpCode, payload: &[u8], out: &mut Vec<u8>) -> Result<Option<Rsv>, ExtensionError> {
//!         out.extend(payload.iter().map(|b| b ^ 0x55));
//!         Ok(Some(Rsv::RSV1))
//!     }
//! }
//!
//! let ext = Extension::new(Rsv::RSV1, Box::new(Xor), Box::new(Xor));
//! # let _ = ext;
//! ```

use std::fmt;

use zerows_frame::{CloseCode, OpCode, Rsv};

/// Why an extension could not transform a message: the close code to fail the connection with, and
/// a short reason (at most 123 bytes) for the close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionError {
    /// The close code sent to the peer.
    pub code: CloseCode,
    /// The close reason.
    pub reason: &'static str,
}

impl ExtensionError {
    /// The decoded message would exceed the message size limit (1009).
    pub const TOO_BIG: ExtensionError = ExtensionError {
        code: CloseCode::MESSAGE_TOO_BIG,
        reason: "message too large",
    };
    /// The transformed data is invalid (1007).
    pub const INVALID_DATA: ExtensionError = ExtensionError {
        code: CloseCode::INVALID_PAYLOAD,
        reason: "invalid extension data",
    };
    /// The frames break a rule of the extension (1002).
    pub const PROTOCOL: ExtensionError = ExtensionError {
        code: CloseCode::PROTOCOL_ERROR,
        reason: "extension protocol error",
    };
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for ExtensionError {}

/// The receiving half of an extension.
pub trait MessageDecoder: Send + fmt::Debug {
    /// Decodes the next payload chunk of a message whose first frame carried `rsv` (some of the
    /// extension's bits), appending the result to `out`. Chunks come in order, as they arrive (any
    /// size, split anywhere); `last` is set on the final call of the message, whose chunk may be
    /// empty. `out` must not grow past `max_len` bytes: return [`ExtensionError::TOO_BIG`] instead
    /// of allocating beyond it.
    fn decode(
        &mut self,
        rsv: Rsv,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError>;
}

/// The sending half of an extension.
pub trait MessageEncoder: Send + fmt::Debug {
    /// Transforms an outgoing data message: append the payload to send to `out` and return the RSV
    /// bits for its first frame, or return `Ok(None)` to send the message untransformed.
    fn encode(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Rsv>, ExtensionError>;
}

/// A negotiated extension: the RSV bits it owns and its two halves.
#[derive(Debug)]
pub struct Extension {
    pub(crate) rsv: Rsv,
    pub(crate) decoder: Box<dyn MessageDecoder>,
    pub(crate) encoder: Box<dyn MessageEncoder>,
}

impl Extension {
    /// An extension owning `rsv`.
    pub fn new(
        rsv: Rsv,
        decoder: Box<dyn MessageDecoder>,
        encoder: Box<dyn MessageEncoder>,
    ) -> Extension {
        Extension {
            rsv,
            decoder,
            encoder,
        }
    }

    /// The RSV bits it owns.
    pub fn rsv(&self) -> Rsv {
        self.rsv
    }
}

/// Why the read side failed the connection: a frame-layer rule or an extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    Frame(zerows_frame::Error),
    Extension(ExtensionError),
}

impl Fail {
    pub(crate) fn close_code(self) -> CloseCode {
        match self {
            Fail::Frame(e) => e.close_code(),
            Fail::Extension(e) => e.code,
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Fail::Frame(e) => e.as_str(),
            Fail::Extension(e) => e.reason,
        }
    }

    pub(crate) fn into_error(self) -> crate::Error {
        match self {
            Fail::Frame(e) => crate::Error::Protocol(e),
            Fail::Extension(e) => crate::Error::Extension(e),
        }
    }
}

impl From<zerows_frame::Error> for Fail {
    fn from(e: zerows_frame::Error) -> Fail {
        Fail::Frame(e)
    }
}

impl From<ExtensionError> for Fail {
    fn from(e: ExtensionError) -> Fail {
        Fail::Extension(e)
    }
}

/// An extension a connection can negotiate in the opening handshake (RFC 6455 §9.1): what a
/// client offers, how a server answers the offers, and how a client checks the answer. Each
/// side's agreement becomes an [`Extension`] installed on the connection. Set one with
/// [`Config::extension`](crate::Config::extension); permessage-deflate's
/// [`DeflateConfig`](crate::deflate::DeflateConfig) is one.
pub trait Negotiate: Send + Sync + fmt::Debug {
    /// The extension token, e.g. `permessage-deflate`.
    fn name(&self) -> &'static str;

    /// Client: the offer to send in `Sec-WebSocket-Extensions` (the token and its parameters).
    fn offer(&self) -> String;

    /// Client: the extensions the server accepted (every one of them; pick yours by name). The
    /// extension to install, `Ok(None)` if the server did not accept it, or an error if the
    /// answer breaks the extension's rules (the client then fails the connection, RFC 6455 §9.1).
    fn accept(
        &self,
        accepted: zerows_upgrade::server::ExtensionOffers<'_>,
    ) -> Result<Option<Extension>, ExtensionError>;

    /// Server: the client's offers (every one, in its order of preference). Write the accepted
    /// one's response into `response` and return its extension, or return `None` to decline.
    fn respond(
        &self,
        offers: zerows_upgrade::server::ExtensionOffers<'_>,
        response: &mut zerows_upgrade::server::AcceptedExtensions,
    ) -> Option<Extension>;
}
