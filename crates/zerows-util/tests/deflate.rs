//! permessage-deflate: negotiation rules (RFC 7692 §7.1), round trips between two endpoints for
//! every agreed configuration, the decompressed-size limit, UTF-8 of inflated text, and zero
//! allocation per message in steady state.
#![cfg(feature = "deflate")]
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use zerows_frame::{Header, OpCode, Role, Rsv, apply_mask};
use zerows_upgrade::extensions;
use zerows_util::deflate::{DeflateConfig, DeflateParams, client_accept, client_offer, negotiate};
use zerows_util::{BufferPool, Config, Error, ExtensionError, Message, WebSocket};

struct Counting;
thread_local! {
    /// (counting, allocations, live bytes, peak live bytes) for this thread.
    static COUNT: Cell<(bool, u64, i64, i64)> = const { Cell::new((false, 0, 0, 0)) };
}
fn track(allocs: u64, delta: i64) {
    let _ = COUNT.try_with(|c| {
        let (on, n, live, peak) = c.get();
        if on {
            let live = live + delta;
            c.set((on, n + allocs, live, peak.max(live)));
        }
    });
}
// SAFETY: defers to the system allocator; the counter is a const thread-local Cell.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(1, layout.size() as i64);
        // SAFETY: same contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(0, -(layout.size() as i64));
        // SAFETY: same contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(1, new_size as i64 - layout.size() as i64);
        // SAFETY: same contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, peak bytes live) made by this thread while `f` runs. Live bytes are what `f`
/// allocated minus what it freed; freeing a block allocated before `f` lowers them, so the peak is a
/// *lower* bound on the new memory held at once — exact when `f` frees nothing older, as in the
/// tests below, where the connection allocates its buffers inside `f`.
fn counting<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (r, n, _, peak) = counting_live(f);
    (r, n, peak)
}

/// `counting`, plus the bytes still live when `f` returns (what it allocated and kept).
fn counting_live<T>(f: impl FnOnce() -> T) -> (T, u64, i64, u64) {
    COUNT.with(|c| c.set((true, 0, 0, 0)));
    let r = f();
    let (_, n, live, peak) = COUNT.with(|c| c.replace((false, 0, 0, 0)));
    (r, n, live, peak.max(0) as u64)
}

/// This thread's allocations so far while counting is on (for a thread that counts itself).
fn allocations_so_far() -> u64 {
    COUNT.with(|c| c.get().1)
}

fn offers(value: &str) -> Vec<extensions::Extension<'_>> {
    extensions::parse(value).map(|e| e.unwrap()).collect()
}

fn server_agrees(value: &str) -> Option<DeflateParams> {
    negotiate(offers(value), &DeflateConfig::default())
}

#[test]
fn server_negotiation_follows_rfc_7692() {
    // plain offer
    let p = server_agrees("permessage-deflate").unwrap();
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (15, 15)
    );
    assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
    let mut buf = [0u8; 128];
    assert_eq!(p.response(&mut buf), "permessage-deflate");
    // every parameter honoured and echoed as RFC 7692 §7.1 says
    let p = server_agrees(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
    )
    .unwrap();
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_eq!(p.server_max_window_bits, 10);
    assert_eq!(
        p.response(&mut buf),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
    );
    // an 8-bit server window is accepted (and honoured by not compressing)
    assert_eq!(
        server_agrees("permessage-deflate; server_max_window_bits=8")
            .unwrap()
            .server_max_window_bits,
        8
    );
    // quoted values are allowed by the RFC 6455 §9.1 grammar
    assert_eq!(
        server_agrees("permessage-deflate; server_max_window_bits=\"12\"")
            .unwrap()
            .server_max_window_bits,
        12
    );
    // ... compared after unescaping: "1\1" is 11 (was declined; found writing the util_deflate
    // fuzz model)
    assert_eq!(
        server_agrees("permessage-deflate; server_max_window_bits=\"1\\1\"")
            .unwrap()
            .server_max_window_bits,
        11
    );
}

