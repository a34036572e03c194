//! WebSocket URIs (RFC 6455 §3) and proxy URLs read as RFC 3986 reads any URI: Appendix B's
//! decomposition into scheme, authority, path, query and fragment, then each part checked
//! character by character against its ABNF (§3.1 scheme, §3.2.1 userinfo, §3.2.2 host with an
//! IPv6address parser written out here and dec-octet IPv4, §3.2.3 port, §3.3 path-abempty, §3.4
//! query, §2.1 pct-encoded). NO_PROXY as zerows-net documents it. Uses no code from zerows-net
//! (nor `std::net`'s address parsers, which zerows-net uses).
//!
//! Where zerows-net narrows or widens the grammar on purpose, the choice is marked "zerows:":
//! a reg-name is only unreserved characters and at most 253 bytes (no pct-encoding, no
//! sub-delims: DNS never needs them), an empty host, IPvFuture, port 0, a port over 65535 or over
//! five digits are refused (nothing to dial); the path and query may hold any visible ASCII (what
//! browsers send; `strict` says whether the URI is RFC 3986 as well); the host follows the *last*
//! `@`; proxy user names and passwords may hold anything but `/?#`.
#![allow(dead_code)]

/// A host, in the oracle's own terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NHost {
    /// A registered name, as written.
    Name(String),
    V4([u8; 4]),
    V6([u16; 8]),
}

/// Why a URL is refused; the same names as `zerows_net::url::UrlError`, kept separate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    MissingScheme,
    UnknownScheme,
    MissingHost,
    InvalidHost,
    InvalidPort,
    UserInfo,
    Fragment,
    InvalidCharacter,
}

/// RFC 3986 Appendix B: `^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?`.
#[derive(Clone, Copy, Debug)]
pub struct Pieces<'a> {
    pub scheme: Option<&'a str>,
    pub authority: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

pub fn decompose(s: &str) -> Pieces<'_> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && !b":/?#".contains(&b[i]) {
        i += 1;
    }
    let (scheme, mut rest) = if i > 0 && i < b.len() && b[i] == b':' {
        (Some(&s[..i]), &s[i + 1..])
    } else {
        (None, s)
    };
    let mut authority = None;
    if let Some(r) = rest.strip_prefix("//") {
        let rb = r.as_bytes();
        let mut j = 0;
        while j < rb.len() && !b"/?#".contains(&rb[j]) {
            j += 1;
        }
        authority = Some(&r[..j]);
        rest = &r[j..];
    }
    let (rest, fragment) = match rest.find('#') {
        Some(k) => (&rest[..k], Some(&rest[k + 1..])),
        None => (rest, None),
    };
    let (path, query) = match rest.find('?') {
        Some(k) => (&rest[..k], Some(&rest[k + 1..])),
        None => (rest, None),
    };
    Pieces {
        scheme,
        authority,
        path,
        query,
        fragment,
    }
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~".contains(&c)
}

fn sub_delim(c: u8) -> bool {
    b"!$&'()*+,;=".contains(&c)
}

/// Whether `s` is `*( allowed / pct-encoded )`.
fn chars_ok(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() {
                return false;
            }
            if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else if allowed(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `dec-octet "." dec-octet "." dec-octet "." dec-octet`, dec-octet being 0-255 without leading
/// zeros.
pub fn ipv4(s: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (k, p) in parts.iter().enumerate() {
        let d = p.as_bytes();
        if d.is_empty() || d.len() > 3 || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        if d.len() > 1 && d[0] == b'0' {
            return None;
        }
        let mut v = 0u32;
        for &c in d {
            v = v * 10 + u32::from(c - b'0');
        }
        if v > 255 {
            return None;
        }
        out[k] = v as u8;
    }
    Some(out)
}

fn h16(p: &str) -> Option<u16> {
    let d = p.as_bytes();
    if d.is_empty() || d.len() > 4 {
        return None;
    }
    let mut v = 0u16;
    for &c in d {
        let x = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v * 16 + u16::from(x);
    }
    Some(v)
}

/// `h16` groups separated by `:`; the last may be an IPv4 address (`ls32`) when `v4_last`.
fn groups(part: &str, v4_last: bool) -> Option<Vec<u16>> {
    if part.is_empty() {
        return Some(Vec::new());
    }
    let pieces: Vec<&str> = part.split(':').collect();
    let mut out = Vec::new();
    for (k, p) in pieces.iter().enumerate() {
        if v4_last && k + 1 == pieces.len() && p.contains('.') {
            let [a, b, c, d] = ipv4(p)?;
            out.push(u16::from(a) << 8 | u16::from(b));
            out.push(u16::from(c) << 8 | u16::from(d));
        } else {
            out.push(h16(p)?);
        }
    }
    Some(out)
}

/// RFC 3986 §3.2.2 `IPv6address` (RFC 4291 §2.2's text forms): eight groups, or fewer with one
/// `::` standing for at least one zero group; an IPv4 address may end it.
pub fn ipv6(s: &str) -> Option<[u16; 8]> {
    let (v, gap_at) = match s.find("::") {
        None => {
            let g = groups(s, true)?;
            (g, None)
        }
        Some(i) => {
            let (head, tail) = (&s[..i], &s[i + 2..]);
            if tail.contains("::") {
                return None;
            }
            let h = groups(head, false)?;
            let t = groups(tail, true)?;
            if h.len() + t.len() > 7 {
                return None;
            }
            let at = h.len();
            let mut v = h;
            v.extend(t);
            (v, Some(at))
        }
    };
    let mut out = [0u16; 8];
    match gap_at {
        None if v.len() == 8 => out.copy_from_slice(&v),
        None => return None,
        Some(at) => {
            let tail = v.len() - at;
            out[..at].copy_from_slice(&v[..at]);
            out[8 - tail..].copy_from_slice(&v[at..]);
        }
    }
    Some(out)
}

/// `"v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn ipvfuture(s: &str) -> bool {
    let Some(r) = s.strip_prefix(['v', 'V']) else {
        return false;
    };
    let Some((hex, rest)) = r.split_once('.') else {
        return false;
    };
    !hex.is_empty()
        && hex.bytes().all(|c| c.is_ascii_hexdigit())
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|c| unreserved(c) || sub_delim(c) || c == b':')
}

