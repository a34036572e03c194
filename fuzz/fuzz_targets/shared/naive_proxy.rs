//! The client's side of a SOCKS5 `CONNECT` (RFC 1928) with username/password authentication
//! (RFC 1929), played over a proxy's whole reply: what the client sends, where each of the
//! proxy's messages ends (the lengths the RFCs give, §6's reply length from its address type),
//! and how the exchange ends. And the status line of an HTTP/1 reply (RFC 9112 §4). Uses no code
//! from zerows-net.
//!
//! Where the RFCs leave a choice to the client, the one zerows-net documents is marked "zerows:".
#![allow(dead_code)]

/// Where the tunnel goes (RFC 1928 §4 `ATYP` and `DST.ADDR`).
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Name(&'a [u8]),
    V4([u8; 4]),
    V6([u8; 16]),
}

/// How the exchange ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The tunnel is open.
    Open,
    /// The reply stopped inside a message.
    Closed,
    /// The proxy wants credentials we do not have (method `X'FF'`, none offered).
    AuthRequired,
    /// RFC 1929 status other than 0.
    AuthFailed,
    /// RFC 1928 §6 `REP` other than 0.
    Refused(u8),
    /// Anything else that breaks the protocol.
    Malformed,
}

#[derive(Debug)]
pub struct Play {
    /// The messages the client sends, in order.
    pub sent: Vec<Vec<u8>>,
    pub end: End,
    /// The bytes of the reply the client reads: for `Open`, exactly the proxy's messages (not a
    /// byte of the tunnel); for `Closed`, all of it; otherwise up to the message that decides.
    pub read: usize,
}

/// RFC 1928 §6: `VER REP RSV ATYP BND.ADDR BND.PORT`, the address 4 bytes for `ATYP` 1, 16 for
/// 4, and a length byte and that many bytes for 3 (a name). `None` for another `ATYP`.
pub fn reply_len(atyp: u8, name_len: u8) -> Option<usize> {
    let addr = match atyp {
        1 => 4,
        3 => 1 + usize::from(name_len),
        4 => 16,
        _ => return None,
    };
    Some(1 + 1 + 1 + 1 + addr + 2)
}

/// The client's messages and the end for a proxy that sends `reply`.
pub fn socks5(reply: &[u8], target: Target<'_>, port: u16, creds: Option<(&[u8], &[u8])>) -> Play {
    let mut sent = Vec::new();
    let mut at = 0;
    macro_rules! take {
        ($n:expr) => {{
            let n = $n;
            if reply.len() < at + n {
                return Play {
                    sent,
                    end: End::Closed,
                    read: reply.len(),
                };
            }
            at += n;
            &reply[at - n..at]
        }};
    }
    macro_rules! end {
        ($e:expr) => {
            return Play {
                sent,
                end: $e,
                read: at,
            }
        };
    }
    // §3: VER NMETHODS METHODS; 0 = no authentication, 2 = username/password
    sent.push(if creds.is_some() {
        vec![5, 2, 0, 2]
    } else {
        vec![5, 1, 0]
    });
    // VER METHOD
    let m = take!(2);
    if m[0] != 5 {
        end!(End::Malformed);
    }
    match (m[1], creds) {
        (0, _) => {}
        (2, Some((user, password))) => {
            // RFC 1929 §2: VER(1) ULEN UNAME PLEN PASSWD
            let mut a = vec![1, user.len() as u8];
            a.extend_from_slice(user);
            a.push(password.len() as u8);
            a.extend_from_slice(password);
            sent.push(a);
            // VER STATUS; zerows: VER is not checked (RFC 1929 says 1)
            let s = take!(2);
            if s[1] != 0 {
                end!(End::AuthFailed);
            }
        }
        (0xff, None) => end!(End::AuthRequired),
        // zerows: X'FF' after offering credentials is `Malformed`, as is a method not offered
        _ => end!(End::Malformed),
    }
    // §4: VER CMD(1 = CONNECT) RSV ATYP DST.ADDR DST.PORT
    let mut req = vec![5, 1, 0];
    match target {
        Target::V4(a) => {
            req.push(1);
            req.extend_from_slice(&a);
        }
        Target::Name(n) => {
            req.push(3);
            req.push(n.len() as u8);
            req.extend_from_slice(n);
        }
        Target::V6(a) => {
            req.push(4);
            req.extend_from_slice(&a);
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    sent.push(req);
    // §6. zerows: judges the reply once it has its first five bytes (all a length needs); RSV
    // is not checked (RFC 1928 says X'00')
    let h = take!(5);
    let (ver, rep, atyp, first) = (h[0], h[1], h[3], h[4]);
    if ver != 5 {
        end!(End::Malformed);
    }
    if rep != 0 {
        end!(End::Refused(rep));
    }
    let Some(len) = reply_len(atyp, first) else {
        end!(End::Malformed);
    };
    let _ = take!(len - 5);
    end!(End::Open)
}

/// `HTTP/d.d SP ddd`: the version and status at the start of an HTTP/1 status line (RFC 9112
/// §4: `HTTP-version SP status-code SP [ reason-phrase ]`, the version `HTTP/` DIGIT `.` DIGIT).
pub fn status_line(reply: &[u8]) -> Option<((u8, u8), u16)> {
    let b = reply.get(..12)?;
    let d = |c: u8| c.is_ascii_digit().then(|| c - b'0');
    if &b[..5] != b"HTTP/" || b[6] != b'.' || b[8] != b' ' {
        return None;
    }
    let version = (d(b[5])?, d(b[7])?);
    let mut status = 0u16;
    for &c in &b[9..12] {
        status = status * 10 + u16::from(d(c)?);
    }
    Some((version, status))
}
