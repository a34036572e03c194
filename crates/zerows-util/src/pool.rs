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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A pool of byte buffers, cheap to clone (all clones share the buffers).
///
/// [`Config::default`](crate::Config) uses [`BufferPool::shared`], so connections hold no I/O
/// buffer while idle without any setup; give a connection a pool of its own, or none
/// ([`Config::without_pool`](crate::Config::without_pool)), to change that.
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
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Idle buffers, in shards chosen by thread (a multi-threaded server's threads do not
    /// contend for one lock). Invariant: every byte in `..len()` of a kept buffer is zero.
    shards: Box<[Mutex<Shard>]>,
    max_idle: usize,
    max_idle_bytes: usize,
    max_buffer: usize,
}

#[derive(Debug, Default)]
struct Shard {
    idle: Vec<Vec<u8>>,
    bytes: usize,
}

/// How many of a shard's most recently returned buffers `take` looks at.
const SCAN: usize = 32;

/// Each thread's shard, assigned round-robin on first use.
fn shard_index(n: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    if n == 1 { 0 } else { INDEX.with(|i| *i) % n }
}

impl BufferPool {
    /// Buffers larger than this (a message buffer that grew for a big message) are freed rather than
    /// kept: 1 MiB.
    pub const DEFAULT_MAX_BUFFER: usize = 1 << 20;

    /// What each shard of [`shared`](Self::shared) keeps idle at most: 2 MiB (128 read buffers of
    /// 16 KiB). The shared pool has four shards per CPU.
    pub const SHARED_SHARD_MAX_IDLE_BYTES: usize = 2 << 20;

    /// A pool that keeps at most `max_idle` buffers.
    pub fn new(max_idle: usize) -> BufferPool {
        BufferPool::build(1, max_idle, usize::MAX)
    }

    fn build(shards: usize, max_idle: usize, max_idle_bytes: usize) -> BufferPool {
        BufferPool {
            inner: Arc::new(Inner {
                shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
                max_idle,
                max_idle_bytes,
                max_buffer: Self::DEFAULT_MAX_BUFFER,
            }),
        }
    }

    /// The process-wide pool every [`Config::default`](crate::Config) uses: four shards per CPU
    /// (threads are spread over them, so a multi-threaded runtime's threads rarely share a lock
    /// or each other's buffers), each keeping at most
    /// [`SHARED_SHARD_MAX_IDLE_BYTES`](Self::SHARED_SHARD_MAX_IDLE_BYTES) idle; buffers over 1 MiB
    /// are freed.
    pub fn shared() -> BufferPool {
        static SHARED: OnceLock<BufferPool> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                BufferPool::build(4 * cpus, usize::MAX, Self::SHARED_SHARD_MAX_IDLE_BYTES)
            })
            .clone()
    }

    /// Sets the size above which a returned buffer is freed instead of kept.
    #[must_use]
    pub fn max_buffer(self, bytes: usize) -> BufferPool {
        let inner = &self.inner;
        BufferPool {
            inner: Arc::new(Inner {
                shards: (0..inner.shards.len()).map(|_| Mutex::default()).collect(),
                max_idle: inner.max_idle,
                max_idle_bytes: inner.max_idle_bytes,
                max_buffer: bytes,
            }),
        }
    }

    fn shard(&self) -> std::sync::MutexGuard<'_, Shard> {
        let shards = &self.inner.shards;
        shards[shard_index(shards.len())]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A zero-initialised buffer of exactly `len` bytes, reused if the pool has one with enough
    /// capacity. Nothing of a buffer's previous user is visible in it.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let reused = {
            let mut shard = self.shard();
            // Among the most recently returned buffers (hot in cache, and a bounded scan): the
            // smallest that fits a known size, the largest for one that will grow (len 0), so
            // each buffer settles into the role its size fits and steady state allocates nothing.
            let first = shard.idle.len().saturating_sub(SCAN);
            let fits = shard.idle[first..]
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len);
            let best = if len == 0 {
                fits.max_by_key(|(_, b)| b.capacity())
            } else {
                fits.min_by_key(|(_, b)| b.capacity())
            };
            best.map(|(i, _)| first + i).map(|i| {
                let b = shard.idle.swap_remove(i);
                shard.bytes -= b.capacity();
                b
            })
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
        let cap = buf.capacity();
        if cap == 0 || cap > self.inner.max_buffer {
            return;
        }
        let mut shard = self.shard();
        if shard.idle.len() < self.inner.max_idle && shard.bytes + cap <= self.inner.max_idle_bytes
        {
            shard.bytes += cap;
            shard.idle.push(buf);
        }
    }

    /// How many buffers are idle in the pool.
    pub fn idle(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).idle.len())
            .sum()
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
