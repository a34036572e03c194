//! The TLS bench servers and load generator work together (what the `tls` group of
//! `benches/run.py` measures): a certificate made by `echo_server --gen-cert`, every TLS server
//! echoing every size through `loadgen tls-echo` (which checks each echo byte for byte) and
//! completing `loadgen tls-handshake` cycles, every server negotiating the same TLS parameters
//! (one `rustls::ServerConfig` for all), and a client that trusts another CA refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const ECHO_SERVER: &str = env!("CARGO_BIN_EXE_echo_server");
const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// A temporary directory, removed when dropped (also when the test fails).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("zerows-bench-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TempDir(d)
}

fn gen_cert(dir: &Path) {
    let st = Command::new(ECHO_SERVER)
        .arg("--gen-cert")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "echo_server --gen-cert: {st}");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(dir.join(f).exists(), "{f}");
    }
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(stack: &str, dir: &Path) -> Server {
    let mut child = Command::new(ECHO_SERVER)
        .args(["--stack", stack, "--addr", "127.0.0.1:0", "--tls-cert"])
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{stack}: printed {line:?}"))
        .trim()
        .to_string();
    Server { child, addr }
}

/// Runs the load generator; its JSON line, or its stderr as the error.
fn loadgen(args: &[&str]) -> Result<String, String> {
    let out = Command::new(LOADGEN).args(args).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// The value of `"key":` in a flat JSON line, as text.
fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let pat = format!("\"{key}\":");
    let rest = &json[json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len()..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim_matches('"')
}

#[test]
fn every_tls_server_echoes_and_handshakes_with_the_same_tls() {
    let tmp = temp_dir("ok");
    let dir = &tmp.0;
    gen_cert(dir);
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut negotiated = Vec::new();
    for stack in ["zerows-tokio", "tokio-tungstenite", "zerows-sync"] {
        let srv = server(stack, dir);
        for (size, inflight) in [("16", "1"), ("1024", "16"), ("70000", "4")] {
            let rec = loadgen(&[
                "tls-echo",
                "--addr",
                &srv.addr,
                "--ca",
                ca,
                "--conns",
                "3",
                "--inflight",
                inflight,
                "--size",
                size,
                "--secs",
                "0.2",
                "--warmup",
                "0.05",
            ])
            .unwrap_or_else(|e| panic!("{stack} tls-echo {size} B × {inflight}: {e}"));
            assert!(field(&rec, "msgs").parse::<u64>().unwrap() > 0, "{rec}");
            assert_eq!(field(&rec, "started"), "3", "{rec}");
            negotiated.push((stack, field(&rec, "tls").to_string()));
        }
        let rec = loadgen(&[
            "tls-handshake",
            "--addr",
            &srv.addr,
            "--ca",
            ca,
            "--concurrency",
            "2",
            "--secs",
            "0.2",
            "--warmup",
            "0.05",
        ])
        .unwrap_or_else(|e| panic!("{stack} tls-handshake: {e}"));
        assert!(field(&rec, "cycles").parse::<u64>().unwrap() > 0, "{rec}");
        negotiated.push((stack, field(&rec, "tls").to_string()));
    }
    let first = &negotiated[0].1;
    assert!(
        first.starts_with("TLSv1_3 ") && first.ends_with(" http/1.1"),
        "{first}"
    );
    for (stack, tls) in &negotiated {
        assert_eq!(tls, first, "{stack} negotiated something else");
    }
}

#[test]
fn a_client_that_trusts_another_ca_is_refused() {
    let (dir, other) = (temp_dir("server"), temp_dir("other"));
    gen_cert(&dir.0);
    gen_cert(&other.0);
    let srv = server("zerows-tokio", &dir.0);
    let err = loadgen(&[
        "tls-handshake",
        "--addr",
        &srv.addr,
        "--ca",
        other.0.join("ca.pem").to_str().unwrap(),
        "--secs",
        "0.1",
    ])
    .expect_err("dialed a server whose CA it does not trust");
    assert!(
        err.contains("not trusted") && err.contains("unknown issuer"),
        "{err}"
    );
}
