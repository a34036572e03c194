//! Every stack reading `n` client messages from memory through its message API, and optionally
//! echoing each one back, as a server. UTF-8 validation of text is on for every stack (soketto does
//! not validate text itself, so its loop calls `core::str::from_utf8`, as its users must).
//!
//! Each function returns the payload bytes it read; writes go to [`Mem`]'s counter ([`run`], what
//! the benchmarks measure) or are kept for checking ([`echo_output`], for tests: the same loops,
//! over a stream that also records what is written).

use futures_util::{SinkExt, StreamExt};
use tokio::runtime::Runtime;

use crate::mem::{Keep, Mem};

/// The stacks, in the order tables list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// `zerows_util::WebSocket` (blocking).
    ZerowsSync,
    /// `zerows_util::AsyncWebSocket` (tokio).
    ZerowsTokio,
    /// `tungstenite::WebSocket` (blocking).
    Tungstenite,
    /// `tokio_tungstenite::WebSocketStream`.
    TokioTungstenite,
    /// `fastwebsockets::FragmentCollector` (reassembles messages, checks UTF-8).
    Fastwebsockets,
    /// `tokio_websockets::WebSocketStream`.
    TokioWebsockets,
    /// `soketto::connection::{Sender, Receiver}` (futures I/O).
    Soketto,
}

impl Stack {
    /// All stacks.
    pub const ALL: [Stack; 7] = [
        Stack::ZerowsSync,
        Stack::ZerowsTokio,
        Stack::Tungstenite,
        Stack::TokioTungstenite,
        Stack::Fastwebsockets,
        Stack::TokioWebsockets,
        Stack::Soketto,
    ];

    /// The name used in benchmark ids and tables.
    pub fn name(self) -> &'static str {
        match self {
            Stack::ZerowsSync => "zerows-sync",
            Stack::ZerowsTokio => "zerows-tokio",
            Stack::Tungstenite => "tungstenite",
            Stack::TokioTungstenite => "tokio-tungstenite",
            Stack::Fastwebsockets => "fastwebsockets",
            Stack::TokioWebsockets => "tokio-websockets",
            Stack::Soketto => "soketto",
        }
    }
}

/// A current-thread tokio runtime for the async stacks.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// Reads `n` messages from `input` (masked client frames) with `stack`, echoing each if `echo`.
/// Returns the payload bytes read. Panics on any error: the input is valid.
pub fn run(stack: Stack, rt: &Runtime, input: &[u8], n: usize, echo: bool) -> u64 {
    run_on(stack, rt, &mut Mem::new(input), n, echo)
}

/// Echoes `n` messages from `input` with `stack`, as [`run`] does, and returns the payload bytes
/// read and every byte the stack wrote (its server frames), so a test can check that each echo
/// carries the message it answers. Not for measuring: the stream copies what is written.
pub fn echo_output(stack: Stack, rt: &Runtime, input: &[u8], n: usize) -> (u64, Vec<u8>) {
    let mut mem = Mem::recording(input);
    let bytes = run_on(stack, rt, &mut mem, n, true);
    (bytes, mem.kept)
}

fn run_on<K: Keep + Unpin>(
    stack: Stack,
    rt: &Runtime,
    mem: &mut Mem<'_, K>,
    n: usize,
    echo: bool,
) -> u64 {
    let bytes = match stack {
        Stack::ZerowsSync => zerows_sync(mem, n, echo),
        Stack::ZerowsTokio => rt.block_on(zerows_tokio(mem, n, echo)),
        Stack::Tungstenite => tungstenite(mem, n, echo),
        Stack::TokioTungstenite => rt.block_on(tokio_tungstenite(mem, n, echo)),
        Stack::Fastwebsockets => rt.block_on(fastwebsockets(mem, n, echo)),
        Stack::TokioWebsockets => rt.block_on(tokio_websockets(mem, n, echo)),
        Stack::Soketto => rt.block_on(soketto(mem, n, echo)),
    };
    if echo {
        assert!(mem.written >= bytes, "{}: echoed too little", stack.name());
    }
    bytes
}

