//! Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1).
//!
//! A text message arrives in chunks: frames, fragments of frames, and whatever pieces the network
//! delivers. [`Utf8Validator`] checks each chunk as it arrives, keeping at most three bytes of a code
//! point that straddles two chunks. An invalid sequence is reported by the `feed` call that delivers
//! the byte proving it invalid ("fail fast", as RFC 6455 §8.1 asks and Autobahn 6.4.x checks); a
//! message that ends inside a code point is reported by [`finish`](Utf8Validator::finish).

use crate::error::Error;

/// Validates a whole buffer; the one place the validation routine is chosen.
///
/// `simdutf8`'s `compat` flavour reports errors exactly as `core::str::from_utf8` does
/// (`valid_up_to`, `error_len`), which the streaming logic below relies on, and runs about ten
/// times faster on non-ASCII text (SSE4.2/AVX2 chosen at run time under `std`; without `std` it
/// uses what the target enables at compile time, else `core`).
#[inline]
pub(crate) fn from_utf8(bytes: &[u8]) -> Result<&str, simdutf8::compat::Utf8Error> {
    simdutf8::compat::from_utf8(bytes)
}

/// The length of the code point a lead byte starts, for a byte already known to start a valid prefix.
const fn width(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1).
///
/// A text message arrives in chunks: frames, fragments of frames, and whatever pieces the network
/// delivers. [`Utf8Validator`] checks each chunk as it arrives, keeping at most three bytes of a code
/// point that straddles two chunks. An invalid sequence is reported by the `feed` call that delivers
/// the byte proving it invalid ("fail fast", as RFC 6455 §8.1 asks and Autobahn 6.4.x checks); a
/// message that ends inside a code point is reported by [`finish`](Utf8Validator::finish).
///
///
/// ```
/// use zerows_frame::Utf8Validator;
///
/// let text = "κόσμε".as_bytes();
/// let mut v = Utf8Validator::new();
/// // feed it one byte at a time: code points split across chunks are fine
/// for b in text.chunks(1) {
///     v.feed(b).unwrap();
/// }
/// v.finish().unwrap();
///
/// // 0xC0 can never start a valid sequence: reported at once, not at the end
/// assert!(Utf8Validator::new().feed(&[b'a', 0xC0]).is_err());
/// // a message that stops inside a code point is invalid
/// let mut v = Utf8Validator::new();
/// v.feed(&[0xCE]).unwrap();
/// assert!(v.finish().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    pending: [u8; 4],
    /// How many bytes of `pending` are in use (0..=3).
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Utf8Validator {
        Utf8Validator {
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Checks the next chunk of the message. Returns [`Error::InvalidUtf8`] as soon as the bytes
    /// seen so far cannot be the start of valid UTF-8. After an error the state is unspecified;
    /// call [`reset`](Self::reset) before reusing it.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let mut rest = chunk;
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = width(self.pending[0]) - have;
            let take = need.min(rest.len());
            self.pending[have..have + take].copy_from_slice(&rest[..take]);
            let have = have + take;
            rest = &rest[take..];
            match from_utf8(&self.pending[..have]) {
                Ok(_) => self.pending_len = 0,
                // still a valid prefix, and the chunk is used up
                Err(e) if e.error_len().is_none() => {
                    self.pending_len = u8::try_from(have).unwrap_or(u8::MAX);
                    return Ok(());
                }
                Err(_) => return Err(Error::InvalidUtf8),
            }
        }
        match from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // The tail is a proper prefix of a code point (at most 3 bytes): keep it.
                let tail = &rest[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = u8::try_from(tail.len()).unwrap_or(u8::MAX);
                Ok(())
            }
            Err(_) => Err(Error::InvalidUtf8),
        }
    }

    /// Ends the message: an error if it stopped inside a code point. Resets the validator.
    pub fn finish(&mut self) -> Result<(), Error> {
        let complete = self.pending_len == 0;
        self.reset();
        if complete {
            Ok(())
        } else {
            Err(Error::InvalidUtf8)
        }
    }

    /// Whether the bytes fed so far end on a code point boundary.
    pub const fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// Forgets any partial code point, ready for a new message.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    use super::*;
    use proptest::prelude::*;

    /// Feeds `bytes` in the given chunk sizes; returns Ok(()) if valid and complete, otherwise the
    /// byte offset at which the error was reported (the end of the chunk that revealed it).
    fn check_chunked(bytes: &[u8], sizes: &[usize]) -> Result<(), usize> {
        let mut v = Utf8Validator::new();
        let mut at = 0;
        let mut i = 0;
        while at < bytes.len() {
            let n = sizes
                .get(i)
                .copied()
                .unwrap_or(1)
                .max(1)
                .min(bytes.len() - at);
            i += 1;
            v.feed(&bytes[at..at + n]).map_err(|_| at + n)?;
            at += n;
        }
        v.finish().map_err(|_| bytes.len())
    }

    /// The earliest offset at which a streaming validator can know the input is invalid: the
    /// index of the first byte that does not extend a valid prefix, plus one. None if the input
    /// is a valid prefix of some UTF-8 (valid, or truncated inside a code point).
    fn first_bad_byte_end(bytes: &[u8]) -> Option<usize> {
        match core::str::from_utf8(bytes) {
            Ok(_) => None,
            Err(e) => e.error_len().map(|_| {
                // error_len says how many bytes are invalid; the first of them proves it unless the
                // invalid byte is the 2nd..4th byte of a sequence, which from_utf8 reports by
                // valid_up_to + error_len with error_len counting the valid lead bytes.
                let start = e.valid_up_to();
                let mut end = start + 1;
                while core::str::from_utf8(&bytes[start..end])
                    .err()
                    .is_some_and(|e| e.error_len().is_none())
                {
                    end += 1;
                }
                end
            }),
        }
    }

    #[test]
    fn boundaries_of_each_width() {
        for s in ["a", "é", "€", "𝄞", "aé€𝄞z", ""] {
            let b = s.as_bytes();
            for split in 0..=b.len() {
                let mut v = Utf8Validator::new();
                v.feed(&b[..split]).unwrap();
                v.feed(&b[split..]).unwrap();
                v.finish().unwrap();
            }
        }
    }

    #[test]
    fn rejections() {
        let bad: &[&[u8]] = &[
            &[0x80],                   // lone continuation
            &[0xC0, 0x80],             // overlong
            &[0xE0, 0x80, 0x80],       // overlong 3-byte
            &[0xED, 0xA0, 0x80],       // surrogate U+D800
            &[0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
            &[0xF5],
            &[0xFF],
            &[0xCE, 0x41], // lead then ASCII
        ];
        for b in bad {
            for split in 0..=b.len() {
                let mut v = Utf8Validator::new();
                let r = v.feed(&b[..split]).and_then(|_| v.feed(&b[split..]));
                assert!(r.is_err(), "{b:x?} split {split}");
            }
        }
    }

    #[test]
    fn fails_fast_on_autobahn_6_4_style_input() {
        // Autobahn 6.4.1: a valid prefix, then 0xF4 0x90 (invalid as soon as 0x90 arrives), then more.
        let prefix = "κόσμε".as_bytes();
        let mut v = Utf8Validator::new();
        v.feed(prefix).unwrap();
        v.feed(&[0xF4]).unwrap(); // still a valid prefix of U+10xxxx
        assert_eq!(v.feed(&[0x90]), Err(Error::InvalidUtf8));
    }

    #[test]
    fn truncated_message() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xF0, 0x9D]).unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(Error::InvalidUtf8));
        // finish resets: the validator is reusable
        v.feed(b"ok").unwrap();
        v.finish().unwrap();
    }

    fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
        // mostly valid text with occasional corruption, so both outcomes are common
        (
            any::<String>(),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        )
            .prop_map(|(s, edits)| {
                let mut b = s.into_bytes();
                for (at, v) in edits {
                    if !b.is_empty() {
                        let i = at % b.len();
                        b[i] = v;
                    }
                }
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Oracle: any chunking gives the verdict of core::str::from_utf8, and reports an invalid
        /// input no later than the chunk that contains the first byte proving it invalid.
        #[test]
        fn matches_core_under_any_chunking(
            bytes in utf8ish(),
            sizes in proptest::collection::vec(1usize..8, 0..64),
        ) {
            let verdict = check_chunked(&bytes, &sizes);
            prop_assert_eq!(verdict.is_ok(), core::str::from_utf8(&bytes).is_ok());
            if let (Err(reported), Some(proof)) = (verdict, first_bad_byte_end(&bytes)) {
                // the chunk reporting the error must be the one that delivered byte `proof - 1`
                let mut at = 0;
                let mut i = 0;
                let mut chunk_end = bytes.len();
                while at < bytes.len() {
                    let n = sizes.get(i).copied().unwrap_or(1).max(1).min(bytes.len() - at);
                    i += 1;
                    if at < proof && proof <= at + n { chunk_end = at + n; break; }
                    at += n;
                }
                prop_assert_eq!(reported, chunk_end);
            }
        }
    }
}
