//! The streaming `Decoder` fed one byte stream whole and in arbitrary splits, the way an I/O layer
//! feeds it: unconsumed bytes stay at the front of the buffer, new bytes are appended.
//!
//! Input layout (read with `arbitrary`, fixed-size fields first so seeds are easy to write; see
//! `fuzz/seeds.py`):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bit 0 we are the client (else server), bits 1–3 owned RSV bits (RSV1 = bit 3), bit 4 UTF-8 checking off |
//! | 1 | limits: bit 0 set `max_frame_size`, bit 1 set `max_message_size`, bit 2 set `max_fragments`, bit 3 frame limit after message limit |
//! | 2–3, 4–5 | `max_frame_size`, `max_message_size` (u16 LE) |
//! | 6 | `max_fragments` |
//! | 7 | `n`, the number of split sizes |
//! | 8..8+n | split sizes (0 = a read that returned nothing); after them, the rest in one read |
//! | rest | the byte stream |
//!
//! Invariants, on every call: consumed <= buffer length; `Partial` neither consumes nor modifies
//! the buffer; errors are sticky; payload chunks are the wire bytes unmasked with the frame's key at
//! the right offset, and a frame's chunks add up to its length before `FrameEnd` (as
//! `Decoder::payload_remaining` says after every event); control frames equal their wire bytes; a
//! text message being checked is a valid UTF-8 prefix after every chunk and valid UTF-8 at its
//! end; the limits hold; nothing follows `Close`.
//!
//! Against the oracle, the naive RFC 6455 decoder in `shared/naive_frame.rs` (no `zerows-frame`
//! code; the same rules built from the knobs on their own): decoded whole, the events (headers,
//! unmasked payloads, frame ends, control frames, close code and reason), the error (which one)
//! and the unconsumed tail are the oracle's; decoded in splits, the error is the oracle's and it
//! is reported by the first read that brings the byte proving it (the oracle says which byte, and
//! that claim is checked: the stream cut just before that byte decodes without an error). Across
//! the two runs: the same final error, the same non-payload events, and when there was no error
//! the same payload and the same unconsumed tail (which is an untouched suffix of the stream).
#![no_main]

#[path = "shared/naive_frame.rs"]
mod naive;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use naive::{Ev, HeadStatus, Rules, head};
use zerows_frame::{Config, Decoder, Error, Event, Header, OpCode, Role, Rsv, Status};

#[derive(Arbitrary, Debug)]
struct Knobs {
    flags: u8,
    limits: u8,
    max_frame: u16,
    max_message: u16,
    max_fragments: u8,
    n_splits: u8,
}

impl Knobs {
    fn config(&self) -> Config {
        let role = if self.flags & 1 != 0 {
            Role::Client
        } else {
            Role::Server
        };
        let mut c = Config::new(role)
            .extension_rsv(Rsv::from_bits((self.flags >> 1) & 0b111).unwrap())
            .validate_utf8(self.flags & 0x10 == 0);
        let frame = |c: Config| {
            if self.limits & 1 != 0 {
                c.max_frame_size(u64::from(self.max_frame))
            } else {
                c
            }
        };
        if self.limits & 8 == 0 {
            c = frame(c);
        }
        if self.limits & 2 != 0 {
            c = c.max_message_size(u64::from(self.max_message));
        }
        if self.limits & 8 != 0 {
            c = frame(c);
        }
        if self.limits & 4 != 0 {
            c = c.max_fragments(u32::from(self.max_fragments));
        }
        c
    }
}

impl Knobs {
    /// The same knobs as the oracle's rules, from the documented meaning of each setter: the
    /// message limit lowers the frame limit (to itself, if it was larger), a later frame limit
    /// replaces it.
    fn rules(&self) -> Rules {
        let mut r = Rules::new(self.flags & 1 == 0);
        r.owned_rsv = (self.flags >> 1) & 0b111;
        r.utf8 = self.flags & 0x10 == 0;
        let frame_first = self.limits & 8 == 0;
        if self.limits & 1 != 0 && frame_first {
            r.max_frame = u64::from(self.max_frame);
        }
        if self.limits & 2 != 0 {
            r.max_message = u64::from(self.max_message);
            r.max_frame = r.max_frame.min(r.max_message);
        }
        if self.limits & 1 != 0 && !frame_first {
            r.max_frame = u64::from(self.max_frame);
        }
        if self.limits & 4 != 0 {
            r.max_fragments = u32::from(self.max_fragments);
        }
        r
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Owned events; consecutive payload chunks merged.
    events: Vec<Ev>,
    error: Option<Error>,
    /// Bytes left unconsumed at the end.
    tail: Vec<u8>,
    /// Bytes of the stream fed when the decode stopped, and before the last read.
    fed: usize,
    fed_before: usize,
}

fn unmask(bytes: &[u8], key: Option<[u8; 4]>, pos: u64) -> Vec<u8> {
    let k = key.unwrap_or([0; 4]);
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ k[((pos + i as u64) % 4) as usize])
        .collect()
}

