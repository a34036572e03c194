//! Side by side, task (a) with axum's built-in WebSocket: a tokio echo server (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::any;
use tokio::net::TcpListener;

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let app = Router::new().route(
        "/",
        any(|ws: WebSocketUpgrade| async { ws.on_upgrade(echo) }),
    );
    axum::serve(listener, app).await
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
            return;
        }
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_echo(
        "echo",
        "axum",
        "tokio-tungstenite",
        serve,
        sbs::tungstenite_echo_client,
    );
}
