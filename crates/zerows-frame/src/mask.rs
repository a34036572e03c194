//! Payload masking (RFC 6455 §5.3).
//!
//! `masked[i] = payload[i] ^ key[i % 4]`, where `i` counts from the start of the frame payload.
//! [`apply_mask`] takes that running offset, so a payload can be (un)masked in arbitrary chunks as
//! it arrives, like gobwas' `Cipher`.
//!
//! The work is done a machine word at a time (eight bytes, which the compiler widens to SSE2
//! vectors) and, on x86-64 with the `std` feature, with AVX2 when the CPU has it (detected once at
//! run time). All paths are checked against the byte-wise definition at every length, alignment
//! and offset.

/// XORs `buf` in place with `key`, where `buf[0]` is byte number `offset` of the frame payload.
///
/// Masking and unmasking are the same operation. For the RFC 6455 §5.7 example:
///
/// ```
/// use zerows_frame::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = *b"Hello";
/// apply_mask(&mut payload, key, 0);
/// assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
///
/// // the same, two bytes and then three: the offset carries the key position
/// let mut chunked = *b"Hello";
/// let (a, b) = chunked.split_at_mut(2);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 2);
/// assert_eq!(chunked, payload);
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    if buf.len() < 32 {
        mask_words(buf, key);
        return;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64", not(miri)))]
    if simd::has_avx2() {
        simd::mask_avx2(buf, key);
        return;
    }
    mask_words(buf, key);
}

/// The key as seen from payload byte `offset`: `rotate_key(k, o)[i] == k[(o + i) % 4]`.
#[inline]
const fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    #[allow(clippy::cast_possible_truncation)] // 0..4
    let r = (offset % 4) as u32;
    u32::from_le_bytes(key).rotate_right(8 * r).to_le_bytes()
}

const BLOCK: usize = 64;

/// The portable path: 64 bytes per iteration as eight 8-byte words, then the tail byte by byte.
#[inline(always)]
fn mask_words(buf: &mut [u8], key: [u8; 4]) {
    let k4 = u32::from_ne_bytes(key);
    let k8 = u64::from(k4) | (u64::from(k4) << 32);
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            let w = u64::from_ne_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
            word.copy_from_slice(&(w ^ k8).to_ne_bytes());
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        let w = u64::from_ne_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        word.copy_from_slice(&(w ^ k8).to_ne_bytes());
    }
    // every chunk so far was a multiple of 4 long, so the key is in phase again
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// The byte-wise definition (RFC 6455 §5.3), the oracle for the fast paths.
#[cfg(test)]
fn mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

/// The AVX2 path: the portable loop compiled for AVX2, chosen at run time.
#[cfg(all(feature = "std", target_arch = "x86_64", not(miri)))]
mod simd {
    #![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
    #![allow(unsafe_code)]

    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0: not yet detected, 1: no AVX2, 2: AVX2.
    static AVX2: AtomicU8 = AtomicU8::new(0);

    #[inline]
    pub(super) fn has_avx2() -> bool {
        match AVX2.load(Ordering::Relaxed) {
            0 => {
                let yes = std::is_x86_feature_detected!("avx2");
                AVX2.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
            v => v == 2,
        }
    }

    /// Same code as `mask_words`, compiled with AVX2 enabled so the 32-byte blocks become one
    /// 256-bit load, XOR and store.
    #[target_feature(enable = "avx2")]
    fn mask_words_avx2(buf: &mut [u8], key: [u8; 4]) {
        super::mask_words(buf, key)
    }

    #[inline]
    pub(super) fn mask_avx2(buf: &mut [u8], key: [u8; 4]) {
        debug_assert!(has_avx2());
        // SAFETY: the only precondition of a `#[target_feature(enable = "avx2")]` function is that
        // the CPU supports AVX2; the caller checked `has_avx2()`, which asks CPUID through std.
        unsafe { mask_words_avx2(buf, key) }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> [u8; 4160] {
        let mut b = [0u8; 4160];
        for (i, x) in b.iter_mut().enumerate().take(n) {
            *x = (i % 251) as u8 ^ 0x5A;
        }
        b
    }

    /// Every length 0..=300 plus a few large ones, every start alignment 0..32, every key offset.
    #[test]
    fn oracle_every_length_alignment_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let lens = (0..=300).chain([511, 512, 513, 1023, 1024, 4095, 4096, 4097]);
        for len in lens {
            for align in 0..32 {
                if cfg!(miri) && (align > 8 || len > 80) {
                    continue;
                }
                for offset in 0..4 {
                    let mut fast = pattern(align + len);
                    let mut slow = fast;
                    apply_mask(&mut fast[align..align + len], key, offset);
                    mask_bytewise(&mut slow[align..align + len], key, offset);
                    assert_eq!(
                        fast[..],
                        slow[..],
                        "len {len} align {align} offset {offset}"
                    );
                }
            }
        }
    }

    #[test]
    fn portable_path_matches_oracle_too() {
        // apply_mask may take the AVX2 path; check the portable path directly as well
        let key = [1, 2, 3, 0xff];
        for len in 0..200 {
            let mut a = pattern(len);
            let mut b = a;
            mask_words(&mut a[..len], rotate_key(key, 3));
            mask_bytewise(&mut b[..len], key, 3);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn chunked_equals_whole() {
        let key = [9, 8, 7, 6];
        let mut whole = pattern(1000);
        let mut chunked = whole;
        apply_mask(&mut whole[..1000], key, 0);
        let mut at = 0;
        for n in [1, 2, 3, 5, 33, 64, 100, 1, 791] {
            apply_mask(&mut chunked[at..at + n], key, at);
            at += n;
        }
        assert_eq!(at, 1000);
        assert_eq!(whole, chunked);
    }

    #[test]
    fn rfc_6455_5_7_masked_hello() {
        let mut p = *b"Hello";
        apply_mask(&mut p, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(p, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn rotate() {
        let k = [1, 2, 3, 4];
        assert_eq!(rotate_key(k, 0), [1, 2, 3, 4]);
        assert_eq!(rotate_key(k, 1), [2, 3, 4, 1]);
        assert_eq!(rotate_key(k, 6), [3, 4, 1, 2]);
        assert_eq!(rotate_key(k, 7), [4, 1, 2, 3]);
    }
}
