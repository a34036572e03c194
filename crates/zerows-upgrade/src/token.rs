//! Comma-separated lists (`#rule`, RFC 9110 §5.6.1) of tokens, as in `Connection`, `Upgrade` and
//! `Sec-WebSocket-Protocol`.

use crate::headers::{Values, is_token, trim_ows};

/// The non-empty elements of one list value, trimmed (empty elements are skipped, as RFC 9110
/// §5.6.1 requires of recipients).
pub(crate) fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Whether any element of any of `values` equals `token`, ignoring ASCII case.
pub(crate) fn contains(values: Values<'_>, token: &str) -> bool {
    values
        .flat_map(elements)
        .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether every element of `value` is a token.
pub(crate) fn is_token_list(value: &[u8]) -> bool {
    elements(value).all(is_token)
}

/// The subprotocols a client offered: every token of every `Sec-WebSocket-Protocol` header, in
/// order (RFC 6455 §4.1, §11.3.4).
///
/// Given to [`Hooks::select_protocol`](crate::server::Hooks::select_protocol); the values were
/// validated as tokens before the hook runs.
#[derive(Clone, Debug)]
pub struct Protocols<'b> {
    values: Option<Values<'b>>,
    current: core::slice::Split<'b, u8, fn(&u8) -> bool>,
}

fn is_comma(b: &u8) -> bool {
    *b == b','
}

impl<'b> Protocols<'b> {
    pub(crate) fn new(values: Values<'b>) -> Self {
        Self {
            values: Some(values),
            current: [].split(is_comma as fn(&u8) -> bool),
        }
    }

    /// An empty list.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            values: None,
            current: [].split(is_comma as fn(&u8) -> bool),
        }
    }

    /// Whether `protocol` was offered (exact, case-sensitive match as RFC 6455 §4.1 requires).
    #[must_use]
    pub fn contains(&self, protocol: &str) -> bool {
        self.clone().any(|p| p == protocol)
    }
}

impl<'b> Iterator for Protocols<'b> {
    type Item = &'b str;

    fn next(&mut self) -> Option<&'b str> {
        loop {
            for e in self.current.by_ref() {
                let e = trim_ows(e);
                if !e.is_empty() {
                    // Validated as a token (ASCII) before this iterator is handed out.
                    if let Ok(s) = core::str::from_utf8(e) {
                        return Some(s);
                    }
                }
            }
            let v = self.values.as_mut()?.next()?;
            self.current = v.split(is_comma as fn(&u8) -> bool);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::Headers;

    #[test]
    fn elements_skip_empty_and_trim() {
        let v: [&[u8]; 2] = {
            let mut it = elements(b" , a ,\t,b,");
            let r = [it.next().unwrap(), it.next().unwrap()];
            assert!(it.next().is_none());
            r
        };
        assert_eq!(v, [&b"a"[..], b"b"]);
        assert!(is_token_list(b"chat, superchat"));
        assert!(is_token_list(b""));
        assert!(!is_token_list(b"chat, super chat"));
        assert!(!is_token_list(b"a;b"));
    }

    #[test]
    fn contains_across_headers() {
        let block = b"Connection: keep-alive\r\nX: 1\r\nconnection: foo, UPGRADE\r\n";
        assert!(contains(
            Values::new(Headers::block(block), "Connection"),
            "upgrade"
        ));
        assert!(!contains(
            Values::new(Headers::block(block), "Connection"),
            "close"
        ));
        assert!(!contains(
            Values::new(Headers::block(block), "Upgrade"),
            "websocket"
        ));
    }

    #[test]
    fn protocols_iterate_all_headers() {
        let block = b"Sec-WebSocket-Protocol: a, b\r\nX: 1\r\nsec-websocket-protocol: ,c\r\n";
        let p = Protocols::new(Values::new(Headers::block(block), "Sec-WebSocket-Protocol"));
        let mut it = p.clone();
        assert_eq!(
            (it.next(), it.next(), it.next(), it.next()),
            (Some("a"), Some("b"), Some("c"), None)
        );
        assert!(p.contains("b"));
        assert!(!p.contains("B"));
        assert_eq!(Protocols::empty().count(), 0);
    }
}
