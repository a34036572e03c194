//! Side by side, task (d) with tokio-tungstenite: an echo server written as `read.forward(write)`
//! (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use futures_util::{StreamExt, TryStreamExt, future};
use tokio::net::TcpListener;

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let ws = tokio_tungstenite::accept_async(stream).await?;
            let (write, read) = ws.split();
            let data = read.try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()));
            data.forward(write).await
        });
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_echo(
        "forward",
        "tokio-tungstenite",
        "tokio-tungstenite",
        serve,
        sbs::tungstenite_echo_client,
    );
}
