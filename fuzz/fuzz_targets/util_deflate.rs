//! permessage-deflate (RFC 7692) in `zerows_util::deflate`, three ways, chosen by byte 0 % 3:
//!
//! **0 — negotiation.** An arbitrary `Sec-WebSocket-Extensions` value goes to the server's
//! `negotiate` and to the client's `client_accept`, each compared with a model of RFC 7692 §7.1
//! written here (parameter names, no duplicates, no value on the takeover flags, window values
//! 1*DIGIT without a leading zero in 8–15, `client_max_window_bits` without a value only in an
//! offer; the server takes the first valid offer, §5.1; the client fails on an invalid or repeated
//! acceptance, §7.1). The server's `response()` for what it agreed must be a valid header value
//! that our own client accepts with the same parameters.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | bit 0 `no_context_takeover`, bit 1 `request_peer_no_context_takeover` |
//! | 2 | `max_window_bits` (the builder clamps it to 9–15) |
//! | rest | the header value |
//!
//! **1 — inflating what a peer sent.** A `WebSocket` with the agreed extension installed reads a
//! stream of frames built from the input (well formed at the frame layer unless the input asks
//! for RSV1 where RFC 7692 §6.1 forbids it), from an in-memory peer in fuzzer-chosen read sizes.
//! Every message, the end (`Closed`, `AbnormalClosure` or the failure's close code) and what the
//! connection wrote (one pong per ping, then its close frame) must be what a model predicts: the
//! model inflates each message's payloads, in order, with the naive RFC 1951 inflater in
//! `shared/naive_inflate.rs` (not flate2 or zlib-rs, which the crate under test uses; a
//! back-reference may reach any byte of the stream so far, RFC 7692 §7.2.2's 15-bit window
//! holding all of a message; context kept across messages unless the peer has no context
//! takeover or ended its stream), appends the `00 00 ff ff` tail unless the stream ended, and
//! bounds the output by `max_message_size` (1009); bad deflate data, bytes after the end of the
//! stream and invalid UTF-8 in a text message are 1007; wire sizes are checked per frame header
//! (1009) before the payload is inflated. Where chunking decides which of two failures is seen
//! first (invalid UTF-8 in the output and a message too big), either code is accepted. Read with
//! `read`, `read_into` or `message_reader`. What the connection wrote is decoded by the naive
//! frame decoder (`shared/naive_frame.rs`).
//!
//! | bytes | field |
//! |---|---|
//! | 1 | bit 0 we are the client; bit 1 the peer has no context takeover; bit 2 `max_message_size` from bytes 3–4 (else 64 KiB); bit 3 end with a close frame (else EOF); bits 4–5 read with `read` / `read_into` / `message_reader` / `read` |
//! | 2 | `read_buffer_size` = 512 + 14 × this |
//! | 3–4 | `max_message_size` (u16 LE) |
//! | 5 | `n`, the number of read sizes; then `n` read sizes (0 = one `Interrupted`) |
//! | rest | frames: a kind byte, a length, the payload (see `frames`) |
//!
//! Kind byte: bits 0–1 kind (1 continuation, 2 ping, else a data frame; a continuation with no
//! message open starts one, a data frame inside a message continues it), bit 2 text, bit 3 FIN,
//! bit 4 not compressed (RSV1 clear on a first frame), bit 5 a two-byte length (u16 LE) instead of
//! one byte, bit 6 RSV1 on a continuation or ping (a protocol error, 1002).
//!
//! **2 — compressing what we send.** Messages sent with `send_message` (or `feed_message` +
//! `flush`) through the agreed extension are decoded as the peer would, by the naive frame
//! decoder: RSV1 exactly when the message was compressed (not below `min_size`, not with an 8-bit
//! window, which zlib cannot make: then it is sent plain), and the payload plus the tail inflates
//! with the naive inflater (one stream for the connection, reset per message when we have no
//! context takeover) to the message sent, ends exactly at a block boundary (RFC 7692 §7.2.1: a
//! sync flush's empty stored block) without ending the stream, and no back-reference in it
//! reaches further back than the agreed window, 2^N bytes (RFC 7692 §7.1.2): the inflater records
//! every distance it decodes, so this check does not depend on how much a decoder buffers.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | bit 0 we are the client; bit 1 we have no context takeover; bit 2 `feed_message` + `flush`; bit 3 text messages (lossy UTF-8) |
//! | 2 | level (0–9 after `% 10`) |
//! | 3 | `min_size` |
//! | 4 | window bits = 8 + this % 8 |
//! | rest | messages: a length byte (bit 7: × 64), the bytes |
#![no_main]

