//! Two `chat_cluster` processes joined by a real `redis-server` (Debian package
//! `redis-server`, started here on a free loopback port). Ignored in a plain `cargo test`;
//! `bash scripts/chat-cluster.sh` installs Redis and runs them (CI does).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Member, Node, Redis, WAIT, until_heard};

/// Reads `count` messages and checks each sender's are in order (texts `TAG-N`).
fn read_in_order(m: &mut Member, count: usize) -> HashMap<String, usize> {
    let mut next: HashMap<String, usize> = HashMap::new();
    for _ in 0..count {
        let (who, what) = m.next_said().expect("a message");
        let (tag, n) = what.rsplit_once('-').expect("TAG-N");
        let want = next.entry(format!("{who}/{tag}")).or_insert(0);
        assert_eq!(n.parse::<usize>().unwrap(), *want, "order of {who}'s {tag}");
        *want += 1;
    }
    next
}

#[test]
#[ignore = "needs redis-server: bash scripts/chat-cluster.sh"]
fn messages_cross_between_processes_both_ways_in_order_and_stay_in_their_room() {
    let redis = Redis::start();
    let url = redis.url();
    let a = Node::start("127.0.0.1:0", &["--redis", &url]);
    let b = Node::start("127.0.0.1:0", &["--redis", &url]);
    let mut a1 = a.join("rust");
    let mut b1 = b.join("rust");
    let mut a2 = a.join("go");
    let mut b2 = b.join("go");
    until_heard(&mut a1, &mut b1, "ab");
    until_heard(&mut b1, &mut a1, "ba");
    // The other room: subscribed too, so a leak would show.
    until_heard(&mut a2, &mut b2, "go");
    let _ = a2.drain_for(Duration::from_millis(300));
    let _ = b2.drain_for(Duration::from_millis(300));

    const N: usize = 200;
    for i in 0..N {
        a1.say(&format!("a-{i}"));
        b1.say(&format!("b-{i}"));
    }
    for m in [&mut a1, &mut b1] {
        let got = read_in_order(m, 2 * N);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.values().all(|&n| n == N), "{got:?}");
    }
    // Nothing of room rust reached room go, in either process.
    for m in [&mut a2, &mut b2] {
        let leaked = m.drain_for(Duration::from_millis(500));
        assert!(
            leaked
                .iter()
                .all(|t| !t.contains(": a-") && !t.contains(": b-")),
            "{leaked:?}"
        );
    }
}

#[test]
#[ignore = "needs redis-server: bash scripts/chat-cluster.sh"]
fn a_redis_restart_keeps_every_member_and_messages_flow_again() {
    let mut redis = Redis::start();
    let url = redis.url();
    let a = Node::start("127.0.0.1:0", &["--redis", &url]);
    let b = Node::start("127.0.0.1:0", &["--redis", &url]);
    let mut a1 = a.join("ops");
    let mut a2 = a.join("ops");
    let mut b1 = b.join("ops");
    until_heard(&mut a1, &mut b1, "before");
    until_heard(&mut b1, &mut a1, "before-back");
    let _ = a2.drain_for(Duration::from_millis(300));

    redis.kill();
    a.wait_log("redis: connection lost");
    b.wait_log("redis: connection lost");
    // During the outage: the sender's own process still hears it (a2); the other process
    // does not, and never will (at most once across processes).
    a1.say("during-0");
    assert_eq!(a2.next_said().map(|(_, t)| t).as_deref(), Some("during-0"));
    std::thread::sleep(Duration::from_millis(300));

    let restarted = Instant::now();
    redis.restart();
    let took = until_heard(&mut a1, &mut b1, "after");
    until_heard(&mut b1, &mut a1, "after-back");
    eprintln!(
        "messages crossed again {:?} after the restart",
        restarted.elapsed()
    );
    assert!(took < WAIT);
    // b1 never got the outage's message.
    let seen = b1.drain_for(Duration::from_millis(500));
    assert!(seen.iter().all(|t| !t.contains("during-0")), "{seen:?}");
    // Nobody was disconnected: the same connections carry messages both ways.
    a2.say("x-0");
    for m in [&mut a1, &mut a2, &mut b1] {
        loop {
            let (_, t) = m.next_said().expect("still connected");
            if t == "x-0" {
                break;
            }
        }
    }
    assert!(
        a.log()
            .iter()
            .any(|l| l.contains("redis: subscribed to 1 rooms"))
    );
}

