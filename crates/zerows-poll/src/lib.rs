//! A readiness-driven WebSocket server (RFC 6455) on [mio]: the netpoll design of gobwas/ws and
//! uWebSockets in Rust. One event loop per thread, each with its own `SO_REUSEPORT` listener;
//! connections live in a slab; a connection with nothing to read or write holds no buffer, no
//! task and no future — only its socket and a slot of about 48 bytes.
//!
//! - **The connection core** is zerows-util's sans-IO [`Connection`](zerows_util::Connection),
//!   run unchanged: the same protocol rules as the blocking and tokio drivers. Between messages a
//!   connection is [dormant](zerows_util::Connection::is_dormant) and its `Connection` is dropped
//!   back into a spare box; bytes arriving (or a send) build it again, with buffers from the
//!   [`BufferPool`](zerows_util::BufferPool) only while a frame is in progress or output waits.
//! - **The handshake runs in the loop**: the zero-allocation upgrade parser
//!   ([`accept_request`](zerows_util::accept_request)) over the loop's scratch buffer (a buffer
//!   of its own only for a request that arrives in pieces), with an [`Upgrader`]'s hooks to accept
//!   or reject by path, headers and `Origin` and to choose the subprotocol. Bytes after the head
//!   are kept.
//! - **Timers** are one hashed timing wheel per loop, threaded through the slots: the handshake
//!   timeout (slowloris), the idle timeout, keepalive pings ([`Config::keepalive`]) and the close
//!   timeout never allocate per connection.
//! - **The application** is a [`Handler`]: `on_open`, `on_message` (borrowed from the read
//!   buffer, zero copy), `on_drain`, `on_close`, with a [`Context`] to send to this or any
//!   connection of the loop and to [`broadcast`](Context::broadcast) a
//!   [`PreparedMessage`](zerows_util::PreparedMessage) (encoded once, never copied per
//!   connection); a [`Handle`] sends from other threads.
//! - **Backpressure** keeps memory bounded: past [`Options::backpressure_threshold`] a send
//!   says [`SendStatus::Backpressured`] and `on_drain` follows; past [`Options::max_backlog`] the
//!   connection is closed with 1008. A peer that sends faster than it reads its echoes is not read
//!   from until it catches up.
//!
//! ```no_run
//! use std::sync::Arc;
//! use zerows_poll::{ConnId, Context, Handler, Options, Server};
//! use zerows_util::{Config, Message};
//!
//! /// Echoes every message to its sender.
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
//!         let _ = cx.send(id, message.opcode(), message.payload());
//!     }
//! }
//!
//! let server = Server::bind("127.0.0.1:9001", Options::default().threads(2), Arc::new(Config::default()))?;
//! println!("listening on {}", server.local_addr());
//! server.run(|_worker| Echo)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Bounds
//!
//! Every wait and every size has a limit ([`Options`], and the connection's
//! [`Config`](zerows_util::Config)):
//!
//! | what | default | then |
//! |---|---|---|
//! | request head | 8 KiB ([`MAX_REQUEST_HEAD`](zerows_util::MAX_REQUEST_HEAD)) | 431 |
//! | whole request head received | 10 s ([`Options::handshake_timeout`]) | closed, no response |
//! | a frame or message started, or output the peer takes none of | 60 s without a byte moving ([`Options::stall_timeout`]) | 1008 |
//! | nothing heard from the peer | off ([`Options::idle_timeout`]) | 1001 |
//! | keepalive | off ([`Config::keepalive`]) | a ping, then 1001 |
//! | our close frame answered | 1 s ([`Config::close_timeout`](zerows_util::Config)) | socket closed |
//! | output queued for a connection | 64 KiB ([`Options::backpressure_threshold`]) | [`SendStatus::Backpressured`], `on_drain` later; a peer outpacing its answers stops being read |
//! | output queued when a send comes | 1 MiB ([`Options::max_backlog`]) | the send is refused, 1008 |
//! | frame / message | 16 / 64 MiB ([`Config`](zerows_util::Config)`::frame`) | 1009 |
//! | connections per loop | 1,000,000 ([`Options::max_connections`]) | accepted and closed at once |
//!
//! Buffers come from the connection config's [`BufferPool`](zerows_util::BufferPool) (by
//! default the process-wide pool, sharded per thread: each loop thread uses its own shard).
//!
//! [`EventLoop`] is the loop without the I/O waiting: a driver of your own (io_uring, a test's
//! scripted sockets) feeds it readiness and time.
//!
//! [`Upgrader`]: zerows_upgrade::server::Upgrader
//! [`Config::keepalive`]: zerows_util::Config::keepalive

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod event_loop;
mod handle;
mod handler;
mod options;
mod server;
mod socket;
mod wheel;

pub use event_loop::{EventLoop, Stats};
pub use handle::Handle;
pub use handler::{Closed, ConnId, Context, Handler, Opened, SendError, SendStatus};
pub use options::Options;
pub use server::{Server, Service};
pub use socket::Socket;
