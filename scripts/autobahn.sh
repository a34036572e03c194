#!/usr/bin/env bash
# shellcheck disable=SC2016  # backquotes in printf formats are markdown, not expansions
# Autobahn TestSuite conformance runs (issue 5), driven by kosoku (PyPI).
#
# Usage: scripts/autobahn.sh [--docs FILE] [server-sync] [server-tokio] [server-poll] [client]   (default: all four)
#
#   --docs FILE   after the runs, replace the generated block of FILE (docs/conformance.md)
#                 with the results: the tables are regenerated, never edited, and name the
#                 commit they ran on (and whether the tree had uncommitted changes)
#
#   server-sync   kosoku -m fuzzingclient  against examples/echo_server        (sync, thread per connection)
#   server-tokio  kosoku -m fuzzingclient  against examples/echo_server_tokio  (-p $AUTOBAHN_PARALLEL_SERVER_TOKIO)
#   server-poll   kosoku -m fuzzingclient  against examples/echo_server_poll   (mio readiness loops, --threads 2;
#                 -p $AUTOBAHN_PARALLEL_SERVER_POLL)
#   client        kosoku -m fuzzingserver  driven by examples/autobahn_client
#
# Every case must be OK or INFORMATIONAL, in behavior and behaviorClose alike; NON-STRICT,
# FAILED, UNCLEAN, UNIMPLEMENTED, WRONG CODE, ERROR and a case missing from the report fail.
# (kosoku's own exit code is laxer: it accepts NON-STRICT.) Exit status: 0 all runs pass,
# 1 some run failed, 2 usage or setup error.
#
# Environment (all optional):
#   AUTOBAHN_SECTIONS   case ids / `*` globs to run, space separated
#                       (default "1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.* 12.* 13.*"). Autobahn has no
#                       section 8 or 11: a pattern matching no case is dropped with a note
#                       (kosoku itself aborts on one). Only `*` is a wildcard for kosoku.
#                       Compression later: add "12.* 13.*".
#   AUTOBAHN_EXCLUDE    case ids / globs to leave out, space separated (default none)
#   AUTOBAHN_OUT        report root (default target/autobahn); run R writes $AUTOBAHN_OUT/R/
#                       (index.json, per-case json/html, summary.txt, summary.md, logs) and
#                       the runs together $AUTOBAHN_OUT/summary.md
#   AUTOBAHN_VENV       virtualenv for kosoku (default target/autobahn-venv; reused when it
#                       already holds kosoku==$KOSOKU_VERSION)
#   AUTOBAHN_PYTHON     interpreter that creates the venv (default python3)
#   AUTOBAHN_AGENT      agent name the client reports (default zerows)
#   AUTOBAHN_PARALLEL_SERVER_SYNC   kosoku -p for server-sync  (default 1)
#   AUTOBAHN_PARALLEL_SERVER_TOKIO  kosoku -p for server-tokio (default 2)
#   AUTOBAHN_PARALLEL_SERVER_POLL   kosoku -p for server-poll  (default 2)
#   AUTOBAHN_TIMEOUT    seconds one run may take before it is killed (default 900; a healthy
#                       1-10 run takes well under a minute, but each section 9 case waits up to
#                       100 s for an echo that never comes)
#   AUTOBAHN_STARTUP_TIMEOUT  seconds to wait for a server to listen (default 30)
#   AUTOBAHN_SKIP_BUILD=1     do not run cargo (use binaries already built)
#   ZEROWS_SERVER_SYNC_CMD / ZEROWS_SERVER_TOKIO_CMD / ZEROWS_SERVER_POLL_CMD   command for the server under test; the
#                       script appends `--addr 127.0.0.1:PORT` (default: the release examples)
#   ZEROWS_CLIENT_CMD   command for the client under test; the script appends
#                       `--url ws://127.0.0.1:PORT --agent $AUTOBAHN_AGENT`
#   When all commands the selected runs need are given, cargo is not run.
#   Relative paths are taken from the repository root (the script cds there).
set -euo pipefail

