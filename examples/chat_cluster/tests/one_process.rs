//! One `chat_cluster` process, no Redis: the page, the room paths, the origin check, the
//! limits on what members send, a slow member, and sharing a port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Member, Node, WAIT};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

fn http_get(node: &Node, head: &str) -> String {
    let mut s = TcpStream::connect(node.addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Sends an upgrade request; the response head (the connection stays open after a 101).
fn upgrade(node: &Node, path: &str, origin: Option<&str>) -> String {
    let mut s = TcpStream::connect(node.addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(upgrade_head(path, origin).as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && s.read_exact(&mut byte).is_ok() {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn upgrade_head(path: &str, origin: Option<&str>) -> String {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
    )
}

#[test]
fn the_page_is_served_at_the_root_and_other_paths_are_404() {
    let node = Node::start("127.0.0.1:0", &[]);
    let page = http_get(&node, "GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("text/html"), "{page}");
    assert!(
        page.contains("<title>zerows chat cluster</title>"),
        "{page}"
    );
    let with_room = http_get(&node, "GET /?room=rust HTTP/1.1\r\nHost: chat.test\r\n\r\n");
    assert!(with_room.starts_with("HTTP/1.1 200"), "{with_room}");
    for path in [
        "/nope",
        "/room/",
        "/room/a%20b",
        "/room/a/b",
        &format!("/room/{}", "x".repeat(65)),
    ] {
        let resp = upgrade(&node, path, None);
        assert!(resp.starts_with("HTTP/1.1 404"), "{path}: {resp}");
    }
    let ok = upgrade(&node, "/room/lobby?x=1", None);
    assert!(ok.starts_with("HTTP/1.1 101"), "{ok}");
}

#[test]
fn a_page_of_another_site_may_not_join_but_this_one_may() {
    let node = Node::start("127.0.0.1:0", &[]);
    let evil = upgrade(&node, "/room/lobby", Some("http://evil.test"));
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    let own = upgrade(&node, "/room/lobby", Some("http://chat.test"));
    assert!(own.starts_with("HTTP/1.1 101"), "{own}");
}

#[test]
fn members_of_a_room_hear_each_other_in_order_and_other_rooms_hear_nothing() {
    let node = Node::start("127.0.0.1:0", &[]);
    let mut a = node.join("rust");
    let mut b = node.join("rust");
    let mut other = node.join("go");
    assert_eq!(
        a.next_text().as_deref(),
        Some(&*format!("* {} joined", b.name))
    );
    for i in 0..100 {
        a.say(&format!("a{i}"));
        b.say(&format!("b{i}"));
    }
    for m in [&mut a, &mut b] {
        let mut next = std::collections::HashMap::new();
        for _ in 0..200 {
            let (who, what) = m.next_said().expect("a message");
            let want = next.entry(who.clone()).or_insert(0);
            assert_eq!(what[1..].parse::<i32>().unwrap(), *want, "order of {who}");
            *want += 1;
        }
        assert_eq!(next.len(), 2, "two senders");
    }
    other.say("only here");
    assert_eq!(
        other.next_said().map(|(_, t)| t).as_deref(),
        Some("only here")
    );
    assert!(other.drain_for(Duration::from_millis(200)).is_empty());
}

#[test]
fn binary_oversize_and_invalid_utf8_are_closed_1003_1009_1007() {
    let node = Node::start("127.0.0.1:0", &[]);
    let mut m = node.join("limits");
    m.ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(m.close_code(), Some(CloseCode::Unsupported));

    let mut m = node.join("limits");
    m.say(&"x".repeat(4096));
    assert_eq!(m.next_said().map(|(_, t)| t.len()), Some(4096));
    m.say(&"x".repeat(4097));
    assert_eq!(m.close_code(), Some(CloseCode::Size));

    // Not UTF-8: a raw text frame (tungstenite will not send one), masked as a client must.
    let mut s = TcpStream::connect(node.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(upgrade_head("/room/limits", None).as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Its join notice, then the close frame: 0x88, length, code 1007.
    let close = rest
        .windows(4)
        .position(|w| w[0] == 0x88 && w[2..4] == 1007u16.to_be_bytes())
        .map(|_| ());
    assert!(close.is_some(), "no 1007 close frame in {rest:?}");
}

#[test]
fn a_member_that_never_reads_is_closed_1008_and_the_room_goes_on() {
    let node = Node::start("127.0.0.1:0", &[]);
    let mut slow = node.join("busy");
    let mut fast = node.join("busy");
    // 16 MB through the room: more than the slow member's 256 KiB allowance plus what the
    // kernel's socket buffers hold for it.
    const COUNT: usize = 4000;
    let text = "y".repeat(4000);
    let start = Instant::now();
    let mut received = 0;
    for i in 0..COUNT {
        fast.say(&format!("{i:05}{text}"));
        // Keep up with our own messages so that only the slow member lags.
        if i % 16 == 15 {
            while received <= i - 8 {
                let (_, t) = fast.next_said().expect("our own message back");
                assert_eq!(t[..5].parse::<usize>().unwrap(), received, "order");
                received += 1;
            }
        }
    }
    while received < COUNT {
        let (_, t) = fast.next_said().expect("our own message back");
        assert_eq!(t[..5].parse::<usize>().unwrap(), received, "order");
        received += 1;
    }
    eprintln!("{COUNT} messages through the room in {:?}", start.elapsed());
    // The slow member finds, after what fitted, the close frame.
    assert_eq!(slow.close_code(), Some(CloseCode::Policy));
    // The room goes on.
    fast.say("still here");
    assert_eq!(
        fast.next_said().map(|(_, t)| t).as_deref(),
        Some("still here")
    );
}

#[test]
fn a_second_process_shares_the_port_only_with_reuseport() {
    let first = Node::start("127.0.0.1:0", &["--reuseport"]);
    let addr = first.addr.to_string();
    let refused = Node::try_start(&addr, &[])
        .err()
        .expect("refused without --reuseport");
    assert!(refused.contains("--reuseport"), "{refused}");
    let second = Node::start(&addr, &["--reuseport"]);
    assert_eq!(second.addr, first.addr);
    // Both serve: the kernel spreads new connections over both listeners.
    for _ in 0..8 {
        let mut m = Member::join(first.addr, "shared");
        m.say("hi");
        assert_eq!(m.next_said().map(|(_, t)| t).as_deref(), Some("hi"));
    }
}

#[test]
fn members_on_different_event_loops_of_one_process_hear_each_other() {
    // Two loops, each with its own SO_REUSEPORT listener: the kernel spreads the members over
    // both (all 12 on one loop: 1 in 2,048).
    let node = Node::start("127.0.0.1:0", &["--threads", "2"]);
    let mut members: Vec<Member> = (0..12).map(|_| node.join("loops")).collect();
    for (i, m) in members.iter_mut().enumerate() {
        m.say(&format!("from-{i}"));
    }
    for m in &mut members {
        let mut heard = std::collections::BTreeSet::new();
        while heard.len() < 12 {
            let (_, t) = m.next_said().expect("a message");
            heard.insert(t);
        }
    }
}
