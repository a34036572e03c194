//! Reusable I/O buffers shared between connections.
//!
//! A server with many mostly idle connections shares one [`BufferPool`]: a connection takes a read
//! buffer when bytes arrive and gives it back once it has no partial frame or message left, so an
//! idle connection holds no I/O buffer (the "million WebSockets" design of gobwas).
//!
//! No pooled buffer carries one user's bytes to the next: every byte of a buffer the pool hands
//! out is zero. [`BufferPool::give`] discards a buffer's contents (the next
//! [`take`](BufferPool::take) writes zeros over what it needs); the connections in this crate give
//! their read buffers back through [`BufferPool::give_used`], which zeroes just the bytes that were
//! received into them, so an idle connection's release costs a `memset` of what it read, not of
//! the whole buffer.

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
    /// capacity. Nothing of a buffer's previous user is visible in it.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let reused = {
            let mut idle = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let at = idle.iter().rposition(|b| b.capacity() >= len);
            at.map(|i| idle.swap_remove(i))
        };
        // Invariant of the idle list: every byte in `..len()` of a kept buffer is zero (`give`
        // empties, `give_used` zeroes what was used). `resize` writes zeros past the old length,
        // `truncate` drops zeros: either way the result is all zeros.
        let mut buf = reused.unwrap_or_default();
        buf.resize(len, 0);
        buf.truncate(len);
        buf
    }

    /// Returns a buffer; its contents are discarded. It is kept if the pool is not full and the
    /// buffer is not too large.
    pub fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        self.keep(buf);
    }

    /// Returns a buffer whose bytes past `used` are still the zeros [`take`](Self::take) handed
    /// out: only `buf[..used]` is zeroed (a read buffer that received a 20-byte message costs a
    /// 20-byte `memset`, not one of its whole length). For a read buffer `used` is the high-water
    /// mark of the bytes the transport reported reading into it.
    pub(crate) fn give_used(&self, mut buf: Vec<u8>, used: usize) {
        let used = used.min(buf.len());
        buf[..used].fill(0);
        self.keep(buf);
    }

    fn keep(&self, buf: Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::BufferPool;

    #[test]
    fn a_returned_buffer_never_shows_its_bytes_again() {
        let pool = BufferPool::new(4);
        pool.give(vec![7; 100]);
        assert_eq!(pool.take(50), vec![0; 50]);
        pool.give(vec![7; 100]);
        assert_eq!(pool.take(100), vec![0; 100]);
        pool.give(vec![7; 100]);
        // Smaller than asked but with room: the new bytes are zeros too.
        let mut v = Vec::with_capacity(300);
        v.extend_from_slice(&[9; 10]);
        pool.give(v);
        assert!(pool.take(300).iter().all(|&b| b == 0));
        assert!(pool.take(100).iter().all(|&b| b == 0));
    }

    #[test]
    fn give_used_zeroes_the_used_prefix_only_and_take_sees_zeros() {
        let pool = BufferPool::new(4);
        let mut buf = pool.take(64);
        buf[..20].copy_from_slice(b"secret of another us");
        pool.give_used(buf, 20);
        assert_eq!(pool.take(64), vec![0; 64]);
        let mut buf = pool.take(64);
        buf[..20].fill(1);
        pool.give_used(buf, 20);
        assert_eq!(pool.take(32), vec![0; 32]);
    }

    #[test]
    fn oversized_and_surplus_buffers_are_freed() {
        let pool = BufferPool::new(1).max_buffer(1024);
        pool.give(vec![1; 2048]);
        assert_eq!(pool.idle(), 0);
        pool.give(vec![1; 16]);
        pool.give(vec![1; 16]);
        assert_eq!(pool.idle(), 1);
    }
}
