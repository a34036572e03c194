//! A SOCKS5 `CONNECT` (RFC 1928) with optional username/password authentication (RFC 1929), as
//! sans-IO steps. Reads exactly the bytes each reply has, so nothing of the tunnel is consumed.

use std::net::IpAddr;

use super::{Exchange, ProxyError};
use crate::url::Host;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_NAME: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// The largest message either side sends: the RFC 1929 request (3 + 255 + 255 bytes).
const BUF: usize = 3 + 255 + 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Method selection (RFC 1928 §3): 2 bytes back.
    Greeting,
    /// Username/password (RFC 1929 §2): 2 bytes back.
    Auth,
    /// The CONNECT request (RFC 1928 §4); the reply's first 5 bytes tell its length (§6).
    Request,
    Done,
}

/// The client side of a SOCKS5 tunnel to `host:port`. A [`Host::Name`] is sent for the proxy
/// to resolve (`socks5h://`); an IP literal as an address.
pub struct Socks5 {
    buf: [u8; BUF],
    phase: Phase,
    out: usize,
    sent: usize,
    /// Bytes of the current reply received, and how many it has.
    filled: usize,
    need: usize,
    /// The CONNECT request, built up front (the buffer is reused for the replies).
    request: [u8; 4 + 1 + 255 + 2],
    request_len: usize,
    credentials: Option<([u8; 255], u8, [u8; 255], u8)>,
}

impl Socks5 {
    /// The greeting for a tunnel to `host:port`, offering username/password when `credentials`
    /// are given and no authentication otherwise.
    ///
    /// # Errors
    /// [`ProxyError::Malformed`] for a name, user name or password over 255 bytes (RFC 1928 §5,
    /// RFC 1929 §2 limit each to one length byte) or empty.
    pub fn new(
        host: Host<'_>,
        port: u16,
        credentials: Option<(&str, &str)>,
    ) -> Result<Socks5, ProxyError> {
        let mut request = [0u8; 4 + 1 + 255 + 2];
        request[..3].copy_from_slice(&[VERSION, CMD_CONNECT, 0]);
        let mut len = 3;
        match host {
            Host::Ip(IpAddr::V4(a)) => {
                request[3] = ATYP_V4;
                request[4..8].copy_from_slice(&a.octets());
                len = 8;
            }
            Host::Ip(IpAddr::V6(a)) => {
                request[3] = ATYP_V6;
                request[4..20].copy_from_slice(&a.octets());
                len = 20;
            }
            Host::Name(name) => {
                let n = u8::try_from(name.len()).ok().filter(|&n| n > 0).ok_or(
                    ProxyError::Malformed("a SOCKS5 host name is 1 to 255 bytes"),
                )?;
                request[3] = ATYP_NAME;
                request[4] = n;
                request[5..5 + name.len()].copy_from_slice(name.as_bytes());
                len += 2 + name.len();
            }
        }
        request[len..len + 2].copy_from_slice(&port.to_be_bytes());
        let request_len = len + 2;

        let credentials = match credentials {
            None => None,
            Some((user, password)) => {
                let fit = |s: &str| {
                    u8::try_from(s.len())
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or(ProxyError::Malformed(
                            "a SOCKS5 user name or password is 1 to 255 bytes",
                        ))
                };
                let (ul, pl) = (fit(user)?, fit(password)?);
                let mut u = [0u8; 255];
                let mut p = [0u8; 255];
                u[..user.len()].copy_from_slice(user.as_bytes());
                p[..password.len()].copy_from_slice(password.as_bytes());
                Some((u, ul, p, pl))
            }
        };
        let mut s = Socks5 {
            buf: [0; BUF],
            phase: Phase::Greeting,
            out: 0,
            sent: 0,
            filled: 0,
            need: 2,
            request,
            request_len,
            credentials,
        };
        let greeting: &[u8] = if s.credentials.is_some() {
            &[VERSION, 2, NO_AUTH, USER_PASS]
        } else {
            &[VERSION, 1, NO_AUTH]
        };
        s.send(greeting);
        Ok(s)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.buf[..bytes.len()].copy_from_slice(bytes);
        self.out = bytes.len();
        self.sent = 0;
        self.filled = 0;
    }

    fn send_request(&mut self) {
        let request = self.request;
        self.send(&request[..self.request_len]);
        self.phase = Phase::Request;
        self.need = 5;
    }