use std::time::Duration;

#[path = "shared/mod.rs"]
mod shared;

#[path = "shared/naive_inflate.rs"]
mod naive_inflate;

use libfuzzer_sys::fuzz_target;
use naive_inflate::{Fault, Inflater, fits_window};
use shared::naive_frame::{self, Ev, Rules};
use shared::{Peer, written_frames};
use zerows_upgrade::extensions::{self, Extension as Offer};
use zerows_util::deflate::{self, DeflateConfig, DeflateParams};
use zerows_util::{CloseCode, Config, Error, Message, OpCode, Plain, Role, WebSocket};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

// ---------------------------------------------------------------------------------------------
// 0: negotiation

/// One offer or response element's parameters, as RFC 7692 §7.1 defines them.
#[derive(Debug, Default)]
struct ModelParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// A window size value: 1*DIGIT, no leading zero, 8–15 (RFC 7692 §7.1.2.1); a quoted-string is
/// taken after unescaping (RFC 6455 §9.1).
fn model_bits(raw: &[u8]) -> Option<u8> {
    match raw {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

fn model_parse(ext: &Offer<'_>) -> Option<ModelParams> {
    let mut p = ModelParams::default();
    for param in ext.params() {
        let value: Option<Vec<u8>> = param.value().map(|v| v.bytes().collect());
        match param.name().to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if !p.server_no_context_takeover && value.is_none() => {
                p.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if !p.client_no_context_takeover && value.is_none() => {
                p.client_no_context_takeover = true;
            }
            "server_max_window_bits" if p.server_max_window_bits.is_none() => {
                p.server_max_window_bits = Some(model_bits(&value?)?);
            }
            "client_max_window_bits" if p.client_max_window_bits.is_none() => {
                p.client_max_window_bits = Some(match value {
                    None => None,
                    Some(v) => Some(model_bits(&v)?),
                });
            }
            _ => return None,
        }
    }
    Some(p)
}

/// The elements of one header value, up to its first syntax error (as `ExtensionOffers` and the
/// client's response check see them).
fn elements(value: &(impl AsRef<[u8]> + ?Sized)) -> impl Iterator<Item = Offer<'_>> {
    extensions::parse(value).map_while(Result::ok)
}

fn is_deflate(ext: &Offer<'_>) -> bool {
    ext.name().eq_ignore_ascii_case("permessage-deflate")
}

/// (server no takeover, client no takeover, server bits, client bits)
type Agreed = (bool, bool, u8, u8);

fn agreed(p: &DeflateParams) -> Agreed {
    (
        p.server_no_context_takeover,
        p.client_no_context_takeover,
        p.server_max_window_bits,
        p.client_max_window_bits,
    )
}

fn model_server(value: &[u8], cfg: &DeflateConfig) -> Option<Agreed> {
    let p = elements(value)
        .filter(is_deflate)
        .find_map(|e| model_parse(&e))?;
    Some((
        // §7.1.1.1: an offer's server_no_context_takeover must be accepted as is
        p.server_no_context_takeover || cfg.no_context_takeover,
        p.client_no_context_takeover || cfg.request_peer_no_context_takeover,
        // §7.1.2.1: never a larger window than the client asked for
        p.server_max_window_bits
            .unwrap_or(15)
            .min(cfg.max_window_bits),
        p.client_max_window_bits.flatten().unwrap_or(15),
    ))
}

fn model_client(value: &[u8], cfg: &DeflateConfig) -> Result<Option<Agreed>, ()> {
    let accepted: Vec<Offer<'_>> = elements(value).filter(is_deflate).collect();
    let ext = match accepted.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(()), // accepted twice
    };
    let p = model_parse(ext).ok_or(())?;
    let client_bits = match p.client_max_window_bits {
        None => cfg.max_window_bits,
        // a response must carry a value (§7.1.2.2), not above what we offered
        Some(Some(n)) if n <= cfg.max_window_bits => n,
        Some(_) => return Err(()),
    };
    Ok(Some((
        p.server_no_context_takeover,
        p.client_no_context_takeover || cfg.no_context_takeover,
        p.server_max_window_bits.unwrap_or(15),
        client_bits,
    )))
}

