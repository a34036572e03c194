//! An HTTP `CONNECT` tunnel (RFC 9110 §9.3.6) as sans-IO steps: write the request, read the
//! reply head with the handshake's bounded, allocation-free parser, accept a 2xx.

use zerows_upgrade::{Limits, Status, parse_response};

use super::{Exchange, ProxyError};
use crate::url::Host;

/// The largest reply head read from a proxy: 8 KiB, as for the WebSocket handshake.
pub const MAX_REPLY_HEAD: usize = 8 << 10;

/// What a `CONNECT` reply head says, once it is complete.
///
/// ```
/// use zerows_net::proxy::http::{parse_reply, Reply};
/// use zerows_net::proxy::ProxyError;
/// assert_eq!(parse_reply(b"HTTP/1.1 200 OK\r\n\r\n"), Ok(Reply::Tunnel { head_len: 19 }));
/// assert_eq!(parse_reply(b"HTTP/1.1 200 OK\r\n"), Ok(Reply::Partial));
/// assert_eq!(
///     parse_reply(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
///     Err(ProxyError::AuthenticationRequired)
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The head is not complete yet: read more (up to [`MAX_REPLY_HEAD`] bytes in all).
    Partial,
    /// A 2xx: the tunnel is open after `head_len` bytes.
    Tunnel {
        /// The length of the reply head.
        head_len: usize,
    },
}

/// Parses a `CONNECT` reply head from the start of `buf` (RFC 9110 §9.3.6: any 2xx opens the
/// tunnel; 407 asks for proxy credentials, RFC 9110 §15.5.8).
///
/// # Errors
/// [`ProxyError::AuthenticationRequired`] for 407, [`ProxyError::Refused`] with the status for any
/// other non-2xx, [`ProxyError::Malformed`] for a head that is not HTTP/1.x,
/// [`ProxyError::HeadTooLarge`] past [`MAX_REPLY_HEAD`] bytes without an end.
pub fn parse_reply(buf: &[u8]) -> Result<Reply, ProxyError> {
    let limits = Limits::DEFAULT.with_max_head_size(MAX_REPLY_HEAD);
    match parse_response(buf, &limits) {
        Ok(Status::Partial) if buf.len() >= MAX_REPLY_HEAD => Err(ProxyError::HeadTooLarge),
        Ok(Status::Partial) => Ok(Reply::Partial),
        Ok(Status::Complete((r, _))) if r.version().0 != 1 => Err(ProxyError::Malformed(
            "the reply is not an HTTP/1.x response head",
        )),
        Ok(Status::Complete((response, head_len))) => match u16::from(response.status()) {
            200..=299 => Ok(Reply::Tunnel { head_len }),
            407 => Err(ProxyError::AuthenticationRequired),
            status => Err(ProxyError::Refused { status }),
        },
        Err(
            zerows_upgrade::Error::HeadTooLarge
            | zerows_upgrade::Error::HeaderLineTooLong
            | zerows_upgrade::Error::TooManyHeaders,
        ) => Err(ProxyError::HeadTooLarge),
        Err(_) => Err(ProxyError::Malformed(
            "the reply is not an HTTP/1.x response head",
        )),
    }
}

/// The client side of a `CONNECT` tunnel to `host:port`, optionally with `Basic` credentials
/// (RFC 7617) in `Proxy-Authorization`. Holds one buffer of [`MAX_REPLY_HEAD`] bytes, first for
/// the request, then for the reply.
pub struct Connect {
    buf: Box<[u8; MAX_REPLY_HEAD]>,
    /// Writing: the request's length and how much of it went out.
    request: usize,
    sent: usize,
    /// Reading: bytes of the reply received.
    filled: usize,
    done: bool,
}

impl Connect {
    /// The request for a tunnel to `host:port`.
    ///
    /// # Errors
    /// [`ProxyError::Malformed`] when the request does not fit (a user name and password of
    /// several kilobytes).
    pub fn new(
        host: Host<'_>,
        port: u16,
        credentials: Option<(&str, &str)>,
    ) -> Result<Connect, ProxyError> {
        use base64::Engine;
        use std::io::Write;
        let mut buf = Box::new([0u8; MAX_REPLY_HEAD]);
        let mut out = &mut buf[..];
        // The request target is the authority form (RFC 9112 §3.2.3), also sent as `Host`.
        let mut write = || -> std::io::Result<()> {
            write!(
                out,
                "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            )?;
            if let Some((user, password)) = credentials {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                write!(out, "Proxy-Authorization: Basic {token}\r\n")?;
            }
            out.write_all(b"\r\n")
        };
        write().map_err(|_| ProxyError::Malformed("the CONNECT request is over 8 KiB"))?;
        let request = MAX_REPLY_HEAD - out.len();
        Ok(Connect {
            buf,
            request,
            sent: 0,
            filled: 0,
            done: false,
        })
    }
}

impl Exchange for Connect {
    fn output(&self) -> &[u8] {
        &self.buf[self.sent..self.request]
    }

