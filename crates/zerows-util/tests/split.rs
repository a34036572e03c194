//! Split halves in two threads: the read half's pongs go through the write half's lock and never
//! interleave with the application's frames.
#![allow(clippy::cast_possible_truncation)] // test data is built with narrowing casts

use std::os::unix::net::UnixStream;
use std::thread;

use zerows_frame::{Config as FrameConfig, Decoder, Event, OpCode, Role, Status, encode_frame_vec};
use zerows_util::{Config, Error, Message, WebSocket};

#[test]
fn writer_thread_and_reader_thread() {
    let (a, b) = UnixStream::pair().unwrap();
    let ws = WebSocket::from_raw(a, Role::Server, &[], Config::default());
    let (mut rx, tx) = ws.split().unwrap();

    // The peer sends 2,000 pings and a close; concurrently our writer sends 2,000 binary messages
    // of 10 KiB. Everything the peer receives must decode as whole frames: 2,000 pongs, 2,000
    // messages, one close.
    let mut peer_tx = b.try_clone().unwrap();
    let peer_rx = b;
    let feeder = thread::spawn(move || {
        use std::io::Write;
        let mut wire = Vec::new();
        for i in 0..2000u32 {
            encode_frame_vec(
                &mut wire,
                OpCode::Ping,
                true,
                Some([1, 2, 3, 4]),
                &i.to_be_bytes(),
            );
        }
        peer_tx.write_all(&wire).unwrap();
        peer_tx
    });
    let writer = thread::spawn(move || {
        let payload = vec![0x5A; 10 << 10];
        for _ in 0..2000 {
            tx.send_binary(&payload).unwrap();
        }
        tx
    });
    let reader = thread::spawn(move || {
        let mut pings = 0;
        loop {
            match rx.read() {
                Ok(Message::Ping(_)) => pings += 1,
                Ok(Message::Close(_)) => return pings,
                Ok(m) => panic!("{m:?}"),
                Err(e) => panic!("{e}"),
            }
        }
    });
    let checker = thread::spawn(move || {
        use std::io::Read;
        let mut peer_rx = peer_rx;
        let mut d = Decoder::new(FrameConfig::new(Role::Client));
        let mut buf = Vec::new();
        let (mut pongs, mut msgs, mut next_pong) = (0u32, 0u32, 0u32);
        let mut tmp = vec![0u8; 1 << 16];
        while msgs < 2000 || pongs < 2000 {
            let n = peer_rx.read(&mut tmp).unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&tmp[..n]);
            loop {
                let mut pending = std::mem::take(&mut buf);
                let step = d.next(&mut pending).expect("frames must not interleave");
                let used = match step {
                    Status::Partial => 0,
                    Status::Complete((ev, used)) => {
                        match ev {
                            Event::Pong(p) => {
                                // pongs answer pings in order
                                assert_eq!(p, next_pong.to_be_bytes());
                                next_pong += 1;
                                pongs += 1;
                            }
                            Event::FrameEnd { fin: true } => msgs += 1,
                            _ => {}
                        }
                        pending.drain(..used);
                        buf = pending;
                        continue;
                    }
                };
                let _ = used;
                buf = pending;
                break;
            }
        }
        (pongs, msgs, peer_rx)
    });
    let mut peer_tx = feeder.join().unwrap();
    let tx = writer.join().unwrap();
    let (pongs, msgs, _peer_rx) = checker.join().unwrap();
    assert_eq!((pongs, msgs), (2000, 2000));
    {
        use std::io::Write;
        let mut close = Vec::new();
        encode_frame_vec(
            &mut close,
            OpCode::Close,
            true,
            Some([1, 2, 3, 4]),
            &[0x03, 0xE8],
        );
        peer_tx.write_all(&close).unwrap();
    }
    assert_eq!(reader.join().unwrap(), 2000);
    // the read half answered the close: the write half knows
    assert!(tx.is_closed());
    assert!(matches!(tx.send_text("late"), Err(Error::Closed)));
}
