//! `zerows_util::helpers::read_client_data` / `read_server_data`, the gobwas-style one-message
//! readers with no connection object (they read one frame at a time with their own header
//! reading, no read-ahead), called until they fail on an arbitrary byte stream from an in-memory
//! peer in fuzzer-chosen read sizes.
//!
//! Input layout:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bit 0 we are the client (`read_server_data`), else the server; bit 1 `max_message_size` from bytes 1–2 (else 64 KiB); bit 2 `max_frame_size` = byte 3 × 16; bit 3 `max_fragments` = 4 |
//! | 1–2 | `max_message_size` (u16 LE) |
//! | 3 | `max_frame_size` / 16 |
//! | 4 | `n`, the number of read sizes; then `n` read sizes (cycled; 0 = one `Interrupted`) |
//! | rest | the byte stream |
//!
//! Invariants: at most len/2 + 2 calls before one fails (no hang). The data messages returned
//! (opcode and bytes) and the way it ends — `Closed` right after the peer's close frame,
//! `AbnormalClosure` when the stream ends first, `Protocol(e)` with the frame layer's error —
//! are exactly those of the whole stream decoded at once by the naive RFC 6455 decoder
//! (`shared/naive_frame.rs`, the shared `model`, as for `util_reader`), whatever the read sizes; except that when the stream ends
//! inside the frame that breaks a rule, the helpers (which read a header, and a data frame's
//! payload, whole before checking it) end with `AbnormalClosure` instead. What the helpers wrote decodes, as
//! the peer would, to one pong per ping (same payload, in order) then a close frame only when it
//! ended with `Closed` (the peer's code echoed, no reason) or `Protocol` (its close code and
//! reason). Messages respect the limits; libFuzzer's `-malloc_limit_mb` / `-rss_limit_mb` catch a
//! buffer grown to what a header merely claims.
#![no_main]

#[path = "shared/mod.rs"]
mod shared;

use libfuzzer_sys::fuzz_target;
use shared::naive_frame::Rules;
use shared::{End, Peer, Seen, frame_end_containing, model_at, pings, written_frames};
use zerows_util::{CloseCode, Config, Error, OpCode, Role, helpers};

fuzz_target!(|data: &[u8]| {
    let [flags, m0, m1, max_frame, n, rest @ ..] = data else {
        return;
    };
    let Some((sizes, stream)) = rest.split_at_checked(usize::from(*n)) else {
        return;
    };
    let role = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let max_message = if flags & 2 != 0 {
        u64::from(u16::from_le_bytes([*m0, *m1]))
    } else {
        64 << 10
    };
    let mut config = Config::default().max_message_size(max_message);
    if flags & 4 != 0 {
        config = config.max_frame_size(u64::from(*max_frame) * 16);
    }
    if flags & 8 != 0 {
        config = config.max_fragments(4);
    }
    // The naive decoder's rules, from the knobs (see util_reader).
    let rules = Rules {
        server: role == Role::Server,
        owned_rsv: 0,
        max_frame: if flags & 4 != 0 {
            u64::from(*max_frame) * 16
        } else {
            max_message.min(16 << 20)
        },
        max_message,
        max_fragments: if flags & 8 != 0 { 4 } else { 1 << 17 },
        utf8: true,
    };
    assert_eq!(shared::rules(role, &config), rules, "the config's limits");

    let mut peer = Peer::new(stream.to_vec(), sizes);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut end = None;
    let bound = stream.len() / 2 + 2;
    for _ in 0..bound {
        let r = match role {
            Role::Server => helpers::read_client_data(&mut peer, &mut buf, &config),
            Role::Client => helpers::read_server_data(&mut peer, &mut buf, &config),
        };
        match r {
            Ok(op) => {
                assert!(buf.len() as u64 <= max_message, "a message over the limit");
                got.push(match op {
                    OpCode::Text => Seen::Text(buf.clone()),
                    OpCode::Binary => Seen::Binary(buf.clone()),
                    op => panic!("a data message with opcode {op:?}"),
                });
            }
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    }
    let end = end.unwrap_or_else(|| panic!("no end after {bound} calls on {} bytes", stream.len()));

    let (seen, want_end, stopped_at) = model_at(stream, &rules);
    let pings = pings(&seen);
    let peer_close = seen.iter().find_map(|s| match s {
        Seen::Close(c) => Some(c.as_ref().map(|(code, _)| *code)),
        _ => None,
    });
    let want: Vec<Seen> = seen
        .into_iter()
        .filter(|s| matches!(s, Seen::Text(_) | Seen::Binary(_)))
        .collect();
    assert_eq!(got, want, "messages differ from the whole-stream decode");

    let shared::Written { pongs, close } = written_frames(&peer.written, role);
    assert_eq!(pongs, pings, "pongs do not answer the pings");
    match (&end, want_end) {
        (Error::Closed, End::Closed) => {
            let echo = close.expect("the close frame was not echoed");
            assert_eq!(echo.as_ref().map(|(c, _)| *c), peer_close.flatten());
            assert_eq!(echo.map_or(String::new(), |(_, r)| r), "");
        }
        (Error::AbnormalClosure, End::Abnormal) => {
            assert_eq!(
                peer.pos,
                peer.input.len(),
                "gave up before the end of the stream"
            );
            assert_eq!(close, None, "a close frame after EOF");
            assert_eq!(end.close_code(), Some(CloseCode::ABNORMAL_CLOSURE));
        }
        // The one documented difference: the helpers read a frame's header, and a data frame's
        // payload, whole before checking them, so when the stream ends inside the frame that
        // breaks a rule, they see the end first (the connection, reading ahead, sees the rule).
        (Error::AbnormalClosure, End::Protocol(_))
            if frame_end_containing(stream, stopped_at).is_none_or(|end| end > stream.len()) =>
        {
            assert_eq!(close, None, "a close frame after EOF");
        }
        (Error::Protocol(e), End::Protocol(f)) if *e == f => {
            let Some(Some((code, why))) = close else {
                panic!("failed with {e:?} but sent {close:?}");
            };
            assert_eq!(CloseCode(code), e.close_code());
            assert_eq!(why, e.as_str());
        }
        (e, w) => panic!("ended with {e:?}, the whole-stream decode with {w:?}"),
    }
});
