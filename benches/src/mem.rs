//! An in-memory stream: reads a fixed input, counts and discards what is written. It implements
//! `std::io`, tokio and futures I/O traits so every stack can run over it, and never returns
//! `Pending`.

use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Reads `input` once (then end-of-stream), discards writes after counting them.
#[derive(Debug)]
pub struct Mem<'a> {
    input: &'a [u8],
    /// Bytes written so far.
    pub written: u64,
    /// Write calls so far (a vectored write counts once).
    pub writes: u64,
}

impl<'a> Mem<'a> {
    /// A stream that will read `input`.
    pub fn new(input: &'a [u8]) -> Mem<'a> {
        Mem {
            input,
            written: 0,
            writes: 0,
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

    fn put(&mut self, n: usize) -> usize {
        self.written += n as u64;
        self.writes += 1;
        n
    }
}

impl Read for Mem<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.take(buf))
    }
}

impl Write for Mem<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.put(buf.len()))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.put(bufs.iter().map(|b| b.len()).sum()))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl zerows_util::Transport for Mem<'_> {}
impl zerows_util::Transport for &mut Mem<'_> {}

impl tokio::io::AsyncRead for Mem<'_> {
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

impl tokio::io::AsyncWrite for Mem<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put(buf.len())))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put(bufs.iter().map(|b| b.len()).sum())))
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

impl futures_util::io::AsyncRead for Mem<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().take(buf)))
    }
}

impl futures_util::io::AsyncWrite for Mem<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put(buf.len())))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().put(bufs.iter().map(|b| b.len()).sum())))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
