//! Whole messages from memory through each stack's message API, same run, same profile.
//!
//! - `decode/small`: 10,000 masked 16-byte text frames read as messages.
//! - `decode/large`: 100 masked 64 KiB text frames read as messages.
//! - `echo/100k_16B`: 100,000 masked 16-byte text messages read and each echoed back (written to an
//!   in-memory sink) — the disputed "echo 100k tiny messages" benchmark; loopback echo with real
//!   sockets is in `src/bin/loadgen.rs`.
//!
//! UTF-8 validation is on for every stack (see `zerows_benches::echo`). Throughput is payload
//! bytes (decode) or messages (echo).
//!
//! Run: `cargo bench -p zerows-benches --bench messages`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zerows_benches::echo::{self, Stack};
use zerows_benches::frames::client_stream;

fn decode(c: &mut Criterion) {
    let rt = echo::runtime();
    for (name, n, size) in [("small", 10_000, 16), ("large", 100, 64 << 10)] {
        let input = client_stream(n, size);
        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.throughput(Throughput::Bytes((n * size) as u64));
        g.sample_size(20);
        for stack in Stack::ALL {
            g.bench_function(stack.name(), |b| {
                b.iter(|| {
                    let bytes = echo::run(stack, &rt, black_box(&input), n, false);
                    assert_eq!(bytes, (n * size) as u64);
                });
            });
        }
        g.finish();
    }
}

fn echo_small(c: &mut Criterion) {
    let rt = echo::runtime();
    let n = 100_000;
    let input = client_stream(n, 16);
    let mut g = c.benchmark_group("echo/100k_16B");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    for stack in Stack::ALL {
        g.bench_function(stack.name(), |b| {
            b.iter(|| black_box(echo::run(stack, &rt, black_box(&input), n, true)));
        });
    }
    g.finish();
}

criterion_group!(benches, decode, echo_small);
criterion_main!(benches);
