//! `Header::encode` → `Header::decode` on arbitrary legal headers.
//!
//! Input: an `arbitrary` `Spec` (fields in declaration order), turned into a header that is legal
//! for the receiving role: masked exactly when a client sends it, control frames with FIN and at
//! most 125 bytes, a length below 2⁶³ (biased towards the 125/126, 0xFFFF/0x10000 boundaries).
//!
//! Invariants: encode writes `encoded_len()` bytes and reports `InsufficientSize` exactly when the
//! buffer is short; decode gives back the same header and length, with trailing bytes ignored;
//! every proper prefix is `Partial`; the receiver that owns one RSV bit fewer, the other role and
//! a frame limit one below the length each get their specific error.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zerows_frame::{Config, Error, Header, InsufficientSize, OpCode, Role, Rsv, Status};

#[derive(Arbitrary, Debug)]
struct Spec {
    fin: bool,
    rsv: u8,
    /// Extra RSV bits the receiver owns beyond those set.
    extra_rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len_class: u8,
    len: u64,
    /// Whether the receiver's frame limit is exactly the length (else unlimited).
    tight_limit: bool,
    trailing: [u8; 3],
}

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];
const EDGES: [u64; 8] = [
    0,
    125,
    126,
    127,
    0xFFFF,
    0x1_0000,
    0x1_0001,
    i64::MAX as u64,
];

fuzz_target!(|s: Spec| {
    let opcode = OPCODES[usize::from(s.opcode) % OPCODES.len()];
    let mut payload_len = match s.len_class % 5 {
        0 => s.len % 126,
        1 => 126 + s.len % (0x1_0000 - 126),
        2 => 0x1_0000 + s.len % (i64::MAX as u64 - 0xFFFF),
        3 => EDGES[(s.len % EDGES.len() as u64) as usize],
        _ => s.len >> 1,
    };
    if opcode.is_control() {
        payload_len %= 126;
    }
    let h = Header {
        fin: s.fin || opcode.is_control(),
        rsv: Rsv::from_bits(s.rsv & 0b111).unwrap(),
        opcode,
        mask: s.mask,
        payload_len,
    };
    let receiver = if h.mask.is_some() {
        Role::Server
    } else {
        Role::Client
    };
    let owned = h.rsv | Rsv::from_bits(s.extra_rsv & 0b111).unwrap();
    let limit = if s.tight_limit { payload_len } else { u64::MAX };
    let c = Config::new(receiver)
        .extension_rsv(owned)
        .max_frame_size(limit);

    // encode: exactly encoded_len bytes, InsufficientSize below that
    let n = h.encoded_len();
    assert!((2..=Header::MAX_LEN).contains(&n));
    let mut out = [0u8; Header::MAX_LEN + 3];
    for short in 0..n {
        assert_eq!(
            h.encode(&mut out[..short]),
            Err(InsufficientSize { required: n })
        );
    }
    assert_eq!(h.encode(&mut out), Ok(n));
    out[n..n + 3].copy_from_slice(&s.trailing);
    let wire = &out[..n];

    // decode: the same header, trailing bytes untouched, every proper prefix Partial
    assert_eq!(Header::decode(wire, &c), Ok(Status::Complete((h, n))));
    assert_eq!(
        Header::decode(&out[..n + 3], &c),
        Ok(Status::Complete((h, n)))
    );
    for cut in 0..n {
        assert_eq!(
            Header::decode(&wire[..cut], &c),
            Ok(Status::Partial),
            "cut {cut} of {h:?}"
        );
    }

    // each rule bites on its own
    for bit in [Rsv::RSV1, Rsv::RSV2, Rsv::RSV3] {
        if h.rsv.contains(bit) {
            let fewer = Rsv::from_bits(owned.bits() & !bit.bits()).unwrap();
            assert_eq!(
                Header::decode(wire, &c.extension_rsv(fewer)),
                Err(Error::ReservedBits)
            );
        }
    }
    let other = Config::new(receiver.peer())
        .extension_rsv(owned)
        .max_frame_size(limit);
    let expect = if h.mask.is_some() {
        Error::MaskedFrame
    } else {
        Error::UnmaskedFrame
    };
    assert_eq!(Header::decode(wire, &other), Err(expect));
    if payload_len > 0 {
        // the frame limit bites on data frames only (control frames stop at 125, RFC 6455 §5.5)
        let c = c.max_frame_size(payload_len - 1);
        if h.opcode.is_data() {
            assert_eq!(Header::decode(wire, &c), Err(Error::FrameTooLarge));
        } else {
            assert_eq!(Header::decode(wire, &c), Ok(Status::Complete((h, n))));
        }
    }
});
