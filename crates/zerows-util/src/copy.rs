//! Copying payload bytes between buffers, around a CPU pitfall.
//!
//! On AMD Zen 3 and later, `rep movsb`, which glibc's `memcpy` uses from a few KiB up on CPUs
//! that report ERMS/FSRM, runs an order of magnitude slower when the destination lies a few
//! bytes past the source modulo 4 KiB (a public write-up: "Ryzen slow short rep mov",
//! lunnova.dev). Measured on the benchmark machine (AMD EPYC Zen 4, glibc 2.36): 64 KiB in
//! 22–26 µs at a distance of 8–31 bytes, 1.4–2.2 µs at 0 or 32 and beyond. Two heap buffers of
//! one size allocated one after the other sit exactly there (16 bytes apart modulo 4 KiB,
//! malloc's chunk header), and that is what a message buffer and an application's buffer usually
//! are: the tokio echo server of 64 KiB messages spent 40 % of its CPU in this one copy
//! (`read_into`'s). A copy at such a distance
//! goes in 2 KiB pieces, each under glibc's `rep movsb` threshold, at vector speed (1.7 µs for
//! 64 KiB); every other copy is one `extend_from_slice`. The check is two subtractions, and on
//! CPUs without the problem the pieces cost about what one copy does.

/// Distances (destination − source, modulo [`PAGE`]) below this are slow for `rep movsb`.
const SLOW_DISTANCE: usize = 64;
/// The aliasing period.
const PAGE: usize = 4096;
/// Piece size for a copy at a slow distance: below glibc's `rep movsb` threshold (2 KiB for
/// 16-byte vectors, more for wider ones).
const PIECE: usize = 2048;

/// Whether a copy of `len` bytes to `dst` from `src` goes in pieces.
fn in_pieces(dst: usize, src: usize, len: usize) -> bool {
    let distance = dst.wrapping_sub(src) % PAGE;
    len > PIECE && distance != 0 && distance < SLOW_DISTANCE
}

/// `dst.extend_from_slice(src)`, in pieces when the two are at a slow distance.
pub(crate) fn extend(dst: &mut Vec<u8>, src: &[u8]) {
    dst.reserve(src.len());
    // After the reserve the copy's destination no longer moves.
    let at = dst.as_ptr().addr() + dst.len();
    if in_pieces(at, src.as_ptr().addr(), src.len()) {
        for piece in src.chunks(PIECE) {
            dst.extend_from_slice(piece);
        }
    } else {
        dst.extend_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_at_a_few_bytes_past_the_source_modulo_a_page_go_in_pieces() {
        assert!(in_pieces(0x1_0010, 0x2_0000, 64 << 10));
        assert!(in_pieces(0x5_0008, 0x2_0000, 4097));
        assert!(in_pieces(0x3f, 0x1000, 64 << 10));
        // Same offset, far enough past, before the source (distance near a page), or short.
        assert!(!in_pieces(0x1_0000, 0x2_0000, 64 << 10));
        assert!(!in_pieces(0x1_0040, 0x2_0000, 64 << 10));
        assert!(!in_pieces(0x1_0ff0, 0x2_0000, 64 << 10));
        assert!(!in_pieces(0x1_0010, 0x2_0000, PIECE));
    }

    #[test]
    fn extend_appends_exactly_the_source_at_every_distance_and_length() {
        let src: Vec<u8> = (0..(9usize << 10) + 70)
            .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap())
            .collect();
        for len in [0, 1, PIECE, PIECE + 1, 3 * PIECE + 5, 9 << 10] {
            for skip in 0..70 {
                let s = &src[skip..skip + len];
                let mut dst = vec![0xAA; 3];
                extend(&mut dst, s);
                assert_eq!(&dst[..3], &[0xAA; 3]);
                assert_eq!(&dst[3..], s, "len {len}, source offset {skip}");
            }
        }
    }

    #[test]
    fn extend_into_a_buffer_at_a_slow_distance_takes_the_piece_path_and_is_exact() {
        // Find a source offset that puts the destination 16 bytes past it, modulo a page.
        let src: Vec<u8> = (0..80usize << 10)
            .map(|i| u8::try_from(i % 253).unwrap())
            .collect();
        let mut dst: Vec<u8> = Vec::with_capacity(64 << 10);
        let at = dst.as_ptr().addr();
        let skip = (0..PAGE)
            .find(|&k| at.wrapping_sub(src.as_ptr().addr() + k) % PAGE == 16)
            .expect("some offset within a page");
        let s = &src[skip..skip + (64 << 10)];
        assert!(in_pieces(at, s.as_ptr().addr(), s.len()));
        extend(&mut dst, s);
        assert_eq!(dst, s);
    }
}
