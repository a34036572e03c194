//! The Autobahn client harness: asks the fuzzing server (`kosoku -m fuzzingserver`) for the case
//! count, runs every case (connect to `/runCase?case=N&agent=A` and echo everything back), then asks
//! it to write the reports (`/updateReports?agent=A`).
//!
//! ```text
//! cargo run --release -p zerows --example autobahn_client -- --url ws://127.0.0.1:9001 --agent zerows
//! ```

use std::net::TcpStream;

use zerows::upgrade::client::ClientRequest;
use zerows::util::deflate::DeflateConfig;
use zerows::{Config, Error, Message, WebSocket};

struct Target {
    host_port: String,
}

fn open(target: &Target, path: &str) -> Result<WebSocket<TcpStream>, Error> {
    let stream = TcpStream::connect(&target.host_port)?;
    stream.set_nodelay(true)?;
    let request = ClientRequest::with_random_key(&target.host_port, path)
        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    // Offers permessage-deflate and installs it if the server accepts. The offer includes
    // client_no_context_takeover: Autobahn's 13.2/13.5/13.6 server cases only ask a client to reset
    // its compressor if the client offered to (a client may always reset; it costs some ratio).
    let deflate = DeflateConfig::default().no_context_takeover(true);
    WebSocket::connect_with_config(stream, &request, Config::default().deflate(deflate))
}

fn echo(mut ws: WebSocket<TcpStream>) -> Result<(), Error> {
    let mut buf = Vec::new();
    loop {
        match ws.read_into(&mut buf) {
            Ok(op) => ws.feed_message(op, &buf)?, // written by the next read, before it waits
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = String::from("ws://127.0.0.1:9001");
    let mut agent = String::from("zerows");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next().ok_or("--url needs a value")?,
            "--agent" => agent = args.next().ok_or("--agent needs a value")?,
            _ => return Err("usage: autobahn_client [--url ws://HOST:PORT] [--agent NAME]".into()),
        }
    }
    let host_port = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs")?
        .trim_end_matches('/')
        .to_owned();
    let target = Target { host_port };

    let mut ws = open(&target, "/getCaseCount")?;
    let count: u32 = match ws.read()? {
        Message::Text(t) => t.trim().parse()?,
        other => return Err(format!("unexpected case count message: {other:?}").into()),
    };
    let _ = ws.read();
    eprintln!("autobahn_client: {count} cases");

    for case in 1..=count {
        let path = format!("/runCase?case={case}&agent={agent}");
        match open(&target, &path) {
            Ok(ws) => {
                if let Err(e) = echo(ws)
                    && std::env::var_os("ZEROWS_VERBOSE").is_some()
                {
                    eprintln!("case {case}: {e}");
                }
            }
            Err(e) => eprintln!("case {case}: connect failed: {e}"),
        }
    }

    let mut ws = open(&target, &format!("/updateReports?agent={agent}"))?;
    let _ = ws.close(zerows::CloseCode::NORMAL, "");
    eprintln!("autobahn_client: reports updated");
    Ok(())
}
