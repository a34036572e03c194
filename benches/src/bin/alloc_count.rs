//! Allocations per message for every stack: the in-memory echo of `zerows_benches::echo`, under a
//! counting global allocator. Setup (building the connection) is excluded by running a short echo
//! first and subtracting: `(allocs(n + warm) - allocs(warm)) / n`, after one uncounted
//! connection so that a shared buffer pool is in the same state for both counted ones.
//!
//! ```text
//! alloc_count [--n 100000]
//! ```
//! Prints one JSON line per stack and message size.

use zerows_benches::alloc::{Counting, allocations};
use zerows_benches::echo::{self, Stack};
use zerows_benches::frames::client_stream;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let mut n: usize = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().and_then(|v| v.parse().ok()).expect("--n N"),
            _ => {
                eprintln!("usage: alloc_count [--n N]");
                std::process::exit(2);
            }
        }
    }
    handshake_allocs();
    let rt = echo::runtime();
    let warm = 100;
    for (size, n) in [(16, n), (64 << 10, (n / 100).max(10))] {
        let long = client_stream(n + warm, size);
        let short = client_stream(warm, size);
        for stack in Stack::ALL {
            let count = |input: &[u8], msgs: usize| {
                let (a0, b0) = allocations();
                echo::run(stack, &rt, input, msgs, true);
                let (a1, b1) = allocations();
                (a1 - a0, b1 - b0)
            };
            // One connection first: a process-wide buffer pool (zerows' default) settles
            // into the buffers a connection of this size uses, so the two counted
            // connections start from the same pool state and differ only in messages.
            count(&short, warm);
            let (a_short, b_short) = count(&short, warm);
            let (a_long, b_long) = count(&long, n + warm);
            let allocs = a_long.saturating_sub(a_short) as f64 / n as f64;
            let bytes = b_long.saturating_sub(b_short) as f64 / n as f64;
            println!(
                "{{\"mode\":\"alloc\",\"stack\":\"{}\",\"size\":{size},\"n\":{n},\
                 \"allocs_per_msg\":{allocs:.3},\"bytes_per_msg\":{bytes:.1},\
                 \"setup_allocs\":{a_short}}}",
                stack.name()
            );
        }
    }
}

/// Allocations per server handshake from bytes to bytes (parse + accept + response), the
/// `server_upgrade/from_bytes` benchmark's work: zerows `Upgrader::upgrade` and tungstenite's
/// `Request::try_parse` + `create_response` + `write_response`.
fn handshake_allocs() {
    use tungstenite::handshake::machine::TryParse;
    use tungstenite::handshake::server::{Request, create_response, write_response};
    use zerows_benches::frames::REQUEST;
    let n = 1000u64;
    let mut up = zerows_upgrade::server::Upgrader::new();
    let mut out = [0u8; 512];
    let (a0, b0) = allocations();
    for _ in 0..n {
        let zerows_upgrade::Status::Complete(u) =
            up.upgrade(std::hint::black_box(REQUEST), &mut out)
        else {
            unreachable!()
        };
        assert!(u.result.is_ok());
    }
    let (a1, b1) = allocations();
    let mut v = Vec::with_capacity(512);
    for _ in 0..n {
        let (_, req) = Request::try_parse(std::hint::black_box(REQUEST))
            .unwrap()
            .unwrap();
        let resp = create_response(&req).unwrap();
        v.clear();
        write_response(&mut v, &resp).unwrap();
    }
    let (a2, b2) = allocations();
    for (stack, a, b) in [
        ("zerows", a1 - a0, b1 - b0),
        ("tungstenite", a2 - a1, b2 - b1),
    ] {
        println!(
            "{{\"mode\":\"alloc_handshake\",\"stack\":\"{stack}\",\"allocs_per_handshake\":{:.2},\
             \"bytes_per_handshake\":{:.1}}}",
            a as f64 / n as f64,
            b as f64 / n as f64
        );
    }
}
