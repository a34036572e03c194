//! `zerows_net::url::WsUrl::parse`, `zerows_net::proxy::Proxy::parse` and NO_PROXY matching
//! (`Proxy::from_vars`) on arbitrary text.
//!
//! Input: UTF-8 (other bytes are skipped): `url [ NUL list ]`. `url` goes to `WsUrl::parse` and
//! `Proxy::parse`; `list`, when there is one, to `Proxy::parse` and, as `no_proxy`, to
//! `Proxy::from_vars` for the host of `url` when `url` parses.
//!
//! Invariants: no panic. `WsUrl::parse` accepts exactly what the RFC 6455 §3 / RFC 3986 parser in
//! `shared/naive_url.rs` accepts (no zerows-net code; where zerows-net narrows or widens the
//! grammar on purpose it says so, marked "zerows:"), with the same scheme, host, port, `Host`
//! header, path, query and request target; a refusal names one of the reasons the oracle found.
//! When `Ok`: the port is not 0; the host header, path and query are slices of the input; the
//! request target starts with `/` and is borrowed unless it has to add that `/` before a query.
//! `Display` gives `ws[s]://` + host header + request target, which parses back to the same URL
//! except that an empty path comes back as `/` (so equal exactly when the path is not empty),
//! and prints the same again. `Proxy::parse` agrees with the oracle's proxy URLs (kind, host,
//! port, decoded credentials). `from_vars` bypasses the proxy exactly when the oracle's NO_PROXY
//! matcher matches (for lists it understands), always for `*` and for the host itself, and
//! otherwise returns the proxy variable for the URL's scheme.
#![no_main]

#[path = "shared/naive_url.rs"]
mod naive;

use std::borrow::Cow;
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use naive::{NHost, Why};
use zerows_net::proxy::{Proxy, ProxyKind};
use zerows_net::url::{Host, UrlError, WsUrl};

fn why(e: UrlError) -> Why {
    match e {
        UrlError::MissingScheme => Why::MissingScheme,
        UrlError::UnknownScheme => Why::UnknownScheme,
        UrlError::MissingHost => Why::MissingHost,
        UrlError::InvalidHost => Why::InvalidHost,
        UrlError::InvalidPort => Why::InvalidPort,
        UrlError::UserInfo => Why::UserInfo,
        UrlError::Fragment => Why::Fragment,
        UrlError::InvalidCharacter => Why::InvalidCharacter,
        e => panic!("an error the oracle does not know: {e:?}"),
    }
}

fn nhost(h: Host<'_>) -> NHost {
    match h {
        Host::Name(n) => NHost::Name(n.to_owned()),
        Host::Ip(IpAddr::V4(a)) => NHost::V4(a.octets()),
        Host::Ip(IpAddr::V6(a)) => NHost::V6(a.segments()),
    }
}

/// `inner` lies within `outer` (borrowed from the input, not copied).
fn within(inner: &str, outer: &str) -> bool {
    let o = outer.as_bytes().as_ptr_range();
    let i = inner.as_bytes().as_ptr_range();
    o.start <= i.start && i.end <= o.end
}

fn check_url(s: &str) -> Option<WsUrl<'_>> {
    let r = WsUrl::parse(s);
    match (&r, naive::ws(s)) {
        (Ok(u), Ok(m)) => {
            assert_eq!(u.is_secure(), m.secure, "{s:?}");
            assert_eq!(nhost(u.host()), m.host, "{s:?}");
            assert_eq!(u.port(), m.port, "{s:?}");
            assert_eq!(u.host_header(), m.host_header, "{s:?}");
            assert_eq!(u.path(), m.path, "{s:?}");
            assert_eq!(u.query(), m.query.as_deref(), "{s:?}");
            assert_eq!(u.request_target(), m.target, "{s:?}");
        }
        (Err(e), Err(reasons)) => assert!(
            reasons.contains(&why(*e)),
            "{s:?}: zerows {e:?}, the oracle's reasons {reasons:?}"
        ),
        (r, m) => panic!("{s:?}: zerows {r:?}, oracle {m:?}"),
    }
    let u = r.ok()?;

    assert_ne!(u.port(), 0);
    assert!(within(u.host_header(), s) && !u.host_header().is_empty());
    assert!(within(u.path(), s));
    assert!(u.query().is_none_or(|q| within(q, s)));
    let target = u.request_target();
    assert!(target.starts_with('/'), "{s:?}: {target:?}");
    let path = if u.path().is_empty() { "/" } else { u.path() };
    match u.query() {
        Some(q) => assert_eq!(target, format!("{path}?{q}")),
        None => assert_eq!(target, path),
    }
    let owned = u.path().is_empty() && u.query().is_some();
    assert_eq!(matches!(target, Cow::Owned(_)), owned);
    if let Cow::Borrowed(t) = target
        && !u.path().is_empty()
    {
        assert!(within(t, s));
    }

    // Display and back
    let d = u.to_string();
    let scheme = if u.is_secure() { "wss" } else { "ws" };
    assert_eq!(d, format!("{scheme}://{}{}", u.host_header(), target));
    let v = WsUrl::parse(&d).unwrap_or_else(|e| panic!("{s:?} displays as {d:?}: {e:?}"));
    assert_eq!(v.to_string(), d);
    assert_eq!(v.is_secure(), u.is_secure());
    assert_eq!(v.host(), u.host());
    assert_eq!(v.port(), u.port());
    assert_eq!(v.host_header(), u.host_header());
    assert_eq!(v.path(), path);
    assert_eq!(v.query(), u.query());
    assert_eq!(v.request_target(), u.request_target());
    assert_eq!(v == u, !u.path().is_empty(), "{s:?} vs {d:?}");
    Some(u)
}