/// The host and the port text of `host [ ":" port ]`, each with its reasons; the host part is
/// `[literal]` or everything before the first `:` (a reg-name has no `:`).
#[derive(Debug)]
pub struct HostPort<'a> {
    pub host: Result<NHost, Vec<Why>>,
    /// The host as written (brackets kept).
    pub host_text: &'a str,
    pub port: Result<Option<u16>, Vec<Why>>,
    pub port_text: &'a str,
}

pub fn host_port(hp: &str) -> HostPort<'_> {
    if let Some(r) = hp.strip_prefix('[') {
        let Some(close) = r.find(']') else {
            return HostPort {
                host: Err(vec![Why::InvalidHost]),
                host_text: hp,
                port: Ok(None),
                port_text: "",
            };
        };
        let literal = &r[..close];
        let host = match ipv6(literal) {
            Some(a) => Ok(NHost::V6(a)),
            // zerows: IPvFuture is valid RFC 3986 but nothing it can dial
            None if ipvfuture(literal) => Err(vec![Why::InvalidHost]),
            None => Err(vec![Why::InvalidHost]),
        };
        let after = &r[close + 1..];
        let host_text = &hp[..close + 2];
        if after.is_empty() {
            return HostPort {
                host,
                host_text,
                port: Ok(None),
                port_text: "",
            };
        }
        let Some(p) = after.strip_prefix(':') else {
            // `[::1]x`: neither a port nor the end of the authority
            return HostPort {
                host: Err(vec![Why::InvalidHost]),
                host_text,
                port: Ok(None),
                port_text: "",
            };
        };
        return HostPort {
            host,
            host_text,
            port: port(p),
            port_text: p,
        };
    }
    let (h, p) = match hp.find(':') {
        Some(i) => (&hp[..i], Some(&hp[i + 1..])),
        None => (hp, None),
    };
    let host = reg_name_or_v4(h);
    let Some(p) = p else {
        return HostPort {
            host,
            host_text: h,
            port: Ok(None),
            port_text: "",
        };
    };
    let mut port = port(p);
    let mut host = host;
    if p.contains(':') {
        // RFC 3986: the port is not digits. zerows reads the port after the *last* `:`, which
        // makes the host `h:…`, not a host either: either reason will do.
        match &mut host {
            Ok(_) => host = Err(vec![Why::InvalidHost]),
            Err(v) => v.push(Why::InvalidHost),
        }
        match &mut port {
            Ok(_) => port = Err(vec![Why::InvalidPort]),
            Err(v) => v.push(Why::InvalidPort),
        }
    }
    HostPort {
        host,
        host_text: h,
        port,
        port_text: p,
    }
}

fn reg_name_or_v4(h: &str) -> Result<NHost, Vec<Why>> {
    if h.is_empty() {
        // zerows: RFC 3986 allows an empty reg-name, but there is nothing to dial
        return Err(vec![Why::MissingHost]);
    }
    if let Some(a) = ipv4(h) {
        return Ok(NHost::V4(a));
    }
    // zerows: only unreserved characters (RFC 3986 also allows pct-encoded and sub-delims), and at
    // most 253 bytes, as DNS names
    if h.len() <= 253 && h.bytes().all(unreserved) {
        Ok(NHost::Name(h.to_owned()))
    } else {
        Err(vec![Why::InvalidHost])
    }
}

