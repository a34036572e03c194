//! Connection configuration: protocol limits, buffer sizes, control-frame behaviour.

use std::sync::Arc;
use std::time::Duration;

use zerows_frame::Role;

use crate::extension::Negotiate;
use crate::pool::BufferPool;

/// How a connection behaves. Every size has a limit; each field documents its default.
///
/// ```
/// use zerows_util::Config;
///
/// let config = Config::default()
///     .max_message_size(1 << 20) // 1 MiB; frames are capped to it too
///     .auto_pong(false);         // the application answers pings itself
/// assert_eq!(config.frame.max_frame_size, 1 << 20);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The frame-layer rules and limits: `max_frame_size` (16 MiB), `max_message_size` (64 MiB),
    /// `max_fragments` (131,072), `validate_utf8` (on), extension RSV bits (none). The role in it
    /// is set by the connection.
    pub frame: zerows_frame::Config,
    /// Answer each ping with a pong automatically, from the read call that receives it. Default: on.
    /// Pings are reported to the application either way.
    pub auto_pong: bool,
    /// The read buffer size in bytes. Default: 16 KiB (minimum 512). Payloads larger than this
    /// flow through it or are read straight into the message buffer; it never grows.
    pub read_buffer_size: usize,
    /// The write buffer size in bytes. Default: 16 KiB (minimum 512). Messages fed with
    /// `feed_message` are queued, encoded, until [`flush`](crate::WebSocket::flush), a `send_*`, or
    /// a read that waits for input writes them all at once; the queue is written out before it
    /// would grow past this size, and a server message that does not fit is written straight from
    /// the caller's buffer (behind the queue, one vectored write) instead of being copied. Client
    /// frames are always copied (to mask them), so a client's buffer grows to its largest frame.
    /// Taken from [`pool`](Self::pool) while frames are queued, given back when they are written.
    pub write_buffer_size: usize,
    /// The frame size the streaming writer fragments into. Default: 64 KiB.
    pub fragment_size: usize,
    /// Whole messages (`send_*`) larger than this are sent as several frames, so that a peer with a
    /// frame limit but a larger message limit (ours by default: 16 MiB and 64 MiB) can take them.
    /// Default: 16 MiB.
    pub max_send_frame_size: usize,
    /// How long to wait for the peer's close frame, or for the peer to close the TCP connection,
    /// once we have sent ours (RFC 6455 §7.1.1). Default: 1 s.
    pub close_timeout: Duration,
    /// Where buffers come from and go back to while data flows. Default: the process-wide
    /// [`BufferPool::shared`], so an idle connection holds no I/O buffer; `None`
    /// ([`without_pool`](Self::without_pool)): each connection owns its buffers and keeps them
    /// (`read_buffer_size` while idle, plus the largest message buffer it grew).
    pub pool: Option<BufferPool>,
    /// The extension to offer (client) or accept (server) in the handshakes that take a `Config`
    /// (RFC 6455 §9), e.g. permessage-deflate ([`Config::deflate`] with the `deflate` feature).
    /// Default: none.
    pub extension: Option<Arc<dyn Negotiate>>,
    /// Ping the peer after this long without receiving anything and fail the connection (close
    /// 1001, [`Error::Io`](crate::Error::Io) `TimedOut`) if nothing arrives within the timeout
    /// after the ping. Default: off.
    pub keepalive: Option<KeepaliveConfig>,
    /// Headers of the handshake to keep on the connection ([`Agreed::header`](crate::Agreed)):
    /// request headers on a server (e.g. `cookie`), response headers on a client (e.g.
    /// `set-cookie`). Names are case-insensitive. Default: none (nothing is copied).
    pub keep_headers: Vec<String>,
}

/// The keepalive timer's settings; see [`Config::keepalive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Ping after this long without receiving anything.
    pub interval: Duration,
    /// Give up if nothing arrives this long after the ping.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            frame: zerows_frame::Config::new(Role::Server),
            auto_pong: true,
            read_buffer_size: Config::DEFAULT_READ_BUFFER_SIZE,
            write_buffer_size: Config::DEFAULT_WRITE_BUFFER_SIZE,
            fragment_size: Config::DEFAULT_FRAGMENT_SIZE,
            max_send_frame_size: Config::DEFAULT_MAX_SEND_FRAME_SIZE,
            close_timeout: Duration::from_secs(1),
            pool: Some(BufferPool::shared()),
            extension: None,
            keepalive: None,
            keep_headers: Vec::new(),
        }
    }
}