    fn advance(&mut self, n: usize) {
        self.sent += n;
    }

    fn read_target(&mut self) -> Option<&mut [u8]> {
        if self.sent < self.request || self.done {
            return None;
        }
        if self.filled == 0 && self.request > 0 {
            // the request went out: the buffer now holds the reply
            self.request = 0;
            self.sent = 0;
        }
        Some(&mut self.buf[self.filled..])
    }

    fn handle_read(&mut self, n: usize) -> Result<(), ProxyError> {
        if n == 0 {
            return Err(ProxyError::Closed);
        }
        self.filled += n;
        match parse_reply(&self.buf[..self.filled])? {
            Reply::Partial => Ok(()),
            // The client speaks first through the tunnel (TLS, then the WebSocket request): a
            // proxy that sends more than its head has broken the tunnel.
            Reply::Tunnel { head_len } if head_len < self.filled => {
                Err(ProxyError::Malformed("data after the CONNECT reply"))
            }
            Reply::Tunnel { .. } => {
                self.done = true;
                Ok(())
            }
        }
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(c: &Connect) -> String {
        String::from_utf8(c.output().to_vec()).unwrap()
    }

    #[test]
    fn the_request_names_the_authority_and_carries_basic_credentials() {
        let c = Connect::new(
            Host::Name("example.com"),
            443,
            Some(("Aladdin", "open sesame")),
        )
        .unwrap();
        assert_eq!(
            request(&c),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        let c = Connect::new(Host::Ip("::1".parse().unwrap()), 9001, None).unwrap();
        assert_eq!(
            request(&c),
            "CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\r\n"
        );
    }

    fn run(reply: &[&[u8]]) -> Result<bool, ProxyError> {
        let mut c = Connect::new(Host::Name("h"), 1, None).unwrap();
        let n = c.output().len();
        c.advance(n);
        for piece in reply {
            let target = c.read_target().unwrap();
            target[..piece.len()].copy_from_slice(piece);
            c.handle_read(piece.len())?;
        }
        Ok(c.is_done())
    }

    #[test]
    fn a_2xx_opens_the_tunnel_even_in_pieces() {
        assert_eq!(
            run(&[b"HTTP/1.0 200 Connection established\r\n\r\n"]),
            Ok(true)
        );
        assert_eq!(
            run(&[b"HTTP/1.1 2", b"04 x\r\nVia: p\r", b"\n\r\n"]),
            Ok(true)
        );
        assert_eq!(run(&[b"HTTP/1.1 200 OK\r\n"]), Ok(false));
    }

    #[test]
    fn refusals_name_the_reason() {
        assert_eq!(
            run(&[b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"]),
            Err(ProxyError::AuthenticationRequired)
        );
        assert_eq!(
            run(&[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"]),
            Err(ProxyError::Refused { status: 403 })
        );
        assert!(run(&[b"SSH-2.0-OpenSSH\r\n\r\n"]).is_err());
        // fuzz finding (net_proxy_reply-http-2-tunnel): only HTTP/1.x opens a tunnel
        assert!(matches!(
            run(&[b"HTTP/2.0 200 OK\r\n\r\n"]),
            Err(ProxyError::Malformed(_))
        ));
        assert_eq!(
            run(&[b"HTTP/1.1 200 OK\r\n\r\nextra"]),
            Err(ProxyError::Malformed("data after the CONNECT reply"))
        );
    }

    #[test]
    fn a_closed_proxy_is_an_error() {
        let mut c = Connect::new(Host::Name("h"), 1, None).unwrap();
        let n = c.output().len();
        c.advance(n);
        assert!(c.read_target().is_some());
        assert_eq!(c.handle_read(0), Err(ProxyError::Closed));
    }

    #[test]
    fn an_endless_header_stops_at_8_kib() {
        let mut c = Connect::new(Host::Name("h"), 1, None).unwrap();
        let n = c.output().len();
        c.advance(n);
        let mut result = Ok(());
        let mut first = true;
        while result.is_ok() {
            let Some(target) = c.read_target() else { break };
            let piece: &[u8] = if first {
                b"HTTP/1.1 200 OK\r\n"
            } else {
                b"X-Filler: aaaaaaaaaa\r\n"
            };
            first = false;
            let k = piece.len().min(target.len());
            target[..k].copy_from_slice(&piece[..k]);
            result = c.handle_read(k);
        }
        assert_eq!(result, Err(ProxyError::HeadTooLarge));
    }
}
