//! `zerows_upgrade::parse_request` on a request head fed whole and in arbitrary reads, then the
//! whole server handshake (`server::Upgrader::upgrade`) on the same bytes.
//!
//! Input layout (read with `arbitrary`, fixed-size fields first; see `fuzz/seeds.py`):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bit 0 use the limits below (else `Limits::DEFAULT`), bit 1 use `out` as the response buffer size (else 4096) |
//! | 1–2, 3, 4–5 | `max_head_size` (u16 LE), `max_headers`, `max_line_length` (u16 LE) |
//! | 6–7 | `out`: response buffer size (u16 LE, taken modulo 2048) |
//! | 8 | `n`, the number of split sizes |
//! | 9..9+n | split sizes (0 = a read that returned nothing); after them, the rest in one read |
//! | rest | the bytes a client sent |
//!
//! Invariants: consumed ≤ len and ≤ `max_head_size`; every prefix of a complete head is `Partial`,
//! every prefix of an invalid one is `Partial` or the same error (all prefixes of heads up to 200
//! bytes, else the split points, both sides of every LF and the last four); fed incrementally (the
//! buffer growing by the split sizes) the parser reaches the same result as on the whole input;
//! header iteration never panics, yields `header_count()` ≤ `max_headers` fields with token names
//! and trimmed, CR/LF-free values, and `header()` finds the first of a name. `Upgrader::upgrade`
//! never panics, is `Partial` exactly when the parser is, consumes the head, writes at most
//! `out.len()` bytes, and what it writes is an `HTTP/1.1 ddd ` response that `parse_response` reads
//! back whole, with the status of the error; it answers `101` exactly when an independent model of
//! RFC 6455 §4.2.1 (`model`, with its own base64 key check) says the request is a valid upgrade,
//! and otherwise with the error the model predicts; the `101` carries the accept value for the
//! request's key, computed independently (`shared/naive_accept.rs`: RustCrypto's `sha1` and a
//! base64 encoder written out there, where zerows-upgrade uses `sha1_smol` and the `base64`
//! crate), and
//! `AcceptKey::from_key` gives the same value.
#![no_main]

#[path = "shared/naive_accept.rs"]
mod naive_accept;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use zerows_upgrade::server::Upgrader;
use zerows_upgrade::{
    AcceptKey, Error, Limits, Request, Status, StatusCode, is_valid_key, parse_request,
    parse_response,
};

#[derive(Arbitrary, Debug)]
struct Knobs {
    flags: u8,
    max_head: u16,
    max_headers: u8,
    max_line: u16,
    out: u16,
    n_splits: u8,
}

/// A parse result with the request copied out, comparable across runs.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Partial,
    Complete {
        len: usize,
        method: String,
        target: String,
        version: (u8, u8),
        headers: Vec<(String, Vec<u8>)>,
    },
    Err(Error),
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

fn trim(s: &[u8]) -> &[u8] {
    let s = &s[s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len())..];
    &s[..s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1)]
}

/// The non-empty, trimmed elements of a comma-separated list (RFC 9110 §5.6.1).
fn elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

/// Base64 of exactly 16 bytes, canonical: 22 alphabet characters, the last with its 4 low bits
/// zero, then `==` (RFC 6455 §4.2.1 item 5, RFC 4648 §4).
fn naive_valid_key(k: &[u8]) -> bool {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    k.len() == 24
        && k[22..] == *b"=="
        && k[..22].iter().all(|b| A.contains(b))
        && A.iter().position(|&a| a == k[21]).unwrap() & 0xF == 0
}

