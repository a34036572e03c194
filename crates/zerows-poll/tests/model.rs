//! The event loop under a deterministic driver: scripted sockets (partial reads and writes,
//! `WouldBlock`, end of stream, resets), a fake clock, and readiness in a scripted order. An echo
//! handler must give back what a model says, whatever the interleaving: the same messages in the
//! same order, a pong per ping, the client's close echoed, every connection released once.

mod scripted;

use std::time::Duration;

use proptest::prelude::*;
use scripted::{
    ClientFrame, ConnScript, Driver, REQUEST, SWITCHING, Script, ScriptMessage, Step, check,
    decode_reply, run,
};
use zerows_poll::Options;
use zerows_util::{CloseCode, Config};

/// One masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ClientFrame::new(fin, opcode, payload, [1, 2, 3, 4]).encode(&mut out);
    out
}

/// A close frame with `code`.
fn close_frame(code: u16) -> Vec<u8> {
    frame(true, 0x8, &code.to_be_bytes())
}

/// A driver with one upgraded connection (index 0), its 101 read.
fn opened(config: Config, options: &Options) -> Driver {
    let mut d = Driver::new(config, options);
    let c = d.accept();
    d.feed(c, REQUEST);
    assert_eq!(d.el.open_connections(), 1);
    d
}

#[test]
fn a_handshake_split_into_one_byte_reads_completes() {
    let mut d = Driver::new(Config::default(), &Options::default());
    let c = d.accept();
    d.wire(c).read_cap = 1;
    for (i, &b) in REQUEST.iter().enumerate() {
        assert_eq!(d.el.open_connections(), 0, "opened after {i} bytes");
        d.feed(c, &[b]);
    }
    assert_eq!(d.el.open_connections(), 1);
    assert_eq!(d.el.stats().opened, 1);
    d.feed(c, &frame(true, 0x1, b"hello"));
    let reply = decode_reply(&d.wire(c).output);
    assert_eq!(reply.status.as_deref(), Some(SWITCHING));
    assert_eq!(reply.messages, vec![(0x1, b"hello".to_vec())]);
}

#[test]
fn a_response_written_one_byte_at_a_time_still_opens_the_connection() {
    let mut d = Driver::new(Config::default(), &Options::default());
    let c = d.accept();
    {
        let mut w = d.wire(c);
        w.write_cap = 1;
        w.write_budget = 10;
    }
    let mut bytes = REQUEST.to_vec();
    bytes.extend(frame(true, 0x2, b"early"));
    d.feed(c, &bytes);
    assert_eq!(d.el.open_connections(), 0, "the 101 is not all written");
    for _ in 0..1000 {
        if d.el.open_connections() == 1 {
            break;
        }
        d.wire(c).write_budget += 7;
        d.ready(c, false, true);
    }
    assert_eq!(d.el.open_connections(), 1);
    d.wire(c).write_budget = usize::MAX;
    d.ready(c, false, true);
    let reply = decode_reply(&d.wire(c).output);
    assert_eq!(reply.status.as_deref(), Some(SWITCHING));
    assert_eq!(reply.messages, vec![(0x2, b"early".to_vec())]);
}