KOSOKU_VERSION=0.1.0
DEFAULT_SECTIONS='1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.* 12.* 13.*'

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECTIONS=${AUTOBAHN_SECTIONS:-$DEFAULT_SECTIONS}
EXCLUDE=${AUTOBAHN_EXCLUDE:-}
OUT=${AUTOBAHN_OUT:-target/autobahn}
VENV=${AUTOBAHN_VENV:-target/autobahn-venv}
PYTHON=${AUTOBAHN_PYTHON:-python3}
AGENT=${AUTOBAHN_AGENT:-zerows}
PAR_SYNC=${AUTOBAHN_PARALLEL_SERVER_SYNC:-1}
PAR_TOKIO=${AUTOBAHN_PARALLEL_SERVER_TOKIO:-2}
PAR_POLL=${AUTOBAHN_PARALLEL_SERVER_POLL:-2}
RUN_TIMEOUT=${AUTOBAHN_TIMEOUT:-900}
STARTUP_TIMEOUT=${AUTOBAHN_STARTUP_TIMEOUT:-30}
EXAMPLES_DIR=${CARGO_TARGET_DIR:-target}/release/examples

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'autobahn.sh: %s\n' "$*" >&2; exit 2; }

usage() { sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# ---- arguments ----------------------------------------------------------------------------
RUNS=()
DOCS=
while [ $# -gt 0 ]; do
    case $1 in
        server-sync | server-tokio | server-poll | client) RUNS+=("$1") ;;
        --docs) [ $# -ge 2 ] || die "--docs needs a file"; DOCS=$2; shift ;;
        --docs=*) DOCS=${1#--docs=} ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1' (expected server-sync, server-tokio, server-poll, client, --docs FILE)" ;;
    esac
    shift
done
if [ -n "$DOCS" ]; then
    [ -f "$DOCS" ] || die "--docs: $DOCS does not exist"
    grep -q '^<!-- BEGIN GENERATED (scripts/autobahn.sh --docs) -->$' "$DOCS" \
        || die "--docs: $DOCS has no '<!-- BEGIN GENERATED (scripts/autobahn.sh --docs) -->' line"
fi
[ ${#RUNS[@]} -gt 0 ] || RUNS=(server-sync server-tokio server-poll client)

for n in "$PAR_SYNC" "$PAR_TOKIO" "$PAR_POLL" "$RUN_TIMEOUT" "$STARTUP_TIMEOUT"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$n'"
done

# ---- cleanup: stop whatever we started --------------------------------------------------------
PIDS=()
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_pid() { # stop_pid PID: TERM, then KILL after 5 s
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ---- kosoku venv ------------------------------------------------------------------------------
ensure_venv() {
    local py=$VENV/bin/python
    if [ -x "$py" ] && "$py" - "$KOSOKU_VERSION" <<'EOF' 2>/dev/null; then
import sys, importlib.metadata as m
sys.exit(0 if m.version("kosoku") == sys.argv[1] else 1)
EOF
        log "reusing $VENV (kosoku $KOSOKU_VERSION)"
        return
    fi
    if [ ! -x "$py" ]; then
        log "creating venv $VENV"
        command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set AUTOBAHN_PYTHON)"
        "$PYTHON" -m venv "$VENV" || die "could not create venv $VENV (Debian: apt-get install python3-venv)"
    fi
    log "installing kosoku==$KOSOKU_VERSION into $VENV"
    "$py" -m pip install --disable-pip-version-check --no-input -q "kosoku==$KOSOKU_VERSION"
}

# ---- selection: drop patterns that match no case; list the expected case ids -----------------
# kosoku matches whole case ids and knows only the `*` wildcard (`?`, `[..]` match nothing).
INCLUDE_ARGS=()
EXCLUDE_ARGS=()
EXPECTED_FILE=
resolve_selection() {
    local kept
    EXPECTED_FILE=$OUT/expected-cases.txt
    mkdir -p "$OUT"
    kept=$("$VENV/bin/python" - "$EXPECTED_FILE" "$SECTIONS" "$EXCLUDE" <<'EOF'
import re, sys
from kosoku.cases import CASES

out, includes, excludes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()

def rx(pat):
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pat) + r"\Z")

kept = []
for pat in includes:
    if any(rx(pat).match(c) for c in CASES):
        kept.append(pat)
    else:
        print(f"note: no Autobahn case matches {pat!r}; left out", file=sys.stderr)
if not kept:
    sys.exit("error: AUTOBAHN_SECTIONS selects no case")
sel = [c for c in CASES if any(rx(p).match(c) for p in kept) and not any(rx(p).match(c) for p in excludes)]
if not sel:
    sys.exit("error: every selected case is excluded by AUTOBAHN_EXCLUDE")
with open(out, "w") as f:
    f.write("".join(c + "\n" for c in sel))
print(f"{len(sel)} cases selected", file=sys.stderr)
print("\n".join(kept))
EOF
    ) || die "bad case selection"
    INCLUDE_ARGS=()
    local p
    while IFS= read -r p; do
        [ -n "$p" ] && INCLUDE_ARGS+=(-i "$p")
    done <<<"$kept"
    EXCLUDE_ARGS=()
    local -a ex
    read -r -a ex <<<"$EXCLUDE" || true
    for p in "${ex[@]}"; do EXCLUDE_ARGS+=(-x "$p"); done
}

# ---- ports --------------------------------------------------------------------------------------
free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # wait_port PORT PID WHAT LOG
    local port=$1 pid=$2 what=$3 logf=$4 deadline=$((SECONDS + STARTUP_TIMEOUT))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$what exited before listening on $port; its log:"
            tail -n 30 "$logf" >&2 || true
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            log "$what not listening on 127.0.0.1:$port after ${STARTUP_TIMEOUT}s; its log:"
            tail -n 30 "$logf" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

# start_bg LOG CMD... : start CMD in the background (PID in BG_PID), stdout+stderr to LOG
BG_PID=
start_bg() {
    local logf=$1
    shift
    "$@" >"$logf" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# run_wait LOG CMD... : run CMD in the background and wait for it, so that a signal
# to this script is handled at once (bash defers traps while a foreground child runs)
run_wait() {
    start_bg "$@"
    wait "$BG_PID"
}

# ---- build --------------------------------------------------------------------------------------
SERVER_SYNC_CMD=${ZEROWS_SERVER_SYNC_CMD:-}
SERVER_TOKIO_CMD=${ZEROWS_SERVER_TOKIO_CMD:-}
SERVER_POLL_CMD=${ZEROWS_SERVER_POLL_CMD:-}
CLIENT_CMD=${ZEROWS_CLIENT_CMD:-}
need_build=false
for run in "${RUNS[@]}"; do
    case $run in
        server-sync) [ -n "$SERVER_SYNC_CMD" ] || { SERVER_SYNC_CMD=$EXAMPLES_DIR/echo_server; need_build=true; } ;;
        server-tokio) [ -n "$SERVER_TOKIO_CMD" ] || { SERVER_TOKIO_CMD=$EXAMPLES_DIR/echo_server_tokio; need_build=true; } ;;
        server-poll) [ -n "$SERVER_POLL_CMD" ] || { SERVER_POLL_CMD="$EXAMPLES_DIR/echo_server_poll --threads 2"; need_build=true; } ;;
        client) [ -n "$CLIENT_CMD" ] || { CLIENT_CMD=$EXAMPLES_DIR/autobahn_client; need_build=true; } ;;
    esac