fn outcome(r: Result<Status<(Request<'_>, usize)>, Error>, buf: &[u8], l: &Limits) -> Outcome {
    match r {
        Err(e) => Outcome::Err(e),
        Ok(Status::Partial) => Outcome::Partial,
        Ok(Status::Complete((req, n))) => {
            assert!(n <= buf.len(), "consumed {n} of {}", buf.len());
            assert!(n <= l.max_head_size, "head {n} over the limit");
            assert!(buf[..n].ends_with(b"\n\n") || buf[..n].ends_with(b"\n\r\n"));
            assert!(req.method().bytes().all(is_tchar) && !req.method().is_empty());
            assert!(!req.target().is_empty() && req.target().len() <= l.max_line_length);
            assert!(req.target().bytes().all(|b| b > 0x20 && b < 0x7f));
            assert!(req.target().contains(req.path()) || req.path() == "/");
            // syntax only: any HTTP/d.d parses, negotiation answers 505 for all but 1.1+
            let (major, minor) = req.version();
            assert!(major <= 9 && minor <= 9);
            let headers: Vec<_> = req
                .headers()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect();
            assert_eq!(headers.len(), req.header_count());
            assert!(headers.len() <= l.max_headers);
            for (name, value) in &headers {
                assert!(is_token(name.as_bytes()), "header name {name:?}");
                assert_eq!(trim(value), &value[..], "untrimmed value");
                assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
                let first = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
                assert_eq!(req.header(name), first.map(|(_, v)| &v[..]));
                assert!(buf[..n].windows(name.len()).any(|w| w == name.as_bytes()));
            }
            Outcome::Complete {
                len: n,
                method: req.method().to_owned(),
                target: req.target().to_owned(),
                version: req.version(),
                headers,
            }
        }
    }
}

/// What `Upgrader::new()` (no hooks) must answer, from RFC 6455 §4.2.1 and RFC 9112 §3.2, in the
/// order the checks are documented: the key on success.
fn model<'a>(
    method: &str,
    version: (u8, u8),
    headers: &'a [(String, Vec<u8>)],
) -> Result<&'a [u8], Error> {
    if method != "GET" {
        return Err(Error::MethodNotAllowed);
    }
    if version.0 != 1 || version.1 < 1 {
        return Err(Error::UnsupportedHttpVersion);
    }
    let (mut host, mut upgrade, mut connection) = (0, false, false);
    let (mut keys, mut versions) = (Vec::new(), Vec::new());
    for (name, value) in headers {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("host") {
            host += 1;
            if host > 1 {
                return Err(Error::DuplicateHost);
            }
        } else if is("upgrade") {
            upgrade |= elements(value).any(|e| e.eq_ignore_ascii_case(b"websocket"));
        } else if is("connection") {
            connection |= elements(value).any(|e| e.eq_ignore_ascii_case(b"upgrade"));
        } else if is("sec-websocket-key") {
            keys.push(&value[..]);
        } else if is("sec-websocket-version") {
            versions.push(&value[..]);
        } else if is("sec-websocket-protocol") {
            if !elements(value).all(is_token) {
                return Err(Error::InvalidProtocol);
            }
        } else if is("sec-websocket-extensions")
            && !zerows_upgrade::extensions::parse(value).all(|e| e.is_ok())
        {
            return Err(Error::InvalidExtensions);
        }
    }
    if host == 0 {
        return Err(Error::MissingHost);
    }
    if !upgrade {
        return Err(Error::MissingUpgrade);
    }
    if !connection {
        return Err(Error::MissingConnection);
    }
    if versions != [b"13"] {
        return Err(Error::UnsupportedVersion);
    }
    match keys[..] {
        [] => Err(Error::MissingKey),
        [k] if naive_valid_key(k) => Ok(k),
        _ => Err(Error::InvalidKey),
    }
}

fn status_of(resp: &[u8]) -> u16 {
    assert!(
        resp.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(resp)
    );
    let d = &resp[9..12];
    assert!(d.iter().all(u8::is_ascii_digit) && resp[12] == b' ');
    d.iter().fold(0, |n, &b| n * 10 + u16::from(b - b'0'))
}

