//! Side by side, task (b) with zerows: connect by URL, send one message, read the reply
//! (`docs/async.md`).

// side-by-side: begin
use zerows::{CloseCode, Message};

async fn hello(url: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut ws = zerows::connect_async(url).await?;
    ws.send_text("hello").await?;
    let reply = match ws.read().await? {
        Message::Text(reply) => reply.to_owned(),
        other => return Err(format!("unexpected {other:?}").into()),
    };
    ws.close(CloseCode::NORMAL, "").await?;
    Ok(reply)
}
// side-by-side: end

fn main() {
    use zerows_benches::side_by_side as sbs;
    let addr = sbs::spawn_server(sbs::echo_server);
    let reply = sbs::run_client(hello(&format!("ws://{addr}/"))).expect("hello");
    assert_eq!(reply, "hello");
    println!("{{\"task\":\"client\",\"client\":\"zerows\",\"ok\":true}}");
}
