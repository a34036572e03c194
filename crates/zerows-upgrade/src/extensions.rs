//! `Sec-WebSocket-Extensions` values (RFC 6455 §9.1), parsed without allocation.
//!
//! ```text
//! Sec-WebSocket-Extensions = extension-list
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-token = registered-token
//! registered-token = token
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; When using the quoted-string syntax variant, the value after quoted-string
//!     ; unescaping MUST conform to the 'token' ABNF.
//! ```
//!
//! Optional whitespace is allowed around `,`, `;` and `=`, and empty list elements are skipped
//! (RFC 9110 §5.6.1). Because an unescaped quoted value must be a token, and `\` is not a token
//! character, unescaping only removes backslashes: [`Value::bytes`] does it lazily.
//!
//! ```
//! use zerows_upgrade::extensions;
//! let offer = "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"";
//! let mut it = extensions::parse(offer);
//! let first = it.next().unwrap()?;
//! assert_eq!(first.name(), "permessage-deflate");
//! let p = first.params().next().unwrap();
//! assert_eq!((p.name(), p.value()), ("client_max_window_bits", None));
//! let second = it.next().unwrap()?;
//! assert_eq!(second.param("server_max_window_bits").unwrap().value().unwrap().as_u32(), Some(10));
//! assert!(it.next().is_none());
//! # Ok::<(), zerows_upgrade::Error>(())
//! ```

use core::fmt;

use crate::Error;
use crate::headers::TCHAR;

/// Parses an extension list; see the [module docs](self).
///
/// The iterator yields `Err(Error::InvalidExtensions)` once at the first syntax error and then
/// ends.
pub fn parse<V: AsRef<[u8]> + ?Sized>(value: &V) -> Extensions<'_> {
    Extensions {
        c: Cursor {
            s: value.as_ref(),
            pos: 0,
        },
        done: false,
    }
}

/// Whether `value` is a well-formed extension list.
#[must_use]
pub fn is_valid<V: AsRef<[u8]> + ?Sized>(value: &V) -> bool {
    parse(value).all(|e| e.is_ok())
}

#[derive(Clone, Debug)]
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(|b| TCHAR[b as usize]) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        core::str::from_utf8(&self.s[start..self.pos]).ok()
    }

    /// A quoted-string whose unescaped content is a token; returns the content between quotes.
    fn quoted(&mut self) -> Option<&'a str> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => match self.s.get(self.pos + 1) {
                    Some(&b) if TCHAR[b as usize] => self.pos += 2,
                    _ => return None,
                },
                b if TCHAR[b as usize] => self.pos += 1,
                _ => return None,
            }
        }
        let inner = &self.s[start..self.pos];
        self.pos += 1;
        if inner.is_empty() {
            return None;
        }
        core::str::from_utf8(inner).ok()
    }

    /// `token [ OWS "=" OWS ( token | quoted-string ) ]`, after the `;`.
    fn param(&mut self) -> Option<Param<'a>> {
        self.skip_ows();
        let name = self.token()?;
        let save = self.pos;
        self.skip_ows();
        if self.peek() != Some(b'=') {
            self.pos = save;
            return Some(Param { name, value: None });
        }
        self.pos += 1;
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            Value {
                raw: self.quoted()?,
                quoted: true,
            }
        } else {
            Value {
                raw: self.token()?,
                quoted: false,
            }
        };
        Some(Param {
            name,
            value: Some(value),
        })
    }
}

/// Iterator over the extensions of one header value; see [`parse`].
#[derive(Clone, Debug)]
pub struct Extensions<'a> {
    c: Cursor<'a>,
    done: bool,
}

impl<'a> Extensions<'a> {
    fn extension(&mut self) -> Option<Result<Extension<'a>, Error>> {
        let c = &mut self.c;
        loop {
            c.skip_ows();
            match c.peek() {
                None => return None,
                Some(b',') => c.pos += 1,
                Some(_) => break,
            }
        }
        let Some(name) = c.token() else {
            return Some(Err(Error::InvalidExtensions));
        };
        let start = c.pos;
        loop {
            let end = c.pos;
            c.skip_ows();
            match c.peek() {
                None | Some(b',') => {
                    let params = &c.s[start..end];
                    return Some(Ok(Extension { name, params }));
                }
                Some(b';') => {
                    c.pos += 1;
                    if c.param().is_none() {
                        return Some(Err(Error::InvalidExtensions));
                    }
                }
                Some(_) => return Some(Err(Error::InvalidExtensions)),
            }
        }
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Result<Extension<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.extension();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// One extension of a list: its name and its parameters, borrowed from the header value.
#[derive(Clone, Copy, Debug)]
pub struct Extension<'a> {
    name: &'a str,
    /// `*( OWS ";" OWS extension-param )`, already validated.
    params: &'a [u8],
}

impl<'a> Extension<'a> {
    /// The extension token, e.g. `"permessage-deflate"`.
    #[must_use]
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The parameters in order.
    #[must_use]
    pub fn params(&self) -> Params<'a> {
        Params {
            c: Cursor {
                s: self.params,
                pos: 0,
            },
        }
    }

    /// The first parameter named `name` (ASCII case-insensitive).
    #[must_use]
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

impl PartialEq for Extension<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.params().eq(other.params())
    }
}

impl Eq for Extension<'_> {}

/// Writes the canonical form: `name; param; param=value`, values unescaped (they are tokens).
impl fmt::Display for Extension<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        for p in self.params() {
            write!(f, "; {p}")?;
        }
        Ok(())
    }
}

