//! The README's async quick start runs as written: the two programs in it are the examples
//! `quickstart_axum` and `quickstart_client` (this test checks the README shows them verbatim),
//! and the client, run against the server, prints the echo and exits cleanly.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The code of an example as the README shows it: without its `//!` header.
fn body(source: &str) -> String {
    source
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_shows_the_quick_start_examples_verbatim() {
    let readme = include_str!("../../../README.md");
    for source in [
        include_str!("../examples/quickstart_axum.rs"),
        include_str!("../examples/quickstart_client.rs"),
    ] {
        let code = body(source);
        assert!(readme.contains(code.trim()), "README.md must show:\n{code}");
    }
}

/// An example's binary: `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run the whole `cargo test -p zerows --all-features` (it builds the examples)",
        path.display()
    );
    path
}

/// Kills the server when the test ends, passed or not.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_quick_start_client_talks_to_the_quick_start_server() {
    let _server = Server(
        Command::new(example("quickstart_axum"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // It binds 127.0.0.1:3000; wait (bounded) until it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect("127.0.0.1:3000").is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(example("quickstart_client")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}
