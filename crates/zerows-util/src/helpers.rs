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

use std::io::{IoSlice, Read, Write};

use zerows_frame::{CloseCode, Decoder, Event, Header, OpCode, Role, Status};

use crate::config::Config;
use crate::error::Error;
use crate::keys::MaskKeys;

/// Reads the next data message a client sent (server side), into `buf`.
pub fn read_client_data<S: Read + Write>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &Config,
) -> Result<OpCode, Error> {
    read_data(stream, buf, config, Role::Server)
}

/// Reads the next data message a server sent (client side), into `buf`.
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
    crate::sync::write_all_vectored(stream, &mut [IoSlice::new(&h[..n]), IoSlice::new(payload)])?;
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
        stream.read_exact(&mut head[..2])?;
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
                    stream.read_exact(&mut head[len..need])?;
                    len = need;
                }
                Err(e) => return Err(fail(stream, e, role)),
            }
        };
        if h.opcode.is_control() {
            // at most 125 bytes (checked by the header decode): read it whole behind the header
            let total = header_len + usize::from(u8::try_from(h.payload_len).unwrap_or(125));
            stream.read_exact(&mut head[header_len..total])?;
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
            stream.read_exact(&mut buf[from..])?;
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
