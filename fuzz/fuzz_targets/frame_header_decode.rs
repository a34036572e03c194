//! `Header::decode` on raw bytes, for both roles, every RSV ownership and two frame-size limits.
//!
//! Input: the bytes on the wire, nothing else.
//!
//! Invariants: no panic; `Complete((h, n))` has `n <= len`, `n == h.encoded_len()`, and
//! re-encoding `h` gives exactly `buf[..n]`; every proper prefix of a complete header is `Partial`;
//! `Partial` only below 14 bytes; the verdict depends on the first 14 bytes only; and the verdicts
//! for different configs agree with each other (RSV ownership, role, size limit). And for every
//! config the verdict — `Partial`, the header and its length, or which error — is the one of the
//! naive RFC 6455 §5.2 header decoder in `shared/naive_frame.rs` (byte by byte, no `zerows-frame`
//! code).
#![no_main]

#[path = "shared/naive_frame.rs"]
mod naive;

use libfuzzer_sys::fuzz_target;
use naive::{HeadStatus, Rules};
use zerows_frame::{Config, Error, Header, Role, Rsv, Status};

/// The oracle's verdict for the same config.
fn oracle(buf: &[u8], role: Role, rsv: u8, max_frame: u64) -> Result<HeadStatus, Error> {
    let mut r = Rules::new(role == Role::Server);
    r.owned_rsv = rsv;
    r.max_frame = max_frame;
    naive::decode_header(buf, &r).map_err(|p| p.error)
}

/// A zerows verdict in the oracle's terms.
fn verdict(r: Result<Status<(Header, usize)>, Error>) -> Result<HeadStatus, Error> {
    r.map(|s| match s {
        Status::Partial => HeadStatus::Partial,
        Status::Complete((h, n)) => HeadStatus::Complete(naive::head(&h), n),
    })
}

fn config(role: Role, rsv: u8, max_frame: u64) -> Config {
    Config::new(role)
        .extension_rsv(Rsv::from_bits(rsv).unwrap())
        .max_frame_size(max_frame)
}

fuzz_target!(|buf: &[u8]| {
    for role in [Role::Client, Role::Server] {
        // the decode with every RSV bit owned and no size limit: the most permissive verdict
        let open = Header::decode(buf, &config(role, 0b111, u64::MAX));
        for rsv in 0..8u8 {
            for max_frame in [u64::MAX, Config::DEFAULT_MAX_FRAME_SIZE] {
                let c = config(role, rsv, max_frame);
                let r = Header::decode(buf, &c);
                check_one(buf, &c, r);
                assert_eq!(
                    verdict(r),
                    oracle(buf, role, rsv, max_frame),
                    "{buf:02x?} {role:?} rsv {rsv:03b} max {max_frame}"
                );

                // agreement with the permissive verdict
                match (open, r) {
                    (Ok(Status::Complete((h, n))), _) => {
                        let expect = if !Rsv::from_bits(rsv).unwrap().contains(h.rsv) {
                            Err(Error::ReservedBits)
                        } else if h.payload_len > max_frame && h.opcode.is_data() {
                            Err(Error::FrameTooLarge)
                        } else {
                            Ok(Status::Complete((h, n)))
                        };
                        assert_eq!(r, expect, "{buf:02x?} rsv {rsv:03b} max {max_frame}");
                    }
                    // a stricter config can only add errors, never make an error go away
                    (Err(e), _) => assert!(r.is_err(), "{e:?} vs {r:?}"),
                    (Ok(Status::Partial), Ok(Status::Complete(_))) => {
                        panic!("stricter config completed what the permissive one could not")
                    }
                    _ => {}
                }
            }
        }
        // the other role: a header complete for one role is a masking error for the other
        if let Ok(Status::Complete((h, _))) = open {
            let other = Header::decode(buf, &config(role.peer(), 0b111, u64::MAX));
            let expect = match role {
                Role::Server => Error::MaskedFrame,
                Role::Client => Error::UnmaskedFrame,
            };
            assert_eq!(other, Err(expect), "{h:?}");
            assert_eq!(h.mask.is_some(), role == Role::Server);
        }
    }
});

fn check_one(buf: &[u8], c: &Config, r: Result<Status<(Header, usize)>, Error>) {
    // the verdict depends on the first 14 bytes only
    let head = &buf[..buf.len().min(Header::MAX_LEN)];
    assert_eq!(
        Header::decode(head, c),
        r,
        "verdict depends on bytes past 14"
    );
    match r {
        Ok(Status::Partial) => assert!(buf.len() < Header::MAX_LEN, "Partial with 14 bytes"),
        Ok(Status::Complete((h, n))) => {
            assert!(n <= buf.len(), "consumed {n} of {}", buf.len());
            assert_eq!(n, h.encoded_len());
            // the frame limit is for data frames; control frames stop at 125 (checked below)
            assert!(h.payload_len <= c.max_frame_size || h.opcode.is_control());
            assert!(c.extension_rsv.contains(h.rsv));
            assert_eq!(h.mask.is_some(), c.role == Role::Server);
            if h.opcode.is_control() {
                assert!(h.fin && h.payload_len <= 125, "{h:?}");
            }
            assert_eq!(h.payload_len >> 63, 0);
            // re-encoding gives the same bytes (decode accepts minimal lengths only)
            let mut out = [0u8; Header::MAX_LEN];
            assert_eq!(h.encode(&mut out), Ok(n));
            assert_eq!(&out[..n], &buf[..n], "{h:?}");
            // nothing past the header is needed
            assert_eq!(Header::decode(&buf[..n], c), r);
            for cut in 0..n {
                assert_eq!(
                    Header::decode(&buf[..cut], c),
                    Ok(Status::Partial),
                    "cut {cut}"
                );
            }
        }
        Err(_) => {}
    }
}
