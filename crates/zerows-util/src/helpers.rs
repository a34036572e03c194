//! gobwas-style helpers for the simple cases: one message in, one message out, on a raw stream,
//! with no connection object.
//!
//! They read exactly one frame at a time (no read-ahead, so nothing is buffered between calls and
//! the stream can be used by other code in between), reuse the caller's buffer, answer pings and
//! close frames as a connection would, and enforce the same rules and limits ([`Config`]) through
//! the same frame [`Decoder`]. For many messages on one stream, a
//! [`WebSocket`](crate::WebSocket) is faster (it reads ahead) and richer.
//!
//! ```no_run
//! use std::net::TcpListener;
//! use zerows_util::{helpers, Config};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! let (mut stream, _) = listener.accept()?;
//! let mut req = [0u8; 4096];
//! zerows_upgrade::server::accept(&mut stream, &mut zerows_upgrade::server::Upgrader::new(), &mut req)?;
//! let config = Config::default();
//! let mut buf = Vec::new();
//! let op = helpers::read_client_data(&mut stream, &mut buf, &config)?;
//! helpers::write_server_message(&mut stream, op, &buf)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{ErrorKind, IoSlice, Read, Write};

use zerows_frame::{CloseCode, Decoder, Event, Header, OpCode, Role, Status};

use crate::config::Config;
use crate::error::Error;
use crate::keys::MaskKeys;

/// Reads the next data message a client sent (server side), into `buf`.
///
/// Pings met on the way are answered and pongs skipped; a close frame is echoed and returned as
/// [`Error::Closed`]; a broken rule or limit sends the matching close frame and returns
/// [`Error::Protocol`]; a stream that ends first is [`Error::AbnormalClosure`], as on a
/// [`WebSocket`](crate::WebSocket).
pub fn read_client_data<S: Read + Write>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &Config,
) -> Result<OpCode, Error> {
    read_data(stream, buf, config, Role::Server)
}

/// Reads the next data message a server sent (client side), into `buf`; see
/// [`read_client_data`].
pub fn read_server_data<S: Read + Write>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &Config,
) -> Result<OpCode, Error> {
    read_data(stream, buf, config, Role::Client)
}

/// Writes a message as a server frame (unmasked, header and payload in one vectored write).
pub fn write_server_message<W: Write>(
    stream: &mut W,
    opcode: OpCode,
    payload: &[u8],
) -> Result<(), Error> {
    let mut h = [0u8; Header::MAX_LEN];
    let n = Header::new(opcode, payload.len() as u64)
        .encode(&mut h)
        .unwrap_or(0);
    write_all_vectored(stream, &mut [IoSlice::new(&h[..n]), IoSlice::new(payload)])?;
    Ok(())
}

/// Writes a message as a client frame, masked with a fresh key from the OS CSPRNG (the payload is
/// copied to be masked).
pub fn write_client_message<W: Write>(
    stream: &mut W,
    opcode: OpCode,
    payload: &[u8],
) -> Result<(), Error> {
    let key = MaskKeys::new().next();
    let mut frame = Vec::with_capacity(payload.len() + Header::MAX_LEN);
    zerows_frame::encode_frame_vec(&mut frame, opcode, true, Some(key), payload);
    stream.write_all(&frame)?;
    Ok(())
}

fn read_data<S: Read + Write>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &Config,
    role: Role,
) -> Result<OpCode, Error> {
    let mut frame_config = config.frame;
    frame_config.role = role;
    let mut decoder = Decoder::new(frame_config);
    buf.clear();
    let mut opcode = None;
    loop {
        // the header: 2 bytes, then as many more as they announce
        let mut head = [0u8; Header::MAX_LEN + 125];
        read_exact(stream, &mut head[..2])?;
        let mut len = 2;
        let (h, header_len) = loop {
            match Header::decode(&head[..len], decoder.config()) {
                Ok(Status::Complete(x)) => break x,
                Ok(Status::Partial) => {
                    let ext = match head[1] & 0x7F {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    let need = 2 + ext + if head[1] & 0x80 != 0 { 4 } else { 0 };
                    read_exact(stream, &mut head[len..need])?;
                    len = need;
                }
                Err(e) => return Err(fail(stream, e, role)),
            }
        };
        if h.opcode.is_control() {
            // at most 125 bytes (checked by the header decode): read it whole behind the header
            let total = header_len + usize::from(u8::try_from(h.payload_len).unwrap_or(125));
            read_exact(stream, &mut head[header_len..total])?;
            let mut reply = [0u8; 125];
            let (op, n) = match decoder.next(&mut head[..total]) {
                Ok(Status::Complete((Event::Ping(p), _))) => {
                    reply[..p.len()].copy_from_slice(p);
                    (OpCode::Pong, p.len())
                }
                Ok(Status::Complete((Event::Close(c), _))) => {
                    // echo the code (RFC 6455 §5.5.1), then the conversation is over
                    let n = c.map_or(0, |c| {
                        reply[..2].copy_from_slice(&c.code.0.to_be_bytes());
                        2
                    });
                    write_frame(stream, OpCode::Close, &reply[..n], role)?;
                    return Err(Error::Closed);
                }
                Err(e) => return Err(fail(stream, e, role)),
                _ => continue, // a pong
            };
            write_frame(stream, op, &reply[..n], role)?;
            continue;
        }
        // a data frame: the decoder checks message rules and limits from the header ...
        match decoder.next(&mut head[..header_len]) {
            Ok(Status::Complete((Event::Header(h), _))) if h.opcode != OpCode::Continuation => {
                opcode = Some(h.opcode);
            }
            Ok(_) => {}
            Err(e) => return Err(fail(stream, e, role)),
        }
        // ... then the payload is read into the caller's buffer, growing with what arrives (in
        // steps of at most 64 KiB, never to what the header merely claims), and unmasked and
        // UTF-8-checked in place by the decoder.
        let plen = usize::try_from(h.payload_len).unwrap_or(usize::MAX);
        let mut at = buf.len();
        let end = at.saturating_add(plen);
        while buf.len() < end {
            let from = buf.len();
            let step = (end - from).min(64 << 10);
            buf.resize(from + step, 0);
            read_exact(stream, &mut buf[from..])?;
        }
        loop {
            match decoder.next(&mut buf[at..]) {
                Ok(Status::Complete((Event::Payload(p), _))) => at += p.len(),
                Ok(Status::Complete((Event::FrameEnd { fin: true }, _))) => {
                    return Ok(opcode.unwrap_or(OpCode::Binary));
                }
                Ok(_) => break,
                Err(e) => return Err(fail(stream, e, role)),
            }
        }
    }
}

/// `read_exact`, with the stream ending early reported as a connection would:
/// [`Error::AbnormalClosure`] (1006, RFC 6455 §7.1.5).
fn read_exact<S: Read>(stream: &mut S, buf: &mut [u8]) -> Result<(), Error> {
    stream.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => Error::AbnormalClosure,
        _ => Error::Io(e),
    })
}

