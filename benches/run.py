#!/usr/bin/env python3
"""The whole zerows-vs-peers comparison in one run (standard library only).

Phases, in order (``--only`` picks some):
  criterion  in-process microbenchmarks (benches/benches/*.rs), same profile for every stack
  alloc      allocations per message (in-memory echo under a counting allocator)
  echo       loopback echo matrix: sizes x connections x messages in flight, servers interleaved
  handshake  connect -> upgrade -> close cycles per second
  memory     RSS per idle connection at 10,000 connections, after the handshake and after a
             64 KiB echo
  report     benches/report.py: markdown tables with computed ratios and an SVG plot

Servers run pinned to CPU 0 and the load generator to CPU 1 (taskset), loopback only.
Results go to $CARGO_TARGET_DIR/zerows-bench-results/*.jsonl (default target/).

Usage: python3 benches/run.py [--smoke] [--only echo,memory] [--no-build]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
BIN = TARGET / "release"  # `--profile bench` builds land here
OUT = TARGET / "zerows-bench-results"

ECHO_SERVERS = ["raw", "zerows-sync", "zerows-tokio", "tokio-tungstenite", "fastwebsockets",
                "tokio-websockets"]
MEMORY_SERVERS = ["bare", "zerows-tokio", "zerows-tokio-boxaccept", "zerows-tokio-nopool",
                  "zerows-sync",
                  "tokio-tungstenite", "fastwebsockets", "tokio-websockets"]
HANDSHAKE_SERVERS = ["raw", "zerows-sync", "zerows-tokio", "tokio-tungstenite",
                     "fastwebsockets", "tokio-websockets"]

FULL = dict(
    sizes=[16, 1024, 65536], conns=[10, 100, 1000], inflight=[1, 16], reps=3,
    secs=1.5, warmup=0.4, hs_secs=1.0, hs_reps=3, mem_conns=10000, alloc_n=100000,
    criterion=["--warm-up-time", "0.5", "--measurement-time", "1.5", "--nresamples", "10000",
               "--noplot"],
)
SMOKE = dict(
    sizes=[16, 65536], conns=[10], inflight=[1, 16], reps=1,
    secs=0.2, warmup=0.1, hs_secs=0.2, hs_reps=1, mem_conns=200, alloc_n=2000,
    criterion=["--warm-up-time", "0.01", "--measurement-time", "0.02", "--sample-size", "10",
               "--nresamples", "1000", "--noplot"],
)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pinned(core, cmd):
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)] + cmd
    return cmd


def cargo(args):
    log("cargo " + " ".join(args))
    subprocess.run(["cargo"] + args, cwd=ROOT, check=True)


def append(name, rec):
    with open(OUT / f"{name}.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")


class Server:
    """An echo_server process pinned to CPU 0; `addr` once it listens."""

    def __init__(self, name):
        self.name = name
        stack, extra = name, []
        if name == "zerows-tokio-nopool":
            stack, extra = "zerows-tokio", ["--no-pool"]
        elif name == "zerows-tokio-boxaccept":
            stack, extra = "zerows-tokio", ["--box-accept"]
        self.proc = subprocess.Popen(
            pinned(0, [str(BIN / "echo_server"), "--stack", stack, "--addr", "127.0.0.1:0"]
                   + extra),
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"{name}: server did not start")
        self.addr = line[1]
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def loadgen(args, timeout):
    p = subprocess.run(pinned(1, [str(BIN / "loadgen")] + args), capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout).strip()[-300:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def phase_criterion(cfg):
    cmd = ["bench", "-p", "zerows-benches", "--bench", "frame", "--bench", "messages",
           "--bench", "handshake", "--"] + cfg["criterion"]
    cargo(cmd)


def phase_alloc(cfg):
    p = subprocess.run([str(BIN / "alloc_count"), "--n", str(cfg["alloc_n"])], check=True,
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        rec = json.loads(line)
        append("alloc" if rec["mode"] == "alloc" else "alloc_handshake", rec)


def phase_echo(cfg):
    servers = {name: Server(name) for name in ECHO_SERVERS}
    try:
        cells = [(s, c, k) for s in cfg["sizes"] for c in cfg["conns"] for k in cfg["inflight"]]
        for i, (size, conns, inflight) in enumerate(cells):
            log(f"echo cell {i + 1}/{len(cells)}: {size} B x {conns} conns x {inflight} in flight")
            for rep in range(cfg["reps"]):
                for name in ECHO_SERVERS:  # interleaved: A B C A B C ...
                    srv = servers[name]
                    if not srv.alive():
                        log(f"{name} died; restarting")
                        srv = servers[name] = Server(name)
                    args = ["echo", "--addr", srv.addr, "--conns", str(conns), "--inflight",
                            str(inflight), "--size", str(size), "--secs", str(cfg["secs"]),
                            "--warmup", str(cfg["warmup"]), "--server-pid", str(srv.pid)]
                    if name == "raw":
                        args.append("--raw")
                    try:
                        rec = loadgen(args, timeout=cfg["secs"] + cfg["warmup"] + 120)
                    except subprocess.TimeoutExpired:
                        rec = {"error": "timeout"}
                    rec.update(server=name, rep=rep, size=size, conns=conns, inflight=inflight)
                    if "error" in rec:
                        log(f"  {name}: {rec['error']}")
                    append("echo", rec)
                    time.sleep(0.2)  # let the server drop the closed connections
    finally:
        for s in servers.values():
            s.stop()


def phase_handshake(cfg):
    servers = {name: Server(name) for name in HANDSHAKE_SERVERS}
    try:
        for rep in range(cfg["hs_reps"]):
            for name in HANDSHAKE_SERVERS:
                try:
                    rec = loadgen(["handshake", "--addr", servers[name].addr, "--secs",
                                   str(cfg["hs_secs"])], timeout=cfg["hs_secs"] + 60)
                except subprocess.TimeoutExpired:
                    rec = {"error": "timeout"}
                rec.update(server=name, rep=rep)
                append("handshake", rec)
                time.sleep(0.2)
    finally:
        for s in servers.values():
            s.stop()


def phase_memory(cfg):
    p = subprocess.run([str(BIN / "echo_server"), "--sizes"], check=True, capture_output=True,
                       text=True)
    with open(OUT / "sizes.jsonl", "w") as f:
        f.write(p.stdout)
    n = cfg["mem_conns"]
    for name in MEMORY_SERVERS:
        log(f"memory: {name}, {n} connections")
        srv = Server(name)
        rec = {"server": name, "conns": n}
        gen = None
        try:
            time.sleep(0.2)
            rec["rss_start_kib"] = base = srv.rss_kib()
            gen = subprocess.Popen(
                pinned(1, [str(BIN / "loadgen"), "idle", "--addr", srv.addr, "--conns", str(n)]
                       + ([] if name == "bare" else ["--echo-size", "65536"])),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = gen.stdout.readline()
            if not line.startswith("READY handshake"):
                raise RuntimeError(f"loadgen: {line.strip()} {gen.stderr.read()[-300:]}")
            time.sleep(0.5)
            rss = srv.rss_kib()
            rec["idle_rss_kib"] = rss
            rec["idle_bytes_per_conn"] = (rss - base) * 1024 / n
            gen.stdin.write("go\n")
            gen.stdin.flush()
            if name != "bare":
                line = gen.stdout.readline()
                if not line.startswith("READY echoed"):
                    raise RuntimeError(f"loadgen: {line.strip()} {gen.stderr.read()[-300:]}")
                time.sleep(0.5)
                rss = srv.rss_kib()
                rec["echoed_rss_kib"] = rss
                rec["echoed_bytes_per_conn"] = (rss - base) * 1024 / n
        except Exception as e:  # record and go on with the next server
            rec["error"] = str(e)[-300:]
            log(f"  {name}: {rec['error']}")
        finally:
            if gen is not None:
                try:
                    gen.stdin.close()
                except OSError:
                    pass
                try:
                    gen.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    gen.kill()
                    gen.wait()
            srv.stop()
        append("memory", rec)
        time.sleep(1.0)  # let the kernel reap 10k sockets


def meta(cfg, args):
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return ""
    model = ""
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mhz = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    mhz = line.split(":")[1].strip()
                    break
    except OSError:
        pass
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": model, "cpu_mhz": mhz, "cpus": os.cpu_count(),
        "kernel": sh(["uname", "-r"]), "rustc": sh(["rustc", "--version"]),
        "git": sh(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(sh(["git", "status", "--porcelain", "--", "crates", "benches"])),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "command": "bash benches/run.sh" + (" --smoke" if args.smoke else ""),
        "smoke": args.smoke, "config": {k: v for k, v in cfg.items()},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny durations, few cells (CI)")
    ap.add_argument("--only", default="criterion,alloc,echo,handshake,memory,report")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep earlier results (append)")
    ap.add_argument("--publish", action="store_true",
                    help="copy the results to benches/results/ and regenerate the tables in "
                         "docs/benchmarks.md")
    args = ap.parse_args()
    cfg = SMOKE if args.smoke else FULL
    phases = args.only.split(",")

    OUT.mkdir(parents=True, exist_ok=True)
    if not args.keep:
        for p in phases:
            for f in [OUT / f"{p}.jsonl", OUT / f"{p}_handshake.jsonl"]:
                if f.exists():
                    f.unlink()
    if not args.no_build:
        cargo(["build", "--profile", "bench", "-p", "zerows-benches", "--bins"])
    m = meta(cfg, args)
    t0 = time.time()
    for p in phases:
        if p == "report":
            continue
        log(f"phase {p}")
        globals()[f"phase_{p}"](cfg)
    m["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    m["duration_s"] = round(time.time() - t0, 1)
    if phases != ["report"]:
        with open(OUT / "meta.json", "w") as f:
            json.dump(m, f, indent=1)
    if "report" in phases:
        extra = []
        if args.publish:
            extra = ["--publish", str(ROOT / "benches" / "results"),
                     "--docs", str(ROOT / "docs" / "benchmarks.md")]
        subprocess.run([sys.executable, str(ROOT / "benches" / "report.py")] + extra, check=True)


if __name__ == "__main__":
    main()