fn zerows_sync<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    use zerows_util::{Config, Role, WebSocket};
    let mut ws = WebSocket::from_raw(mem, Role::Server, &[], Config::default());
    let mut bytes = 0u64;
    if echo {
        // The echo example's loop: `read_into` copies the message into our buffer, then we feed
        // it (queued; written in bulk when the queue fills or the next read waits).
        let mut buf = Vec::new();
        for _ in 0..n {
            let op = ws.read_into(&mut buf).expect("zerows read");
            bytes += buf.len() as u64;
            ws.feed_message(op, &buf).expect("zerows send");
        }
        ws.flush().expect("zerows flush");
    } else {
        for _ in 0..n {
            let msg = ws.read().expect("zerows read");
            assert!(msg.is_data());
            bytes += msg.payload().len() as u64;
        }
    }
    bytes
}

async fn zerows_tokio<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    use zerows_util::{AsyncWebSocket, Config, Role};
    let mut ws = AsyncWebSocket::from_raw(mem, Role::Server, &[], Config::default());
    let mut bytes = 0u64;
    if echo {
        let mut buf = Vec::new();
        for _ in 0..n {
            let op = ws.read_into(&mut buf).await.expect("zerows read");
            bytes += buf.len() as u64;
            ws.feed_message(op, &buf).await.expect("zerows send");
        }
        ws.flush().await.expect("zerows flush");
    } else {
        for _ in 0..n {
            let msg = ws.read().await.expect("zerows read");
            assert!(msg.is_data());
            bytes += msg.payload().len() as u64;
        }
    }
    bytes
}

fn tungstenite<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(mem, Role::Server, None);
    let mut bytes = 0u64;
    for _ in 0..n {
        let msg = ws.read().expect("tungstenite read");
        assert!(msg.is_text() || msg.is_binary());
        bytes += msg.len() as u64;
        if echo {
            ws.send(msg).expect("tungstenite send");
        }
    }
    bytes
}

async fn tokio_tungstenite<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    use tokio_tungstenite::WebSocketStream;
    use tungstenite::protocol::Role;
    let mut ws = WebSocketStream::from_raw_socket(mem, Role::Server, None).await;
    let mut bytes = 0u64;
    for _ in 0..n {
        let msg = ws
            .next()
            .await
            .expect("eof")
            .expect("tokio-tungstenite read");
        assert!(msg.is_text() || msg.is_binary());
        bytes += msg.len() as u64;
        if echo {
            ws.send(msg).await.expect("tokio-tungstenite send");
        }
    }
    bytes
}

async fn fastwebsockets<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(mem, Role::Server));
    let mut bytes = 0u64;
    for _ in 0..n {
        let frame = ws.read_frame().await.expect("fastwebsockets read");
        assert!(matches!(frame.opcode, OpCode::Text | OpCode::Binary));
        bytes += frame.payload.len() as u64;
        if echo {
            ws.write_frame(frame).await.expect("fastwebsockets send");
        }
    }
    bytes
}

async fn tokio_websockets<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    let mut ws = tokio_websockets::ServerBuilder::new().serve(mem);
    let mut bytes = 0u64;
    for _ in 0..n {
        let msg = ws
            .next()
            .await
            .expect("eof")
            .expect("tokio-websockets read");
        assert!(msg.is_text() || msg.is_binary());
        bytes += msg.as_payload().len() as u64;
        if echo {
            ws.send(msg).await.expect("tokio-websockets send");
        }
    }
    bytes
}

async fn soketto<K: Keep + Unpin>(mem: &mut Mem<'_, K>, n: usize, echo: bool) -> u64 {
    use soketto::connection::{Builder, Mode};
    let (mut tx, mut rx) = Builder::new(mem, Mode::Server).finish();
    let mut bytes = 0u64;
    let mut buf = Vec::new();
    for _ in 0..n {
        buf.clear();
        let data = rx.receive_data(&mut buf).await.expect("soketto read");
        bytes += buf.len() as u64;
        if data.is_text() {
            let text = core::str::from_utf8(&buf).expect("soketto: invalid UTF-8");
            if echo {
                tx.send_text(text).await.expect("soketto send");
            }
        } else if echo {
            tx.send_binary(&buf).await.expect("soketto send");
        }
        if echo {
            tx.flush().await.expect("soketto flush");
        }
    }
    bytes
}
