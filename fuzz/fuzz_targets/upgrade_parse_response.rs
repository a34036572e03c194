//! `zerows_upgrade::parse_response` and the client's check of the server's handshake
//! (`client::ClientRequest::parse_response`) on a response head fed whole and in arbitrary reads.
//!
//! The client request uses the RFC 6455 §1.3 sample key (`dGhlIHNhbXBsZSBub25jZQ==`), whose
//! accept value `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` the target knows as a constant.
//!
//! Input layout (read with `arbitrary`; see `fuzz/seeds.py`):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bit 0 offer subprotocols `chat`, `superchat`; bit 1 offer `permessage-deflate; client_max_window_bits`; bit 2 small limits (below) |
//! | 1–2, 3, 4–5 | `max_head_size` (u16 LE), `max_headers`, `max_line_length` (u16 LE) |
//! | 6 | `n`, the number of split sizes |
//! | 7..7+n | split sizes; after them, the rest in one read |
//! | rest | the bytes a server sent |
//!
//! Invariants: consumed ≤ len and ≤ `max_head_size`; every prefix (those `cuts` picks) of a
//! complete head is `Partial`, of an invalid one `Partial` or the same error; incremental = whole;
//! header iteration never panics and yields `header_count()` ≤ `max_headers` fields; the status is
//! three digits, 100–999. The client check is `Partial` exactly when the parser is, and `Ok` only
//! for an HTTP/1.1+ `101` with `Upgrade: websocket`, `Connection: upgrade`, exactly one
//! `Sec-WebSocket-Accept` equal to the constant, at most one offered subprotocol and only offered
//! extensions (an independent model, `model`); its error otherwise is the one the model predicts.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use zerows_upgrade::client::ClientRequest;
use zerows_upgrade::{Error, Key, Limits, Response, Status, StatusCode, parse_response};

const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const PROTOCOLS: &[&str] = &["chat", "superchat"];
const OFFER: &str = "permessage-deflate; client_max_window_bits";

#[derive(Arbitrary, Debug)]
struct Knobs {
    flags: u8,
    max_head: u16,
    max_headers: u8,
    max_line: u16,
    n_splits: u8,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Partial,
    Complete {
        len: usize,
        status: u16,
        version: (u8, u8),
        reason: Vec<u8>,
        headers: Vec<(String, Vec<u8>)>,
    },
    Err(Error),
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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

fn elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

fn outcome(r: Result<Status<(Response<'_>, usize)>, Error>, buf: &[u8], l: &Limits) -> Outcome {
    match r {
        Err(e) => Outcome::Err(e),
        Ok(Status::Partial) => Outcome::Partial,
        Ok(Status::Complete((resp, n))) => {
            assert!(n <= buf.len() && n <= l.max_head_size, "consumed {n}");
            assert!(buf[..n].ends_with(b"\n\n") || buf[..n].ends_with(b"\n\r\n"));
            let status = resp.status().as_u16();
            assert!((100..=999).contains(&status), "status {status}");
            assert!(buf.starts_with(b"HTTP/"));
            assert!(resp.version().0 <= 9 && resp.version().1 <= 9);
            let headers: Vec<_> = resp
                .headers()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect();
            assert_eq!(headers.len(), resp.header_count());
            assert!(headers.len() <= l.max_headers);
            for (name, value) in &headers {
                assert!(is_token(name.as_bytes()), "header name {name:?}");
                assert_eq!(trim(value), &value[..]);
                let first = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
                assert_eq!(resp.header(name), first.map(|(_, v)| &v[..]));
            }
            Outcome::Complete {
                len: n,
                status,
                version: resp.version(),
                reason: resp.reason().to_vec(),
                headers,
            }
        }
    }
}

/// RFC 6455 §4.1, the client's checks on the server's handshake, in the documented order.
fn model(
    status: u16,
    version: (u8, u8),
    headers: &[(String, Vec<u8>)],
    protocols: &[&str],
    offer: Option<&str>,
) -> Result<Option<String>, Error> {
    let values = |n: &'static str| {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, v)| &v[..])
    };
    if version.0 != 1 || version.1 < 1 {
        return Err(Error::InvalidResponseVersion);
    }
    if status != 101 {
        return Err(Error::UnexpectedStatus(StatusCode::new(status)));
    }
    let has = |n: &'static str, t: &[u8]| {
        values(n)
            .flat_map(elements)
            .any(|e| e.eq_ignore_ascii_case(t))
    };
    if !has("upgrade", b"websocket") {
        return Err(Error::MissingUpgrade);
    }
    if !has("connection", b"upgrade") {
        return Err(Error::MissingConnection);
    }
    if values("sec-websocket-accept").collect::<Vec<_>>() != [ACCEPT] {
        return Err(Error::InvalidAccept);
    }
    for v in values("sec-websocket-extensions") {
        for e in zerows_upgrade::extensions::parse(v) {
            let name = e?.name();
            if !offer.is_some_and(|o| o.split(';').next().unwrap().eq_ignore_ascii_case(name)) {
                return Err(Error::UnexpectedExtension);
            }
        }
    }
    match values("sec-websocket-protocol").collect::<Vec<_>>()[..] {
        [] => Ok(None),
        [p] if protocols.iter().any(|o| o.as_bytes() == p) => {
            Ok(Some(String::from_utf8(p.to_vec()).unwrap()))
        }
        _ => Err(Error::UnexpectedProtocol),
    }
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
    let limits = if k.flags & 4 != 0 {
        Limits::new()
            .with_max_head_size(usize::from(k.max_head))
            .with_max_headers(usize::from(k.max_headers))
            .with_max_line_length(usize::from(k.max_line))
    } else {
        Limits::DEFAULT
    };

