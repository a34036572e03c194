#!/usr/bin/env python3
"""Broadcast: one 64-byte message to N connections, deliveries per second (issue 17).

Two shipped examples, the same harness: `broadcast_poll` (zerows-poll: one event loop, each
message one PreparedMessage queued on every connection by reference) and `broadcast`
(zerows-tokio: a task per connection fed by a tokio broadcast channel of PreparedMessage), both
with --no-deflate (the load generator offers no extension anyway). The server runs pinned to
CPU 0, the load generator (`fanout`) to CPU 1. For each run: the server starts, `fanout` opens N
upgraded connections and prints READY, the clock starts when `fanout` is told to go, and the
harness writes K lines of S bytes to the server's stdin (each line is one broadcast); `fanout`
checks every byte and stops the clock when every connection has all K messages.

Usage: python3 benches/broadcast.py [--smoke] [--conns N] [--messages K] [--size S] [--reps R]
       [--no-build]
Prints one JSON line per run and a markdown table (medians, ratio zerows-poll ÷ zerows-tokio).
Exits 1 if any run failed.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
REL = TARGET / "release"
SERVERS = {
    "zerows-poll": [str(REL / "examples" / "broadcast_poll"), "--threads", "1", "--no-deflate"],
    "zerows-tokio": [str(REL / "examples" / "broadcast"), "--no-deflate"],
}


def pinned(cpu, cmd):
    return (["taskset", "-c", str(cpu)] + cmd) if shutil.which("taskset") else cmd


def run_once(name, a):
    srv = subprocess.Popen(pinned(0, SERVERS[name] + ["--addr", "127.0.0.1:0"]),
                           stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    gen = None
    try:
        addr = None
        t_end = time.time() + 30
        while addr is None:
            line = srv.stderr.readline()
            if not line:
                raise RuntimeError(f"{name} exited before listening")
            m = re.search(r"ws://(127\.0\.0\.1:\d+)", line)
            if m:
                addr = m.group(1)
            if time.time() > t_end:
                raise RuntimeError(f"{name} did not listen within 30 s")
        gen = subprocess.Popen(
            pinned(1, [str(REL / "fanout"), "--addr", addr, "--conns", str(a.conns),
                       "--messages", str(a.messages), "--size", str(a.size)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = gen.stdout.readline()
        if not ready.startswith("READY"):
            raise RuntimeError(f"fanout against {name}: {ready!r} (exit {gen.wait(10)})")
        time.sleep(0.5)  # every member registered
        gen.stdin.write("go\n")
        gen.stdin.flush()
        line = ("m" * a.size) + "\n"
        srv.stdin.write(line * a.messages)
        srv.stdin.flush()
        out = gen.stdout.readline()
        code = gen.wait(timeout=90)
        if code != 0 or not out:
            raise RuntimeError(f"fanout against {name} exited with {code}")
        rec = json.loads(out)
        rec["server"] = name
        return rec
    finally:
        for p in (gen, srv):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.conns, a.messages, a.reps = 300, 5, 1
    if not a.no_build:
        for cmd in (["cargo", "build", "--profile", "bench", "-p", "zerows-benches", "--bin",
                     "fanout"],
                    ["cargo", "build", "--release", "-p", "zerows", "--features", "tokio,tls,poll",
                     "--example", "broadcast", "--example", "broadcast_poll"]):
            if subprocess.run(cmd, cwd=ROOT).returncode != 0:
                sys.exit(f"broadcast.py: {' '.join(cmd)} failed")
    results, failed = {n: [] for n in SERVERS}, []
    for rep in range(a.reps):
        for name in SERVERS:  # interleaved
            try:
                rec = run_once(name, a)
                print(json.dumps(rec), flush=True)
                results[name].append(rec["deliveries_per_s"])
            except Exception as e:  # noqa: BLE001 - recorded, the run goes on
                failed.append(f"{name} rep {rep}: {e}")
                print(f"broadcast.py: {failed[-1]}", file=sys.stderr)
            time.sleep(1)
    print()
    print(f"{a.size}-byte messages, {a.messages} broadcasts to {a.conns:,} connections "
          f"(median of {a.reps}):")
    print()
    print("| server | deliveries/s | min – max |")
    print("|---|---|---|")
    med = {}
    for name, xs in results.items():
        if xs:
            med[name] = statistics.median(xs)
            print(f"| {name} | {med[name]:,.0f} | {min(xs):,.0f} – {max(xs):,.0f} |")
    if len(med) == 2:
        print(f"\nzerows-poll ÷ zerows-tokio: {med['zerows-poll'] / med['zerows-tokio']:.2f}×")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
