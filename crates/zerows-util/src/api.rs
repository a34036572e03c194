//! One API in both worlds: the methods of [`WebSocket`](crate::WebSocket) and
//! [`AsyncWebSocket`](crate::AsyncWebSocket) (and of their halves) are written once, here, and
//! expanded in each driver — blocking as plain `fn`s, tokio as `async fn`s — so their names,
//! arguments, return types and docs cannot drift apart. A driver provides the primitives they
//! call:
//!
//! - `fn next_item(&mut self) -> Result<Item, Error>`: the next item from the core, moving bytes
//!   and waiting as needed;
//! - `fn finish(&mut self, command: Result<(), Error>, caller: &[u8]) -> Result<(), Error>`: after
//!   a command, write what it needs written (`caller`: its payload, if the core borrows it);
//! - `fn drive<H: Steps>(io: &mut S, steps: &mut H) -> Result<(), Error>`: run a handshake;
//! - fields `conn: Connection`, `io: S`, `shared: Shared`.

/// The part of `read`'s docs that shows code: the borrow of the returned [`Message`] and what to
/// do instead, once per world (`()` blocking, `(async)` tokio), so that each world's doctests
/// compile its own code.
macro_rules! read_borrow_docs {
    () => {
        r#"
# Why the natural echo does not compile (E0499)

The message borrows the connection (the `&mut self` of `read` lives as long as the message): the
next read reuses the buffers the message points into, so the connection cannot be used again —
not even to send — while the message is alive:

```compile_fail,E0499
use std::net::TcpStream;
use zerows_util::{Error, WebSocket};

fn echo(ws: &mut WebSocket<TcpStream>) -> Result<(), Error> {
    let m = ws.read()?;
    ws.send_message(m.opcode(), m.payload())?; // E0499: `*ws` is still borrowed by `m`
    Ok(())
}
```

What to do instead: read a data message into a buffer of your own with
[`read_into`](Self::read_into) (one copy, the buffer reused), then send or
[`feed_message`](Self::feed_message) it; or [`split`](Self::split) the connection and read on
the read half while you write on the write half (no copy at all); or copy what you need out of
the message and drop it before the next call: [`OwnedMessage::from`](crate::OwnedMessage)
makes such a copy (one, into `Bytes`), and with the `futures` feature the connection is a
`Stream` of them.

```
use std::net::TcpStream;
use zerows_util::{Error, OpCode, WebSocket};

// One buffer for the whole connection: no allocation per message.
fn echo(ws: &mut WebSocket<TcpStream>, buf: &mut Vec<u8>) -> Result<(), Error> {
    let opcode: OpCode = ws.read_into(buf)?; // pings answered on the way
    ws.feed_message(opcode, buf)?; // written before the next read waits
    Ok(())
}

// The halves: the message borrows the read half only.
fn echo_split(ws: WebSocket<TcpStream>) -> Result<(), Error> {
    let (mut read, write) = ws.split()?;
    loop {
        let m = read.read()?;
        if m.is_data() {
            write.send_message(m.opcode(), m.payload())?;
        }
    }
}
```
"#
    };
    (async) => {
        r#"
# Why the natural echo does not compile (E0499)

The message borrows the connection (the `&mut self` of `read` lives as long as the message): the
next read reuses the buffers the message points into, so the connection cannot be used again —
not even to send — while the message is alive:

```compile_fail,E0499
use tokio::net::TcpStream;
use zerows_util::{AsyncWebSocket, Error};

async fn echo(ws: &mut AsyncWebSocket<TcpStream>) -> Result<(), Error> {
    let m = ws.read().await?;
    ws.send_message(m.opcode(), m.payload()).await?; // E0499: `*ws` is still borrowed by `m`
    Ok(())
}
```

What to do instead: read a data message into a buffer of your own with
[`read_into`](Self::read_into) (one copy, the buffer reused), then send or
[`feed_message`](Self::feed_message) it; or [`split`](Self::split) the connection and read on
the read half while another task (or the same one) writes on the write half (no copy at all); or
copy what you need out of the message and drop it before the next call
([`OwnedMessage::from`](crate::OwnedMessage) makes such a copy; with the `futures` feature the
read half is a `Stream` of them).

```
use tokio::net::TcpStream;
use zerows_util::{AsyncWebSocket, Error, OpCode};

// One buffer for the whole connection: no allocation per message.
async fn echo(ws: &mut AsyncWebSocket<TcpStream>, buf: &mut Vec<u8>) -> Result<(), Error> {
    let opcode: OpCode = ws.read_into(buf).await?; // pings answered on the way
    ws.feed_message(opcode, buf).await?; // written when the next read has to wait
    Ok(())
}

// The halves: the message borrows the read half only.
async fn echo_split(ws: AsyncWebSocket<TcpStream>) -> Result<(), Error> {
    let (mut read, write) = ws.split();
    loop {
        let m = read.read().await?;
        if m.is_data() {
            write.send_message(m.opcode(), m.payload()).await?;
        }
    }
}
```
"#
    };
}

