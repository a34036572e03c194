//! Opening handshakes as real clients send them, byte for byte (header sets and order as
//! captured from each client; keys are fresh random ones), which must all be accepted — whole,
//! and split at every byte boundary.

mod common;

use common::MemStream;
use zerows_upgrade::server::{
    self, AcceptedExtensions, ExtensionOffers, HookResult, Hooks, Protocols, Upgrader,
};
use zerows_upgrade::{Limits, Status, parse_request};

struct Case {
    client: &'static str,
    request: &'static str,
    /// base64(SHA-1(key ++ GUID)), computed independently (Python's hashlib).
    accept: &'static str,
    protocol: Option<&'static str>,
    extensions: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        client: "Chromium 131",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8080\r\n\
            Connection: Upgrade\r\n\
            Pragma: no-cache\r\n\
            Cache-Control: no-cache\r\n\
            User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
            Upgrade: websocket\r\n\
            Origin: http://localhost:8080\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Accept-Encoding: gzip, deflate, br, zstd\r\n\
            Accept-Language: en-US,en;q=0.9\r\n\
            Cookie: session=4f2a9c1e; theme=dark\r\n\
            Sec-WebSocket-Key: HtgQOeqG6cH+bLix+RfLAw==\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
            Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n\
            \r\n",
        accept: "X/2T3wW2kz/GRr+YARqMw6Zxmqs=",
        protocol: Some("chat.v2"),
        extensions: Some("permessage-deflate"),
    },
    Case {
        client: "Firefox 133",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8080\r\n\
            User-Agent: Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
            Accept: */*\r\n\
            Accept-Language: en-US,en;q=0.5\r\n\
            Accept-Encoding: gzip, deflate, br, zstd\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Origin: http://localhost:8080\r\n\
            Sec-WebSocket-Protocol: chat.v1\r\n\
            Sec-WebSocket-Extensions: permessage-deflate\r\n\
            Sec-WebSocket-Key: 0Z93vQbTeMUEy060wVIrqw==\r\n\
            DNT: 1\r\n\
            Connection: keep-alive, Upgrade\r\n\
            Sec-Fetch-Dest: empty\r\n\
            Sec-Fetch-Mode: websocket\r\n\
            Sec-Fetch-Site: same-origin\r\n\
            Pragma: no-cache\r\n\
            Cache-Control: no-cache\r\n\
            Upgrade: websocket\r\n\
            \r\n",
        accept: "m1o/UQDgVcNANcibAB5WgJEsv94=",
        protocol: Some("chat.v1"),
        extensions: Some("permessage-deflate"),
    },
    Case {
        client: "Safari 18",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8080\r\n\
            Sec-WebSocket-Extensions: permessage-deflate\r\n\
            Sec-WebSocket-Key: ijtrBPOVY6kQQAEIoB3V8A==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Upgrade: websocket\r\n\
            Origin: http://localhost:8080\r\n\
            User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15\r\n\
            Connection: Upgrade\r\n\
            Pragma: no-cache\r\n\
            Cache-Control: no-cache\r\n\
            Accept-Language: en-GB,en;q=0.9\r\n\
            Accept-Encoding: gzip, deflate\r\n\
            \r\n",
        accept: "ICBf9uq1aFKWOkOcfWi+s7hCddE=",
        protocol: None,
        extensions: Some("permessage-deflate"),
    },
    Case {
        client: "curl 8.11 (native ws://)",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8080\r\n\
            User-Agent: curl/8.11.1\r\n\
            Accept: */*\r\n\
            Upgrade: websocket\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Key: w5rf6Klm026EXBO/ag/BCA==\r\n\
            Connection: Upgrade\r\n\
            \r\n",
        accept: "8pba2HMfX45ah0rVmjZH1iETf80=",
        protocol: None,
        extensions: None,
    },
    Case {
        client: "Python websockets 13 (asyncio client)",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8765\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: kM35p3ybHGKn4gdrICGmkg==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
            User-Agent: Python/3.12 websockets/13.1\r\n\
            \r\n",
        accept: "U0aoDJdLm/onWrZnJROQH4fREVw=",
        protocol: None,
        extensions: Some("permessage-deflate"),
    },
    Case {
        client: "Node ws 8",
        request: "GET /chat HTTP/1.1\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Key: 2g4rf31il9CfNxiEkF6NKw==\r\n\
            Connection: Upgrade\r\n\
            Upgrade: websocket\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
            Sec-WebSocket-Protocol: chat.v1\r\n\
            Host: localhost:8080\r\n\
            \r\n",
        accept: "QX4ZYv8UEZvsYxrHLQMdLs20roc=",
        protocol: Some("chat.v1"),
        extensions: Some("permessage-deflate"),
    },
    Case {
        client: "Go gorilla/websocket 1.5",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8080\r\n\
            User-Agent: Go-http-client/1.1\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: Lt5dTW206upC/9zXAiexlw==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Upgrade: websocket\r\n\
            \r\n",
        accept: "j5FYxHmywIHOl0BgSiW5+NdOhb4=",
        protocol: None,
        extensions: None,
    },
    Case {
        client: "Rust tungstenite 0.30",
        request: "GET /chat HTTP/1.1\r\n\
            Host: localhost:8080\r\n\
            Connection: Upgrade\r\n\
            Upgrade: websocket\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Key: ZL+QQchCRWac5ECdsbliBQ==\r\n\
            \r\n",
        accept: "UbTaZeLQs60TYqpCCxBwjaX8prw=",
        protocol: None,
        extensions: None,
    },
];

