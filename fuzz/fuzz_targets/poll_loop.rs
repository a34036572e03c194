//! zerows-poll's `EventLoop` driven by a script: echo connections over scripted sockets
//! (partial reads and writes, `WouldBlock`), readiness events in a chosen order, clock steps.
//! The driver, the echo handler, the decoder of the server's output, the model and the reading
//! of this input ([`scripted::fuzz_case`]) are the integration tests'
//! (`crates/zerows-poll/tests/scripted/mod.rs`, included with `#[path]`), so that a saved
//! input (`fuzz/regressions/poll_loop-*.bin`) runs as a test there too.
//!
//! Input layout (read byte by byte from the front; missing bytes read as 0; see
//! `fuzz/seeds.py`):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | flags: bits 0–1 connections − 1; bit 2 corrupt connection 0's request (byte 1 XOR byte 2 of the next two at the position they give); bit 3 raw bytes after connection 0's messages (a corrupted frame); bit 4 no close frames; bit 5 keepalive (1 s, 1 s); bit 6 idle timeout (3 s); bit 7 `max_message_size` 1 KiB |
//! | 1 | the peers' first window: 0 → 0, 255 → unlimited, else × 4 bytes |
//! | per connection | `m` (messages, % 5); per message: flags (bit 0 text; bits 1–2 cuts; bits 3–5 pings), length (u16 LE % 4096), that many payload bytes (text: made UTF-8, lossy), the cuts (u16 LE each), the pings (length % 32 then bytes; length 255: no ping); then 2 read caps and 2 write caps (u16 LE, 0: none) |
//! | if bit 3 | length (u8), then those raw bytes |
//! | rest | steps of 3 bytes: kind (% 4: deliver, drain, spurious, tick), connection, amount (deliver/drain: × 7 bytes, +1; spurious: bit 0 readable, bit 1 writable; tick: × 25 ms) |
//!
//! Every connection uses the model config (the default with a 10 s close timeout); the loop a
//! backpressure threshold of 1 KiB.
//!
//! Invariants: no panic; at most 512 steps plus the bounded end (everything delivered, the
//! peers read everything, end of stream, 1 s clock steps until the loop holds nothing, at most
//! 200): every connection released, `on_close` once per opened connection, the output after a
//! `101` well-formed server frames (the last may be cut short by a timer). For connections whose
//! request and frames are valid, when no timer can have cut them short (no keepalive, idle
//! timeout or message limit, the script's clock under the 10 s handshake and close timeouts):
//! the echoes equal the model (same messages in order, pongs answering pings, the close echoed,
//! nothing cut short).
#![no_main]

#[allow(unreachable_pub, dead_code)]
#[path = "../../crates/zerows-poll/tests/scripted/mod.rs"]
mod scripted;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = scripted::fuzz_case(data).verdict() {
        panic!("{e}");
    }
});
