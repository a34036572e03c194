//! Sending from other threads: a [`Handle`] queues commands in the loop's mailbox and wakes the
//! loop (mio's `Waker`: an eventfd), which runs them on its next turn.

use std::sync::{Arc, Mutex};

use zerows_util::{CloseCode, OwnedMessage, PreparedMessage};

use crate::handler::ConnId;

/// A command for a loop.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ConnId, OwnedMessage),
    SendPrepared(ConnId, PreparedMessage),
    Broadcast(PreparedMessage, Vec<ConnId>),
    BroadcastAll(PreparedMessage),
    Close(ConnId, CloseCode, String),
    Shutdown,
}

/// A loop's mailbox.
pub(crate) struct Mailbox {
    pub(crate) commands: Mutex<Vec<Command>>,
    pub(crate) wake: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

/// Sends to one event loop's connections from any thread (cheap to clone). Commands run in
/// order on the loop's next turn; a send to a connection that closed meanwhile is dropped.
/// Sends through a handle are subject to the same backlog limits as any other.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) worker: u32,
    pub(crate) mailbox: Arc<Mailbox>,
}

impl Handle {
    /// The handle of loop number `worker` (the number in its [`ConnId`]s); `wake` is called
    /// (from any thread) when commands are queued for it: it must make the loop call
    /// [`EventLoop::run_commands`](crate::EventLoop::run_commands) soon.
    pub fn new(worker: usize, wake: Box<dyn Fn() + Send + Sync>) -> Handle {
        Handle {
            worker: u32::try_from(worker).unwrap_or(u32::MAX),
            mailbox: Arc::new(Mailbox {
                commands: Mutex::new(Vec::new()),
                wake,
            }),
        }
    }

    fn push(&self, cmd: Command) {
        let wake = {
            let mut q = self
                .mailbox
                .commands
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            q.push(cmd);
            q.len() == 1
        };
        // One wake per batch: the loop takes the whole queue when it wakes.
        if wake {
            (self.mailbox.wake)();
        }
    }

    /// The loop this handle reaches (the [`ConnId::worker`] of its connections).
    pub fn worker(&self) -> usize {
        self.worker as usize
    }

    /// Sends `message` (`Text` or `Binary`) to `id`.
    pub fn send(&self, id: ConnId, message: OwnedMessage) {
        self.push(Command::Send(id, message));
    }

    /// Sends a prepared message to `id` without copying it.
    pub fn send_prepared(&self, id: ConnId, message: PreparedMessage) {
        self.push(Command::SendPrepared(id, message));
    }

    /// Sends a prepared message (encoded once) to each of `ids`, as
    /// [`Context::broadcast`](crate::Context::broadcast) does on the loop: ids of other loops,
    /// closed ids and connections over their backlog are skipped. The ids are collected into
    /// one command (one allocation per call, on the calling thread).
    pub fn broadcast(&self, message: PreparedMessage, ids: impl IntoIterator<Item = ConnId>) {
        self.push(Command::Broadcast(message, ids.into_iter().collect()));
    }

    /// Sends a prepared message to every open connection of the loop.
    pub fn broadcast_all(&self, message: PreparedMessage) {
        self.push(Command::BroadcastAll(message));
    }

    /// Starts the close handshake with `id`.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) {
        self.push(Command::Close(id, code, reason.to_owned()));
    }

    /// Asks the loop to stop: no new connections; every open one is closed with 1001; the loop
    /// returns once they are all gone.
    pub fn shutdown(&self) {
        self.push(Command::Shutdown);
    }
}
