//! Property tests: the parser does not care how its input is split; extension values survive
//! a print → parse round trip.

use proptest::prelude::*;
use zerows_upgrade::server::Upgrader;
use zerows_upgrade::{Limits, Status, extensions, parse_request};

/// A request head built from arbitrary header sets, sometimes invalid, with CRLF or LF.
fn head() -> impl Strategy<Value = Vec<u8>> {
    let name = "[A-Za-z][A-Za-z0-9-]{0,15}";
    let value = "[ -~]{0,40}";
    let noise = prop_oneof![
        Just(String::new()),
        Just(" folded".to_string()),
        Just("Bad Name: x".to_string()),
        Just("X: a\rb".to_string()),
    ];
    (
        prop::collection::vec((name, value), 0..12),
        noise,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(headers, noise, lf, ws)| {
            let eol = if lf { "\n" } else { "\r\n" };
            let mut s = format!("GET /p HTTP/1.1{eol}");
            if ws {
                s += &format!("Host: h{eol}Upgrade: websocket{eol}Connection: Upgrade{eol}");
                s += &format!(
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=={eol}Sec-WebSocket-Version: 13{eol}"
                );
            }
            for (n, v) in headers {
                s += &format!("{n}: {v}{eol}");
                if !noise.is_empty() && n.len() % 3 == 0 {
                    s += &format!("{noise}{eol}");
                }
            }
            s += eol;
            s.into_bytes()
        })
}

/// Consumed length, header count, target, headers.
type Parsed = (usize, usize, String, Vec<(String, Vec<u8>)>);