#[test]
fn a_request_head_over_8_kib_is_refused_with_431() {
    for chunk in [usize::MAX, 1000, 4096] {
        let mut d = Driver::new(Config::default(), &Options::default());
        let c = d.accept();
        let mut request = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        while request.len() <= 9000 {
            request.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        for piece in request.chunks(chunk.min(request.len())) {
            d.feed(c, piece);
        }
        let out = d.wire(c).output.clone();
        assert!(
            out.starts_with(b"HTTP/1.1 431"),
            "chunk {chunk}: {:?}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(d.el.connections(), 0, "chunk {chunk}");
        assert_eq!(d.el.stats().refused, 1);
        assert!(d.wire(c).dropped);
    }
}

#[test]
fn the_handshake_timeout_releases_a_silent_connection() {
    let options = Options::default().handshake_timeout(Duration::from_secs(10));
    let mut d = Driver::new(Config::default(), &options);
    let silent = d.accept();
    let slow = d.accept();
    d.feed(slow, &REQUEST[..20]);
    d.advance(Duration::from_millis(9_900));
    assert_eq!(d.el.connections(), 2, "not yet due");
    d.advance(Duration::from_millis(200));
    assert_eq!(d.el.connections(), 0);
    assert_eq!(d.el.stats().handshake_timeouts, 2);
    assert!(d.wire(silent).dropped && d.wire(slow).dropped);
    assert!(
        d.wire(silent).output.is_empty(),
        "no response to a slowloris"
    );
    assert!(
        d.el.handler().seen.closed.is_empty(),
        "never opened, never closed"
    );
}

#[test]
fn a_dormant_connection_holds_no_connection_and_wakes_on_input() {
    let mut d = opened(Config::default(), &Options::default());
    assert_eq!(
        d.el.active_connections(),
        0,
        "dormant right after the upgrade"
    );
    let activations = d.el.stats().activations;

    // The echo cannot be written at once: the connection stays active until it is.
    d.wire(0).write_budget = 3;
    d.feed(0, &frame(true, 0x1, b"ping-pong"));
    assert_eq!(d.el.stats().activations, activations + 1);
    assert_eq!(d.el.active_connections(), 1, "output waits");
    d.wire(0).write_budget = usize::MAX;
    d.ready(0, false, true);
    assert_eq!(d.el.active_connections(), 0, "at rest once written");
    assert_eq!(d.el.connections(), 1);

    d.feed(0, &frame(true, 0x2, &[7; 300]));
    assert_eq!(d.el.stats().activations, activations + 2);
    assert_eq!(d.el.active_connections(), 0);
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(
        reply.messages,
        vec![(0x1, b"ping-pong".to_vec()), (0x2, vec![7; 300])]
    );
}

#[test]
fn half_a_frame_keeps_the_connection_active() {
    let mut d = opened(Config::default(), &Options::default());
    let f = frame(true, 0x1, b"split across reads");
    d.feed(0, &f[..5]);
    assert_eq!(d.el.active_connections(), 1, "a frame is in progress");
    d.feed(0, &f[5..]);
    assert_eq!(d.el.active_connections(), 0);
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.messages, vec![(0x1, b"split across reads".to_vec())]);
}

#[test]
fn a_client_close_is_echoed_and_the_connection_released_once() {
    let mut d = opened(Config::default(), &Options::default());
    d.feed(0, &frame(true, 0x1, b"last words"));
    d.feed(0, &close_frame(1000));
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.messages, vec![(0x1, b"last words".to_vec())]);
    assert_eq!(reply.close_code(), Some(1000));
    assert_eq!(d.el.connections(), 0);
    let seen = &d.el.handler().seen;
    assert_eq!(seen.closed.len(), 1);
    assert_eq!(seen.closed[0].1, Some(CloseCode::NORMAL));
    assert!(!seen.closed[0].2, "a clean close is no error");
    assert!(d.wire(0).dropped);
}

#[test]
fn the_close_timeout_releases_a_peer_that_never_answers_our_close() {
    let config = Config::default().close_timeout(Duration::from_secs(2));
    let mut d = opened(config, &Options::default());
    d.el.shutdown(d.now);
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(
        reply.close_code(),
        Some(1001),
        "server shutdown: going away"
    );
    assert_eq!(d.el.connections(), 1, "waits for the peer's close");
    d.advance(Duration::from_millis(1_900));
    assert_eq!(d.el.connections(), 1, "not yet due");
    d.advance(Duration::from_millis(200));
    assert_eq!(d.el.connections(), 0);
    let seen = &d.el.handler().seen;
    assert_eq!(seen.closed.len(), 1);
    assert!(seen.closed[0].2, "a close timeout is an error");
}

