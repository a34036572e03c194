#!/usr/bin/env python3
"""The whole zerows-vs-peers comparison in one run (standard library only).

Phases, in order (``--only`` picks some):
  criterion  in-process microbenchmarks (benches/benches/*.rs), same profile for every stack
  alloc      allocations per message (in-memory echo under a counting allocator)
  echo       loopback echo matrix: sizes x connections x messages in flight, servers interleaved
  handshake  connect -> upgrade -> close cycles per second
  memory     RSS per idle connection at 15,000 connections, after the handshake and after a
             64 KiB echo
  tls        wss:// over loopback: zerows-tokio and zerows-sync (zerows_net::ServerTls) against
             tokio-tungstenite over tokio-rustls with the same rustls ServerConfig; an echo matrix
             (sizes x connections x in flight) and full-handshake cycles/s (TCP + TLS + upgrade,
             one echo, close) with K concurrent dialers; the certificate is made for the run in a
             temporary directory (`echo_server --gen-cert`) and deleted after it
  report     benches/report.py: markdown tables with computed ratios and an SVG plot

Servers run pinned to CPU 0 and the load generator to CPU 1 (taskset), loopback only.
Results go to $CARGO_TARGET_DIR/zerows-bench-results/*.jsonl (default target/). meta.json
describes the run, unless it ran only the tls phase (and report); tls_meta.json describes the run
of the tls phase (its section of docs/benchmarks.md can be published on its own:
`--only tls,report --publish` publishes only the tls results).

Any failure (a build, criterion, a non-zero exit of a server, load generator or alloc_count, a
timeout, an echo mismatch, a server that dies, an exception) is recorded, in the phase's own
records where it has one (echo, handshake, memory, tls) and otherwise in errors.jsonl; the run
goes on with the next measurement, then prints every failure and exits 1. report.py exits 1 too
when the results it reads hold a failure.

Environment:
  ZEROWS_BENCH_BIN      directory of echo_server, loadgen, alloc_count (default: the
                        `--profile bench` output, $CARGO_TARGET_DIR/release); the harness test
                        (benches/test_harness.py) points it at fakes
  ZEROWS_BENCH_TIMEOUT  seconds a child may take beyond its planned duration before it counts as
                        hung (default 120)
  ZEROWS_BENCH_PAUSE    factor for the pauses that let the kernel drop closed sockets between
                        runs (default 1; the harness test uses 0)

Usage: python3 benches/run.py [--smoke] [--only echo,memory] [--no-build] [--keep] [--publish]
"""

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
BIN = Path(os.environ.get("ZEROWS_BENCH_BIN") or TARGET / "release")  # `--profile bench` output
OUT = TARGET / "zerows-bench-results"
SLACK = float(os.environ.get("ZEROWS_BENCH_TIMEOUT") or 120)
PAUSE = float(os.environ.get("ZEROWS_BENCH_PAUSE") or 1)

PHASES = ["criterion", "alloc", "echo", "handshake", "memory", "tls", "report"]
ECHO_SERVERS = ["raw", "zerows-sync", "zerows-tokio", "zerows-poll", "tokio-tungstenite",
                "fastwebsockets", "tokio-websockets"]
MEMORY_SERVERS = ["bare", "zerows-poll", "zerows-tokio", "zerows-tokio-boxaccept",
                  "zerows-tokio-nopool",
                  "zerows-sync",
                  "tokio-tungstenite", "fastwebsockets", "tokio-websockets"]
HANDSHAKE_SERVERS = ["raw", "zerows-sync", "zerows-tokio", "zerows-poll", "tokio-tungstenite",
                     "fastwebsockets", "tokio-websockets"]
# Over TLS: the zerows servers and tokio-tungstenite on tokio-rustls (the same ServerConfig).
TLS_SERVERS = ["zerows-tokio", "tokio-tungstenite", "zerows-sync"]
# What the tls phase writes (cleared before it runs, published by `--only tls,report --publish`).
TLS_FILES = ["tls_echo.jsonl", "tls_handshake.jsonl", "tls_meta.json"]

