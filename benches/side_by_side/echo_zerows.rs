//! Side by side, task (a) with zerows: a tokio echo server (`docs/async.md`).

#[global_allocator]
static ALLOC: zerows_benches::alloc::Counting = zerows_benches::alloc::Counting;

// side-by-side: begin
use tokio::net::TcpListener;
use zerows::{AsyncWebSocket, Error};

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut ws = AsyncWebSocket::accept(stream).await?;
            let mut buf = Vec::new();
            loop {
                match ws.read_into(&mut buf).await {
                    Ok(opcode) => ws.feed_message(opcode, &buf).await?,
                    Err(Error::Closed) => return Ok::<_, Error>(()),
                    Err(e) => return Err(e),
                }
            }
        });
    }
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    sbs::run_echo("echo", "zerows", "zerows", serve, sbs::zerows_echo_client);
}