impl Config {
    /// Default read buffer: 16 KiB.
    pub const DEFAULT_READ_BUFFER_SIZE: usize = 16 << 10;
    /// Default write buffer: 16 KiB.
    pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 16 << 10;
    /// Default fragment size of the streaming writer: 64 KiB.
    pub const DEFAULT_FRAGMENT_SIZE: usize = 64 << 10;
    /// Default largest frame `send_*` writes: 16 MiB.
    pub const DEFAULT_MAX_SEND_FRAME_SIZE: usize = 16 << 20;

    /// Sets the maximum message size (and caps the maximum frame size to it). Control frames do
    /// not count: they are bounded at 125 bytes by RFC 6455 §5.5 and always accepted up to that.
    #[must_use]
    pub fn max_message_size(mut self, bytes: u64) -> Config {
        self.frame = self.frame.max_message_size(bytes);
        self
    }

    /// Sets the maximum data frame payload size (control frames: 125 bytes, RFC 6455 §5.5).
    #[must_use]
    pub fn max_frame_size(mut self, bytes: u64) -> Config {
        self.frame = self.frame.max_frame_size(bytes);
        self
    }

    /// Sets the maximum number of frames per message.
    #[must_use]
    pub fn max_fragments(mut self, frames: u32) -> Config {
        self.frame = self.frame.max_fragments(frames);
        self
    }

    /// Turns the incremental UTF-8 check of text messages on or off. Off, a text message that is
    /// not UTF-8 cannot be handed out as `&str`: [`read`](crate::WebSocket::read) returns it as
    /// [`Message::Binary`](crate::Message::Binary) and `read_into` returns `OpCode::Text` with the
    /// raw bytes.
    #[must_use]
    pub fn validate_utf8(mut self, on: bool) -> Config {
        self.frame = self.frame.validate_utf8(on);
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong).
    #[must_use]
    pub fn auto_pong(mut self, on: bool) -> Config {
        self.auto_pong = on;
        self
    }

    /// Sets [`read_buffer_size`](Self::read_buffer_size).
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Config {
        self.read_buffer_size = bytes.max(512);
        self
    }

    /// Sets [`write_buffer_size`](Self::write_buffer_size).
    #[must_use]
    pub fn write_buffer_size(mut self, bytes: usize) -> Config {
        self.write_buffer_size = bytes.max(512);
        self
    }

    /// Sets [`fragment_size`](Self::fragment_size).
    #[must_use]
    pub fn fragment_size(mut self, bytes: usize) -> Config {
        self.fragment_size = bytes.max(1);
        self
    }

    /// Sets [`max_send_frame_size`](Self::max_send_frame_size).
    #[must_use]
    pub fn max_send_frame_size(mut self, bytes: usize) -> Config {
        self.max_send_frame_size = bytes.max(1);
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Config {
        self.close_timeout = timeout;
        self
    }

    /// Takes buffers from `pool` while data flows and gives them back when the connection is idle.
    #[must_use]
    pub fn pool(mut self, pool: BufferPool) -> Config {
        self.pool = Some(pool);
        self
    }

    /// No pool: each connection allocates its own buffers and keeps them while idle (what a
    /// thread-per-connection server with few connections may prefer).
    #[must_use]
    pub fn without_pool(mut self) -> Config {
        self.pool = None;
        self
    }

    /// Offers (client) or accepts (server) `extension` in the handshake.
    #[must_use]
    pub fn extension(mut self, extension: impl Negotiate + 'static) -> Config {
        self.extension = Some(Arc::new(extension));
        self
    }

    /// Pings after `interval` without input and fails the connection when nothing answers within
    /// `timeout`; see [`keepalive`](Self::keepalive).
    #[must_use]
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Config {
        self.keepalive = Some(KeepaliveConfig { interval, timeout });
        self
    }

    /// Keeps the handshake header `name` on the connection; see
    /// [`keep_headers`](Self::keep_headers).
    #[must_use]
    pub fn keep_header(mut self, name: &str) -> Config {
        self.keep_headers.push(name.to_ascii_lowercase());
        self
    }

    /// The frame layer's rules for `role`.
    pub(crate) fn frame_for(&self, role: Role) -> zerows_frame::Config {
        let mut frame = self.frame;
        frame.role = role;
        frame
    }
}