#[test]
fn server_declines_malformed_offers_and_takes_the_next() {
    for bad in [
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_max_window_bits", // value required
        "permessage-deflate; server_max_window_bits=16", // out of range
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010", // leading zero
        "permessage-deflate; server_max_window_bits=\"\\09\"", // leading zero, escaped
        "permessage-deflate; server_max_window_bits=00000000000000000000009",
        "permessage-deflate; server_max_window_bits=4294967305", // 2^32 + 9
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1", // no value allowed
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover", // duplicate
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(server_agrees(bad), None, "{bad}");
        // with a valid fallback offer after it, the fallback is taken (preference order)
        let both = format!("{bad}, permessage-deflate; client_no_context_takeover");
        let p = server_agrees(&both).unwrap_or_else(|| panic!("{both}"));
        assert!(p.client_no_context_takeover, "{both}");
    }
}

#[test]
fn client_validates_the_response() {
    let cfg = DeflateConfig::default();
    assert_eq!(
        client_offer(&cfg),
        "permessage-deflate; client_max_window_bits"
    );
    assert_eq!(
        client_offer(
            &cfg.no_context_takeover(true)
                .request_peer_no_context_takeover(true)
                .max_window_bits(12)
        ),
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=12"
    );
    let ok = |v: &str| client_accept(offers(v), &cfg);
    assert_eq!(ok("other-ext").unwrap(), None);
    let p = ok("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
        .unwrap()
        .unwrap();
    assert!(p.server_no_context_takeover);
    assert_eq!(p.client_max_window_bits, 9);
    for bad in [
        "permessage-deflate; client_max_window_bits", // a response needs a value
        "permessage-deflate; foo",
        "permessage-deflate; server_max_window_bits=20",
        "permessage-deflate, permessage-deflate",
    ] {
        assert_eq!(ok(bad), Err(ExtensionError::NEGOTIATION), "{bad}");
    }
    // a value above the one we offered
    let small = cfg.max_window_bits(10);
    assert!(
        client_accept(
            offers("permessage-deflate; client_max_window_bits=12"),
            &small
        )
        .is_err()
    );
}

/// A server and a client with `params` installed, over a socket pair.
fn pair(
    params: &str,
    server_cfg: Config,
    client_cfg: Config,
) -> (WebSocket<UnixStream>, WebSocket<UnixStream>) {
    let agreed = server_agrees(params).unwrap();
    let mut buf = [0u8; 128];
    let response = agreed.response(&mut buf).to_owned();
    let client_agreed = client_accept(offers(&response), &DeflateConfig::default())
        .unwrap()
        .unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let mut server = WebSocket::from_raw(a, Role::Server, &[], server_cfg);
    server.set_extension(agreed.extension(Role::Server));
    let mut client = WebSocket::from_raw(b, Role::Client, &[], client_cfg);
    client.set_extension(client_agreed.extension(Role::Client));
    (server, client)
}

fn corpus(n: usize, seed: u32) -> Vec<u8> {
    let words = [
        "zerows ",
        "frame ",
        "deflate ",
        "κόσμε ",
        "window ",
        "message ",
        "{\"id\":",
        "42}, ",
    ];
    let mut x = seed;
    let mut s = Vec::new();
    while s.len() < n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        s.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
    }
    s.truncate(n);
    while std::str::from_utf8(&s).is_err() {
        s.pop();
    }
    s
}

#[test]
fn round_trips_for_every_configuration() {
    for params in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=8", // server sends uncompressed
        "permessage-deflate; server_max_window_bits=12; server_no_context_takeover",
    ] {
        let (mut server, mut client) = pair(params, Config::default(), Config::default());
        let t = thread::spawn(move || {
            let mut buf = Vec::new();
            for _ in 0..40 {
                let op = server.read_into(&mut buf).unwrap();
                server.send_message(op, &buf).unwrap();
            }
        });
        for i in 0..20u32 {
            let text = String::from_utf8(corpus([0usize, 1, 100, 5000, 70_000][i as usize % 5], i))
                .unwrap();
            client.send_text(&text).unwrap();
            assert!(
                client.read().unwrap() == Message::Text(&text),
                "{params} text {i}"
            );
            let bin: Vec<u8> = (0..(i * 997) as usize)
                .map(|j| (j as u32 * i) as u8)
                .collect();
            client.send_binary(&bin).unwrap();
            assert!(
                client.read().unwrap() == Message::Binary(&bin),
                "{params} binary {i}"
            );
        }
        t.join().unwrap();
    }
}

