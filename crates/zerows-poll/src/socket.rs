//! What the event loop needs of a connection's transport: non-blocking reads and writes (which
//! say `WouldBlock` when the socket is not ready) and a way to shut the write side down.

use std::io::{self, Read, Write};
use std::net::Shutdown;

/// A non-blocking byte stream the [`EventLoop`](crate::EventLoop) drives: `mio`'s `TcpStream`,
/// or a scripted one in tests.
pub trait Socket: Read + Write {
    /// Shuts the write side down (RFC 6455 §7.1.1: the server closes the TCP connection first).
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Socket for mio::net::TcpStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}
