//! `CloseFrame::parse` (and `reply_code`, `CloseFrame::new`, `encode`) on arbitrary payloads.
//!
//! Input: the unmasked close payload.
//!
//! Invariants: the verdict follows RFC 6455 §5.5.1 in order (empty: no code; one byte: invalid
//! payload; a code not valid on the wire; a reason that is not UTF-8); `Ok` means the code is valid
//! on the wire and the reason is the payload's tail, borrowed in place; parse → encode gives the
//! payload back; `reply_code` is `None` for no code, the code itself when valid, else the error's
//! close code (1002 or 1007); `CloseFrame::new` cuts a reason to at most 123 bytes at the last
//! char boundary that fits, and what it builds parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerows_frame::close::{MAX_REASON_LEN, reply_code};
use zerows_frame::{CloseCode, CloseFrame, Error, InsufficientSize};

fuzz_target!(|payload: &[u8]| {
    let r = CloseFrame::parse(payload);

    // the oracle, straight from the RFC
    let expect = match payload {
        [] => Ok(None),
        [_] => Err(Error::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                Err(Error::InvalidCloseCode)
            } else if core::str::from_utf8(reason).is_err() {
                Err(Error::InvalidUtf8)
            } else {
                Ok(Some(code))
            }
        }
    };
    assert_eq!(r.map(|c| c.map(|c| c.code.0)), expect, "{payload:02x?}");

    match r {
        Ok(Some(c)) => {
            assert!(c.code.is_valid_on_wire());
            // the reason is the payload's tail, borrowed, not copied
            assert_eq!(c.reason.as_bytes(), &payload[2..]);
            assert_eq!(c.reason.as_ptr(), payload[2..].as_ptr());
            // parse → encode round trip, and encode's size check
            let mut out = vec![0u8; payload.len() + 1];
            assert_eq!(c.encoded_len(), payload.len());
            assert_eq!(c.encode(&mut out), Ok(payload.len()));
            assert_eq!(&out[..payload.len()], payload);
            let short = &mut out[..payload.len() - 1];
            assert_eq!(
                c.encode(short),
                Err(InsufficientSize {
                    required: payload.len()
                })
            );
            assert_eq!(reply_code(payload), Some(c.code));
        }
        Ok(None) => assert_eq!(reply_code(payload), None),
        Err(e) => {
            let code = reply_code(payload).expect("an invalid close payload needs a reply code");
            assert_eq!(code, CloseCode::from(&e));
            let want = if e == Error::InvalidUtf8 { 1007 } else { 1002 };
            assert_eq!(code, CloseCode(want));
        }
    }

    // CloseFrame::new on the payload as text: cut to fit a control frame, parses back
    let text = String::from_utf8_lossy(payload);
    let code = CloseCode(match payload {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 1000,
    });
    let c = CloseFrame::new(code, &text);
    assert!(c.reason.len() <= MAX_REASON_LEN);
    assert!(text.starts_with(c.reason));
    assert_eq!(c.reason.as_ptr(), text.as_ptr());
    if c.reason.len() < text.len() {
        // the longest prefix that fits: the next char would not
        let next = text[c.reason.len()..].chars().next().unwrap();
        assert!(c.reason.len() + next.len_utf8() > MAX_REASON_LEN);
    }
    let mut out = [0u8; 125];
    let n = c
        .encode(&mut out)
        .expect("a CloseFrame::new body fits a control frame");
    let back = CloseFrame::parse(&out[..n]);
    if code.is_valid_on_wire() {
        assert_eq!(back, Ok(Some(c)));
    } else {
        assert_eq!(back, Err(Error::InvalidCloseCode));
    }
});
