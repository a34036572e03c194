//! Side by side, task (c) with axum's built-in WebSocket: broadcast every message of a channel to
//! every client (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::routing::any;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

async fn serve(listener: TcpListener, tx: broadcast::Sender<Message>) -> std::io::Result<()> {
    let join = |ws: WebSocketUpgrade, State(tx): State<broadcast::Sender<Message>>| async move {
        ws.on_upgrade(move |socket| member(socket, tx.subscribe()))
    };
    axum::serve(listener, Router::new().route("/", any(join)).with_state(tx)).await
}

async fn member(mut socket: WebSocket, mut rx: broadcast::Receiver<Message>) {
    while let Ok(msg) = rx.recv().await {
        if socket.send(msg).await.is_err() {
            return;
        }
    }
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: "too slow".into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_broadcast("axum", serve, Message::text);
}