    let whole = outcome(parse_response(buf, &limits), buf, &limits);
    let end = match &whole {
        Outcome::Complete { len, .. } => *len,
        _ => buf.len(),
    };
    let cuts = cuts(buf, end, sizes);
    for c in cuts {
        let p = outcome(parse_response(&buf[..c], &limits), &buf[..c], &limits);
        match (&whole, &p) {
            (_, Outcome::Partial) => {}
            (Outcome::Err(e), Outcome::Err(f)) if e == f => {}
            _ => panic!("prefix {c} of {end}: {p:?}, whole: {whole:?}"),
        }
    }
    let mut reads = sizes.iter().map(|&s| usize::from(s));
    let mut fed = 0usize;
    let incremental = loop {
        fed = fed
            .saturating_add(reads.next().unwrap_or(usize::MAX))
            .min(buf.len());
        let r = outcome(parse_response(&buf[..fed], &limits), &buf[..fed], &limits);
        if r != Outcome::Partial || fed == buf.len() {
            break r;
        }
    };
    assert_eq!(whole, incremental, "whole and incremental differ");

    // the client's validation
    let protocols: &[&str] = if k.flags & 1 != 0 { PROTOCOLS } else { &[] };
    let offer = (k.flags & 2 != 0).then_some(OFFER);
    let key = Key::from_nonce(*b"the sample nonce");
    assert_eq!(key.as_bytes(), b"dGhlIHNhbXBsZSBub25jZQ==");
    let mut req = ClientRequest::new("server.example.com", "/chat", key)
        .protocols(protocols)
        .limits(limits);
    if let Some(o) = offer {
        req = req.extensions(o);
    }
    assert_eq!(req.expected_accept().as_bytes(), ACCEPT);
    let r = req.parse_response(buf);
    match (&whole, r) {
        (Outcome::Partial, Ok(Status::Partial)) => {}
        (Outcome::Err(e), Err(f)) => assert_eq!(*e, f),
        (
            Outcome::Complete {
                len,
                status,
                version,
                headers,
                ..
            },
            r,
        ) => {
            let m = model(*status, *version, headers, protocols, offer);
            match (r, m) {
                (Ok(Status::Complete((n, used))), Ok(p)) => {
                    assert_eq!(used, *len);
                    assert_eq!(*status, 101);
                    assert_eq!(n.protocol().map(str::to_owned), p);
                    assert_eq!(n.headers().count(), headers.len());
                }
                (Err(e), Err(f)) => assert_eq!(e, f, "client check vs model"),
                (r, m) => panic!("client check {r:?}, model {m:?}"),
            }
        }
        (w, r) => panic!("parser {w:?}, client check {r:?}"),
    }
});
