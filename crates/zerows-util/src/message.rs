//! Messages as the application sees them, and prepared (pre-encoded) messages.

use bytes::Bytes;
use zerows_frame::{CloseFrame, Header, OpCode};

/// One thing read from a connection: a data message or a control frame (one event model).
///
/// Data borrows the connection's buffers: it is valid until the next read. The borrow is the
/// `&mut` one of [`read`](crate::WebSocket::read), so while a `Message` is alive its connection
/// cannot be used at all, not even to send it back: `let m = ws.read()?; ws.send_message(..,
/// m.payload())` is error E0499. Read into a buffer of your own with
/// [`read_into`](crate::WebSocket::read_into), read and write on the two
/// [`split`](crate::WebSocket::split) halves (the message borrows only the read half), or copy
/// the message out (the `futures` feature's `OwnedMessage`); the docs of `read` show each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message, valid UTF-8. (With `Config::validate_utf8(false)`, a text message that is
    /// not UTF-8 is returned as `Binary`: a `&str` must be UTF-8.)
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (already answered if `auto_pong` is on).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame (`None`: no status code, i.e. 1005). Our reply has been sent; the
    /// connection is closed after this.
    Close(Option<CloseFrame<'a>>),
}

impl<'a> Message<'a> {
    /// The payload bytes (for `Close`, the reason).
    pub fn payload(&self) -> &'a [u8] {
        match *self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(c) => c.map_or(&[][..], |c| c.reason.as_bytes()),
        }
    }

    /// The opcode this message travels with.
    pub fn opcode(&self) -> OpCode {
        match self {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
            Message::Ping(_) => OpCode::Ping,
            Message::Pong(_) => OpCode::Pong,
            Message::Close(_) => OpCode::Close,
        }
    }

    /// Whether this is a text or binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

/// A message encoded once, written to many connections (gorilla's `PreparedMessage`, gobwas'
/// compiled frames): the server frame (unmasked) is built once and shared; clients, which must
/// mask every frame with a fresh key, re-encode from the shared payload.
///
/// ```
/// use zerows_util::PreparedMessage;
/// use zerows_frame::OpCode;
///
/// let hello = PreparedMessage::new(OpCode::Text, b"hello everyone");
/// assert_eq!(&hello.server_frame()[..2], [0x81, 14]);
/// ```
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    frame: Bytes,
    header_len: usize,
    opcode: OpCode,
}

impl PreparedMessage {
    /// Encodes `payload` as a single unmasked frame.
    pub fn new(opcode: OpCode, payload: &[u8]) -> PreparedMessage {
        let h = Header::new(opcode, payload.len() as u64);
        let header_len = h.encoded_len();
        let mut frame = Vec::with_capacity(header_len + payload.len());
        zerows_frame::encode_frame_vec(&mut frame, opcode, true, None, payload);
        PreparedMessage {
            frame: Bytes::from(frame),
            header_len,
            opcode,
        }
    }

    /// The whole server frame.
    pub fn server_frame(&self) -> &Bytes {
        &self.frame
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    /// The opcode.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }
}
