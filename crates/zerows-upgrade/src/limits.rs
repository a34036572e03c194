//! Limits on what a peer may make the parser look at.

/// Limits applied while parsing a request or response head.
///
/// Every limit is checked before the bytes it guards are examined, so a peer can never make the
/// parser (or the std layer, which reads into a fixed buffer) use more than these amounts; nothing
/// is ever allocated. Exceeding a limit in a request answers `431 Request Header Fields Too Large`
/// (or `414 URI Too Long` for the request line).
///
/// ```
/// use zerows_upgrade::Limits;
/// let limits = Limits::new().with_max_head_size(4096).with_max_headers(32);
/// assert_eq!(limits.max_head_size, 4096);
/// assert_eq!(limits.max_line_length, Limits::DEFAULT.max_line_length);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum size of the whole head in bytes: start line, header lines, the empty line and
    /// their terminators. Default: 8192 (8 KiB), like nginx's default `large_client_header_buffers`
    /// line size and gobwas' buffer. Exceeding it: [`Error::HeadTooLarge`](crate::Error::HeadTooLarge), `431`.
    pub max_head_size: usize,
    /// Maximum number of header fields. Default: 64 (browsers send about 15).
    /// Exceeding it: [`Error::TooManyHeaders`](crate::Error::TooManyHeaders), `431`.
    pub max_headers: usize,
    /// Maximum length of one line (start line or header line) without its terminator.
    /// Default: 4096. Exceeding it: [`Error::RequestLineTooLong`](crate::Error::RequestLineTooLong)
    /// (`414`) or [`Error::HeaderLineTooLong`](crate::Error::HeaderLineTooLong) (`431`).
    pub max_line_length: usize,
}

impl Limits {
    /// The defaults: 8 KiB head, 64 headers, 4 KiB lines.
    pub const DEFAULT: Self = Self {
        max_head_size: 8192,
        max_headers: 64,
        max_line_length: 4096,
    };

    /// The defaults ([`Limits::DEFAULT`]).
    #[must_use]
    pub const fn new() -> Self {
        Self::DEFAULT
    }

    /// Sets the maximum head size in bytes.
    #[must_use]
    pub const fn with_max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// Sets the maximum number of header fields.
    #[must_use]
    pub const fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Sets the maximum length of one line.
    #[must_use]
    pub const fn with_max_line_length(mut self, bytes: usize) -> Self {
        self.max_line_length = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
