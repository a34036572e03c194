#!/usr/bin/env python3
"""chat_cluster under load (issue 18): deliveries per second and publish → deliver latency with
1, 2 and 4 processes joined by Redis, against one process without Redis.

The load: `chat_load` opens --members members (default 2,500 in all, whatever the number of
processes) in --rooms rooms (default 50, so 50 members a room), member i in room-(i % rooms);
each member sends one text a second (the members spread evenly over the second), so 2,500
messages/s and 125,000 deliveries/s are expected in every configuration. Configurations:

- `local`: one `chat_cluster` process without --redis;
- `redis` × P (P in --procs, default 1,2,4): P processes on one port (SO_REUSEPORT: the kernel
  spreads the members over them), all with --redis to one redis-server started here (on a free
  loopback port, no persistence; stopped at the end).

Each run: the servers start (each must print its `listening` line within 30 s), chat_load opens
and syncs the members (every member hears every member of its room once), sends for --warmup
then --duration seconds and drains. The servers' and redis-server's CPU time (utime + stime from
/proc/PID/stat) are sampled when chat_load prints `PHASE measure` and `PHASE end`, so they cover
the measured window and the drain, as chat_load's own CPU time does; the servers' RSS (VmRSS,
and the peak VmHWM) at the end. The servers and redis-server run pinned to CPU 0 and chat_load
to CPU 1 (taskset, when there are 2 CPUs or more; --no-pin to let the kernel place them).

Usage: python3 benches/chat_cluster.py [--smoke] [--members M] [--rooms R] [--duration D]
       [--warmup W] [--procs 1,2,4] [--reps N] [--no-local] [--no-build] [--no-pin] [--json PATH]

--smoke: 100 members, 10 rooms, 2 s (1 s warm-up), `local` and redis × 1 and 2, one run each;
every measured message must reach every member of its room, in order (CI).
Writes every run and the medians to --json (default benches/scale-results/chat_cluster.json, not
written by --smoke unless given) and prints a markdown table of medians. Exits 1 if a run failed
or, with --smoke, if a delivery was missing or out of order. Every child process is killed on
any exit.
"""

import argparse
import json
import os
import queue
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
REL = TARGET / "release"  # `--release` and `--profile bench` both build here
SERVER = REL / "chat_cluster"
LOADGEN = REL / "chat_load"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
TICK = os.sysconf("SC_CLK_TCK")
CHILDREN = []


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pinned(cpu, cmd, pin):
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)] + cmd
    return cmd


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, text=True, **kw)
    CHILDREN.append(p)
    return p


def kill_all():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
    for p in CHILDREN:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"process {p.pid} did not exit after SIGKILL")
    CHILDREN.clear()


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