/// The whole connection's methods. `$($async)?` is `async` or nothing, `$($aw)*` is `.await` or
/// nothing.
macro_rules! connection_api {
    ($($async:ident)?, {$($aw:tt)*}) => {
        /// Wraps a stream on which the handshake is already done. `leftover` are bytes read past
        /// the handshake (frames the peer sent right behind it); they are decoded first.
        ///
        /// Nothing is negotiated here: `config.extension` (e.g. `Config::deflate`) is ignored
        /// and nothing is kept for [`agreed`](Self::agreed); whoever did the handshake must
        /// install what it agreed with [`set_extension`](Self::set_extension). Inside hyper or
        /// axum, the `hyper` and `axum` features do the handshake, negotiate the extension and
        /// install it (`zerows_util::hyper::upgrade`).
        pub fn from_raw(
            io: S,
            role: Role,
            leftover: &[u8],
            config: impl Into<Arc<Config>>,
        ) -> Self {
            let config = config.into();
            let conn = Connection::new(role, &config, leftover);
            Self::new(io, conn, config, None)
        }

        /// Accepts a WebSocket upgrade on `stream` with the default [`Config`].
        pub $($async)? fn accept(stream: S) -> Result<Self, Error> {
            Self::accept_with_config(stream, Config::default())$($aw)*
        }

        /// Accepts a WebSocket upgrade with a [`Config`]: its extension is negotiated (e.g.
        /// permessage-deflate), its kept headers kept ([`agreed`](Self::agreed)).
        pub $($async)? fn accept_with_config(
            stream: S,
            config: impl Into<Arc<Config>>,
        ) -> Result<Self, Error> {
            Self::accept_with_upgrader(stream, &mut Upgrader::new(), config)$($aw)*
        }

        /// Accepts a WebSocket upgrade with an [`Upgrader`] (hooks: path, headers, origin,
        /// subprotocol; limits) and a [`Config`]. A refused request gets its response (400,
        /// 403, 426, 431, …) before the error is returned; bytes the client sent right behind
        /// its request are kept.
        pub $($async)? fn accept_with_upgrader<H: Hooks>(
            mut stream: S,
            upgrader: &mut Upgrader<H>,
            config: impl Into<Arc<Config>>,
        ) -> Result<Self, Error> {
            let config = config.into();
            let mut space = Self::handshake_space(HEAD_BUF + RESPONSE_BUF);
            let mut hs = ServerHandshake::new(upgrader, &config, &mut space);
            Self::drive(&mut stream, &mut hs)$($aw)*?;
            let (conn, agreed) = hs.finish()?;
            Ok(Self::new(stream, conn, config, agreed))
        }

        /// Performs the client handshake for `request` on `stream` with the default [`Config`].
        pub $($async)? fn connect(stream: S, request: &ClientRequest<'_>) -> Result<Self, Error> {
            Self::connect_with_config(stream, request, Config::default())$($aw)*
        }

        /// Performs the client handshake for `request` with a [`Config`]: its extension is
        /// offered, the server's answer checked (RFC 6455 §4.1, §9.1).
        pub $($async)? fn connect_with_config(
            mut stream: S,
            request: &ClientRequest<'_>,
            config: impl Into<Arc<Config>>,
        ) -> Result<Self, Error> {
            let config = config.into();
            let offer = config.extension.as_ref().map(|n| n.offer());
            let mut space = Self::handshake_space(HEAD_BUF);
            let mut hs = ClientHandshake::new(request, offer.as_deref(), &config, &mut space)?;
            Self::drive(&mut stream, &mut hs)$($aw)*?;
            let (conn, agreed) = hs.finish()?;
            Ok(Self::new(stream, conn, config, agreed))
        }

        /// Installs a negotiated [`Extension`] (the `accept`/`connect` calls with a [`Config`]
        /// do it themselves); see [`Connection::set_extension`].
        pub fn set_extension(&mut self, ext: Extension) {
            self.conn.set_extension(ext);
        }

        /// What the handshake agreed: subprotocol, extensions, kept headers (`None` when nothing
        /// was agreed or kept, or the connection came from [`from_raw`](Self::from_raw)).
        pub fn agreed(&self) -> Option<&Agreed> {
            self.shared.agreed.as_deref()
        }

        /// The stream.
        pub fn get_ref(&self) -> &S {
            &self.io
        }

        /// The stream, mutably. Reading or writing it directly corrupts the connection.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.io
        }

        /// The stream; bytes the connection read but did not decode, and frames it queued, are
        /// dropped.
        pub fn into_inner(self) -> S {
            self.io
        }

        /// The configuration.
        pub fn config(&self) -> &Config {
            &self.shared.config
        }

        /// Our role.
        pub fn role(&self) -> Role {
            self.conn.role()
        }

        /// Whether our close frame was sent (by us, or answering the peer's).
        pub fn is_closed(&self) -> bool {
            self.conn.is_closed()
        }

        /// Gives the I/O buffers back to the [`BufferPool`](crate::BufferPool), if the connection
        /// holds no partial frame or message and nothing waits to be written. Reads do it
        /// before they wait for data; call it when you wait for readiness yourself.
        pub fn release_buffers(&mut self) {
            self.conn.release_buffers();
        }

        /// Reads the next message or control frame, borrowed from the connection's buffers until
        /// the next call on the connection (see below, and [`Message`]).
        ///
        /// Pings are answered (with [`Config::auto_pong`]) and the peer's close is echoed before
        /// they are returned. A protocol violation or exceeded limit sends the matching close
        /// frame (1002, 1007, 1009), waits at most [`Config::close_timeout`] for the peer to
        /// close, and returns [`Error::Protocol`] (or [`Error::Extension`]). After the peer's close
        /// (returned as [`Message::Close`]) or an error, reads return [`Error::Closed`].
        #[doc = read_borrow_docs!($($async)?)]
        pub $($async)? fn read(&mut self) -> Result<Message<'_>, Error> {
            let item = self.next_item()$($aw)*?;
            Ok(self.conn.view(item).unwrap_or(Message::Binary(&[])))
        }

        /// Reads the next data message into `buf` (cleared first) and returns its opcode (`Text`
        /// or `Binary`), handling control frames on the way: for code that keeps the payload
        /// while it writes. The peer's close is answered and returned as [`Error::Closed`].
        pub $($async)? fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<OpCode, Error> {
            loop {
                let item = self.next_item()$($aw)*?;
                if let Some(r) = crate::conn::into_buf(self.conn.rx(), item, buf) {
                    return r;
                }
            }
        }

        /// Reads the next data message as JSON (gorilla's `ReadJSON`, x/net's `JSON.Receive`),
        /// deserialized straight from the connection's buffer: `T` may borrow from it, so a `T`
        /// without owned fields costs no copy and no allocation. A `&str` field borrows a string
        /// without escapes and fails on one with escapes: take text as `#[serde(borrow)]
        /// Cow<'a, str>`, which borrows when it can. A
        /// [`DeserializeOwned`](serde::de::DeserializeOwned) `T` works too. Control frames on the way are handled as [`read`](Self::read) handles them; the
        /// peer's close is answered and returned as [`Error::Closed`].
        ///
        /// Text and binary messages are both parsed (as gorilla does: many protocols send JSON
        /// in binary frames); the bytes must be UTF-8 JSON either way (RFC 8259 §8.1).
        ///
        /// A message that is not JSON of type `T` returns [`Error::Json`]: an error of this call
        /// only, not of the connection — no close frame is sent, the message is consumed, and
        /// the next read returns the next message.
        #[cfg(feature = "json")]
        pub $($async)? fn read_json<'a, T: ::serde::Deserialize<'a>>(
            &'a mut self,
        ) -> Result<T, Error> {
            loop {
                let item = self.next_item()$($aw)*?;
                if let Some(wanted) = crate::json::wanted(item) {
                    wanted?;
                    break;
                }
            }
            crate::json::decode(self.conn.rx())
        }

        /// Sends a data message (`Text` or `Binary`), after anything fed before it, in frames of
        /// at most [`Config::max_send_frame_size`]; through the extension if one was agreed. A
        /// server's frame is written from `payload` with its header in one vectored write (no
        /// copy). Text must be UTF-8 (not checked; [`send_text`](Self::send_text) takes a
        /// `&str`).
        pub $($async)? fn send_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
            let r = self.conn.send_message(opcode, payload);
            self.finish(r, payload)$($aw)*
        }

        /// Queues a data message without writing it: fed messages go out together at the next
        /// [`flush`](Self::flush), send, control frame, or read that has to wait for input (an
        /// echo loop that feeds its replies answers a burst of messages with one write). A
        /// blocking read writes them before it asks the transport for bytes; a tokio read writes
        /// them when its poll of the transport is pending, so a burst larger than the read buffer
        /// is still answered with one write. When the queue reaches
        /// [`Config::write_buffer_size`] it is written at once. Messages still
        /// queued when the connection is dropped are not sent.
        pub $($async)? fn feed_message(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
            let r = self.conn.feed_message(opcode, payload);
            self.finish(r, payload)$($aw)*
        }

        /// Writes everything queued and flushes the stream.
        pub $($async)? fn flush(&mut self) -> Result<(), Error> {
            let r = self.conn.flush();
            self.finish(r, &[])$($aw)*
        }

        /// Sends a text message.
        pub $($async)? fn send_text(&mut self, text: &str) -> Result<(), Error> {
            self.send_message(OpCode::Text, text.as_bytes())$($aw)*
        }

        /// Sends a binary message.
        pub $($async)? fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
            self.send_message(OpCode::Binary, data)$($aw)*
        }

        /// Sends `value` as a text message of JSON (gorilla's `WriteJSON`, x/net's `JSON.Send`),
        /// as [`send_message`](Self::send_message) sends. It is serialized into a buffer taken
        /// from [`Config::pool`] and given back after the write, so with a pool (the default)
        /// sending JSON allocates nothing in steady state; without one, each call allocates its
        /// buffer (once for up to 256 bytes of JSON). A value that cannot be serialized (a map with non-string keys, a failing
        /// `Serialize` impl) returns [`Error::Json`] and sends nothing.
        #[cfg(feature = "json")]
        pub $($async)? fn send_json<T: ::serde::Serialize + ?Sized>(
            &mut self,
            value: &T,
        ) -> Result<(), Error> {
            let pool = self.config().pool.clone();
            let buf = crate::json::encode(pool.as_ref(), value)?;
            let r = self.send_message(OpCode::Text, &buf)$($aw)*;
            crate::json::give(pool.as_ref(), buf);
            r
        }

        /// Sends any [`Message`]; `Close` starts the close handshake as [`close`](Self::close)
        /// does.
        pub $($async)? fn send(&mut self, msg: Message<'_>) -> Result<(), Error> {
            match msg {
                Message::Text(_) | Message::Binary(_) => {
                    self.send_message(msg.opcode(), msg.payload())$($aw)*
                }
                Message::Ping(p) => self.ping(p)$($aw)*,
                Message::Pong(p) => self.pong(p)$($aw)*,
                Message::Close(c) => self.close_frame(c)$($aw)*,
            }
        }

        /// Sends a ping (payload at most 125 bytes, RFC 6455 §5.5).
        pub $($async)? fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
            let r = self.conn.ping(payload);
            self.finish(r, &[])$($aw)*
        }

        /// Sends an unsolicited pong (a heartbeat, RFC 6455 §5.5.3).
        pub $($async)? fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
            let r = self.conn.pong(payload);
            self.finish(r, &[])$($aw)*
        }

        /// Sends a [`PreparedMessage`] (encoded once, shared between connections; compressed per
        /// connection when an extension such as permessage-deflate was agreed).
        pub $($async)? fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
            let r = self.conn.send_prepared(msg);
            self.finish(r, msg.server_frame())$($aw)*
        }

        /// Starts the close handshake with `code` and `reason` (RFC 6455 §7.1.2), then reads until
        /// the peer's close frame (data that arrives meanwhile is dropped) or
        /// [`Config::close_timeout`], and shuts the stream's write side down.
        pub $($async)? fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
            self.close_frame(Some(CloseFrame::new(code, reason)))$($aw)*
        }

        $($async)? fn close_frame(&mut self, frame: Option<CloseFrame<'_>>) -> Result<(), Error> {
            let r = self.conn.close_frame(frame);
            self.finish(r, &[])$($aw)*?;
            loop {
                let step = self.next_item()$($aw)*;
                if let Some(done) = Connection::close_step(step) {
                    return done;
                }
            }
        }
    };
}

