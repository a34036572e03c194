#!/usr/bin/env python3
"""The scale harness (issue 17): many idle WebSocket connections across SO_REUSEPORT server
processes, then 1 % of them active.

P server processes of one command all listen on one port (SO_REUSEPORT); L `loadgen scale`
processes, the i-th bound to source address 127.0.0.(10+i), open their share of --conns upgraded
connections at once. Measured:

- the time to open them all (from starting the load generators to the last `READY`; each load
  generator's own time is in the JSON too);
- the servers' RSS (sum of VmRSS over the server processes) before and after, and the delta per
  connection, in total and per server process (connections per process: its descriptors that
  are established TCP connections on the port, since SO_REUSEPORT spreads them by hash);
- the kernel's TCP socket memory (`mem` of the `TCP:` line of /proc/net/sockstat, in pages; both
  ends of every loopback connection are counted);
- the kernel's slab memory (Slab of /proc/meminfo: socket structures, files, epoll items of both
  ends and of everything else on the machine), before and after;
- then the active phase: 1 % of the connections (--active-frac), spread over the load generators
  and over their connections, each send a 64-byte text message once a second for --active-secs
  seconds while the rest stay idle; every echo is checked byte for byte by the load generator,
  and the latency histograms of all load generators are merged exactly (p50/p99/max in µs).

With --peers, the same idle measurement is repeated afterwards with one process of each peer
server at --peer-conns connections (default 15,000): RSS delta per connection, same run.

Prints a markdown table and one JSON line (also written to --json PATH). Exits non-zero on any
failure. Every child process is killed on any exit.

Usage:
  python3 benches/scale.py [--conns N] [--servers P] [--loadgens L] [--active-frac F]
                           [--active-secs S] [--server-cmd 'CMD ... {port} ...'] [--ready REGEX]
                           [--concurrency C] [--open-timeout T] [--peers] [--peer-conns N]
                           [--json PATH] [--smoke]

--server-cmd: the server command, `{port}` replaced by the shared port (default: the mio server,
  `target/release/examples/echo_server_poll --addr 127.0.0.1:{port} --threads 1 --no-deflate`).
  A server is ready once it prints a line matching --ready (default `listening`) on stdout or
  stderr. A server that cannot share the port (no SO_REUSEPORT) needs --servers 1.
--smoke: 2 servers x 1,000 connections, 2 load generators, 3 s active (CI; < 60 s); what is
  given explicitly (e.g. --servers 1 for a server without SO_REUSEPORT) is kept.

Binaries are not built here: `cargo build --release -p zerows-benches --bin loadgen --bin
echo_server` and the server's own build (see docs/scale.md).
"""

import argparse
import json
import math
import os
import queue
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"
DEFAULT_SERVER = (f"{BIN}/examples/echo_server_poll --addr 127.0.0.1:{{port}} --threads 1 "
                  "--no-deflate")
# The peers of the memory comparison: stacks of benches/src/bin/echo_server.rs.
# `bare` (a tokio task holding the upgraded stream, nothing else) is the floor.
PEERS = ["bare", "zerows-tokio", "fastwebsockets", "tokio-websockets", "tokio-tungstenite"]
# Descriptors a process needs besides its connections (stdio, epoll, listener, runtime).
FD_MARGIN = 1000
PAGE = os.sysconf("SC_PAGE_SIZE")
# Every child process started, killed on any exit.
CHILDREN = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


class Lines:
    """The lines of a child's pipe, read by a thread, so a caller can wait for one with a
    timeout. The last lines are kept for error messages."""

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure(f"process {pid} has no VmRSS (it exited)")


def established(pids, port):
    """For each process, how many of its descriptors are established TCP connections on local
    port `port` (/proc/net/tcp by socket inode): its accepted connections."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            w = line.split()
            if w[3] == "01" and int(w[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(w[9])
    counts = []
    for pid in pids:
        n = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if link.startswith("socket:[") and link[8:-1] in inodes:
                n += 1
        counts.append(n)
    return counts


def sockstat():
    """The `TCP:` line of /proc/net/sockstat as a dict (mem in pages)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()[1:]
                return {w[i]: int(w[i + 1]) for i in range(0, len(w), 2)}
    raise Failure("no TCP line in /proc/net/sockstat")


