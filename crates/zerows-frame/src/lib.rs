//! # zerows-frame
//!
//! The WebSocket (RFC 6455) frame layer of [zerows](https://example.invalid/zerows): `no_std`, no
//! allocation, everything on borrowed buffers. It is the equivalent of the frame half of Go's
//! `gobwas/ws`, built sans-IO: it never reads or writes a socket, it turns bytes into events and
//! values into bytes, and the caller owns every buffer.
//!
//! - [`Header`]: decode from `&[u8]` ([`Status::Partial`] until the header is whole; every RFC 6455
//!   §5 rule a header can break is checked) and encode into `&mut [u8]` (2–14 bytes).
//! - [`apply_mask`]: (un)mask in place with a running offset, word at a time, AVX2 when available.
//! - [`Decoder`]: a streaming state machine from any split of the byte stream to [`Event`]s:
//!   headers, payload chunks unmasked in place, frame ends, whole control frames; fragmentation
//!   rules, UTF-8 of text (fail-fast) and size limits enforced as bytes arrive.
//! - [`Utf8Validator`]: incremental UTF-8 for text split across chunks and fragments.
//! - [`CloseCode`], [`CloseFrame`], [`close::reply_code`]: close codes and bodies.
//! - [`compiled`]: ready-made server control frames.
//! - [`Error`]: what went wrong, and with `CloseCode::from(&error)` the close code to send back.
//!
//! Use this crate to build your own WebSocket stack or to embed one in a `no_std` device; for
//! messages over `std::io` or tokio, use `zerows-util`, which is built on it.
//!
//! # Example: decode a client's frames as a server
//!
//! ```
//! use zerows_frame::{Config, Decoder, Event, Role, Status, CloseCode};
//!
//! let mut decoder = Decoder::new(Config::new(Role::Server).max_message_size(1 << 20));
//! // RFC 6455 §5.7: a masked "Hello", then a close with 1000 masked with a zero key
//! let mut wire = [
//!     0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
//!     0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8,
//! ];
//! let mut at = 0;
//! while let Status::Complete((event, used)) = decoder.next(&mut wire[at..])? {
//!     match event {
//!         Event::Payload(text) => assert_eq!(text, b"Hello"),
//!         Event::Close(Some(close)) => assert_eq!(close.code, CloseCode::NORMAL),
//!         _ => {}
//!     }
//!     at += used;
//! }
//! assert_eq!(at, wire.len());
//! # Ok::<(), zerows_frame::Error>(())
//! ```
//!
//! # Example: encode a frame, reject a bad one
//!
//! ```
//! use zerows_frame::{encode_frame, CloseCode, Config, Error, Header, OpCode, Role};
//!
//! let mut out = [0u8; 64];
//! let n = encode_frame(&mut out, OpCode::Binary, true, None, &[1, 2, 3])?;
//! assert_eq!(&out[..n], [0x82, 0x03, 1, 2, 3]);
//!
//! // a server must not accept an unmasked frame (RFC 6455 §5.1): fail with 1002
//! let err = Header::decode(&out[..n], &Config::new(Role::Server)).unwrap_err();
//! assert_eq!(err, Error::UnmaskedFrame);
//! assert_eq!(CloseCode::from(&err), CloseCode::PROTOCOL_ERROR);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `std` (default): implies `alloc`; detects AVX2 at run time for [`apply_mask`].
//! - `alloc`: [`encode_frame_vec`], which appends a frame to a `Vec<u8>`.
//!
//! With neither, the crate needs only `core` (it builds for `thumbv7em-none-eabihf`).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod close;
pub mod compiled;
mod config;
mod decode;
mod error;
mod header;
mod mask;
mod opcode;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use decode::{Decoder, Event};
pub use error::{Error, InsufficientSize};
pub use header::{Header, Rsv, encode_frame};
pub use mask::apply_mask;
pub use opcode::OpCode;
pub use utf8::Utf8Validator;

/// The result of a decode step that may need more input (as in `httparse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status<T> {
    /// Not enough bytes yet; nothing was consumed.
    Partial,
    /// Done: the value (usually with the number of bytes consumed).
    Complete(T),
}

impl<T> Status<T> {
    /// Whether more bytes are needed.
    pub const fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// Whether a value was produced.
    pub const fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// Maps the completed value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Status<U> {
        match self {
            Status::Partial => Status::Partial,
            Status::Complete(t) => Status::Complete(f(t)),
        }
    }
}

/// Which end of the connection we are. It decides the masking rules (RFC 6455 §5.1): a client masks
/// every frame it sends and receives unmasked frames; a server the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection.
    Client,
    /// The end that accepted it.
    Server,
}

impl Role {
    /// The other end.
    pub const fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }

    /// Whether frames we send are masked (only a client's, RFC 6455 §5.3).
    pub const fn masks_outgoing(self) -> bool {
        matches!(self, Role::Client)
    }
}

/// Appends a whole frame (header, then the payload masked with `mask` if given) to `out`.
#[cfg(feature = "alloc")]
pub fn encode_frame_vec(
    out: &mut alloc::vec::Vec<u8>,
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let start = out.len();
    let header = Header {
        fin,
        rsv: Rsv::NONE,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.resize(start + header.encoded_len() + payload.len(), 0);
    // The buffer was sized from the same header, so this cannot fail.
    let written = encode_frame(&mut out[start..], opcode, fin, mask, payload);
    debug_assert_eq!(written, Ok(out.len() - start));
}
