//! The std layer over in-memory streams and real loopback sockets: leftovers, limits, early
//! close, rejections on the wire, and a whole server ⇄ client conversation.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use common::MemStream;
use zerows_upgrade::client::{self, ClientRequest};
use zerows_upgrade::server::{self, HeaderWriter, Hooks, Protocols, Upgrader};
use zerows_upgrade::{Error, HandshakeError, Key, Limits, StatusCode};

const REQ: &[u8] =
    b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn leftover_is_handed_back_with_its_range() {
    let mut input = REQ.to_vec();
    input.extend_from_slice(b"\x88\x80\x00\x00\x00\x00");
    let mut s = MemStream::new(&input);
    let mut buf = [0u8; 1024];
    let up = server::accept(&mut s, &mut Upgrader::new(), &mut buf).unwrap();
    assert_eq!(up.leftover(), b"\x88\x80\x00\x00\x00\x00");
    assert_eq!(up.leftover_range(), REQ.len()..input.len());
    assert_eq!(up.accepted().target(), "/chat");
    assert_eq!(&buf[REQ.len()..input.len()], b"\x88\x80\x00\x00\x00\x00");
}

#[test]
fn early_close_is_unexpected_eof_and_writes_nothing() {
    let mut s = MemStream::new(&REQ[..40]);
    let mut buf = [0u8; 1024];
    match server::accept(&mut s, &mut Upgrader::new(), &mut buf) {
        Err(HandshakeError::Io(e)) => assert_eq!(e.kind(), ErrorKind::UnexpectedEof),
        other => panic!("{other:?}"),
    }
    assert!(s.output().is_empty());
}

#[test]
fn full_buffer_answers_431() {
    let mut s = MemStream::new(REQ);
    let mut buf = [0u8; 64];
    let e = server::accept(&mut s, &mut Upgrader::new(), &mut buf).unwrap_err();
    assert_eq!(
        e.status(),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );
    assert!(
        s.output()
            .starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    );
    // and the configured limit applies before the buffer's
    let mut s = MemStream::new(REQ);
    let mut buf = [0u8; 1024];
    let mut up = Upgrader::new().with_limits(Limits::new().with_max_head_size(100));
    let e = server::accept(&mut s, &mut up, &mut buf).unwrap_err();
    assert!(matches!(e, HandshakeError::Protocol(Error::HeadTooLarge)));
}

#[test]
fn rejection_is_written_before_the_error() {
    let bad = String::from_utf8(REQ.to_vec())
        .unwrap()
        .replace("GET", "PUT");
    let mut s = MemStream::new(bad.as_bytes());
    let mut buf = [0u8; 1024];
    let e = server::accept(&mut s, &mut Upgrader::new(), &mut buf).unwrap_err();
    assert_eq!(e.status().map(StatusCode::as_u16), Some(405));
    let out = std::str::from_utf8(s.output()).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"),
        "{out}"
    );
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), ErrorKind::InvalidData);
}

#[test]
fn invalid_hook_header_answers_500() {
    struct Bad;
    impl Hooks for Bad {
        fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
            out.header("X", "\n");
        }
    }
    let mut s = MemStream::new(REQ);
    let mut buf = [0u8; 1024];
    let e = server::accept(&mut s, &mut Upgrader::with_hooks(Bad), &mut buf).unwrap_err();
    assert!(matches!(
        e,
        HandshakeError::Protocol(Error::InvalidResponseHeader)
    ));
    assert!(s.output().starts_with(b"HTTP/1.1 500 "));
    assert_eq!(s.writes, 1);
}

#[test]
fn client_sees_status_of_refusal() {
    let resp =
        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n";
    let mut s = MemStream::new(resp);
    let mut buf = [0u8; 1024];
    let req = ClientRequest::new("h", "/", Key::from_nonce([1; 16]));
    let e = client::handshake(&mut s, &req, &mut buf).unwrap_err();
    assert!(matches!(e, HandshakeError::Protocol(Error::UnexpectedStatus(s)) if s.as_u16() == 426));
    assert_eq!(e.status().map(StatusCode::as_u16), Some(426));
}

