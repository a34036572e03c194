//! # zerows-util
//!
//! WebSocket messages over `std::io` (and tokio, with the `tokio` feature): the equivalent of Go's
//! `gobwas/ws/wsutil`, built on the sans-IO [`zerows_frame`] decoder and the zero-allocation
//! [`zerows_upgrade`] handshake.
//!
//! - [`WebSocket`]: a connection over any blocking [`Transport`] (`TcpStream`, `UnixStream`, or
//!   anything `Read + Write` wrapped in [`Plain`]), created by [`WebSocket::accept`] /
//!   [`WebSocket::connect`] or from a finished handshake with [`WebSocket::from_raw`] (including the
//!   bytes read past the handshake).
//! - Reading: [`WebSocket::read`] returns the next [`Message`] — text (UTF-8 checked as it arrived),
//!   binary, ping, pong or close — borrowed from reusable buffers, without allocating in steady
//!   state. [`WebSocket::message_reader`] streams a large message in chunks instead.
//! - Control frames in one place: pings answered automatically ([`Config::auto_pong`]), the close
//!   handshake completed (the peer's code echoed; 1002/1007/1009 with a reason when we fail the
//!   connection; then the write side shut down and a bounded wait for the peer, RFC 6455 §7).
//! - Writing: one frame per message. [`WebSocket::send_message`] writes at once (a server's header
//!   and payload in one vectored write, no copy); [`WebSocket::feed_message`] queues the frame, and
//!   the queue goes out in one write at the next [`flush`](WebSocket::flush), send, or read that
//!   has to wait, so a burst of replies costs one system call ([`Config::write_buffer_size`]).
//!   [`WebSocket::message_writer`] fragments a streamed message; client frames are masked with a
//!   fresh key from the OS CSPRNG; [`PreparedMessage`] encodes a broadcast once.
//! - Buffers: owned per connection by default, or taken from a shared [`BufferPool`] only while
//!   data flows, so an idle connection holds no I/O buffer.
//! - Limits ([`Config`]): frame size, message size, fragment count, enforced from headers before any
//!   payload is buffered, answered with close 1009.
//!
//! # Example: an echo server
//!
//! ```no_run
//! use std::net::TcpListener;
//! use zerows_util::{Error, WebSocket};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), Error> {
//!         let mut ws = WebSocket::accept(stream?)?;
//!         let mut buf = Vec::new();
//!         loop {
//!             match ws.read_into(&mut buf) {
//!                 // Text or Binary; pings were answered on the way.
//!                 Ok(opcode) => ws.feed_message(opcode, &buf)?, // written before the next wait
//!                 Err(Error::Closed) => return Ok(()),           // close handshake done
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Crate features
//!
//! - `tokio`: async connections over `tokio::io::AsyncRead + AsyncWrite`.
//! - `deflate`: permessage-deflate (RFC 7692), see [`deflate`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
mod extension;
pub mod helpers;
mod keepalive;
mod keys;
mod message;
mod pool;
mod proto;
mod sync;
#[cfg(feature = "tokio")]
mod tokio;
mod transport;

#[cfg(feature = "tokio")]
pub use crate::tokio::{AsyncReadHalf, AsyncWebSocket, AsyncWriteHalf};
pub use config::Config;
pub use error::{Error, Misuse};
pub use extension::{Extension, ExtensionError, MessageDecoder, MessageEncoder};
pub use keepalive::{Keepalive, KeepaliveAction};
pub use message::{Message, PreparedMessage};
pub use pool::BufferPool;
pub use sync::{MessageReader, MessageWriter, ReadHalf, SplitStream, WebSocket, WriteHalf};
pub use transport::{Plain, Transport};

pub use zerows_frame::{CloseCode, CloseFrame, OpCode, Role};

/// Accepts a WebSocket upgrade on `stream` and returns the server connection (default [`Config`],
/// no hooks): [`WebSocket::accept`].
pub fn accept<S: Transport>(stream: S) -> Result<WebSocket<S>, Error> {
    WebSocket::accept(stream)
}

/// Performs the client handshake for `request` on `stream` and returns the client connection
/// (default [`Config`]): [`WebSocket::connect`].
pub fn connect<S: Transport>(
    stream: S,
    request: &zerows_upgrade::client::ClientRequest<'_>,
) -> Result<WebSocket<S>, Error> {
    WebSocket::connect(stream, request, Config::default())
}

/// Async [`accept`]: [`AsyncWebSocket::accept`].
#[cfg(feature = "tokio")]
pub async fn accept_async<S>(stream: S) -> Result<AsyncWebSocket<S>, Error>
where
    S: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin,
{
    AsyncWebSocket::accept(stream, Config::default()).await
}

/// Async [`connect`]: [`AsyncWebSocket::connect`].
#[cfg(feature = "tokio")]
pub async fn connect_async<S>(
    stream: S,
    request: &zerows_upgrade::client::ClientRequest<'_>,
) -> Result<AsyncWebSocket<S>, Error>
where
    S: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin,
{
    AsyncWebSocket::connect(stream, request, Config::default()).await
}