FULL = dict(
    sizes=[16, 1024, 65536], conns=[10, 100, 1000], inflight=[1, 16], reps=3,
    secs=1.5, warmup=0.4, hs_secs=1.0, hs_reps=3, mem_conns=15000, alloc_n=100000,
    tls_sizes=[16, 1024, 65536], tls_conns=[10, 100], tls_inflight=[1, 16], tls_reps=3,
    tls_secs=1.5, tls_warmup=0.4, tls_hs_conc=[1, 16], tls_hs_secs=1.5,
    criterion=["--warm-up-time", "0.5", "--measurement-time", "1.5", "--nresamples", "10000",
               "--noplot"],
)
SMOKE = dict(
    sizes=[16, 65536], conns=[10], inflight=[1, 16], reps=1,
    secs=0.2, warmup=0.1, hs_secs=0.2, hs_reps=1, mem_conns=200, alloc_n=2000,
    tls_sizes=[16, 1024, 65536], tls_conns=[10], tls_inflight=[1, 16], tls_reps=1,
    tls_secs=0.2, tls_warmup=0.1, tls_hs_conc=[1, 4], tls_hs_secs=0.2,
    criterion=["--warm-up-time", "0.01", "--measurement-time", "0.02", "--sample-size", "10",
               "--nresamples", "1000", "--noplot"],
)

# Every failure of this run, as (phase, what, error), for the summary at the end.
FAILURES = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fail(phase, what, error, record=True):
    """Notes a failure for the final summary; with `record`, also in errors.jsonl (for failures
    that have no record of their own in the phase's results)."""
    error = str(error).strip()[-500:] or "failed (no message)"
    FAILURES.append((phase, what, error))
    log(f"FAILED {phase}: {what}: {error}")
    if record:
        append("errors", {"phase": phase, "what": what, "error": error})


def pause(secs):
    if PAUSE > 0:
        time.sleep(secs * PAUSE)


def pinned(core, cmd):
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)] + cmd
    return cmd


def cargo(args):
    log("cargo " + " ".join(args))
    return subprocess.run(["cargo"] + args, cwd=ROOT).returncode


def append(name, rec):
    with open(OUT / f"{name}.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")


def tail(text, n=300):
    return (text or "").strip()[-n:]


class Lines:
    """Lines of a child's pipe, read by a thread, so a caller can wait for one with a timeout
    (a child that neither prints nor exits must not hang the run)."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe):
        for line in pipe:
            self.q.put(line)
        self.q.put("")  # end of stream

    def get(self, timeout):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output for {timeout:g} s") from None


class Server:
    """An echo_server process pinned to CPU 0; `addr` once it listens."""

    def __init__(self, name, tls=None):
        """`tls`: (certificate chain PEM, key PEM) paths to serve wss:// with."""
        self.name = name
        stack, extra = name, []
        if tls:
            extra = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        if name == "zerows-tokio-nopool":
            stack, extra = "zerows-tokio", ["--no-pool"]
        elif name == "zerows-tokio-boxaccept":
            stack, extra = "zerows-tokio", ["--box-accept"]
        self.proc = subprocess.Popen(
            pinned(0, [str(BIN / "echo_server"), "--stack", stack, "--addr", "127.0.0.1:0"]
                   + extra),
            stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        try:
            line = Lines(self.proc.stdout).get(max(SLACK, 30))
        except TimeoutError as e:
            self.stop()
            raise RuntimeError(f"server {name} did not start: {e}") from None
        words = line.split()
        if len(words) != 2 or words[0] != "listening":
            self.stop()
            raise RuntimeError(f"server {name} did not start (exit code {self.proc.returncode}, "
                               f"printed {line.strip()!r})")
        self.addr = words[1]

    def died(self):
        """Why the server is gone, or None while it runs."""
        code = self.proc.poll()
        return None if code is None else f"server {self.name} exited with code {code}"

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"server {self.name}: no VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def loadgen(args, timeout):
    """Runs the load generator; its JSON record, or {"error": why}."""
    cmd = pinned(1, [str(BIN / "loadgen")] + args)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"loadgen timed out after {timeout:.1f} s"}
    if p.returncode != 0:
        return {"error": f"loadgen exit code {p.returncode}: {tail(p.stderr or p.stdout)}"}
    try:
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
    except (ValueError, IndexError) as e:
        return {"error": f"loadgen printed no result ({e}): {tail(p.stdout)}"}
    return rec


