//! A chat server on axum 0.8 with its browser page, rooms by path, in one process.
//!
//! - `GET /` and `GET /room/NAME`: the page (`chat/index.html`, compiled in); `/` is the room
//!   `lobby`.
//! - `GET /ws/NAME`: the WebSocket of room `NAME` (1–64 of `A-Z a-z 0-9 - _`; else `404`). Only
//!   pages of this server may connect (the `Origin` must be this `Host`: `403` otherwise).
//!
//! Each text a member sends is sent to every member of the room (the sender included) as
//! `NAME: text`, encoded once per room as a [`PreparedMessage`] and written to each member with
//! `send_prepared` (compressed per connection when permessage-deflate was agreed). A member's
//! task waits with `tokio::select!` on its connection's `read` (cancel-safe) and on the room's
//! channel. The channel is bounded ([`ROOM_BACKLOG`] messages): a member that falls further
//! behind than that is closed with 1008 (policy violation) instead of slowing the room down or
//! growing a queue. Texts over [`MAX_MESSAGE`] bytes are closed with 1009 and invalid UTF-8 with
//! 1007, by the connection's `Config`.
//!
//! ```text
//! cargo run -p zerows --features axum --example chat -- --addr 127.0.0.1:3000
//! ```
//! then open <http://127.0.0.1:3000/room/rust> in two browser tabs.
//!
//! `scripts/browser-interop.sh` drives it with headless Chromium (`tests/browser/chat.mjs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use tokio::sync::broadcast::{self, error::RecvError};
use zerows::axum::{HyperWebSocket, WebSocketUpgrade};
use zerows::util::PreparedMessage;
use zerows::util::deflate::DeflateConfig;
use zerows::{CloseCode, Config, Message, OpCode};

/// The page, served by this process.
const PAGE: &str = include_str!("chat/index.html");
/// Messages a room's channel keeps for its slowest member. A member more than this many
/// messages behind is closed with 1008 (it missed messages: better to say so than to pretend).
const ROOM_BACKLOG: usize = 64;
/// The largest text a member may send: 4 KiB (larger: close 1009).
const MAX_MESSAGE: u64 = 4 << 10;

/// The rooms with at least one member: name → the room's channel.
#[derive(Default)]
struct Rooms {
    rooms: Mutex<HashMap<String, broadcast::Sender<PreparedMessage>>>,
    next_id: AtomicU64,
}

impl Rooms {
    /// Joins `room` (made on first use): its sender and a receiver of everything sent after now.
    fn join(
        &self,
        room: &str,
    ) -> (
        broadcast::Sender<PreparedMessage>,
        broadcast::Receiver<PreparedMessage>,
    ) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let tx = rooms
            .entry(room.to_owned())
            .or_insert_with(|| broadcast::channel(ROOM_BACKLOG).0)
            .clone();
        let rx = tx.subscribe();
        (tx, rx)
    }

    /// Forgets `room` once its last member has left.
    fn leave(&self, room: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.get(room).is_some_and(|tx| tx.receiver_count() == 0) {
            rooms.remove(room);
        }
    }
}

/// What every connection shares.
struct App {
    rooms: Rooms,
    config: Arc<Config>,
}

fn valid_room(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn room_ws(
    Path(room): Path<String>,
    State(app): State<Arc<App>>,
    ws: WebSocketUpgrade,
) -> Response {
    if !valid_room(&room) {
        return (StatusCode::NOT_FOUND, "no such room\n").into_response();
    }
    ws.config(Arc::clone(&app.config))
        // Cross-site WebSocket hijacking: only this server's pages may connect.
        .check_origin(|origin, host| {
            origin.is_some_and(|o| o.strip_prefix(b"http://") == Some(host))
        })
        .on_upgrade(move |ws| member(ws, app, room))
}

/// One member of `room`, from joining to leaving.
async fn member(mut ws: HyperWebSocket, app: Arc<App>, room: String) {
    let who = format!(
        "guest-{}",
        app.rooms.next_id.fetch_add(1, Ordering::Relaxed) + 1
    );
    let (tx, mut rx) = app.rooms.join(&room);
    let say = |text: &str| {
        // Nobody listening is fine (we are a receiver ourselves, so it cannot happen).
        let _ = tx.send(PreparedMessage::new(OpCode::Text, text.as_bytes()));
    };
    say(&format!("* {who} joined {room}"));
    loop {
        tokio::select! {
            // Cancel-safe: when the room's branch wins, nothing read is lost.
            read = ws.read() => match read {
                Ok(Message::Text(text)) => say(&format!("{who}: {text}")),
                Ok(Message::Binary(_)) => {
                    let _ = ws.close(CloseCode::UNSUPPORTED_DATA, "text only").await;
                    break;
                }
                // Pings were answered already; the peer's close was echoed.
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                // Closed, too large (1009), not UTF-8 (1007), or gone.
                Ok(Message::Close(_)) | Err(_) => break,
            },
            got = rx.recv() => match got {
                Ok(msg) => {
                    if ws.send_prepared(&msg).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let reason = format!("too slow: missed {missed} messages");
                    let _ = ws.close(CloseCode::POLICY_VIOLATION, &reason).await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    say(&format!("* {who} left"));
    drop(rx);
    app.rooms.leave(&room);
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3000".to_owned();
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            _ => {
                eprintln!("usage: chat [--addr HOST:PORT]  (default 127.0.0.1:3000)");
                std::process::exit(2);
            }
        }
    }
    let app = Arc::new(App {
        rooms: Rooms::default(),
        config: Arc::new(
            Config::default()
                .deflate(DeflateConfig::default())
                .max_message_size(MAX_MESSAGE),
        ),
    });
    let router = Router::new()
        .route("/", get(page))
        .route("/room/{name}", get(page))
        .route("/ws/{name}", any(room_ws))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("chat: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await
}
