#!/usr/bin/env bash
# The whole zerows-vs-peers comparison, one command:
#   bash benches/run.sh            full run (~25 min on 2 vCPUs, after the build), prints the markdown tables
#   bash benches/run.sh --smoke    CI smoke: first the harness test (benches/test_harness.py: every
#                                  failure fails the run; docs/benchmarks.md matches benches/results/),
#                                  then every bench, server and phase with tiny durations
# Extra arguments go to benches/run.py (e.g. --only echo,report, --no-build; --only tls,report
# --publish measures and publishes the TLS group alone).
# Results: ${CARGO_TARGET_DIR:-target}/zerows-bench-results/ (report.md, echo.svg, *.jsonl).
# Exits non-zero if anything in the run failed (run.py lists every failure at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
  if [ "$arg" = "--smoke" ]; then
    python3 benches/test_harness.py
    break
  fi
done
if [ "$(nproc)" -lt 2 ]; then
  echo "run.sh: fewer than 2 CPUs; server and load generator will share a core" >&2
fi
command -v taskset >/dev/null || echo "run.sh: taskset not found; running unpinned" >&2
exec python3 benches/run.py "$@"
