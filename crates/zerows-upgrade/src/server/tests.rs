//! Every rule of RFC 6455 §4.2.1 and every rejection, with its status and response.

use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::origin::AllowList;
use crate::parse_response;

const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A request made of the RFC example's lines, with `drop` removed and `extra` added.
fn request(drop: &[&str], extra: &str) -> String {
    let mut s = String::from("GET /chat HTTP/1.1\r\n");
    for line in [
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ] {
        if !drop.iter().any(|d| line.starts_with(d)) {
            s.push_str(line);
            s.push_str("\r\n");
        }
    }
    s.push_str(extra);
    s.push_str("\r\n");
    s
}

/// Runs a whole upgrade; returns the result and the response text.
fn run<H: Hooks>(up: &mut Upgrader<H>, req: &str) -> (Result<Option<String>, Error>, String) {
    let mut out = [0u8; 2048];
    let Status::Complete(u) = up.upgrade(req.as_bytes(), &mut out) else {
        panic!("partial: {req:?}")
    };
    let resp = String::from_utf8(out[..u.written].to_vec()).unwrap();
    (u.result.map(|a| a.protocol().map(String::from)), resp)
}

fn reject(req: &str) -> (Error, String) {
    let (r, resp) = run(&mut Upgrader::new(), req);
    (r.expect_err(req), resp)
}