fn check_proxy(s: &str) {
    let r = Proxy::parse(s);
    match (&r, naive::proxy(s)) {
        (Ok(p), Ok(m)) => {
            let kind = match p.kind() {
                ProxyKind::Http => "http",
                ProxyKind::Socks5 => "socks5",
                ProxyKind::Socks5h => "socks5h",
                k => panic!("a new kind {k:?}"),
            };
            assert_eq!(kind, m.scheme, "{s:?}");
            let host = match m.host {
                NHost::Name(n) => p.host() == n,
                ip => p
                    .host()
                    .parse::<IpAddr>()
                    .is_ok_and(|a| nhost(Host::Ip(a)) == ip),
            };
            assert!(host, "{s:?}: host {:?}", p.host());
            assert_ne!(p.port(), 0);
            assert_eq!(p.port(), m.port, "{s:?}");
            let creds = m
                .credentials
                .as_ref()
                .map(|(u, p)| (u.as_str(), p.as_str()));
            assert_eq!(p.credentials(), creds, "{s:?}");
        }
        (Err(e), Err(reasons)) => assert!(
            reasons.contains(&why(*e)),
            "{s:?}: zerows {e:?}, the oracle's reasons {reasons:?}"
        ),
        (r, m) => panic!("{s:?}: zerows {r:?}, oracle {m:?}"),
    }
}

const HTTP_PROXY: &str = " proxy.example:3128 ";
const HTTPS_PROXY: &str = "socks5h://proxy.example:1080";

fn check_no_proxy(u: &WsUrl<'_>, list: &str) {
    let run = |no: &str| {
        Proxy::from_vars(u.is_secure(), u.host(), |n| match n {
            "no_proxy" => Some(no.to_owned()),
            "http_proxy" => Some(HTTP_PROXY.to_owned()),
            "https_proxy" => Some(HTTPS_PROXY.to_owned()),
            _ => None,
        })
        .expect("the proxy variables are valid")
    };
    let proxy = if u.is_secure() {
        Proxy::parse(HTTPS_PROXY)
    } else {
        Proxy::parse(&format!("http://{}", HTTP_PROXY.trim()))
    }
    .unwrap();
    let r = run(list);
    assert!(r.is_none() || r.as_ref() == Some(&proxy));
    if let Some(hit) = naive::no_proxy(list, &nhost(u.host())) {
        assert_eq!(r.is_none(), hit, "no_proxy {list:?}, host {:?}", u.host());
    }
    assert_eq!(run(&format!("{list} *")), None);
    let own = match u.host() {
        Host::Name(n) => n.to_owned(),
        Host::Ip(IpAddr::V6(a)) => format!("[{a}]"),
        Host::Ip(a) => a.to_string(),
    };
    assert_eq!(run(&format!("{list},{own}")), None, "{own:?} in no_proxy");
    assert_eq!(run(&format!("{list},{}", u.host_header())), None);
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (url, list) = match s.split_once('\0') {
        Some((u, l)) => (u, Some(l)),
        None => (s, None),
    };
    let u = check_url(url);
    check_proxy(url);
    if let Some(list) = list {
        check_proxy(list);
        if let Some(u) = u {
            check_no_proxy(&u, list);
        }
    }
});