fn write_frame<W: Write>(
    stream: &mut W,
    opcode: OpCode,
    payload: &[u8],
    role: Role,
) -> Result<(), Error> {
    let mask = role.masks_outgoing().then(|| MaskKeys::new().next());
    let mut out = [0u8; 2 + 4 + 125];
    let n = zerows_frame::encode_frame(&mut out, opcode, true, mask, payload).unwrap_or(0);
    stream.write_all(&out[..n])?;
    Ok(())
}

fn fail<W: Write>(stream: &mut W, e: zerows_frame::Error, role: Role) -> Error {
    let code: CloseCode = e.close_code();
    let mut body = [0u8; 125];
    body[..2].copy_from_slice(&code.0.to_be_bytes());
    let reason = e.as_str().as_bytes();
    body[2..2 + reason.len()].copy_from_slice(reason);
    let _ = write_frame(stream, OpCode::Close, &body[..2 + reason.len()], role);
    Error::Protocol(e)
}

/// `write_all` for vectored writes.
fn write_all_vectored<W: Write + ?Sized>(
    w: &mut W,
    mut bufs: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor};

    use super::*;

    /// Reads from `input`, records what is written.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn from_server(frames: &[&[u8]]) -> Duplex {
        Duplex {
            input: Cursor::new(frames.concat()),
            written: Vec::new(),
        }
    }

    #[test]
    fn a_stream_that_ends_early_is_an_abnormal_closure() {
        let config = Config::default();
        let hello = b"\x81\x05Hello"; // RFC 6455 §5.7, unmasked
        // cut before a header, inside it, and inside the payload
        for cut in [0, 1, 4] {
            let mut s = from_server(&[hello, &hello[..cut]]);
            let mut buf = Vec::new();
            assert_eq!(
                read_server_data(&mut s, &mut buf, &config).unwrap(),
                OpCode::Text
            );
            assert_eq!(buf, b"Hello");
            let e = read_server_data(&mut s, &mut buf, &config).unwrap_err();
            assert!(matches!(e, Error::AbnormalClosure), "cut {cut}: {e:?}");
            assert_eq!(e.close_code(), Some(CloseCode::ABNORMAL_CLOSURE));
            assert!(s.written.is_empty(), "nothing is sent after EOF");
        }
    }

    #[test]
    fn pings_are_answered_and_a_close_is_echoed() {
        let config = Config::default();
        // ping "Hello", a fragmented "Hel"+"lo" with a ping between, then close 1000
        let mut s = from_server(&[
            b"\x89\x05Hello",
            b"\x01\x03Hel",
            b"\x89\x00",
            b"\x80\x02lo",
            b"\x88\x02\x03\xe8",
        ]);
        let mut buf = Vec::new();
        assert_eq!(
            read_server_data(&mut s, &mut buf, &config).unwrap(),
            OpCode::Text
        );
        assert_eq!(buf, b"Hello");
        assert!(matches!(
            read_server_data(&mut s, &mut buf, &config),
            Err(Error::Closed)
        ));
        // as a client our frames are masked: decode them as the server would
        let mut d = Decoder::new(zerows_frame::Config::new(Role::Server));
        let mut w = s.written.clone();
        let mut seen = Vec::new();
        while !w.is_empty() {
            let Ok(Status::Complete((ev, used))) = d.next(&mut w) else {
                panic!("invalid frames written");
            };
            seen.push(match ev {
                Event::Pong(p) => (OpCode::Pong, p.to_vec()),
                Event::Close(c) => (OpCode::Close, c.unwrap().code.0.to_be_bytes().to_vec()),
                ev => panic!("unexpected {ev:?}"),
            });
            w.drain(..used);
        }
        assert_eq!(
            seen,
            [
                (OpCode::Pong, b"Hello".to_vec()),
                (OpCode::Pong, Vec::new()),
                (OpCode::Close, 1000u16.to_be_bytes().to_vec()),
            ]
        );
    }
}