/// Prefix lengths to check, all below `end`: every one for short heads; else the split points,
/// both sides of every line end, the middle and the last four.
fn cuts(buf: &[u8], end: usize, sizes: &[u8]) -> Vec<usize> {
    if end <= 200 {
        return (0..end).collect();
    }
    let mut at = 0usize;
    let mut v: Vec<usize> = sizes
        .iter()
        .map(|&s| {
            at += usize::from(s);
            at
        })
        .collect();
    for (i, &b) in buf[..end].iter().enumerate() {
        if b == b'\n' {
            v.extend([i, i + 1]);
        }
    }
    v.extend((end.saturating_sub(4)..end).chain([0, 1, end / 2]));
    v.retain(|&c| c < end);
    v
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(k) = Knobs::arbitrary(&mut u) else {
        return;
    };
    let Ok(sizes) = u.bytes(usize::from(k.n_splits)) else {
        return;
    };
    let buf = u.take_rest();
    let limits = if k.flags & 1 != 0 {
        Limits::new()
            .with_max_head_size(usize::from(k.max_head))
            .with_max_headers(usize::from(k.max_headers))
            .with_max_line_length(usize::from(k.max_line))
    } else {
        Limits::DEFAULT
    };

    // whole
    let whole = outcome(parse_request(buf, &limits), buf, &limits);

    // prefixes: every prefix of a complete head is Partial; of an invalid one, Partial or the
    // same error (see `cuts`).
    let end = match &whole {
        Outcome::Complete { len, .. } => *len,
        _ => buf.len(),
    };
    let cuts = cuts(buf, end, sizes);
    for c in cuts {
        let p = outcome(parse_request(&buf[..c], &limits), &buf[..c], &limits);
        match (&whole, &p) {
            (_, Outcome::Partial) => {}
            (Outcome::Err(e), Outcome::Err(f)) if e == f => {}
            _ => panic!("prefix {c} of {end}: {p:?}, whole: {whole:?}"),
        }
    }

    // fed incrementally, as an I/O layer would: parse after every read until not Partial
    let mut reads = sizes.iter().map(|&s| usize::from(s));
    let mut fed = 0usize;
    let incremental = loop {
        fed = fed
            .saturating_add(reads.next().unwrap_or(usize::MAX))
            .min(buf.len());
        let r = outcome(parse_request(&buf[..fed], &limits), &buf[..fed], &limits);
        if r != Outcome::Partial || fed == buf.len() {
            break r;
        }
    };
    assert_eq!(whole, incremental, "whole and incremental differ");

    // the whole server handshake on the same bytes
    let mut out = vec![
        0u8;
        if k.flags & 2 != 0 {
            usize::from(k.out) % 2048
        } else {
            4096
        }
    ];
    let mut upgrader = Upgrader::new().with_limits(limits);
    let up = match upgrader.upgrade(buf, &mut out) {
        Status::Partial => {
            assert_eq!(whole, Outcome::Partial, "upgrade Partial, parser not");
            return;
        }
        Status::Complete(up) => up,
    };
    assert!(up.written <= out.len());
    let expected = match &whole {
        Outcome::Partial => panic!("upgrade complete, parser Partial"),
        Outcome::Err(e) => {
            assert_eq!(up.consumed, 0);
            Err(*e)
        }
        Outcome::Complete {
            len,
            method,
            version,
            headers,
            ..
        } => {
            assert_eq!(up.consumed, *len);
            model(method, *version, headers)
        }
    };
    let resp = &out[..up.written];
    match (&up.result, expected) {
        (Ok(a), Ok(key)) => {
            assert!(is_valid_key(key));
            assert_eq!(status_of(resp), 101);
            let want = naive_accept::accept(key);
            assert_eq!(&a.accept_key().as_bytes()[..], want.as_bytes());
            assert_eq!(a.accept_key(), &AcceptKey::from_key(key));
            let Ok(Status::Complete((r, n))) = parse_response(resp, &Limits::DEFAULT) else {
                panic!("101 does not parse: {:?}", String::from_utf8_lossy(resp));
            };
            assert_eq!(n, resp.len());
            assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
            assert_eq!(r.header("sec-websocket-accept"), Some(want.as_bytes()));
            assert!(r.header("sec-websocket-protocol").is_none());
            assert!(r.header("sec-websocket-extensions").is_none());
        }
        (Err(Error::InsufficientSize { required }), _) => {
            assert_eq!(up.written, 0);
            assert!(*required > out.len());
        }
        (Err(e), Err(m)) => {
            assert_eq!(*e, m, "upgrade error vs model");
            let status = status_of(resp);
            assert_ne!(status, 101, "101 for an invalid request");
            assert_eq!(status, e.status().as_u16());
            let Ok(Status::Complete((r, n))) = parse_response(resp, &Limits::DEFAULT) else {
                panic!(
                    "rejection does not parse: {:?}",
                    String::from_utf8_lossy(resp)
                );
            };
            let body = &resp[n..];
            let cl = r.header("content-length").expect("content-length");
            assert_eq!(cl, body.len().to_string().as_bytes());
            assert_eq!(body, e.as_str().as_bytes());
            assert!(
                r.header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"close"))
            );
        }
        (r, m) => panic!("upgrade {r:?}, model {m:?}"),
    }
});
