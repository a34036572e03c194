//! The rooms of this process: who is in which room, on which event loop, and delivery of one
//! prepared frame to all of a room's local members.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use zerows::poll::{ConnId, Context, Handle};
use zerows::util::PreparedMessage;

/// A room name: 1–64 of `A-Z a-z 0-9 - _` (the path `/room/NAME`).
pub(crate) fn valid_room(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One room's local members, by event loop (index = the loop's number).
#[derive(Default)]
struct Room {
    by_loop: Vec<Vec<ConnId>>,
    members: usize,
}

/// Every room with at least one member in this process.
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<Box<str>, Room>>,
    handles: OnceLock<Vec<Handle>>,
}

/// What [`Rooms::join`] and [`Rooms::leave`] changed: the broker subscribes to a room's channel
/// when its first local member joins and unsubscribes when the last one leaves (one
/// subscription per room per process, not per member).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// The first local member: the room now exists here.
    Opened,
    /// The room already had members here, or still has.
    Same,
    /// The last local member left: the room no longer exists here.
    Emptied,
}

impl Rooms {
    pub(crate) fn new() -> Rooms {
        Rooms {
            rooms: Mutex::new(HashMap::new()),
            handles: OnceLock::new(),
        }
    }

    /// The loops' handles (set once, after the server is bound and before it runs).
    pub(crate) fn set_handles(&self, handles: Vec<Handle>) {
        let _ = self.handles.set(handles);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `id` (of loop `worker`) to `room`.
    pub(crate) fn join(&self, room: &str, worker: usize, id: ConnId) -> Change {
        let mut rooms = self.lock();
        let r = match rooms.get_mut(room) {
            Some(r) => r,
            None => rooms.entry(room.into()).or_default(),
        };
        if r.by_loop.len() <= worker {
            r.by_loop.resize_with(worker + 1, Vec::new);
        }
        r.by_loop[worker].push(id);
        r.members += 1;
        if r.members == 1 {
            Change::Opened
        } else {
            Change::Same
        }
    }

    /// Removes `id` (of loop `worker`) from `room`.
    pub(crate) fn leave(&self, room: &str, worker: usize, id: ConnId) -> Change {
        let mut rooms = self.lock();
        let Some(r) = rooms.get_mut(room) else {
            return Change::Same;
        };
        if let Some(ids) = r.by_loop.get_mut(worker)
            && let Some(at) = ids.iter().position(|&m| m == id)
        {
            ids.swap_remove(at);
            r.members -= 1;
        }
        if r.members == 0 {
            rooms.remove(room);
            Change::Emptied
        } else {
            Change::Same
        }
    }

    /// The names of the rooms with members here (what the broker must be subscribed to).
    pub(crate) fn names(&self) -> Vec<Box<str>> {
        self.lock().keys().cloned().collect()
    }

    /// Sends `msg` (encoded once) to every local member of `room` through the loops' handles:
    /// one command per loop, not per member (the broker's way in). Returns how many members it
    /// was meant for.
    pub(crate) fn deliver(&self, room: &str, msg: &PreparedMessage) -> usize {
        self.fan_out(room, msg, None)
    }

    /// [`deliver`](Self::deliver) from an event loop: its own members are written directly
    /// with `cx`, after the lock is released (no socket is written under it); `local` is the
    /// loop's scratch for their ids.
    pub(crate) fn deliver_from_loop(
        &self,
        room: &str,
        msg: &PreparedMessage,
        cx: &mut Context<'_>,
        local: &mut LoopIds,
    ) -> usize {
        let members = self.fan_out(room, msg, Some(local));
        cx.broadcast(msg, local.ids.drain(..));
        members
    }

    /// Hands `msg` to every loop with members of `room`, except `local`'s loop, whose members'
    /// ids are copied into it.
    fn fan_out(&self, room: &str, msg: &PreparedMessage, mut local: Option<&mut LoopIds>) -> usize {
        let rooms = self.lock();
        let Some(r) = rooms.get(room) else {
            return 0;
        };
        let handles = self.handles.get().map(Vec::as_slice).unwrap_or_default();
        for (worker, ids) in r.by_loop.iter().enumerate() {
            match &mut local {
                Some(l) if l.worker == worker => l.ids.extend_from_slice(ids),
                _ if ids.is_empty() => {}
                _ => {
                    if let Some(h) = handles.get(worker) {
                        h.broadcast(msg.clone(), ids.iter().copied());
                    }
                }
            }
        }
        r.members
    }
}

/// An event loop's number and its scratch list of member ids (see
/// [`Rooms::deliver_from_loop`]).
pub(crate) struct LoopIds {
    worker: usize,
    ids: Vec<ConnId>,
}

impl LoopIds {
    pub(crate) fn new(worker: usize) -> LoopIds {
        LoopIds {
            worker,
            ids: Vec::new(),
        }
    }

    pub(crate) fn worker(&self) -> usize {
        self.worker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_1_to_64_safe_characters() {
        assert!(valid_room("lobby"));
        assert!(valid_room("a-b_C9"));
        assert!(valid_room(&"x".repeat(64)));
        assert!(!valid_room(""));
        assert!(!valid_room(&"x".repeat(65)));
        assert!(!valid_room("a/b"));
        assert!(!valid_room("a b"));
        assert!(!valid_room("é"));
    }
}
