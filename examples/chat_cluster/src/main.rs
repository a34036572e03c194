//! A chat server that runs as many processes as you like, joined by Redis pub/sub.
//!
//! ```text
//! redis-server --port 6379 --save '' &
//! cargo run --release -p chat-cluster -- --addr 127.0.0.1:3000 --redis redis://127.0.0.1:6379 --reuseport &
//! cargo run --release -p chat-cluster -- --addr 127.0.0.1:3000 --redis redis://127.0.0.1:6379 --reuseport
//! ```
//! then open <http://127.0.0.1:3000/?room=rust> in two browser tabs: the kernel spreads the
//! connections over both processes, and every member of a room hears every other, whichever
//! process holds it.
//!
//! - `GET /`: the page (compiled in; `/?room=NAME` joins at once).
//! - `GET /room/NAME` with a WebSocket upgrade: joins room `NAME` (1–64 of `A-Z a-z 0-9 - _`;
//!   else `404`). A browser's `Origin` must be this server (`403` otherwise).
//! - A member's text `T` reaches every member of the room in every process, the sender
//!   included, as `NAME: T`, in the order each sender sent; joins and leaves as `* NAME
//!   joined` / `* NAME left`.
//! - Text only (binary: close 1003); at most 4 KiB per message (larger: 1009); UTF-8 (else
//!   1007); a member that does not read and lets 256 KiB of the room's messages pile up is
//!   closed with 1008 instead of holding the room back or growing a queue.
//!
//! permessage-deflate is off unless `--deflate`: a member that agreed to it holds its
//! compressor and decompressor state for as long as it stays (about 417 KiB with context
//! takeover, `docs/deflate.md`) where an idle member otherwise costs well under 1 KiB, and chat
//! lines are short.
//!
//! Each process runs zerows-poll event loops (`--threads`, default 1) on one `SO_REUSEPORT`
//! port, keeps its rooms' local members, and with `--redis` holds one Redis subscription per
//! room that has local members. A message is delivered to the local members at once (encoded
//! once, one frame for all of them) and published once to Redis; each other process that has
//! members in the room encodes it once for its own. See `broker.rs` for what happens when
//! Redis is away (at most once across processes) and `docs/scaling.md` for the measurements.

mod broker;
mod chat;
mod rooms;

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use zerows::Config;
use zerows::poll::{Options, Server, Service};
use zerows::upgrade::server::Upgrader;
use zerows::util::deflate::DeflateConfig;

use crate::broker::Broker;
use crate::chat::{Chat, Node, RoomHooks};
use crate::rooms::Rooms;

/// The largest text a member may send (larger: close 1009).
const MAX_MESSAGE: u64 = 4 << 10;
/// Output a member may let pile up before it is closed with 1008.
const MAX_BACKLOG: usize = 256 << 10;

struct Args {
    addr: String,
    redis: Option<String>,
    reuseport: bool,
    threads: usize,
    deflate: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: chat_cluster [--addr HOST:PORT] [--redis redis://HOST:PORT] [--reuseport] \
         [--threads N] [--deflate]\n  (default --addr 127.0.0.1:3000, no Redis: one process, no permessage-deflate)"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:3000".into(),
        redis: None,
        reuseport: false,
        threads: 1,
        deflate: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--addr" => args.addr = it.next().unwrap_or_else(|| usage()),
            "--redis" => args.redis = Some(it.next().unwrap_or_else(|| usage())),
            "--reuseport" => args.reuseport = true,
            "--threads" => {
                args.threads = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage());
            }
            "--deflate" => args.deflate = true,
            "--no-deflate" => args.deflate = false,
            _ => usage(),
        }
    }
    args
}

/// A random node id (std's hasher keys are random per process).
fn node_id() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    u32::try_from(h.finish() >> 32).unwrap_or_default()
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let addr: SocketAddr = args
        .addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("--addr: no address"))?;
    // zerows-poll binds with SO_REUSEPORT always; without --reuseport, refuse a port another
    // process already serves rather than silently sharing it.
    if !args.reuseport && addr.port() != 0 {
        TcpListener::bind(addr).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{addr}: {e} (to share the port with other processes, pass --reuseport)"),
            )
        })?;
    }
    let mut config = Config::default().max_message_size(MAX_MESSAGE);
    if args.deflate {
        config = config.deflate(DeflateConfig::default());
    }
    let options = Options::default()
        .threads(args.threads)
        .max_backlog(MAX_BACKLOG);
    let server = Server::bind(addr, options, Arc::new(config))?;
    let id = node_id();
    let rooms = Arc::new(Rooms::new());
    rooms.set_handles(server.handles());
    let broker = match &args.redis {
        Some(url) => Some(
            Broker::start(url, id, Arc::clone(&rooms))
                .map_err(|e| std::io::Error::other(format!("--redis {url}: {e}")))?,
        ),
        None => None,
    };
    let node = Arc::new(Node::new(id, rooms, broker));
    eprintln!(
        "chat_cluster: listening on http://{} (node {id:08x}, {} event loops, {})",
        server.local_addr(),
        args.threads,
        match &args.redis {
            Some(url) => format!("Redis {url}"),
            None => "no Redis: this process only".into(),
        }
    );
    server.run_with(|worker| Service {
        handler: Chat::new(Arc::clone(&node), worker),
        upgrader: Upgrader::with_hooks(RoomHooks),
    })
}