/// A raw client frame with RSV1 set on request.
fn raw(opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let key = [7, 7, 7, 7];
    let h = Header {
        fin,
        rsv: if rsv1 { Rsv::RSV1 } else { Rsv::NONE },
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = vec![0u8; h.encoded_len()];
    h.encode(&mut out).unwrap();
    let at = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[at..], key, 0);
    out
}

/// Raw deflate of `data` with a sync flush and the 4-byte tail removed (RFC 7692 §7.2.1).
fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xFF, 0xFF]));
    out.truncate(out.len() - 4);
    out
}

fn server_with_deflate(config: Config) -> (WebSocket<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut ws = WebSocket::from_raw(
        a,
        Role::Server,
        &[],
        config.close_timeout(Duration::from_millis(100)),
    );
    ws.set_extension(
        server_agrees("permessage-deflate")
            .unwrap()
            .extension(Role::Server),
    );
    (ws, b)
}

#[test]
fn fragmented_compressed_message_rsv1_on_first_frame_only() {
    let (mut ws, mut peer) = server_with_deflate(Config::default());
    let text = corpus(10_000, 3);
    let z = deflate_raw(&text);
    let (a, rest) = z.split_at(z.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut wire = raw(OpCode::Text, false, true, a);
    wire.extend(raw(OpCode::Ping, true, false, b"p"));
    wire.extend(raw(OpCode::Continuation, false, false, b));
    wire.extend(raw(OpCode::Continuation, true, false, c));
    peer.write_all(&wire).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Ping(b"p"));
    assert!(ws.read().unwrap() == Message::Text(std::str::from_utf8(&text).unwrap()));
}

#[test]
fn decompression_bomb_closes_with_1009_without_allocating_past_the_limit() {
    const LIMIT: u64 = 1 << 20;
    let (mut ws, mut peer) = server_with_deflate(Config::default().max_message_size(LIMIT));
    // 16 MiB of zeros deflate to about 16 KiB: within the frame limit, far beyond the message limit
    let bomb = deflate_raw(&vec![0u8; 16 << 20]);
    assert!((bomb.len() as u64) < LIMIT / 8);
    let writer = thread::spawn(move || {
        let _ = peer.write_all(&raw(OpCode::Binary, true, true, &bomb));
        let mut rest = Vec::new();
        let _ = peer.read_to_end(&mut rest);
        rest
    });
    let (r, _, bytes) = counting(|| ws.read().map(|m| m.payload().len()));
    let e = r.unwrap_err();
    assert!(
        matches!(e, Error::Extension(ExtensionError { code, .. }) if code.0 == 1009),
        "{e:?}"
    );
    // the most this thread held at once while reading (the connection's buffers are all allocated
    // inside `counting`, and the inflater before it): the message buffer up to the limit and the
    // 16 KiB read buffer, as docs/deflate.md says; never the 16 MiB the bomb inflates to
    assert!(
        bytes <= LIMIT + (16 << 10) + 1024,
        "{bytes} bytes live at the peak"
    );
    let sent = writer.join().unwrap();
    assert_eq!(&sent[..4], &[0x88, 0x13, 0x03, 0xF1], "close 1009");
}

#[test]
fn inflated_text_is_utf8_checked_fail_fast() {
    let (mut ws, mut peer) = server_with_deflate(Config::default());
    let mut bad = corpus(1000, 9);
    bad.extend_from_slice(&[0xC0, 0xAF]); // overlong: invalid
    let z = deflate_raw(&bad);
    // only the first frame, FIN clear: the error must come without the message ending
    peer.write_all(&raw(OpCode::Text, false, true, &z)).unwrap();
    let e = ws.read().unwrap_err();
    assert!(
        matches!(e, Error::Protocol(zerows_frame::Error::InvalidUtf8)),
        "{e:?}"
    );
}

#[test]
fn corrupt_deflate_data_closes_with_1007() {
    let (mut ws, mut peer) = server_with_deflate(Config::default());
    peer.write_all(&raw(
        OpCode::Binary,
        true,
        true,
        &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ))
    .unwrap();
    let e = ws.read().unwrap_err();
    assert!(
        matches!(e, Error::Extension(ExtensionError::INVALID_DATA)),
        "{e:?}"
    );
}

