//! Side by side, task (c) with zerows: broadcast every message of a channel to every client,
//! encoded once (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use zerows::util::PreparedMessage;
use zerows::{AsyncWebSocket, CloseCode};

async fn serve(
    listener: TcpListener,
    tx: broadcast::Sender<PreparedMessage>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let mut rx = tx.subscribe();
        tokio::spawn(async move {
            let mut ws = AsyncWebSocket::accept(stream).await?;
            while let Ok(msg) = rx.recv().await {
                ws.send_prepared(&msg).await?;
            }
            ws.close(CloseCode::POLICY_VIOLATION, "too slow").await
        });
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_broadcast("zerows", serve, |text: String| {
        PreparedMessage::new(zerows::OpCode::Text, text.as_bytes())
    });
}