fn negotiation(data: &[u8]) {
    let [flags, bits, value @ ..] = data else {
        return;
    };
    let cfg = DeflateConfig::default()
        .no_context_takeover(flags & 1 != 0)
        .request_peer_no_context_takeover(flags & 2 != 0)
        .max_window_bits(*bits);
    assert!((9..=15).contains(&cfg.max_window_bits));

    let server = deflate::negotiate(elements(value), &cfg);
    assert_eq!(
        server.as_ref().map(agreed),
        model_server(value, &cfg),
        "negotiate differs from the model"
    );
    let client = deflate::client_accept(elements(value), &cfg);
    match (&client, model_client(value, &cfg)) {
        (Ok(got), Ok(want)) => assert_eq!(got.as_ref().map(agreed), want, "client_accept"),
        (Err(e), Err(())) => assert_eq!(e.code, CloseCode::PROTOCOL_ERROR),
        (got, want) => panic!("client_accept gave {got:?}, the model {want:?}"),
    }

    if let Some(p) = server {
        let mut buf = [0u8; 128];
        let response = p.response(&mut buf);
        assert!(
            extensions::is_valid(response),
            "invalid response {response:?}"
        );
        let mut it = elements(response);
        let ext = it.next().expect("empty response");
        assert!(
            it.next().is_none(),
            "more than one extension in {response:?}"
        );
        assert_eq!(ext.name(), "permessage-deflate");
        let client_cfg = DeflateConfig::default();
        let q = deflate::client_accept(elements(response), &client_cfg)
            .expect("our client refuses our server's response")
            .expect("our client does not see the acceptance");
        assert_eq!(
            (
                q.server_no_context_takeover,
                q.client_no_context_takeover,
                q.server_max_window_bits
            ),
            (
                p.server_no_context_takeover,
                p.client_no_context_takeover,
                p.server_max_window_bits
            ),
            "{response:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// shared: the peer (see shared/mod.rs), agreement from knobs

fn peer(input: Vec<u8>, sizes: &[u8]) -> Plain<Peer> {
    Plain(Peer::new(input, sizes))
}

/// The parameters `role` ends up with when the server's or the client's context takeover and the
/// window of the side that compresses are as given, through the public negotiation functions.
fn agree(
    role: Role,
    server_reset: bool,
    client_reset: bool,
    bits: u8,
    cfg: &DeflateConfig,
) -> DeflateParams {
    let mut value =
        format!("permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}");
    if server_reset {
        value.push_str("; server_no_context_takeover");
    }
    if client_reset {
        value.push_str("; client_no_context_takeover");
    }
    match role {
        Role::Server => deflate::negotiate(elements(&value), cfg).expect("offer refused"),
        Role::Client => {
            // a client that offered client_max_window_bits=15 accepts any window
            let cfg = cfg.max_window_bits(15);
            deflate::client_accept(elements(&value), &cfg)
                .expect("response refused")
                .expect("not accepted")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1: inflating

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Data,
    Continuation,
    Ping,
}

#[derive(Debug)]
struct Frame<'a> {
    kind: Kind,
    text: bool,
    fin: bool,
    compressed: bool,
    bad_rsv: bool,
    payload: &'a [u8],
}

/// Splits the input into frames (see the layout above); continuations and data frames are
/// fixed up so that the frame layer sees a well-formed sequence.
fn frames(mut data: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    let mut open = false;
    while let [kind, rest @ ..] = data {
        let (len, rest) = if kind & 0x20 != 0 {
            match rest {
                [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
                _ => break,
            }
        } else {
            match rest {
                [a, rest @ ..] => (usize::from(*a), rest),
                _ => break,
            }
        };
        let mut k = match kind & 3 {
            1 => Kind::Continuation,
            2 => Kind::Ping,
            _ => Kind::Data,
        };
        let len = if k == Kind::Ping { len % 126 } else { len }.min(rest.len());
        let (payload, rest) = rest.split_at(len);
        data = rest;
        let fin = k == Kind::Ping || kind & 8 != 0;
        if k != Kind::Ping {
            k = if open { Kind::Continuation } else { Kind::Data };
            open = !fin;
        }
        out.push(Frame {
            kind: k,
            text: kind & 4 != 0,
            fin,
            compressed: kind & 0x10 == 0,
            bad_rsv: kind & 0x40 != 0 && k != Kind::Data,
            payload,
        });
        if out.len() >= 512 {
            break;
        }
    }
    out
}

fn encode_frame(f: &Frame<'_>, opcode: u8, rsv1: bool, masked: bool, n: usize, wire: &mut Vec<u8>) {
    wire.push(u8::from(f.fin) << 7 | u8::from(rsv1) << 6 | opcode);
    let m = u8::from(masked) << 7;
    let len = f.payload.len();
    if len < 126 {
        wire.push(m | len as u8);
    } else {
        wire.push(m | 126);
        wire.extend_from_slice(&(len as u16).to_be_bytes());
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, n as u8];
        wire.extend_from_slice(&key);
        wire.extend(f.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        wire.extend_from_slice(f.payload);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Close,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Closed,
    Abnormal,
    /// Failed with one of these close codes.
    Fail(Vec<u16>),
}

/// The model's inflater: the naive one (`shared/naive_inflate.rs`) for the connection, fed a
/// message's payloads in order.
struct ModelInflate {
    z: Inflater,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InflateError {
    Invalid,
    TooBig,
}

impl ModelInflate {
    /// Inflates `input`; the message that started at `start` in the stream's output may hold at
    /// most `max` bytes.
    fn feed(&mut self, input: &[u8], start: usize, max: usize) -> Result<(), InflateError> {
        self.z
            .feed(input, start.saturating_add(max))
            .map_err(|f| match f {
                Fault::Invalid(_) => InflateError::Invalid,
                Fault::TooBig => InflateError::TooBig,
            })
    }

    fn ended(&self) -> bool {
        self.z.ended
    }
}

/// First index at which `s` is proven not to be UTF-8 (more bytes cannot fix it).
fn utf8_broken(s: &[u8]) -> bool {
    matches!(std::str::from_utf8(s), Err(e) if e.error_len().is_some())
}

fn model_read(
    frames: &[Frame<'_>],
    max: usize,
    peer_reset: bool,
    close: bool,
    data_only: bool,
) -> (Vec<Seen>, End) {
    let mut seen = Vec::new();
    let mut inflate = ModelInflate { z: Inflater::new() };
    // the message in progress: (text, compressed, wire length, where its output starts in the
    // inflater's, plain bytes)
    let mut msg: Option<(bool, bool, usize, usize, Vec<u8>)> = None;
    let fail = |seen, codes: &[u16]| (seen, End::Fail(codes.to_vec()));
    for f in frames {
        if f.bad_rsv {
            // RSV1 on a continuation is a message rule (1002), checked after the header's own
            // checks: a continuation that also passes the size limit may fail with either
            let over = msg
                .as_ref()
                .is_some_and(|m| f.kind != Kind::Ping && m.2 + f.payload.len() > max);
            return fail(seen, if over { &[1002, 1009] } else { &[1002] });
        }
        if f.kind == Kind::Ping {
            if !data_only {
                seen.push(Seen::Ping(f.payload.to_vec()));
            }
            continue;
        }
        let start = inflate.z.out.len();
        let (text, compressed, wire, start, plain) =
            msg.get_or_insert_with(|| (f.text, f.compressed, 0, start, Vec::new()));
        let (text, compressed, start) = (*text, *compressed, *start);
        *wire += f.payload.len();
        if *wire > max {
            return fail(seen, &[1009]);
        }
        if compressed {
            let r = inflate.feed(f.payload, start, max).and_then(|()| {
                if f.fin && !inflate.ended() {
                    inflate.feed(&TAIL, start, max)
                } else {
                    Ok(())
                }
            });
            match r {
                Err(InflateError::Invalid) => return fail(seen, &[1007]),
                Err(InflateError::TooBig)
                    if text && utf8_broken(&inflate.z.out[start..][..max]) =>
                {
                    return fail(seen, &[1007, 1009]);
                }
                Err(InflateError::TooBig) => return fail(seen, &[1009]),
                Ok(()) => {}
            }
        } else {
            plain.extend_from_slice(f.payload);
        }
        let out = if compressed {
            &inflate.z.out[start..]
        } else {
            &plain[..]
        };
        if text && utf8_broken(out) {
            return fail(seen, &[1007]);
        }
        if f.fin {
            let out = out.to_vec();
            msg = None;
            if compressed && (peer_reset || inflate.ended()) {
                inflate.z = Inflater::new();
            }
            if text {
                if std::str::from_utf8(&out).is_err() {
                    return fail(seen, &[1007]);
                }
                seen.push(Seen::Text(out));
            } else {
                seen.push(Seen::Binary(out));
            }
        }
    }
    if close {
        if !data_only {
            seen.push(Seen::Close);
        }
        (seen, End::Closed)
    } else {
        (seen, End::Abnormal)
    }
}

fn inflating(data: &[u8]) {
    let [flags, read_buf, m0, m1, n, rest @ ..] = data else {
        return;
    };
    let Some((sizes, rest)) = rest.split_at_checked(usize::from(*n)) else {
        return;
    };
    let role = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let peer_reset = flags & 2 != 0;
    let max = if flags & 4 != 0 {
        usize::from(u16::from_le_bytes([*m0, *m1]))
    } else {
        64 << 10
    };
    let close = flags & 8 != 0;
    let how = (flags >> 4) & 3;
    let data_only = how == 1 || how == 2;

    let frames = frames(rest);
    let masked = role == Role::Server;
    let mut wire = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let (opcode, rsv1) = match f.kind {
            Kind::Ping => (0x9, f.bad_rsv),
            Kind::Continuation => (0x0, f.bad_rsv),
            Kind::Data => (if f.text { 0x1 } else { 0x2 }, f.compressed),
        };
        encode_frame(f, opcode, rsv1, masked, i, &mut wire);
    }
    if close {
        let f = Frame {
            kind: Kind::Ping,
            text: false,
            fin: true,
            compressed: false,
            bad_rsv: false,
            payload: &[0x03, 0xe8],
        };
        encode_frame(&f, 0x8, false, masked, frames.len(), &mut wire);
    }

    let config = Config::default()
        .close_timeout(Duration::ZERO)
        .read_buffer_size(512 + 14 * usize::from(*read_buf))
        .max_message_size(max as u64);
    let (server_reset, client_reset) = match role {
        Role::Server => (false, peer_reset),
        Role::Client => (peer_reset, false),
    };
    let params = agree(
        role,
        server_reset,
        client_reset,
        15,
        &DeflateConfig::default(),
    );
    let mut ws = WebSocket::from_raw(peer(wire, sizes), role, &[], config);
    ws.set_extension(params.extension(role));

    let bound = frames.len() + 3;
    let mut seen = Vec::new();
    let mut end = None;
    let mut buf = Vec::new();
    for _ in 0..bound {
        let r = match how {
            1 => ws.read_into(&mut buf).map(|op| match op {
                OpCode::Text => Seen::Text(buf.clone()),
                _ => Seen::Binary(buf.clone()),
            }),
            2 => ws.message_reader().and_then(|mut r| {
                let op = r.opcode();
                let mut all = Vec::new();
                while let Some(chunk) = r.next_chunk()? {
                    assert!(!chunk.is_empty(), "an empty chunk");
                    all.extend_from_slice(chunk);
                    assert!(all.len() <= max, "streamed past the limit");
                }
                Ok(match op {
                    OpCode::Text => Seen::Text(all),
                    _ => Seen::Binary(all),
                })
            }),
            _ => ws.read().map(|m| match m {
                Message::Text(t) => Seen::Text(t.as_bytes().to_vec()),
                Message::Binary(b) => Seen::Binary(b.to_vec()),
                Message::Ping(p) => Seen::Ping(p.to_vec()),
                Message::Close(_) => Seen::Close,
                Message::Pong(_) => panic!("a pong nobody sent"),
            }),
        };
        match r {
            Ok(s) => {
                if let Seen::Text(t) | Seen::Binary(t) = &s {
                    assert!(t.len() <= max, "a message over the limit");
                }
                seen.push(s);
            }
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    }
    let end = end.unwrap_or_else(|| panic!("no end after {bound} reads"));
    let (want, want_end) = model_read(&frames, max, peer_reset, close, data_only);
    assert_eq!(
        seen, want,
        "messages differ from the model (ended with {end:?}, the model with {want_end:?})"
    );
    let code = match (&end, &want_end) {
        (Error::Closed, End::Closed) => Some(1000),
        (Error::AbnormalClosure, End::Abnormal) => None,
        (Error::Protocol(_) | Error::Extension(_), End::Fail(codes))
            if end.close_code().is_some_and(|c| codes.contains(&c.0)) =>
        {
            end.close_code().map(|c| c.0)
        }
        (e, w) => panic!(
            "ended with {e:?} (close code {:?}), the model with {w:?}",
            e.close_code()
        ),
    };

    // What we wrote: a pong per ping (auto_pong is on), then our close frame, if any (decoded by
    // the naive frame decoder in the peer's role).
    let shared::Written {
        pongs,
        close: sent_close,
    } = written_frames(&ws.get_ref().0.written, role);
    let sent_close = sent_close.map(|c| c.map(|(code, _)| code));
    let pings: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| f.kind == Kind::Ping && !f.bad_rsv)
        .map(|f| f.payload.to_vec())
        .collect();
    assert!(
        pings.starts_with(&pongs),
        "pongs {pongs:?} do not answer pings {pings:?}"
    );
    if !data_only {
        let got: Vec<&Vec<u8>> = seen
            .iter()
            .filter_map(|s| if let Seen::Ping(p) = s { Some(p) } else { None })
            .collect();
        assert_eq!(pongs.len(), got.len(), "one pong per ping read");
    }
    assert_eq!(sent_close, code.map(Some), "our close frame");
}

// ---------------------------------------------------------------------------------------------
// 2: compressing

fn deflating(data: &[u8]) {
    let [flags, level, min_size, bits, rest @ ..] = data else {
        return;
    };
    let role = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let reset = flags & 2 != 0;
    let feed = flags & 4 != 0;
    let text = flags & 8 != 0;
    let bits = 8 + bits % 8;
    let cfg = DeflateConfig::default()
        .level(u32::from(level % 10))
        .min_size(usize::from(*min_size));
    let (server_reset, client_reset) = match role {
        Role::Server => (reset, false),
        Role::Client => (false, reset),
    };
    let params = agree(role, server_reset, client_reset, bits, &cfg);
    let ours = match role {
        Role::Server => (
            params.server_no_context_takeover,
            params.server_max_window_bits,
        ),
        Role::Client => (
            params.client_no_context_takeover,
            params.client_max_window_bits,
        ),
    };
    assert_eq!(ours, (reset, bits), "the agreement");

    let mut messages: Vec<(OpCode, Vec<u8>)> = Vec::new();
    let mut rest: &[u8] = rest;
    while let [len, tail @ ..] = rest {
        let len = if len & 0x80 != 0 {
            usize::from(len & 0x7f) * 64
        } else {
            usize::from(*len)
        };
        let (m, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        if text {
            messages.push((
                OpCode::Text,
                String::from_utf8_lossy(m).into_owned().into_bytes(),
            ));
        } else {
            messages.push((OpCode::Binary, m.to_vec()));
        }
        if messages.len() >= 64 {
            break;
        }
    }

    let mut ws = WebSocket::from_raw(peer(Vec::new(), &[]), role, &[], Config::default());
    ws.set_extension(params.extension(role));
    for (op, m) in &messages {
        if feed {
            ws.feed_message(*op, m).expect("feed");
        } else {
            ws.send_message(*op, m).expect("send");
        }
    }
    ws.flush().expect("flush");

    // Decode as the peer, with the naive frame decoder: our RSV1 is allowed on first frames.
    let wire = &ws.get_ref().0.written;
    let peer_rules = Rules {
        owned_rsv: 0b100,
        ..Rules::new(role == Role::Client)
    };
    let decoded = naive_frame::decode(wire, &peer_rules);
    assert_eq!(decoded.error, None, "our frames do not decode");
    assert_eq!(decoded.consumed, wire.len(), "our frames end mid-frame");
    let mut got: Vec<(OpCode, bool, Vec<u8>)> = Vec::new();
    let mut current: Option<(OpCode, bool, Vec<u8>)> = None;
    for ev in decoded.events {
        match ev {
            Ev::Header(h) if h.opcode != 0 => {
                let op = if h.opcode == 1 {
                    OpCode::Text
                } else {
                    OpCode::Binary
                };
                current = Some((op, h.rsv & 0b100 != 0, Vec::new()));
            }
            Ev::Header(_) => {}
            Ev::Payload(p) => current.as_mut().unwrap().2.extend_from_slice(&p),
            Ev::FrameEnd(true) => got.push(current.take().unwrap()),
            Ev::FrameEnd(false) => {}
            ev => panic!("unexpected {ev:?}"),
        }
    }
    assert_eq!(got.len(), messages.len(), "one message per message sent");

    // Inflate as the peer, with the naive inflater: every back-reference must stay inside the
    // agreed window (RFC 7692 §7.1.2), measured on the distances themselves.
    let mut z = Inflater::new();
    for ((op, sent), (got_op, rsv1, payload)) in messages.iter().zip(&got) {
        assert_eq!(op, got_op);
        let compress = bits >= 9 && sent.len() >= usize::from(*min_size);
        assert_eq!(*rsv1, compress, "RSV1 on a message of {} bytes", sent.len());
        if !compress {
            assert_eq!(payload, sent, "a plain message changed");
            continue;
        }
        let start = z.out.len();
        let r = z
            .feed(payload, usize::MAX)
            .and_then(|()| z.feed(&TAIL, usize::MAX));
        assert_eq!(r, Ok(()), "our message does not inflate");
        assert!(!z.ended, "a compressed message ended the stream");
        // RFC 7692 §7.2.1: the message ends with the sync flush's empty stored block, whose
        // last four bytes the tail gives back: nothing left over, nothing missing
        assert!(
            z.at_block_boundary(),
            "the message plus tail ends inside a block"
        );
        assert_eq!(&z.out[start..], &sent[..], "inflated message differs");
        assert!(
            fits_window(z.max_distance, bits),
            "a back-reference of {} bytes in a {bits}-bit window",
            z.max_distance
        );
        if reset {
            z = Inflater::new();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => negotiation(rest),
        1 => inflating(rest),
        _ => deflating(rest),
    }
});
