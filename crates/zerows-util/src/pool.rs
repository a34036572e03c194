//! Reusable I/O buffers shared between connections.
//!
//! A server with many mostly idle connections shares one [`BufferPool`]: a connection takes a read
//! buffer when bytes arrive and gives it back once it has no partial frame or message left, so an
//! idle connection holds no I/O buffer (the "million WebSockets" design of gobwas).

use std::sync::{Arc, Mutex};

/// A pool of byte buffers, cheap to clone (all clones share the buffers).
///
/// ```
/// use zerows_util::BufferPool;
///
/// let pool = BufferPool::new(1024); // keep at most 1024 idle buffers
/// let buf = pool.take(16 << 10);
/// assert_eq!(buf.len(), 16 << 10);
/// pool.give(buf);
/// assert_eq!(pool.idle(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct BufferPool {
    inner: Arc<Mutex<Vec<Vec<u8>>>>,
    max_idle: usize,
    max_buffer: usize,
}

impl BufferPool {
    /// Buffers larger than this (a message buffer that grew for a big message) are freed rather than
    /// kept: 1 MiB.
    pub const DEFAULT_MAX_BUFFER: usize = 1 << 20;

    /// A pool that keeps at most `max_idle` buffers.
    pub fn new(max_idle: usize) -> BufferPool {
        BufferPool {
            inner: Arc::new(Mutex::new(Vec::new())),
            max_idle,
            max_buffer: Self::DEFAULT_MAX_BUFFER,
        }
    }

    /// Sets the size above which a returned buffer is freed instead of kept.
    #[must_use]
    pub fn max_buffer(mut self, bytes: usize) -> BufferPool {
        self.max_buffer = bytes;
        self
    }

    /// A zero-initialised buffer of exactly `len` bytes, reused if the pool has one with enough
    /// capacity.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let reused = {
            let mut idle = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let at = idle.iter().rposition(|b| b.capacity() >= len);
            at.map(|i| idle.swap_remove(i))
        };
        let mut buf = reused.unwrap_or_default();
        // Buffers come back with their contents; length is what callers rely on, not zeroes.
        buf.resize(len, 0);
        buf.truncate(len);
        buf
    }

    /// Returns a buffer. It is kept if the pool is not full and the buffer is not too large.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_buffer {
            return;
        }
        let mut idle = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(buf);
        }
    }

    /// How many buffers are idle in the pool.
    pub fn idle(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Takes a buffer of `len` bytes from the pool, or allocates one.
pub(crate) fn take(pool: Option<&BufferPool>, len: usize) -> Vec<u8> {
    match pool {
        Some(p) => p.take(len),
        None => vec![0; len],
    }
}
