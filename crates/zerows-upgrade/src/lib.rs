//! Zero-allocation WebSocket opening handshake (RFC 6455 §4) over HTTP/1.1, server and client.
//!
//! The handshake layer of the zerows family, in the spirit of gobwas/ws' `Upgrader` and
//! `Dialer`: the request and response heads are parsed in place from a byte buffer, validated
//! against RFC 6455 and RFC 9112, and answered without a single heap allocation.
//!
//! - **no_std core** (sans-IO): [`parse_request`] / [`parse_response`] are push parsers that
//!   return [`Status::Partial`] (nothing consumed) until the head is complete, then the head's
//!   length. [`server::Upgrader`] validates (every rule with its RFC section), runs
//!   [`server::Hooks`] and writes the `101` or a rejection with the right status (400, 403,
//!   404, 405, 414, 426, 431, 505, …) into a caller buffer. [`client::ClientRequest`] writes the
//!   request and validates the response.
//! - **std layer**: [`server::accept`] and [`client::handshake`] drive those over any
//!   `Read + Write`, reading into a caller buffer; bytes read past the head (frames a peer sends
//!   right behind its handshake) are handed back, never dropped.
//! - **`http` feature**: `http::upgrade` validates an `http::Request`
//!   and builds the `101` for hyper, axum and the like.
//!
//! Header names are matched case-insensitively; CRLF and bare LF line endings are both accepted
//! (RFC 9112 §2.2); obsolete line folding, whitespace before a colon and bare CR are refused with
//! `400`. Limits ([`Limits`]) bound the head size, header count and line length.
//!
//! # Example: server over `TcpStream`
//!
//! ```no_run
//! # #[cfg(feature = "std")]
//! # fn main() -> std::io::Result<()> {
//! use std::net::TcpListener;
//! use zerows_upgrade::server::{self, Upgrader};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! let mut upgrader = Upgrader::new();
//! for stream in listener.incoming() {
//!     let mut stream = stream?;
//!     let mut buf = [0u8; 4096];
//!     match server::accept(&mut stream, &mut upgrader, &mut buf) {
//!         Ok(up) => {
//!             println!("upgraded {} with protocol {:?}", up.accepted().target(), up.protocol());
//!             let first_frames: &[u8] = up.leftover(); // hand these to the connection
//!             # let _ = first_frames;
//!             // ... move `stream` into a WebSocket connection ...
//!         }
//!         // the rejection response (e.g. 400 or 426) has already been written
//!         Err(e) => eprintln!("refused: {e}"),
//!     }
//! }
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Example: client handshake
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use std::io::{Read, Write};
//! # struct Duplex { input: &'static [u8], output: Vec<u8> }
//! # impl Read for Duplex { fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.input.read(b) } }
//! # impl Write for Duplex {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.output.write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! use zerows_upgrade::client::{self, ClientRequest};
//! use zerows_upgrade::Key;
//!
//! // Any `Read + Write`, e.g. a `TcpStream`; here a canned server reply for the RFC's key.
//! let mut stream = Duplex {
//!     input: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n\
//!              \x81\x02hi",
//!     output: Vec::new(),
//! };
//! let key = Key::from_nonce(*b"the sample nonce"); // real code: Key::random()?
//! let request = ClientRequest::new("server.example.com", "/chat", key).protocols(&["chat"]);
//! let mut buf = [0u8; 1024];
//! let hs = client::handshake(&mut stream, &request, &mut buf)?;
//! assert_eq!(hs.protocol(), Some("chat"));
//! assert_eq!(hs.leftover(), b"\x81\x02hi"); // the server's first frame, already read
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Crate features
//!
//! - **`std`** (default): [`server::accept`], [`client::handshake`], [`Key::random`] (from the
//!   operating system's secure generator via `getrandom`), `std::error::Error` for the I/O
//!   error. Without it the crate is `no_std` and needs no allocator; supply client keys with
//!   [`Key::from_nonce`].
//! - **`http`**: interop with the `http` crate (`Request::from_http`, the `http`
//!   module); implies `std`.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link to the std entry points; without `std` those links have no target.
#![cfg_attr(not(feature = "std"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(any(feature = "std", test))]
extern crate std;

mod accept;
pub mod client;
mod error;
pub mod extensions;
mod headers;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "std")]
mod io;
mod limits;
pub mod origin;
mod request;
mod response;
pub mod server;
mod token;
mod write;

pub use accept::{AcceptKey, GUID, Key, is_valid_key};
pub use error::{Error, StatusCode};
pub use headers::{Header, Headers};
#[cfg(feature = "std")]
pub use io::HandshakeError;
pub use limits::Limits;
pub use request::{Request, parse_request};
pub use response::{Response, parse_response};

/// The result of a push parser: more input needed, or done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The input ends before the head does; nothing was consumed. Call again with more bytes,
    /// from the same start.
    Partial,
    /// The head is complete.
    Complete(T),
}

impl<T> Status<T> {
    /// Whether the head is complete.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete(_))
    }

    /// Whether more input is needed.
    pub fn is_partial(&self) -> bool {
        matches!(self, Self::Partial)
    }

    /// The completed value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(t) => Some(t),
            Self::Partial => None,
        }
    }
}