class Lines:
    """A child's pipe read by a thread, so a caller can wait for a line with a timeout."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.last = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe):
        for line in pipe:
            self.last = (self.last + [line.rstrip()])[-5:]
            self.q.put(line)
        self.q.put("")  # end of stream

    def get(self, timeout):
        try:
            return self.q.get(timeout=max(timeout, 0))
        except queue.Empty:
            raise TimeoutError(f"no output for {timeout:g} s") from None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def mem_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def start_redis(pin):
    port = free_port()
    p = spawn(pinned(0, [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no"], pin),
              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out = Lines(p.stdout)
    deadline = time.monotonic() + 15
    while True:
        if time.monotonic() > deadline:
            raise Failure("redis-server did not get ready in 15 s: " + " | ".join(out.last))
        try:
            line = out.get(0.2)
        except TimeoutError:
            continue
        if line == "":
            raise Failure("redis-server exited: " + " | ".join(out.last))
        if "Ready to accept connections" in line:
            return p, f"redis://127.0.0.1:{port}"


def start_servers(n, port, redis_url, pin):
    servers = []
    for i in range(n):
        cmd = [str(SERVER), "--addr", f"127.0.0.1:{port}", "--reuseport"]
        if redis_url:
            cmd += ["--redis", redis_url]
        p = spawn(pinned(0, cmd, pin), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                  stdin=subprocess.DEVNULL)
        err = Lines(p.stderr)
        deadline = time.monotonic() + 30
        while True:
            if time.monotonic() > deadline:
                raise Failure(f"server {i + 1} of {n} did not print `listening` in 30 s: "
                              + " | ".join(err.last))
            try:
                line = err.get(0.2)
            except TimeoutError:
                continue
            if line == "":
                p.wait(5)
                raise Failure(f"server {i + 1} of {n} exited with {p.returncode}: "
                              + " | ".join(err.last))
            if "listening on" in line:
                break
        servers.append((p, err))
    return servers


def run_once(label, n, redis, a):
    """One configuration: n servers (with Redis when `redis` is a (process, url) pair)."""
    port = free_port()
    redis_p, url = redis if redis else (None, None)
    servers = start_servers(n, port, url, a.pin)
    gen = None
    try:
        pids = [p.pid for p, _ in servers]
        cmd = [str(LOADGEN), "--addr", f"127.0.0.1:{port}", "--members", str(a.members),
               "--rooms", str(a.rooms), "--duration", str(a.duration), "--warmup", str(a.warmup)]
        gen = spawn(pinned(1, cmd, a.pin), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL)
        out, err = Lines(gen.stdout), Lines(gen.stderr)
        limit = time.monotonic() + a.warmup + a.duration + 180
        samples, rec = {}, None
        while rec is None:
            try:
                line = out.get(limit - time.monotonic())
            except TimeoutError:
                raise Failure(f"{label}: chat_load gave no result in time") from None
            if line == "":
                gen.wait(10)
                raise Failure(f"{label}: chat_load exited with {gen.returncode}: "
                              + " | ".join(err.last))
            if line.startswith("PHASE"):
                phase = line.split()[1]
                samples[phase] = ([cpu_s(pid) for pid in pids],
                                  cpu_s(redis_p.pid) if redis_p else 0.0)
            elif line.startswith("{"):
                rec = json.loads(line)
        gen.wait(30)
        if gen.returncode != 0:
            raise Failure(f"{label}: chat_load exited with {gen.returncode}")
        if set(samples) != {"measure", "end"}:
            raise Failure(f"{label}: chat_load printed no PHASE lines")
        (s0, r0), (s1, r1) = samples["measure"], samples["end"]
        mem = [mem_kib(pid) for pid in pids]
        for (p, e) in servers:
            if p.poll() is not None:
                raise Failure(f"{label}: a server exited: " + " | ".join(e.last))
        rec.update({
            "config": label,
            "processes": n,
            "redis": bool(redis),
            "server_cpu_s": round(sum(s1) - sum(s0), 3),
            "server_cpu_s_each": [round(b - c, 3) for b, c in zip(s1, s0)],
            "redis_cpu_s": round(r1 - r0, 3),
            "server_rss_kib": [m[0] for m in mem],
            "server_hwm_kib": [m[1] for m in mem],
            "loadavg_before": os.getloadavg(),
        })
        return rec
    finally:
        stop([gen] if gen else [])
        stop([p for p, _ in servers])


def median_row(recs):
    keys = ["delivered", "expected", "deliveries_per_s", "p50_us", "p99_us", "max_us",
            "server_cpu_s", "redis_cpu_s", "loadgen_cpu_s", "sent"]
    return {k: statistics.median(r[k] for r in recs) for k in keys}


def table(results, a):
    lines = [
        f"{a.members:,} members in {a.rooms} rooms, 1 message per member per second, "
        f"{a.duration:g} s measured after {a.warmup:g} s warm-up (median of {a.reps}; CPU "
        "seconds over the measured window and the drain):",
        "",
        "| config | processes | delivered/s (expected) | p50 | p99 | server CPU s | "
        "redis CPU s | loadgen CPU s | server µs/msg | redis µs/msg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, recs in results.items():
        if not recs:
            continue
        m = median_row(recs)
        exp_rate = m["expected"] / a.duration
        sent = max(m["sent"], 1)
        lines.append(
            f"| {recs[0]['config'].split(' ')[0]} | {recs[0]['processes']} | "
            f"{m['deliveries_per_s']:,.0f} ({exp_rate:,.0f}) | "
            f"{m['p50_us'] / 1000:.2f} ms | {m['p99_us'] / 1000:.2f} ms | "
            f"{m['server_cpu_s']:.2f} | {m['redis_cpu_s']:.2f} | {m['loadgen_cpu_s']:.2f} | "
            f"{m['server_cpu_s'] * 1e6 / sent:.0f} | {m['redis_cpu_s'] * 1e6 / sent:.0f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--members", type=int, default=2500)
    ap.add_argument("--rooms", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-local", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.smoke:
        a.members, a.rooms, a.duration, a.warmup, a.procs, a.reps = 100, 10, 2, 1, "1,2", 1
    if a.json is None and not a.smoke:
        a.json = str(ROOT / "benches" / "scale-results" / "chat_cluster.json")
    procs = [int(x) for x in a.procs.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the children
    if not a.no_build:
        for cmd in (["cargo", "build", "--release", "-p", "chat-cluster"],
                    ["cargo", "build", "--profile", "bench", "-p", "zerows-benches", "--bin",
                     "chat_load"]):
            log(" ".join(cmd))
            if subprocess.run(cmd, cwd=ROOT).returncode != 0:
                sys.exit(f"chat_cluster.py: {' '.join(cmd)} failed")
    for b in (SERVER, LOADGEN):
        if not b.exists():
            sys.exit(f"chat_cluster.py: {b} does not exist (build it, or drop --no-build)")
    if not Path(REDIS).exists():
        sys.exit(f"chat_cluster.py: {REDIS} not found (apt-get install redis-server)")

    configs = ([] if a.no_local else [("local", 1, False)]) + \
        [(f"redis ×{n}", n, True) for n in procs]
    results = {label: [] for label, _, _ in configs}
    failed, bad = [], []
    redis = None
    try:
        redis = start_redis(a.pin)
        log(f"redis-server pid {redis[0].pid} at {redis[1]}")
        for rep in range(a.reps):
            for label, n, use_redis in configs:  # interleaved
                log(f"{label}, run {rep + 1} of {a.reps}")
                try:
                    rec = run_once(label, n, redis if use_redis else None, a)
                except Failure as e:
                    failed.append(str(e))
                    log(f"failed: {e}")
                    continue
                print(json.dumps(rec, ensure_ascii=False), flush=True)
                results[label].append(rec)
                if (rec["delivered"] != rec["expected"] or rec["order_violations"]
                        or rec["errors"]):
                    bad.append(f"{label} run {rep + 1}: delivered {rec['delivered']} of "
                               f"{rec['expected']}, {rec['order_violations']} out of order, "
                               f"{rec['errors']} errors ({rec['first_error']})")
                    log(bad[-1])
                time.sleep(1)
    finally:
        kill_all()
    print()
    print(table(results, a))
    if a.json:
        doc = {
            "members": a.members, "rooms": a.rooms, "duration": a.duration,
            "warmup": a.warmup, "reps": a.reps, "pinned": a.pin,
            "nproc": os.cpu_count(),
            "medians": {label: median_row(recs) for label, recs in results.items() if recs},
            "runs": [r for recs in results.values() for r in recs],
            "failed": failed, "incomplete": bad,
        }
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        log(f"wrote {a.json}")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)
    if a.smoke and bad:
        print("smoke: " + "; ".join(bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
