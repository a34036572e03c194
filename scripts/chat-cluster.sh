#!/usr/bin/env bash
# chat_cluster (examples/chat_cluster, issue 18) against a real Redis: installs redis-server from
# Debian if it is missing, then runs the crate's tests including the ignored ones (each starts its
# own redis-server on a free loopback port and kills it at the end: two processes chatting across
# Redis, Redis killed and restarted mid-test, Redis down at start).
# The page in a browser is checked by scripts/browser-interop.sh (tests/browser/chat_cluster.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
    echo "==> installing redis-server (Debian)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
# The tests start their own redis-server on free ports (never 6379) and leave any system
# instance alone.
redis-server --version

cargo test -p chat-cluster -- --include-ignored "$@"
