#!/usr/bin/env bash
# One command: a redis-server and two chat_cluster processes sharing one port (SO_REUSEPORT).
#   bash examples/chat_cluster/start.sh [PORT]        (default 3000; Ctrl-C stops all three)
# then open http://127.0.0.1:PORT/?room=rust in two browser tabs (the kernel spreads the tabs'
# connections over both processes; run `ss -tnp | grep chat_cluster` to see which holds which).
# Needs redis-server (Debian: apt-get install redis-server).
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=${1:-3000}
REDIS_PORT=${REDIS_PORT:-6379}

command -v redis-server >/dev/null || { echo "needs redis-server (Debian: apt-get install redis-server)" >&2; exit 2; }
cargo build --release -p chat-cluster
BIN=${CARGO_TARGET_DIR:-target}/release/chat_cluster

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
trap 'exit 130' INT TERM
if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then
    echo "==> using the Redis already on 127.0.0.1:$REDIS_PORT" >&2
else
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning &
    pids+=("$!")
fi
for _ in 1 2; do
    "$BIN" --addr "127.0.0.1:$PORT" --redis "redis://127.0.0.1:$REDIS_PORT" --reuseport &
    pids+=("$!")
done
echo "==> open http://127.0.0.1:$PORT/?room=rust in two tabs (Ctrl-C stops everything)" >&2
wait
