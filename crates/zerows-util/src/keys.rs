//! Masking keys for client frames (RFC 6455 §5.3).
//!
//! "The masking key MUST be derived from a strong source of entropy": keys come from the operating
//! system's CSPRNG through `getrandom`, 64 keys per system call, so a client pays about one
//! syscall per 64 frames and never uses a predictable generator.

const BATCH: usize = 64;

/// A per-connection supply of unpredictable masking keys.
#[derive(Clone)]
pub(crate) struct MaskKeys {
    keys: [[u8; 4]; BATCH],
    next: usize,
}

impl MaskKeys {
    pub(crate) const fn new() -> MaskKeys {
        MaskKeys {
            keys: [[0; 4]; BATCH],
            next: BATCH,
        }
    }

    /// The next key. Panics only if the OS has no entropy source at all (as `getrandom` reports).
    pub(crate) fn next(&mut self) -> [u8; 4] {
        if self.next == BATCH {
            let mut bytes = [0u8; 4 * BATCH];
            getrandom::fill(&mut bytes).expect("the OS random source failed");
            for (k, b) in self.keys.iter_mut().zip(bytes.chunks_exact(4)) {
                k.copy_from_slice(b);
            }
            self.next = 0;
        }
        let k = self.keys[self.next];
        self.next += 1;
        k
    }
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKeys(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_and_refill() {
        let mut k = MaskKeys::new();
        let all: Vec<[u8; 4]> = (0..3 * BATCH).map(|_| k.next()).collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        // 192 random 32-bit keys: a collision has probability ~4e-6
        assert!(unique.len() >= all.len() - 1);
    }
}
