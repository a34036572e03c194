#!/usr/bin/env bash
# zerows-net against real third-party peers: tinyproxy (HTTP CONNECT, Basic auth), danted (SOCKS5,
# username/password) and the Python `websockets` echo server over TLS.
#
#   1. scripts/net-peers.sh installs the peers (apt-get tinyproxy dante-server openssl, and the
#      .venv-net venv with websockets; idempotent, quiet when everything is there);
#   2. runs crates/zerows-net/tests/peers_selftest.rs (the peers alone, raw bytes) and
#      tests/real_peers.rs (our client through them), which a plain `cargo test` ignores;
#   3. runs the ignored test of crates/zerows-util/tests/axum.rs: the Python `websockets` client
#      negotiating permessage-deflate and a subprotocol with the axum extractor.
#
# Needs root (apt-get; danted checks the system password database, so the tests add a user).
# Exits non-zero on any failure. Extra arguments go to the test harness (e.g. a test name filter).
#
# Environment (optional): ZEROWS_PYTHON (interpreter with websockets; default .venv-net/bin/python),
# ZEROWS_TINYPROXY, ZEROWS_DANTED, ZEROWS_KEEP_PEER_DIRS=1 (see crates/zerows-net/tests/peers/mod.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/net-peers.sh

export ZEROWS_PYTHON="${ZEROWS_PYTHON:-$ROOT/.venv-net/bin/python}"
export ZEROWS_WORKSPACE="${ZEROWS_WORKSPACE:-$ROOT}"

cargo test -p zerows-net --all-features --test real_peers --test peers_selftest -- --include-ignored "$@"

cargo test -p zerows-util --all-features --test axum -- --ignored
