//! The server's limits and timers. Every size and every wait has a bound; each field documents
//! its default.

use std::time::Duration;

/// How a [`Server`](crate::Server) and each of its event loops behave.
///
/// ```
/// use std::time::Duration;
/// use zerows_poll::Options;
///
/// let options = Options::default()
///     .threads(2)
///     .idle_timeout(Some(Duration::from_secs(300)));
/// assert_eq!(options.handshake_timeout, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Event loops (threads), each with its own `SO_REUSEPORT` listener on the address. Default:
    /// the number of CPUs.
    pub threads: usize,
    /// Connections one event loop holds at most; past it, new connections are accepted and
    /// closed at once (the listener's backlog would only delay the refusal). Default: 1,000,000.
    pub max_connections: usize,
    /// How long a client has to send its whole request head (a slowloris peer is cut off):
    /// the connection is closed without a response. Default: 10 s.
    pub handshake_timeout: Duration,
    /// Close a connection (1001, "idle timeout") when nothing arrived from the peer for this
    /// long. Default: off (`None`); use [`Config::keepalive`](zerows_util::Config::keepalive) to
    /// detect dead peers with pings.
    pub idle_timeout: Option<Duration>,
    /// Close a connection (1008, "stalled") when no byte moved either way for this long while it
    /// is stuck: it started a frame or a message and sent nothing more, or output waits for it
    /// and it takes none (a peer that sends faster than it reads is paused, then cut off here).
    /// A peer cannot hold a read buffer or a backlog forever. Default: 60 s.
    pub stall_timeout: Duration,
    /// Once more than this many bytes wait to be written to a connection after a send, the send
    /// says [`SendStatus::Backpressured`](crate::SendStatus) and the handler's
    /// [`on_drain`](crate::Handler::on_drain) runs when they are all written. Default: 64 KiB.
    pub backpressure_threshold: usize,
    /// A send to a connection that already has more than this many bytes waiting is refused
    /// and the connection is closed with 1008 (policy violation): a consumer that does not read
    /// costs at most this plus one message (plus the kernel's socket buffer). Default: 1 MiB.
    pub max_backlog: usize,
    /// The listener's accept backlog. Default: 1024.
    pub listen_backlog: i32,
    /// The timers' resolution: deadlines fire up to this late. Default: 10 ms.
    pub timer_tick: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            max_connections: 1_000_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
            stall_timeout: Duration::from_secs(60),
            backpressure_threshold: 64 << 10,
            max_backlog: 1 << 20,
            listen_backlog: 1024,
            timer_tick: Duration::from_millis(10),
        }
    }
}

impl Options {
    /// Sets [`threads`](Self::threads) (at least 1).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Options {
        self.threads = threads.max(1);
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Options {
        self.max_connections = max;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Options {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Options {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`stall_timeout`](Self::stall_timeout).
    #[must_use]
    pub fn stall_timeout(mut self, timeout: Duration) -> Options {
        self.stall_timeout = timeout;
        self
    }

    /// Sets [`backpressure_threshold`](Self::backpressure_threshold).
    #[must_use]
    pub fn backpressure_threshold(mut self, bytes: usize) -> Options {
        self.backpressure_threshold = bytes;
        self
    }

    /// Sets [`max_backlog`](Self::max_backlog).
    #[must_use]
    pub fn max_backlog(mut self, bytes: usize) -> Options {
        self.max_backlog = bytes;
        self
    }
}
