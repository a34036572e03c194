//! A `zerows_util::WebSocket` (server or client role) reading an arbitrary byte stream from an
//! in-memory peer, until the connection ends.
//!
//! The peer's read side returns the stream in fuzzer-chosen chunk sizes (cycled; 0 = one
//! `Interrupted` error); its write side accepts everything and records it. The connection is
//! made with `WebSocket::from_raw`, part of the stream handed over as the handshake's leftover.
//!
//! Input layout (read with `arbitrary`; see `fuzz/seeds.py`):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bit 0 we are the client (else server); bit 1 `auto_pong` off; bit 2 install a toy extension owning RSV1 (XOR 0x55; a decoded 0xFF fails it with 1002); bit 3 UTF-8 checking off; bit 4 `max_message_size` from bytes 2–3 (else 64 KiB); bit 5 `max_frame_size` = byte 4 × 16; bit 6 `max_fragments` = 4 |
//! | 1 | `read_buffer_size` = 512 + 14 × this (512..4082) |
//! | 2–3 | `max_message_size` (u16 LE) |
//! | 4 | `max_frame_size` / 16 |
//! | 5 | bytes of the stream given as the handshake leftover |
//! | 6 | `n`, the number of chunk sizes |
//! | 7..7+n | chunk sizes |
//! | rest | the byte stream |
//!
//! Invariants: `read` is called at most len/2 + 2 times before it fails (no hang); it fails
//! with `Closed` only right after a `Close` message, with `AbnormalClosure` only once the whole
//! stream was read, or with `Protocol` / `Extension` — never anything else, never a panic.
//! Messages respect the limits (data ≤ `max_message_size`, control ≤ 125 bytes). Without the
//! extension, the messages and the end (which error) are exactly those of the whole stream decoded
//! at once by the naive RFC 6455 decoder in `shared/naive_frame.rs` (no `zerows-frame` code) with
//! the rules the knobs set (`model`), whatever the chunking. What the connection wrote to the peer
//! decodes (the naive decoder in the peer's role) as pongs (one per
//! ping, same payload, in order, iff `auto_pong`) then at most one close frame, which is there
//! exactly when the connection ended with `Closed` (echoing the peer's code) or with a typed
//! error (its `close_code()` and reason); after `AbnormalClosure` nothing closes (1006 is never
//! sent). libFuzzer's `-malloc_limit_mb` / `-rss_limit_mb` catch unbounded allocation.
#![no_main]

use std::time::Duration;

#[path = "shared/mod.rs"]
mod shared;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use shared::naive_frame::Rules;
use shared::{End, Peer, Seen, model, pings, written_frames};
use zerows_frame::Rsv;
use zerows_util::{
    CloseCode, Config, Error, Extension, ExtensionError, Message, MessageDecoder, MessageEncoder,
    OpCode, Plain, Role, WebSocket,
};

#[derive(Arbitrary, Debug)]
struct Knobs {
    flags: u8,
    read_buf: u8,
    max_message: u16,
    max_frame: u8,
    leftover: u8,
    n_sizes: u8,
}

/// A toy extension: XOR 0x55, honouring the size limit; a decoded 0xFF is a protocol error.
#[derive(Debug)]
struct Xor;

impl MessageDecoder for Xor {
    fn decode(
        &mut self,
        _rsv: Rsv,
        chunk: &[u8],
        _last: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        if out.len() + chunk.len() > max_len {
            return Err(ExtensionError::TOO_BIG);
        }
        for &b in chunk {
            if b ^ 0x55 == 0xFF {
                return Err(ExtensionError::PROTOCOL);
            }
            out.push(b ^ 0x55);
        }
        Ok(())
    }
}