def positive(rec, key):
    """An error message unless rec[key] is a positive number (a run that measured nothing)."""
    v = rec.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return None
    return f"loadgen reported {key} = {v!r}"


def phase_criterion(cfg):
    cmd = ["bench", "-p", "zerows-benches", "--bench", "frame", "--bench", "messages",
           "--bench", "handshake", "--"] + cfg["criterion"]
    code = cargo(cmd)
    if code != 0:
        fail("criterion", "cargo " + " ".join(cmd[:9]), f"exit code {code}")


def phase_alloc(cfg):
    cmd = [str(BIN / "alloc_count"), "--n", str(cfg["alloc_n"])]
    # Under the counting allocator every stack runs its echo for n messages, twice over.
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=SLACK * 5)
    if p.returncode != 0:
        fail("alloc", "alloc_count", f"exit code {p.returncode}: {tail(p.stderr or p.stdout)}")
    seen = 0
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            mode = rec["mode"]
        except (ValueError, KeyError, TypeError) as e:
            fail("alloc", "alloc_count output", f"{e}: {line[:200]!r}")
            continue
        append("alloc" if mode == "alloc" else "alloc_handshake", rec)
        seen += 1
    if p.returncode == 0 and seen == 0:
        fail("alloc", "alloc_count output", "no records")


def start(phase, name, tls=None):
    """Starts a server; None (and a recorded failure) if it does not start."""
    try:
        return Server(name, tls)
    except (RuntimeError, OSError) as e:
        fail(phase, f"start {name}", e)
        return None


def stop_all(phase, servers):
    """Stops the servers; one that exited by itself is a failure."""
    for srv in servers.values():
        if srv is None:
            continue
        why = srv.died()
        if why:
            fail(phase, f"{srv.name} at the end of the phase", why)
        srv.stop()


def phase_echo(cfg):
    servers = {}
    try:
        for name in ECHO_SERVERS:
            servers[name] = start("echo", name)
        cells = [(s, c, k) for s in cfg["sizes"] for c in cfg["conns"] for k in cfg["inflight"]]
        for i, (size, conns, inflight) in enumerate(cells):
            log(f"echo cell {i + 1}/{len(cells)}: {size} B x {conns} conns x {inflight} in flight")
            for rep in range(cfg["reps"]):
                for name in ECHO_SERVERS:  # interleaved: A B C A B C ...
                    srv = servers[name]
                    if srv is None:
                        continue  # did not start; recorded once
                    base = dict(server=name, rep=rep, size=size, conns=conns, inflight=inflight)
                    why = srv.died()
                    if why:
                        append("echo", dict(base, error=f"{why} before this run"))
                        fail("echo", f"{name} {size} B x {conns} x {inflight}", why, record=False)
                        srv.stop()
                        srv = servers[name] = start("echo", name)
                        if srv is None:
                            continue
                    args = ["echo", "--addr", srv.addr, "--conns", str(conns), "--inflight",
                            str(inflight), "--size", str(size), "--secs", str(cfg["secs"]),
                            "--warmup", str(cfg["warmup"]), "--server-pid", str(srv.pid)]
                    if name == "raw":
                        args.append("--raw")
                    rec = loadgen(args, timeout=cfg["secs"] + cfg["warmup"] + SLACK)
                    if "error" not in rec:
                        err = positive(rec, "msg_per_s")
                        if err:
                            rec["error"] = err
                    rec.update(base)
                    if "error" in rec:
                        fail("echo", f"{name} {size} B x {conns} x {inflight}", rec["error"],
                             record=False)
                    append("echo", rec)
                    pause(0.2)  # let the server drop the closed connections
    finally:
        stop_all("echo", servers)


