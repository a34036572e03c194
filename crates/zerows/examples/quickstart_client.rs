//! The README's async quick start, the client: connect by URL, send, read the echo, close.
//! Run: `cargo run -p zerows --features tokio --example quickstart_client [ws://…|wss://…]`
use zerows::{CloseCode, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1);
    let url = url.as_deref().unwrap_or("ws://127.0.0.1:3000/ws");
    let mut ws = zerows::connect_async(url).await?; // wss:// too (rustls)
    ws.send_text("hello").await?;
    if let Message::Text(reply) = ws.read().await? {
        println!("{reply}"); // borrowed from the connection: no copy
    }
    ws.close(CloseCode::NORMAL, "bye").await?;
    Ok(())
}
