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

    /// Sends `msg` (encoded once) to every local member of `room`: directly on the calling loop
    /// when `here` is that loop's context, through the other loops' handles otherwise (one
    /// command per loop, not per member). Returns how many members it was meant for.
    pub(crate) fn deliver(
        &self,
        room: &str,
        msg: &PreparedMessage,
        mut here: Option<(&mut Context<'_>, usize)>,
    ) -> usize {
        let rooms = self.lock();
        let Some(r) = rooms.get(room) else {
            return 0;
        };
        let handles = self.handles.get().map(Vec::as_slice).unwrap_or_default();
        for (worker, ids) in r.by_loop.iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            match &mut here {
                Some((cx, me)) if *me == worker => {
                    cx.broadcast(msg, ids.iter().copied());
                }
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
