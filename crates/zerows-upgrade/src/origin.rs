//! Origin policies for [`Hooks::check_origin`](crate::server::Hooks::check_origin)
//! (RFC 6455 §4.2.2 item 4, §10.2; RFC 6454 for what an origin is).
//!
//! ```
//! use zerows_upgrade::origin::AllowList;
//! use zerows_upgrade::server::{HookResult, Hooks};
//!
//! struct App { origins: AllowList<'static> }
//! impl Hooks for App {
//!     fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
//!         self.origins.check(origin, host)
//!     }
//! }
//! let app = App { origins: AllowList::new(&["https://example.com", "https://*.example.com"]) };
//! assert!(app.origins.allows(b"https://chat.example.com"));
//! assert!(!app.origins.allows(b"https://evil.com"));
//! ```

use crate::server::{HookResult, Rejection};

/// An allow-list of origins, compared ASCII case-insensitively (RFC 6454 §6.2 serialises
/// scheme and host in lower case). An entry `scheme://*.domain` allows every subdomain of
/// `domain` (not `domain` itself); `*` allows every origin.
#[derive(Clone, Copy, Debug)]
pub struct AllowList<'a> {
    origins: &'a [&'a str],
    allow_missing: bool,
}

impl<'a> AllowList<'a> {
    /// An allow-list of these origins. Requests without `Origin` (non-browser clients) are
    /// allowed; change that with [`AllowList::allow_missing`].
    #[must_use]
    pub const fn new(origins: &'a [&'a str]) -> Self {
        Self {
            origins,
            allow_missing: true,
        }
    }

    /// Whether requests without an `Origin` header are allowed (default: yes, since only
    /// browsers send it and browsers always do).
    #[must_use]
    pub const fn allow_missing(mut self, allow: bool) -> Self {
        self.allow_missing = allow;
        self
    }

    /// Whether `origin` is on the list.
    #[must_use]
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.origins
            .iter()
            .any(|entry| matches(entry.as_bytes(), origin))
    }

    /// The hook body: `Ok` if allowed, `403 Forbidden` otherwise.
    ///
    /// # Errors
    /// [`Rejection::FORBIDDEN`] for an origin that is not allowed.
    pub fn check(&self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        let _ = host;
        match origin {
            None if self.allow_missing => Ok(()),
            Some(o) if self.allows(o) => Ok(()),
            _ => Err(Rejection::FORBIDDEN),
        }
    }
}

fn matches(entry: &[u8], origin: &[u8]) -> bool {
    if entry == b"*" {
        return true;
    }
    if let Some(i) = entry.windows(4).position(|w| w == b"://*") {
        // scheme://*.domain[:port]
        let (scheme, suffix) = (&entry[..i + 3], &entry[i + 4..]);
        return suffix.first() == Some(&b'.')
            && origin.len() > scheme.len() + suffix.len()
            && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
            && origin[origin.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            && !origin[scheme.len()..origin.len() - suffix.len()].contains(&b'/');
    }
    entry.eq_ignore_ascii_case(origin)
}

/// Same-origin policy (like gorilla/websocket's default `CheckOrigin`): allows requests without
/// `Origin`, and those whose `Origin` host (with port) equals the `Host` header.
///
/// # Errors
/// [`Rejection::FORBIDDEN`] for a cross-origin request.
pub fn same_origin(origin: Option<&[u8]>, host: &[u8]) -> HookResult {
    let Some(origin) = origin else { return Ok(()) };
    let authority = origin
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| &origin[i + 3..]);
    match authority {
        Some(a) if a.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(Rejection::FORBIDDEN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        let l = AllowList::new(&[
            "https://example.com",
            "http://localhost:8080",
            "https://*.example.org",
        ]);
        assert!(l.allows(b"https://example.com"));
        assert!(l.allows(b"HTTPS://EXAMPLE.COM"));
        assert!(l.allows(b"http://localhost:8080"));
        assert!(!l.allows(b"http://localhost:8081"));
        assert!(!l.allows(b"https://example.com.evil.com"));
        assert!(!l.allows(b"http://example.com"));
        assert!(l.allows(b"https://a.example.org"));
        assert!(l.allows(b"https://a.b.example.org"));
        assert!(!l.allows(b"https://example.org"));
        assert!(!l.allows(b"https://evilexample.org"));
        assert!(!l.allows(b"https://x/.example.org"));
        assert!(!l.allows(b"null"));
        assert!(l.check(None, b"h").is_ok());
        assert_eq!(
            l.allow_missing(false).check(None, b"h"),
            Err(Rejection::FORBIDDEN)
        );
        assert_eq!(
            l.check(Some(b"https://evil.com"), b"h"),
            Err(Rejection::FORBIDDEN)
        );
        assert!(AllowList::new(&["*"]).allows(b"null"));
    }

    #[test]
    fn same_origin_policy() {
        assert!(same_origin(None, b"example.com").is_ok());
        assert!(same_origin(Some(b"https://example.com"), b"example.com").is_ok());
        assert!(same_origin(Some(b"http://Example.com:8080"), b"example.com:8080").is_ok());
        assert!(same_origin(Some(b"https://evil.com"), b"example.com").is_err());
        assert!(same_origin(Some(b"null"), b"example.com").is_err());
    }
}
