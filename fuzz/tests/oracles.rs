//! Tests of the fuzz targets' oracles (`fuzz_targets/shared/naive_*.rs`): they agree with zerows
//! on the RFCs' own examples, and their checks can fail. Plain `cargo test` from `fuzz/` (no
//! libFuzzer, no nightly flags).

#[path = "../fuzz_targets/shared/naive_accept.rs"]
mod naive_accept;
#[path = "../fuzz_targets/shared/naive_frame.rs"]
mod naive_frame;
#[path = "../fuzz_targets/shared/naive_inflate.rs"]
mod naive_inflate;
#[path = "../fuzz_targets/shared/naive_proxy.rs"]
mod naive_proxy;
#[path = "../fuzz_targets/shared/naive_url.rs"]
mod naive_url;

use naive_frame::{Ev, Head, Proved, Rules};
use naive_inflate::{Fault, Inflater, fits_window};
use zerows_frame::{Config, Decoder, Error, Event, Role, Rsv, Status};

// ---------------------------------------------------------------------------------------------
// frames

/// `wire` decoded whole by `zerows_frame::Decoder`, in the oracle's terms.
fn zerows(wire: &[u8], c: Config) -> (Vec<Ev>, Option<Error>) {
    let mut d = Decoder::new(c);
    let mut buf = wire.to_vec();
    let mut events = Vec::new();
    loop {
        let (ev, used) = match d.next(&mut buf) {
            Err(e) => return (events, Some(e)),
            Ok(Status::Partial) => return (events, None),
            Ok(Status::Complete(x)) => x,
        };
        events.push(match ev {
            Event::Header(h) => Ev::Header(naive_frame::head(&h)),
            Event::Payload(p) => Ev::Payload(p.to_vec()),
            Event::FrameEnd { fin } => Ev::FrameEnd(fin),
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close(c) => Ev::Close(c.map(|c| (c.code.0, c.reason.to_owned()))),
        });
        buf.drain(..used);
    }
}

fn naive(wire: &[u8], r: &Rules) -> (Vec<Ev>, Option<Error>) {
    let d = naive_frame::decode(wire, r);
    (d.events, d.error.map(|p| p.error))
}

