//! `futures` `Stream` and `Sink` on the tokio connection and its halves (feature `futures`);
//! the user-facing description is the crate docs' "Stream and Sink" section.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use zerows_frame::{CloseCode, CloseFrame, OpCode};

use crate::conn::{Item, Sender};
use crate::error::Error;
use crate::message::OwnedMessage;
use crate::tokio::{AsyncReadHalf, AsyncWebSocket, AsyncWriteHalf, poll_write_out};

/// What a read result becomes in the stream: `None` once the connection is closed.
fn stream_item(
    result: Result<Item, Error>,
    view: impl FnOnce(Item) -> Option<OwnedMessage>,
    done: &mut bool,
) -> Option<Result<OwnedMessage, Error>> {
    match result {
        Ok(item) => {
            Some(Ok(view(item).unwrap_or_else(|| {
                OwnedMessage::Binary(bytes::Bytes::new())
            })))
        }
        Err(Error::Closed) => {
            *done = true;
            None
        }
        Err(e) => Some(Err(e)),
    }
}

/// Hands a `Sink` item to the sending side.
fn send_owned(tx: &mut Sender, msg: OwnedMessage) -> Result<(), Error> {
    match msg {
        OwnedMessage::Text(t) => tx.message_owned(OpCode::Text, t.into_bytes()),
        OwnedMessage::Binary(b) => tx.message_owned(OpCode::Binary, b),
        OwnedMessage::Ping(b) => tx.control(OpCode::Ping, &b),
        OwnedMessage::Pong(b) => tx.control(OpCode::Pong, &b),
        // One close frame per connection (RFC 6455 §5.5.1): a `Close` after ours (or after the
        // peer's was answered), as `forward` passes the peer's on, is accepted and ignored.
        OwnedMessage::Close(_) if tx.close_sent() => Ok(()),
        OwnedMessage::Close(c) => tx.close_command(c.as_ref().map(|c| c.as_close_frame())),
    }
}

/// `poll_close`'s close frame, unless one was sent.
fn close_if_open(tx: &mut Sender) -> Result<(), Error> {
    if tx.close_sent() {
        return Ok(());
    }
    tx.close_command(Some(CloseFrame::new(CloseCode::NORMAL, "")))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for AsyncWebSocket<S> {
    type Item = Result<OwnedMessage, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.shared.done {
            return Poll::Ready(None);
        }
        let waker = this.shared.wakers().fan_out(cx);
        let result = ready!(this.poll_item(&mut Context::from_waker(&waker)));
        let conn = &this.conn;
        let view = |item| conn.view(item).map(OwnedMessage::from);
        Poll::Ready(stream_item(result, view, &mut this.shared.done))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for AsyncWebSocket<S> {
    fn is_terminated(&self) -> bool {
        self.shared.done
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWebSocket<S> {
    /// Writes the output if `now` says so. Both ends of a `StreamExt::split` may write (the
    /// stream writes replies and fed messages when it waits to read), so writes go through the
    /// fan-out of wakers.
    fn poll_write_if(
        &mut self,
        cx: &mut Context<'_>,
        now: impl FnOnce(&Sender) -> bool,
    ) -> Poll<Result<(), Error>> {
        let (_, tx) = self.conn.parts_mut();
        if now(tx) {
            let waker = self.shared.wakers().fan_out(cx);
            let cx = &mut Context::from_waker(&waker);
            ready!(poll_write_out(cx, &mut self.io, tx, &[]))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<OwnedMessage> for AsyncWebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_if(cx, Sender::backlogged)
    }

    fn start_send(self: Pin<&mut Self>, msg: OwnedMessage) -> Result<(), Error> {
        send_owned(self.get_mut().conn.parts_mut().1, msg)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.conn.parts_mut().1.request_flush()?;
        this.poll_write_if(cx, Sender::has_output)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        close_if_open(this.conn.parts_mut().1)?;
        this.poll_write_if(cx, Sender::has_output)
    }
}

impl<S: AsyncRead + AsyncWrite> Stream for AsyncReadHalf<S> {
    type Item = Result<OwnedMessage, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let result = ready!(this.poll_next_item(cx));
        let mut done = false;
        let item = {
            let view = |item| this.view(item).map(OwnedMessage::from);
            stream_item(result, view, &mut done)
        };
        this.done = done;
        Poll::Ready(item)
    }
}

impl<S: AsyncRead + AsyncWrite> FusedStream for AsyncReadHalf<S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWriteHalf<S> {
    /// Takes this half's turn to write (fairly, behind other writers), hands over the message
    /// `start_send` left, runs `command`, and writes if `now` says so. The turn is held for this
    /// poll only: what is queued stays queued for whoever writes next.
    fn poll_turn(
        &mut self,
        cx: &mut Context<'_>,
        command: impl FnOnce(&mut Sender) -> Result<(), Error>,
        now: impl FnOnce(&Sender) -> bool,
    ) -> Poll<Result<(), Error>> {
        let Some(_turn) = ready!(self.permit.poll_acquire(cx)) else {
            return Poll::Ready(Err(Error::Closed));
        };
        let mut w = self.side.lock();
        if let Some(msg) = self.pending.take() {
            send_owned(&mut w.tx, msg)?;
        }
        command(&mut w.tx)?;
        if now(&w.tx) {
            ready!(self.side.poll_write_locked(cx, &mut w, &[]))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite> Sink<OwnedMessage> for AsyncWriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.pending.is_none() && !this.side.lock().tx.backlogged() {
            return Poll::Ready(Ok(()));
        }
        this.poll_turn(cx, |_| Ok(()), Sender::backlogged)
    }

    fn start_send(self: Pin<&mut Self>, msg: OwnedMessage) -> Result<(), Error> {
        // Handed to the connection at this half's next turn (`poll_ready` made room).
        self.get_mut().pending = Some(msg);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut()
            .poll_turn(cx, Sender::request_flush, Sender::has_output)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut()
            .poll_turn(cx, close_if_open, Sender::has_output)
    }
}
