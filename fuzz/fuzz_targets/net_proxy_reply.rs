//! A proxy's reply, arbitrary bytes, to the HTTP `CONNECT` exchange (`zerows_net::proxy::http`)
//! and to the SOCKS5 exchange (`zerows_net::proxy::socks5`, without and with credentials), read
//! in chosen sizes while the exchange's output is written away in chosen sizes; and
//! `http::parse_reply` on the reply whole and on its prefixes.
//!
//! Input layout:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bits 0–1 the tunnel's target (`example.com`, `192.0.2.7`, `[2001:db8::7]`, a 255-byte name); bit 2 `CONNECT` with `Basic` credentials; bit 3 SOCKS5 credentials of 255 bytes each (else `alice`/`s3cret`) |
//! | 1–2 | the target's port, u16 LE |
//! | 3 | write size (0: the whole output at once) |
//! | 4 | `n`, the number of read sizes |
//! | 5..5+n | read sizes, cycled (0: as much as the read target takes) |
//! | rest | the proxy's reply |
//!
//! Invariants, for every exchange: no panic; ends (done or an error) within a bounded number of
//! steps; never an empty read target, never a read target while output is pending or once done;
//! a read of 0 bytes (the proxy closed) is `Closed`.
//!
//! `CONNECT`: it sends exactly the request (`CONNECT host:port HTTP/1.1`, `Host`, the RFC 7617
//! `Proxy-Authorization` when it has credentials); the end is what `parse_reply` says of the
//! whole reply: the same error; `Closed` after the whole reply when the head is incomplete; for a
//! 2xx head of `h` bytes, done having read exactly `h` bytes or, when a read brought bytes past
//! the head, `Malformed`. `parse_reply` on any prefix is `Partial` or the whole's verdict, on the
//! head exactly the whole's `Tunnel`, one byte less `Partial`; a `Tunnel`, 407 or refusal has an
//! `HTTP/1.x` status line (`shared/naive_proxy.rs`) with that status.
//!
//! SOCKS5: the messages it sends, the bytes it reads and the end are those of the RFC 1928/1929
//! client in `shared/naive_proxy.rs` (no zerows-net code): when the tunnel opens, it has read
//! exactly the method reply, the authentication reply and the `CONNECT` reply as long as its own
//! address type and length byte say (RFC 1928 §6), not a byte of the tunnel.
#![no_main]

#[path = "shared/naive_proxy.rs"]
mod naive;

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use naive::{End, Target};
use zerows_net::proxy::http::{Connect, MAX_REPLY_HEAD, Reply, parse_reply};
use zerows_net::proxy::socks5::Socks5;
use zerows_net::proxy::{Exchange, ProxyError};
use zerows_net::url::Host;

const LONG: &str = concat!(
    "a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789",
    "i123456789j123456789k123456789l123456789m123456789n123456789o123456789p123456789",
    "q123456789r123456789s123456789t123456789u123456789v123456789w123456789x123456789",
    "y12345678901234",
);
const _: () = assert!(LONG.len() == 255);

/// How an exchange ended.
#[derive(Debug)]
struct Run {
    /// What it wrote, one entry per run of writes between reads.
    sent: Vec<Vec<u8>>,
    /// Bytes of the reply read, and the total after each read.
    read: usize,
    marks: Vec<usize>,
    /// `Ok`: done.
    end: Result<(), ProxyError>,
}