def phase_handshake(cfg):
    servers = {}
    try:
        for name in HANDSHAKE_SERVERS:
            servers[name] = start("handshake", name)
        for rep in range(cfg["hs_reps"]):
            for name in HANDSHAKE_SERVERS:
                srv = servers[name]
                if srv is None:
                    continue
                base = {"server": name, "rep": rep}
                why = srv.died()
                if why:
                    append("handshake", dict(base, error=f"{why} before this run"))
                    fail("handshake", name, why, record=False)
                    srv.stop()
                    srv = servers[name] = start("handshake", name)
                    if srv is None:
                        continue
                rec = loadgen(["handshake", "--addr", srv.addr, "--secs", str(cfg["hs_secs"])],
                              timeout=cfg["hs_secs"] + SLACK)
                if "error" not in rec:
                    err = positive(rec, "cycles_per_s")
                    if err:
                        rec["error"] = err
                rec.update(base)
                if "error" in rec:
                    fail("handshake", name, rec["error"], record=False)
                append("handshake", rec)
                pause(0.2)
    finally:
        stop_all("handshake", servers)


def measure(phase, results, servers, name, base, args, metric, timeout, tls=None):
    """One load generator run against servers[name], recorded in `results`.jsonl with `base`; a
    server found dead is recorded as this run's failure and restarted for the next one."""
    srv = servers[name]
    if srv is None:
        return  # did not start; recorded once
    what = f"{name} " + " ".join(f"{k}={v}" for k, v in base.items() if k not in ("server", "rep"))
    why = srv.died()
    if why:
        append(results, dict(base, error=f"{why} before this run"))
        fail(phase, what, why, record=False)
        srv.stop()
        srv = servers[name] = start(phase, name, tls)
        if srv is None:
            return
    rec = loadgen(args + ["--addr", srv.addr, "--server-pid", str(srv.pid)], timeout=timeout)
    if "error" not in rec:
        err = positive(rec, metric)
        if err:
            rec["error"] = err
    if "error" not in rec:
        why = srv.died()  # it answered, then died (the load generator may not notice)
        if why:
            rec["error"] = why
    rec.update(base)
    if "error" in rec:
        fail(phase, what, rec["error"], record=False)
    append(results, rec)