/// The write half's methods (`&self`: a lock inside). Each runs `$lock` to get the sender and the
/// stream, then the command, then writes what it must. The last argument is the path to the
/// half's `Arc<Config>`.
macro_rules! write_half_api {
    ($($async:ident)?, {$($aw:tt)*}, $($config:ident).+) => {
        /// Sends a data message; see [`send_message`](Self::send_message) on the whole
        /// connection.
        pub $($async)? fn send_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
            self.command(payload, |tx| tx.message(opcode, payload, true))$($aw)*
        }

        /// Queues a data message. The read half does not write what the write half fed (only its
        /// own replies, with what was queued before them), so end a burst with
        /// [`flush`](Self::flush) or a `send_*`.
        pub $($async)? fn feed_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
            self.command(payload, |tx| tx.message(opcode, payload, false))$($aw)*
        }

        /// Writes everything queued and flushes the stream.
        pub $($async)? fn flush(&self) -> Result<(), Error> {
            self.command(&[], Sender::request_flush)$($aw)*
        }

        /// Sends a text message.
        pub $($async)? fn send_text(&self, text: &str) -> Result<(), Error> {
            self.send_message(OpCode::Text, text.as_bytes())$($aw)*
        }

        /// Sends a binary message.
        pub $($async)? fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
            self.send_message(OpCode::Binary, data)$($aw)*
        }

        /// Sends `value` as a text message of JSON; see [`send_json`](Self::send_json) on the
        /// whole connection.
        #[cfg(feature = "json")]
        pub $($async)? fn send_json<T: ::serde::Serialize + ?Sized>(
            &self,
            value: &T,
        ) -> Result<(), Error> {
            let pool = self.$($config).+.pool.as_ref();
            let buf = crate::json::encode(pool, value)?;
            let r = self.send_message(OpCode::Text, &buf)$($aw)*;
            crate::json::give(pool, buf);
            r
        }

        /// Sends a ping (at most 125 bytes).
        pub $($async)? fn ping(&self, payload: &[u8]) -> Result<(), Error> {
            self.command(&[], |tx| tx.control(OpCode::Ping, payload))$($aw)*
        }

        /// Sends an unsolicited pong.
        pub $($async)? fn pong(&self, payload: &[u8]) -> Result<(), Error> {
            self.command(&[], |tx| tx.control(OpCode::Pong, payload))$($aw)*
        }

        /// Sends a prepared message.
        pub $($async)? fn send_prepared(&self, msg: &PreparedMessage) -> Result<(), Error> {
            self.command(msg.server_frame(), |tx| tx.prepared(msg))$($aw)*
        }

        /// Sends our close frame; the read half finishes the handshake when the peer's arrives
        /// (and returns [`Message::Close`]).
        pub $($async)? fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
            let frame = CloseFrame::new(code, reason);
            self.command(&[], |tx| tx.close_command(Some(frame)))$($aw)*
        }
    };
}