fn drive(ex: &mut dyn Exchange, reply: &[u8], sizes: &[u8], write: u8) -> Run {
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut writing = false;
    let (mut read, mut marks, mut k) = (0, Vec::new(), 0);
    // every step writes or reads at least one byte, and the requests are below 8 KiB
    let limit = reply.len() + 2 * MAX_REPLY_HEAD;
    for _ in 0..limit {
        let out = ex.output();
        if !out.is_empty() {
            assert!(!ex.is_done(), "done with output pending");
            let n = match write {
                0 => out.len(),
                w => out.len().min(usize::from(w)),
            };
            if !writing {
                sent.push(Vec::new());
                writing = true;
            }
            sent.last_mut().unwrap().extend_from_slice(&out[..n]);
            ex.advance(n);
            assert!(
                ex.read_target().is_none() || ex.output().is_empty(),
                "reads while writing"
            );
            continue;
        }
        writing = false;
        if ex.is_done() {
            assert!(ex.read_target().is_none(), "done, yet wants to read");
            return Run {
                sent,
                read,
                marks,
                end: Ok(()),
            };
        }
        let Some(t) = ex.read_target() else {
            panic!("not done, nothing to write, nothing to read (after {read} bytes)");
        };
        assert!(!t.is_empty(), "an empty read target after {read} bytes");
        let cap = match sizes.get(k % sizes.len().max(1)) {
            None | Some(0) => usize::MAX,
            Some(&s) => usize::from(s),
        };
        k += 1;
        let n = t.len().min(cap).min(reply.len() - read);
        t[..n].copy_from_slice(&reply[read..read + n]);
        read += n;
        marks.push(read);
        match ex.handle_read(n) {
            Err(e) => {
                if n == 0 {
                    assert_eq!(e, ProxyError::Closed);
                }
                return Run {
                    sent,
                    read,
                    marks,
                    end: Err(e),
                };
            }
            Ok(()) => assert_ne!(n, 0, "the proxy closed and the exchange goes on"),
        }
    }
    panic!("no end after {limit} steps");
}

/// Prefix lengths to check: all for short replies, else the read marks, both sides of each line
/// end, around the 8 KiB limit and the last few.
fn cuts(reply: &[u8], marks: &[usize]) -> Vec<usize> {
    let len = reply.len();
    if len <= 300 {
        return (0..=len).collect();
    }
    let mut v: Vec<usize> = marks.to_vec();
    for (i, &b) in reply.iter().enumerate().take(MAX_REPLY_HEAD + 2) {
        if b == b'\n' {
            v.extend([i, i + 1]);
        }
    }
    v.extend([0, 1, MAX_REPLY_HEAD - 1, MAX_REPLY_HEAD, MAX_REPLY_HEAD + 1]);
    v.extend(len.saturating_sub(3)..=len);
    v.retain(|&c| c <= len);
    v
}

