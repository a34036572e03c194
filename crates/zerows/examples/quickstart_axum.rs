//! The README's async quick start, the server: an axum echo route with permessage-deflate.
//! Run: `cargo run -p zerows --features tokio,axum --example quickstart_axum`
use axum::{Router, response::Response, routing::any};
use zerows::axum::{HyperWebSocket, WebSocketUpgrade};
use zerows::{Config, util::deflate::DeflateConfig};

async fn echo(ws: WebSocketUpgrade) -> Response {
    let config = Config::default().deflate(DeflateConfig::default());
    ws.config(config)
        .on_upgrade(|mut ws: HyperWebSocket| async move {
            let mut buf = Vec::new();
            while let Ok(opcode) = ws.read_into(&mut buf).await {
                if ws.send_message(opcode, &buf).await.is_err() {
                    break;
                }
            }
        })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new().route("/ws", any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