/// Feeds `wire` in reads of `sizes` (then the rest at once) and checks every step.
fn run(c: Config, rules: &Rules, wire: &[u8], sizes: &[u8]) -> Outcome {
    let mut d = Decoder::new(c);
    let mut pending: Vec<u8> = Vec::new();
    let mut events: Vec<Ev> = Vec::new();
    let mut fed = 0; // bytes of `wire` appended to `pending`
    let mut done = 0; // bytes of `wire` consumed
    let mut reads = sizes.iter().map(|&s| usize::from(s));
    // the data frame being read: its header and payload position
    let mut frame: Option<(Header, u64)> = None;
    // the message in progress: opcode, bytes (if text), length, fragments
    let mut message: Option<(OpCode, Vec<u8>, u64, u32)> = None;
    let check_text = |h: &Header| c.validate_utf8 && (h.rsv & c.extension_rsv) == Rsv::NONE;
    let mut text_checked = false;
    loop {
        let fed_before = fed;
        let n = reads.next().unwrap_or(usize::MAX).min(wire.len() - fed);
        pending.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        loop {
            let before = pending.clone();
            let r = d.next(&mut pending);
            let (ev, used) = match r {
                Err(e) => {
                    assert_eq!(d.error(), Some(e));
                    assert_eq!(d.next(&mut pending), Err(e), "errors are sticky");
                    assert_eq!(d.next(&mut []), Err(e), "errors are sticky");
                    return Outcome {
                        events,
                        error: Some(e),
                        tail: pending,
                        fed,
                        fed_before,
                    };
                }
                Ok(Status::Partial) => {
                    assert_eq!(before, pending, "Partial modified the input");
                    break;
                }
                Ok(Status::Complete(x)) => x,
            };
            assert!(used <= before.len(), "consumed {used} of {}", before.len());
            assert!(
                !d.is_closed() || matches!(ev, Event::Close(_)),
                "event after close"
            );
            let at = done; // where this event starts in `wire`
            let ev = match ev {
                Event::Header(h) => {
                    assert!(frame.is_none(), "header inside a frame");
                    assert!(h.opcode.is_data());
                    assert_eq!(used, h.encoded_len());
                    assert_eq!(h.mask.is_some(), c.role == Role::Server);
                    assert!(h.payload_len <= c.max_frame_size);
                    assert!(c.extension_rsv.contains(h.rsv));
                    match (&mut message, h.opcode) {
                        (None, op @ (OpCode::Text | OpCode::Binary)) => {
                            text_checked = op == OpCode::Text && check_text(&h);
                            message = Some((op, Vec::new(), 0, 0));
                        }
                        (Some(_), OpCode::Continuation) => assert!(h.rsv.is_empty()),
                        (m, op) => panic!("{op:?} with message {m:?}"),
                    }
                    let m = message.as_mut().unwrap();
                    m.2 += h.payload_len;
                    m.3 += 1;
                    assert!(m.2 <= c.max_message_size, "message size limit");
                    assert!(m.3 <= c.max_fragments, "fragment limit");
                    assert_eq!(d.message(), Some(m.0));
                    frame = Some((h, 0));
                    Ev::Header(head(&h))
                }
                Event::Payload(p) => {
                    let (h, pos) = frame.as_mut().expect("payload outside a frame");
                    assert_eq!(p.len(), used);
                    assert!(!p.is_empty());
                    assert!(
                        *pos + used as u64 <= h.payload_len,
                        "payload past frame end"
                    );
                    assert_eq!(
                        p,
                        &unmask(&wire[at..at + used], h.mask, *pos)[..],
                        "unmasking"
                    );
                    *pos += used as u64;
                    let m = message.as_mut().unwrap();
                    if text_checked {
                        m.1.extend_from_slice(p);
                        // fail-fast: the text so far is a prefix of valid UTF-8
                        if let Err(e) = core::str::from_utf8(&m.1) {
                            assert!(e.error_len().is_none(), "invalid UTF-8 passed");
                        }
                    }
                    let p = p.to_vec();
                    if let Some(Ev::Payload(prev)) = events.last_mut() {
                        prev.extend_from_slice(&p);
                        assert_eq!(
                            &before[used..],
                            &pending[used..],
                            "bytes past `used` modified"
                        );
                        assert_eq!(d.payload_remaining(), Some(h.payload_len - *pos));
                        pending.drain(..used);
                        done += used;
                        continue;
                    }
                    Ev::Payload(p)
                }
                Event::FrameEnd { fin } => {
                    let (h, pos) = frame.take().expect("frame end outside a frame");
                    assert_eq!(used, 0);
                    assert_eq!(pos, h.payload_len, "frame ended early");
                    assert_eq!(fin, h.fin);
                    if fin {
                        let (_, text, _, _) = message.take().unwrap();
                        if text_checked {
                            assert!(core::str::from_utf8(&text).is_ok(), "invalid text passed");
                        }
                        assert_eq!(d.message(), None);
                    }
                    Ev::FrameEnd(fin)
                }
                ev => {
                    // a whole control frame: check it against its wire bytes
                    assert!(
                        frame.is_none(),
                        "control frame inside a data frame's payload"
                    );
                    let Ok(HeadStatus::Complete(h, hn)) = naive::decode_header(&wire[at..], rules)
                    else {
                        panic!("control event without a control header at {at}");
                    };
                    assert!(h.opcode >= 8 && h.rsv == 0);
                    assert_eq!(used, hn + h.len as usize);
                    let body = naive::unmask(&wire[at + hn..at + used], h.mask);
                    match ev {
                        Event::Ping(p) => {
                            assert_eq!((h.opcode, p), (0x9, &body[..]));
                            Ev::Ping(body)
                        }
                        Event::Pong(p) => {
                            assert_eq!((h.opcode, p), (0xA, &body[..]));
                            Ev::Pong(body)
                        }
                        Event::Close(cf) => {
                            assert_eq!(h.opcode, 0x8);
                            let cf = cf.map(|cf| (cf.code.0, cf.reason.to_owned()));
                            assert_eq!(naive::parse_close(&body), Ok(cf.clone()));
                            assert!(d.is_closed());
                            Ev::Close(cf)
                        }
                        _ => unreachable!(),
                    }
                }
            };
            assert_eq!(
                &before[used..],
                &pending[used..],
                "bytes past `used` modified"
            );
            let remaining = frame.map(|(h, pos)| h.payload_len - pos);
            assert_eq!(d.payload_remaining(), remaining, "payload_remaining");
            events.push(ev);
            pending.drain(..used);
            done += used;
        }
        if fed == wire.len() {
            assert_eq!(done + pending.len(), wire.len());
            assert_eq!(
                &pending[..],
                &wire[done..],
                "the unconsumed tail was modified"
            );
            return Outcome {
                events,
                error: None,
                tail: pending,
                fed,
                fed_before,
            };
        }
    }
}

