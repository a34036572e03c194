//! A small client: connects, sends each argument as a text message (or "hello" if none), prints
//! each reply, and closes cleanly. Offers permessage-deflate.
//!
//! ```text
//! cargo run --release -p zerows-util --example echo_server &
//! cargo run --release -p zerows-util --example client -- --url ws://127.0.0.1:9001/ hello κόσμε
//! ```

use std::net::TcpStream;

use zerows_upgrade::client::ClientRequest;
use zerows_util::deflate::DeflateConfig;
use zerows_util::{CloseCode, Config, Message, WebSocket};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = String::from("ws://127.0.0.1:9001/");
    let mut messages = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next().ok_or("--url needs a value")?,
            _ => messages.push(a),
        }
    }
    if messages.is_empty() {
        messages.push("hello".into());
    }
    let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let stream = TcpStream::connect(host)?;
    let request = ClientRequest::with_random_key(host, path)?;
    let mut ws = WebSocket::connect_with_config(
        stream,
        &request,
        Config::default().deflate(DeflateConfig::default()),
    )?;
    for m in &messages {
        ws.send_text(m)?;
        loop {
            match ws.read()? {
                Message::Text(t) => {
                    println!("< {t}");
                    break;
                }
                Message::Binary(b) => {
                    println!("< {} bytes of binary", b.len());
                    break;
                }
                Message::Close(c) => {
                    println!("server closed: {c:?}");
                    return Ok(());
                }
                _ => {}
            }
        }
    }
    ws.close(CloseCode::NORMAL, "bye")?;
    Ok(())
}