#[test]
fn the_peer_answering_our_close_releases_the_connection_at_once() {
    let mut d = opened(Config::default(), &Options::default());
    d.el.shutdown(d.now);
    d.feed(0, &close_frame(1001));
    assert_eq!(d.el.connections(), 0);
    assert_eq!(d.el.handler().seen.closed.len(), 1);
}

#[test]
fn the_idle_timeout_closes_with_1001() {
    let options = Options::default().idle_timeout(Some(Duration::from_secs(5)));
    let mut d = opened(Config::default(), &options);
    d.advance(Duration::from_secs(3));
    d.feed(0, &frame(true, 0x1, b"still here"));
    d.advance(Duration::from_secs(4));
    assert!(
        decode_reply(&d.wire(0).output).close.is_none(),
        "input 4 s ago"
    );
    d.advance(Duration::from_millis(1_100));
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.close_code(), Some(1001));
    assert_eq!(d.el.stats().idle_closes, 1);
    d.feed(0, &close_frame(1001));
    assert_eq!(d.el.connections(), 0);
}

#[test]
fn keepalive_pings_a_dormant_connection_and_closes_with_1001_without_a_pong() {
    let config = Config::default().keepalive(Duration::from_secs(2), Duration::from_secs(1));
    let mut d = opened(config, &Options::default());
    assert_eq!(d.el.active_connections(), 0);
    d.advance(Duration::from_millis(1_900));
    assert!(decode_reply(&d.wire(0).output).pings.is_empty(), "not yet");
    d.advance(Duration::from_millis(200));
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.pings.len(), 1, "{reply:?}");
    assert!(reply.close.is_none());
    d.advance(Duration::from_millis(1_100));
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.close_code(), Some(1001), "{reply:?}");
    // Released by the close timeout at the latest.
    for _ in 0..10 {
        d.advance(Duration::from_millis(500));
    }
    assert_eq!(d.el.connections(), 0);
    assert_eq!(d.el.handler().seen.closed.len(), 1);
}

#[test]
fn keepalive_with_pongs_keeps_the_connection_open() {
    let config = Config::default().keepalive(Duration::from_secs(2), Duration::from_secs(1));
    let mut d = opened(config, &Options::default());
    for round in 1..=5 {
        d.advance(Duration::from_millis(2_100));
        let reply = decode_reply(&d.wire(0).output);
        assert_eq!(reply.pings.len(), round, "{reply:?}");
        let ping = reply.pings[round - 1].clone();
        d.feed(0, &frame(true, 0xA, &ping));
        assert_eq!(d.el.active_connections(), 0, "dormant again after the pong");
    }
    assert!(decode_reply(&d.wire(0).output).close.is_none());
    assert_eq!(d.el.open_connections(), 1);
}

#[test]
fn a_reset_releases_the_connection_and_reports_an_error() {
    let mut d = opened(Config::default(), &Options::default());
    d.wire(0).reset = true;
    d.ready(0, true, false);
    assert_eq!(d.el.connections(), 0);
    let seen = &d.el.handler().seen;
    assert_eq!(seen.closed.len(), 1);
    assert!(seen.closed[0].2);
}

#[test]
fn end_of_stream_without_a_close_still_delivers_queued_echoes() {
    let mut d = opened(Config::default(), &Options::default());
    d.wire(0).write_budget = 0;
    d.feed(0, &frame(true, 0x1, b"echo me"));
    d.wire(0).eof = true;
    d.ready(0, true, false);
    assert_eq!(d.el.handler().seen.closed.len(), 1, "reading is over");
    d.wire(0).write_budget = usize::MAX;
    d.ready(0, false, true);
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.messages, vec![(0x1, b"echo me".to_vec())]);
    assert_eq!(d.el.connections(), 0);
}