fn structure(events: &[Ev]) -> Vec<&Ev> {
    events
        .iter()
        .filter(|e| !matches!(e, Ev::Payload(_)))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(knobs) = Knobs::arbitrary(&mut u) else {
        return;
    };
    let Ok(sizes) = u.bytes(usize::from(knobs.n_splits)) else {
        return;
    };
    let wire = u.take_rest();
    let c = knobs.config();
    let r = knobs.rules();
    let same_rules = Rules {
        server: c.role == Role::Server,
        owned_rsv: c.extension_rsv.bits(),
        max_frame: c.max_frame_size,
        max_message: c.max_message_size,
        max_fragments: c.max_fragments,
        utf8: c.validate_utf8,
    };
    assert_eq!(same_rules, r, "Config's setters");

    let whole = run(c, &r, wire, &[]);
    let split = run(c, &r, wire, sizes);
    assert_eq!(whole.error, split.error, "final error differs");
    assert_eq!(
        structure(&whole.events),
        structure(&split.events),
        "events differ"
    );
    if whole.error.is_none() {
        assert_eq!(whole.events, split.events, "payload differs");
        assert_eq!(whole.tail, split.tail, "tail differs");
    }

    // the oracle
    let want = naive::decode(wire, &r);
    assert_eq!(whole.events, want.events, "events differ from the oracle");
    assert_eq!(
        whole.error,
        want.error.map(|p| p.error),
        "error differs from the oracle"
    );
    match want.error {
        None => assert_eq!(
            whole.tail,
            &wire[want.consumed..],
            "tail differs from the oracle"
        ),
        Some(p) => {
            // the oracle's claim: `p.at` bytes prove the error, one fewer do not
            assert_eq!(
                naive::decode(&wire[..p.at], &r).error,
                Some(p),
                "oracle: prefix"
            );
            assert_eq!(
                naive::decode(&wire[..p.at - 1], &r).error,
                None,
                "oracle: proof"
            );
            // fail-fast: the read that brought byte `p.at` reported it, no earlier or later one
            assert!(
                split.fed_before < p.at && p.at <= split.fed,
                "{:?} proven by {} bytes, reported after {} (before the last read: {})",
                p.error,
                p.at,
                split.fed,
                split.fed_before
            );
        }
    }
});