def phase_tls(cfg):
    with tempfile.TemporaryDirectory(prefix="zerows-bench-tls-") as d:
        # A throwaway CA and server certificate for this run only (never in the tree).
        cmd = [str(BIN / "echo_server"), "--gen-cert", d]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=SLACK)
        except (OSError, subprocess.TimeoutExpired) as e:
            fail("tls", "echo_server --gen-cert", e)
            return
        if p.returncode != 0:
            fail("tls", "echo_server --gen-cert",
                 f"exit code {p.returncode}: {tail(p.stderr or p.stdout)}")
            return
        d = Path(d)
        tls = (d / "cert.pem", d / "key.pem")
        ca = ["--ca", str(d / "ca.pem")]
        servers = {}
        try:
            for name in TLS_SERVERS:
                servers[name] = start("tls", name, tls)
            cells = [(s, c, k) for s in cfg["tls_sizes"] for c in cfg["tls_conns"]
                     for k in cfg["tls_inflight"]]
            # Interleaved: every cell and server once per round (A B C, next cell, … then the
            # next round), so run-to-run drift spreads over every server alike.
            for rep in range(cfg["tls_reps"]):
                for i, (size, conns, inflight) in enumerate(cells):
                    log(f"tls echo round {rep + 1}/{cfg['tls_reps']}, cell {i + 1}/{len(cells)}: "
                        f"{size} B x {conns} conns x {inflight} in flight")
                    for name in TLS_SERVERS:
                        base = dict(server=name, rep=rep, size=size, conns=conns,
                                    inflight=inflight)
                        args = ["tls-echo", "--conns", str(conns), "--inflight", str(inflight),
                                "--size", str(size), "--secs", str(cfg["tls_secs"]),
                                "--warmup", str(cfg["tls_warmup"])] + ca
                        measure("tls", "tls_echo", servers, name, base, args, "msg_per_s",
                                cfg["tls_secs"] + cfg["tls_warmup"] + SLACK, tls)
                        pause(0.2)
                for k in cfg["tls_hs_conc"]:
                    log(f"tls handshake round {rep + 1}/{cfg['tls_reps']}: {k} concurrent dialers")
                    for name in TLS_SERVERS:
                        base = dict(server=name, rep=rep, concurrency=k)
                        args = ["tls-handshake", "--concurrency", str(k), "--secs",
                                str(cfg["tls_hs_secs"]), "--warmup", str(cfg["tls_warmup"])] + ca
                        measure("tls", "tls_handshake", servers, name, base, args,
                                "cycles_per_s", cfg["tls_hs_secs"] + cfg["tls_warmup"] + SLACK,
                                tls)
                        pause(0.5)  # closed connections in TIME_WAIT
        finally:
            stop_all("tls", servers)


def phase_memory(cfg):
    try:
        p = subprocess.run([str(BIN / "echo_server"), "--sizes"], capture_output=True,
                           text=True, timeout=SLACK)
        if p.returncode != 0:
            raise RuntimeError(f"exit code {p.returncode}: {tail(p.stderr or p.stdout)}")
        for line in p.stdout.splitlines():
            json.loads(line)
        with open(OUT / "sizes.jsonl", "w") as f:
            f.write(p.stdout)
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as e:
        fail("memory", "echo_server --sizes", e)
    n = cfg["mem_conns"]
    for name in MEMORY_SERVERS:
        log(f"memory: {name}, {n} connections")
        rec = {"server": name, "conns": n}
        srv = gen = None
        errlog = tempfile.TemporaryFile("w+")
        try:
            srv = Server(name)
            pause(0.2)
            rec["rss_start_kib"] = base = srv.rss_kib()
            gen = subprocess.Popen(
                pinned(1, [str(BIN / "loadgen"), "idle", "--addr", srv.addr, "--conns", str(n)]
                       + ([] if name == "bare" else ["--echo-size", "65536"])),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, text=True)
            lines = Lines(gen.stdout)

            def ready(what):
                line = lines.get(SLACK)
                if not line.startswith(f"READY {what}"):
                    code = gen.poll()
                    errlog.seek(0)
                    raise RuntimeError(f"loadgen idle: expected READY {what}, got "
                                       f"{line.strip()!r} (exit code {code}) "
                                       f"{tail(errlog.read())}")

            ready("handshake")
            pause(0.5)
            rss = srv.rss_kib()
            rec["idle_rss_kib"] = rss
            rec["idle_bytes_per_conn"] = (rss - base) * 1024 / n
            gen.stdin.write("go\n")
            gen.stdin.flush()
            if name != "bare":
                ready("echoed")
                pause(0.5)
                rss = srv.rss_kib()
                rec["echoed_rss_kib"] = rss
                rec["echoed_bytes_per_conn"] = (rss - base) * 1024 / n
            gen.stdin.close()
            code = gen.wait(timeout=SLACK)
            if code != 0:
                errlog.seek(0)
                raise RuntimeError(f"loadgen idle exit code {code}: {tail(errlog.read())}")
            why = srv.died()
            if why:
                raise RuntimeError(why)
        except Exception as e:  # noqa: BLE001 - any exception is a failure of this server's run
            rec["error"] = f"{type(e).__name__}: {e}"[-500:]
            fail("memory", name, rec["error"], record=False)
        finally:
            if gen is not None:
                if gen.poll() is None:
                    gen.kill()
                gen.wait()
            if srv is not None:
                srv.stop()
            errlog.close()
        append("memory", rec)
        pause(1.0)  # let the kernel reap 10k sockets


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


