//! Every stack's in-memory echo and decode loop works (what `benches/messages.rs` and
//! `alloc_count` measure), so the benchmarks cannot silently rot: the decode loops read every
//! payload byte, and each echo is the message it answers, byte for byte and with its opcode.

use zerows_benches::echo::{self, Stack};
use zerows_benches::frames::{ascii, client_frame, client_stream, mixed};
use zerows_frame::OpCode;

#[test]
fn every_stack_echoes_and_decodes() {
    let rt = echo::runtime();
    for (n, size) in [(50, 16), (3, 70_000)] {
        let input = client_stream(n, size);
        let sent = vec![(OpCode::Text, ascii(size)); n];
        for stack in Stack::ALL {
            assert_eq!(
                echo::run(stack, &rt, &input, n, false),
                (n * size) as u64,
                "{stack:?}"
            );
            assert_eq!(
                echo::run(stack, &rt, &input, n, true),
                (n * size) as u64,
                "{stack:?}"
            );
            let (bytes, out) = echo::echo_output(stack, &rt, &input, n);
            assert_eq!(bytes, (n * size) as u64, "{stack:?}");
            if let Err(e) = check_echo(&sent, &out) {
                panic!("{stack:?}, {n} × {size} B: {e}");
            }
        }
    }
}

/// Text and binary messages of every header length class (7-bit, 16-bit, 64-bit) and both edges
/// of each, with content that differs from message to message, so an echo of the wrong message,
/// a lost byte or a swapped opcode shows.
#[test]
fn every_stack_echoes_each_message_as_sent() {
    let binary = |len: usize, seed: u8| -> Vec<u8> {
        (0..=255u8)
            .cycle()
            .take(len)
            .map(|b| b.wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let sent = [
        (OpCode::Text, ascii(16)),
        (OpCode::Binary, binary(1, 7)),
        (OpCode::Text, mixed(1000)),
        (OpCode::Binary, binary(125, 1)),
        (OpCode::Text, ascii(126)),
        (OpCode::Binary, binary(65_535, 2)),
        (OpCode::Binary, binary(65_536, 3)),
        (OpCode::Text, mixed(70_000)),
        (OpCode::Binary, binary(16, 4)),
    ];
    let input: Vec<u8> = sent
        .iter()
        .flat_map(|(op, payload)| client_frame(*op, payload))
        .collect();
    let total: usize = sent.iter().map(|(_, p)| p.len()).sum();
    let rt = echo::runtime();
    for stack in Stack::ALL {
        let (bytes, out) = echo::echo_output(stack, &rt, &input, sent.len());
        assert_eq!(bytes, total as u64, "{stack:?}");
        if let Err(e) = check_echo(&sent, &out) {
            panic!("{stack:?}: {e}");
        }
    }
}

/// The checker itself: it accepts the exact echo and rejects a changed byte, a changed opcode, a
/// missing or an extra message, a masked frame and trailing bytes.
#[test]
fn the_echo_check_catches_wrong_echoes() {
    use zerows_benches::frames::server_frame;
    let sent = [(OpCode::Text, ascii(20)), (OpCode::Binary, vec![1, 2, 3])];
    let good: Vec<u8> = sent
        .iter()
        .flat_map(|(op, p)| server_frame(*op, p))
        .collect();
    assert_eq!(check_echo(&sent, &good), Ok(()));

    let mut flipped = good.clone();
    flipped[5] ^= 1;
    assert!(check_echo(&sent, &flipped).is_err());

    let mut opcode = good.clone();
    opcode[0] = 0x80 | 0x2; // the text message echoed as binary
    assert!(check_echo(&sent, &opcode).is_err());

    let one = server_frame(OpCode::Text, &ascii(20));
    assert!(check_echo(&sent, &one).is_err());

    let mut extra = good.clone();
    extra.extend(server_frame(OpCode::Binary, &[1, 2, 3]));
    assert!(check_echo(&sent, &extra).is_err());

    assert!(check_echo(&sent, &good[..good.len() - 1]).is_err());

    let masked: Vec<u8> = sent
        .iter()
        .flat_map(|(op, p)| client_frame(*op, p))
        .collect();
    assert!(check_echo(&sent, &masked).is_err());

    // The same messages split into fragments are the same echo.
    let mut fragmented = vec![0x01, 10];
    fragmented.extend_from_slice(&ascii(20)[..10]);
    fragmented.extend([0x80, 10]);
    fragmented.extend_from_slice(&ascii(20)[10..]);
    fragmented.extend(server_frame(OpCode::Binary, &[1, 2, 3]));
    assert_eq!(check_echo(&sent, &fragmented), Ok(()));
}

#[test]
fn texts_are_what_they_claim() {
    assert!(ascii(100).is_ascii());
    let m = mixed(1000);
    assert!(std::str::from_utf8(&m).is_ok() && !m.is_ascii() && m.len() > 990);
}

/// Reads `out` as a server's frames (unmasked, RFC 6455 §5.2, fragments joined) and compares the
/// messages with `sent`, in order. Written here, independent of the stacks under test.
fn check_echo(sent: &[(OpCode, Vec<u8>)], out: &[u8]) -> Result<(), String> {
    let got = server_messages(out)?;
    if got.len() != sent.len() {
        return Err(format!(
            "{} messages echoed for {} sent",
            got.len(),
            sent.len()
        ));
    }
    for (i, ((op, payload), (gop, gpayload))) in sent.iter().zip(&got).enumerate() {
        if u8::from(*op) != *gop {
            return Err(format!(
                "message {i}: opcode {gop:#x} echoed for {:#x}",
                u8::from(*op)
            ));
        }
        if payload != gpayload {
            let at = payload
                .iter()
                .zip(gpayload)
                .position(|(a, b)| a != b)
                .unwrap_or(payload.len().min(gpayload.len()));
            return Err(format!(
                "message {i}: {} bytes echoed for {}, first difference at byte {at}",
                gpayload.len(),
                payload.len()
            ));
        }
    }
    Ok(())
}

/// The data messages in a stream of unmasked server frames, as (opcode, payload).
fn server_messages(mut out: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut messages = Vec::new();
    let mut partial: Option<(u8, Vec<u8>)> = None;
    while !out.is_empty() {
        if out.len() < 2 {
            return Err("a truncated frame header at the end".into());
        }
        let (fin, rsv, opcode) = (out[0] & 0x80 != 0, out[0] & 0x70, out[0] & 0x0f);
        if rsv != 0 {
            return Err(format!("RSV bits {rsv:#x} set"));
        }
        if out[1] & 0x80 != 0 {
            return Err("a masked frame from the server".into());
        }
        let (len, head) = match out[1] & 0x7f {
            126 if out.len() >= 4 => (u64::from(u16::from_be_bytes([out[2], out[3]])), 4),
            127 if out.len() >= 10 => (
                u64::from_be_bytes(out[2..10].try_into().expect("8 bytes")),
                10,
            ),
            126 | 127 => return Err("a truncated extended length".into()),
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len).map_err(|_| "a length over usize")?;
        let payload = out
            .get(head..head + len)
            .ok_or_else(|| format!("a frame of {len} bytes cut short"))?;
        out = &out[head + len..];
        match (opcode, &mut partial) {
            (0x0, Some((_, buf))) => buf.extend_from_slice(payload),
            (0x0, None) => return Err("a continuation frame outside a message".into()),
            (0x1 | 0x2, None) => partial = Some((opcode, payload.to_vec())),
            (0x1 | 0x2, Some(_)) => return Err("a new message inside a fragmented one".into()),
            (op, _) => return Err(format!("an unexpected frame, opcode {op:#x}")),
        }
        if fin {
            messages.extend(partial.take());
        }
    }
    if partial.is_some() {
        return Err("the last message has no final frame".into());
    }
    Ok(messages)
}
