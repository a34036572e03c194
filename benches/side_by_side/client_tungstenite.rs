//! Side by side, task (b) with tokio-tungstenite: connect by URL, send one message, read the
//! reply (`docs/async.md`).

// side-by-side: begin
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

async fn hello(url: &str) -> Result<String, Box<dyn std::error::Error>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::text("hello")).await?;
    let reply = match ws.next().await.ok_or("closed")?? {
        Message::Text(reply) => reply.to_string(),
        other => return Err(format!("unexpected {other:?}").into()),
    };
    ws.close(None).await?;
    Ok(reply)
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    let addr = sbs::spawn_server(sbs::echo_server);
    let reply = sbs::run_client(hello(&format!("ws://{addr}/"))).expect("hello");
    assert_eq!(reply, "hello");
    println!("{{\"task\":\"client\",\"client\":\"tokio-tungstenite\",\"ok\":true}}");
}