done
if $need_build && [ "${AUTOBAHN_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p zerows --examples --features tokio,tls,poll"
    cargo build --release -p zerows --examples --features tokio,tls,poll
fi

# The source the runs test: recorded before they start (commits made meanwhile do not count).
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    tree="commit \`$commit\` **with uncommitted changes to crates/** (not reproducible from the commit)"
else
    tree="commit \`$commit\`"
fi
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
machine="${cpu:-unknown CPU}, $(nproc) CPUs, Linux $(uname -r); $(rustc --version 2>/dev/null || echo 'rustc ?')"
ensure_venv
KOSOKU=$VENV/bin/kosoku
[ -x "$KOSOKU" ] || die "$KOSOKU missing"
resolve_selection
SELECTION=${INCLUDE_ARGS[*]}
SELECTION=${SELECTION//-i /}
log "kosoku $KOSOKU_VERSION; cases: $SELECTION${EXCLUDE:+; excluding $EXCLUDE}"

# ---- one run ------------------------------------------------------------------------------------
summarize() { # summarize RUN TITLE: judge $OUT/RUN/index.json; returns the summary's status
    local run=$1 title=$2 dir=$OUT/$1 rc=0
    "$VENV/bin/python" scripts/autobahn_summary.py "$dir/index.json" --expect-file "$EXPECTED_FILE" \
        --title "$title" --markdown "$dir/summary.md" >"$dir/summary.txt" 2>&1 || rc=$?
    cat "$dir/summary.txt"
    return $rc
}

# fuzzingclient: kosoku drives our server
run_server() { # run_server RUN TITLE PARALLELISM CMD
    local run=$1 title=$2 par=$3 cmd=$4 dir=$OUT/$1 port pid krc=0 rc=0
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    log "[$run] starting: $cmd --addr 127.0.0.1:$port"
    # shellcheck disable=SC2086  # the command is a command line on purpose
    start_bg "$dir/server.log" bash -c 'exec '"$cmd"' "$@"' server --addr "127.0.0.1:$port"
    pid=$BG_PID
    wait_port "$port" "$pid" "server" "$dir/server.log" || { stop_pid "$pid"; return 1; }
    log "[$run] kosoku -m fuzzingclient 127.0.0.1:$port -p $par"
    echo kosoku -m fuzzingclient 127.0.0.1:PORT "${INCLUDE_ARGS[@]}" "${EXCLUDE_ARGS[@]}" -p "$par" >"$dir/command.txt"
    local t0=$SECONDS
    run_wait "$dir/kosoku.log" timeout -k 10 "$RUN_TIMEOUT" "$KOSOKU" -m fuzzingclient "127.0.0.1:$port" \
        "${INCLUDE_ARGS[@]}" "${EXCLUDE_ARGS[@]}" -p "$par" -o "$dir" || krc=$?
    echo $((SECONDS - t0)) >"$dir/seconds.txt"
    log "[$run] kosoku exited $krc after $((SECONDS - t0))s"
    if [ $krc -eq 124 ] || [ $krc -eq 137 ]; then log "[$run] kosoku timed out after ${RUN_TIMEOUT}s"; fi
    if ! kill -0 "$pid" 2>/dev/null; then
        log "[$run] the server died during the run; its log:"
        tail -n 30 "$dir/server.log" >&2 || true
        rc=1
    fi
    stop_pid "$pid"
    if [ ! -f "$dir/index.json" ]; then
        log "[$run] kosoku wrote no report; its log:"
        tail -n 30 "$dir/kosoku.log" >&2 || true
        return 1
    fi
    summarize "$run" "$title" || rc=1
    return $rc
}

# fuzzingserver: our client drives kosoku
run_client() { # run_client RUN TITLE CMD
    local run=$1 title=$2 cmd=$3 dir=$OUT/$1 port kpid krc=0 crc=0 rc=0
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    log "[$run] kosoku -m fuzzingserver 127.0.0.1:$port"
    echo kosoku -m fuzzingserver 127.0.0.1:PORT "${INCLUDE_ARGS[@]}" "${EXCLUDE_ARGS[@]}" >"$dir/command.txt"
    local t0=$SECONDS
    start_bg "$dir/kosoku.log" timeout -k 10 "$RUN_TIMEOUT" "$KOSOKU" -m fuzzingserver "127.0.0.1:$port" \
        "${INCLUDE_ARGS[@]}" "${EXCLUDE_ARGS[@]}" -o "$dir"
    kpid=$BG_PID
    wait_port "$port" "$kpid" "kosoku fuzzingserver" "$dir/kosoku.log" || { stop_pid "$kpid"; return 1; }
    log "[$run] starting: $cmd --url ws://127.0.0.1:$port --agent $AGENT"
    # shellcheck disable=SC2086
    run_wait "$dir/client.log" timeout -k 10 "$RUN_TIMEOUT" bash -c 'exec '"$cmd"' "$@"' client \
        --url "ws://127.0.0.1:$port" --agent "$AGENT" || crc=$?
    log "[$run] client exited $crc after $((SECONDS - t0))s"
    if [ $crc -ne 0 ]; then
        log "[$run] client failed; its log:"
        tail -n 30 "$dir/client.log" >&2 || true
        rc=1
    fi
    # kosoku ends (and writes its report) once the client has asked for /updateReports.
    for _ in $(seq 100); do
        kill -0 "$kpid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$kpid" 2>/dev/null; then
        log "[$run] kosoku still running 10s after the client exited: the client never requested /updateReports?agent=$AGENT"
        stop_pid "$kpid"
        return 1
    fi
    wait "$kpid" || krc=$?
    echo $((SECONDS - t0)) >"$dir/seconds.txt"
    log "[$run] kosoku exited $krc after $((SECONDS - t0))s"
    if [ ! -f "$dir/index.json" ]; then
        log "[$run] kosoku wrote no report; its log:"
        tail -n 30 "$dir/kosoku.log" >&2 || true
        return 1
    fi
    summarize "$run" "$title" || rc=1
    return $rc
}

# ---- the runs -----------------------------------------------------------------------------------
declare -A RESULT
overall=0
for run in "${RUNS[@]}"; do
    rc=0
    case $run in
        server-sync) run_server "$run" "Server, sync (echo_server)" "$PAR_SYNC" "$SERVER_SYNC_CMD" || rc=$? ;;
        server-tokio) run_server "$run" "Server, tokio (echo_server_tokio)" "$PAR_TOKIO" "$SERVER_TOKIO_CMD" || rc=$? ;;
        server-poll) run_server "$run" "Server, mio readiness loops (echo_server_poll)" "$PAR_POLL" "$SERVER_POLL_CMD" || rc=$? ;;
        client) run_client "$run" "Client (autobahn_client)" "$CLIENT_CMD" || rc=$? ;;
    esac
    if [ $rc -eq 0 ]; then RESULT[$run]=PASS; else RESULT[$run]=FAIL; overall=1; fi
