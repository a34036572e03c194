//! Side by side, task (d) with axum's built-in WebSocket: an echo server written as
//! `read.forward(write)` (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::any;
use futures_util::{StreamExt, TryStreamExt, future};
use tokio::net::TcpListener;

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let app = Router::new().route(
        "/",
        any(|ws: WebSocketUpgrade| async { ws.on_upgrade(echo) }),
    );
    axum::serve(listener, app).await
}

async fn echo(socket: WebSocket) {
    let (write, read) = socket.split();
    let data =
        read.try_filter(|m| future::ready(matches!(m, Message::Text(_) | Message::Binary(_))));
    let _ = data.forward(write).await;
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_echo(
        "forward",
        "axum",
        "tokio-tungstenite",
        serve,
        sbs::tungstenite_echo_client,
    );
}
