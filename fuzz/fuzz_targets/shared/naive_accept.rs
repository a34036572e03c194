//! The `Sec-WebSocket-Accept` value computed independently of zerows-upgrade (which uses
//! `sha1_smol` and the `base64` crate): RustCrypto's `sha1`, and base64 written out here.
#![allow(dead_code)]

use sha1::{Digest, Sha1};

/// Base64 with the standard alphabet and `=` padding (RFC 4648 §4): each 3 bytes, as a 24-bit
/// number, give four 6-bit indexes into the alphabet; a last group of 1 or 2 bytes gives 2 or 3
/// characters and is padded with `=` to four.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for group in bytes.chunks(3) {
        let b = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= group.len() {
                s.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// RFC 6455 §4.2.2 (server step 5, /key/): base64 of the SHA-1 of the key, as sent, followed by
/// the GUID `258EAFA5-E914-47DA-95CA-C5AB0DC85B11`.
pub fn accept(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&sha.finalize())
}