/// The read half's methods; the driver provides `next_item`, the field `rx`, and the path to its
/// `Option<Arc<Agreed>>`.
macro_rules! read_half_api {
    ($($async:ident)?, {$($aw:tt)*}, $($agreed:ident).+) => {
        /// Reads the next message or control frame, as the whole connection's `read` does (its
        /// replies go out through the write half's lock). The message borrows this half only:
        /// send it on the write half while you hold it.
        pub $($async)? fn read(&mut self) -> Result<Message<'_>, Error> {
            let item = self.next_item()$($aw)*?;
            Ok(crate::conn::view(&self.rx, item).unwrap_or(Message::Binary(&[])))
        }

        /// Reads the next data message into `buf`, as the whole connection's `read_into` does.
        pub $($async)? fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<OpCode, Error> {
            loop {
                let item = self.next_item()$($aw)*?;
                if let Some(r) = crate::conn::into_buf(&self.rx, item, buf) {
                    return r;
                }
            }
        }

        /// Reads the next data message as JSON, borrowed from this half's buffer; see
        /// [`read_json`](Self::read_json) on the whole connection. Bad JSON is
        /// [`Error::Json`] and leaves the connection open.
        #[cfg(feature = "json")]
        pub $($async)? fn read_json<'a, T: ::serde::Deserialize<'a>>(
            &'a mut self,
        ) -> Result<T, Error> {
            loop {
                let item = self.next_item()$($aw)*?;
                if let Some(wanted) = crate::json::wanted(item) {
                    wanted?;
                    break;
                }
            }
            crate::json::decode(&self.rx)
        }

        /// What the handshake agreed, if anything.
        pub fn agreed(&self) -> Option<&Agreed> {
            self.$($agreed).+.as_deref()
        }
    };
}
