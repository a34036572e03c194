//! # zerows-util
//!
//! WebSocket connections over `std::io` and tokio: the equivalent of Go's `gobwas/ws/wsutil`,
//! built on the sans-IO [`zerows_frame`] decoder and the zero-allocation [`zerows_upgrade`]
//! handshake.
//!
//! Every connection is one closed, sans-IO state machine, [`Connection`] (the [`conn`] module):
//! it owns the buffers, the decoder, the write queue, the close handshake, failing and draining,
//! automatic pongs and close replies, the keepalive and close-timeout deadlines and the
//! negotiated extension. The blocking [`WebSocket`] and the tokio [`AsyncWebSocket`] are two
//! drivers around it that only move bytes and wait, and a readiness loop can be a third: the
//! same script through both drivers writes the same bytes (`tests/drivers.rs`).
//!
//! - Reading: [`read`](WebSocket::read) returns the next [`Message`] — text (UTF-8 checked as it
//!   arrived), binary, ping, pong or close — borrowed from reusable buffers, without allocating in
//!   steady state; [`read_into`](WebSocket::read_into) copies a data message out;
//!   [`message_reader`](WebSocket::message_reader) streams a large one in chunks.
//! - Control frames in one place: pings answered ([`Config::auto_pong`]), the close handshake
//!   completed (the peer's code echoed; 1002/1007/1009 with a reason when we fail the connection;
//!   then the write side shut down and a bounded wait for the peer, RFC 6455 §7), keepalive pings
//!   ([`Config::keepalive`]).
//! - Writing: [`send_message`](WebSocket::send_message) writes at once (a server's header and
//!   payload in one vectored write, no copy); [`feed_message`](WebSocket::feed_message) queues, and
//!   the queue goes out in one write at the next flush, send, or read that has to wait, so a burst
//!   of replies costs one system call; [`message_writer`](WebSocket::message_writer) fragments a
//!   streamed message; [`PreparedMessage`] encodes a broadcast once.
//! - Buffers: by default from the process-wide [`BufferPool::shared`], only while data flows: an
//!   idle connection holds no I/O buffer ([`Config::pool`]).
//! - Limits ([`Config`]): frame size, message size, fragment count, enforced from headers before
//!   any payload is buffered, answered with close 1009; the message buffer never grows past twice
//!   what arrived (beyond 64 KiB).
//! - Extensions: [`Negotiate`] (offer, accept, respond) and [`Extension`] (per-message transforms
//!   owning RSV bits); permessage-deflate in [`deflate`] is one.
//!
//! # One API in both worlds
//!
//! The methods are written once (`src/api.rs`) and expanded as `fn` in [`WebSocket`] and as
//! `async fn` in [`AsyncWebSocket`]: the same names, arguments and return types.
//!
//! | | blocking: [`WebSocket`] | tokio: [`AsyncWebSocket`] |
//! |---|---|---|
//! | handshake | `accept(io)`, `accept_with_config(io, config)`, `accept_with_upgrader(io, &mut upgrader, config)`, `connect(io, &request)`, `connect_with_config(io, &request, config)`; `from_raw(io, role, leftover, config)` | the same, `async` |
//! | what was agreed | [`agreed`](WebSocket::agreed) → [`Agreed`]: subprotocol, extensions, kept headers | the same |
//! | read | `read()` → [`Message`], `read_into(&mut buf)` → [`OpCode`], `message_reader()` → [`MessageReader`]; `read_json()` (feature `json`) | the same, `async`; [`AsyncMessageReader`] |
//! | write | `send_message(op, payload)`, `send_text`, `send_binary`, `send(Message)`, `feed_message`, `flush()`, `send_prepared`, `ping`, `pong`, `message_writer(op)` → [`MessageWriter`]; `send_json(&value)` (feature `json`) | the same, `async`; [`AsyncMessageWriter`] |
//! | close | `close(code, reason)`, `is_closed()` | the same |
//! | halves | `split()` → [`ReadHalf`] + [`WriteHalf`]; `ReadHalf::reunite(write)` | `split()` → [`AsyncReadHalf`] + [`AsyncWriteHalf`]; `reunite` |
//! | read half | `read`, `read_into`, `read_json`, `message_reader`, `agreed` | the same, `async` |
//! | write half (`&self`) | `send_message`, `feed_message`, `flush`, `send_text`, `send_binary`, `send_json`, `ping`, `pong`, `send_prepared`, `close`, `message_writer`, `is_closed` | the same, `async` |
//! | stream and settings | `get_ref`, `get_mut`, `into_inner`, `role`, `config`, `release_buffers`, `set_extension` | the same |
//!
//! The streams differ as their worlds do: a blocking connection needs a [`Transport`]
//! (`TcpStream`, `UnixStream`, or anything `Read + Write` in [`Plain`]) and [`SplitStream`] to
//! split; an async one any `AsyncRead + AsyncWrite + Unpin`.
//!
//! # What each setting costs per connection
//!
//! With the defaults a connection is its struct (608 bytes for `WebSocket<TcpStream>`, 624 for
//! `AsyncWebSocket<tokio::net::TcpStream>`, measured by the tests) and nothing else while idle:
//! the read buffer (`read_buffer_size`, 16 KiB), the message buffer and the write queue
//! (`write_buffer_size`, 16 KiB) come from the shared pool while data flows and go back before a
//! read waits. [`Config::without_pool`] keeps them per connection instead (16 KiB or more each
//! while idle). permessage-deflate adds its zlib state when agreed (47 KiB to inflate, about
//! 371 KiB once a message is compressed, `docs/deflate.md`); a keepalive adds a small boxed timer;
//! kept headers and an agreed subprotocol are copied once.
//!
//! # Stream and Sink (feature `futures`)
//!
//! The conventions the async ecosystem expects (`StreamExt::split`, `forward`, `send_all`,
//! `select!`), over the same core and read loop as the `async fn`s:
//!
//! - [`AsyncWebSocket`] and [`AsyncReadHalf`] are `Stream<Item = Result<OwnedMessage, Error>>`
//!   and `FusedStream`. Each item is the [`Message`] a `read` would return, copied once into an
//!   [`OwnedMessage`] (payload `bytes::Bytes`); pings were answered and the peer's close echoed
//!   before it is yielded. The stream ends (`None`) after the peer's close or an error, where
//!   `read` would return [`Error::Closed`].
//! - [`AsyncWebSocket`] and [`AsyncWriteHalf`] are `Sink<OwnedMessage, Error = Error>`. Data
//!   messages are queued as `feed_message` queues them and go out at `poll_flush` (or once the
//!   queue reaches [`Config::write_buffer_size`]); a server's message too large for the queue is
//!   held as its `Bytes` and written without a copy. A `Close` item starts the close handshake (a
//!   second one is ignored: one close frame per connection, RFC 6455 §5.5.1, so `forward`ing the
//!   peer's close is harmless); `poll_close` sends close 1000 if none was sent, and flushes.
//! - The inherent methods win over the traits' of the same name: `ws.split()` is this crate's
//!   (`(read, write)` halves; `StreamExt::split(ws)` gives futures' `(sink, stream)`), `ws.send`
//!   takes a borrowed [`Message`] (call `SinkExt::send(&mut ws, owned)` for the `Sink`), and
//!   `ws.close(code, reason)` is the close handshake (`SinkExt::close(&mut ws)` the `Sink`'s).
//!
//! Cancel safety: `StreamExt::next()` is cancel-safe (all progress is kept in the connection), so
//! it can be a `select!` branch; `SinkExt::send`/`feed`/`flush`/`send_all` are cancel-safe too,
//! unlike `send_message`: the message is handed over whole in `start_send` and owned by the
//! connection from then on, so a dropped future never cuts a frame (it goes out with the next
//! flush). Two tasks on one connection (the halves, or the two ends of `StreamExt::split`) take
//! turns to write and are all woken when the stream is ready again.
//!
//! Cost: the borrowed API stays the fast path (`read` and `send_message` neither allocate nor
//! copy); the `Stream` allocates one `Bytes` per item, the `Sink` nothing more
//! (`tests/alloc.rs`, figures in `docs/benchmarks.md`).
//!
//! ```no_run
//! # #[cfg(feature = "futures")]
//! # async fn run() -> Result<(), zerows_util::Error> {
//! use futures_util::{StreamExt, TryStreamExt};
//! use zerows_util::AsyncWebSocket;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (stream, _) = listener.accept().await?;
//! let (read, write) = AsyncWebSocket::accept(stream).await?.split();
//! // An echo server: data messages back, pings and closes left to the connection.
//! read.try_filter(|m| std::future::ready(m.is_data())).forward(write).await
//! # }
//! ```
//!
//! # Example: an echo server
//!
//! ```no_run
//! use std::net::TcpListener;
//! use std::sync::Arc;
//! use zerows_util::{Config, Error, WebSocket};
//!
//! let config = Arc::new(Config::default()); // shared by every connection
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     let config = Arc::clone(&config);
//!     std::thread::spawn(move || -> Result<(), Error> {
//!         let mut ws = WebSocket::accept_with_config(stream?, config)?;
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
//! - `deflate` (default): permessage-deflate (RFC 7692), see [`deflate`].
//! - `json`: `send_json` and `read_json` on connections and halves, in both worlds (serde and
//!   serde_json); below.
//! - `futures`: `futures::Stream` + `FusedStream` and `Sink<OwnedMessage>` on [`AsyncWebSocket`]
//!   and its halves (implies `tokio`); below.
//! - `hyper`: upgrade inside hyper 1.x in one call, see [`hyper`] (implies `tokio`).
//! - `axum`: the axum 0.8 `WebSocketUpgrade` extractor, see [`axum`] (implies
//!   `hyper`; no hyper dependency to add yourself).
#![cfg_attr(
    feature = "json",
    doc = r##"
