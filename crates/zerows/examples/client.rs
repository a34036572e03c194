//! A small client: dials a `ws://` or `wss://` URL (through a proxy if asked), sends each message
//! argument as text (or "hello" if none), prints each reply as `< text`, and closes cleanly.
//! Offers permessage-deflate. Any failure ends it with a one-line reason and exit status 1.
//!
//! ```text
//! cargo run --release -p zerows --example echo_server &
//! cargo run --release -p zerows --example client -- --url ws://127.0.0.1:9001/ hello κόσμε
//! cargo run --release -p zerows --example client -- --url wss://localhost:9443/ --ca ca.pem hi
//! cargo run --release -p zerows --example client -- --url ws://echo.internal/ \
//!     --proxy socks5h://user:pass@127.0.0.1:1080 --protocol chat --header 'Authorization: Bearer x' hi
//! ```
//!
//! `--proxy env` takes the proxy from `https_proxy`/`http_proxy`/`all_proxy`/`no_proxy`.

use std::process::ExitCode;

use zerows::net::ClientTls;
use zerows::util::deflate::DeflateConfig;
use zerows::{CloseCode, Config, Dialer, Message};

const USAGE: &str = "usage: client --url URL [--ca PEM] [--insecure] [--proxy URL|env] \
                     [--protocol NAME]... [--header 'Name: value']... MESSAGE...";

fn run() -> Result<(), String> {
    let mut url = String::from("ws://127.0.0.1:9001/");
    let mut messages = Vec::new();
    let mut dialer = Dialer::new().config(Config::default().deflate(DeflateConfig::default()));
    let mut tls = ClientTls::new();
    let mut insecure = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value; {USAGE}"));
        match a.as_str() {
            "--url" => url = value("--url")?,
            "--ca" => {
                let path = value("--ca")?;
                tls = tls
                    .add_ca_pem_file(&path)
                    .map_err(|e| format!("--ca {path}: {e}"))?;
            }
            "--insecure" => insecure = true,
            "--proxy" => {
                let proxy = value("--proxy")?;
                dialer = if proxy == "env" {
                    dialer.proxy_from_env()
                } else {
                    dialer.proxy(&proxy).map_err(|e| e.to_string())?
                };
            }
            "--protocol" => dialer = dialer.protocol(&value("--protocol")?),
            "--header" => {
                let h = value("--header")?;
                let (name, v) = h
                    .split_once(':')
                    .ok_or(format!("--header {h:?}: expected 'Name: value'"))?;
                dialer = dialer.header(name.trim(), v.trim());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}; {USAGE}")),
            _ => messages.push(a),
        }
    }
    if messages.is_empty() {
        messages.push("hello".into());
    }
    if insecure {
        eprintln!("warning: --insecure: the server's certificate is not verified");
        tls = ClientTls::dangerous_accept_any_certificate();
    }
    let mut ws = dialer.tls(tls).connect(&url).map_err(|e| e.to_string())?;
    if let Some(p) = ws.agreed().and_then(|a| a.protocol()) {
        eprintln!("subprotocol: {p}");
    }
    for m in &messages {
        ws.send_text(m).map_err(|e| e.to_string())?;
        loop {
            match ws.read().map_err(|e| e.to_string())? {
                Message::Text(t) => {
                    println!("< {t}");
                    break;
                }
                Message::Binary(b) => {
                    println!("< {} bytes of binary", b.len());
                    break;
                }
                Message::Close(c) => return Err(format!("the server closed: {c:?}")),
                _ => {}
            }
        }
    }
    ws.close(CloseCode::NORMAL, "bye")
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("client: {reason}");
            ExitCode::FAILURE
        }
    }
}
