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
//! extension, the messages and the end are exactly those of the whole stream decoded at once by
//! `zerows_frame::Decoder` with the same rules (`model`), whatever the chunking. What the
//! connection wrote to the peer decodes (frame decoder in the peer's role) as pongs (one per
//! ping, same payload, in order, iff `auto_pong`) then at most one close frame, which is there
//! exactly when the connection ended with `Closed` (echoing the peer's code) or with a typed
//! error (its `close_code()` and reason); after `AbnormalClosure` nothing closes (1006 is never
//! sent). libFuzzer's `-malloc_limit_mb` / `-rss_limit_mb` catch unbounded allocation.
#![no_main]

use std::io::{self, Read, Write};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use zerows_frame::{Decoder, Event, Rsv, Status};
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

/// The in-memory peer.
#[derive(Debug)]
struct Peer {
    input: Vec<u8>,
    pos: usize,
    sizes: Vec<u8>,
    next: usize,
    interrupted: bool,
    written: Vec<u8>,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = if self.sizes.is_empty() {
            usize::MAX
        } else {
            let s = self.sizes[self.next % self.sizes.len()];
            self.next += 1;
            usize::from(s)
        };
        if n == 0 {
            if !self.interrupted && self.pos < self.input.len() {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            n = 1;
        }
        self.interrupted = false;
        let n = n.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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

/// What the application saw (or, from `model`, should see).
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// How the connection should end, from `model`.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Closed,
    Abnormal,
    Protocol(zerows_frame::Error),
}

/// The messages and the end the connection must produce when no extension is installed: the
/// stream decoded whole by `zerows_frame::Decoder` with the same rules (the decoder itself is
/// checked against the RFC by `frame_decoder_split`), data frames assembled into messages.
fn model(stream: &[u8], config: zerows_frame::Config) -> (Vec<Seen>, End) {
    let mut d = Decoder::new(config);
    let mut buf = stream.to_vec();
    let mut seen = Vec::new();
    let mut message: Option<(OpCode, Vec<u8>)> = None;
    loop {
        let (ev, used) = match d.next(&mut buf) {
            Err(e) => return (seen, End::Protocol(e)),
            Ok(Status::Partial) => return (seen, End::Abnormal),
            Ok(Status::Complete(x)) => x,
        };
        match ev {
            Event::Header(h) => {
                if h.opcode != OpCode::Continuation {
                    message = Some((h.opcode, Vec::new()));
                }
            }
            Event::Payload(p) => message.as_mut().unwrap().1.extend_from_slice(p),
            Event::FrameEnd { fin: true } => {
                let (op, data) = message.take().unwrap();
                seen.push(match op {
                    // With validate_utf8 off, zerows-util hands invalid "text" to the
                    // application as Binary (sync.rs `view`); modelled as it is, see the report.
                    OpCode::Text if std::str::from_utf8(&data).is_ok() => Seen::Text(data),
                    _ => Seen::Binary(data),
                });
            }
            Event::FrameEnd { fin: false } => {}
            Event::Ping(p) => seen.push(Seen::Ping(p.to_vec())),
            Event::Pong(p) => seen.push(Seen::Pong(p.to_vec())),
            Event::Close(c) => {
                seen.push(Seen::Close(c.map(|c| (c.code.0, c.reason.to_owned()))));
                return (seen, End::Closed);
            }
        }
        buf.drain(..used);
    }
}

/// Decodes what the connection wrote, as its peer would: (pong payloads, close frame if any).
fn written_frames(out: &[u8], our_role: Role) -> (Vec<Vec<u8>>, Option<Option<(u16, String)>>) {
    let peer = match our_role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut d = Decoder::new(zerows_frame::Config::new(peer));
    let mut buf = out.to_vec();
    let mut pongs = Vec::new();
    let mut close = None;
    while !buf.is_empty() {
        let r = d.next(&mut buf);
        let (ev, used) = match r {
            Ok(Status::Complete(x)) => x,
            Ok(Status::Partial) => panic!("written frames end mid-frame: {out:02x?}"),
            Err(e) => panic!("written frames are invalid ({e:?}): {out:02x?}"),
        };
        assert!(close.is_none(), "a frame after our close frame");
        match ev {
            Event::Pong(p) => pongs.push(p.to_vec()),
            Event::Close(c) => close = Some(c.map(|c| (c.code.0, c.reason.to_owned()))),
            ev => panic!("a read wrote {ev:?}"),
        }
        buf.drain(..used);
    }
    (pongs, close)
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
    let mut frame_config = config.frame;
    frame_config.role = role;
    let leftover = usize::from(k.leftover).min(stream.len());
    let peer = Peer {
        input: stream[leftover..].to_vec(),
        pos: 0,
        sizes: sizes.to_vec(),
        next: 0,
        interrupted: false,
        written: Vec::new(),
    };
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
    let (pongs, close) = written_frames(&peer.written, role);
    let pings: Vec<Vec<u8>> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Ping(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    if auto_pong {
        assert_eq!(pongs, pings, "pongs do not answer the pings");
    } else {
        assert!(pongs.is_empty(), "pong sent with auto_pong off");
    }
    let closed_by_peer = matches!(seen.last(), Some(Seen::Close(_)));
    if k.flags & 4 == 0 {
        let (want, want_end) = model(stream, frame_config);
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