#[test]
fn client_buffer_too_small_for_request() {
    let mut s = MemStream::new(b"");
    let mut buf = [0u8; 16];
    let req = ClientRequest::new("h", "/", Key::from_nonce([1; 16]));
    let e = client::handshake(&mut s, &req, &mut buf).unwrap_err();
    assert!(matches!(
        e,
        HandshakeError::Protocol(Error::InsufficientSize { .. })
    ));
    assert!(s.output().is_empty());
}

/// A real loopback conversation: our client against our server, with the first frames of each
/// side sent right behind the handshake and recovered as leftovers.
#[test]
fn loopback_conversation() {
    struct Chat;
    impl Hooks for Chat {
        fn select_protocol<'b>(&mut self, mut offered: Protocols<'b>) -> Option<&'b str> {
            offered.find(|p| *p == "chat")
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let up = server::accept(&mut stream, &mut Upgrader::with_hooks(Chat), &mut buf).unwrap();
        let protocol = up.protocol().map(String::from);
        let mut got = up.leftover().to_vec();
        // the stream is free: the result borrows only the buffer
        stream.write_all(b"\x81\x02hi").unwrap();
        while got.len() < 8 {
            let mut b = [0u8; 16];
            let n = stream.read(&mut b).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
        (protocol, got)
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    let host = addr.to_string();
    let req = ClientRequest::with_random_key(&host, "/chat")
        .unwrap()
        .protocols(&["x", "chat"]);
    // send the request and a first frame in one segment, as eager clients do
    let mut out = [0u8; 512];
    let n = req.write(&mut out).unwrap();
    let frame = b"\x81\x82\x00\x00\x00\x00yo";
    out[n..n + frame.len()].copy_from_slice(frame);
    stream.write_all(&out[..n + frame.len()]).unwrap();
    // read the response with the sans-IO parser
    let mut buf = [0u8; 1024];
    let mut filled = 0;
    let (protocol, leftover) = loop {
        filled += stream.read(&mut buf[filled..]).unwrap();
        if let zerows_upgrade::Status::Complete((neg, head)) =
            req.parse_response(&buf[..filled]).unwrap()
        {
            break (neg.protocol().map(String::from), buf[head..filled].to_vec());
        }
    };
    assert_eq!(protocol.as_deref(), Some("chat"));
    let mut rest = leftover;
    while rest.len() < 4 {
        let mut b = [0u8; 16];
        let n = stream.read(&mut b).unwrap();
        rest.extend_from_slice(&b[..n]);
    }
    assert_eq!(rest, b"\x81\x02hi");
    let (sp, got) = server.join().unwrap();
    assert_eq!(sp.as_deref(), Some("chat"));
    assert_eq!(got, frame);
}

/// `client::handshake` against `server::accept` over loopback.
#[test]
fn loopback_std_entry_points() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let target = server::accept(&mut stream, &mut Upgrader::new(), &mut buf)
            .map(|u| u.accepted().target().to_string());
        stream.write_all(b"\x81\x05hello").unwrap();
        target
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    let host = addr.to_string();
    let req = ClientRequest::with_random_key(&host, "/a?b=c").unwrap();
    let mut buf = [0u8; 1024];
    let hs = client::handshake(&mut stream, &req, &mut buf).unwrap();
    assert_eq!(hs.protocol(), None);
    let mut rest = hs.leftover().to_vec();
    while rest.len() < 7 {
        let mut b = [0u8; 16];
        let n = stream.read(&mut b).unwrap();
        rest.extend_from_slice(&b[..n]);
    }
    assert_eq!(rest, b"\x81\x05hello");
    assert_eq!(server.join().unwrap().unwrap(), "/a?b=c");
}

/// A malformed head is refused as soon as the bad line is seen, without waiting for the rest.
#[test]
fn malformed_head_is_refused_early() {
    // The stream never sends the end of the head: it would block (here: EOF) afterwards.
    let mut s = MemStream::new(b"GET / HTTP/1.1\r\nHost: h\r\nBad@Name: x\r\n");
    let mut buf = [0u8; 1024];
    let e = server::accept(&mut s, &mut Upgrader::new(), &mut buf).unwrap_err();
    assert!(
        matches!(e, HandshakeError::Protocol(Error::InvalidHeaderName)),
        "{e:?}"
    );
    assert_eq!(s.reads, 1);
    assert!(s.output().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
}