    /// A complete reply to the current phase is in `buf[..need]`.
    fn on_reply(&mut self) -> Result<(), ProxyError> {
        let r = &self.buf[..self.need];
        match self.phase {
            Phase::Greeting => {
                if r[0] != VERSION {
                    return Err(ProxyError::Malformed("not a SOCKS5 proxy"));
                }
                match (r[1], self.credentials) {
                    (NO_AUTH, _) => self.send_request(),
                    (USER_PASS, Some((u, ul, p, pl))) => {
                        let (ul, pl) = (usize::from(ul), usize::from(pl));
                        let mut msg = [0u8; BUF];
                        msg[0] = 1;
                        msg[1] = u8::try_from(ul).unwrap_or(0);
                        msg[2..2 + ul].copy_from_slice(&u[..ul]);
                        msg[2 + ul] = u8::try_from(pl).unwrap_or(0);
                        msg[3 + ul..3 + ul + pl].copy_from_slice(&p[..pl]);
                        self.send(&msg[..3 + ul + pl]);
                        self.phase = Phase::Auth;
                        self.need = 2;
                    }
                    (NO_ACCEPTABLE, None) => return Err(ProxyError::AuthenticationRequired),
                    (NO_ACCEPTABLE, Some(_)) => {
                        return Err(ProxyError::Malformed(
                            "the SOCKS5 proxy accepts none of our authentication methods",
                        ));
                    }
                    _ => {
                        return Err(ProxyError::Malformed(
                            "the SOCKS5 proxy chose a method we did not offer",
                        ));
                    }
                }
            }
            Phase::Auth => {
                // RFC 1929 §2: status 0 is success; any other fails, and the proxy closes.
                if r[1] != 0 {
                    return Err(ProxyError::AuthenticationFailed);
                }
                self.send_request();
            }
            Phase::Request => {
                if r[0] != VERSION {
                    return Err(ProxyError::Malformed("not a SOCKS5 reply"));
                }
                if r[1] != 0 {
                    return Err(ProxyError::SocksRefused { code: r[1] });
                }
                // RFC 1928 §6: VER REP RSV ATYP BND.ADDR BND.PORT
                let total = match r[3] {
                    ATYP_V4 => 4 + 4 + 2,
                    ATYP_V6 => 4 + 16 + 2,
                    ATYP_NAME => 4 + 1 + usize::from(r[4]) + 2,
                    _ => {
                        return Err(ProxyError::Malformed(
                            "unknown address type in a SOCKS5 reply",
                        ));
                    }
                };
                if self.need < total {
                    self.need = total;
                } else {
                    self.phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
        Ok(())
    }
}

impl Exchange for Socks5 {
    fn output(&self) -> &[u8] {
        &self.buf[self.sent..self.out]
    }

    fn advance(&mut self, n: usize) {
        self.sent += n;
        if self.sent >= self.out {
            self.out = 0;
            self.sent = 0;
        }
    }

    fn read_target(&mut self) -> Option<&mut [u8]> {
        if self.out > 0 || self.phase == Phase::Done {
            return None;
        }
        Some(&mut self.buf[self.filled..self.need])
    }

    fn handle_read(&mut self, n: usize) -> Result<(), ProxyError> {
        if n == 0 {
            return Err(ProxyError::Closed);
        }
        self.filled += n;
        if self.filled == self.need {
            self.on_reply()?;
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays `script`: (what we must have sent, what the proxy answers), a byte at a time.
    fn play(mut s: Socks5, script: &[(&[u8], &[u8])]) -> Result<Socks5, ProxyError> {
        for (expect, answer) in script {
            assert_eq!(s.output(), *expect);
            let n = s.output().len();
            s.advance(n);
            for &b in *answer {
                let t = s.read_target().expect("wants a read");
                assert!(!t.is_empty());
                t[0] = b;
                s.handle_read(1)?;
            }
        }
        Ok(s)
    }

    #[test]
    fn no_auth_connect_by_name_reads_exactly_the_reply() {
        let s = Socks5::new(Host::Name("example.com"), 443, None).unwrap();
        let mut s = play(
            s,
            &[
                (&[5, 1, 0], &[5, 0]),
                (
                    b"\x05\x01\x00\x03\x0bexample.com\x01\xbb",
                    &[5, 0, 0, 3, 4, b'p', b'r', b'o', b'x', 0x12, 0x34],
                ),
            ],
        )
        .unwrap();
        assert!(s.is_done());
        assert!(s.read_target().is_none());
    }

    #[test]
    fn username_password_then_connect_by_ipv6() {
        let s = Socks5::new(Host::Ip("::1".parse().unwrap()), 9001, Some(("u", "pw"))).unwrap();
        let mut v6 = vec![5, 1, 0, 4];
        v6.extend_from_slice(&[0; 15]);
        v6.extend_from_slice(&[1, 0x23, 0x29]);
        let s = play(
            s,
            &[
                (&[5, 2, 0, 2], &[5, 2]),
                (&[1, 1, b'u', 2, b'p', b'w'], &[1, 0]),
                (&v6, &[5, 0, 0, 1, 127, 0, 0, 1, 0, 80]),
            ],
        )
        .unwrap();
        assert!(s.is_done());
    }

    #[test]
    fn refusals_name_the_reason() {
        let s = || Socks5::new(Host::Name("h"), 1, Some(("u", "p"))).unwrap();
        assert_eq!(
            play(
                s(),
                &[(&[5, 2, 0, 2], &[5, 2]), (&[1, 1, b'u', 1, b'p'], &[1, 1])]
            )
            .err(),
            Some(ProxyError::AuthenticationFailed)
        );
        let anon = Socks5::new(Host::Name("h"), 1, None).unwrap();
        assert_eq!(
            play(anon, &[(&[5, 1, 0], &[5, 0xff])]).err(),
            Some(ProxyError::AuthenticationRequired)
        );
        assert_eq!(
            play(
                s(),
                &[
                    (&[5, 2, 0, 2], &[5, 0]),
                    (b"\x05\x01\x00\x03\x01h\x00\x01", &[5, 5, 0, 1, 0])
                ]
            )
            .err(),
            Some(ProxyError::SocksRefused { code: 5 })
        );
        assert!(play(s(), &[(&[5, 2, 0, 2], &[4, 0])]).is_err());
        assert!(play(s(), &[(&[5, 2, 0, 2], &[5, 1])]).is_err());
    }

    #[test]
    fn oversized_names_are_refused_up_front() {
        let long = "a".repeat(256);
        assert!(Socks5::new(Host::Name(&long), 1, None).is_err());
        assert!(Socks5::new(Host::Name("h"), 1, Some((&long, "p"))).is_err());
        assert!(Socks5::new(Host::Name("h"), 1, Some(("", "p"))).is_err());
    }
}