/// Checks that a rejection response is well-formed: status line, Content-Length, body.
fn assert_well_formed(resp: &str, status: u16) {
    let Status::Complete((r, n)) = parse_response(resp.as_bytes(), &Limits::DEFAULT).unwrap()
    else {
        panic!("incomplete response {resp:?}")
    };
    assert_eq!(r.status().as_u16(), status, "{resp}");
    let len: usize = core::str::from_utf8(r.header("content-length").unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(resp.len() - n, len, "{resp}");
    assert_eq!(r.header("connection"), Some(&b"close"[..]));
}

#[test]
fn rfc_example_is_accepted() {
    let (r, resp) = run(&mut Upgrader::new(), RFC_REQUEST);
    assert_eq!(r, Ok(None)); // no hook: no subprotocol selected
    assert_eq!(
        resp,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
}

#[test]
fn every_rejection_has_its_status() {
    let cases: Vec<(String, Error, u16)> = vec![
        (
            RFC_REQUEST.replacen("GET", "POST", 1),
            Error::MethodNotAllowed,
            405,
        ),
        (
            RFC_REQUEST.replacen("GET", "get", 1),
            Error::MethodNotAllowed,
            405,
        ),
        (
            RFC_REQUEST.replacen("HTTP/1.1", "HTTP/1.0", 1),
            Error::UnsupportedHttpVersion,
            505,
        ),
        (
            RFC_REQUEST.replacen("HTTP/1.1", "HTTP/2.0", 1),
            Error::UnsupportedHttpVersion,
            505,
        ),
        (
            RFC_REQUEST.replacen("HTTP/1.1", "HTTP/1.x", 1),
            Error::InvalidRequestLine,
            400,
        ),
        (request(&["Host"], ""), Error::MissingHost, 400),
        (request(&[], "Host: other\r\n"), Error::DuplicateHost, 400),
        (request(&["Upgrade"], ""), Error::MissingUpgrade, 400),
        (
            request(&["Upgrade"], "Upgrade: h2c\r\n"),
            Error::MissingUpgrade,
            400,
        ),
        (
            request(&["Upgrade"], "Upgrade: websocket/13\r\n"),
            Error::MissingUpgrade,
            400,
        ),
        (request(&["Connection"], ""), Error::MissingConnection, 400),
        (
            request(&["Connection"], "Connection: keep-alive\r\n"),
            Error::MissingConnection,
            400,
        ),
        (
            request(&["Connection"], "Connection: Upgraded\r\n"),
            Error::MissingConnection,
            400,
        ),
        (
            request(&["Sec-WebSocket-Version"], ""),
            Error::UnsupportedVersion,
            426,
        ),
        (
            request(&["Sec-WebSocket-Version"], "Sec-WebSocket-Version: 8\r\n"),
            Error::UnsupportedVersion,
            426,
        ),
        (
            request(
                &["Sec-WebSocket-Version"],
                "Sec-WebSocket-Version: 13, 8\r\n",
            ),
            Error::UnsupportedVersion,
            426,
        ),
        (
            request(&[], "Sec-WebSocket-Version: 13\r\n"),
            Error::UnsupportedVersion,
            426,
        ),
        (request(&["Sec-WebSocket-Key"], ""), Error::MissingKey, 400),
        (
            request(
                &["Sec-WebSocket-Key"],
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
            ),
            Error::InvalidKey,
            400,
        ),
        (
            request(&["Sec-WebSocket-Key"], "Sec-WebSocket-Key: c2hvcnQ=\r\n"),
            Error::InvalidKey,
            400,
        ),
        (
            request(&[], "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"),
            Error::InvalidKey,
            400,
        ),
        (
            request(&[], "Sec-WebSocket-Protocol: a b\r\n"),
            Error::InvalidProtocol,
            400,
        ),
        (
            request(&[], "Sec-WebSocket-Protocol: a;b\r\n"),
            Error::InvalidProtocol,
            400,
        ),
        (
            request(&[], "Sec-WebSocket-Extensions: x;\r\n"),
            Error::InvalidExtensions,
            400,
        ),
        (request(&[], "X: a\r\n b\r\n"), Error::ObsFold, 400),
        (request(&[], "X : a\r\n"), Error::WhitespaceBeforeColon, 400),
        (request(&[], "X: a\rb\r\n"), Error::BareCr, 400),
        (request(&[], "X: \x01\r\n"), Error::InvalidHeaderValue, 400),
        (request(&[], "X@Y: 1\r\n"), Error::InvalidHeaderName, 400),
        (
            RFC_REQUEST.replacen("/chat", "*", 1),
            Error::InvalidTarget,
            400,
        ),
        (
            RFC_REQUEST.replacen("GET /chat", "GET /chat ", 1),
            Error::InvalidRequestLine,
            400,
        ),
    ];
    for (req, err, status) in cases {
        let (e, resp) = reject(&req);
        assert_eq!(e, err, "{req:?}");
        assert_eq!(e.status().as_u16(), status);
        assert_well_formed(&resp, status);
        assert!(resp.ends_with(e.as_str()), "default body: {resp}");
        match status {
            426 => assert!(resp.contains("\r\nSec-WebSocket-Version: 13\r\n")),
            405 => assert!(resp.contains("\r\nAllow: GET\r\n")),
            _ => {}
        }
    }
}

#[test]
fn limits_answer_431_and_414() {
    let many: String = (0..65).map(|i| std::format!("X-{i}: {i}\r\n")).collect();
    let (e, resp) = reject(&request(&[], &many));
    assert_eq!(e, Error::TooManyHeaders);
    assert_well_formed(&resp, 431);

    let long = std::format!("Cookie: {}\r\n", "a".repeat(5000));
    let (e, resp) = reject(&request(&[], &long));
    assert_eq!(e, Error::HeaderLineTooLong);
    assert_well_formed(&resp, 431);

    let big: String = (0..10)
        .map(|i| std::format!("X-{i}: {}\r\n", "b".repeat(1000)))
        .collect();
    let (e, resp) = reject(&request(&[], &big));
    assert_eq!(e, Error::HeadTooLarge);
    assert_well_formed(&resp, 431);

    let (e, resp) =
        reject(&RFC_REQUEST.replacen("/chat", &std::format!("/{}", "c".repeat(5000)), 1));
    assert_eq!(e, Error::RequestLineTooLong);
    assert_well_formed(&resp, 414);

    // configurable
    let mut up = Upgrader::new().with_limits(Limits::new().with_max_headers(4));
    let (r, resp) = run(&mut up, RFC_REQUEST);
    assert_eq!(r, Err(Error::TooManyHeaders));
    assert_well_formed(&resp, 431);
}

#[test]
fn header_names_and_tokens_are_case_insensitive() {
    let req = "GET / HTTP/1.1\r\nhost: a\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\n\
        SEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
    assert_eq!(run(&mut Upgrader::new(), req).0, Ok(None));
    // split over several Connection / Upgrade headers
    let req = request(
        &["Connection", "Upgrade"],
        "Connection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: foo, websocket\r\n",
    );
    assert_eq!(run(&mut Upgrader::new(), &req).0, Ok(None));
}

#[test]
fn bare_lf_is_accepted() {
    let req = RFC_REQUEST.replace("\r\n", "\n");
    let (r, resp) = run(&mut Upgrader::new(), &req);
    assert_eq!(r, Ok(None));
    assert!(resp.starts_with("HTTP/1.1 101"));
    // and mixed
    let req = RFC_REQUEST.replacen("\r\n", "\n", 3);
    assert_eq!(run(&mut Upgrader::new(), &req).0, Ok(None));
}

#[test]
fn partial_until_complete_and_consumed_count() {
    let mut input = Vec::from(RFC_REQUEST.as_bytes());
    input.extend_from_slice(b"\x81\x85frame");
    let mut out = [0u8; 512];
    let mut up = Upgrader::new();
    for k in 0..RFC_REQUEST.len() {
        assert!(up.upgrade(&input[..k], &mut out).is_partial(), "{k}");
    }
    let Status::Complete(u) = up.upgrade(&input, &mut out) else {
        panic!()
    };
    assert_eq!(u.consumed, RFC_REQUEST.len());
    assert_eq!(&input[u.consumed..], b"\x81\x85frame");
}

#[test]
fn output_too_small_reports_required() {
    let mut up = Upgrader::new();
    let mut out = [0u8; 512];
    let Status::Complete(full) = up.upgrade(RFC_REQUEST.as_bytes(), &mut out) else {
        panic!()
    };
    let Status::Complete(u) = up.upgrade(RFC_REQUEST.as_bytes(), &mut out[..50]) else {
        panic!()
    };
    assert_eq!(
        (u.written, u.result),
        (
            0,
            Err(Error::InsufficientSize {
                required: full.written
            })
        )
    );
}

/// Hooks that record the order of calls and can be told to refuse at one of them.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    refuse_at: &'static str,
}

impl Recorder {
    fn step(&mut self, name: &str) -> HookResult {
        self.calls.push(name.into());
        if self.refuse_at == name {
            Err(Rejection::new(StatusCode::new(418))
                .with_headers(&[("X-Why", "teapot"), ("Bad Header", "skipped")])
                .with_body(b"short and stout"))
        } else {
            Ok(())
        }
    }
}

impl Hooks for Recorder {
    fn on_request(&mut self, target: &str) -> HookResult {
        self.step(&std::format!("request {target}"))?;
        self.step("request")
    }
    fn on_host(&mut self, host: &[u8]) -> HookResult {
        self.step(&std::format!(
            "host {}",
            core::str::from_utf8(host).unwrap()
        ))?;
        self.step("host")
    }
    fn on_header(&mut self, name: &str, _value: &[u8]) -> HookResult {
        self.calls.push(std::format!("header {name}"));
        if name == "Origin" {
            self.step("header")
        } else {
            Ok(())
        }
    }
    fn check_origin(&mut self, origin: Option<&[u8]>, _host: &[u8]) -> HookResult {
        self.step(&std::format!(
            "origin {:?}",
            origin.map(|o| core::str::from_utf8(o).unwrap())
        ))?;
        self.step("origin")
    }
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        let v: Vec<&str> = offered.clone().collect();
        self.calls.push(std::format!("protocols {v:?}"));
        offered.last()
    }
    fn negotiate_extensions(
        &mut self,
        offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> HookResult {
        for e in offered {
            self.calls.push(std::format!("extension {e}"));
            if e.name() == "permessage-deflate" && accepted.is_empty() {
                accepted
                    .push("permessage-deflate; server_no_context_takeover")
                    .unwrap();
            }
        }
        self.step("extensions")
    }
    fn before_upgrade(&mut self, request: &Request<'_>, protocol: Option<&str>) -> HookResult {
        self.step(&std::format!("before {} {protocol:?}", request.target()))?;
        self.step("before")
    }
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        self.calls.push("response".into());
        out.header("Set-Cookie", "sid=1; HttpOnly");
        out.header_fmt("X-Count", format_args!("{}", self.calls.len()));
    }
}

