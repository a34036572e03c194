//! Connection configuration: protocol limits, buffer sizes, control-frame behaviour.

use std::time::Duration;

use zerows_frame::Role;

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
    /// Where buffers come from and go back to. Default: none (each connection owns its buffers and
    /// keeps them). With a pool, an idle connection holds no I/O buffer at all.
    pub pool: Option<BufferPool>,
    /// permessage-deflate to offer (client) or accept (server) in the handshakes that take a
    /// `Config` ([`WebSocket::accept_config`](crate::WebSocket::accept_config),
    /// [`WebSocket::connect`](crate::WebSocket::connect) and their async twins). Default: none.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateConfig>,
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
            pool: None,
            #[cfg(feature = "deflate")]
            deflate: None,
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

    /// Offers (client) or accepts (server) permessage-deflate with `deflate`.
    #[cfg(feature = "deflate")]
    #[must_use]
    pub fn deflate(mut self, deflate: crate::deflate::DeflateConfig) -> Config {
        self.deflate = Some(deflate);
        self
    }

    pub(crate) fn for_role(mut self, role: Role) -> Config {
        self.frame.role = role;
        self.read_buffer_size = self.read_buffer_size.max(512);
        self
    }
}
