//! Side by side, task (c) with tokio-tungstenite: broadcast every message of a channel to every
//! client (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn serve(listener: TcpListener, tx: broadcast::Sender<Message>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let mut rx = tx.subscribe();
        tokio::spawn(async move {
            let mut ws = tokio_tungstenite::accept_async(stream).await?;
            while let Ok(msg) = rx.recv().await {
                ws.send(msg).await?;
            }
            let frame = CloseFrame {
                code: CloseCode::Policy,
                reason: "too slow".into(),
            };
            ws.close(Some(frame)).await
        });
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_broadcast("tokio-tungstenite", serve, Message::text);
}