fn http(
    reply: &[u8],
    host: Host<'_>,
    host_text: &str,
    port: u16,
    creds: bool,
    sizes: &[u8],
    write: u8,
) {
    let whole = parse_reply(reply);

    // the status line, read naively
    let status = match whole {
        Ok(Reply::Tunnel { .. }) => Some(None),
        Err(ProxyError::AuthenticationRequired) => Some(Some(407)),
        Err(ProxyError::Refused { status }) => Some(Some(status)),
        _ => None,
    };
    if let Some(want) = status {
        let Some(((major, _), got)) = naive::status_line(reply) else {
            panic!("{whole:?} without a status line: {reply:02x?}");
        };
        assert_eq!(major, 1, "{whole:?} from HTTP/{major}.x");
        match want {
            None => assert!((200..=299).contains(&got), "a tunnel for {got}"),
            Some(s) => assert_eq!(s, got),
        }
    }
    if let Ok(Reply::Tunnel { head_len }) = whole {
        assert!(head_len <= reply.len() && head_len <= MAX_REPLY_HEAD);
        let head = &reply[..head_len];
        assert!(head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"));
        assert_eq!(parse_reply(head), whole);
        assert_eq!(parse_reply(&head[..head_len - 1]), Ok(Reply::Partial));
    }

    let credentials = creds.then_some(("Aladdin", "open sesame"));
    let mut c = Connect::new(host, port, credentials).expect("a request that fits");
    let run = drive(&mut c, reply, sizes, write);

    // what it sent
    let mut req = format!("CONNECT {host_text}:{port} HTTP/1.1\r\nHost: {host_text}:{port}\r\n");
    if creds {
        // RFC 7617 §2's example
        req += "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n";
    }
    req += "\r\n";
    assert_eq!(run.sent, [req.into_bytes()]);

    // whole = in pieces
    for c in cuts(reply, &run.marks) {
        let p = parse_reply(&reply[..c]);
        assert!(
            p == Ok(Reply::Partial) || p == whole,
            "prefix {c}: {p:?}, whole {whole:?}"
        );
    }
    let (last, before) = match run.marks[..] {
        [.., b, l] => (l, b),
        [l] => (l, 0),
        [] => unreachable!("a CONNECT exchange reads"),
    };
    assert_eq!(last, run.read);
    assert_eq!(parse_reply(&reply[..before]), Ok(Reply::Partial));
    match (whole, run.end) {
        (Ok(Reply::Tunnel { head_len }), Ok(())) => assert_eq!(run.read, head_len),
        (Ok(Reply::Tunnel { head_len }), Err(ProxyError::Malformed(_))) => {
            assert!(
                before < head_len && head_len < run.read,
                "{head_len} in {before}..{}",
                run.read
            )
        }
        (Ok(Reply::Partial), Err(ProxyError::Closed)) => assert_eq!(run.read, reply.len()),
        (Err(e), Err(f)) => {
            assert_eq!(e, f, "whole vs the exchange");
            assert_eq!(parse_reply(&reply[..run.read]), Err(f), "fail fast");
        }
        (w, r) => panic!(
            "parse_reply {w:?}, the exchange {r:?} after {} bytes",
            run.read
        ),
    }
}

fn socks5(
    reply: &[u8],
    host: Host<'_>,
    target: Target<'_>,
    port: u16,
    creds: Option<(&str, &str)>,
    sizes: &[u8],
    write: u8,
) {
    let mut s = Socks5::new(host, port, creds).expect("a valid target");
    let run = drive(&mut s, reply, sizes, write);
    let play = naive::socks5(
        reply,
        target,
        port,
        creds.map(|(u, p)| (u.as_bytes(), p.as_bytes())),
    );
    assert_eq!(run.sent, play.sent, "what it sent; reply {reply:02x?}");
    assert_eq!(
        run.read, play.read,
        "bytes read, {play:?}; reply {reply:02x?}"
    );
    match (run.end, play.end) {
        (Ok(()), End::Open)
        | (Err(ProxyError::Closed), End::Closed)
        | (Err(ProxyError::AuthenticationRequired), End::AuthRequired)
        | (Err(ProxyError::AuthenticationFailed), End::AuthFailed)
        | (Err(ProxyError::Malformed(_)), End::Malformed) => {}
        (Err(ProxyError::SocksRefused { code }), End::Refused(c)) if code == c => {}
        (r, m) => panic!("the exchange {r:?}, the model {m:?}; reply {reply:02x?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, p0, p1, write, n, rest @ ..] = data else {
        return;
    };
    let Some((sizes, reply)) = rest.split_at_checked(usize::from(*n)) else {
        return;
    };
    let port = u16::from_le_bytes([*p0, *p1]);
    let v4 = Ipv4Addr::new(192, 0, 2, 7);
    let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
    let (host, target, text) = match flags & 3 {
        0 => (
            Host::Name("example.com"),
            Target::Name(b"example.com"),
            "example.com",
        ),
        1 => (Host::Ip(v4.into()), Target::V4(v4.octets()), "192.0.2.7"),
        2 => (
            Host::Ip(v6.into()),
            Target::V6(v6.octets()),
            "[2001:db8::7]",
        ),
        _ => (Host::Name(LONG), Target::Name(LONG.as_bytes()), LONG),
    };
    http(reply, host, text, port, flags & 4 != 0, sizes, *write);
    socks5(reply, host, target, port, None, sizes, *write);
    let creds = if flags & 8 != 0 {
        (&LONG[..255], &LONG[..255])
    } else {
        ("alice", "s3cret")
    };
    socks5(reply, host, target, port, Some(creds), sizes, *write);
});