done

# ---- all runs together --------------------------------------------------------------------------
{
    printf '## Autobahn TestSuite results\n\n'
    printf 'kosoku %s, %s, cases: `%s`%s.\n\n' "$KOSOKU_VERSION" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
        "$SELECTION" "${EXCLUDE:+, excluding \`$EXCLUDE\`}"
    printf 'Source: %s. Machine: %s.\n\n' "$tree" "$machine"
    printf 'Produced by `scripts/autobahn.sh %s`.\n\n' "${RUNS[*]}"
    for run in "${RUNS[@]}"; do
        if [ -f "$OUT/$run/summary.md" ]; then
            cat "$OUT/$run/summary.md"
            printf 'Command: `%s` (%ss).\n\n' "$(cat "$OUT/$run/command.txt")" "$(cat "$OUT/$run/seconds.txt" 2>/dev/null || echo '?')"
        else
            printf '### %s\n\nno report (run failed before kosoku wrote one).\n\n' "$run"
        fi
    done
} >"$OUT/summary.md"

if [ -n "$DOCS" ]; then
    # The block between the markers is replaced by the summary, demoted one heading level.
    "$VENV/bin/python" - "$DOCS" "$OUT/summary.md" <<'EOF'
import sys
docs, summary = sys.argv[1], sys.argv[2]
begin = "<!-- BEGIN GENERATED (scripts/autobahn.sh --docs) -->"
end = "<!-- END GENERATED -->"
text = open(docs).read()
pre, rest = text.split(begin + "\n", 1)
_, post = rest.split(end, 1)
body = open(summary).read().strip() + "\n"
body = "\n".join(("#" + l) if l.startswith("#") else l for l in body.splitlines()) + "\n"
open(docs, "w").write(pre + begin + "\n\n" + body + "\n" + end + post)
EOF
    log "wrote the results into $DOCS"
fi

printf '\nAutobahn conformance (%s%s):\n' "$SELECTION" "${EXCLUDE:+; excluding $EXCLUDE}"
for run in "${RUNS[@]}"; do
    printf '  %-13s %s  (%s)\n' "$run" "${RESULT[$run]}" "$OUT/$run/"
done
printf '  markdown: %s\n' "$OUT/summary.md"
exit $overall