def slab_kib():
    """The kernel's slab memory (Slab of /proc/meminfo, KiB): struct sock, files, epoll items;
    what /proc/net/sockstat's `mem` (buffer pages) does not count."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def tcp_ext():
    """The kernel's TCP counters that explain a slow open: accept queue overflows and SYN
    retransmissions (from /proc/net/netstat)."""
    keys = ["ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPReqQFullDrop",
            "SyncookiesSent"]
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], map(int, vals.split()[1:])))
            return {k: d.get(k, 0) for k in keys}
    return {}


def settle():
    """Waits (at most 10 s) until the kernel's TCP socket memory stops changing, so sockets
    of an earlier run still being torn down do not count in the figures."""
    last, t = sockstat(), time.monotonic()
    while time.monotonic() - t < 10:
        time.sleep(0.5)
        now = sockstat()
        if now["mem"] == last["mem"] and now["inuse"] == last["inuse"]:
            return
        last = now


def port_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
    return hi - lo + 1


def quantile(hist, count, q):
    """Nearest rank over sorted (value, count) pairs, as loadgen computes it."""
    rank = max(1, math.ceil(q * count))
    seen = 0
    for v, c in hist:
        seen += c
        if seen >= rank:
            return v
    return 0


def split(total, parts):
    """`total` in `parts` shares differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def check_limits(conns, servers, loadgens):
    """Fails unless every process stays within its descriptor limit and every source address
    within the ephemeral port range."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the children
        soft = hard
    cap = soft - FD_MARGIN
    per_gen = max(split(conns, loadgens))
    # SO_REUSEPORT spreads connections by hash, not evenly: allow 10 % over the even share.
    per_srv = math.ceil(conns / servers * (1.1 if servers > 1 else 1))
    ports = port_range()
    problems = []
    if per_gen > cap:
        problems.append(f"{per_gen} connections per load generator > {cap} "
                        f"(RLIMIT_NOFILE {soft} - {FD_MARGIN}): use --loadgens "
                        f"{math.ceil(conns / cap)} or more")
    if per_gen > ports:
        problems.append(f"{per_gen} connections from one source address > {ports} ephemeral "
                        f"ports: use more --loadgens")
    if per_srv > cap:
        problems.append(f"about {per_srv} connections per server process > {cap} "
                        f"(RLIMIT_NOFILE {soft} - {FD_MARGIN}): use --servers "
                        f"{math.ceil(conns * 1.1 / cap)} or more")
    if loadgens > 245:
        problems.append("at most 245 load generators (127.0.0.10 to 127.0.0.254)")
    if problems:
        raise Failure("; ".join(problems))
    return soft


def start_servers(cmd, n, port, ready, timeout=30):
    servers = []
    for i in range(n):
        argv = [a.replace("{port}", str(port)) for a in shlex.split(cmd)]
        if not (Path(argv[0]).exists() or shutil.which(argv[0])):
            raise Failure(f"{argv[0]} does not exist (build it first, see docs/scale.md)")
        p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  stdin=subprocess.DEVNULL)
        out, err = Lines(p.stdout), Lines(p.stderr)
        deadline = time.monotonic() + timeout
        pending = [out, err]
        while True:
            if p.poll() is not None:
                time.sleep(0.2)
                said = " | ".join(out.last + err.last)
                hint = (" (a server that does not set SO_REUSEPORT needs --servers 1)"
                         if i > 0 and "in use" in said.lower() else "")
                raise Failure(f"server {i + 1} of {n} exited with code {p.returncode}: "
                              f"{said}{hint}")
            if time.monotonic() > deadline:
                raise Failure(f"server {i + 1} of {n} printed no line matching {ready!r} "
                              f"in {timeout} s")
            line = None
            for src in pending:
                try:
                    line = src.get(0.05)
                except TimeoutError:
                    continue
                if line == "":
                    pending.remove(src)
                break
            if line and re.search(ready, line):
                break
        servers.append(p)
    return servers


def run(cmd, n_servers, n_gens, conns, active_k, active_secs, concurrency, open_timeout,
        ready, label):
    """One measurement: servers, load generators, idle figures, then the active phase."""
    loadgen = BIN / "loadgen"
    if not loadgen.exists():
        raise Failure(f"{loadgen} does not exist: cargo build --release -p zerows-benches "
                      "--bin loadgen")
    fd_limit = check_limits(conns, n_servers, n_gens)
    port = free_port()
    rec = {"label": label, "server_cmd": cmd.replace("{port}", str(port)), "servers": n_servers,
           "loadgens": n_gens, "conns": conns, "rlimit_nofile": fd_limit,
           "loadavg_before": os.getloadavg()}
    log(f"{label}: {n_servers} server(s), {n_gens} load generator(s), {conns} connections")
    try:
        servers = start_servers(cmd, n_servers, port, ready)
        time.sleep(0.5)
        settle()
        rss0 = [rss_kib(p.pid) for p in servers]
        ss0, ext0, slab0 = sockstat(), tcp_ext(), slab_kib()
        shares = split(conns, n_gens)
        gens = []
        t0 = time.monotonic()
        for i, (share, conc) in enumerate(zip(shares, split(concurrency, n_gens))):
            argv = [str(loadgen), "scale", "--addr", f"127.0.0.1:{port}", "--conns", str(share),
                    "--source", f"127.0.0.{10 + i}", "--concurrency", str(max(conc, 1)),
                    "--open-timeout", str(open_timeout)]
            p = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
            gens.append((p, Lines(p.stdout), Lines(p.stderr)))
        opened = []
        for i, (p, out, err) in enumerate(gens):
            left = open_timeout + 10 - (time.monotonic() - t0)
            try:
                line = out.get(left)
            except TimeoutError as e:
                raise Failure(f"loadgen {i}: no READY: {e}") from None
            w = line.split()
            if w[:2] != ["READY", "open"]:
                time.sleep(0.2)
                raise Failure(f"loadgen {i} (source 127.0.0.{10 + i}): expected READY open, "
                              f"got {line.strip()!r} (exit code {p.poll()}): "
                              f"{' | '.join(err.last)}")
            opened.append(float(w[2]))
        open_wall = time.monotonic() - t0
        ext1 = tcp_ext()
        time.sleep(1.0)  # let the servers finish their side of the last upgrades
        for i, p in enumerate(servers):
            if p.poll() is not None:
                raise Failure(f"server {i + 1} exited with code {p.returncode}")
        rss1 = [rss_kib(p.pid) for p in servers]
        accepted = established([p.pid for p in servers], port)
        ss1, slab1 = sockstat(), slab_kib()
        gen_rss = sum(rss_kib(p.pid) for p, _, _ in gens)
        per_server = []
        for i in range(n_servers):
            c = accepted[i]
            d = (rss1[i] - rss0[i]) * 1024
            per_server.append({"conns": c, "rss_before_kib": rss0[i], "rss_after_kib": rss1[i],
                               "bytes_per_conn": round(d / c, 1) if c > 0 else None})
        if sum(accepted) != conns:
            raise Failure(f"the servers hold {sum(accepted)} established connections on port "
                          f"{port} ({accepted}), expected {conns}")
        delta = (sum(rss1) - sum(rss0)) * 1024
        rec.update({
            "open_wall_s": round(open_wall, 3),
            "open_loadgen_max_s": max(opened),
            "handshake_concurrency": concurrency,
            "open_tcp_counters": {k: ext1[k] - ext0.get(k, 0) for k in ext1},
            "server_rss_before_kib": sum(rss0),
            "server_rss_after_kib": sum(rss1),
            "server_rss_delta_bytes": delta,
            "bytes_per_conn": round(delta / conns, 1),
            "per_server": per_server,
            "loadgen_rss_kib": gen_rss,
            "sockstat_before": ss0,
            "sockstat_after": ss1,
            "tcp_mem_pages_delta": ss1["mem"] - ss0["mem"],
            "tcp_mem_bytes_delta": (ss1["mem"] - ss0["mem"]) * PAGE,
            "page_size": PAGE,
            "kernel_slab_delta_bytes": (slab1 - slab0) * 1024,
        })
        log(f"{label}: opened {conns} in {open_wall:.2f} s; server RSS +{delta / 2**20:.1f} MiB "
            f"({delta / conns:.0f} B/conn); sockstat TCP mem {ss0['mem']} -> {ss1['mem']} pages; "
            f"during the open: {rec['open_tcp_counters']}")
        if active_secs > 0 and active_k > 0:
            ks = split(active_k, n_gens)
            for (p, _, _), k in zip(gens, ks):
                p.stdin.write(f"active {k} {active_secs}\n")
                p.stdin.flush()
            results = []
            for i, (p, out, err) in enumerate(gens):
                try:
                    line = out.get(active_secs + 30)
                    r = json.loads(line)
                except (TimeoutError, ValueError) as e:
                    raise Failure(f"loadgen {i}: no active result ({e}, exit code {p.poll()}): "
                                  f"{' | '.join(err.last)}") from None
                results.append(r)
            hist = {}
            for r in results:
                for v, c in r["hist"]:
                    hist[v] = hist.get(v, 0) + c
            pairs = sorted(hist.items())
            count = sum(r["count"] for r in results)
            errors = sum(r["errors"] for r in results)
            sent = sum(r["sent"] for r in results)
            rec["active"] = {
                "conns": sum(r["active"] for r in results), "secs": active_secs,
                "msg_size": results[0]["size"], "sent": sent, "count": count,
                "errors": errors, "idle_closed": sum(r["idle_closed"] for r in results),
                "p50_us": quantile(pairs, count, 0.5) if count else None,
                "p99_us": quantile(pairs, count, 0.99) if count else None,
                "max_us": pairs[-1][0] if pairs else None,
                "max_send_lag_us": max(r["max_send_lag_us"] for r in results),
                "first_errors": [r["first_error"] for r in results if r["first_error"]],
            }
            a = rec["active"]
            log(f"{label}: active {a['conns']} x {active_secs} s: {count}/{sent} echoes, "
                f"p50 {a['p50_us']} µs, p99 {a['p99_us']} µs, max {a['max_us']} µs, "
                f"{errors} errors")
            if errors or count != sent:
                raise Failure(f"active phase: {errors} errors, {count} of {sent} echoes: "
                              f"{a['first_errors'][:3]}")
        for i, p in enumerate(servers):
            if p.poll() is not None:
                raise Failure(f"server {i + 1} exited with code {p.returncode}")
        for p, _, _ in gens:
            p.stdin.close()
        for i, (p, _, err) in enumerate(gens):
            try:
                code = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                raise Failure(f"loadgen {i} did not exit 30 s after stdin closed") from None
            if code != 0:
                time.sleep(0.1)
                raise Failure(f"loadgen {i} exit code {code}: {' | '.join(err.last)}")
    finally:
        kill_all()
    return rec


def fmt_bytes(n):
    return f"{n / 2**20:,.1f} MiB" if abs(n) >= 2**20 else f"{n / 1024:,.1f} KiB"


def table(recs):
    out = ["| run | servers × loadgens | conns | open all | server RSS Δ | bytes/conn "
           "(per process) | TCP mem Δ (sockstat) | kernel slab Δ | active | p50 | p99 | max | "
           "errors |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        per = ", ".join(f"{s['bytes_per_conn']:,.0f} @ {s['conns']:,}" for s in r["per_server"]
                        if s["bytes_per_conn"] is not None)
        a = r.get("active")
        act = (f"{a['conns']:,} × {a['secs']} s" if a else "—")
        lat = ([f"{a['p50_us']:,} µs", f"{a['p99_us']:,} µs", f"{a['max_us']:,} µs",
                str(a["errors"])] if a else ["—", "—", "—", "—"])
        out.append(
            f"| {r['label']} | {r['servers']} × {r['loadgens']} | {r['conns']:,} | "
            f"{r['open_wall_s']:.2f} s | {fmt_bytes(r['server_rss_delta_bytes'])} | "
            f"{r['bytes_per_conn']:,.0f} ({per}) | {r['tcp_mem_pages_delta']:,} pages = "
            f"{fmt_bytes(r['tcp_mem_bytes_delta'])} | {fmt_bytes(r['kernel_slab_delta_bytes'])} | "
            f"{act} | " + " | ".join(lat) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, help="default 100,000 (--smoke: 2,000)")
    ap.add_argument("--servers", type=int, help="default: one per 15,000 connections")
    ap.add_argument("--loadgens", type=int, help="default: one per 15,000 connections")
    ap.add_argument("--active-frac", type=float, default=0.01)
    ap.add_argument("--active-secs", type=int, help="default 30 (--smoke: 3)")
    ap.add_argument("--server-cmd", default=DEFAULT_SERVER)
    ap.add_argument("--label", default=None)
    ap.add_argument("--ready", default="listening")
    ap.add_argument("--concurrency", type=int, default=128,
                    help="handshakes in progress at once, all load generators together "
                         "(default 128: a listen backlog of 128 is common)")
    ap.add_argument("--open-timeout", type=float, default=300)
    ap.add_argument("--peers", action="store_true",
                    help="then the idle memory of one process of each peer at --peer-conns")
    ap.add_argument("--peer-conns", type=int, default=15_000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:  # what is not given explicitly
        a.servers, a.loadgens = a.servers or 2, a.loadgens or 2
        a.conns, a.active_secs = a.conns or 2_000, 3 if a.active_secs is None else a.active_secs
        a.open_timeout = min(a.open_timeout, 30)
    a.conns = a.conns or 100_000
    a.active_secs = 30 if a.active_secs is None else a.active_secs
    a.servers = a.servers or math.ceil(a.conns / 15_000)
    a.loadgens = a.loadgens or math.ceil(a.conns / 15_000)
    label = a.label or Path(shlex.split(a.server_cmd)[0]).name

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    t0 = time.monotonic()
    recs, failures = [], []
    try:
        k = round(a.conns * a.active_frac)
        try:
            recs.append(run(a.server_cmd, a.servers, a.loadgens, a.conns, k, a.active_secs,
                            a.concurrency, a.open_timeout, a.ready, label))
        except Failure as e:
            failures.append(f"{label}: {e}")
            log(f"FAILED {label}: {e}")
        if a.peers:
            for stack in PEERS:
                time.sleep(2)  # let the kernel reap the previous sockets
                cmd = f"{BIN}/echo_server --stack {stack} --addr 127.0.0.1:{{port}}"
                try:
                    recs.append(run(cmd, 1, 1, a.peer_conns, 0, 0, a.concurrency,
                                    a.open_timeout, "listening", stack))
                except Failure as e:
                    failures.append(f"{stack}: {e}")
                    log(f"FAILED {stack}: {e}")
    finally:
        kill_all()
    summary = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "argv": sys.argv[1:], "cpus": os.cpu_count(), "kernel": os.uname().release,
               "secs": round(time.monotonic() - t0, 1),
               "runs": recs, "failures": failures}
    if recs:
        print(table(recs))
        print()
    print(json.dumps(summary))
    if a.json:
        a.json.write_text(json.dumps(summary, indent=1) + "\n")
    if failures:
        for f in failures:
            log(f"FAILED {f}")
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        kill_all()
