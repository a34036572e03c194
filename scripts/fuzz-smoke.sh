#!/usr/bin/env bash
# Fuzz smoke test: build every cargo-fuzz target in fuzz/ and run each for a short time.
#
#   bash scripts/fuzz-smoke.sh                 # every target, 20 s each
#   FUZZ_SECONDS=60 bash scripts/fuzz-smoke.sh frame_mask frame_close_parse
#
# - Targets come from `cargo fuzz list`, so a new [[bin]] in fuzz/Cargo.toml is picked up.
# - Each target starts from a copy of its committed seeds (fuzz/corpus/<target>/) plus any
#   reproducers saved as fuzz/regressions/<target>-*.bin, in a temporary directory: CI never grows
#   the committed corpus, and a reproducer that still crashes fails the run at once.
# - libFuzzer limits: -rss_limit_mb=2048 -malloc_limit_mb=512 (no unbounded allocation) and
#   -timeout=10 (no input may hang).
# - Runs the oracles' unit tests first (`cargo test` in fuzz/).
# - Exits non-zero if any target fails to build or crashes; crash inputs are left in
#   fuzz/artifacts/<target>/ (git-ignored) and printed as hex.
#
# Toolchain: cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address, sanitizer coverage).
# We run the default stable toolchain with RUSTC_BOOTSTRAP=1 rather than `cargo +nightly`: the
# ASan runtime ships with stable's rust-std, so this works with the toolchain every machine
# already has, whereas a nightly toolchain is not guaranteed to be installed and a fresh machine
# cannot download one. Set FUZZ_TOOLCHAIN=nightly to use `cargo +nightly` instead where it exists.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-20}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [[ ${FUZZ_TOOLCHAIN:-} == nightly ]]; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
fi
if ((${#targets[@]} == 0)); then
    echo "fuzz-smoke: no fuzz targets found" >&2
    exit 1
fi

# The oracles' own tests (fuzz/tests/oracles.rs): the naive models agree with the RFCs' examples
# and each check can fail. A plain build, no sanitizer.
echo "fuzz-smoke: the oracles' tests (cargo test in fuzz/)" >&2
(cd fuzz && cargo test --quiet)

echo "fuzz-smoke: building every target" >&2
"${fuzz[@]}" build --fuzz-dir fuzz

work=$(mktemp -d "${TMPDIR:-/tmp}/zerows-fuzz-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus=$work/corpus/$t
    mkdir -p "$corpus" "$root/fuzz/artifacts/$t"
    if [[ -d fuzz/corpus/$t ]]; then
        cp -R "fuzz/corpus/$t/." "$corpus/"
    fi
    for r in fuzz/regressions/"$t"-*.bin; do
        [[ -e $r ]] && cp "$r" "$corpus/"
    done
    log=$work/$t.log
    echo "fuzz-smoke: $t for ${seconds}s ($(find "$corpus" -type f | wc -l) seeds)" >&2
    status=0
    "${fuzz[@]}" run --fuzz-dir fuzz "$t" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$root/fuzz/artifacts/$t/" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    if ((status != 0)); then
        failed+=("$t")
        summary+=("$t: FAILED (exit $status)")
        echo "fuzz-smoke: $t FAILED; last lines of its log:" >&2
        tail -n 60 "$log" >&2
        for a in "$root/fuzz/artifacts/$t"/*; do
            [[ -f $a ]] || continue
            echo "fuzz-smoke: reproducer $a:" >&2
            od -An -tx1 -v "$a" | head -n 20 >&2
        done
    else
        summary+=("$t: ok, ${execs:-?} execs, ${rate:-?} exec/s, ${cov:-cov: ?}")
    fi
done

echo "fuzz-smoke summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "fuzz-smoke: crashes in: ${failed[*]}" >&2
    exit 1
fi
