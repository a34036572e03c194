//! Shared by the `util_*` targets: an in-memory peer, and the whole-stream model of what a
//! connection must deliver and write, built on the naive frame decoder (`naive_frame.rs`).
//! Included with `#[path]`; not every target uses every item.
#![allow(dead_code)]

use std::io::{self, Read, Write};

use zerows_util::Role;

pub mod naive_frame;

use naive_frame::{Ev, Rules};

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

pub use naive_frame::Msg as Seen;

/// How the connection should end, from `model`.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Closed,
    Abnormal,
    Protocol(zerows_frame::Error),
}

/// The naive decoder's rules for what a connection with `config` (for `role`) accepts. The
/// `util_*` targets build their config from knobs; this reads the resulting limits (plain numbers)
/// so that the model and the connection judge the same limits.
pub fn rules(role: Role, config: &zerows_util::Config) -> Rules {
    let f = &config.frame;
    Rules {
        server: role == Role::Server,
        owned_rsv: f.extension_rsv.bits(),
        max_frame: f.max_frame_size,
        max_message: f.max_message_size,
        max_fragments: f.max_fragments,
        utf8: f.validate_utf8,
    }
}

/// The messages and the end the connection must produce when no extension is installed: the
/// stream decoded whole by the naive decoder (`naive_frame.rs`, no code from `zerows-frame`),
/// data frames assembled into messages.
pub fn model(stream: &[u8], rules: &Rules) -> (Vec<Seen>, End) {
    let (seen, end, _) = model_at(stream, rules);
    (seen, end)
}

/// [`model`], and the offset in `stream` where the decode stopped: for an error, the byte that
/// proves it (inside the frame that broke a rule); for a close, the end of the close frame.
pub fn model_at(stream: &[u8], rules: &Rules) -> (Vec<Seen>, End, usize) {
    let d = naive_frame::decode(stream, rules);
    let seen = naive_frame::messages(&d.events);
    // A connection stops reading at the peer's close frame: what follows it (the decoder's
    // `FrameAfterClose`) is never seen.
    if matches!(seen.last(), Some(Seen::Close(_))) {
        return (seen, End::Closed, d.frame_start);
    }
    match d.error {
        Some(p) => (seen, End::Protocol(p.error), p.at - 1),
        None => (seen, End::Abnormal, d.consumed),
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

/// What a connection wrote while it read: its pongs and its close frame.
pub struct Written {
    /// The payload of every pong, in order.
    pub pongs: Vec<Vec<u8>>,
    /// The close frame, if one was written: its (code, reason), or `None` for an empty body.
    pub close: Option<Option<(u16, String)>>,
}

/// Decodes what the connection wrote, as its peer would (the naive decoder with the default
/// limits). Anything but pongs and one final close frame, an invalid frame or a frame cut short
/// is a failure.
pub fn written_frames(out: &[u8], our_role: Role) -> Written {
    // the peer of a server is a client, which receives unmasked frames, and vice versa
    let d = naive_frame::decode(out, &Rules::new(our_role == Role::Client));
    if let Some(p) = d.error {
        panic!("written frames are invalid ({p:?}): {out:02x?}");
    }
    assert_eq!(
        d.consumed,
        out.len(),
        "written frames end mid-frame: {out:02x?}"
    );
    let mut pongs = Vec::new();
    let mut close = None;
    for ev in d.events {
        assert!(close.is_none(), "a frame after our close frame");
        match ev {
            Ev::Pong(p) => pongs.push(p),
            Ev::Close(c) => close = Some(c),
            ev => panic!("a read wrote {ev:?}"),
        }
    }
    Written { pongs, close }
}