fn outcome(buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, zerows_upgrade::Error> {
    Ok(match parse_request(buf, limits)? {
        Status::Partial => None,
        Status::Complete((r, n)) => Some((
            n,
            r.header_count(),
            r.target().to_string(),
            r.headers()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect(),
        )),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every prefix is `Partial` or the same error as the whole; the whole head is consumed
    /// exactly; extra bytes after it change nothing.
    #[test]
    fn parser_is_split_invariant(h in head(), extra in prop::collection::vec(any::<u8>(), 0..8), small in any::<bool>()) {
        let limits = if small { Limits::new().with_max_headers(6).with_max_line_length(30).with_max_head_size(200) } else { Limits::DEFAULT };
        let whole = outcome(&h, &limits);
        let mut with_extra = h.clone();
        with_extra.extend_from_slice(&extra);
        prop_assert_eq!(&outcome(&with_extra, &limits), &whole);
        if let Ok(Some((n, ..))) = &whole {
            prop_assert_eq!(*n, h.len());
        }
        for k in 0..h.len() {
            match outcome(&h[..k], &limits) {
                Ok(None) => {}
                Ok(Some(_)) => prop_assert!(false, "complete before the end at {}", k),
                Err(e) => prop_assert_eq!(Some(e), whole.clone().err()),
            }
        }
    }

    /// The whole upgrade (response bytes included) is the same with any trailing input.
    #[test]
    fn upgrade_ignores_trailing_bytes(h in head(), extra in prop::collection::vec(any::<u8>(), 1..16)) {
        let mut out1 = [0u8; 1024];
        let mut out2 = [0u8; 1024];
        let a = Upgrader::new().upgrade(&h, &mut out1);
        let mut with_extra = h.clone();
        with_extra.extend_from_slice(&extra);
        let b = Upgrader::new().upgrade(&with_extra, &mut out2);
        match (a, b) {
            (Status::Complete(a), Status::Complete(b)) => {
                prop_assert_eq!(a.result.is_ok(), b.result.is_ok());
                prop_assert_eq!(a.consumed, b.consumed);
                prop_assert_eq!(&out1[..a.written], &out2[..b.written]);
            }
            (a, b) => prop_assert!(false, "{:?} {:?}", a.is_complete(), b.is_complete()),
        }
    }
}

#[derive(Debug, Clone)]
struct Ext {
    name: String,
    params: Vec<(String, Option<String>)>,
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

fn ext() -> impl Strategy<Value = Ext> {
    (
        token(),
        prop::collection::vec((token(), prop::option::of(token())), 0..5),
    )
        .prop_map(|(name, params)| Ext { name, params })
}

/// Prints with arbitrary (valid) whitespace, quoting and escaping.
fn print(exts: &[Ext], style: &[u8]) -> String {
    let mut it = style.iter().cycle().copied();
    let mut ws = || match it.next().unwrap_or(0) % 4 {
        0 => "",
        1 => " ",
        2 => "\t",
        _ => "  ",
    };
    let mut s = String::new();
    for (i, e) in exts.iter().enumerate() {
        if i > 0 {
            s += ws();
            s += ",";
            s += ws();
        }
        s += &e.name;
        for (n, v) in &e.params {
            s += ws();
            s += ";";
            s += ws();
            s += n;
            if let Some(v) = v {
                s += ws();
                s += "=";
                s += ws();
                match v.len() % 3 {
                    0 => s += v,
                    1 => s += &format!("\"{v}\""),
                    _ => {
                        s += "\"";
                        for c in v.chars() {
                            s.push('\\');
                            s.push(c);
                        }
                        s += "\"";
                    }
                }
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// print → parse gives back the names, params and (unescaped) values; the canonical
    /// `Display` form parses to the same thing again.
    #[test]
    fn extension_round_trip(exts in prop::collection::vec(ext(), 1..5), style in prop::collection::vec(any::<u8>(), 1..16)) {
        let text = print(&exts, &style);
        let parsed: Vec<_> = extensions::parse(&text).collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed.len(), exts.len());
        for (p, e) in parsed.iter().zip(&exts) {
            prop_assert_eq!(p.name(), e.name.as_str());
            let params: Vec<(String, Option<String>)> = p
                .params()
                .map(|q| (q.name().to_string(), q.value().map(|v| String::from_utf8(v.bytes().collect()).unwrap())))
                .collect();
            prop_assert_eq!(&params, &e.params);
            let canonical = p.to_string();
            let again = extensions::parse(&canonical).next().unwrap().unwrap();
            prop_assert_eq!(&again, p);
        }
    }

    /// Arbitrary bytes never panic the extension parser, and an error ends the iteration.
    #[test]
    fn extension_parser_total(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut it = extensions::parse(&bytes);
        let mut n = 0;
        while let Some(r) = it.next() {
            n += 1;
            prop_assert!(n <= bytes.len() + 1);
            if r.is_err() {
                prop_assert!(it.next().is_none());
                break;
            }
        }
    }
}

/// Picks the first offered protocol that is on its own list; accepts every offered extension.
struct Picky(Vec<String>);

impl zerows_upgrade::server::Hooks for Picky {
    fn select_protocol<'b>(
        &mut self,
        mut offered: zerows_upgrade::server::Protocols<'b>,
    ) -> Option<&'b str> {
        offered.find(|p| self.0.iter().any(|s| s == p))
    }

    fn negotiate_extensions(
        &mut self,
        offered: zerows_upgrade::server::ExtensionOffers<'_>,
        accepted: &mut zerows_upgrade::server::AcceptedExtensions,
    ) -> zerows_upgrade::server::HookResult {
        for e in offered {
            accepted.push_extension(&e).expect("fits");
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Our client's request, answered by our server, is accepted by our client: any nonce,
    /// protocol offers, extension offers and custom headers.
    #[test]
    fn client_and_server_agree(
        nonce in any::<[u8; 16]>(),
        offered in prop::collection::vec(token(), 0..4),
        supported in prop::collection::vec(token(), 0..4),
        exts in prop::collection::vec(ext(), 0..3),
        style in prop::collection::vec(any::<u8>(), 1..8),
        extra in prop::collection::vec((token(), "[ -~]{0,20}"), 0..4),
    ) {
        use zerows_upgrade::client::ClientRequest;
        let offered_refs: Vec<&str> = offered.iter().map(String::as_str).collect();
        let ext_text = print(&exts, &style);
        let extra: Vec<(String, String)> = extra.into_iter().map(|(n, v)| (format!("x-{n}"), v.trim().to_string())).collect();
        let extra_refs: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut req = ClientRequest::new("example.com:8080", "/chat?x=1", zerows_upgrade::Key::from_nonce(nonce))
            .protocols(&offered_refs)
            .headers(&extra_refs);
        if !exts.is_empty() {
            req = req.extensions(&ext_text);
        }
        let mut wire = [0u8; 2048];
        let n = req.write(&mut wire).unwrap();
        let mut out = [0u8; 2048];
        let mut up = Upgrader::with_hooks(Picky(supported.clone()));
        let Status::Complete(u) = up.upgrade(&wire[..n], &mut out) else {
            return Err(TestCaseError::fail("partial"));
        };
        let accepted = u.result.map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(u.consumed, n);
        let want = offered.iter().find(|p| supported.contains(p)).map(String::as_str);
        prop_assert_eq!(accepted.protocol(), want);
        let Status::Complete((neg, len)) = req.parse_response(&out[..u.written]).map_err(|e| TestCaseError::fail(format!("{e}")))? else {
            return Err(TestCaseError::fail("partial response"));
        };
        prop_assert_eq!(len, u.written);
        prop_assert_eq!(neg.protocol(), want);
        prop_assert_eq!(neg.extensions().count(), exts.len());
        for (got, sent) in neg.extensions().zip(&exts) {
            prop_assert_eq!(got.name(), sent.name.as_str());
        }
    }
}
