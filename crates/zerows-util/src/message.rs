//! Messages as the application sees them, and prepared (pre-encoded) messages.

use bytes::Bytes;
use zerows_frame::{CloseCode, CloseFrame, Header, OpCode};

/// One thing read from a connection: a data message or a control frame (one event model).
///
/// Data borrows the connection's buffers: it is valid until the next read. The borrow is the
/// `&mut` one of [`read`](crate::WebSocket::read), so while a `Message` is alive its connection
/// cannot be used at all, not even to send it back: `let m = ws.read()?; ws.send_message(..,
/// m.payload())` is error E0499. Read into a buffer of your own with
/// [`read_into`](crate::WebSocket::read_into), read and write on the two
/// [`split`](crate::WebSocket::split) halves (the message borrows only the read half), or copy
/// the message out ([`OwnedMessage`], one copy); the docs of `read` show each.
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

/// UTF-8 text in shared, reference-counted bytes: the payload of an [`OwnedMessage::Text`].
///
/// Cheap to clone (a reference count) and to make from a `String` (no copy) or a `&'static str`.
///
/// ```
/// use zerows_util::Utf8Bytes;
///
/// let t = Utf8Bytes::from("hello");
/// assert_eq!(t.as_str(), "hello");
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty text.
    pub const fn new() -> Utf8Bytes {
        Utf8Bytes(Bytes::new())
    }

    /// Text from a static string, without a copy.
    pub const fn from_static(text: &'static str) -> Utf8Bytes {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Every constructor checks or inherits UTF-8; the check costs a SIMD pass, and keeps the
        // crate free of `unsafe`.
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }

    /// The bytes (UTF-8).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The bytes (UTF-8), without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Utf8Bytes {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(s: &'static str) -> Utf8Bytes {
        Utf8Bytes::from_static(s)
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = simdutf8::basic::Utf8Error;
    /// Checks that `bytes` are UTF-8; no copy.
    fn try_from(bytes: Bytes) -> Result<Utf8Bytes, Self::Error> {
        simdutf8::basic::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A close frame's code and reason, owned: in an [`OwnedMessage::Close`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedCloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty (at most 123 bytes are sent; longer reasons are cut at a
    /// character boundary).
    pub reason: Utf8Bytes,
}

impl OwnedCloseFrame {
    /// The borrowed form.
    pub fn as_close_frame(&self) -> CloseFrame<'_> {
        CloseFrame::new(self.code, self.reason.as_str())
    }
}

/// A message that owns its payload (`bytes::Bytes`): what the `futures` `Stream` yields and the
/// `Sink` takes, and what outlives the next read or moves to another task.
///
/// [`Message`] borrows the connection's buffers and is the fast path (no allocation, no copy);
/// turning one into an `OwnedMessage` copies its payload once (`From<Message>`), and
/// [`as_message`](Self::as_message) borrows it back without a copy. Sending an `OwnedMessage`
/// through the `Sink` does not copy a server's large payload either: the connection holds the
/// `Bytes` until they are written.
///
/// ```
/// use zerows_util::{Message, OwnedMessage};
///
/// let owned = OwnedMessage::from(Message::Text("hi")); // one copy
/// assert_eq!(owned.as_message(), Message::Text("hi")); // none
/// assert_eq!(owned, OwnedMessage::text("hi"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedMessage {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes).
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A close frame (`None`: no status code). Sent through the `Sink`, it starts the close
    /// handshake; read from the `Stream`, the peer's close, already answered.
    Close(Option<OwnedCloseFrame>),
}

impl OwnedMessage {
    /// A text message (`String`: no copy; `&'static str`: no copy).
    pub fn text(text: impl Into<Utf8Bytes>) -> OwnedMessage {
        OwnedMessage::Text(text.into())
    }

    /// A binary message (`Vec<u8>`: no copy; `&'static [u8]`: no copy).
    pub fn binary(data: impl Into<Bytes>) -> OwnedMessage {
        OwnedMessage::Binary(data.into())
    }

    /// A close frame with `code` and `reason`.
    pub fn close(code: CloseCode, reason: impl Into<Utf8Bytes>) -> OwnedMessage {
        OwnedMessage::Close(Some(OwnedCloseFrame {
            code,
            reason: reason.into(),
        }))
    }

    /// The borrowed form, without a copy.
    pub fn as_message(&self) -> Message<'_> {
        match self {
            OwnedMessage::Text(t) => Message::Text(t.as_str()),
            OwnedMessage::Binary(b) => Message::Binary(b),
            OwnedMessage::Ping(b) => Message::Ping(b),
            OwnedMessage::Pong(b) => Message::Pong(b),
            OwnedMessage::Close(c) => {
                Message::Close(c.as_ref().map(OwnedCloseFrame::as_close_frame))
            }
        }
    }

    /// The payload bytes (for `Close`, the reason), without a copy.
    pub fn payload(&self) -> &[u8] {
        match self {
            OwnedMessage::Text(t) => t.as_bytes(),
            OwnedMessage::Binary(b) | OwnedMessage::Ping(b) | OwnedMessage::Pong(b) => b,
            OwnedMessage::Close(c) => c.as_ref().map_or(&[][..], |c| c.reason.as_bytes()),
        }
    }

    /// The opcode this message travels with.
    pub fn opcode(&self) -> OpCode {
        self.as_message().opcode()
    }

    /// Whether this is a text or binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, OwnedMessage::Text(_) | OwnedMessage::Binary(_))
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            OwnedMessage::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }
}

impl From<Message<'_>> for OwnedMessage {
    /// Copies the payload once.
    fn from(msg: Message<'_>) -> OwnedMessage {
        match msg {
            Message::Text(t) => OwnedMessage::Text(Utf8Bytes(Bytes::copy_from_slice(t.as_bytes()))),
            Message::Binary(b) => OwnedMessage::Binary(Bytes::copy_from_slice(b)),
            Message::Ping(b) => OwnedMessage::Ping(Bytes::copy_from_slice(b)),
            Message::Pong(b) => OwnedMessage::Pong(Bytes::copy_from_slice(b)),
            Message::Close(c) => OwnedMessage::Close(c.map(|c| OwnedCloseFrame {
                code: c.code,
                reason: Utf8Bytes(Bytes::copy_from_slice(c.reason.as_bytes())),
            })),
        }
    }
}

impl<'a> From<&'a OwnedMessage> for Message<'a> {
    fn from(msg: &'a OwnedMessage) -> Message<'a> {
        msg.as_message()
    }
}

impl From<String> for OwnedMessage {
    fn from(text: String) -> OwnedMessage {
        OwnedMessage::text(text)
    }
}

impl From<&'static str> for OwnedMessage {
    fn from(text: &'static str) -> OwnedMessage {
        OwnedMessage::text(text)
    }
}

impl From<Vec<u8>> for OwnedMessage {
    fn from(data: Vec<u8>) -> OwnedMessage {
        OwnedMessage::binary(data)
    }
}

impl From<Bytes> for OwnedMessage {
    fn from(data: Bytes) -> OwnedMessage {
        OwnedMessage::Binary(data)
    }
}