def clear(phases):
    """Removes the results of the phases about to run, and their entries in errors.jsonl (with
    those of the build and of any earlier run of these phases)."""
    for p in phases:
        files = [OUT / f"{p}.jsonl", OUT / f"{p}_handshake.jsonl"]
        if p == "tls":
            files = [OUT / f for f in TLS_FILES]
        for f in files:
            if f.exists():
                f.unlink()
    if "memory" in phases and (OUT / "sizes.jsonl").exists():
        (OUT / "sizes.jsonl").unlink()
    errors = OUT / "errors.jsonl"
    if errors.exists():
        keep = [line for line in errors.read_text().splitlines()
                if line.strip() and json.loads(line).get("phase") not in set(phases) | {"build"}]
        errors.write_text("".join(line + "\n" for line in keep))


def summary():
    if not FAILURES:
        log("run.py: no failures")
        return 0
    print(f"\nrun.py: {len(FAILURES)} failure(s):", file=sys.stderr)
    for phase, what, error in FAILURES:
        print(f"  - {phase}: {what}: {error}", file=sys.stderr)
    sys.stderr.flush()
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny durations, few cells (CI)")
    ap.add_argument("--only", default=",".join(PHASES))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep earlier results (append)")
    ap.add_argument("--publish", action="store_true",
                    help="copy the results to benches/results/ and regenerate the tables in "
                         "docs/benchmarks.md")
    args = ap.parse_args()
    cfg = SMOKE if args.smoke else FULL
    phases = args.only.split(",")
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        ap.error(f"unknown phase(s) {', '.join(unknown)}; phases: {', '.join(PHASES)}")

    OUT.mkdir(parents=True, exist_ok=True)
    if not args.keep:
        clear(phases)
    if not args.no_build:
        code = cargo(["build", "--profile", "bench", "-p", "zerows-benches", "--bins"])
        if code != 0:
            fail("build", "cargo build --profile bench -p zerows-benches --bins",
                 f"exit code {code}")
            return summary()
    m = meta(cfg, args)
    t0 = time.time()
    for p in phases:
        if p == "report":
            continue
        log(f"phase {p}")
        try:
            globals()[f"phase_{p}"](cfg)
        except Exception as e:  # noqa: BLE001 - record, then go on with the next phase
            fail(p, "phase", f"{type(e).__name__}: {e}")
    m["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    m["duration_s"] = round(time.time() - t0, 1)
    measured = [p for p in phases if p != "report"]
    tls_only = measured == ["tls"]
    if measured and not tls_only:
        with open(OUT / "meta.json", "w") as f:
            json.dump(m, f, indent=1)
    if "tls" in measured:
        m["command"] = ("bash benches/run.sh" + (" --smoke" if args.smoke else "")
                        + (" --only " + args.only if tls_only else ""))
        with open(OUT / "tls_meta.json", "w") as f:
            json.dump(dict(m, phases=measured), f, indent=1)
    if "report" in phases:
        extra = []
        if args.publish:
            extra = ["--publish", str(ROOT / "benches" / "results"),
                     "--docs", str(ROOT / "docs" / "benchmarks.md")]
            if tls_only:
                extra += ["--publish-only", "tls"]
        code = subprocess.run([sys.executable, str(ROOT / "benches" / "report.py")]
                              + extra).returncode
        if code != 0:  # 1 when the results hold failures (listed above) or it failed itself
            fail("report", "benches/report.py", f"exit code {code} (1: the results hold "
                 "failures, listed above or left by an earlier run with --keep)", record=False)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