/// Selects `chat.v2` over `chat.v1`; accepts the first permessage-deflate offer, no params.
struct App;

impl Hooks for App {
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        ["chat.v2", "chat.v1"]
            .into_iter()
            .find_map(|want| offered.clone().find(|p| *p == want))
    }

    fn negotiate_extensions(
        &mut self,
        mut offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> HookResult {
        if offered.any(|e| e.name() == "permessage-deflate") {
            accepted.push("permessage-deflate").expect("fits");
        }
        Ok(())
    }
}

/// A client frame right behind the request: masked "Hello" (RFC 6455 §5.7).
const FRAME: &[u8] = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";

fn expected_response(c: &Case) -> String {
    let mut s = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        c.accept
    );
    if let Some(p) = c.protocol {
        s += &format!("Sec-WebSocket-Protocol: {p}\r\n");
    }
    if let Some(e) = c.extensions {
        s += &format!("Sec-WebSocket-Extensions: {e}\r\n");
    }
    s + "\r\n"
}

#[test]
fn real_clients_are_accepted() {
    for c in CASES {
        let mut out = [0u8; 1024];
        let mut up = Upgrader::with_hooks(App);
        let Status::Complete(u) = up.upgrade(c.request.as_bytes(), &mut out) else {
            panic!("{}: partial", c.client)
        };
        let a = u.result.unwrap_or_else(|e| panic!("{}: {e}", c.client));
        assert_eq!(a.accept_key().as_str(), c.accept, "{}", c.client);
        assert_eq!(a.protocol(), c.protocol, "{}", c.client);
        assert_eq!(a.extensions(), c.extensions, "{}", c.client);
        assert_eq!(u.consumed, c.request.len());
        assert_eq!(
            std::str::from_utf8(&out[..u.written]).unwrap(),
            expected_response(c),
            "{}",
            c.client
        );
    }
}

#[test]
fn real_clients_with_bare_lf_are_accepted() {
    for c in CASES {
        let req = c.request.replace("\r\n", "\n");
        let mut out = [0u8; 1024];
        let Status::Complete(u) = Upgrader::with_hooks(App).upgrade(req.as_bytes(), &mut out)
        else {
            panic!("partial")
        };
        assert!(u.result.is_ok(), "{}", c.client);
    }
}

#[test]
fn every_prefix_is_partial() {
    for c in CASES {
        let b = c.request.as_bytes();
        for k in 0..b.len() {
            assert!(
                parse_request(&b[..k], &Limits::DEFAULT)
                    .unwrap()
                    .is_partial(),
                "{} at {k}",
                c.client
            );
        }
    }
}

/// Over a stream delivering the request (plus a frame) in two reads split at every byte
/// boundary, and in single bytes: the same response, and the frame handed back intact.
#[test]
fn split_at_every_byte_boundary_gives_the_same_result() {
    for c in CASES {
        let mut input = c.request.as_bytes().to_vec();
        input.extend_from_slice(FRAME);
        let whole = {
            let mut s = MemStream::new(&input);
            let mut buf = [0u8; 4096];
            let up = server::accept(&mut s, &mut Upgrader::with_hooks(App), &mut buf).unwrap();
            assert_eq!(up.leftover(), FRAME, "{}", c.client);
            (
                s.output().to_vec(),
                up.protocol().map(String::from),
                up.extensions().map(String::from),
            )
        };
        assert_eq!(whole.0, expected_response(c).as_bytes());
        let ones = vec![1; input.len()];
        let splits: Vec<Vec<usize>> = (1..input.len()).map(|k| vec![k]).chain([ones]).collect();
        for split in &splits {
            let mut s = MemStream::split(&input, split);
            let mut buf = [0u8; 4096];
            let up = server::accept(&mut s, &mut Upgrader::with_hooks(App), &mut buf).unwrap();
            // whatever the client sent after the head is returned, never dropped
            let mut rest = up.leftover().to_vec();
            std::io::Read::read_to_end(&mut s, &mut rest).unwrap();
            assert_eq!(rest, FRAME, "{} split {:?}", c.client, &split[..1]);
            let got = (
                s.output().to_vec(),
                up.protocol().map(String::from),
                up.extensions().map(String::from),
            );
            assert_eq!(got, whole, "{} split {:?}", c.client, &split[..1]);
            assert_eq!(s.writes, 1, "response in one write");
        }
    }
}