#[test]
#[ignore = "needs redis-server: bash scripts/chat-cluster.sh"]
fn redis_down_at_start_is_retried_and_local_chat_works_meanwhile() {
    let port = common::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = Node::start("127.0.0.1:0", &["--redis", &url]);
    let b = Node::start("127.0.0.1:0", &["--redis", &url]);
    a.wait_log("redis: cannot connect to");
    assert!(
        a.log().iter().any(|l| l.contains("retrying in")),
        "{:?}",
        a.log()
    );
    let mut a1 = a.join("early");
    let mut a2 = a.join("early");
    let mut b1 = b.join("early");
    a1.say("local-0");
    assert_eq!(a2.next_said().map(|(_, t)| t).as_deref(), Some("local-0"));

    // Redis comes up on that port: both processes find it within the backoff's cap.
    let _redis = Redis::start_on(port);
    until_heard(&mut a1, &mut b1, "up");
    until_heard(&mut b1, &mut a1, "up-back");
}

#[test]
#[ignore = "needs redis-server: bash scripts/chat-cluster.sh"]
fn a_redis_that_stops_answering_is_left_and_found_again() {
    let redis = Redis::start();
    let url = redis.url();
    let a = Node::start("127.0.0.1:0", &["--redis", &url]);
    let b = Node::start("127.0.0.1:0", &["--redis", &url]);
    let mut a1 = a.join("hang");
    let mut b1 = b.join("hang");
    until_heard(&mut a1, &mut b1, "before");
    until_heard(&mut b1, &mut a1, "before-back");

    // Hung: connections open, no answers. The subscriber's ping notices within 5 s + 2 s.
    let stopped = Instant::now();
    redis.signal("-STOP");
    a.wait_log("redis: connection lost (subscriber: ping");
    b.wait_log("redis: connection lost (subscriber: ping");
    eprintln!("a hung Redis noticed after {:?}", stopped.elapsed());
    // Meanwhile the members' own process still serves them.
    a1.say("hung-0");
    assert_eq!(a1.next_said().map(|(_, t)| t).as_deref(), Some("hung-0"));

    redis.signal("-CONT");
    until_heard(&mut a1, &mut b1, "after");
    until_heard(&mut b1, &mut a1, "after-back");
}

#[test]
#[ignore = "needs redis-server: bash scripts/chat-cluster.sh"]
fn one_subscription_per_room_per_process_and_one_publish_per_message() {
    let redis = Redis::start();
    let url = redis.url();
    let a = Node::start("127.0.0.1:0", &["--redis", &url]);
    let b = Node::start("127.0.0.1:0", &["--redis", &url]);
    let channel = "zerows-chat:room:many";
    let mut on_a: Vec<Member> = (0..10).map(|_| a.join("many")).collect();
    let mut on_b: Vec<Member> = (0..10).map(|_| b.join("many")).collect();
    let (first_a, rest_a) = on_a.split_first_mut().unwrap();
    until_heard(first_a, &mut on_b[0], "ab");
    until_heard(&mut on_b[0], first_a, "ba");
    // 20 members, two processes: two subscriptions.
    assert_eq!(redis.subscribers(channel), 2);

    let before = redis.publishes();
    for i in 0..50 {
        first_a.say(&format!("m-{i}"));
    }
    // Everyone (both processes) gets all 50, in order.
    for m in rest_a.iter_mut().chain(on_b.iter_mut()) {
        let mut next = 0;
        while next < 50 {
            let (_, t) = m.next_said().expect("a message");
            if let Some(n) = t.strip_prefix("m-") {
                assert_eq!(n.parse::<usize>().unwrap(), next);
                next += 1;
            }
        }
    }
    // One PUBLISH per message, not one per member or per process.
    assert_eq!(redis.publishes() - before, 50);

    // A's members leave: A unsubscribes (its last member gone), B stays.
    drop(on_a);
    let deadline = Instant::now() + WAIT;
    while redis.subscribers(channel) != 1 {
        assert!(Instant::now() < deadline, "A never unsubscribed");
        std::thread::sleep(Duration::from_millis(50));
    }
}