impl MessageEncoder for Xor {
    fn encode(
        &mut self,
        _: OpCode,
        _: &[u8],
        _: &mut Vec<u8>,
    ) -> Result<Option<Rsv>, ExtensionError> {
        Ok(None)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(k) = Knobs::arbitrary(&mut u) else {
        return;
    };
    let Ok(sizes) = u.bytes(usize::from(k.n_sizes)) else {
        return;
    };
    let stream = u.take_rest();
    let role = if k.flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let auto_pong = k.flags & 2 == 0;
    let max_message = if k.flags & 0x10 != 0 {
        u64::from(k.max_message)
    } else {
        64 << 10
    };
    let mut config = Config::default()
        .close_timeout(Duration::ZERO)
        .auto_pong(auto_pong)
        .validate_utf8(k.flags & 8 == 0)
        .read_buffer_size(512 + 14 * usize::from(k.read_buf))
        .max_message_size(max_message);
    if k.flags & 0x20 != 0 {
        config = config.max_frame_size(u64::from(k.max_frame) * 16);
    }
    if k.flags & 0x40 != 0 {
        config = config.max_fragments(4);
    }
    // The naive decoder's rules, from the knobs (the message limit lowers the default frame
    // limit, the frame knob then sets it; documented on `zerows_frame::Config`).
    let rules = Rules {
        server: role == Role::Server,
        owned_rsv: 0,
        max_frame: if k.flags & 0x20 != 0 {
            u64::from(k.max_frame) * 16
        } else {
            max_message.min(16 << 20)
        },
        max_message,
        max_fragments: if k.flags & 0x40 != 0 { 4 } else { 1 << 17 },
        utf8: k.flags & 8 == 0,
    };
    assert_eq!(shared::rules(role, &config), rules, "the config's limits");
    let leftover = usize::from(k.leftover).min(stream.len());
    let peer = Peer::new(stream[leftover..].to_vec(), sizes);
    let mut ws = WebSocket::from_raw(Plain(peer), role, &stream[..leftover], config);
    if k.flags & 4 != 0 {
        ws.set_extension(Extension::new(Rsv::RSV1, Box::new(Xor), Box::new(Xor)));
    }

    let bound = stream.len() / 2 + 2;
    let mut seen = Vec::new();
    let mut end = None;
    for _ in 0..bound {
        match ws.read() {
            Ok(m) => {
                assert!(
                    !matches!(seen.last(), Some(Seen::Close(_))),
                    "a message after Close"
                );
                seen.push(match m {
                    Message::Text(t) => {
                        assert!(t.len() as u64 <= max_message, "text over the limit");
                        Seen::Text(t.as_bytes().to_vec())
                    }
                    Message::Binary(b) => {
                        assert!(b.len() as u64 <= max_message, "binary over the limit");
                        Seen::Binary(b.to_vec())
                    }
                    Message::Ping(p) => {
                        assert!(p.len() <= 125);
                        Seen::Ping(p.to_vec())
                    }
                    Message::Pong(p) => {
                        assert!(p.len() <= 125);
                        Seen::Pong(p.to_vec())
                    }
                    Message::Close(c) => {
                        if let Some(c) = c {
                            assert!(c.reason.len() <= 123);
                        }
                        Seen::Close(c.map(|c| (c.code.0, c.reason.to_owned())))
                    }
                });
            }
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    }
    let Some(end) = end else {
        panic!(
            "no error after {bound} reads of a {}-byte stream",
            stream.len()
        );
    };
    // Reads after the end keep failing with Closed.
    assert!(
        matches!(ws.read(), Err(Error::Closed)),
        "read after the end"
    );

    let peer = &ws.get_ref().0;
    let shared::Written { pongs, close } = written_frames(&peer.written, role);
    let pings = pings(&seen);
    if auto_pong {
        assert_eq!(pongs, pings, "pongs do not answer the pings");
    } else {
        assert!(pongs.is_empty(), "pong sent with auto_pong off");
    }
    let closed_by_peer = matches!(seen.last(), Some(Seen::Close(_)));
    if k.flags & 4 == 0 {
        let (want, want_end) = model(stream, &rules);
        assert_eq!(seen, want, "messages differ from the whole-stream decode");
        match (&end, want_end) {
            (Error::Closed, End::Closed) | (Error::AbnormalClosure, End::Abnormal) => {}
            (Error::Protocol(e), End::Protocol(f)) if *e == f => {}
            (e, w) => panic!("ended with {e:?}, the whole-stream decode with {w:?}"),
        }
    }
    match &end {
        Error::Closed => {
            let Some(Seen::Close(theirs)) = seen.last() else {
                panic!("Closed without a close frame: {seen:?}");
            };
            let echo = close.expect("no close frame echoed");
            let code = theirs.as_ref().map(|(c, _)| *c);
            assert_eq!(
                echo.as_ref().map(|(c, _)| *c),
                code,
                "close code not echoed"
            );
            assert_eq!(echo.map_or(String::new(), |(_, r)| r), "");
        }
        Error::AbnormalClosure => {
            assert!(!closed_by_peer);
            assert_eq!(
                peer.pos,
                peer.input.len(),
                "EOF before the end of the stream"
            );
            assert_eq!(close, None, "a close frame after EOF");
            assert_eq!(end.close_code(), Some(CloseCode::ABNORMAL_CLOSURE));
        }
        Error::Protocol(_) | Error::Extension(_) => {
            assert!(!closed_by_peer);
            let reason = match &end {
                Error::Protocol(e) => {
                    if e.close_code() == CloseCode::MESSAGE_TOO_BIG {
                        assert!(
                            matches!(
                                e,
                                zerows_frame::Error::MessageTooLarge
                                    | zerows_frame::Error::FrameTooLarge
                                    | zerows_frame::Error::TooManyFragments
                            ),
                            "{e:?}"
                        );
                    }
                    e.as_str()
                }
                Error::Extension(e) => e.reason,
                _ => unreachable!(),
            };
            let Some(Some((code, why))) = close else {
                panic!("failed with {end:?} but sent {close:?}");
            };
            assert_eq!(Some(CloseCode(code)), end.close_code());
            assert_eq!(why, reason);
        }
        e => panic!("read ended with {e:?}"),
    }
});
