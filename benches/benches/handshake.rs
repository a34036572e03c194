//! Server opening handshake: zerows-upgrade against tungstenite, same request, same run.
//!
//! `from_bytes`: parse the request, validate, compute the accept key, write the 101 response
//! into a buffer (tungstenite: `Request::try_parse` + `create_response` + `write_response` into
//! a reused `Vec`, the pieces its `ServerHandshake` runs).
//! `over_stream`: the whole server handshake over an in-memory `Read + Write`
//! (`server::accept` vs `tungstenite::accept`, which also builds its `WebSocket`).
//!
//! Run: `cargo bench -p zerows-benches --bench handshake`.

use std::hint::black_box;
use std::io::{self, Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tungstenite::handshake::machine::TryParse;
use tungstenite::handshake::server::{Request, create_response, write_response};
use zerows_upgrade::Status;
use zerows_upgrade::server::{self, Upgrader};

/// Chromium's handshake (see `crates/zerows-upgrade/tests/real_world.rs`).
const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
    Host: localhost:8080\r\n\
    Connection: Upgrade\r\n\
    Pragma: no-cache\r\n\
    Cache-Control: no-cache\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
    Upgrade: websocket\r\n\
    Origin: http://localhost:8080\r\n\
    Sec-WebSocket-Version: 13\r\n\
    Accept-Encoding: gzip, deflate, br, zstd\r\n\
    Accept-Language: en-US,en;q=0.9\r\n\
    Cookie: session=4f2a9c1e; theme=dark\r\n\
    Sec-WebSocket-Key: HtgQOeqG6cH+bLix+RfLAw==\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
    \r\n";

/// An in-memory stream: reads `input` once, discards what is written.
struct Mem {
    input: &'static [u8],
    written: usize,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn from_bytes(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_upgrade/from_bytes");
    g.throughput(Throughput::Bytes(REQUEST.len() as u64));
    g.bench_function("zerows", |b| {
        let mut up = Upgrader::new();
        let mut out = [0u8; 512];
        b.iter(|| {
            let Status::Complete(u) = up.upgrade(black_box(REQUEST), &mut out) else {
                unreachable!()
            };
            assert!(u.result.is_ok());
            black_box(&out[..u.written]);
        });
    });
    g.bench_function("tungstenite", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            let (_, req) = Request::try_parse(black_box(REQUEST)).unwrap().unwrap();
            let resp = create_response(&req).unwrap();
            out.clear();
            write_response(&mut out, &resp).unwrap();
            black_box(&out);
        });
    });
    g.finish();
}

fn over_stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_upgrade/over_stream");
    g.throughput(Throughput::Bytes(REQUEST.len() as u64));
    g.bench_function("zerows", |b| {
        let mut up = Upgrader::new();
        let mut buf = [0u8; 4096];
        b.iter(|| {
            let mut s = Mem {
                input: REQUEST,
                written: 0,
            };
            let u = server::accept(&mut s, &mut up, &mut buf).unwrap();
            black_box(u.leftover());
            black_box(s.written);
        });
    });
    g.bench_function("tungstenite", |b| {
        b.iter(|| {
            let s = Mem {
                input: REQUEST,
                written: 0,
            };
            let ws = tungstenite::accept(s).unwrap();
            black_box(ws.get_ref().written);
        });
    });
    g.finish();
}

/// The parts of `from_bytes`, to see where the time goes.
fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_upgrade/parts");
    g.bench_function("zerows/parse_request", |b| {
        b.iter(|| {
            let r =
                zerows_upgrade::parse_request(black_box(REQUEST), &zerows_upgrade::Limits::DEFAULT);
            black_box(r.unwrap().is_complete());
        });
    });
    g.bench_function("zerows/negotiate", |b| {
        let Status::Complete((req, _)) =
            zerows_upgrade::parse_request(REQUEST, &zerows_upgrade::Limits::DEFAULT).unwrap()
        else {
            unreachable!()
        };
        let mut up = Upgrader::new();
        b.iter(|| black_box(up.negotiate(black_box(&req)).is_ok()));
    });
    g.bench_function("zerows/accept_key", |b| {
        b.iter(|| {
            black_box(zerows_upgrade::AcceptKey::from_key(black_box(
                b"HtgQOeqG6cH+bLix+RfLAw==",
            )))
        });
    });
    g.bench_function("tungstenite/derive_accept_key", |b| {
        b.iter(|| {
            black_box(tungstenite::handshake::derive_accept_key(black_box(
                b"HtgQOeqG6cH+bLix+RfLAw==",
            )))
        });
    });
    g.finish();
}

criterion_group!(benches, from_bytes, over_stream, parts);
criterion_main!(benches);