fn config(server: bool) -> (Config, Rules) {
    let role = if server { Role::Server } else { Role::Client };
    (Config::new(role), Rules::new(server))
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn head(fin: bool, opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Head {
    Head {
        fin,
        rsv: 0,
        opcode,
        mask,
        len,
    }
}

/// RFC 6455 §5.7, every example: the oracle gives the events the RFC describes, and zerows the
/// same.
#[test]
fn rfc_6455_5_7_examples() {
    let hello = b"Hello".to_vec();
    let big = |len: usize, ext: &[u8]| {
        let mut f = vec![0x82];
        f.extend_from_slice(ext);
        f.extend(std::iter::repeat_n(0xAB, len));
        f
    };
    let cases: Vec<(bool, Vec<u8>, Vec<Ev>)> = vec![
        // a single-frame unmasked text message
        (
            false,
            vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            vec![
                Ev::Header(head(true, 1, None, 5)),
                Ev::Payload(hello.clone()),
                Ev::FrameEnd(true),
            ],
        ),
        // a single-frame masked text message
        (
            true,
            vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            vec![
                Ev::Header(head(true, 1, Some(KEY), 5)),
                Ev::Payload(hello.clone()),
                Ev::FrameEnd(true),
            ],
        ),
        // a fragmented unmasked text message
        (
            false,
            vec![0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
            vec![
                Ev::Header(head(false, 1, None, 3)),
                Ev::Payload(b"Hel".to_vec()),
                Ev::FrameEnd(false),
                Ev::Header(head(true, 0, None, 2)),
                Ev::Payload(b"lo".to_vec()),
                Ev::FrameEnd(true),
            ],
        ),
        // unmasked ping, masked pong
        (
            false,
            vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            vec![Ev::Ping(hello.clone())],
        ),
        (
            true,
            vec![
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            vec![Ev::Pong(hello.clone())],
        ),
        // 256 bytes binary, 64 KiB binary, unmasked
        (
            false,
            big(256, &[0x7E, 0x01, 0x00]),
            vec![
                Ev::Header(head(true, 2, None, 256)),
                Ev::Payload(vec![0xAB; 256]),
                Ev::FrameEnd(true),
            ],
        ),
        (
            false,
            big(65536, &[0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
            vec![
                Ev::Header(head(true, 2, None, 65536)),
                Ev::Payload(vec![0xAB; 65536]),
                Ev::FrameEnd(true),
            ],
        ),
    ];
    for (server, wire, want) in cases {
        let (c, r) = config(server);
        assert_eq!(naive(&wire, &r), (want.clone(), None), "oracle {wire:02x?}");
        assert_eq!(zerows(&wire, c), (want, None), "zerows {wire:02x?}");
    }
}

/// One stream per error kind (and per precedence choice): the oracle names the error, and zerows
/// names the same one.
#[test]
fn errors_agree() {
    use Error::*;
    let text = |fin: bool, p: &[u8]| {
        let mut f = vec![u8::from(fin) << 7 | 1, 0x80 | p.len() as u8];
        f.extend(KEY);
        f.extend(p.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
        f
    };
    let cont = |fin: bool, p: &[u8]| {
        let mut f = text(fin, p);
        f[0] &= 0xF0;
        f
    };
    let close = |p: &[u8]| {
        let mut f = text(true, p);
        f[0] = 0x88;
        f
    };
    let cat = |parts: &[Vec<u8>]| parts.concat();
    // (server, wire, error)
    let cases: Vec<(bool, Vec<u8>, Error)> = vec![
        (false, vec![0x83], ReservedOpcode),
        // opcode before RSV: both wrong in byte 0
        (false, vec![0xF3], ReservedOpcode),
        (false, vec![0xC1], ReservedBits),
        (true, vec![0x81, 0x05], UnmaskedFrame),
        (false, vec![0x81, 0x85], MaskedFrame),
        // masking before the control rules
        (false, vec![0x09, 0xFE], MaskedFrame),
        (false, vec![0x09, 0x00], FragmentedControl),
        // FIN before the length
        (false, vec![0x09, 0x7E], FragmentedControl),
        (false, vec![0x89, 0x7E], ControlTooLong),
        (false, vec![0x82, 0x7E, 0x00, 0x7D], NonMinimalLength),
        (
            false,
            vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
            NonMinimalLength,
        ),
        (
            false,
            vec![0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0],
            LengthOverflow,
        ),
        (
            false,
            vec![0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 1],
            FrameTooLarge,
        ),
        (true, cont(true, b"x"), UnexpectedContinuation),
        (
            true,
            cat(&[text(false, b"a"), text(true, b"b")]),
            ExpectedContinuation,
        ),
        (true, close(&[0x03]), InvalidClosePayload),
        (true, close(&[0x03, 0xED]), InvalidCloseCode),
        (true, close(&[0x03, 0xEC]), InvalidCloseCode),
        (true, close(&[0x0B, 0xB7]), InvalidCloseCode),
        (true, close(&[0x13, 0x88]), InvalidCloseCode),
        (true, close(&[0x03, 0xE8, 0xFF]), InvalidUtf8),
        (true, cat(&[close(&[]), vec![0x89]]), FrameAfterClose),
        // Autobahn 6.4.1: fails at the proving byte, before the frame ends
        (
            true,
            text(true, &[0xCE, 0xBA, 0xF4, 0x90, 0x80, 0x80, 0x65])[..10].to_vec(),
            InvalidUtf8,
        ),
        // a message ending inside a code point, in an empty last fragment
        (
            true,
            cat(&[text(false, &[b'a', 0xE2, 0x82]), cont(true, &[])]),
            InvalidUtf8,
        ),
    ];
    for (server, wire, e) in cases {
        let (c, r) = config(server);
        assert_eq!(naive(&wire, &r).1, Some(e), "oracle {wire:02x?}");
        assert_eq!(zerows(&wire, c).1, Some(e), "zerows {wire:02x?}");
    }

    // the limits and owned RSV bits
    let (c, mut r) = config(true);
    let c = c
        .max_fragments(2)
        .max_message_size(3)
        .extension_rsv(Rsv::RSV1);
    r.max_fragments = 2;
    r.max_message = 3;
    r.max_frame = 3;
    r.owned_rsv = 0b100;
    let mut rsv1 = text(false, b"a");
    rsv1[0] |= 0x40;
    for (wire, e) in [
        (text(true, b"abcd"), FrameTooLarge),
        (
            cat(&[text(false, b"ab"), cont(true, b"cd")]),
            MessageTooLarge,
        ),
        (
            cat(&[text(false, b"a"), cont(false, b""), cont(true, b"")]),
            TooManyFragments,
        ),
        // zerows: fragments before size, when both break
        (
            cat(&[text(false, b"a"), cont(false, b"b"), cont(true, b"cd")]),
            TooManyFragments,
        ),
        (
            cat(&[text(false, b"a"), rsv1.clone()]),
            ExpectedContinuation,
        ),
        (
            cat(&[text(false, b"a"), {
                let mut f = rsv1.clone();
                f[0] &= 0xF0;
                f
            }]),
            ReservedBits,
        ),
    ] {
        assert_eq!(naive(&wire, &r).1, Some(e), "oracle {wire:02x?}");
        assert_eq!(zerows(&wire, c).1, Some(e), "zerows {wire:02x?}");
    }
}

/// The oracle's proof offsets: the error is there with `at` bytes and not with one fewer.
#[test]
fn proof_offsets() {
    let r = Rules::new(true);
    let mut wire = vec![0x81, 0x87];
    wire.extend(KEY);
    let payload = [0xCE, 0xBA, 0xF4, 0x90, 0x80, 0x80, 0x65];
    wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    let p = naive_frame::decode(&wire, &r).error.unwrap();
    // header (6) + κ (2) + F4 90: the 90 proves it
    assert_eq!(
        p,
        Proved {
            error: Error::InvalidUtf8,
            at: 10
        }
    );
    assert_eq!(naive_frame::decode(&wire[..9], &r).error, None);
    assert_eq!(naive_frame::decode(&wire[..10], &r).error, Some(p));
}

/// The comparison bites: an oracle with one limit off by one disagrees with zerows on the stream
/// at that limit, and the right oracle agrees.
#[test]
fn a_wrong_rule_disagrees() {
    let (c, r) = config(false);
    // three frames, 3 bytes in all
    let wire = [0x02, 0x01, 0x61, 0x00, 0x01, 0x62, 0x80, 0x01, 0x63];
    let limits = [
        (
            c.max_fragments(2),
            Rules {
                max_fragments: 2,
                ..r
            },
            Rules {
                max_fragments: 3,
                ..r
            },
        ),
        (
            c.max_message_size(2),
            Rules {
                max_message: 2,
                max_frame: 2,
                ..r
            },
            Rules {
                max_message: 3,
                max_frame: 3,
                ..r
            },
        ),
        (
            c.max_frame_size(0),
            Rules { max_frame: 0, ..r },
            Rules { max_frame: 1, ..r },
        ),
    ];
    for (c, right, wrong) in limits {
        assert!(zerows(&wire, c).1.is_some());
        assert_eq!(zerows(&wire, c), naive(&wire, &right));
        assert_ne!(zerows(&wire, c), naive(&wire, &wrong));
    }
}

// ---------------------------------------------------------------------------------------------
// inflate

/// Writes DEFLATE bits: numbers least significant bit first, Huffman codes most significant bit
/// first (RFC 1951 §3.1.1).
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    n: usize,
}

impl BitWriter {
    fn bit(&mut self, b: u32) {
        if self.n.is_multiple_of(8) {
            self.bytes.push(0);
        }
        *self.bytes.last_mut().unwrap() |= ((b & 1) as u8) << (self.n % 8);
        self.n += 1;
    }
    fn number(&mut self, v: u32, bits: u32) {
        for i in 0..bits {
            self.bit(v >> i);
        }
    }
    fn code(&mut self, c: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.bit(c >> i);
        }
    }
    /// A byte as a fixed-code literal (0-143: 8 bits from 0x30).
    fn literal(&mut self, b: u8) {
        assert!(b < 144);
        self.code(0x30 + u32::from(b), 8);
    }
    /// Length 3 (symbol 257, 7 bits 0000001), then a distance with code `dcode` and its extra
    /// bits, fixed codes.
    fn match3(&mut self, dcode: u32, extra: u32, extra_bits: u32) {
        self.code(1, 7);
        self.code(dcode, 5);
        self.number(extra, extra_bits);
    }
    fn end_of_block(&mut self) {
        self.code(0, 7);
    }
}

/// 600 literals, then a back-reference of 600 bytes (distance code 18: 513 + 87), one final
/// fixed-code block.
fn distance_600() -> Vec<u8> {
    let mut w = BitWriter::default();
    w.number(1, 1); // BFINAL
    w.number(1, 2); // fixed codes
    for _ in 0..600 {
        w.literal(b'a');
    }
    w.match3(18, 87, 8);
    w.end_of_block();
    w.bytes
}

/// Audit item 5: zlib-rs with a 9-bit window (what flate2 checked before) inflates a 600-byte
/// back-reference without complaint when its output buffer is large; the naive inflater records
/// the distance, and the window check refuses it for 9 bits (512 bytes).
#[test]
fn window_check_refuses_a_600_byte_distance_with_9_bits() {
    let stream = distance_600();

    let mut z = flate2::Decompress::new_with_window_bits(false, 9);
    let mut out = Vec::with_capacity(4096);
    let status = z
        .decompress_vec(&stream, &mut out, flate2::FlushDecompress::Finish)
        .expect("zlib-rs accepts it");
    assert_eq!(status, flate2::Status::StreamEnd);
    assert_eq!(out, vec![b'a'; 603]);

    let mut n = Inflater::new();
    n.feed(&stream, usize::MAX).unwrap();
    assert!(n.ended);
    assert_eq!(n.out, vec![b'a'; 603]);
    assert_eq!(n.max_distance, 600);
    assert!(
        !fits_window(n.max_distance, 9),
        "600 bytes back in a 512-byte window"
    );
    assert!(fits_window(n.max_distance, 10));
    // the edge: a window of 2^N bytes holds a reference exactly 2^N back
    assert!(fits_window(512, 9) && !fits_window(513, 9));
}

/// A distance beyond the bytes produced so far is an error, whatever the buffer.
#[test]
fn distance_before_the_stream_start() {
    let mut w = BitWriter::default();
    w.number(1, 1);
    w.number(1, 2);
    for b in b"abc" {
        w.literal(*b);
    }
    w.match3(3, 0, 0); // distance 4
    w.end_of_block();
    let mut n = Inflater::new();
    assert!(matches!(
        n.feed(&w.bytes, usize::MAX),
        Err(Fault::Invalid(_))
    ));
    // distance 3 is fine: "abcabc"
    let mut w = BitWriter::default();
    w.number(1, 1);
    w.number(1, 2);
    for b in b"abc" {
        w.literal(*b);
    }
    w.match3(2, 0, 0);
    w.end_of_block();
    let mut n = Inflater::new();
    n.feed(&w.bytes, usize::MAX).unwrap();
    assert_eq!(n.out, b"abcabc");
}

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

fn with_tail(p: &[u8]) -> Vec<u8> {
    [p, &TAIL].concat()
}

/// RFC 7692 §7.2.3's examples.
#[test]
fn rfc_7692_7_2_3_examples() {
    // §7.2.3.1: "Hello", compressed
    let mut n = Inflater::new();
    n.feed(
        &with_tail(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        usize::MAX,
    )
    .unwrap();
    assert_eq!(n.out, b"Hello");
    assert!(n.at_block_boundary() && !n.ended);
    // §7.2.3.2: the same again with context takeover: one back-reference, 5 bytes back
    n.feed(&with_tail(&[0xf2, 0x00, 0x11, 0x00, 0x00]), usize::MAX)
        .unwrap();
    assert_eq!(n.out, b"HelloHello");
    assert_eq!(n.max_distance, 5);
    assert!(n.at_block_boundary());
    // ... which without the first message reaches before the stream's start
    let mut fresh = Inflater::new();
    assert!(
        fresh
            .feed(&with_tail(&[0xf2, 0x00, 0x11, 0x00, 0x00]), usize::MAX)
            .is_err()
    );
    // §7.2.3.3: a stored block
    let mut n = Inflater::new();
    n.feed(
        &with_tail(&[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ]),
        usize::MAX,
    )
    .unwrap();
    assert_eq!(n.out, b"Hello");
    // §7.2.3.5: two blocks in one message
    let mut n = Inflater::new();
    n.feed(
        &with_tail(&[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ]),
        usize::MAX,
    )
    .unwrap();
    assert_eq!(n.out, b"Hello");
    // §7.2.3.6: an empty message
    let mut n = Inflater::new();
    n.feed(&with_tail(&[0x00]), usize::MAX).unwrap();
    assert!(n.out.is_empty() && n.at_block_boundary());
}

/// Fed one byte at a time, the same output and the same verdict as whole; a limit is a limit.
#[test]
fn pieces_and_limits() {
    let stream = distance_600();
    let mut n = Inflater::new();
    for b in &stream {
        n.feed(&[*b], usize::MAX).unwrap();
    }
    assert_eq!(n.out, vec![b'a'; 603]);
    assert_eq!(n.max_distance, 600);
    let mut n = Inflater::new();
    assert_eq!(n.feed(&stream, 602), Err(Fault::TooBig));
    let mut n = Inflater::new();
    assert_eq!(n.feed(&stream, 603), Ok(()));
    // bytes after the end
    let mut n = Inflater::new();
    assert!(
        n.feed(&[stream.clone(), vec![0]].concat(), usize::MAX)
            .is_err()
    );
}

/// The naive inflater against zlib-rs on what zlib-rs compresses, every window size and level,
/// in one stream with sync flushes (as permessage-deflate sends), and the window rule holds.
#[test]
fn agrees_with_zlib_rs_on_its_own_output() {
    let text: Vec<u8> = (0..40_000u32)
        .map(|i| {
            b"the quick brown fox jumps over the lazy dog "[(i * 7 % 45) as usize % 44]
                ^ (i / 997) as u8
        })
        .collect();
    for bits in 9..=15u8 {
        for level in [1, 6, 9] {
            let mut c = flate2::Compress::new_with_window_bits(
                flate2::Compression::new(level),
                false,
                bits,
            );
            let mut n = Inflater::new();
            for msg in text.chunks(7_000) {
                let mut out = Vec::with_capacity(msg.len() * 2 + 64);
                c.compress_vec(msg, &mut out, flate2::FlushCompress::Sync)
                    .unwrap();
                assert!(out.ends_with(&TAIL));
                out.truncate(out.len() - 4);
                let start = n.out.len();
                n.feed(&with_tail(&out), usize::MAX).unwrap();
                assert_eq!(&n.out[start..], msg, "bits {bits} level {level}");
                assert!(n.at_block_boundary());
            }
            assert!(
                fits_window(n.max_distance, bits),
                "{} for {bits} bits",
                n.max_distance
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// accept key

/// RFC 6455 §1.3's sample, and agreement with zerows on other keys.
#[test]
fn accept_key() {
    assert_eq!(
        naive_accept::accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    // RFC 4648 §10's test vectors
    for (raw, enc) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(naive_accept::base64(raw.as_bytes()), enc);
    }
    for key in [
        &b"x3JJHMbDL1EzLkh9GBhXDw=="[..],
        b"AQIDBAUGBwgJCgsMDQ4PEA==",
        b"",
    ] {
        assert_eq!(
            naive_accept::accept(key).as_bytes(),
            &zerows_upgrade::AcceptKey::from_key(key).as_bytes()[..]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// URLs, proxy URLs, NO_PROXY (net_url_parse)

use naive_url::{NHost, Why};
use zerows_net::proxy::Proxy;
use zerows_net::url::{Host, UrlError, WsUrl};

fn nhost(h: Host<'_>) -> NHost {
    match h {
        Host::Name(n) => NHost::Name(n.to_owned()),
        Host::Ip(std::net::IpAddr::V4(a)) => NHost::V4(a.octets()),
        Host::Ip(std::net::IpAddr::V6(a)) => NHost::V6(a.segments()),
    }
}

/// RFC 4291 §2.2's text forms (and a few that are not addresses): the oracle's IPv6 parser
/// agrees with `std` (what zerows-net uses) on each.
#[test]
fn ipv6_text_forms() {
    let good = [
        "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789",
        "2001:DB8:0:0:8:800:200C:417A",
        "2001:DB8::8:800:200C:417A",
        "FF01::101",
        "::1",
        "::",
        "0:0:0:0:0:0:13.1.68.3",
        "::13.1.68.3",
        "::FFFF:129.144.52.38",
        "1::",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
    ];
    for s in good {
        let std: std::net::Ipv6Addr = s.parse().unwrap();
        assert_eq!(naive_url::ipv6(s), Some(std.segments()), "{s}");
    }
    let bad = [
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "12345::",
        "1:2:3:4:5:6:7::8",
        ":1::",
        "1:::2",
        "::1.2.3",
        "::01.2.3.4",
        "1.2.3.4::",
        "::g",
        "",
        "fe80::1%eth0",
    ];
    for s in bad {
        assert_eq!(naive_url::ipv6(s), None, "{s}");
        assert!(s.parse::<std::net::Ipv6Addr>().is_err(), "{s}");
    }
    assert_eq!(naive_url::ipv4("192.0.2.1"), Some([192, 0, 2, 1]));
    for s in ["01.2.3.4", "256.0.0.1", "1.2.3", "1.2.3.4.", "0x7f.0.0.1"] {
        assert_eq!(naive_url::ipv4(s), None, "{s}");
        assert!(s.parse::<std::net::Ipv4Addr>().is_err(), "{s}");
    }
}

/// RFC 6455 §3 examples and zerows-net's own: the oracle's parts are zerows', and zerows' error
/// is among the oracle's reasons.
#[test]
fn ws_urls() {
    let ok = [
        (
            "ws://server.example.com/chat",
            false,
            "server.example.com",
            80,
            "/chat",
        ),
        (
            "wss://[::1]:9443/chat?room=7",
            true,
            "[::1]:9443",
            9443,
            "/chat?room=7",
        ),
        ("WsS://example.com", true, "example.com", 443, "/"),
        ("ws://h?x=1", false, "h", 80, "/?x=1"),
        ("ws://h:/", false, "h", 80, "/"),
        (
            "ws://127.0.0.1:9001/runCase?case=1&agent=x",
            false,
            "127.0.0.1:9001",
            9001,
            "/runCase?case=1&agent=x",
        ),
        ("ws://h/{x}", false, "h", 80, "/{x}"),
        // a reg-name, not an IPv4 address (dec-octet has no leading zeros)
        ("ws://01.2.3.4/", false, "01.2.3.4", 80, "/"),
    ];
    for (s, secure, header, port, target) in ok {
        let u = WsUrl::parse(s).unwrap();
        let m = naive_url::ws(s).unwrap();
        assert_eq!(
            (m.secure, &m.host_header[..], m.port, &m.target[..]),
            (secure, header, port, target),
            "{s}"
        );
        assert_eq!(m.host, nhost(u.host()), "{s}");
        assert_eq!(
            (u.is_secure(), u.host_header(), u.port()),
            (secure, header, port),
            "{s}"
        );
        assert_eq!(u.request_target(), target, "{s}");
        assert_eq!(m.strict, !s.contains('{'), "{s}");
    }
    let bad = [
        ("example.com", UrlError::MissingScheme),
        ("http://example.com", UrlError::UnknownScheme),
        ("ws:///path", UrlError::MissingHost),
        ("ws://:80/", UrlError::MissingHost),
        ("ws://exa mple.com/", UrlError::InvalidHost),
        ("ws://[::1/", UrlError::InvalidHost),
        ("ws://[v1.x]/", UrlError::InvalidHost),
        ("ws://a!b/", UrlError::InvalidHost),
        ("ws://h:0/", UrlError::InvalidPort),
        ("ws://h:65536/", UrlError::InvalidPort),
        ("ws://h:000080/", UrlError::InvalidPort),
        ("ws://user:pw@h/", UrlError::UserInfo),
        ("ws://h/#frag", UrlError::Fragment),
        ("ws://h/a b", UrlError::InvalidCharacter),
    ];
    for (s, e) in bad {
        assert_eq!(WsUrl::parse(s), Err(e), "{s}");
        let reasons = naive_url::ws(s).unwrap_err();
        let w = match e {
            UrlError::MissingScheme => Why::MissingScheme,
            UrlError::UnknownScheme => Why::UnknownScheme,
            UrlError::MissingHost => Why::MissingHost,
            UrlError::InvalidHost => Why::InvalidHost,
            UrlError::InvalidPort => Why::InvalidPort,
            UrlError::UserInfo => Why::UserInfo,
            UrlError::Fragment => Why::Fragment,
            _ => Why::InvalidCharacter,
        };
        assert!(reasons.contains(&w), "{s}: {reasons:?}");
    }
    // two reasons: the host (zerows reads the port after the last `:`) or the port (RFC 3986)
    assert_eq!(WsUrl::parse("ws://a:b:80/"), Err(UrlError::InvalidHost));
    let r = naive_url::ws("ws://a:b:80/").unwrap_err();
    assert!(r.contains(&Why::InvalidHost) && r.contains(&Why::InvalidPort));
}

/// Proxy URLs: kind, host, port and decoded credentials, and the regression
/// `regressions/net_url_parse-pct-plus-sign.bin`: `%+0` is not a percent-encoding (zerows-net
/// decoded it with `u8::from_str_radix`, which takes a `+` sign).
#[test]
fn proxy_urls() {
    let p = Proxy::parse("http://alice:s%40cret@127.0.0.1:3128").unwrap();
    let m = naive_url::proxy("http://alice:s%40cret@127.0.0.1:3128").unwrap();
    assert_eq!(
        (m.scheme, m.port, m.host),
        ("http", 3128, NHost::V4([127, 0, 0, 1]))
    );
    assert_eq!(p.port(), 3128);
    assert_eq!(p.credentials(), Some(("alice", "s@cret")));
    assert_eq!(m.credentials, Some(("alice".into(), "s@cret".into())));
    let m = naive_url::proxy("socks5h://u:p%3Aq@[::1]").unwrap();
    assert_eq!((m.scheme, m.port), ("socks5h", 1080));
    assert_eq!(m.credentials, Some(("u".into(), "p:q".into())));
    assert_eq!(
        naive_url::proxy("http://h/path"),
        Err(vec![Why::InvalidCharacter])
    );
    assert_eq!(naive_url::proxy("https://h"), Err(vec![Why::UnknownScheme]));
    for s in [
        "http://u:%+0@h",
        "http://u:%zz@h",
        "http://u:%4@h",
        "http://%ff@h",
    ] {
        assert_eq!(Proxy::parse(s), Err(UrlError::InvalidCharacter), "{s}");
        assert_eq!(naive_url::proxy(s), Err(vec![Why::InvalidCharacter]), "{s}");
    }
}

fn bypass(list: &str, host: Host<'_>) -> bool {
    Proxy::from_vars(false, host, |n| match n {
        "no_proxy" => Some(list.to_owned()),
        "http_proxy" => Some("p:1".to_owned()),
        _ => None,
    })
    .unwrap()
    .is_none()
}

/// NO_PROXY: zerows-net's documented examples, and the regression
/// `regressions/net_url_parse-no-proxy-trailing-dot.bin`: an entry equal to a host that ends
/// with `.` did not match it (the host's dot was dropped, the entry's kept).
#[test]
fn no_proxy_lists() {
    let cases: &[(&str, &str, bool)] = &[
        ("example.com", "example.com", true),
        ("example.com", "a.example.com", true),
        (".example.com", "a.example.com", true),
        ("example.com", "badexample.com", false),
        ("localhost, 127.0.0.1", "127.0.0.1", true),
        ("[::1]:80", "::1", true),
        ("host:8080", "host", true),
        ("*", "anything", true),
        ("other.org", "example.com", false),
        ("h.", "h.", true),
        ("h.", "h", true),
        ("h", "h.", true),
        ("EXAMPLE.com.", "a.example.COM", true),
    ];
    for &(list, host, hit) in cases {
        let h = match host.parse() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host),
        };
        assert_eq!(bypass(list, h), hit, "{list:?} {host:?}");
        assert_eq!(
            naive_url::no_proxy(list, &nhost(h)),
            Some(hit),
            "{list:?} {host:?}"
        );
    }
    // lists the oracle does not judge
    assert_eq!(naive_url::no_proxy("a:b", &NHost::Name("a".into())), None);
    assert_eq!(naive_url::no_proxy("[::1", &NHost::Name("a".into())), None);
}

// ---------------------------------------------------------------------------------------------
// proxy replies (net_proxy_reply)

use naive_proxy::{End, Target};
use zerows_net::proxy::http::{Reply, parse_reply};
use zerows_net::proxy::socks5::Socks5;
use zerows_net::proxy::{Exchange, ProxyError};

/// Runs a SOCKS5 exchange on `reply`, a byte at a time: what it sent, bytes read, the end.
fn socks5(
    reply: &[u8],
    host: Host<'_>,
    creds: Option<(&str, &str)>,
) -> (Vec<Vec<u8>>, usize, Result<(), ProxyError>) {
    let mut s = Socks5::new(host, 1080, creds).unwrap();
    let (mut sent, mut read) = (Vec::new(), 0);
    loop {
        if !s.output().is_empty() {
            sent.push(s.output().to_vec());
            let n = s.output().len();
            s.advance(n);
        }
        if s.is_done() {
            return (sent, read, Ok(()));
        }
        let t = s.read_target().unwrap();
        let n = usize::from(read < reply.len());
        if n == 1 {
            t[0] = reply[read];
        }
        read += n;
        if let Err(e) = s.handle_read(n) {
            return (sent, read, Err(e));
        }
    }
}

/// RFC 1928 §6's reply lengths, and the model against zerows on one reply per ending.
#[test]
fn socks5_replies() {
    assert_eq!(naive_proxy::reply_len(1, 0), Some(10));
    assert_eq!(naive_proxy::reply_len(4, 0), Some(22));
    assert_eq!(naive_proxy::reply_len(3, 11), Some(18));
    assert_eq!(naive_proxy::reply_len(3, 0), Some(7));
    assert_eq!(naive_proxy::reply_len(2, 0), None);
    let v4 = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];
    let cat = |parts: &[&[u8]]| parts.concat();
    let creds = Some(("alice", "s3cret"));
    let cases: Vec<(Vec<u8>, Option<(&str, &str)>, End, usize)> = vec![
        (cat(&[&[5, 0], &v4, b"tunnel"]), None, End::Open, 12),
        (cat(&[&[5, 2, 1, 0], &v4]), creds, End::Open, 14),
        (
            cat(&[&[5, 0], &[5, 0, 0, 3, 2, b'p', b'x', 0, 80]]),
            None,
            End::Open,
            11,
        ),
        (
            cat(&[&[5, 0], &[5, 0, 0, 4], &[0; 18]]),
            None,
            End::Open,
            24,
        ),
        (vec![5, 2, 1, 1], creds, End::AuthFailed, 4),
        (vec![5, 0xff], None, End::AuthRequired, 2),
        (vec![5, 0xff], creds, End::Malformed, 2),
        (vec![5, 2], None, End::Malformed, 2),
        (vec![4, 0], None, End::Malformed, 2),
        (
            cat(&[&[5, 0], &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]]),
            None,
            End::Refused(5),
            7,
        ),
        (cat(&[&[5, 0], &[5, 0, 0, 9, 0]]), None, End::Malformed, 7),
        (cat(&[&[5, 0], &v4[..9]]), None, End::Closed, 11),
    ];
    for (reply, creds, end, read) in cases {
        let c = creds.map(|(u, p): (&str, &str)| (u.as_bytes(), p.as_bytes()));
        let play = naive_proxy::socks5(&reply, Target::Name(b"example.com"), 1080, c);
        assert_eq!((play.end, play.read), (end, read), "{reply:?}");
        let (sent, n, r) = socks5(&reply, Host::Name("example.com"), creds);
        assert_eq!((sent, n), (play.sent, play.read), "{reply:?}");
        let same = match (r, end) {
            (Ok(()), End::Open) => true,
            (Err(ProxyError::Closed), End::Closed) => true,
            (Err(ProxyError::AuthenticationRequired), End::AuthRequired) => true,
            (Err(ProxyError::AuthenticationFailed), End::AuthFailed) => true,
            (Err(ProxyError::Malformed(_)), End::Malformed) => true,
            (Err(ProxyError::SocksRefused { code }), End::Refused(c)) => code == c,
            _ => false,
        };
        assert!(same, "{reply:?}: {r:?} vs {end:?}");
    }
}

/// The status line reader, and the regression `regressions/net_proxy_reply-http-2-tunnel.bin`:
/// `parse_reply` took an `HTTP/2.0 200` head for a tunnel although it promises `Malformed` for
/// anything but HTTP/1.x.
#[test]
fn http_replies() {
    assert_eq!(
        naive_proxy::status_line(b"HTTP/1.1 200 OK\r\n\r\n"),
        Some(((1, 1), 200))
    );
    assert_eq!(
        naive_proxy::status_line(b"HTTP/1.0 407 x"),
        Some(((1, 0), 407))
    );
    assert_eq!(naive_proxy::status_line(b"HTTP/1.1 20"), None);
    assert_eq!(naive_proxy::status_line(b"HTTP/2 200 OK\r\n"), None);
    assert_eq!(
        parse_reply(b"HTTP/1.0 200 Connection established\r\n\r\n"),
        Ok(Reply::Tunnel { head_len: 39 })
    );
    let two = b"HTTP/2.0 200 OK\r\n\r\n";
    assert_eq!(naive_proxy::status_line(two), Some(((2, 0), 200)));
    assert!(matches!(parse_reply(two), Err(ProxyError::Malformed(_))));
    assert!(matches!(
        parse_reply(b"HTTP/0.9 407 x\r\n\r\n"),
        Err(ProxyError::Malformed(_))
    ));
}