# Example: JSON (feature `json`)

[`send_json`](WebSocket::send_json) sends a value as a text message, serialized into a pooled
buffer; [`read_json`](WebSocket::read_json) reads the next data message (text or binary) and
deserializes it from the connection's buffer, so `&str` fields borrow and cost no copy (a string
with escapes cannot be borrowed as `&str`: take it as `#[serde(borrow)] Cow<'a, str>`, which
borrows when it can). JSON that does not fit the type is [`Error::Json`], and the connection
stays open.

```
use std::net::{TcpListener, TcpStream};
use serde::{Deserialize, Serialize};
use zerows_util::{Config, Error, Role, WebSocket};

#[derive(Serialize, Deserialize)]
struct Chat<'a> {
    room: &'a str,
    text: &'a str,
}

let listener = TcpListener::bind("127.0.0.1:0")?;
let a = TcpStream::connect(listener.local_addr()?)?;
let (b, _) = listener.accept()?;
let mut client = WebSocket::from_raw(a, Role::Client, &[], Config::default());
let mut server = WebSocket::from_raw(b, Role::Server, &[], Config::default());

client.send_json(&Chat { room: "lobby", text: "hello" })?;
let chat: Chat<'_> = server.read_json()?; // points into the server's buffer
assert_eq!((chat.room, chat.text), ("lobby", "hello"));

client.send_text(r#"{"room": 7}"#)?; // not a Chat: an error of this read only
assert!(matches!(server.read_json::<Chat<'_>>(), Err(Error::Json(_))));
client.send_json(&Chat { room: "lobby", text: "still open" })?;
assert_eq!(server.read_json::<Chat<'_>>()?.text, "still open");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"##
)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod api;
#[cfg(feature = "axum")]
pub mod axum;
mod config;
pub mod conn;
mod copy;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
mod extension;
#[cfg(feature = "futures")]
mod futures;
mod handshake;
pub mod helpers;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "json")]
mod json;
mod keepalive;
mod keys;
mod message;
mod pool;
mod sync;
#[cfg(feature = "tokio")]
mod tokio;
mod transport;

#[cfg(feature = "tokio")]
pub use crate::tokio::{
    AsyncMessageReader, AsyncMessageWriter, AsyncReadHalf, AsyncWebSocket, AsyncWriteHalf,
};
pub use config::{Config, KeepaliveConfig};
pub use conn::{Chunk, Connection, Item, Outbox};
pub use error::{Error, Halves, Misuse, ReuniteError};
pub use extension::{Extension, ExtensionError, MessageDecoder, MessageEncoder, Negotiate};
pub use handshake::{ACCEPT_RESPONSE_SPACE, Accept, Agreed, MAX_REQUEST_HEAD, accept_request};
pub use message::{Message, OwnedCloseFrame, OwnedMessage, PreparedMessage, Utf8Bytes};
pub use pool::BufferPool;
pub use sync::{MessageReader, MessageWriter, ReadHalf, SplitStream, WebSocket, WriteHalf};
pub use transport::{Plain, Transport};

pub use zerows_frame::{CloseCode, CloseFrame, OpCode, Role};