const HOOKED: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-webkit-deflate-frame\r\n\
    Sec-WebSocket-Extensions: permessage-deflate\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn hooks_run_in_order_and_shape_the_response() {
    let mut up = Upgrader::with_hooks(Recorder::default());
    let (r, resp) = run(&mut up, HOOKED);
    assert_eq!(r, Ok(Some("superchat".into())));
    assert_eq!(
        up.hooks().calls,
        [
            "request /chat",
            "request",
            "header Host",
            "host server.example.com",
            "host",
            "header Upgrade",
            "header Connection",
            "header Sec-WebSocket-Key",
            "header Origin",
            "header",
            "header Sec-WebSocket-Protocol",
            "header Sec-WebSocket-Extensions",
            "header Sec-WebSocket-Extensions",
            "header Sec-WebSocket-Version",
            "origin Some(\"http://example.com\")",
            "origin",
            "protocols [\"chat\", \"superchat\"]",
            "extension permessage-deflate; client_max_window_bits",
            "extension x-webkit-deflate-frame",
            "extension permessage-deflate",
            "extensions",
            "before /chat Some(\"superchat\")",
            "before",
            "response",
        ]
    );
    assert_eq!(
        resp,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
         Set-Cookie: sid=1; HttpOnly\r\nX-Count: 24\r\n\r\n"
    );
}