/// Iterator over an extension's parameters.
#[derive(Clone, Debug)]
pub struct Params<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        // The slice was validated by `Extensions`, so this never stops early.
        self.c.skip_ows();
        if self.c.peek() != Some(b';') {
            return None;
        }
        self.c.pos += 1;
        self.c.param()
    }
}

/// One extension parameter: `name` or `name=value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    name: &'a str,
    value: Option<Value<'a>>,
}

impl<'a> Param<'a> {
    /// The parameter name.
    #[must_use]
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value, if the parameter has one.
    #[must_use]
    pub fn value(&self) -> Option<Value<'a>> {
        self.value
    }
}

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if let Some(v) = self.value {
            write!(f, "={v}")?;
        }
        Ok(())
    }
}

/// A parameter value: a token, or a quoted-string whose unescaped content is a token.
#[derive(Clone, Copy, Debug)]
pub struct Value<'a> {
    /// The token, or the content between the quotes (still escaped).
    raw: &'a str,
    quoted: bool,
}

impl<'a> Value<'a> {
    /// The value as a string, when it needs no unescaping (always, in practice: only a
    /// quoted-string with `\` escapes returns `None`; use [`Value::bytes`] then).
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        if self.quoted && self.raw.contains('\\') {
            None
        } else {
            Some(self.raw)
        }
    }

    /// The unescaped bytes of the value.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.raw.bytes().filter(|&b| b != b'\\')
    }

    /// Whether the value was sent as a quoted-string.
    #[must_use]
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// The value as a decimal integer (`1*DIGIT`, as RFC 7692 window bits are sent).
    #[must_use]
    pub fn as_u32(&self) -> Option<u32> {
        let mut n: u32 = 0;
        let mut any = false;
        for b in self.bytes() {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
            any = true;
        }
        any.then_some(n)
    }

    /// Whether the unescaped value equals `s`, ignoring ASCII case.
    #[must_use]
    pub fn eq_ignore_ascii_case(&self, s: &str) -> bool {
        self.bytes()
            .map(|b| b.to_ascii_lowercase())
            .eq(s.bytes().map(|b| b.to_ascii_lowercase()))
    }
}

/// Compares unescaped values: `"10"` equals `10`.
impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes().eq(other.bytes())
    }
}

impl Eq for Value<'_> {}

impl PartialEq<str> for Value<'_> {
    fn eq(&self, other: &str) -> bool {
        self.bytes().eq(other.bytes())
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => {
                for part in self.raw.split('\\') {
                    f.write_str(part)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn names(v: &str) -> Result<usize, Error> {
        let mut n = 0;
        for e in parse(v) {
            e?;
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn valid_lists() {
        for (v, n) in [
            ("permessage-deflate", 1),
            ("permessage-deflate; client_max_window_bits", 1),
            (
                "permessage-deflate;client_max_window_bits=15;server_no_context_takeover",
                1,
            ),
            ("a, b ,c", 3),
            ("  a \t;\tx = 1 ; y=\"2\" , b", 2),
            (", ,a,,", 1),
            ("", 0),
            ("x; v=\"a\\bc\"", 1),
        ] {
            assert_eq!(names(v), Ok(n), "{v:?}");
        }
    }

    #[test]
    fn invalid_lists() {
        for v in [
            "a;",
            "a; ",
            "a;;b",
            "a b",
            "a; x=",
            "a; x=\"\"",
            "a; x=\"1 2\"",
            "a; x=\"1",
            "a; x=1 2",
            "a; x=\"a\\\"\"",
            "a; x=\"\\ \"",
            ";a",
            "a=1",
            "\"a\"",
            "a; x=@",
            "a; x=\"a,b\"",
            "a,b c",
            "é",
        ] {
            assert_eq!(names(v), Err(Error::InvalidExtensions), "{v:?}");
            assert!(!is_valid(v));
        }
        // after the error the iterator ends
        let mut it = parse("a, b c, d");
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn params_and_values() {
        let e = parse(
            "permessage-deflate ; client_max_window_bits ; server_max_window_bits = \"1\\0\"",
        )
        .next()
        .unwrap()
        .unwrap();
        let mut p = e.params();
        let a = p.next().unwrap();
        assert_eq!((a.name(), a.value()), ("client_max_window_bits", None));
        let b = p.next().unwrap();
        let v = b.value().unwrap();
        assert!(v.is_quoted());
        assert_eq!(v.as_str(), None);
        assert_eq!(v.as_u32(), Some(10));
        assert!(v == *"10");
        assert!(p.next().is_none());
        assert_eq!(
            e.to_string(),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10"
        );
        assert!(e.param("SERVER_MAX_WINDOW_BITS").is_some());
        assert!(e.param("nope").is_none());
    }

    #[test]
    fn value_helpers() {
        let e = parse("x; a=Abc; b=\"99999999999\"; c=\"12\"")
            .next()
            .unwrap()
            .unwrap();
        assert!(
            e.param("a")
                .unwrap()
                .value()
                .unwrap()
                .eq_ignore_ascii_case("aBC")
        );
        assert_eq!(e.param("a").unwrap().value().unwrap().as_u32(), None);
        assert_eq!(e.param("b").unwrap().value().unwrap().as_u32(), None);
        let c = e.param("c").unwrap().value().unwrap();
        assert_eq!((c.as_str(), c.as_u32()), (Some("12"), Some(12)));
        // quoted and token forms compare equal
        let t = parse("x; c=12").next().unwrap().unwrap();
        assert_eq!(t.param("c").unwrap().value(), Some(c));
    }
}
