//! The members: the handshake's checks (the page, room paths, `Origin`) and one handler per
//! event loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use zerows::poll::{Closed, ConnId, Context, Handler, Opened};
use zerows::upgrade::StatusCode;
use zerows::upgrade::server::{HookResult, Hooks, Rejection};
use zerows::util::PreparedMessage;
use zerows::{CloseCode, Message, OpCode};

use crate::broker::Broker;
use crate::rooms::{Change, LoopIds, Rooms, valid_room};

/// The page, served by this process at `/` (compiled in).
pub(crate) const PAGE: &str = include_str!("page.html");

/// The page as the handshake's answer to `GET /`: zerows-poll speaks WebSocket only, so a
/// plain request is answered by the request hook with a fixed response (the loop writes it and
/// closes). It must fit the handshake's response space.
const PAGE_RESPONSE: Rejection<'static> = Rejection::new(StatusCode::new(200))
    .with_headers(&[
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
    ])
    .with_body(PAGE.as_bytes());
const _: () = assert!(
    PAGE.len() + 160 <= zerows::util::ACCEPT_RESPONSE_SPACE,
    "the page no longer fits the handshake's response space"
);

/// The room of a target `/room/NAME` (a query after it is ignored).
fn room_of(target: &str) -> Option<&str> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    path.strip_prefix("/room/")
}

/// The handshake's checks.
pub(crate) struct RoomHooks;

impl Hooks for RoomHooks {
    fn on_request(&mut self, target: &str) -> HookResult {
        if target == "/" || target.starts_with("/?") {
            return Err(PAGE_RESPONSE);
        }
        match room_of(target) {
            Some(room) if valid_room(room) => Ok(()),
            _ => Err(Rejection::NOT_FOUND.with_body(b"no such room: rooms are /room/NAME\n")),
        }
    }

    /// Cross-site WebSocket hijacking: a browser page may connect only if it came from this
    /// server (`Origin` = `http://` + `Host`); clients that send no `Origin` are not browsers.
    fn check_origin(&mut self, origin: Option<&[u8]>, host: &[u8]) -> HookResult {
        match origin {
            Some(o) if o.strip_prefix(b"http://") != Some(host) => {
                Err(Rejection::FORBIDDEN.with_body(b"pages of other sites may not join\n"))
            }
            _ => Ok(()),
        }
    }
}

/// What every loop of the process shares.
pub(crate) struct Node {
    /// A random id: names members and marks this process's messages in Redis.
    pub(crate) id: u32,
    pub(crate) rooms: Arc<Rooms>,
    pub(crate) broker: Option<Broker>,
    names: AtomicU64,
}

impl Node {
    pub(crate) fn new(id: u32, rooms: Arc<Rooms>, broker: Option<Broker>) -> Node {
        Node {
            id,
            rooms,
            broker,
            names: AtomicU64::new(0),
        }
    }

    /// A name no other member of any process has (with a random node id, very likely).
    fn next_name(&self) -> Box<str> {
        let n = self.names.fetch_add(1, Ordering::Relaxed) + 1;
        format!("guest-{:04x}-{n}", self.id >> 16).into()
    }

    /// Says `text` in `room`: to the local members now (one frame for all), and through Redis
    /// to the other processes' members.
    fn say(&self, cx: &mut Context<'_>, local: &mut LoopIds, room: &str, text: &str) {
        let msg = PreparedMessage::new(OpCode::Text, text.as_bytes());
        self.rooms.deliver_from_loop(room, &msg, cx, local);
        if let Some(broker) = &self.broker {
            broker.publish(room, text);
        }
    }

    fn changed(&self, change: Change) {
        if change != Change::Same
            && let Some(broker) = &self.broker
        {
            broker.rooms_changed();
        }
    }
}

struct Member {
    room: Box<str>,
    name: Box<str>,
}

/// The members of one event loop.
pub(crate) struct Chat {
    node: Arc<Node>,
    members: HashMap<ConnId, Member>,
    /// This loop's number and scratch for its members' ids.
    local: LoopIds,
}

impl Chat {
    pub(crate) fn new(node: Arc<Node>, worker: usize) -> Chat {
        Chat {
            node,
            members: HashMap::new(),
            local: LoopIds::new(worker),
        }
    }
}

impl Handler for Chat {
    fn on_open(&mut self, cx: &mut Context<'_>, id: ConnId, opened: &Opened<'_>) {
        // The hook let only `/room/NAME` through.
        let room: Box<str> = room_of(opened.target).unwrap_or("lobby").into();
        let name = self.node.next_name();
        let change = self.node.rooms.join(&room, self.local.worker(), id);
        self.node.changed(change);
        let hello = format!("* {name} joined");
        self.node.say(cx, &mut self.local, &room, &hello);
        self.members.insert(id, Member { room, name });
    }

    fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        match message {
            // Valid UTF-8 and at most the configured size: the connection checked (1007, 1009).
            Message::Text(text) => {
                let line = format!("{}: {text}", member.name);
                self.node.say(cx, &mut self.local, &member.room, &line);
            }
            Message::Binary(_) => {
                cx.close(id, CloseCode::UNSUPPORTED_DATA, "text only");
            }
            _ => {}
        }
    }

    fn on_close(&mut self, cx: &mut Context<'_>, id: ConnId, _closed: &Closed<'_>) {
        let Some(member) = self.members.remove(&id) else {
            return;
        };
        let change = self.node.rooms.leave(&member.room, self.local.worker(), id);
        self.node.changed(change);
        // The other processes' members of the room hear it even when none is left here.
        let bye = format!("* {} left", member.name);
        self.node.say(cx, &mut self.local, &member.room, &bye);
    }
}