#[test]
fn pongs_answer_pings_in_order_and_end_with_the_latest() {
    let p = |s: &str| s.as_bytes().to_vec();
    let pings = [p("a"), p("b"), p("c")];
    assert!(scripted::pongs_answer(&pings, &pings));
    assert!(scripted::pongs_answer(&[p("a"), p("c")], &pings));
    assert!(scripted::pongs_answer(&[p("c")], &pings));
    assert!(!scripted::pongs_answer(&[p("a"), p("c"), p("b")], &pings));
    assert!(
        !scripted::pongs_answer(&[p("a"), p("b")], &pings),
        "the latest unanswered"
    );
    assert!(!scripted::pongs_answer(&[p("c"), p("c")], &pings));
    assert!(scripted::pongs_answer(&[], &[]));
}

#[test]
fn pongs_go_out_in_the_order_of_the_pings_when_writes_block() {
    // Found by the model: with the peer's window just past the 101, the second pong went into
    // the write queue (written before the control slot) and overtook the first.
    let m = |p: &[u8], ping: &[u8]| ScriptMessage {
        text: false,
        payload: p.to_vec(),
        cuts: vec![],
        pings: vec![Some(ping.to_vec())],
    };
    let mut cs = ConnScript::valid(vec![
        m(&[1; 100], b"A"),
        m(&[2; 100], b"B"),
        m(&[3; 60], b"C"),
    ]);
    cs.close = false;
    cs.write_caps = vec![1];
    let all = cs.bytes().len();
    let mut steps = vec![Step::Deliver {
        conn: 0,
        bytes: 180,
    }];
    steps.extend([Step::Drain { conn: 0, bytes: 1 }; 5]);
    steps.push(Step::Deliver {
        conn: 0,
        bytes: all,
    });
    let script = Script {
        conns: vec![cs],
        steps,
        initial_window: 130,
    };
    let out = run(&script);
    check(&script, &out).expect("the model");
    let pongs = &out.replies[0].pongs;
    assert!(pongs.windows(2).all(|w| w[0] < w[1]), "{pongs:?}");
}

#[test]
fn the_model_checker_rejects_a_wrong_echo() {
    // The check is not vacuous: an outcome missing a message fails it.
    let script = Script {
        conns: vec![ConnScript::valid(vec![ScriptMessage {
            text: true,
            payload: b"abc".to_vec(),
            cuts: vec![1],
            pings: vec![Some(b"p".to_vec())],
        }])],
        steps: vec![],
        initial_window: usize::MAX,
    };
    let mut out = run(&script);
    check(&script, &out).expect("the real run agrees with the model");
    assert_eq!(out.replies[0].pongs, vec![b"p".to_vec()]);
    out.replies[0].messages.clear();
    assert!(check(&script, &out).is_err());
}

// ---- properties ---------------------------------------------------------------------------

/// A text (any chars) or binary message, cut anywhere, with pings between its frames.
fn message() -> impl Strategy<Value = ScriptMessage> {
    let text = prop::collection::vec(any::<char>(), 0..60)
        .prop_map(|cs| (true, cs.into_iter().collect::<String>().into_bytes()));
    let binary = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..300),
        1 => prop::collection::vec(any::<u8>(), 126..3000),
    ]
    .prop_map(|b| (false, b));
    (
        prop_oneof![text, binary],
        prop::collection::vec(0usize..3000, 0..4),
        prop::collection::vec(
            prop::option::weighted(0.3, prop::collection::vec(any::<u8>(), 0..20)),
            0..5,
        ),
    )
        .prop_map(|((text, payload), cuts, pings)| ScriptMessage {
            text,
            payload,
            cuts,
            pings,
        })
}

/// Read or write caps: tiny, small or large.
fn caps() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..8, 8usize..200, 200usize..5000], 0..4)
}