#[test]
fn steady_state_allocates_nothing_per_message() {
    const WARMUP: usize = 3;
    const COUNTED: usize = 200;
    for params in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ] {
        let msgs: Vec<Vec<u8>> = (0..8)
            .map(|i| corpus([10usize, 300, 4000, 20_000][i % 4], i as u32))
            .collect();
        let per_round = msgs.len();
        // Each end with a pool of its own: the process-wide default pool is shared with the
        // other tests of this binary, which may take the buffers this connection gave back.
        let own = || Config::default().pool(BufferPool::new(16));
        let (mut server, mut client) = pair(params, own(), own());
        // The server counts its own allocations (the counter is per thread) over exactly the
        // echoes the client counts: from the first counted message to the last.
        let t = thread::spawn(move || {
            let mut buf = Vec::with_capacity(64 << 10);
            let mut echoed = 0;
            let mut counted = None;
            loop {
                if echoed == WARMUP * per_round {
                    COUNT.with(|c| c.set((true, 0, 0, 0)));
                }
                match server.read_into(&mut buf) {
                    Ok(op) => server.send_message(op, &buf).unwrap(),
                    Err(_) => return counted,
                }
                echoed += 1;
                if echoed == (WARMUP + COUNTED) * per_round {
                    counted = Some(allocations_so_far());
                    COUNT.with(|c| c.set((false, 0, 0, 0)));
                }
            }
        });
        let mut back = Vec::with_capacity(64 << 10);
        let mut roundtrip = |client: &mut WebSocket<UnixStream>, m: &[u8]| {
            client.send_message(OpCode::Text, m).unwrap();
            let op = client.read_into(&mut back).unwrap();
            assert_eq!(op, OpCode::Text);
            assert!(back == m);
        };
        for _ in 0..WARMUP {
            for m in &msgs {
                roundtrip(&mut client, m);
            }
        }
        let (_, allocations, _) = counting(|| {
            for _ in 0..COUNTED {
                for m in &msgs {
                    roundtrip(&mut client, m);
                }
            }
        });
        assert_eq!(allocations, 0, "{params}: client allocated in steady state");
        drop(client);
        let server_allocations = t.join().unwrap();
        assert_eq!(
            server_allocations,
            Some(0),
            "{params}: server allocated in steady state ({} echoes counted)",
            COUNTED * per_round
        );
    }
}

/// The figures of docs/deflate.md ("Memory per connection") and the `deflate` module docs: what
/// the inflater (created at negotiation) and the compressor (created on the first compressed
/// message) keep, per window size, in KiB (rounded to the nearest).
const DOCUMENTED_KIB: [(u8, u64, u64); 8] = [
    // (our window bits, compressor, inflater)
    (8, 0, 47),
    (9, 245, 47),
    (10, 247, 47),
    (11, 251, 47),
    (12, 259, 47),
    (13, 275, 47),
    (14, 307, 47),
    (15, 371, 47),
];

#[test]
fn memory_per_connection_is_documented() {
    for (bits, compressor_kib, inflater_kib) in DOCUMENTED_KIB {
        let params = format!("permessage-deflate; server_max_window_bits={bits}");
        let agreed = server_agrees(&params).unwrap();
        let (ext, _, inflater, _) = counting_live(|| agreed.extension(Role::Server));
        let (a, _b) = UnixStream::pair().unwrap();
        let mut ws = WebSocket::from_raw(a, Role::Server, &[], Config::default());
        ws.set_extension(ext);
        let (_, _, compressor, _) = counting_live(|| ws.send_text(&"x".repeat(100)).unwrap());
        let kib = |b: i64| (b.max(0) as u64 + 512) / 1024;
        assert_eq!(
            (kib(compressor), kib(inflater)),
            (compressor_kib, inflater_kib),
            "window {bits}: compressor {compressor} B, inflater {inflater} B kept; update \
             docs/deflate.md, the deflate module docs and this table"
        );
    }
}

/// Compressed output larger than the peer's frame limit is split into frames, RSV1 on the first.
#[test]
fn compressed_messages_larger_than_a_frame_are_split() {
    let small = || {
        Config::default()
            .max_frame_size(1000)
            .max_send_frame_size(1000)
    };
    let (mut server, mut client) = pair("permessage-deflate", small(), small());
    let t = thread::spawn(move || {
        let mut buf = Vec::new();
        let op = server.read_into(&mut buf).unwrap();
        server.send_message(op, &buf).unwrap();
    });
    // pseudo-random bytes do not compress: the deflate output exceeds 1,000 bytes many times over
    let mut x = 1u32;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    client.send_binary(&noise).unwrap();
    assert!(client.read().unwrap() == Message::Binary(&noise));
    t.join().unwrap();
}