fn port(p: &str) -> Result<Option<u16>, Vec<Why>> {
    if p.is_empty() {
        return Ok(None);
    }
    // zerows: at most five digits (RFC 3986's port is *DIGIT; `000080` would be 80)
    if !p.bytes().all(|c| c.is_ascii_digit()) || p.len() > 5 {
        return Err(vec![Why::InvalidPort]);
    }
    let v = p.bytes().fold(0u32, |v, c| v * 10 + u32::from(c - b'0'));
    match v {
        1..=65535 => Ok(Some(v as u16)),
        _ => Err(vec![Why::InvalidPort]),
    }
}

/// The authority split at its *last* `@` (zerows: RFC 3986's userinfo has no `@`).
fn userinfo(a: &str) -> (Option<&str>, &str) {
    match a.rfind('@') {
        Some(i) => (Some(&a[..i]), &a[i + 1..]),
        None => (None, a),
    }
}

fn scheme_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

/// A `ws`/`wss` URI, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ws {
    pub secure: bool,
    pub host: NHost,
    pub port: u16,
    /// `host [":" port]` as written, without a `:` that has no port after it.
    pub host_header: String,
    pub path: String,
    pub query: Option<String>,
    /// RFC 6455 §3: the path (`/` when empty) and `?query`.
    pub target: String,
    /// The path and query are RFC 3986 as well (not only visible ASCII).
    pub strict: bool,
}

/// RFC 6455 §3: `"ws:" "//" host [ ":" port ] path-abempty [ "?" query ]` (and `wss:`), no
/// userinfo, no fragment. `Err` has every reason found.
pub fn ws(s: &str) -> Result<Ws, Vec<Why>> {
    let p = decompose(s);
    let mut why = Vec::new();
    let (Some(scheme), Some(authority)) = (p.scheme, p.authority) else {
        return Err(vec![Why::MissingScheme]);
    };
    if !scheme_syntax(scheme) {
        return Err(vec![Why::MissingScheme]);
    }
    let secure = if scheme.eq_ignore_ascii_case("wss") {
        true
    } else if scheme.eq_ignore_ascii_case("ws") {
        false
    } else {
        why.push(Why::UnknownScheme);
        false
    };
    let (info, hp) = userinfo(authority);
    if info.is_some() {
        why.push(Why::UserInfo);
    }
    let hp = if hp.is_empty() {
        why.push(Why::MissingHost);
        None
    } else {
        Some(host_port(hp))
    };
    if p.fragment.is_some() {
        why.push(Why::Fragment);
    }
    // zerows: any visible ASCII in the path and query; RFC 3986 is stricter
    let visible = |t: &str| t.bytes().all(|c| (0x21..=0x7e).contains(&c));
    if !visible(p.path) || !p.query.is_none_or(visible) {
        why.push(Why::InvalidCharacter);
    }
    let pchar = |c: u8| unreserved(c) || sub_delim(c) || c == b':' || c == b'@';
    let strict = chars_ok(p.path, |c| pchar(c) || c == b'/')
        && p.query
            .is_none_or(|q| chars_ok(q, |c| pchar(c) || c == b'/' || c == b'?'));
    let (host, port, host_header) = match hp {
        None => return Err(why),
        Some(hp) => match (hp.host, hp.port) {
            (Ok(h), Ok(port)) => {
                let header = if hp.port_text.is_empty() {
                    hp.host_text.to_owned()
                } else {
                    format!("{}:{}", hp.host_text, hp.port_text)
                };
                (h, port, header)
            }
            (h, port) => {
                why.extend(h.err().unwrap_or_default());
                why.extend(port.err().unwrap_or_default());
                return Err(why);
            }
        },
    };
    if !why.is_empty() {
        return Err(why);
    }
    let path = if p.path.is_empty() { "/" } else { p.path };
    let target = match p.query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    Ok(Ws {
        secure,
        host,
        port: port.unwrap_or(if secure { 443 } else { 80 }),
        host_header,
        path: p.path.to_owned(),
        query: p.query.map(str::to_owned),
        target,
        strict,
    })
}

/// A proxy URL, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `http`, `socks5` or `socks5h`, lower case.
    pub scheme: &'static str,
    pub host: NHost,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    /// The userinfo is RFC 3986 as well.
    pub strict: bool,
}

/// `%XX` decoded (RFC 3986 §2.1: `"%" HEXDIG HEXDIG`), to UTF-8.
pub fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b
                .get(i + 1)
                .copied()
                .and_then(|c| (c as char).to_digit(16))?;
            let lo = b
                .get(i + 2)
                .copied()
                .and_then(|c| (c as char).to_digit(16))?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `http://`, `socks5://` or `socks5h://`, `[user[:password]@]host[:port]`, then nothing or `/`.
