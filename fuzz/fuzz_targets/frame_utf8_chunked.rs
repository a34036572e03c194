//! `Utf8Validator` against `core::str::from_utf8` under arbitrary chunking.
//!
//! Input layout: byte 0 is `n`; the next `n` bytes are chunk sizes, used in turn and cycled (0 is an
//! empty `feed`; all zero or none: one chunk); the rest is the text.
//!
//! Invariants: the verdict equals `core::str::from_utf8`'s; fail-fast: an invalid input is
//! reported by the `feed` of the chunk holding the first byte that proves it invalid (every
//! earlier `feed` succeeds), and one that merely stops inside a code point by `finish`;
//! `is_complete()` after each chunk says whether the bytes so far end on a code point boundary;
//! after `finish` or `reset` the validator behaves like a new one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerows_frame::Utf8Validator;

/// The end of the first byte that proves `bytes` invalid, or `None` if `bytes` is a prefix of
/// valid UTF-8 (valid, or stopping inside a code point).
fn proof_end(bytes: &[u8]) -> Option<usize> {
    let e = core::str::from_utf8(bytes).err()?;
    e.error_len()?;
    let start = e.valid_up_to();
    // from_utf8 counts the rejected sequence from its lead byte; the proof is the first byte after
    // which bytes[start..] stops being a prefix of some code point
    (start + 1..=bytes.len()).find(|&end| {
        core::str::from_utf8(&bytes[start..end]).is_err_and(|e| e.error_len().is_some())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (sizes, text) = rest.split_at(usize::from(n).min(rest.len()));
    let cycle = sizes.iter().any(|&s| s != 0);
    let mut sizes = sizes.iter().map(|&s| usize::from(s)).cycle();

    let verdict = core::str::from_utf8(text);
    let proof = proof_end(text);
    assert_eq!(
        proof.is_some(),
        verdict.as_ref().is_err_and(|e| e.error_len().is_some())
    );

    let mut v = Utf8Validator::new();
    let mut at = 0;
    let mut reported = None;
    let mut feeds = 0usize;
    while at < text.len() || (feeds == 0 && text.is_empty()) {
        let size = if cycle {
            sizes.next().unwrap()
        } else {
            text.len()
        };
        let end = (at + size).min(text.len());
        feeds += 1;
        let r = v.feed(&text[at..end]);
        match proof {
            // the chunk that delivers the proving byte, and no other, reports the error
            Some(p) if at < p && p <= end => {
                assert!(
                    r.is_err(),
                    "error at byte {} not reported by chunk {at}..{end}",
                    p - 1
                );
                reported = Some(end);
                break;
            }
            _ => assert!(
                r.is_ok(),
                "chunk {at}..{end} reported an error too early: {text:02x?}"
            ),
        }
        at = end;
        let boundary = core::str::from_utf8(&text[..at]).is_ok();
        assert_eq!(v.is_complete(), boundary, "is_complete after {at} bytes");
    }
    match proof {
        Some(_) => assert!(reported.is_some()),
        None => assert_eq!(v.finish().is_ok(), verdict.is_ok(), "finish verdict"),
    }

    // a used validator (after finish, or reset after an error) is as good as new
    v.reset();
    assert!(v.is_complete());
    assert_eq!(
        v.feed(text).is_ok() && v.finish().is_ok(),
        verdict.is_ok(),
        "after reset"
    );
    v.reset();
    assert_eq!(v.feed("ok é".as_bytes()).and_then(|()| v.finish()), Ok(()));
});