#[test]
fn every_hook_can_refuse() {
    for at in [
        "request",
        "host",
        "header",
        "origin",
        "extensions",
        "before",
    ] {
        let mut up = Upgrader::with_hooks(Recorder {
            refuse_at: at,
            ..Recorder::default()
        });
        let (r, resp) = run(&mut up, HOOKED);
        assert_eq!(r, Err(Error::Rejected(StatusCode::new(418))), "{at}");
        assert_eq!(
            resp,
            "HTTP/1.1 418 \r\nX-Why: teapot\r\nConnection: close\r\nContent-Length: 15\r\n\r\nshort and stout",
            "{at}"
        );
        assert_eq!(up.hooks().calls.last().map(String::as_str), Some(at));
        assert!(!up.hooks().calls.iter().any(|c| c == "response"));
    }
}

#[test]
fn hooks_not_called_without_offers() {
    let mut up = Upgrader::with_hooks(Recorder::default());
    let (r, _) = run(&mut up, &request(&[], ""));
    assert_eq!(r, Ok(None));
    assert!(
        !up.hooks()
            .calls
            .iter()
            .any(|c| c.starts_with("protocols") || c == "extensions")
    );
}

#[test]
fn origin_allow_list_answers_403() {
    struct Origins(AllowList<'static>);
    impl Hooks for Origins {
        fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
            self.0.check(origin, host)
        }
    }
    let mut up = Upgrader::with_hooks(Origins(AllowList::new(&["http://example.com"])));
    assert!(run(&mut up, RFC_REQUEST).0.is_ok());
    let (r, resp) = run(
        &mut up,
        &RFC_REQUEST.replace("http://example.com", "http://evil.com"),
    );
    assert_eq!(r, Err(Error::Rejected(StatusCode::FORBIDDEN)));
    assert_well_formed(&resp, 403);
    // 404 from a routing hook
    struct Route;
    impl Hooks for Route {
        fn on_request(&mut self, target: &str) -> HookResult {
            if target == "/ws" {
                Ok(())
            } else {
                Err(Rejection::NOT_FOUND)
            }
        }
    }
    let (r, resp) = run(&mut Upgrader::with_hooks(Route), RFC_REQUEST);
    assert_eq!(r, Err(Error::Rejected(StatusCode::NOT_FOUND)));
    assert_well_formed(&resp, 404);
}

#[test]
fn hook_mistakes_answer_500() {
    struct Liar;
    impl Hooks for Liar {
        fn select_protocol<'b>(&mut self, _: Protocols<'b>) -> Option<&'b str> {
            Some("not-offered")
        }
    }
    let (r, resp) = run(&mut Upgrader::with_hooks(Liar), RFC_REQUEST);
    assert_eq!(r, Err(Error::InvalidResponseHeader));
    assert_well_formed(&resp, 500);

    struct Injector;
    impl Hooks for Injector {
        fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
            out.header("Set-Cookie", "a=1\r\nEvil: yes");
        }
    }
    let (r, resp) = run(&mut Upgrader::with_hooks(Injector), RFC_REQUEST);
    assert_eq!(r, Err(Error::InvalidResponseHeader));
    assert_well_formed(&resp, 500);
    assert!(!resp.contains("Evil"));
}

#[test]
fn hooks_through_mut_reference() {
    let mut rec = Recorder::default();
    {
        let mut up = Upgrader::with_hooks(&mut rec);
        assert!(run(&mut up, HOOKED).0.is_ok());
    }
    assert_eq!(rec.calls.last().map(String::as_str), Some("response"));
}

#[test]
fn accepted_extensions_buffer() {
    let mut a = AcceptedExtensions::new();
    assert_eq!(a.as_str(), None);
    assert_eq!(a.push("a, b"), Err(Error::InvalidExtensions));
    assert_eq!(a.push("a;"), Err(Error::InvalidExtensions));
    a.push(" permessage-deflate; client_max_window_bits=10 ")
        .unwrap();
    let offer = crate::extensions::parse("x-foo; a=\"1\"")
        .next()
        .unwrap()
        .unwrap();
    a.push_extension(&offer).unwrap();
    assert_eq!(
        a.as_str(),
        Some("permessage-deflate; client_max_window_bits=10, x-foo; a=1")
    );
    assert_eq!(a.iter().count(), 2);
    let long = "x".repeat(AcceptedExtensions::CAPACITY);
    assert!(matches!(a.push(&long), Err(Error::InsufficientSize { .. })));
    assert!(
        a.push_extension(&crate::extensions::parse(&long).next().unwrap().unwrap())
            .is_err()
    );
    // a failed push leaves the value unchanged
    assert_eq!(
        a.as_str(),
        Some("permessage-deflate; client_max_window_bits=10, x-foo; a=1")
    );
}

#[test]
fn rejected_write_reports_size() {
    let r = Rejected::from(Error::UnsupportedVersion);
    let mut out = [0u8; 512];
    let n = r.write(&mut out).unwrap();
    assert_eq!(
        r.write(&mut out[..n - 1]),
        Err(Error::InsufficientSize { required: n })
    );
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
}
