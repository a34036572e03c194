//! `zerows_upgrade::extensions::parse` on an arbitrary `Sec-WebSocket-Extensions` value.
//!
//! Input: the raw header value bytes.
//!
//! Invariants: never panics; the iterator ends right after its first `Err` (which is
//! `InvalidExtensions`), so it yields at most len/1 + 1 items; `is_valid` agrees with it; every
//! name and parameter name is a token and every value unescapes to a token (RFC 6455 §9.1);
//! `Value::as_str` is `None` exactly for a quoted value with escapes; `param(name)` finds the
//! first parameter of that name (ASCII case-insensitive); `as_u32` agrees with a naive decimal
//! parse. Round trip: each extension's `Display` form parses back to exactly one extension with
//! the same name and the same parameters (values compared unescaped), and the whole list joined
//! with `", "` parses back to the same list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerows_upgrade::Error;
use zerows_upgrade::extensions::{self, Extension};

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// (name, [(param, unescaped value)])
type Owned = (String, Vec<(String, Option<Vec<u8>>)>);

fn owned(e: &Extension<'_>) -> Owned {
    (
        e.name().to_owned(),
        e.params()
            .map(|p| (p.name().to_owned(), p.value().map(|v| v.bytes().collect())))
            .collect(),
    )
}

fn check(e: &Extension<'_>) {
    assert!(is_token(e.name().as_bytes()), "name {:?}", e.name());
    for p in e.params() {
        assert!(is_token(p.name().as_bytes()), "param {:?}", p.name());
        let first = e.params().find(|q| q.name().eq_ignore_ascii_case(p.name()));
        assert_eq!(e.param(p.name()), first);
        if let Some(v) = p.value() {
            let bytes: Vec<u8> = v.bytes().collect();
            assert!(is_token(&bytes), "value {bytes:?}");
            match v.as_str() {
                Some(s) => assert_eq!(s.as_bytes(), &bytes[..]),
                None => assert!(v.is_quoted()),
            }
            assert_eq!(v.to_string().as_bytes(), &bytes[..]);
            let naive = std::str::from_utf8(&bytes)
                .ok()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok());
            assert_eq!(v.as_u32(), naive, "as_u32 of {bytes:?}");
            assert!(v.eq_ignore_ascii_case(&String::from_utf8_lossy(&bytes)));
        }
    }
}

fn parse_all(value: &[u8]) -> (Vec<Owned>, Option<Error>) {
    let mut it = extensions::parse(value);
    let mut list = Vec::new();
    for r in it.by_ref() {
        match r {
            Ok(e) => {
                check(&e);
                list.push(owned(&e));
            }
            Err(err) => {
                assert_eq!(err, Error::InvalidExtensions);
                return (list, Some(err));
            }
        }
        assert!(list.len() <= value.len());
    }
    (list, None)
}

fuzz_target!(|value: &[u8]| {
    let (list, err) = parse_all(value);
    let mut it = extensions::parse(value);
    for _ in it.by_ref().take(list.len() + usize::from(err.is_some())) {}
    assert!(it.next().is_none(), "items after the end or after an error");
    assert_eq!(extensions::is_valid(value), err.is_none());

    let mut joined = Vec::new();
    for e in extensions::parse(value).map_while(Result::ok) {
        let text = e.to_string();
        let again: Vec<_> = extensions::parse(&text).collect();
        assert_eq!(again.len(), 1, "{text:?} re-parsed to {again:?}");
        let Ok(f) = again[0] else {
            panic!("{text:?} (from {e:?}) does not re-parse");
        };
        assert_eq!(owned(&f), owned(&e), "round trip of {text:?}");
        assert_eq!(f.to_string(), text, "display is not canonical");
        if !joined.is_empty() {
            joined.push(", ".to_owned());
        }
        joined.push(text);
    }
    let joined = joined.concat();
    assert_eq!(
        parse_all(joined.as_bytes()),
        (list, None),
        "list round trip {joined:?}"
    );
});
