//! An in-memory stream for the integration tests: reads from a slice in chunks of chosen sizes,
//! writes into a fixed array. Neither direction allocates.

#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};

/// Reads `input` in pieces (each at most the next size in `splits`, then whatever is left),
/// writes into a fixed 4 KiB array.
pub struct MemStream<'a> {
    pub input: &'a [u8],
    pub splits: &'a [usize],
    pub reads: usize,
    pub out: [u8; 4096],
    pub written: usize,
    pub writes: usize,
}

impl<'a> MemStream<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self::split(input, &[])
    }

    pub fn split(input: &'a [u8], splits: &'a [usize]) -> Self {
        Self {
            input,
            splits,
            reads: 0,
            out: [0; 4096],
            written: 0,
            writes: 0,
        }
    }

    pub fn output(&self) -> &[u8] {
        &self.out[..self.written]
    }
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = self.splits.get(self.reads).copied().unwrap_or(usize::MAX);
        self.reads += 1;
        let n = buf.len().min(self.input.len()).min(limit);
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.out.len() - self.written);
        self.out[self.written..self.written + n].copy_from_slice(&buf[..n]);
        self.written += n;
        self.writes += 1;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