/// RFC 7692 §7.1.2.2: a client that offers `client_max_window_bits=9` promises to compress within
/// 512 bytes. zerows inflates with a 15-bit window whatever was agreed, and accepts a peer's data
/// that reaches further back (up to 32 KiB, the most DEFLATE can express), the same way through
/// every read API and whatever the read sizes: the agreed window binds the sender; policing it would
/// need a second DEFLATE parse per message and protects nothing, since our window costs the same
/// 47 KiB either way (docs/deflate.md, "A peer beyond its window").
#[test]
fn peer_data_beyond_the_agreed_window_is_accepted_by_every_read_api() {
    let agreed = server_agrees("permessage-deflate; client_max_window_bits=9").unwrap();
    assert_eq!(agreed.client_max_window_bits, 9);
    // 20,000 incompressible bytes, then the same again: the second copy is one back-reference of
    // distance 20,000; the second message reaches 40,000 bytes back into the first.
    let mut x = 0x2545_f491_u32;
    let random: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let first = [random.clone(), random.clone()].concat();
    let second = random[..3000].to_vec();
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut wire = Vec::new();
    let mut sizes = Vec::new();
    for m in [&first, &second] {
        let mut z = Vec::with_capacity(m.len() + 1024);
        c.compress_vec(m, &mut z, flate2::FlushCompress::Sync)
            .unwrap();
        z.truncate(z.len() - 4);
        sizes.push(z.len());
        wire.extend(raw(OpCode::Binary, true, true, &z));
    }
    assert!(
        sizes[0] < 21_000 && sizes[1] < 100,
        "the test data must use far back-references: {sizes:?}"
    );
    let server = |read_buffer: usize| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut ws = WebSocket::from_raw(
            a,
            Role::Server,
            &[],
            Config::default().read_buffer_size(read_buffer),
        );
        ws.set_extension(agreed.extension(Role::Server));
        b.write_all(&wire).unwrap();
        (ws, b)
    };
    for read_buffer in [512, 16 << 10] {
        let (mut ws, _peer) = server(read_buffer);
        for want in [&first, &second] {
            match ws.read().unwrap() {
                Message::Binary(got) => assert!(got == &want[..], "read, {read_buffer}"),
                other => panic!("{other:?}"),
            }
        }
        let (mut ws, _peer) = server(read_buffer);
        let mut buf = Vec::new();
        for want in [&first, &second] {
            assert_eq!(ws.read_into(&mut buf).unwrap(), OpCode::Binary);
            assert!(&buf == want, "read_into, {read_buffer}");
        }
        let (mut ws, _peer) = server(read_buffer);
        for want in [&first, &second] {
            let mut r = ws.message_reader().unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = r.next_chunk().unwrap() {
                got.extend_from_slice(chunk);
            }
            assert!(&got == want, "message_reader, {read_buffer}");
        }
    }
}

/// A prepared message sent on a compressed connection goes through that connection's compressor
/// (as gorilla does): RSV1 set, and the peer inflates it with its stream's context.
#[test]
fn prepared_messages_are_compressed_per_connection() {
    let text = corpus(5000, 11);
    let msg = zerows_util::PreparedMessage::new(OpCode::Text, &text);
    let (mut server, mut client) = pair("permessage-deflate", Config::default(), Config::default());
    for _ in 0..3 {
        server.send_prepared(&msg).unwrap();
        match client.read().unwrap() {
            Message::Text(t) => assert_eq!(t.as_bytes(), &text[..]),
            other => panic!("{other:?}"),
        }
    }
    // On the wire: RSV1 on a frame much shorter than the text.
    let (mut ws, mut peer) = server_with_deflate(Config::default());
    ws.send_prepared(&msg).unwrap();
    let mut head = [0u8; 4];
    peer.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0xC1, "FIN + RSV1 + text");
    let len = if head[1] == 126 {
        usize::from(u16::from_be_bytes([head[2], head[3]]))
    } else {
        usize::from(head[1])
    };
    assert!(
        len < text.len() / 2,
        "{len} bytes for {} of text",
        text.len()
    );
}
