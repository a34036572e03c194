//! Decoder configuration: role, extension bits and limits.

use crate::Role;
use crate::header::Rsv;

/// What a receiver accepts. Every size has a limit; the defaults suit a general-purpose server and
/// are the ones listed on each field.
///
/// ```
/// use zerows_frame::{Config, Role, Rsv};
///
/// let config = Config::new(Role::Server)
///     .max_message_size(1 << 20)
///     .extension_rsv(Rsv::RSV1); // permessage-deflate was negotiated
/// assert_eq!(config.max_frame_size, 1 << 20); // a frame cannot exceed its message
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// Which end we are. A server receives masked frames, a client unmasked ones (RFC 6455 §5.1).
    pub role: Role,
    /// The RSV bits that negotiated extensions own (RFC 6455 §5.2). Default: none. An owned bit is
    /// a per-message bit (as RSV1 is for permessage-deflate, RFC 7692 §6): accepted on the first
    /// frame of a data message only, never on a continuation or control frame.
    pub extension_rsv: Rsv,
    /// The largest data frame payload accepted, checked from the header before any payload is
    /// read. Default: 16 MiB. A larger frame is
    /// [`Error::FrameTooLarge`](crate::Error::FrameTooLarge) (1009). Control frames are not
    /// subject to it: RFC 6455 §5.5 bounds them at 125 bytes, always accepted.
    pub max_frame_size: u64,
    /// The largest message accepted (the sum of its data frames' payloads), checked from each
    /// header before its payload is read. Default: 64 MiB. Control frames do not count.
    /// Beyond it: [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) (1009).
    pub max_message_size: u64,
    /// The most frames one message may have. Default: 131,072 (Autobahn 9.3/9.4 send 4 MiB in
    /// 64-byte fragments, 65,536 frames). Beyond it:
    /// [`Error::TooManyFragments`](crate::Error::TooManyFragments) (1009).
    pub max_fragments: u32,
    /// Whether text messages are checked to be UTF-8 as they arrive (RFC 6455 §8.1). Default: on.
    /// Messages that an extension transforms (an owned RSV bit set) are not checked here: the
    /// extension checks its output.
    pub validate_utf8: bool,
}

impl Config {
    /// Default maximum frame payload: 16 MiB.
    pub const DEFAULT_MAX_FRAME_SIZE: u64 = 16 << 20;
    /// Default maximum message size: 64 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 << 20;
    /// Default maximum number of frames per message: 131,072.
    pub const DEFAULT_MAX_FRAGMENTS: u32 = 1 << 17;

    /// The defaults for `role`.
    pub const fn new(role: Role) -> Config {
        Config {
            role,
            extension_rsv: Rsv::NONE,
            max_frame_size: Self::DEFAULT_MAX_FRAME_SIZE,
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_fragments: Self::DEFAULT_MAX_FRAGMENTS,
            validate_utf8: true,
        }
    }

    /// Sets [`extension_rsv`](Self::extension_rsv).
    #[must_use]
    pub const fn extension_rsv(mut self, rsv: Rsv) -> Config {
        self.extension_rsv = rsv;
        self
    }

    /// Sets [`max_frame_size`](Self::max_frame_size).
    #[must_use]
    pub const fn max_frame_size(mut self, bytes: u64) -> Config {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size), and lowers
    /// [`max_frame_size`](Self::max_frame_size) to it if it was larger.
    #[must_use]
    pub const fn max_message_size(mut self, bytes: u64) -> Config {
        self.max_message_size = bytes;
        if self.max_frame_size > bytes {
            self.max_frame_size = bytes;
        }
        self
    }

    /// Sets [`max_fragments`](Self::max_fragments).
    #[must_use]
    pub const fn max_fragments(mut self, frames: u32) -> Config {
        self.max_fragments = frames;
        self
    }

    /// Sets [`validate_utf8`](Self::validate_utf8).
    #[must_use]
    pub const fn validate_utf8(mut self, on: bool) -> Config {
        self.validate_utf8 = on;
        self
    }
}
