//! The byte streams a dialed or TLS-accepted connection runs on: TCP, or TLS over TCP (either
//! role). Blocking: [`Stream`], a [`Transport`] (half-close and read timeouts for the close
//! handshake, RFC 6455 §7.1.1). Tokio: [`AsyncStream`].

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use zerows_util::Transport;

/// TCP with an optional deadline: while dialing or accepting, every read and write waits at most
/// until the deadline (one timer for the whole handshake, however slowly the peer trickles).
#[derive(Debug)]
pub(crate) struct Tcp {
    sock: TcpStream,
    deadline: Option<Instant>,
}

impl Tcp {
    pub(crate) fn new(sock: TcpStream) -> Tcp {
        Tcp {
            sock,
            deadline: None,
        }
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    pub(crate) fn clear_timeouts(&self) -> io::Result<()> {
        self.sock.set_read_timeout(None)?;
        self.sock.set_write_timeout(None)
    }

    /// The time left, or `TimedOut` when none is.
    fn left(&self) -> io::Result<Option<Duration>> {
        match self.deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(io::ErrorKind::TimedOut.into()),
            },
        }
    }

    fn timed_out(&self, e: io::Error) -> io::Error {
        // a socket timeout surfaces as WouldBlock on Unix
        if self.deadline.is_some() && e.kind() == io::ErrorKind::WouldBlock {
            io::ErrorKind::TimedOut.into()
        } else {
            e
        }
    }
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.sock.set_read_timeout(Some(left))?;
        }
        self.sock.read(buf).map_err(|e| self.timed_out(e))
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.sock.set_write_timeout(Some(left))?;
        }
        self.sock.write(buf).map_err(|e| self.timed_out(e))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.sock.set_write_timeout(Some(left))?;
        }
        self.sock
            .write_vectored(bufs)
            .map_err(|e| self.timed_out(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "tls")]
type ClientTlsStream = rustls::StreamOwned<rustls::ClientConnection, Tcp>;
#[cfg(feature = "tls")]
type ServerTlsStream = rustls::StreamOwned<rustls::ServerConnection, Tcp>;

#[derive(Debug)]
enum Inner {
    Plain(Tcp),
    #[cfg(feature = "tls")]
    Client(Box<ClientTlsStream>),
    #[cfg(feature = "tls")]
    Server(Box<ServerTlsStream>),
}

/// A blocking connection's stream: TCP, or TLS over TCP. `WebSocket<Stream>` is what
/// [`Dialer::connect`](crate::Dialer::connect) returns, and what a TLS server hands to
/// `WebSocket::accept`.
#[derive(Debug)]
pub struct Stream {
    inner: Inner,
}

impl Stream {
    pub(crate) fn plain(tcp: Tcp) -> Stream {
        Stream {
            inner: Inner::Plain(tcp),
        }
    }

    #[cfg(feature = "tls")]
    pub(crate) fn client(tls: ClientTlsStream) -> Stream {
        Stream {
            inner: Inner::Client(Box::new(tls)),
        }
    }

    #[cfg(feature = "tls")]
    pub(crate) fn server(tls: ServerTlsStream) -> Stream {
        Stream {
            inner: Inner::Server(Box::new(tls)),
        }
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut Tcp {
        match &mut self.inner {
            Inner::Plain(t) => t,
            #[cfg(feature = "tls")]
            Inner::Client(s) => &mut s.sock,
            #[cfg(feature = "tls")]
            Inner::Server(s) => &mut s.sock,
        }
    }

    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(t) => &t.sock,
            #[cfg(feature = "tls")]
            Inner::Client(s) => &s.sock.sock,
            #[cfg(feature = "tls")]
            Inner::Server(s) => &s.sock.sock,
        }
    }

    /// Whether TLS runs on this stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self.inner, Inner::Plain(_))
    }

    /// The TLS connection of a client (negotiated version, ALPN, the server's certificates).
    #[cfg(feature = "tls")]
    pub fn tls_client(&self) -> Option<&rustls::ClientConnection> {
        match &self.inner {
            Inner::Client(s) => Some(&s.conn),
            _ => None,
        }
    }

    /// The TLS connection of a server (SNI name, ALPN).
    #[cfg(feature = "tls")]
    pub fn tls_server(&self) -> Option<&rustls::ServerConnection> {
        match &self.inner {
            Inner::Server(s) => Some(&s.conn),
            _ => None,
        }
    }
}

