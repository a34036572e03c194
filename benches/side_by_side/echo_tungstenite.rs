//! Side by side, task (a) with tokio-tungstenite: a tokio echo server (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Error;

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut ws = tokio_tungstenite::accept_async(stream).await?;
            while let Some(msg) = ws.next().await {
                let msg = msg?;
                if msg.is_text() || msg.is_binary() {
                    ws.send(msg).await?;
                }
            }
            Ok::<_, Error>(())
        });
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    let addr = sbs::spawn_server(|l| async move { serve(l).await.expect("serve") });
    let name = "tokio-tungstenite";
    sbs::measure_echo("echo", name, name, addr, sbs::tungstenite_echo_client);
    let fresh = "tokio-tungstenite, `Message::text(String)` per send";
    sbs::measure_echo("echo", name, fresh, addr, sbs::tungstenite_text_client);
}
