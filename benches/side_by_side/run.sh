#!/usr/bin/env bash
# Side by side (docs/async.md): the same tasks in zerows, tokio-tungstenite and axum's built-in
# WebSocket. Builds every program of benches/side_by_side/ registered in benches/Cargo.toml
# (`sbs_*` examples), runs each (they check their own replies and exit non-zero on any failure),
# counts their lines and prints the tables.
#   bash benches/side_by_side/run.sh           release build, 10,000 messages per size
#   bash benches/side_by_side/run.sh --write   the same, and replaces the tables in docs/async.md
#   bash benches/side_by_side/run.sh --smoke   CI: debug build, 200 messages; every program runs
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=(--release)
dir=release
write=()
command="bash benches/side_by_side/run.sh"
for arg in "$@"; do
  case "$arg" in
    --smoke) profile=(); dir=debug; export SIDE_BY_SIDE_MESSAGES="${SIDE_BY_SIDE_MESSAGES:-200}" ;;
    --write) write=(--write) ;;
    *) echo "usage: run.sh [--smoke] [--write]" >&2; exit 2 ;;
  esac
done
mapfile -t programs < <(sed -n 's/^name = "sbs_\(.*\)"$/\1/p' benches/Cargo.toml)
examples=()
for p in "${programs[@]}"; do examples+=(--example "sbs_$p"); done
cargo build "${profile[@]}" -p zerows-benches "${examples[@]}"
target="${CARGO_TARGET_DIR:-target}"
out="$target/side-by-side.jsonl"
: > "$out"
for p in "${programs[@]}"; do
  echo "side_by_side: $p" >&2
  timeout 300 "$target/$dir/examples/sbs_$p" >> "$out"
done
python3 benches/side_by_side/table.py "$out" --command "$command $*" "${write[@]}"
