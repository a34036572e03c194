#!/usr/bin/env bash
# Headless Chromium against the zerows echo servers (issue 8: permessage-deflate interop).
#
# Usage: scripts/browser-interop.sh
#
# Installs what is missing (Debian's `chromium`, playwright-core from tests/browser/package-lock.json;
# never a browser download), builds the echo servers in release mode, makes a throwaway test
# certificate (scripts/gen-test-cert.sh, into the scratch directory removed on exit; no key is ever
# written into the tree), starts the servers on free loopback ports and runs tests/browser/interop.mjs
# against:
#   sync          examples/echo_server                        ws://   permessage-deflate on
#   tokio         examples/echo_server_tokio                  ws://   permessage-deflate on
#   sync-plain    examples/echo_server --no-deflate           ws://   permessage-deflate off
#   sync-tls      examples/echo_server --tls-cert/--tls-key   wss://  permessage-deflate on
#   tokio-tls     examples/echo_server_tokio --tls-cert/...   wss://  permessage-deflate on
#   poll          examples/echo_server_poll --threads 2       ws://   permessage-deflate on
#   poll-plain    examples/echo_server_poll --no-deflate      ws://   permessage-deflate off
# and then the axum chat example (examples/chat, issue 15) with tests/browser/chat.mjs: two pages in
# one room see each other's messages, a page in another room does not, a reloaded page rejoins, a
# text over the server's limit is closed with 1009; and chat_cluster (examples/chat_cluster, issue
# 18) with tests/browser/chat_cluster.mjs: a redis-server (Debian) and two processes on it, a page
# loaded from each (A without permessage-deflate, its default; B with --deflate), chatting across
# processes.
# A page served from http://127.0.0.1 (about:blank may not open loopback WebSockets: Chromium's
# local network access checks block it; an http page may open wss://) opens
# new WebSocket("ws[s]://127.0.0.1:PORT/"), checks ws.extensions, round-trips text and binary
# messages from 0 B to 16 MiB one at a time and many in flight at once, comparing every echo
# byte-for-byte in the page, and closes with 1000 "bye". A second connection per server goes through
# a frame-counting relay for the wire statistics (frames per message, RSV1, compression ratio); for
# the wss:// servers the relay terminates TLS on both sides (it presents the test certificate to the
# browser and verifies the server's chain against the test CA), so the whole battery, relay
# included, runs over TLS.
#
# Chromium trusts the test certificate only through --ignore-certificate-errors-spki-list=<SHA-256
# of the leaf's SPKI> (no check is turned off). Negative control: a second Chromium launched with
# the same flags minus the SPKI list must fail to open every wss:// server (close 1006) while it
# opens the ws:// one, so the trust comes from the pin alone.
#
# Output: one block per server, then `NAME (URL): N passed, N failed (S s)` per server and the total
# `N passed, N failed`. Exit status: 0 all checks passed, 1 a check failed, 2 setup error.
#
# Environment (all optional):
#   CHROMIUM                 browser binary (default /usr/bin/chromium; installed with apt-get if
#                            that is the path and it is missing)
#   BROWSER_INTEROP_SKIP_BUILD=1   do not run cargo (use the binaries already built)
#   BROWSER_INTEROP_OUT      server logs and results.json (default target/browser-interop)
#   BROWSER_INTEROP_TIMEOUT  seconds the browser run may take before it is killed (default 600)
#   INTEROP_SIZES, INTEROP_MEASURE=0, INTEROP_VERBOSE=1   passed to tests/browser/interop.mjs
#   CARGO_TARGET_DIR         where the release examples are built and looked for (default target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
OUT=${BROWSER_INTEROP_OUT:-target/browser-interop}
RUN_TIMEOUT=${BROWSER_INTEROP_TIMEOUT:-600}
EXAMPLES_DIR=${CARGO_TARGET_DIR:-target}/release/examples
TESTS=tests/browser

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'browser-interop.sh: %s\n' "$*" >&2; exit 2; }

