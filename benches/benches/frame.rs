//! Frame-level primitives against the peers' public equivalents, same run, same profile.
//!
//! - `header_decode/<len>`, `header_encode/<len>`: one frame header with a 7-bit (125), 16-bit
//!   (1000) and 64-bit (100000) payload length. Masked client headers are decoded, unmasked
//!   server headers encoded. fastwebsockets exposes only an encoder (`Frame::fmt_head`);
//!   tokio-websockets exposes neither, so it is absent here.
//! - `unmask/<len>`: XOR with a 4-byte key in place, plus a naive byte loop and `memcpy` of the
//!   same size as references. tungstenite's and tokio-websockets' masking functions are private.
//! - `utf8/<text>/<len>`: validating ASCII and mixed text, against `core::str::from_utf8` and
//!   simdutf8 (`basic` and `compat`, the one with error positions). The peers' validators are
//!   private: tungstenite uses `core::str::from_utf8`, fastwebsockets simdutf8 plus the `utf8`
//!   crate for fragments, tokio-websockets simdutf8.
//!
//! Run: `cargo bench -p zerows-benches --bench frame`.

use std::hint::black_box;
use std::io::Cursor;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zerows_benches::frames::{KEY, ascii, client_frame, mixed};
use zerows_frame::{Header, OpCode, Role, Status, Utf8Validator, apply_mask};

const HEADER_LENS: [usize; 3] = [125, 1000, 100_000];
const MASK_LENS: [usize; 5] = [16, 125, 1 << 10, 64 << 10, 1 << 20];
const UTF8_LENS: [usize; 3] = [16, 1 << 10, 64 << 10];

fn header_decode(c: &mut Criterion) {
    let config = zerows_frame::Config::new(Role::Server);
    for len in HEADER_LENS {
        let frame = client_frame(OpCode::Binary, &ascii(len));
        let head = &frame[..frame.len() - len];
        let mut g = c.benchmark_group(format!("header_decode/{len}"));
        g.bench_function("zerows", |b| {
            b.iter(|| {
                let Ok(Status::Complete((h, n))) = Header::decode(black_box(head), &config) else {
                    unreachable!()
                };
                black_box((h.payload_len, h.mask, n))
            });
        });
        g.bench_function("tungstenite", |b| {
            b.iter(|| {
                let mut cur = Cursor::new(black_box(head));
                let (h, l) = tungstenite::protocol::frame::FrameHeader::parse(&mut cur)
                    .unwrap()
                    .unwrap();
                black_box((h.mask, l, cur.position()))
            });
        });
        g.bench_function("soketto", |b| {
            let codec = soketto::base::Codec::new();
            b.iter(|| {
                let soketto::Parsing::Done { value, offset } =
                    codec.decode_header(black_box(head)).unwrap()
                else {
                    unreachable!()
                };
                black_box((value.payload_len(), value.mask(), offset))
            });
        });
        g.finish();
    }
}

fn header_encode(c: &mut Criterion) {
    let payload = ascii(*HEADER_LENS.iter().max().unwrap());
    for len in HEADER_LENS {
        let mut g = c.benchmark_group(format!("header_encode/{len}"));
        g.bench_function("zerows", |b| {
            let mut out = [0u8; 14];
            b.iter(|| {
                let h = Header::new(OpCode::Binary, black_box(len) as u64);
                let n = h.encode(&mut out).unwrap();
                black_box(&out[..n]);
            });
        });
        g.bench_function("tungstenite", |b| {
            let mut out = [0u8; 14];
            b.iter(|| {
                let h = tungstenite::protocol::frame::FrameHeader {
                    opcode: tungstenite::protocol::frame::coding::OpCode::Data(
                        tungstenite::protocol::frame::coding::Data::Binary,
                    ),
                    ..Default::default()
                };
                let mut w = &mut out[..];
                h.format(black_box(len) as u64, &mut w).unwrap();
                let n = 14 - w.len();
                black_box(&out[..n]);
            });
        });
        g.bench_function("fastwebsockets", |b| {
            let mut out = [0u8; 14];
            b.iter(|| {
                let mut f = fastwebsockets::Frame::new(
                    true,
                    fastwebsockets::OpCode::Binary,
                    None,
                    fastwebsockets::Payload::Borrowed(&payload[..black_box(len)]),
                );
                let n = f.fmt_head(&mut out);
                black_box(&out[..n]);
            });
        });
        g.bench_function("soketto", |b| {
            let mut codec = soketto::base::Codec::new();
            b.iter(|| {
                let mut h = soketto::base::Header::new(soketto::base::OpCode::Binary);
                h.set_payload_len(black_box(len));
                black_box(codec.encode_header(&h).len());
            });
        });
        g.finish();
    }
}

/// The definition (RFC 6455 §5.3), byte by byte; the compiler may vectorise it.
fn naive_mask(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn unmask(c: &mut Criterion) {
    for len in MASK_LENS {
        let mut g = c.benchmark_group(format!("unmask/{len}"));
        g.throughput(Throughput::Bytes(len as u64));
        let mut buf = ascii(len);
        g.bench_function("zerows", |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0));
        });
        g.bench_function("fastwebsockets", |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut buf), KEY));
        });
        g.bench_function("soketto", |b| {
            let mut h = soketto::base::Header::new(soketto::base::OpCode::Binary);
            h.set_masked(true).set_mask(u32::from_be_bytes(KEY));
            b.iter(|| soketto::base::Codec::apply_mask(&h, black_box(&mut buf)));
        });
        g.bench_function("naive_byte_loop", |b| {
            b.iter(|| naive_mask(black_box(&mut buf), black_box(KEY)));
        });
        let src = ascii(len);
        g.bench_function("memcpy", |b| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)));
        });
        g.finish();
    }
}

fn utf8(c: &mut Criterion) {
    for (name, make) in [("ascii", ascii as fn(usize) -> Vec<u8>), ("mixed", mixed)] {
        for len in UTF8_LENS {
            let text = make(len);
            let mut g = c.benchmark_group(format!("utf8/{name}/{len}"));
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_function("zerows", |b| {
                let mut v = Utf8Validator::new();
                b.iter(|| {
                    v.reset();
                    v.feed(black_box(&text)).unwrap();
                    v.finish().unwrap();
                });
            });
            g.bench_function(BenchmarkId::new("ref", "core_str_from_utf8"), |b| {
                b.iter(|| black_box(core::str::from_utf8(black_box(&text)).is_ok()));
            });
            g.bench_function(BenchmarkId::new("ref", "simdutf8_basic"), |b| {
                b.iter(|| black_box(simdutf8::basic::from_utf8(black_box(&text)).is_ok()));
            });
            g.bench_function(BenchmarkId::new("ref", "simdutf8_compat"), |b| {
                b.iter(|| black_box(simdutf8::compat::from_utf8(black_box(&text)).is_ok()));
            });
            g.finish();
        }
    }
}

criterion_group!(benches, header_decode, header_encode, unmask, utf8);
criterion_main!(benches);
