//! `apply_mask` against the byte-wise definition (RFC 6455 §5.3) at arbitrary offsets,
//! alignments and chunkings.
//!
//! Input layout: bytes 0–3 the key; 4–11 the starting payload offset (u64 LE); 12 the start
//! alignment (mod 64) of the buffer; 13 `n`; the next `n` bytes chunk sizes (cycled, 0 = an empty
//! call; all zero or none: one call); the rest is the payload.
//!
//! Invariants: masking in one call equals the oracle; masking chunk by chunk with the running
//! offset equals it too; bytes around the slice are untouched; masking twice is the identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerows_frame::apply_mask;

fn oracle(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        // usize::MAX + 1 is a multiple of 4, so wrapping keeps the key phase
        *b ^= key[offset.wrapping_add(i) % 4];
    }
}

const GUARD: u8 = 0xA5;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<14>() else {
        return;
    };
    let key = [head[0], head[1], head[2], head[3]];
    let offset = u64::from_le_bytes(head[4..12].try_into().unwrap()) as usize;
    let align = usize::from(head[12] % 64);
    let (sizes, payload) = rest.split_at(usize::from(head[13]).min(rest.len()));
    let len = payload.len();

    let mut expect = payload.to_vec();
    oracle(&mut expect, key, offset);

    // one call, at the given alignment, with guard bytes on both sides
    let mut buf = vec![GUARD; align + len + 64];
    buf[align..align + len].copy_from_slice(payload);
    apply_mask(&mut buf[align..align + len], key, offset);
    assert_eq!(
        &buf[align..align + len],
        &expect[..],
        "one call, align {align} offset {offset}"
    );
    assert!(
        buf[..align]
            .iter()
            .chain(&buf[align + len..])
            .all(|&b| b == GUARD),
        "overrun"
    );

    // masking is an involution
    apply_mask(&mut buf[align..align + len], key, offset);
    assert_eq!(&buf[align..align + len], payload);

    // in chunks, carrying the offset
    let cycle = sizes.iter().any(|&s| s != 0);
    let mut sizes = sizes.iter().map(|&s| usize::from(s)).cycle();
    let mut at = 0;
    while at < len {
        let n = if cycle { sizes.next().unwrap() } else { len };
        let end = (at + n).min(len);
        apply_mask(
            &mut buf[align + at..align + end],
            key,
            offset.wrapping_add(at),
        );
        at = end;
    }
    assert_eq!(&buf[align..align + len], &expect[..], "chunked");
    assert!(
        buf[..align]
            .iter()
            .chain(&buf[align + len..])
            .all(|&b| b == GUARD),
        "overrun"
    );
});