/// A valid connection: messages, with or without the client's close, caps, a masking key.
fn conn() -> impl Strategy<Value = ConnScript> {
    (
        prop::collection::vec(message(), 0..6),
        any::<bool>(),
        caps(),
        caps(),
        any::<[u8; 4]>(),
    )
        .prop_map(
            |(messages, close, read_caps, write_caps, mask)| ConnScript {
                close,
                read_caps,
                write_caps,
                mask,
                ..ConnScript::valid(messages)
            },
        )
}

/// One step of the interleaving.
fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..4, prop_oneof![1usize..10, 10usize..400, 400usize..4000])
            .prop_map(|(conn, bytes)| Step::Deliver { conn, bytes }),
        3 => (0usize..4, prop_oneof![1usize..10, 10usize..400, 400usize..4000])
            .prop_map(|(conn, bytes)| Step::Drain { conn, bytes }),
        1 => (0usize..4, any::<bool>(), any::<bool>()).prop_map(|(conn, readable, writable)| {
            Step::Spurious { conn, readable, writable }
        }),
        // At most 60 steps of at most 150 ms: under the 10 s handshake timeout.
        2 => (0u64..150).prop_map(|ms| Step::Tick { ms }),
    ]
}

/// One to three connections, up to 60 steps, a closed, small or unlimited first window.
fn script() -> impl Strategy<Value = Script> {
    (
        prop::collection::vec(conn(), 1..4),
        prop::collection::vec(step(), 0..60),
        prop_oneof![Just(0usize), 0usize..300, Just(usize::MAX)],
    )
        .prop_map(|(conns, steps, initial_window)| Script {
            conns,
            steps,
            initial_window,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any chunking of the input, any write capacities, any order of readiness events and timer
    /// ticks, several connections interleaved: the echoes equal the model.
    #[test]
    fn any_interleaving_echoes_what_the_model_says(script in script()) {
        let out = run(&script);
        if let Err(e) = check(&script, &out) {
            return Err(TestCaseError::fail(e));
        }
        // Every connection ended by the client's close or its end of stream, not by a timer.
        prop_assert!(out.end_steps <= 2, "end steps {}", out.end_steps);
    }
}

// ---- the fuzz target's regressions ----------------------------------------------------------

/// Runs a saved `poll_loop` fuzz input (`fuzz/regressions/`) through the same reading, driver
/// and checks as the fuzz target.
fn fuzz_regression(data: &[u8]) {
    let case = scripted::fuzz_case(data);
    assert!(case.model, "a regression the model applies to");
    if let Err(e) = case.verdict() {
        panic!("{e}");
    }
}

/// The 101 half written, then the client's close behind it and a closed window for 2.5 s: the
/// close echo goes out once the window opens (within the close timeout). With the default 1 s
/// close timeout the connection is given up on first, which the model must not call a lost echo
/// (the first finding of the fuzz target, a fault of its model).
#[test]
fn a_close_echo_behind_a_closed_window_goes_out_when_it_opens() {
    fuzz_regression(include_bytes!(
        "../../../fuzz/regressions/poll_loop-close-echo-behind-a-closed-window.bin"
    ));
}

#[test]
fn the_close_timeout_gives_up_on_output_the_peer_never_reads() {
    let config = Config::default().close_timeout(Duration::from_secs(1));
    let mut d = opened(config, &Options::default());
    d.wire(0).write_budget = 4;
    d.feed(0, &frame(true, 0x2, &[9; 200]));
    d.feed(0, &close_frame(1000));
    assert_eq!(d.el.handler().seen.closed.len(), 1, "reading is over");
    assert_eq!(d.el.connections(), 1, "the echo and the close wait");
    d.advance(Duration::from_millis(1_100));
    assert_eq!(d.el.connections(), 0);
    assert!(d.wire(0).dropped);
    let reply = decode_reply(&d.wire(0).output);
    assert!(reply.junk.is_empty());
    assert_eq!(reply.cut.len(), 4, "the echo's first bytes, then nothing");
    assert!(reply.close.is_none());
}

/// Every committed seed and reproducer of the fuzz target passes its checks under `cargo test`
/// too (and most are scripts the model applies to).
#[test]
fn the_fuzz_seeds_and_regressions_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus/poll_loop", "regressions"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("the fuzz directory") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if dir == "corpus/poll_loop" || name.starts_with("poll_loop-") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    let mut modelled = 0;
    for path in &files {
        let case = scripted::fuzz_case(&std::fs::read(path).expect("readable"));
        modelled += usize::from(case.model);
        if let Err(e) = case.verdict() {
            panic!("{}: {e}", path.display());
        }
    }
    assert!(modelled * 2 > files.len(), "{modelled} of {}", files.len());
}

// ---- backpressure ---------------------------------------------------------------------------

#[test]
fn a_peer_that_does_not_read_is_not_read_from_until_it_drains() {
    let options = Options::default().backpressure_threshold(1024);
    let mut d = opened(scripted::model_config(), &options);
    d.wire(0).write_budget = 0;
    let message = vec![0x5a; 8 << 10];
    let mut bytes = Vec::new();
    for _ in 0..40 {
        bytes.extend(frame(true, 0x2, &message));
    }
    d.feed(0, &bytes);
    let unread = d.wire(0).input.len();
    assert!(unread > 0, "reading paused with {unread} bytes unread");
    let seen = d.el.handler().seen.messages.len();
    assert!((1..40).contains(&seen), "{seen} messages before the pause");
    // A readable edge does not resume it; the peer reading does.
    d.ready(0, true, false);
    assert_eq!(d.wire(0).input.len(), unread);
    for _ in 0..1000 {
        if d.wire(0).input.is_empty() && d.el.active_connections() == 0 {
            break;
        }
        d.wire(0).write_budget += 16 << 10;
        d.ready(0, false, true);
    }
    d.wire(0).write_budget = usize::MAX;
    d.ready(0, false, true);
    let reply = decode_reply(&d.wire(0).output);
    assert_eq!(reply.messages.len(), 40);
    assert!(reply.messages.iter().all(|m| m.1 == message));
    assert_eq!(d.el.active_connections(), 0);
}

/// A binary message up to 80 KB, cut anywhere, with a ping before it.
fn big_message() -> impl Strategy<Value = ScriptMessage> {
    (
        1usize..80_000,
        1u8..255,
        prop::collection::vec(0usize..80_000, 0..3),
    )
        .prop_map(|(len, seed, cuts)| ScriptMessage {
            text: false,
            payload: (0..len).map(|i| i.to_le_bytes()[0] ^ seed).collect(),
            cuts,
            pings: vec![Some(vec![seed])],
        })
}

/// Large deliveries and drains on two connections, short ticks.
fn big_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..2, 1usize..40_000).prop_map(|(conn, bytes)| Step::Deliver { conn, bytes }),
        (0usize..2, 1usize..40_000).prop_map(|(conn, bytes)| Step::Drain { conn, bytes }),
        (0u64..100).prop_map(|ms| Step::Tick { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Messages larger than the read buffer and the backpressure threshold, peers that read
    /// slowly: reading pauses and resumes, and the echoes still equal the model.
    #[test]
    fn backpressure_keeps_the_echoes_equal_to_the_model(
        messages in prop::collection::vec(prop::collection::vec(big_message(), 1..4), 1..3),
        write_caps in caps(),
        steps in prop::collection::vec(big_step(), 0..40),
    ) {
        let conns = messages
            .into_iter()
            .map(|m| ConnScript { write_caps: write_caps.clone(), ..ConnScript::valid(m) })
            .collect();
        let script = Script { conns, steps, initial_window: 0 };
        let options = Options::default().backpressure_threshold(1024);
        let out = scripted::run_with(&script, scripted::model_config(), &options);
        if let Err(e) = check(&script, &out) {
            return Err(TestCaseError::fail(e));
        }
    }
}
