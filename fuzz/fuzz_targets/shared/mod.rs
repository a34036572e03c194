//! Shared by the `util_*` targets: an in-memory peer, and the whole-stream model of what a
//! connection must deliver and write. Included with `#[path]`; not every target uses every item.
#![allow(dead_code)]

use std::io::{self, Read, Write};

use zerows_frame::{Decoder, Event, Status};
use zerows_util::{OpCode, Role};

/// The in-memory peer.
#[derive(Debug)]
pub struct Peer {
    pub input: Vec<u8>,
    pub pos: usize,
    sizes: Vec<u8>,
    next: usize,
    interrupted: bool,
    pub written: Vec<u8>,
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

impl Peer {
    /// A peer that will send `input`, `sizes` bytes per read (cycled).
    pub fn new(input: Vec<u8>, sizes: &[u8]) -> Peer {
        Peer {
            input,
            pos: 0,
            sizes: sizes.to_vec(),
            next: 0,
            interrupted: false,
            written: Vec::new(),
        }
    }
}

/// What the application saw (or, from `model`, should see).
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// How the connection should end, from `model`.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Closed,
    Abnormal,
    Protocol(zerows_frame::Error),
}

/// The messages and the end the connection must produce when no extension is installed: the
/// stream decoded whole by `zerows_frame::Decoder` with the same rules (the decoder itself is
/// checked against the RFC by `frame_decoder_split`), data frames assembled into messages.
pub fn model(stream: &[u8], config: zerows_frame::Config) -> (Vec<Seen>, End) {
    let (seen, end, _) = model_at(stream, config);
    (seen, end)
}

/// [`model`], and the offset in `stream` where the decode stopped (for an error: inside the frame
/// that broke a rule, or at its start when its header did).
pub fn model_at(stream: &[u8], config: zerows_frame::Config) -> (Vec<Seen>, End, usize) {
    let mut d = Decoder::new(config);
    let mut buf = stream.to_vec();
    let mut seen = Vec::new();
    let mut message: Option<(OpCode, Vec<u8>)> = None;
    let mut at = 0;
    loop {
        let (ev, used) = match d.next(&mut buf) {
            Err(e) => return (seen, End::Protocol(e), at),
            Ok(Status::Partial) => return (seen, End::Abnormal, at),
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
                return (seen, End::Closed, at + used);
            }
        }
        buf.drain(..used);
        at += used;
    }
}

/// The end of the frame that contains `offset`, from the raw length fields (`None` when the
/// header is cut short). Frames are walked from the start of the stream.
pub fn frame_end_containing(stream: &[u8], offset: usize) -> Option<usize> {
    let mut start = 0;
    loop {
        let [_, b1, ..] = *stream.get(start..)? else {
            return None;
        };
        let (len, at) = match b1 & 0x7f {
            126 => {
                let ext = stream.get(start + 2..start + 4)?;
                (u64::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
            }
            127 => {
                let ext: [u8; 8] = stream.get(start + 2..start + 10)?.try_into().ok()?;
                (u64::from_be_bytes(ext), 10)
            }
            n => (u64::from(n), 2),
        };
        let head = at + if b1 & 0x80 != 0 { 4 } else { 0 };
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| (start + head).checked_add(l))
            .unwrap_or(usize::MAX);
        if offset < end {
            return Some(end);
        }
        start = end;
    }
}

/// The ping payloads among `seen`, in order (what the pongs must answer).
pub fn pings(seen: &[Seen]) -> Vec<Vec<u8>> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Ping(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Decodes what the connection wrote, as its peer would: (pong payloads, close frame if any).
pub fn written_frames(out: &[u8], our_role: Role) -> (Vec<Vec<u8>>, Option<Option<(u16, String)>>) {
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