pub fn proxy(s: &str) -> Result<ProxyUrl, Vec<Why>> {
    let p = decompose(s);
    let (Some(scheme), Some(authority)) = (p.scheme, p.authority) else {
        return Err(vec![Why::MissingScheme]);
    };
    if !scheme_syntax(scheme) {
        return Err(vec![Why::MissingScheme]);
    }
    let mut why = Vec::new();
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(("http", 80)),
        "socks5" => Some(("socks5", 1080)),
        "socks5h" => Some(("socks5h", 1080)),
        _ => {
            why.push(Why::UnknownScheme);
            None
        }
    };
    if !matches!(p.path, "" | "/") || p.query.is_some() || p.fragment.is_some() {
        why.push(Why::InvalidCharacter);
    }
    let (info, hp) = userinfo(authority);
    let mut strict = true;
    let credentials = match info {
        None => None,
        Some(info) => {
            strict = chars_ok(info, |c| unreserved(c) || sub_delim(c) || c == b':');
            let (u, pw) = info.split_once(':').unwrap_or((info, ""));
            match (pct_decode(u), pct_decode(pw)) {
                (Some(u), Some(pw)) => Some((u, pw)),
                _ => {
                    why.push(Why::InvalidCharacter);
                    None
                }
            }
        }
    };
    if hp.is_empty() {
        why.push(Why::MissingHost);
        return Err(why);
    }
    let hp = host_port(hp);
    let (host, port) = match (hp.host, hp.port) {
        (Ok(h), Ok(p)) => (h, p),
        (h, p) => {
            why.extend(h.err().unwrap_or_default());
            why.extend(p.err().unwrap_or_default());
            return Err(why);
        }
    };
    let Some((scheme, default_port)) = kind else {
        return Err(why);
    };
    if !why.is_empty() {
        return Err(why);
    }
    Ok(ProxyUrl {
        scheme,
        host,
        port: port.unwrap_or(default_port),
        credentials,
        strict,
    })
}

/// `NO_PROXY` as zerows-net documents it: comma- or space-separated entries; `*` matches
/// everything; a name matches itself and its subdomains, a leading `.` optional, without regard
/// to case; an IP address matches itself; ports are ignored. A trailing `.` on the host or an
/// entry does not count (a fully qualified name is the same name; curl ignores it on both).
/// zerows: any number of leading dots on an entry, and of trailing dots on either.
///
/// `None` when an entry is none of `*`, `name[:port]`, `IPv4[:port]`, `IPv6`, `[IPv6][:port]`.
pub fn no_proxy(list: &str, host: &NHost) -> Option<bool> {
    let mut hit = false;
    for e in list
        .split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if e == "*" {
            hit = true;
            continue;
        }
        let e = e.trim_start_matches('.');
        enum Entry {
            Name(String),
            Ip(NHost),
        }
        let entry = if let Some(r) = e.strip_prefix('[') {
            let (lit, after) = r.split_once(']')?;
            if !(after.is_empty()
                || after
                    .strip_prefix(':')
                    .is_some_and(|p| p.bytes().all(|c| c.is_ascii_digit())))
            {
                return None;
            }
            Entry::Ip(NHost::V6(ipv6(lit)?))
        } else if e.matches(':').count() >= 2 {
            Entry::Ip(NHost::V6(ipv6(e)?))
        } else {
            let name = match e.split_once(':') {
                Some((n, p)) if p.bytes().all(|c| c.is_ascii_digit()) => n,
                Some(_) => return None,
                None => e,
            };
            let name = name.trim_end_matches('.');
            if name.is_empty() || !name.bytes().all(unreserved) {
                return None;
            }
            match ipv4(name) {
                Some(a) => Entry::Ip(NHost::V4(a)),
                None => Entry::Name(name.to_ascii_lowercase()),
            }
        };
        hit |= match (host, entry) {
            (NHost::Name(h), entry) => {
                let h = h.trim_end_matches('.').to_ascii_lowercase();
                // a name host is compared as text, an IP-looking entry too
                let e = match entry {
                    Entry::Name(n) => n,
                    Entry::Ip(NHost::V4([a, b, c, d])) => format!("{a}.{b}.{c}.{d}"),
                    Entry::Ip(_) => continue,
                };
                h == e
                    || (h.len() > e.len()
                        && h.ends_with(&e)
                        && h[..h.len() - e.len()].ends_with('.'))
            }
            (ip, Entry::Ip(e)) => *ip == e,
            (_, Entry::Name(_)) => false,
        };
    }
    Some(hit)
}
