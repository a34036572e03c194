//! Clients for the hyper and axum upgrade tests: raw HTTP requests (to see the exact status,
//! headers and body a refusal gets) and a raw permessage-deflate client (to see RSV1 and the
//! compressed bytes on the wire, not only what our own client decodes).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every wait of these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A response as received: status, head (lower-cased), body.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl RawResponse {
    /// The value of header `name` (lower-case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            (n.trim() == name).then(|| v.trim())
        })
    }
}

/// A valid upgrade request for `path` on `addr`, plus `extra` header lines (each ending in CRLF).
pub(crate) fn upgrade_request(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Reads a response head (up to the blank line) from `stream`; returns it and the bytes read
/// after it.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return (String::from_utf8(buf).expect("ASCII head"), rest);
        }
        read_more(stream, &mut buf, "the response head").await;
    }
}

/// Appends what one read gives to `buf`; `what` was expected (the connection must not close).
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>, what: &str) {
    let mut chunk = [0u8; 16 << 10];
    let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
        .await
        .unwrap_or_else(|_| panic!("{what} in time"))
        .expect("read");
    assert!(n > 0, "connection closed before {what}: {buf:?}");
    buf.extend_from_slice(&chunk[..n]);
}

fn parse_head(head: &str, body: String) -> RawResponse {
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

/// Sends `request` as is and reads the response (its body by `Content-Length`).
pub(crate) async fn raw_request(addr: SocketAddr, request: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (head, mut body) = read_head(&mut stream).await;
    let resp = parse_head(&head, String::new());
    let len: usize = resp
        .header("content-length")
        .map_or(0, |v| v.parse().expect("content-length"));
    while body.len() < len {
        read_more(&mut stream, &mut body, "the body").await;
    }
    parse_head(&head, String::from_utf8(body).expect("UTF-8 body"))
}

/// RFC 7692 §7.2.1: a message compressed with a sync flush, without the trailing 00 00 FF FF.
pub(crate) fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync)
        .expect("deflate");
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// RFC 7692 §7.2.2: appends 00 00 FF FF and inflates.
pub(crate) fn inflate_raw(data: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .expect("inflate");
    out
}

/// A raw WebSocket client: the upgrade's response, then frames as bytes.
pub(crate) struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    pub(crate) response: RawResponse,
}

/// A frame as received: first byte (FIN, RSV, opcode) and payload.
#[derive(Debug)]
pub(crate) struct RawFrame {
    pub(crate) b0: u8,
    pub(crate) payload: Vec<u8>,
}

impl RawFrame {
    /// Whether RSV1 (permessage-deflate's "compressed" bit) is set.
    pub(crate) fn rsv1(&self) -> bool {
        self.b0 & 0x40 != 0
    }

    /// The opcode.
    pub(crate) fn opcode(&self) -> u8 {
        self.b0 & 0x0f
    }
}

impl RawClient {
    /// Sends `request` and reads the response head.
    pub(crate) async fn connect(addr: SocketAddr, request: &str) -> RawClient {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let (head, buf) = read_head(&mut stream).await;
        RawClient {
            stream,
            buf,
            response: parse_head(&head, String::new()),
        }
    }

    /// Writes one masked frame with first byte `b0`.
    pub(crate) async fn send(&mut self, b0: u8, payload: &[u8]) {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![b0];
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | u8::try_from(n).unwrap()),
            n @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.expect("write frame");
    }

    async fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            read_more(&mut self.stream, &mut self.buf, "the frame's end").await;
        }
    }

    /// Reads one (unmasked, server) frame.
    pub(crate) async fn recv(&mut self) -> RawFrame {
        self.fill(2).await;
        let b0 = self.buf[0];
        let (len, header) = match self.buf[1] & 0x7f {
            126 => {
                self.fill(4).await;
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.fill(10).await;
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.buf[2..10]);
                (usize::try_from(u64::from_be_bytes(b)).unwrap(), 10)
            }
            n => (n as usize, 2),
        };
        assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
        self.fill(header + len).await;
        let payload = self.buf[header..header + len].to_vec();
        self.buf.drain(..header + len);
        RawFrame { b0, payload }
    }
}
