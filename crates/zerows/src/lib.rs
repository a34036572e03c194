//! # zerows
//!
//! A WebSocket (RFC 6455) toolkit for people who write libraries and servers: strict, bounded,
//! sans-IO at the core and zero-allocation where it counts. This crate re-exports the family so
//! that one dependency is enough.
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`frame`] | `zerows-frame` | `no_std` frames: header codec, masking, streaming decoder, UTF-8, close codes |
//! | [`upgrade`] | `zerows-upgrade` | the HTTP/1.1 opening handshake, server and client, zero allocation |
//! | [`util`] | `zerows-util` | messages over `std::io` and tokio: control frames, limits, pooled buffers, split halves |
//! | [`net`] | `zerows-net` | `ws://`/`wss://` URLs, rustls in both roles, HTTP and SOCKS5 proxies, timeouts |
//!
//! The types the docs and examples name are at the root: [`WebSocket`], [`Message`],
//! [`OwnedMessage`], [`PreparedMessage`], [`Config`], [`Error`], [`CloseCode`], [`CloseFrame`],
//! [`connect`], [`Dialer`], [`DialError`], the halves; with the `tokio` feature
//! [`AsyncWebSocket`], its halves and `connect_async`; with `hyper` and `axum` the modules
//! `zerows::hyper` (one-call upgrade) and `zerows::axum` (the `WebSocketUpgrade` extractor).
//! The README's async quick start (an axum server and a tokio client) is
//! `examples/quickstart_axum.rs` and `examples/quickstart_client.rs`.
//!
//! # Example: an echo server
//!
//! ```no_run
//! use std::net::TcpListener;
//! use zerows::{Error, WebSocket};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), Error> {
//!         let mut ws = WebSocket::accept(stream?)?;
//!         let mut buf = Vec::new();
//!         loop {
//!             match ws.read_into(&mut buf) {
//!                 Ok(opcode) => ws.send_message(opcode, &buf)?,
//!                 Err(Error::Closed) => return Ok(()),
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Example: a client
//!
//! ```no_run
//! use zerows::{CloseCode, Message};
//!
//! // ws:// or wss:// (rustls, Mozilla's roots); see `Dialer` for proxies, a private CA, timeouts
//! let mut ws = zerows::connect("ws://127.0.0.1:9001/")?;
//! ws.send_text("hello")?;
//! if let Message::Text(reply) = ws.read()? {
//!     println!("{reply}");
//! }
//! ws.close(CloseCode::NORMAL, "bye")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `util` (default): [`util`], and with it [`frame`] and [`upgrade`].
//! - `tokio`: [`AsyncWebSocket`] and its split halves.
//! - `futures`: `Stream` + `FusedStream` and `Sink<OwnedMessage>` on [`AsyncWebSocket`] and its
//!   halves (implies `tokio`).
//! - `deflate` (default): permessage-deflate, `util::deflate`.
//! - `frame`: the frame layer. With `default-features = false` and only this feature the crate is
//!   `no_std` and needs no allocator (CI builds it for `thumbv7em-none-eabihf`).
//! - `alloc`: the frame layer's `Vec` helpers, still `no_std`.
//! - `upgrade`: the handshake; alone, its `no_std` sans-IO core.
//! - `std`: run-time SIMD detection (AVX2 masking, SIMD UTF-8) and, with `upgrade`, the
//!   handshake's `std::io` entry points. `util` turns it on.
//! - `http`: handshake interop with the `http` crate (hyper, axum).
//! - `json`: `send_json` and `read_json` on every connection and half (serde, serde_json); bad
//!   JSON is `Error::Json`, and the connection stays open.
//! - `hyper`: [`hyper::upgrade`]: upgrade inside hyper 1.x in one call, the `Config`'s extension
//!   negotiated and installed (implies `tokio`).
//! - `axum`: [`axum::WebSocketUpgrade`], the axum 0.8 extractor (implies `hyper`).
//! - `net` (default): [`net`]: dial by URL, proxies, timeouts ([`connect`], [`Dialer`]).
//! - `poll`: [`poll`], the readiness-driven server on mio (one event loop per thread,
//!   `SO_REUSEPORT` listeners, no task and no buffer per idle connection).
//! - `tls` (default): `wss://` and TLS servers with rustls (aws-lc-rs provider chosen by the
//!   crate) trusting Mozilla's roots; `native-roots` adds the platform's.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "frame")]
#[doc(inline)]
pub use zerows_frame as frame;
#[cfg(feature = "upgrade")]
#[doc(inline)]
pub use zerows_upgrade as upgrade;
#[cfg(feature = "util")]
#[doc(inline)]
pub use zerows_util as util;

#[cfg(feature = "net")]
#[doc(inline)]
pub use zerows_net as net;
#[cfg(feature = "poll")]
#[doc(inline)]
pub use zerows_poll as poll;

#[cfg(all(feature = "net", feature = "tokio"))]
pub use zerows_net::connect_async;
#[cfg(feature = "net")]
pub use zerows_net::{DialError, Dialer, connect};
#[cfg(feature = "util")]
pub use zerows_upgrade::client::ClientRequest;
#[cfg(feature = "util")]
pub use zerows_upgrade::server::Upgrader;
#[cfg(feature = "axum")]
#[doc(inline)]
pub use zerows_util::axum;
#[cfg(feature = "hyper")]
#[doc(inline)]
pub use zerows_util::hyper;
#[cfg(feature = "util")]
pub use zerows_util::{
    Agreed, BufferPool, CloseCode, CloseFrame, Config, Error, KeepaliveConfig, Message,
    MessageReader, MessageWriter, OpCode, OwnedCloseFrame, OwnedMessage, PreparedMessage, ReadHalf,
    Role, Utf8Bytes, WebSocket, WriteHalf,
};
#[cfg(feature = "tokio")]
pub use zerows_util::{
    AsyncMessageReader, AsyncMessageWriter, AsyncReadHalf, AsyncWebSocket, AsyncWriteHalf,
};