/// Writes `bufs` as TLS records in one go: rustls takes all slices at once, so a header and its
/// payload become one record and one system call, as over plain TCP.
#[cfg(feature = "tls")]
fn tls_write_vectored<C, S>(conn: &mut C, sock: &mut Tcp, bufs: &[IoSlice<'_>]) -> io::Result<usize>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<S>>,
    S: rustls::SideData,
{
    let n = conn.writer().write_vectored(bufs)?;
    while conn.wants_write() {
        if conn.write_tls(sock)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(n)
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(t) => t.read(buf),
            #[cfg(feature = "tls")]
            Inner::Client(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Inner::Server(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(t) => t.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Inner::Client(s) => {
                let s = &mut **s;
                tls_write_vectored(&mut s.conn, &mut s.sock, bufs)
            }
            #[cfg(feature = "tls")]
            Inner::Server(s) => {
                let s = &mut **s;
                tls_write_vectored(&mut s.conn, &mut s.sock, bufs)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(_) => Ok(()),
            #[cfg(feature = "tls")]
            Inner::Client(s) => s.flush(),
            #[cfg(feature = "tls")]
            Inner::Server(s) => s.flush(),
        }
    }
}

impl Transport for Stream {
    /// TLS: `close_notify` (RFC 8446 §6.1) goes out first, then the TCP FIN.
    fn shutdown_write(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(_) => {}
            #[cfg(feature = "tls")]
            Inner::Client(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
            #[cfg(feature = "tls")]
            Inner::Server(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
        }
        self.tcp().shutdown(Shutdown::Write)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }
}

#[cfg(feature = "tokio")]
pub use self::tokio_stream::AsyncStream;

#[cfg(feature = "tokio")]
mod tokio_stream {
    use std::io::{self, IoSlice};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    #[derive(Debug)]
    enum Inner {
        Plain(TcpStream),
        #[cfg(feature = "tls")]
        Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
    }

    /// An async connection's stream: TCP, or TLS over TCP (either role). `AsyncWebSocket<AsyncStream>`
    /// is what [`Dialer::connect_async`](crate::Dialer::connect_async) returns.
    #[derive(Debug)]
    pub struct AsyncStream {
        inner: Inner,
    }

    impl AsyncStream {
        pub(crate) fn plain(tcp: TcpStream) -> AsyncStream {
            AsyncStream {
                inner: Inner::Plain(tcp),
            }
        }

        #[cfg(feature = "tls")]
        pub(crate) fn tls(tls: tokio_rustls::TlsStream<TcpStream>) -> AsyncStream {
            AsyncStream {
                inner: Inner::Tls(Box::new(tls)),
            }
        }

        /// The TCP connection underneath.
        pub fn tcp(&self) -> &TcpStream {
            match &self.inner {
                Inner::Plain(t) => t,
                #[cfg(feature = "tls")]
                Inner::Tls(s) => s.get_ref().0,
            }
        }

        /// Whether TLS runs on this stream.
        pub fn is_tls(&self) -> bool {
            !matches!(self.inner, Inner::Plain(_))
        }

        /// The TLS stream (its rustls connection: version, ALPN, certificates, SNI).
        #[cfg(feature = "tls")]
        pub fn tls_stream(&self) -> Option<&tokio_rustls::TlsStream<TcpStream>> {
            match &self.inner {
                Inner::Tls(s) => Some(s),
                Inner::Plain(_) => None,
            }
        }
    }

    impl AsyncRead for AsyncStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match &mut self.get_mut().inner {
                Inner::Plain(t) => Pin::new(t).poll_read(cx, buf),
                #[cfg(feature = "tls")]
                Inner::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            }
        }
    }

    impl AsyncWrite for AsyncStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match &mut self.get_mut().inner {
                Inner::Plain(t) => Pin::new(t).poll_write(cx, buf),
                #[cfg(feature = "tls")]
                Inner::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            }
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            match &mut self.get_mut().inner {
                Inner::Plain(t) => Pin::new(t).poll_write_vectored(cx, bufs),
                #[cfg(feature = "tls")]
                Inner::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            }
        }

        fn is_write_vectored(&self) -> bool {
            match &self.inner {
                Inner::Plain(t) => t.is_write_vectored(),
                #[cfg(feature = "tls")]
                Inner::Tls(s) => s.is_write_vectored(),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match &mut self.get_mut().inner {
                Inner::Plain(t) => Pin::new(t).poll_flush(cx),
                #[cfg(feature = "tls")]
                Inner::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            }
        }

        /// TLS: `close_notify`, then the TCP FIN.
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match &mut self.get_mut().inner {
                Inner::Plain(t) => Pin::new(t).poll_shutdown(cx),
                #[cfg(feature = "tls")]
                Inner::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            }
        }
    }
}
