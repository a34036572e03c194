//! Side by side, task (d) with zerows: an echo server written as `read.forward(write)`
//! (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use futures_util::{StreamExt, TryStreamExt, future};
use tokio::net::TcpListener;
use zerows::AsyncWebSocket;

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let ws = AsyncWebSocket::accept(stream).await?;
            let (read, write) = ws.split(); // zerows' own split: (read, write)
            let data = read.try_filter(|msg| future::ready(msg.is_data()));
            data.forward(write).await
        });
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_echo(
        "forward",
        "zerows",
        "zerows",
        serve,
        sbs::zerows_echo_client,
    );
}
