//! Every stack's in-memory echo and decode loop works (what `benches/messages.rs` and
//! `alloc_count` measure), so the benchmarks cannot silently rot.

use zerows_benches::echo::{self, Stack};
use zerows_benches::frames::{ascii, client_stream, mixed};

#[test]
fn every_stack_echoes_and_decodes() {
    let rt = echo::runtime();
    for (n, size) in [(50, 16), (3, 70_000)] {
        let input = client_stream(n, size);
        for stack in Stack::ALL {
            assert_eq!(
                echo::run(stack, &rt, &input, n, false),
                (n * size) as u64,
                "{stack:?}"
            );
            assert_eq!(
                echo::run(stack, &rt, &input, n, true),
                (n * size) as u64,
                "{stack:?}"
            );
        }
    }
}

#[test]
fn texts_are_what_they_claim() {
    assert!(ascii(100).is_ascii());
    let m = mixed(1000);
    assert!(std::str::from_utf8(&m).is_ok() && !m.is_ascii() && m.len() > 990);
}
