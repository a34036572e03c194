//! An in-memory stream: reads a fixed input, counts what is written and discards it (or, for
//! tests, keeps it). It implements `std::io`, tokio and futures I/O traits so every stack can run
//! over it, and never returns `Pending`.

use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a [`Mem`] does with the bytes written to it, besides counting them.
pub trait Keep {
    /// Called with each written buffer, in order.
    fn keep(&mut self, buf: &[u8]);
}

/// Keeps nothing: what the benchmarks measure with (the calls compile to nothing).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Keep for Discard {
    #[inline(always)]
    fn keep(&mut self, _buf: &[u8]) {}
}

/// Keeps every written byte, so a test can check what a stack wrote.
impl Keep for Vec<u8> {
    fn keep(&mut self, buf: &[u8]) {
        self.extend_from_slice(buf);
    }
}

/// Reads `input` once (then end-of-stream); counts writes and hands them to `K` (by default
/// [`Discard`]).
#[derive(Debug)]
pub struct Mem<'a, K: Keep = Discard> {
    input: &'a [u8],
    /// Bytes written so far.
    pub written: u64,
    /// Write calls so far (a vectored write counts once).
    pub writes: u64,
    /// What was kept of the writes ([`Discard`], or every byte in a `Vec<u8>`).
    pub kept: K,
}

impl<'a> Mem<'a> {
    /// A stream that will read `input` and discard what is written.
    pub fn new(input: &'a [u8]) -> Mem<'a> {
        Mem::keeping(input, Discard)
    }
}

impl<'a> Mem<'a, Vec<u8>> {
    /// A stream that will read `input` and keep every byte written, in `kept`.
    pub fn recording(input: &'a [u8]) -> Mem<'a, Vec<u8>> {
        Mem::keeping(input, Vec::new())
    }
}

impl<'a, K: Keep> Mem<'a, K> {
    /// A stream that will read `input` and hand what is written to `kept`.
    pub fn keeping(input: &'a [u8], kept: K) -> Mem<'a, K> {
        Mem {
            input,
            written: 0,
            writes: 0,
            kept,
        }
    }

    /// Input not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        n
    }

    fn put(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut n = 0;
        for b in bufs {
            self.kept.keep(b);
            n += b.len();
        }
        self.written += n as u64;
        self.writes += 1;
        n
    }

    fn put_one(&mut self, buf: &[u8]) -> usize {
        self.kept.keep(buf);
        self.written += buf.len() as u64;
        self.writes += 1;
        buf.len()
    }
}

impl<K: Keep> Read for Mem<'_, K> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.take(buf))
    }
}

impl<K: Keep> Write for Mem<'_, K> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.put_one(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.put(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<K: Keep> zerows_util::Transport for Mem<'_, K> {}
impl<K: Keep> zerows_util::Transport for &mut Mem<'_, K> {}

impl<K: Keep + Unpin> tokio::io::AsyncRead for Mem<'_, K> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.input.len());
        buf.put_slice(&this.input[..n]);
        this.input = &this.input[n..];
        Poll::Ready(Ok(()))
    }
}

impl<K: Keep + Unpin> tokio::io::AsyncWrite for Mem<'_, K> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put_one(buf)))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put(bufs)))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<K: Keep + Unpin> futures_util::io::AsyncRead for Mem<'_, K> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().take(buf)))
    }
}

impl<K: Keep + Unpin> futures_util::io::AsyncWrite for Mem<'_, K> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put_one(buf)))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put(bufs)))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
