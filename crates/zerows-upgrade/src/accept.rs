//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 §4.2.2 item 5.4, §1.3), computed on
//! the stack.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
pub const GUID: &[u8; 36] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether `key` (a `Sec-WebSocket-Key` value without surrounding whitespace) is the base64
/// encoding of exactly 16 bytes (RFC 6455 §4.2.1 item 5, §11.3.1): 24 characters of the standard
/// alphabet ending in `==`, with zero trailing bits (canonical).
#[must_use]
pub fn is_valid_key(key: &[u8]) -> bool {
    if key.len() != 24 {
        return false;
    }
    let mut out = [0u8; 18];
    matches!(STANDARD.decode_slice(key, &mut out), Ok(16))
}

/// The `Sec-WebSocket-Accept` value: base64(SHA-1(key ++ GUID)), 28 ASCII bytes on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// Computes the accept value for a client key (as sent, without surrounding whitespace).
    #[must_use]
    pub fn from_key(key: &[u8]) -> Self {
        let mut sha = sha1_smol::Sha1::new();
        sha.update(key);
        sha.update(GUID);
        let digest = sha.digest().bytes();
        let mut out = [0u8; 28];
        // 20 bytes always encode to exactly 28 characters, so this cannot fail.
        let n = STANDARD.encode_slice(digest, &mut out).unwrap_or(0);
        debug_assert_eq!(n, 28);
        Self(out)
    }

    /// The 28 ASCII bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 28] {
        &self.0
    }

    /// The value as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // base64 output is ASCII.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

impl fmt::Display for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client's `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (RFC 6455 §4.1 item 7).
///
/// The nonce must be "randomly selected" for each connection: use [`Key::random`] (feature
/// `std`, from the operating system's secure generator), or supply 16 bytes from a secure source
/// with [`Key::from_nonce`] in `no_std`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 24]);

impl Key {
    /// The key for a 16-byte nonce.
    #[must_use]
    pub fn from_nonce(nonce: [u8; 16]) -> Self {
        let mut out = [0u8; 24];
        // 16 bytes always encode to exactly 24 characters, so this cannot fail.
        let n = STANDARD.encode_slice(nonce, &mut out).unwrap_or(0);
        debug_assert_eq!(n, 24);
        Self(out)
    }

    /// A key from 16 bytes of the operating system's cryptographically secure generator.
    ///
    /// # Errors
    /// When the generator is unavailable.
    #[cfg(feature = "std")]
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        Ok(Self::from_nonce(nonce))
    }

    /// The 24 ASCII bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 24] {
        &self.0
    }

    /// The key as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The `Sec-WebSocket-Accept` value a server must answer with.
    #[must_use]
    pub fn accept(&self) -> AcceptKey {
        AcceptKey::from_key(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Key").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example() {
        // RFC 6455 §1.3 and §4.2.2.
        let a = AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(a.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        let k = Key::from_nonce(*b"the sample nonce");
        assert_eq!(k.as_str(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(k.accept(), a);
    }

    #[test]
    fn key_validation() {
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ",       // no padding
            b"dGhlIHNhbXBsZSBub25jZQ=",      // short padding
            b"dGhlIHNhbXBsZSBub25jZR==",     // non-zero trailing bits
            b"dGhlIHNhbXBsZSBub25jZQ===",    // too long
            b"dGhlIHNhbXBsZSBub25j$Q==",     // not base64
            b"dGhlIHNhbXBsZSBub25jZXM=",     // 17 bytes
            b"dGhlIHNhbXBsZSBub25jZXNhbXBs", // 21 bytes
            b"dGhlIHNhbXBs-SBub25jZQ==",     // url-safe alphabet
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn random_keys_are_valid_and_differ() {
        let a = Key::random().unwrap();
        let b = Key::random().unwrap();
        assert!(is_valid_key(a.as_bytes()));
        assert_ne!(a, b);
    }
}