[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BROWSER_INTEROP_TIMEOUT: expected a positive integer, got '$RUN_TIMEOUT'"

# ---- installs ---------------------------------------------------------------------------------
apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

if [ ! -x "$CHROMIUM" ]; then
    [ "$CHROMIUM" = /usr/bin/chromium ] || die "no browser at CHROMIUM=$CHROMIUM"
    log "installing chromium (Debian)"
    apt_install chromium
    [ -x "$CHROMIUM" ] || die "chromium installed but $CHROMIUM is missing"
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs and npm (Debian)"
    apt_install nodejs npm
fi
want_pw=$(node -p 'require("./'"$TESTS"'/package-lock.json").packages["node_modules/playwright-core"].version')
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old for playwright-core $want_pw (needs 20 or newer)"
have_pw=$(node -p 'try { require("./'"$TESTS"'/node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$have_pw" != "$want_pw" ]; then
    log "installing playwright-core $want_pw (npm ci; no browser download)"
    # playwright-core has no install script; the variable only guards against a future one
    (cd "$TESTS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
        || die "npm ci in $TESTS failed"
fi

log "$("$CHROMIUM" --version 2>/dev/null | tail -n1), node $(node --version), playwright-core $want_pw"

# ---- build ------------------------------------------------------------------------------------
if [ "${BROWSER_INTEROP_SKIP_BUILD:-0}" != 1 ]; then
    log "building the echo servers (release)"
    cargo build --release -p zerows --features tokio,tls,axum,poll \
        --example echo_server --example echo_server_tokio --example echo_server_poll --example chat
    log "building chat_cluster (release)"
    cargo build --release -p chat-cluster
fi
CHAT_CLUSTER=${CARGO_TARGET_DIR:-target}/release/chat_cluster
[ -x "$CHAT_CLUSTER" ] || die "missing $CHAT_CLUSTER"
for bin in echo_server echo_server_tokio echo_server_poll chat; do
    [ -x "$EXAMPLES_DIR/$bin" ] || die "missing $EXAMPLES_DIR/$bin"
done

# ---- servers ----------------------------------------------------------------------------------
mkdir -p "$OUT"
PIDS=()
# the browser profiles, playwright's temporary files and the test certificate, removed on exit
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/zerows-browser-interop.XXXXXX")
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    # TERM, then KILL whatever is still there after 3 s (a TERM that lands between fork and exec
    # can be lost), then reap
    local pid i alive
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 30; i++)); do
        alive=0
        for pid in "${PIDS[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        [ "$alive" = 1 ] || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME LOG BINARY [ARGS...]: binds 127.0.0.1:0 (the kernel picks a free port), waits for the
# "listening on ws://127.0.0.1:PORT" (or wss://, http://) line and a TCP connect; sets PORT.
PORT=
start() {
    local name=$1 logf=$2
    shift 2
    : >"$logf"
    ZEROWS_VERBOSE=1 "$@" --addr 127.0.0.1:0 >"$logf" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local i
    for ((i = 0; i < 100; i++)); do
        PORT=$(sed -n 's/.*listening on [a-z]*:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$logf" 2>/dev/null | head -n1 || true)
        if [ -n "$PORT" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            log "$name: $* on 127.0.0.1:$PORT (pid $pid)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "$name exited during startup"; }
        sleep 0.1
    done
    cat "$logf" >&2
    die "$name did not listen within 10 s"
}

command -v openssl >/dev/null || { log "installing openssl (Debian)"; apt_install openssl; }
TLS_DIR=$SCRATCH/tls
bash scripts/gen-test-cert.sh "$TLS_DIR" >/dev/null || die "scripts/gen-test-cert.sh failed"
for f in ca.pem cert.pem key.pem spki.txt; do
    [ -s "$TLS_DIR/$f" ] || die "scripts/gen-test-cert.sh made no $f"
done
TLS_ARGS=(--tls-cert "$TLS_DIR/cert.pem" --tls-key "$TLS_DIR/key.pem")

start sync "$OUT/sync.log" "$EXAMPLES_DIR/echo_server"
P_SYNC=$PORT
start tokio "$OUT/tokio.log" "$EXAMPLES_DIR/echo_server_tokio"
P_TOKIO=$PORT
start sync-plain "$OUT/sync-plain.log" "$EXAMPLES_DIR/echo_server" --no-deflate
P_PLAIN=$PORT
start sync-tls "$OUT/sync-tls.log" "$EXAMPLES_DIR/echo_server" "${TLS_ARGS[@]}"
P_SYNC_TLS=$PORT
start tokio-tls "$OUT/tokio-tls.log" "$EXAMPLES_DIR/echo_server_tokio" "${TLS_ARGS[@]}"
P_TOKIO_TLS=$PORT
start poll "$OUT/poll.log" "$EXAMPLES_DIR/echo_server_poll" --threads 2
P_POLL=$PORT
start poll-plain "$OUT/poll-plain.log" "$EXAMPLES_DIR/echo_server_poll" --threads 2 --no-deflate
P_POLL_PLAIN=$PORT
start chat "$OUT/chat.log" "$EXAMPLES_DIR/chat"
P_CHAT=$PORT

# chat_cluster: a real redis-server (Debian) on a free loopback port and two processes on it
command -v redis-server >/dev/null || { log "installing redis-server (Debian)"; apt_install redis-server; }
REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
    sleep 0.1
done
start cluster-a "$OUT/cluster-a.log" "$CHAT_CLUSTER" --redis "redis://127.0.0.1:$REDIS_PORT"
P_CLUSTER_A=$PORT
start cluster-b "$OUT/cluster-b.log" "$CHAT_CLUSTER" --redis "redis://127.0.0.1:$REDIS_PORT" --deflate
P_CLUSTER_B=$PORT

# ---- the browser run --------------------------------------------------------------------------
log "running $TESTS/interop.mjs (Chromium headless)"
status=0
INTEROP_JSON="$OUT/results.json" CHROMIUM="$CHROMIUM" TMPDIR="$SCRATCH" INTEROP_TLS_DIR="$TLS_DIR" \
    timeout --kill-after=10 "$RUN_TIMEOUT" node "$TESTS/interop.mjs" \
    "sync:$P_SYNC:on" "tokio:$P_TOKIO:on" "sync-plain:$P_PLAIN:off" \
    "sync-tls:$P_SYNC_TLS:on:tls" "tokio-tls:$P_TOKIO_TLS:on:tls" \
    "poll:$P_POLL:on" "poll-plain:$P_POLL_PLAIN:off" || status=$?

log "running $TESTS/chat.mjs against the chat example (Chromium headless)"
chat_status=0
CHROMIUM="$CHROMIUM" TMPDIR="$SCRATCH" \
    timeout --kill-after=10 120 node "$TESTS/chat.mjs" "$P_CHAT" || chat_status=$?
# the worse of the two runs: 2 (setup) over 1 (a check failed) over 0
if [ "$chat_status" -ne 0 ] && { [ "$status" -eq 0 ] || [ "$chat_status" -ne 1 ]; }; then
    status=$chat_status
fi

log "running $TESTS/chat_cluster.mjs against two chat_cluster processes and Redis (Chromium headless)"
cluster_status=0
CHROMIUM="$CHROMIUM" TMPDIR="$SCRATCH" \
    timeout --kill-after=10 120 node "$TESTS/chat_cluster.mjs" "$P_CLUSTER_A" "$P_CLUSTER_B" || cluster_status=$?
if [ "$cluster_status" -ne 0 ] && { [ "$status" -eq 0 ] || [ "$cluster_status" -ne 1 ]; }; then
    status=$cluster_status
fi

# the negative control seen from the servers (informational: the browser-side check is the test)
for f in sync-tls tokio-tls; do
    alert=$(grep -m1 -i 'alert' "$OUT/$f.log" 2>/dev/null || true)
    log "negative control, $f server log: ${alert:-no TLS alert logged}"
done

if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && log "the browser run took longer than $RUN_TIMEOUT s and was killed"
    for f in sync tokio sync-plain sync-tls tokio-tls poll poll-plain chat redis cluster-a cluster-b; do
        if [ -s "$OUT/$f.log" ]; then
            log "$f server log (last 20 lines):"
            tail -n 20 "$OUT/$f.log" >&2
        fi
    done
    [ "$status" -eq 1 ] || status=2
fi
log "results: $OUT/results.json"
exit "$status"
