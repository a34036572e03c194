#!/usr/bin/env python3
"""Turns the benchmark results into markdown tables (ratios computed here, never typed) and an
SVG plot, and regenerates the generated blocks of docs/benchmarks.md. Standard library only.

Reads  $CARGO_TARGET_DIR/criterion/**/new/{benchmark,estimates}.json  (criterion)
       $CARGO_TARGET_DIR/zerows-bench-results/*.jsonl, meta.json    (benches/run.py)
       or, with --from DIR, a published results directory (benches/results/: *.jsonl,
       meta.json and criterion.json, criterion's medians flattened), without measuring anything.
Writes the markdown to stdout and to zerows-bench-results/report.md, the plot to
       zerows-bench-results/echo.svg (with --from: only to --out DIR, if given); with
       --publish DIR, copies report.md, echo.svg and the raw results there too (benches/results/
       is what docs/benchmarks.md links to); with --docs FILE, rewrites every block of FILE
       between `<!-- BEGIN GENERATED (benches/report.py --docs): NAME -->` and
       `<!-- END GENERATED: NAME -->` from the data (with --publish: from the published copy);
       with --check, only compares (exit 1 and a diff when FILE is not what the data gives).

Exit status: 0; 1 when the results hold a failure (an `error` record or errors.jsonl, written by
benches/run.py; the report is still written, the failures listed at its top and marked in the
tables) or when --check finds a difference; 2 on a usage error or a block name it does not know.

Ratios in report.md are  peer / zerows  of the metric in the table; each table says which way is
better. The zerows reference is named in each table. The docs blocks say which way each ratio goes.

    python3 benches/report.py                                   # tables from the last run
    python3 benches/report.py --from benches/results --docs docs/benchmarks.md          # docs
    python3 benches/report.py --from benches/results --docs docs/benchmarks.md --check  # CI
"""

import argparse
import difflib
import json
import os
import re
import shutil
import statistics
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
RES = TARGET / "zerows-bench-results"
CRIT = TARGET / "criterion"

ECHO_ORDER = ["raw", "zerows-sync", "zerows-tokio", "zerows-poll", "tokio-tungstenite",
              "fastwebsockets", "tokio-websockets"]
PEERS = ["tokio-tungstenite", "fastwebsockets", "tokio-websockets"]
ZEROWS = ["zerows-sync", "zerows-tokio", "zerows-poll"]
# Raw results a run writes (and --publish copies).
JSONL = ["echo", "handshake", "memory", "sizes", "alloc", "alloc_handshake", "tls_echo",
         "tls_handshake", "errors"]
# The tls phase's results: published alone by `--publish-only tls` (run.py --only tls,report
# --publish), with tls_meta.json describing that run.
TLS_JSONL = ["tls_echo", "tls_handshake"]
TLS_SERVERS = ["zerows-tokio", "zerows-sync", "tokio-tungstenite"]
TLS_PEER = "tokio-tungstenite"


# ---------------------------------------------------------------------------------------------
# the results of one run

class Results:
    """Everything one run measured: from the target directory (criterion's own files and
    benches/run.py's), or from a published copy (`src`, with criterion.json)."""

    def __init__(self, src=None):
        d = Path(src) if src else RES
        self.dir = d
        self.meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").exists() else {}
        p = d / "tls_meta.json"
        self.tls_meta = json.loads(p.read_text()) if p.exists() else {}
        for name in JSONL:
            p = d / f"{name}.jsonl"
            recs = []
            if p.exists():
                recs = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
            setattr(self, name, recs)
        if src:
            p = d / "criterion.json"
            self.crit = json.loads(p.read_text()) if p.exists() else {}
        else:
            self.crit = load_criterion(CRIT)
        self.ghz = None
        try:
            self.ghz = float(self.meta.get("cpu_mhz") or 0) / 1000 or None
        except ValueError:
            pass

    def failures(self):
        """Every failure the results hold, one line each."""
        out = [f"{e.get('phase')}: {e.get('what')}: {e.get('error')}" for e in self.errors]
        for r in self.echo:
            if "error" in r:
                out.append(f"echo: {r.get('server')} at {r.get('size')} B × {r.get('conns')} "
                           f"conns × {r.get('inflight')} in flight (run {r.get('rep')}): "
                           f"{r['error']}")
        for r in self.handshake:
            if "error" in r:
                out.append(f"handshake: {r.get('server')} (run {r.get('rep')}): {r['error']}")
        for r in self.memory:
            if "error" in r:
                out.append(f"memory: {r.get('server')}: {r['error']}")
        for r in self.tls_echo:
            if "error" in r:
                out.append(f"tls echo: {r.get('server')} at {r.get('size')} B × {r.get('conns')} "
                           f"conns × {r.get('inflight')} in flight (run {r.get('rep')}): "
                           f"{r['error']}")
        for r in self.tls_handshake:
            if "error" in r:
                out.append(f"tls handshake: {r.get('server')} with {r.get('concurrency')} "
                           f"dialers (run {r.get('rep')}): {r['error']}")
        for name in ["sizes", "alloc", "alloc_handshake"]:
            for r in getattr(self, name):
                if "error" in r:
                    out.append(f"{name}: {r.get('stack') or r.get('what')}: {r['error']}")
        return out


# ---------------------------------------------------------------------------------------------
# formatting

def fmt_ns(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(x, unit):
    for pre, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.3g} {pre}{unit}"
    return f"{x:.3g} {unit}"


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def med(xs):
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------------------------------------
# criterion

def load_criterion(crit):
    """criterion's medians from its output directory: {group: {function: {ns, lo, hi, tp}}}."""
    groups = defaultdict(dict)
    if not crit.exists():
        return groups
    for bj in crit.glob("**/new/benchmark.json"):
        ej = bj.with_name("estimates.json")
        if not ej.exists():
            continue
        b = json.loads(bj.read_text())
        e = json.loads(ej.read_text())
        fid = b["function_id"] + (f"/{b['value_str']}" if b.get("value_str") else "")
        m = e["median"]
        groups[b["group_id"]][fid] = {
            "ns": m["point_estimate"],
            "lo": m["confidence_interval"]["lower_bound"],
            "hi": m["confidence_interval"]["upper_bound"],
            "tp": b.get("throughput"),
        }
    return groups


def group_key(g):
    parts = g.split("/")
    return [int(p) if p.isdigit() else p for p in parts]


def criterion_section(groups, ghz):
    out = ["## Microbenchmarks (criterion, in-process)", "",
           "Median time per iteration with criterion's 95 % confidence interval of the median; "
           "throughput from the median. **peer ÷ zerows** is the peer's median time divided by "
           "zerows' (above 1: zerows is faster). Reference: the `zerows` entry, or for message "
           "benchmarks the faster of `zerows-sync`/`zerows-tokio` (named in the table). "
           "`ref/…` rows are references (core, simdutf8), not peers."
           + (f" Bytes/cycle assume the nominal {ghz:.2f} GHz clock." if ghz else ""), ""]
    families = defaultdict(list)
    for g in groups:
        families[g.split("/")[0]].append(g)
    titles = {
        "header_decode": "Header decode (masked client header; length = payload length)",
        "header_encode": "Header encode (unmasked server header)",
        "unmask": "Unmask in place (plus naive loop and memcpy of the same size)",
        "utf8": "UTF-8 validation",
        "decode": "Decoding a stream of frames into messages (payload bytes)",
        "echo": "In-memory echo of 100,000 16-byte text messages",
        "server_upgrade": "Server handshake (colleague's bench, extended)",
    }
    for fam in ["header_decode", "header_encode", "unmask", "utf8", "decode", "echo",
                "server_upgrade"] + sorted(set(families) - set(titles)):
        if fam not in families:
            continue
        out += [f"### {titles.get(fam, fam)}", ""]
        rows = []
        for g in sorted(families[fam], key=group_key):
            fns = groups[g]
            zs = {k: v for k, v in fns.items() if k.startswith("zerows")}
            if "zerows" in fns:
                ref_name, ref = "zerows", fns["zerows"]
            elif zs:
                ref_name, ref = min(zs.items(), key=lambda kv: kv[1]["ns"])
            else:
                ref_name, ref = None, None
            for fid, v in sorted(fns.items(), key=lambda kv: kv[1]["ns"]):
                tp = ""
                extra = ""
                if v["tp"]:
                    (kind, n), = v["tp"].items()
                    per_s = n / (v["ns"] / 1e9)
                    tp = fmt_rate(per_s, "B/s" if kind == "Bytes" else "elem/s")
                    if kind == "Bytes" and ghz and fam == "unmask":
                        extra = f"{n / (v['ns'] * ghz):.1f}"
                ratio = None
                if ref and not fid.startswith("zerows"):
                    ratio = v["ns"] / ref["ns"]
                name = f"**{fid}**" if fid.startswith("zerows") else fid
                row = [g, name, fmt_ns(v["ns"]), f"{fmt_ns(v['lo'])} – {fmt_ns(v['hi'])}", tp]
                if fam == "unmask":
                    row.append(extra)
                row += [fmt_ratio(ratio), ref_name or "—"]
                rows.append(row)
        head = ["benchmark", "stack", "median", "95 % CI", "throughput"]
        if fam == "unmask":
            head.append("bytes/cycle")
        head += ["peer ÷ zerows (time)", "zerows ref"]
        out += [table(head, rows), ""]
    return out


# ---------------------------------------------------------------------------------------------
# loopback

def echo_cells(recs):
    cells = defaultdict(lambda: defaultdict(list))
    errors = defaultdict(list)
    for r in recs:
        key = (r["size"], r["conns"], r["inflight"])
        if "error" in r:
            errors[(key, r["server"])].append(r["error"])
            continue
        cells[key][r["server"]].append(r)
    return cells, errors


def echo_section(recs):
    if not recs:
        return []
    cells, errors = echo_cells(recs)
    servers = [s for s in ECHO_ORDER if any(s in v for v in cells.values())]
    reps = max((len(v) for c in cells.values() for v in c.values()), default=0)
    out = ["## Loopback echo", "",
           f"One load generator thread (CPU 1) against one server (CPU 0), 127.0.0.1, text "
           f"messages, every echo verified. Median of {reps} interleaved runs per cell "
           "(servers run A B C … A B C …), with the min–max spread. `raw` is a TCP echo with no "
           "framing (the floor; with several messages in flight it echoes them in one write).",
           ""]
    for size in sorted({k[0] for k in cells}):
        out += [f"### {size} B messages: msg/s", ""]
        rows = []
        for key in sorted(k for k in cells if k[0] == size):
            c = cells[key]
            row = [f"{key[1]} × {key[2]}"]
            for s in servers:
                xs = [r["msg_per_s"] for r in c.get(s, [])]
                if xs:
                    row.append(f"{fmt_rate(med(xs), '')} ({fmt_rate(min(xs), '')}–"
                               f"{fmt_rate(max(xs), '')})")
                elif (key, s) in errors:
                    row.append("fail")
                else:
                    row.append("—")
            rows.append(row)
        out += [table(["conns × in flight"] + servers, rows), ""]

        out += [f"### {size} B messages: ratios (msg/s, peer ÷ zerows; below 1: zerows faster)",
                ""]
        rows = []
        for key in sorted(k for k in cells if k[0] == size):
            c = cells[key]
            m = {s: med([r["msg_per_s"] for r in c.get(s, [])]) for s in servers}
            zt, zs = m.get("zerows-tokio"), m.get("zerows-sync")
            zbest = max([x for x in (zt, zs, m.get("zerows-poll")) if x], default=None)
            pbest_name, pbest = max(((p, m.get(p)) for p in PEERS if m.get(p)),
                                    key=lambda kv: kv[1], default=(None, None))
            row = [f"{key[1]} × {key[2]}"]
            for p in PEERS:
                row.append(fmt_ratio(m[p] / zt) if m.get(p) and zt else "—")
            for p in PEERS:
                row.append(fmt_ratio(m[p] / zs) if m.get(p) and zs else "—")
            if zbest and pbest:
                r = zbest / pbest
                goal = 1.1 if key[2] > 1 else 1.0
                row += [pbest_name, fmt_ratio(r), f"≥ {goal:.1f}×: " + ("met" if r >= goal
                                                                          else "**missed**")]
            else:
                row += ["—", "—", "—"]
            rows.append(row)
        head = (["conns × in flight"] + [f"{p} ÷ zerows-tokio" for p in PEERS]
                + [f"{p} ÷ zerows-sync" for p in PEERS]
                + ["best peer", "best zerows ÷ best peer", "target"])
        out += [table(head, rows), ""]

        rows = []
        for key in sorted(k for k in cells if k[0] == size):
            c = cells[key]
            zp = med([r["msg_per_s"] for r in c.get("zerows-poll", [])])
            zt = med([r["msg_per_s"] for r in c.get("zerows-tokio", [])])
            if zp and zt:
                rows.append([f"{key[1]} × {key[2]}", fmt_rate(zp, ""), fmt_rate(zt, ""),
                             fmt_ratio(zp / zt), "met" if zp >= zt else "**missed**"])
        if rows:
            out += [f"### {size} B messages: zerows-poll against zerows-tokio (msg/s, medians; "
                    "target ≥ 1.0×)", "",
                    table(["conns × in flight", "zerows-poll", "zerows-tokio",
                           "zerows-poll ÷ zerows-tokio", "target"], rows), ""]

        out += [f"### {size} B messages: server CPU per message (µs, median)", ""]
        rows = []
        for key in sorted(k for k in cells if k[0] == size):
            c = cells[key]
            m = {s: med([r["server_cpu_us_per_msg"] for r in c.get(s, [])]) for s in servers}
            lg = med([r.get("loadgen_cpu_util", 0) for s in servers for r in c.get(s, [])])
            row = [f"{key[1]} × {key[2]}"] + [f"{m[s]:.2f}" if m.get(s) else "—"
                                             for s in servers]
            raw = m.get("raw")
            zt = m.get("zerows-tokio")
            row.append(fmt_ratio(zt / raw) if zt and raw else "—")
            row.append(f"{lg:.0%}" if lg is not None else "—")
            rows.append(row)
        out += [table(["conns × in flight"] + servers
                      + ["zerows-tokio ÷ raw", "load generator CPU (median)"], rows), ""]
    if errors:
        out += ["Failed runs:", ""]
        for (key, s), es in sorted(errors.items()):
            out.append(f"- {s} at {key[0]} B × {key[1]} × {key[2]}: {es[0]}")
        out.append("")
    return out


def handshake_section(recs):
    if not recs:
        return []
    by = defaultdict(list)
    errs = defaultdict(list)
    for r in recs:
        (errs if "error" in r else by)[r["server"]].append(r)
    z = med([r["cycles_per_s"] for r in by.get("zerows-tokio", [])])
    rows = []
    for s in ECHO_ORDER:
        xs = [r["cycles_per_s"] for r in by.get(s, [])]
        if not xs:
            if s in errs:
                rows.append([s, "fail: " + errs[s][0]["error"][:60], "", ""])
            continue
        rows.append([f"**{s}**" if s.startswith("zerows") else s, f"{med(xs):,.0f}",
                     f"{min(xs):,.0f} – {max(xs):,.0f}",
                     fmt_ratio(med(xs) / z) if z and not s.startswith("zerows") else "—"])
    return ["## Handshake rate", "",
            "Sequential connect → upgrade → close cycles (one at a time, so this is the latency "
            "of a whole cycle, both processes pinned to different CPUs). `raw` and `bare` use the "
            "zerows sans-IO upgrader; fastwebsockets goes through hyper (its server handshake).",
            "", table(["server", "cycles/s (median)", "min – max", "peer ÷ zerows-tokio"], rows),
            ""]


def memory_section(recs, sizes):
    out = []
    if recs:
        base = next((r for r in recs if r["server"] == "bare" and "error" not in r), None)
        rows = []
        for r in recs:
            if "error" in r:
                rows.append([r["server"], "fail", "", "", r["error"][:80]])
                continue
            idle = r.get("idle_bytes_per_conn")
            echoed = r.get("echoed_bytes_per_conn")
            over = (idle - base["idle_bytes_per_conn"]) if base and idle is not None else None
            rows.append([f"**{r['server']}**" if r["server"].startswith("zerows") else r["server"],
                         f"{idle / 1024:.2f}" if idle is not None else "—",
                         f"{echoed / 1024:.2f}" if echoed is not None else "—",
                         f"{over / 1024:+.2f}" if over is not None else "—", ""])
        n = recs[0].get("conns")
        out += ["## Memory per idle connection", "",
                f"Server RSS delta ÷ {n:,} connections (user space; kernel socket buffers are "
                "not in RSS). *idle*: after the handshake; *after 64 KiB echo*: after every "
                "connection echoed one 64 KiB text message and went idle again. `bare` is a tokio "
                "task holding the upgraded `TcpStream` (the baseline). zerows-tokio uses a shared "
                "`BufferPool`; `-nopool` gives each connection its own buffers.", "",
                table(["server", "idle KiB/conn", "after 64 KiB echo KiB/conn",
                       "idle − bare (KiB)", "note"], rows), ""]
    if sizes:
        rows = [[s["what"], f"{s['bytes']:,}"] for s in sizes]
        out += ["Size of each connection's task future (bytes; what `tokio::spawn` allocates "
                "and keeps for the life of the connection), from `echo_server --sizes`:", "",
                table(["future / type", "bytes"], rows), ""]
    return out


def alloc_section(recs):
    if not recs:
        return []
    rows = []
    for r in recs:
        if "error" in r:
            rows.append([r.get("stack", "?"), "fail", "", "", "", ""])
            continue
        rows.append([f"**{r['stack']}**" if r["stack"].startswith("zerows") else r["stack"],
                     f"{r['size']:,} B", f"{r['n']:,}", f"{r['allocs_per_msg']:.3f}",
                     f"{r['bytes_per_msg']:,.1f}", r["setup_allocs"]])
    return ["## Allocations per message", "",
            "In-memory echo (read each message through the stack's message API, send it back) "
            "under a counting global allocator; steady state: (allocations for n + 100 messages "
            "− allocations for 100) ÷ n. `realloc` counts as one.", "",
            table(["stack", "message", "n", "allocations/msg", "bytes requested/msg",
                   "setup allocations (100 msgs)"], rows), ""]


# ---------------------------------------------------------------------------------------------
# plot

def echo_svg(recs, conns):
    cells, _ = echo_cells(recs)
    sizes = sorted({k[0] for k in cells})
    inflights = sorted({k[2] for k in cells})
    servers = [s for s in ECHO_ORDER if any(s in v for v in cells.values())]
    if not sizes or not servers:
        return None
    if conns not in {k[1] for k in cells}:
        conns = sorted({k[1] for k in cells})[0]
    colors = {"raw": "#9e9e9e", "zerows-sync": "#1b5e20", "zerows-tokio": "#43a047",
              "zerows-poll": "#00897b",
              "tokio-tungstenite": "#1e88e5", "fastwebsockets": "#fb8c00",
              "tokio-websockets": "#8e24aa"}
    pw, ph, top, left, gap = 300, 260, 60, 70, 40
    W = left + len(sizes) * (pw + gap) + 20
    H = top + ph + 110
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">Loopback echo, {conns} '
         f'connections: msg/s per server (median, whiskers min–max)</text>']
    for i, size in enumerate(sizes):
        x0 = left + i * (pw + gap)
        vals = []
        for k in inflights:
            for srv in servers:
                vals += [r["msg_per_s"] for r in cells.get((size, conns, k), {}).get(srv, [])]
        vmax = max(vals) * 1.1 if vals else 1
        s.append(f'<text x="{x0 + pw / 2}" y="{top - 12}" text-anchor="middle" '
                 f'font-size="12">{size} B</text>')
        s.append(f'<line x1="{x0}" y1="{top + ph}" x2="{x0 + pw}" y2="{top + ph}" '
                 f'stroke="black"/>')
        s.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{top + ph}" stroke="black"/>')
        for t in range(5):
            v = vmax * t / 4
            y = top + ph - ph * t / 4
            s.append(f'<line x1="{x0 - 4}" y1="{y}" x2="{x0 + pw}" y2="{y}" stroke="#ddd"/>')
            s.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end">'
                     f'{fmt_rate(v, "")}</text>')
        gw = pw / len(inflights)
        bw = (gw - 16) / len(servers)
        for j, k in enumerate(inflights):
            gx = x0 + j * gw + 8
            s.append(f'<text x="{gx + (gw - 16) / 2}" y="{top + ph + 16}" '
                     f'text-anchor="middle">{k} in flight</text>')
            for n, srv in enumerate(servers):
                xs = [r["msg_per_s"] for r in cells.get((size, conns, k), {}).get(srv, [])]
                if not xs:
                    continue
                m = med(xs)
                bx = gx + n * bw
                bh = ph * m / vmax
                s.append(f'<rect x="{bx:.1f}" y="{top + ph - bh:.1f}" width="{bw - 2:.1f}" '
                         f'height="{bh:.1f}" fill="{colors.get(srv, "#555")}">'
                         f'<title>{srv} {size} B {k} in flight: {m:,.0f} msg/s</title></rect>')
                lo, hi = top + ph - ph * min(xs) / vmax, top + ph - ph * max(xs) / vmax
                cx = bx + (bw - 2) / 2
                s.append(f'<line x1="{cx:.1f}" y1="{lo:.1f}" x2="{cx:.1f}" y2="{hi:.1f}" '
                         f'stroke="black"/>')
    ly = top + ph + 40
    for n, srv in enumerate(servers):
        lx = left + n * 150
        yy = ly + (n // 6) * 18
        lx = left + (n % 6) * 150
        s.append(f'<rect x="{lx}" y="{yy}" width="12" height="12" '
                 f'fill="{colors.get(srv, "#555")}"/>')
        s.append(f'<text x="{lx + 16}" y="{yy + 10}">{srv}</text>')
    s.append("</svg>")
    return "\n".join(s)


# ---------------------------------------------------------------------------------------------
# docs/benchmarks.md: every block between the generated markers comes from here

def spread(xs):
    m = med(xs)
    return (max(xs) - min(xs)) / m * 100 if xs and m else 0


def fmt_size(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n:,} B"


def rng(xs, f=lambda x: f"{x:.2f}", unit="×"):
    """`a–b` (or `a` when both ends print the same) followed by the unit."""
    a, b = f(min(xs)), f(max(xs))
    return f"{a}{unit}" if a == b else f"{a}–{b}{unit}"


def listing(items, last="and"):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def poss(name):
    """`name's`, or `name'` for a name ending in s."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def ordinal(n):
    return {1: "fastest", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def verdict(oks, noun=""):
    """`met`, `**missed**`, or in how many of the cells (`noun`: " cells") the target was met."""
    n, k = len(oks), sum(oks)
    if not n:
        return "not measured"
    if k == n:
        return "met" if n == 1 else f"met in all {n}{noun}"
    if k == 0:
        return "**missed**" if n == 1 else f"**missed** in all {n}{noun}"
    return f"met in {k} of {n}{noun}, **missed** in {n - k}"


class Echo:
    """Medians of the loopback echo runs, by cell (size, conns, in flight) and server."""

    def __init__(self, recs):
        self.cells, self.errors = echo_cells(recs)
        self.keys = sorted(self.cells)

    def runs(self, key, server, metric="msg_per_s"):
        return [r[metric] for r in self.cells.get(key, {}).get(server, [])]

    def med(self, key, server, metric="msg_per_s"):
        return med(self.runs(key, server, metric))

    def zerows_best(self, key):
        return max((x for x in (self.med(key, z) for z in ZEROWS) if x), default=None)

    def peer_best(self, key):
        """(name, msg/s) of the fastest peer in the cell, or (None, None)."""
        return max(((p, self.med(key, p)) for p in PEERS if self.med(key, p)),
                   key=lambda kv: kv[1], default=(None, None))

    def ratio(self, key):
        """Faster zerows server's msg/s ÷ fastest peer's (above 1: zerows faster)."""
        z, (_, p) = self.zerows_best(key), self.peer_best(key)
        return z / p if z and p else None

    def sizes(self):
        return sorted({k[0] for k in self.keys})

    def where(self, size=None, inflight=None):
        return [k for k in self.keys if (size is None or k[0] == size)
                and (inflight is None or k[2] == inflight)]


def echo_goal(inflight):
    return 1.1 if inflight > 1 else 1.0


class Crit:
    """criterion medians (ns) by group and function."""

    def __init__(self, groups):
        self.g = groups

    def ns(self, group, fid):
        v = self.g.get(group, {}).get(fid)
        return v["ns"] if v else None

    def groups(self, family):
        return sorted((g for g in self.g if g.split("/")[0] == family), key=group_key)

    def stacks(self, group):
        """The stacks in a group, fastest first (references excluded)."""
        fns = self.g.get(group, {})
        return sorted((k for k in fns if not k.startswith("ref/")
                       and k not in ("memcpy", "naive_byte_loop")), key=lambda k: fns[k]["ns"])

    def zerows(self, group):
        """(name, ns) of the zerows entry: `zerows`, or the faster of zerows-sync/-tokio."""
        fns = self.g.get(group, {})
        if "zerows" in fns:
            return "zerows", fns["zerows"]["ns"]
        zs = [(k, v["ns"]) for k, v in fns.items() if k.startswith("zerows")]
        return min(zs, key=lambda kv: kv[1]) if zs else (None, None)

    def best_peer(self, group):
        fns = self.g.get(group, {})
        peers = [k for k in self.stacks(group) if not k.startswith("zerows")]
        return (peers[0], fns[peers[0]]["ns"]) if peers else (None, None)

    def size(self, group):
        last = group.split("/")[-1]
        return int(last) if last.isdigit() else None

    def bytes_per_cycle(self, group, fid, ghz):
        v = self.g.get(group, {}).get(fid)
        if not v or not ghz or not v.get("tp") or "Bytes" not in v["tp"]:
            return None
        return v["tp"]["Bytes"] / (v["ns"] * ghz)


def block_run(R):
    m = R.meta
    if not m:
        return "No `meta.json` in the results."
    dirty = " + uncommitted changes" if m.get("git_dirty") else ""
    smoke = "; **smoke run: tiny durations, the numbers mean nothing**" if m.get("smoke") else ""
    return (f"Run of {m.get('date_utc')} (`{m.get('command')}`{smoke}; tree "
            f"`{m.get('git')}`{dirty}) on {m.get('cpu')}, {m.get('cpus')} vCPUs; every figure "
            "between `GENERATED` markers on this page is computed by `benches/report.py` from "
            "[`benches/results/`](../benches/results/).")


def block_summary(R):
    E, C, ghz = Echo(R.echo), Crit(R.crit), R.ghz
    out = []
    # loopback echo
    if E.keys:
        parts = []
        for k in sorted({key[2] for key in E.keys}, reverse=True):
            per = [f"{fmt_size(s)} {rng(rs)}" for s in E.sizes()
                   if (rs := [r for key in E.where(s, k) if (r := E.ratio(key))])]
            oks = [r >= echo_goal(k) for key in E.where(inflight=k) if (r := E.ratio(key))]
            parts.append(f"with {k} in flight: {listing(per)} (target ≥ {echo_goal(k):.1f}×: "
                         f"{verdict(oks, ' cells')})")
        small = [key for key in E.keys if key[0] < 65536 and key[2] > 1]
        absolute = ""
        if small:
            zt = [x for key in small if (x := E.med(key, "zerows-tokio"))]
            zs = [x for key in small if (x := E.med(key, "zerows-sync"))]
            pb = [x for key in small if (x := E.peer_best(key)[1])]
            if zt and zs and pb:
                absolute = (f" With several in flight below 64 KiB: zerows-tokio "
                            f"{rng(zt, lambda x: fmt_rate(x, ''), '')} msg/s, zerows-sync "
                            f"{rng(zs, lambda x: fmt_rate(x, ''), '')}, the fastest peer "
                            f"{rng(pb, lambda x: fmt_rate(x, ''), '')}.")
        spreads = [spread(xs) for key in E.keys for s in ZEROWS + PEERS
                   if len(xs := E.runs(key, s)) > 1]
        noise = (f" Run-to-run spread of a cell (max − min, % of its median): "
                 f"{rng(spreads, lambda x: f'{x:.0f}', ' %')}." if spreads else "")
        text = "; ".join(parts)
        out.append("- **Loopback echo, msg/s of the faster zerows server ÷ the fastest peer's "
                   "(above 1: zerows faster).** " + text[:1].upper() + text[1:] + "." + absolute
                   + noise)
    # server CPU per 16 B echo
    cpu = []
    oks = []
    for k in sorted({key[2] for key in E.where(size=16)}):
        rs = []
        for key in E.where(16, k):
            zt, raw = (E.med(key, x, "server_cpu_us_per_msg") for x in ("zerows-tokio", "raw"))
            if zt and raw:
                rs.append(f"{zt / raw:.2f}× ({key[1]:,} conns)")
                oks.append(zt / raw <= 1.1)
        if rs:
            cpu.append(f"{listing(rs)} with {k} in flight")
    if cpu:
        out.append("- **Server CPU per 16 B echo, zerows-tokio ÷ the raw TCP echo:** "
                   + "; ".join(cpu) + f" (target ≤ 1.1×: {verdict(oks, ' cells')}).")
    # memory
    mem = {r["server"]: r for r in R.memory if "error" not in r}
    if "bare" in mem and "zerows-tokio" in mem:
        kib = lambda r, k: r[k] / 1024 if r.get(k) is not None else None  # noqa: E731
        z, b = mem["zerows-tokio"], mem["bare"]
        over = kib(z, "idle_bytes_per_conn") - kib(b, "idle_bytes_per_conn")
        miss = f"missed by {over - 0.5:.2f} KiB" if over > 0.5 else "met"
        peers = [f"{p} {kib(mem[p], 'idle_bytes_per_conn'):.2f} / "
                 f"{kib(mem[p], 'echoed_bytes_per_conn'):.2f} KiB"
                 for p in PEERS if p in mem and mem[p].get("echoed_bytes_per_conn") is not None]
        echoed = kib(z, "echoed_bytes_per_conn")
        out.append(f"- **Idle memory at {z['conns']:,} connections:** zerows-tokio "
                   f"{kib(z, 'idle_bytes_per_conn'):.2f} KiB per idle connection against "
                   f"{kib(b, 'idle_bytes_per_conn'):.2f} KiB for a bare tokio task holding the "
                   f"stream: **{over:+.2f} KiB** (target ≤ +0.5 KiB: {miss})."
                   + (f" After each connection echoed 64 KiB: {echoed:.2f} KiB." if echoed else "")
                   + (f" Peers, idle / after the echo: {listing(peers)}." if peers else ""))
    # handshake
    zn, tn = C.ns("server_upgrade/from_bytes", "zerows"), C.ns("server_upgrade/from_bytes",
                                                               "tungstenite")
    hsa = {r["stack"]: r for r in R.alloc_handshake if "error" not in r}
    if zn and "zerows" in hsa:
        za = hsa["zerows"]["allocs_per_handshake"]
        ok = zn < 1000 and za == 0
        text = (f"- **Server handshake from bytes to bytes:** zerows {fmt_ns(zn)} and {za:g} "
                f"allocations (target < 1 µs and 0: {'met' if ok else '**missed**'})")
        if tn and "tungstenite" in hsa:
            text += (f"; tungstenite {fmt_ns(tn)} ({tn / zn:.2f}× zerows' time) and "
                     f"{hsa['tungstenite']['allocs_per_handshake']:g} allocations")
        by = defaultdict(list)
        for r in R.handshake:
            if "error" not in r:
                by[r["server"]].append(r["cycles_per_s"])
        z = med(by.get("zerows-tokio", []))
        rs = [med(v) / z for s, v in by.items() if not s.startswith("zerows")] if z else []
        if rs:
            text += (f". Over loopback (connect → upgrade → close, one at a time) the other "
                     f"servers' cycles/s, raw included, are {rng(rs)} zerows-tokio's")
        out.append(text + ".")
    # frame layer
    frame = []
    dec = [(C.zerows(g)[1] / ns, p) for g in C.groups("header_decode")
           for p, ns in [C.best_peer(g)] if ns and C.zerows(g)[1]]
    if dec:
        frame.append(f"header decode: zerows takes {rng([r for r, _ in dec])} the fastest "
                     f"peer's time ({listing(sorted({p for _, p in dec}))})")
    enc = C.groups("header_encode")
    if enc:
        zs = [C.ns(g, "zerows") for g in enc if C.ns(g, "zerows")]
        peers = sorted({k for g in enc for k in C.stacks(g) if k != "zerows"})
        # fastest peer first
        peers.sort(key=lambda p: med([C.ns(g, p) for g in enc if C.ns(g, p)]))
        per = [f"{rng(rs)} {poss(p)}" for p in peers
               if (rs := [C.ns(g, "zerows") / C.ns(g, p) for g in enc
                          if C.ns(g, p) and C.ns(g, "zerows")])]
        ranks = defaultdict(list)  # "slowest of 4" -> ["`/125`", ...]
        for g in enc:
            st = C.stacks(g)
            if "zerows" in st:
                i = st.index("zerows") + 1
                label = "slowest" if i == len(st) and i > 1 else ordinal(i)
                ranks[f"{label} of {len(st)}"].append(f"`/{g.split('/', 1)[1]}`")
        rank = "; ".join(f"{r} at {listing(v)}" for r, v in ranks.items())
        frame.append(f"header encode: zerows {rng(zs, lambda x: f'{x:.3g}', ' ns')}, taking "
                     f"{listing(per)} time "
                     f"({rank})")
    um = []
    for g in C.groups("unmask"):
        b = C.bytes_per_cycle(g, "zerows", ghz)
        if b is not None:
            um.append(f"{b:.1f} at {fmt_size(C.size(g))}")
    naive = [(C.ns(g, "zerows") / C.ns(g, "naive_byte_loop"), C.size(g))
             for g in C.groups("unmask") if C.size(g) == 16 and C.ns(g, "naive_byte_loop")]
    if um:
        frame.append("unmask, bytes/cycle at the nominal clock: " + listing(um)
                     + "".join(f"; at {fmt_size(n)} it takes {r:.2f}× a naive byte loop's time"
                               for r, n in naive))
    utf = [g for g in C.groups("utf8") if (C.size(g) or 0) >= 1024 and C.ns(g, "zerows")]
    if utf:
        refs = [("ref/simdutf8_compat", "simdutf8 `compat`'s"),
                ("ref/simdutf8_basic", "`basic`'s"),
                ("ref/core_str_from_utf8", "`core::str::from_utf8`'s")]
        per = [f"{rng(rs)} {label}" for fid, label in refs
               if (rs := [C.ns(g, "zerows") / C.ns(g, fid) for g in utf if C.ns(g, fid)])]
        frame.append(f"UTF-8 from 1 KiB up (ASCII and mixed): zerows takes {listing(per)} time")
    if frame:
        out.append("- **Frame layer (criterion medians, time ratios: below 1, zerows faster):** "
                   + "; ".join(frame) + ".")
    # allocations per message
    allocs = [r for r in R.alloc if "error" not in r]
    if allocs:
        nonzero = [f"{r['stack']} {r['allocs_per_msg']:.3f} at {fmt_size(r['size'])}"
                   for r in allocs if r["allocs_per_msg"] > 0]
        sizes = listing(fmt_size(s) for s in sorted({r["size"] for r in allocs}))
        out.append(f"- **Allocations per echoed message, steady state ({sizes}):** "
                   + (f"non-zero for {listing(nonzero)}; 0 for every other stack."
                      if nonzero else "0 for every stack, zerows included."))
    # in-process message benchmarks
    msg = []
    for g, what in [("echo/100k_16B", "in-memory echo of 100,000 × 16 B"),
                    ("decode/small", "decoding 10,000 × 16 B frames"),
                    ("decode/large", "decoding 100 × 64 KiB frames")]:
        st = C.stacks(g)
        if not st:
            continue
        first = C.ns(g, st[0])
        zs = [f"{z} {ordinal(st.index(z) + 1)} of {len(st)}"
              + ("" if st.index(z) == 0 else f" ({C.ns(g, z) / first:.2f}× {poss(st[0])} time)")
              for z in ZEROWS if z in st]
        msg.append(f"{what} (`{g}`): {listing(zs)}")
    if msg:
        out.append("- **In-process message benchmarks (criterion):** " + "; ".join(msg) + ".")
    return "\n".join(out)


TARGETS = [
    # (what issue 7 asks for, note number in the hand-written notes below the table)
    ("echo-1", "loopback echo msg/s ≥ 1.0× the fastest peer in every cell, 1 in flight", 1),
    ("echo-16", "≥ 1.1× the fastest peer with 16 in flight", 2),
    ("cpu", "server CPU per 16 B echo ≤ 1.1× the raw TCP echo (zerows-tokio)", 3),
    ("unmask", "unmask ≥ 32 bytes/cycle at 16–64 KiB, and faster than a naive byte loop at "
               "16 B", 4),
    ("utf8", "UTF-8 validation at simdutf8 speed from 1 KiB (read as: zerows' time ≤ 1.05× "
             "simdutf8 `compat`'s)", 5),
    ("handshake", "server handshake (bytes to bytes) < 1 µs and 0 allocations", None),
    ("memory", "idle zerows-tokio connection ≤ a bare tokio task + 0.5 KiB", 6),
    # issue 17
    ("poll-echo", "zerows-poll echo msg/s ≥ zerows-tokio's in every cell (issue 17)", None),
    ("poll-memory", "idle zerows-poll connection ≤ 256 bytes of user-space memory (issue 17)",
     None),
]


def target_echo(E, inflight):
    keys = [k for k in E.where(inflight=inflight) if E.ratio(k)]
    if not keys:
        return None
    goal = echo_goal(inflight)
    per = [f"{fmt_size(s)} {rng(rs)}" for s in E.sizes()
           if (rs := [E.ratio(k) for k in keys if k[0] == s])]
    oks = [E.ratio(k) >= goal for k in keys]
    worst = min(E.ratio(k) for k in keys)
    by = f" (by up to {(1 - worst / goal) * 100:.0f} %)" if worst < goal else ""
    return listing(per, "and") + " the fastest peer's msg/s", oks, by


def targets(R):
    """(target text, measured, verdict, note) for every target; measured and verdict computed."""
    E, C, ghz = Echo(R.echo), Crit(R.crit), R.ghz
    rows = []
    for tid, text, note in TARGETS:
        got = None
        if tid == "echo-1":
            got = target_echo(E, 1)
        elif tid == "echo-16":
            got = target_echo(E, 16)
        elif tid == "cpu":
            parts, oks = [], []
            for k in sorted({key[2] for key in E.where(size=16)}):
                rs = []
                for key in E.where(16, k):
                    zt = E.med(key, "zerows-tokio", "server_cpu_us_per_msg")
                    raw = E.med(key, "raw", "server_cpu_us_per_msg")
                    if zt and raw:
                        rs.append(f"{zt / raw:.2f}×")
                        oks.append(zt / raw <= 1.1)
                if rs:
                    conns = listing(f"{key[1]:,}" for key in E.where(16, k))
                    parts.append(f"{k} in flight: {', '.join(rs)} ({conns} conns)")
            if oks:
                got = "; ".join(parts), oks, ""
        elif tid == "unmask":
            parts, oks = [], []
            for g in C.groups("unmask"):
                n = C.size(g)
                b = C.bytes_per_cycle(g, "zerows", ghz)
                if n and 16 << 10 <= n <= 64 << 10 and b is not None:
                    parts.append(f"{b:.1f} bytes/cycle at {fmt_size(n)}")
                    oks.append(b >= 32)
                if n == 16 and C.ns(g, "naive_byte_loop") and C.ns(g, "zerows"):
                    r = C.ns(g, "zerows") / C.ns(g, "naive_byte_loop")
                    parts.append(f"{r:.2f}× the naive loop's time at 16 B")
                    oks.append(r < 1)
            sizes = [fmt_size(C.size(g)) for g in C.groups("unmask")
                     if 16 << 10 <= (C.size(g) or 0) <= 64 << 10]
            if oks:
                got = ("; ".join(parts) + f" (sizes measured in 16–64 KiB: "
                       f"{listing(sizes) or 'none'})"), oks, ""
        elif tid == "utf8":
            rs = [(C.ns(g, "zerows") / C.ns(g, "ref/simdutf8_compat"))
                  for g in C.groups("utf8") if (C.size(g) or 0) >= 1024
                  and C.ns(g, "zerows") and C.ns(g, "ref/simdutf8_compat")]
            if rs:
                got = f"{rng(rs)} simdutf8 `compat`'s time", [r <= 1.05 for r in rs], ""
        elif tid == "handshake":
            zn = C.ns("server_upgrade/from_bytes", "zerows")
            za = next((r["allocs_per_handshake"] for r in R.alloc_handshake
                       if r.get("stack") == "zerows" and "error" not in r), None)
            if zn and za is not None:
                got = f"{fmt_ns(zn)}, {za:g} allocations", [zn < 1000, za == 0], ""
        elif tid == "memory":
            mem = {r["server"]: r for r in R.memory if "error" not in r}
            if "bare" in mem and "zerows-tokio" in mem:
                z = mem["zerows-tokio"]["idle_bytes_per_conn"] / 1024
                b = mem["bare"]["idle_bytes_per_conn"] / 1024
                by = f" (by {z - b - 0.5:.2f} KiB)" if z - b > 0.5 else ""
                got = f"{z - b:+.2f} KiB ({z:.2f} against {b:.2f} KiB)", [z - b <= 0.5], by
        elif tid == "poll-echo":
            rs = [(k, E.med(k, "zerows-poll") / E.med(k, "zerows-tokio")) for k in E.keys
                  if E.med(k, "zerows-poll") and E.med(k, "zerows-tokio")]
            if rs:
                worst_key, worst = min(rs, key=lambda kr: kr[1])
                by = (f" (by up to {(1 - worst) * 100:.0f} %, at {fmt_size(worst_key[0])} × "
                      f"{worst_key[1]} × {worst_key[2]})") if worst < 1 else ""
                got = (f"{rng([r for _, r in rs])} zerows-tokio's msg/s over {len(rs)} cells",
                       [r >= 1 for _, r in rs], by)
        elif tid == "poll-memory":
            mem = {r["server"]: r for r in R.memory if "error" not in r}
            if "zerows-poll" in mem:
                z = mem["zerows-poll"]["idle_bytes_per_conn"]
                got = (f"{z:.0f} bytes at {mem['zerows-poll']['conns']:,} connections",
                       [z <= 256], f" (by {z - 256:.0f} bytes)")
        if got is None:
            rows.append((text, "not measured", "—", note))
            continue
        measured, oks, by = got
        v = verdict(oks)
        if tid in ("unmask", "handshake") and len(oks) > 1:
            missed = sum(not o for o in oks)
            v = "met" if not missed else f"**missed** ({missed} of {len(oks)} checks)"
        rows.append((text, measured, v + (by if not all(oks) else ""), note))
    return rows


def block_targets(R):
    rows = [[t, m, v, str(n) if n else "—"] for t, m, v, n in targets(R)]
    return table(["target (issues 7, 17)", "measured", "verdict", "note"], rows)


def block_figures(R):
    """The figures the hand-written notes on the targets argue with."""
    E, C, ghz = Echo(R.echo), Crit(R.crit), R.ghz
    out = []
    g = "echo/100k_16B"
    per = [f"{z} {fmt_ns(C.ns(g, z) / 1e5)}" for z in ZEROWS if C.ns(g, z)]
    if per:
        out.append(f"- in-process cost of reading and echoing one 16 B message (`{g}` ÷ "
                   f"100,000): {listing(per)}")
    gaps = [E.med(k, "zerows-tokio", "server_cpu_us_per_msg")
            - E.med(k, "raw", "server_cpu_us_per_msg")
            for k in E.where(16) if k[2] > 1 and E.med(k, "zerows-tokio", "server_cpu_us_per_msg")
            and E.med(k, "raw", "server_cpu_us_per_msg")]
    if gaps:
        out.append(f"- server CPU per 16 B echo with several in flight, zerows-tokio minus raw: "
                   f"{rng(gaps, lambda x: f'{x:.2f}', ' µs')}")
    big = [(k, E.med(k, "raw")) for k in E.where(65536) if E.med(k, "raw")]
    if big:
        rates = [x for _, x in big]
        gbs = [x * 65536 / 1e9 for x in rates]
        out.append(f"- 64 KiB echo, raw TCP echo: {rng(rates, lambda x: fmt_rate(x, ''), '')} "
                   f"msg/s, {rng(gbs, lambda x: f'{x:.1f}', ' GB/s')} of payload each way")
    for g in C.groups("unmask"):
        if C.size(g) == 1 << 20:
            b = C.bytes_per_cycle(g, "zerows", ghz)
            m = C.ns(g, "memcpy")
            if b is not None and m:
                out.append(f"- unmask at 1 MiB: {b:.1f} bytes/cycle; `memcpy` of the same size "
                           f"takes {m / C.ns(g, 'zerows'):.2f}× zerows' time")
    sizes = {s["what"]: s["bytes"] for s in R.sizes if "error" not in s}
    names = [("zerows-tokio", "zerows-tokio connection task"), ("bare", "bare task"),
             ("zerows_util::AsyncWebSocket<TcpStream>", "`AsyncWebSocket<TcpStream>`"),
             ("zerows AsyncWebSocket::read_into future", "`read_into` future")]
    got = [f"{label} {sizes[k]:,}" for k, label in names if k in sizes]
    if got:
        out.append(f"- sizes in bytes (`echo_server --sizes`): {listing(got)}")
    return "\n".join(out) if out else "No data."


def block_decode_large(R):
    C = Crit(R.crit)
    g = "decode/large"
    s, t = C.ns(g, "zerows-sync"), C.ns(g, "zerows-tokio")
    if not (s and t):
        return "Not measured in this run."
    text = (f"Measured (`{g}`, 100 × 64 KiB text frames from memory): zerows-sync {fmt_ns(s)}, "
            f"zerows-tokio {fmt_ns(t)} (zerows-sync takes {s / t:.2f}× zerows-tokio's time)")
    p, pn = C.best_peer(g)
    if p:
        text += (f"; the fastest peer, {p}, {fmt_ns(pn)} (zerows-tokio takes {t / pn:.2f}× "
                 f"{poss(p)} time)")
    return text + "."


def block_echo_in_process(R):
    C = Crit(R.crit)
    g = "echo/100k_16B"
    s, t = C.ns(g, "zerows-sync"), C.ns(g, "zerows-tokio")
    if not (s and t):
        return "Not measured in this run."
    return (f"Measured (`{g}`): zerows-sync {fmt_ns(s / 1e5)} per message, zerows-tokio "
            f"{fmt_ns(t / 1e5)} ({t / s:.2f}× zerows-sync's time).")


def block_echo_1kib(R):
    E = Echo(R.echo)
    keys = [k for k in E.where(1024, 1) if E.ratio(k)]
    if not keys:
        return "Not measured in this run."
    rs = listing(f"{E.ratio(k):.2f}× ({k[1]:,} conns)" for k in keys)
    cpu = []
    for k in keys:
        zt = E.med(k, "zerows-tokio", "server_cpu_us_per_msg")
        p, _ = E.peer_best(k)
        pc = E.med(k, p, "server_cpu_us_per_msg")
        if zt and pc:
            cpu.append(f"{zt:.2f} against {poss(p)} {pc:.2f} ({k[1]:,} conns)")
    return (f"Measured, 1 KiB with 1 in flight: the faster zerows server ÷ the fastest peer, "
            f"msg/s: {rs}; server CPU µs per message, zerows-tokio against the fastest peer: "
            f"{listing(cpu)}.")


def block_tables(R):
    meta, groups, ghz = R.meta, R.crit, R.ghz
    echo, hs, memory, sizes, alloc = R.echo, R.handshake, R.memory, R.sizes, R.alloc
    out = []
    if meta:
        out += [f"Generated by `benches/report.py` from the run of {meta.get('date_utc')} "
                f"(`{meta.get('command')}`, tree {meta.get('git')}"
                f"{' + uncommitted changes' if meta.get('git_dirty') else ''}; "
                f"load average {' '.join(meta.get('loadavg_start', []))} at start, "
                f"{' '.join(meta.get('loadavg_end', []))} at end). "
                f"Machine: {meta.get('cpu')} @ {meta.get('cpu_mhz')} MHz, {meta.get('cpus')} "
                f"vCPUs (KVM), Linux {meta.get('kernel')}, {meta.get('rustc')}.", ""]
    # loopback echo
    cells, errors = echo_cells(echo)
    if cells:
        servers = [x for x in ECHO_ORDER if any(x in v for v in cells.values())]
        reps = max((len(v) for c in cells.values() for v in c.values()), default=0)
        out += ["### Loopback echo: msg/s", "",
                f"Median of {reps} interleaved runs, ± the spread (max − min) in % of the median. "
                "**zerows ÷ best peer** compares the faster zerows server with the fastest peer "
                "(target: ≥ 1.0×, ≥ 1.1× with 16 in flight).", ""]
        rows = []
        for key in sorted(cells):
            c = cells[key]
            m = {x: med([r["msg_per_s"] for r in c.get(x, [])]) for x in servers}
            row = [f"{key[0]:,} B", f"{key[1]} × {key[2]}"]
            for x in servers:
                xs = [r["msg_per_s"] for r in c.get(x, [])]
                row.append(f"{fmt_rate(med(xs), '')} ±{spread(xs):.0f}%" if xs else
                           ("fail" if (key, x) in errors else "—"))
            zb = max([m[x] for x in ZEROWS if m.get(x)], default=None)
            pb = max(((p, m[p]) for p in PEERS if m.get(p)), key=lambda kv: kv[1],
                     default=(None, None))
            if zb and pb[1]:
                goal = echo_goal(key[2])
                r = zb / pb[1]
                row += [f"{r:.2f}× ({pb[0]})", "met" if r >= goal else f"**missed** (goal {goal}×)"]
            else:
                row += ["—", "—"]
            rows.append(row)
        out += [table(["size", "conns × in flight"] + servers + ["zerows ÷ best peer", "target"],
                      rows), ""]
        out += ["### Loopback echo: server CPU time per message (µs)", "",
                "From `/proc/PID/stat` (utime + stime over the measured window) ÷ echoed messages; "
                "median of the runs. **÷ raw**: zerows-tokio against the raw TCP echo "
                "(target for 16 B: ≤ 1.1×).", ""]
        rows = []
        for key in sorted(cells):
            c = cells[key]
            m = {x: med([r["server_cpu_us_per_msg"] for r in c.get(x, [])]) for x in servers}
            row = [f"{key[0]:,} B", f"{key[1]} × {key[2]}"]
            row += [f"{m[x]:.2f}" if m.get(x) else "—" for x in servers]
            zt, raw = m.get("zerows-tokio"), m.get("raw")
            zs = m.get("zerows-sync")
            row.append(fmt_ratio(zt / raw) if zt and raw else "—")
            row.append(fmt_ratio(zs / raw) if zs and raw else "—")
            rows.append(row)
        out += [table(["size", "conns × in flight"] + servers
                      + ["zerows-tokio ÷ raw", "zerows-sync ÷ raw"], rows), ""]
    # handshake
    by = defaultdict(list)
    for r in hs:
        if "error" not in r:
            by[r["server"]].append(r["cycles_per_s"])
    if by:
        z = med(by.get("zerows-tokio", []))
        rows = [[x, f"{med(v):,.0f} ±{spread(v):.0f}%",
                 fmt_ratio(med(v) / z) if z and not x.startswith("zerows") else "—"]
                for x in ECHO_ORDER if (v := by.get(x))]
        out += ["### Handshake rate (sequential connect → upgrade → close)", "",
                table(["server", "cycles/s", "peer ÷ zerows-tokio"], rows), ""]
    # memory
    if memory:
        base = next((r for r in memory if r["server"] == "bare" and "error" not in r), None)
        rows = []
        for r in memory:
            if "error" in r:
                rows.append([r["server"], "fail", "—", "—"])
                continue
            idle, echoed = r.get("idle_bytes_per_conn"), r.get("echoed_bytes_per_conn")
            over = idle - base["idle_bytes_per_conn"] if base else None
            rows.append([r["server"], f"{idle / 1024:.2f}",
                         f"{echoed / 1024:.2f}" if echoed is not None else "—",
                         f"{over / 1024:+.2f}" if over is not None else "—"])
        out += [f"### Memory per connection at {memory[0]['conns']:,} connections (KiB, RSS "
                "delta ÷ connections)",
                "", table(["server", "idle after handshake", "idle after one 64 KiB echo",
                           "idle − bare"], rows), ""]
    if sizes:
        out += ["Task future sizes (bytes), from `echo_server --sizes`: "
                + "; ".join(f"{x['what']} {x['bytes']:,}" for x in sizes) + ".", ""]
    # allocations
    alloc = [r for r in alloc if "error" not in r]
    if alloc:
        stacks = list(dict.fromkeys(r["stack"] for r in alloc))
        szs = sorted({r["size"] for r in alloc})
        get = {(r["stack"], r["size"]): r for r in alloc}
        rows = [[x] + [f"{get[(x, z)]['allocs_per_msg']:.3f}" if (x, z) in get else "—"
                       for z in szs] for x in stacks]
        out += ["### Allocations per echoed message (in-memory, steady state)", "",
                table(["stack"] + [f"{z:,} B" for z in szs], rows), ""]
    hsa = [r for r in R.alloc_handshake if "error" not in r]
    if hsa:
        out += ["Allocations per server handshake from bytes (parse + accept + response): "
                + "; ".join(f"{r['stack']} {r['allocs_per_handshake']:.2f} "
                            f"({r['bytes_per_handshake']:,.0f} bytes)" for r in hsa) + ".", ""]
    # microbenchmarks
    if groups:
        rows = []
        for g in sorted(groups, key=group_key):
            fns = groups[g]
            zs = {k: v for k, v in fns.items() if k.startswith("zerows")}
            if not zs or g == "server_upgrade/parts":  # parts: see the full report
                continue
            zname, z = ("zerows", fns["zerows"]) if "zerows" in fns else min(
                zs.items(), key=lambda kv: kv[1]["ns"])
            peers = {k: v for k, v in fns.items()
                     if not k.startswith("zerows") and not k.startswith("ref/")
                     and k not in ("memcpy", "naive_byte_loop")}
            refs = {k: v for k, v in fns.items() if k.startswith("ref/")
                    or k in ("memcpy", "naive_byte_loop")}
            best = min(peers.items(), key=lambda kv: kv[1]["ns"]) if peers else None
            extra = ""
            if g.startswith("unmask/") and ghz and z["tp"]:
                n = list(z["tp"].values())[0]
                extra = f"{n / (z['ns'] * ghz):.1f} B/cycle"
            refs_s = ", ".join(f"{k.removeprefix('ref/')} {fmt_ratio(v['ns'] / z['ns'])}"
                               for k, v in sorted(refs.items()))
            rows.append([g, f"{zname} {fmt_ns(z['ns'])}",
                         f"{best[0]} {fmt_ns(best[1]['ns'])}" if best else "—",
                         fmt_ratio(best[1]["ns"] / z["ns"]) if best else "—",
                         refs_s, extra])
        out += ["### Microbenchmarks (criterion medians)", "",
                "**best peer ÷ zerows** is a time ratio: above 1, zerows is faster. References "
                "(time ÷ zerows) are not peers: memcpy, a naive byte loop, core and simdutf8.", "",
                table(["benchmark", "zerows", "fastest peer", "best peer ÷ zerows",
                       "references ÷ zerows", "note"], rows), ""]
    failures = R.failures()
    if failures:
        out += ["### FAILED", "", "This run had failures; the tables above are incomplete:", ""]
        out += [f"- {f}" for f in failures] + [""]
    return "\n".join(out).rstrip("\n")



# ---------------------------------------------------------------------------------------------
# TLS (the tls phase): zerows over zerows_net::ServerTls against tokio-tungstenite on tokio-rustls
# with the same rustls ServerConfig

class Tls:
    """The tls phase's runs: echo cells (size, conns, in flight) and handshake concurrencies, by
    server, with each run's round (`rep`) so ratios can be taken within a round."""

    def __init__(self, R):
        self.meta = R.tls_meta
        self.echo = defaultdict(lambda: defaultdict(list))
        self.hs = defaultdict(lambda: defaultdict(list))
        self.errors = []
        for r in R.tls_echo:
            if "error" in r:
                self.errors.append(r)
            else:
                self.echo[(r["size"], r["conns"], r["inflight"])][r["server"]].append(r)
        for r in R.tls_handshake:
            if "error" in r:
                self.errors.append(r)
            else:
                self.hs[r["concurrency"]][r["server"]].append(r)
        self.keys = sorted(self.echo)
        self.conc = sorted(self.hs)
        present = {s for c in list(self.echo.values()) + list(self.hs.values()) for s in c}
        self.servers = [s for s in TLS_SERVERS if s in present]

    @staticmethod
    def vals(runs, metric):
        return [r[metric] for r in runs if r.get(metric) is not None]

    def runs(self, table, key, server, metric):
        return self.vals(table.get(key, {}).get(server, []), metric)

    def ratio(self, table, key, server, metric, peer=TLS_PEER):
        """(ratio of the medians, [ratio within each round]) of server ÷ peer, or (None, [])."""
        a, b = self.runs(table, key, server, metric), self.runs(table, key, peer, metric)
        if not a or not b or not med(b):
            return None, []
        by_rep = {r["rep"]: r[metric] for r in table[key][peer] if r.get(metric)}
        rounds = [r[metric] / by_rep[r["rep"]] for r in table[key][server]
                  if r.get(metric) is not None and by_rep.get(r["rep"])]
        return med(a) / med(b), rounds

    def reps(self):
        return max((len(v) for t in (self.echo, self.hs) for c in t.values()
                    for v in c.values()), default=0)


def fmt_ratio_spread(r, rounds):
    """`1.23× (1.10–1.31)`: the ratio of the medians, and the lowest and highest ratio within one
    round (only with several rounds)."""
    if r is None:
        return "—"
    if len(rounds) > 1:
        return f"{r:.2f}× ({min(rounds):.2f}–{max(rounds):.2f})"
    return f"{r:.2f}×"


def tls_tables(T):
    if not T.keys and not T.conc:
        return []
    out = []
    if T.keys:
        out += ["#### TLS echo: msg/s and payload MB/s each way", "",
                f"Median of {T.reps()} interleaved runs, ± the spread (max − min) in % of the "
                f"median. Ratios: the medians' ratio, then in brackets the lowest and highest "
                f"ratio within one round (servers measured back to back); above 1: the zerows "
                f"server is faster.", ""]
        rows = []
        for key in T.keys:
            row = [f"{key[0]:,} B", f"{key[1]} × {key[2]}"]
            for x in T.servers:
                xs = T.runs(T.echo, key, x, "msg_per_s")
                mb = T.runs(T.echo, key, x, "mb_per_s")
                row.append(f"{fmt_rate(med(xs), '')} ±{spread(xs):.0f}% ({med(mb):,.1f} MB/s)"
                           if xs else "fail")
            for z in [x for x in T.servers if x in ZEROWS]:
                row.append(fmt_ratio_spread(*T.ratio(T.echo, key, z, "msg_per_s")))
            rows.append(row)
        zs = [x for x in T.servers if x in ZEROWS]
        out += [table(["size", "conns × in flight"] + T.servers
                      + [f"{z} ÷ {TLS_PEER}" for z in zs], rows), ""]
        out += ["#### TLS echo: server CPU per message (µs) and load generator CPU", "",
                "Server: utime + stime of the server process over the measured window ÷ echoed "
                "messages (median); **÷ peer**: zerows' CPU per message ÷ tokio-tungstenite's "
                "(below 1: zerows uses less). Load generator: its CPU time ÷ the window (median; "
                "near 100 % the client, not the server, sets the pace).", ""]
        rows = []
        for key in T.keys:
            row = [f"{key[0]:,} B", f"{key[1]} × {key[2]}"]
            for x in T.servers:
                xs = T.runs(T.echo, key, x, "server_cpu_us_per_msg")
                row.append(f"{med(xs):.2f}" if xs else "—")
            for z in zs:
                row.append(fmt_ratio_spread(*T.ratio(T.echo, key, z, "server_cpu_us_per_msg")))
            lg = [v for x in T.servers for v in T.runs(T.echo, key, x, "loadgen_cpu_util")]
            row.append(f"{med(lg):.0%}" if lg else "—")
            rows.append(row)
        out += [table(["size", "conns × in flight"] + T.servers
                      + [f"{z} ÷ peer" for z in zs] + ["load generator CPU"], rows), ""]
    if T.conc:
        out += ["#### TLS handshake rate: cycles/s", "",
                "A cycle: TCP connect, full TLS handshake (no resumption), WebSocket upgrade, one "
                "16 B echo, close handshake. K dialers run concurrently in the load generator. "
                "Median ± spread; ratios as above (cycles/s: above 1 zerows faster; server CPU per "
                "cycle: below 1 zerows uses less).", ""]
        rows = []
        zs = [x for x in T.servers if x in ZEROWS]
        for k in T.conc:
            row = [str(k)]
            for x in T.servers:
                xs = T.runs(T.hs, k, x, "cycles_per_s")
                cpu = T.runs(T.hs, k, x, "server_cpu_us_per_cycle")
                row.append(f"{med(xs):,.0f} ±{spread(xs):.0f}% ({med(cpu):,.0f} µs)"
                           if xs else "fail")
            for z in zs:
                row.append(fmt_ratio_spread(*T.ratio(T.hs, k, z, "cycles_per_s")))
            for z in zs:
                row.append(fmt_ratio_spread(*T.ratio(T.hs, k, z, "server_cpu_us_per_cycle")))
            lg = [v for x in T.servers for v in T.runs(T.hs, k, x, "loadgen_cpu_util")]
            row.append(f"{med(lg):.0%}" if lg else "—")
            rows.append(row)
        out += [table(["K dialers"] + [f"{x} (server CPU per cycle)" for x in T.servers]
                      + [f"{z} ÷ peer, cycles/s" for z in zs]
                      + [f"{z} ÷ peer, server CPU" for z in zs] + ["load generator CPU"], rows),
                ""]
    tls = sorted({r.get("tls") for t in (T.echo, T.hs) for c in t.values() for v in c.values()
                  for r in v if r.get("tls")})
    if tls:
        out += ["Negotiated (as the load generator saw it): " + "; ".join(f"`{x}`" for x in tls)
                + ".", ""]
    if T.errors:
        out += ["Failed runs:", ""]
        for r in T.errors:
            where = (f"{r.get('size')} B × {r.get('conns')} × {r.get('inflight')}"
                     if "size" in r else f"{r.get('concurrency')} dialers")
            out.append(f"- {r.get('server')} at {where} (run {r.get('rep')}): {r['error']}")
        out.append("")
    return out


def tls_section(R):
    T = Tls(R)
    body = tls_tables(T)
    if not body:
        return []
    m = T.meta
    head = ["## TLS (wss://): zerows against tokio-tungstenite on the same rustls", ""]
    if m:
        head += [f"Run of {m.get('date_utc')} (`{m.get('command')}`"
                 f"{'; SMOKE' if m.get('smoke') else ''}), load average "
                 f"{' '.join(m.get('loadavg_start', []))} at start, "
                 f"{' '.join(m.get('loadavg_end', []))} at end.", ""]
    return head + [line.replace("#### ", "### ") for line in body]


def tls_goal(inflight):
    return echo_goal(inflight)


def block_tls_run(R):
    m = R.tls_meta
    if not m:
        return "Not measured: no `tls_meta.json` in the results."
    dirty = " + uncommitted changes" if m.get("git_dirty") else ""
    smoke = "; **smoke run: tiny durations, the numbers mean nothing**" if m.get("smoke") else ""
    T = Tls(R)
    c = m.get("config", {})
    return (f"Run of {m.get('date_utc')} (`{m.get('command')}`{smoke}; tree `{m.get('git')}`"
            f"{dirty}) on {m.get('cpu')}, {m.get('cpus')} vCPUs, Linux {m.get('kernel')}, "
            f"{m.get('rustc')}; load average {' '.join(m.get('loadavg_start', []))} at the start "
            f"and {' '.join(m.get('loadavg_end', []))} at the end; {m.get('duration_s')} s. "
            f"{T.reps()} interleaved rounds; each echo run measures {c.get('tls_secs')} s after "
            f"a {c.get('tls_warmup')} s warm-up, each handshake run {c.get('tls_hs_secs')} s.")


def tls_echo_ratios(T, server):
    """`server`'s msg/s ÷ tokio-tungstenite's by in flight and size, with the targets' verdict,
    by how much the worst cell misses, and how many single rounds fall below the target."""
    parts, oks, worst, low, nrounds = [], [], None, 0, 0
    for k in sorted({key[2] for key in T.keys}, reverse=True):
        goal = tls_goal(k)
        per = []
        for size in sorted({key[0] for key in T.keys}):
            rs, rounds = [], []
            for key in T.keys:
                if key[0] == size and key[2] == k:
                    r, rr = T.ratio(T.echo, key, server, "msg_per_s")
                    if r is not None:
                        rs.append(r)
                        rounds += rr
                        oks.append(r >= goal)
                        if r < goal:
                            worst = max(worst or 0, 1 - r / goal)
                        low += sum(x < goal for x in rr)
                        nrounds += len(rr)
            if rs:
                per.append(f"{fmt_size(size)} {rng(rs)}"
                           + (f" (rounds {rng(rounds)})" if len(rounds) > len(rs) else ""))
        if per:
            parts.append(f"with {k} in flight (target ≥ {goal:.1f}×): {listing(per)}")
    text = "; ".join(parts) + ". "
    if not oks:
        return text + "Not measured."
    text += f"Target {verdict(oks, ' cells')}"
    if worst:
        text += f" (by up to {worst * 100:.0f} %)"
    text += (f"; single rounds below their target: {low} of {nrounds}" if low else
             f"; no single round below its target ({nrounds} rounds)") + "."
    return text


def block_tls_summary(R):
    T = Tls(R)
    if not T.keys and not T.conc:
        return "Not measured in this run."
    out = []
    z = "zerows-tokio"
    if T.keys:
        conns = listing(f"{c:,}" for c in sorted({key[1] for key in T.keys}))
        for x, label in [(z, "**TLS echo, zerows-tokio msg/s ÷ tokio-tungstenite's**"),
                         ("zerows-sync", "**zerows-sync over TLS** (thread per connection, "
                          "blocking `ServerTls::accept`), msg/s ÷ tokio-tungstenite's:")]:
            if x not in T.servers:
                continue
            text = tls_echo_ratios(T, x)
            if x == z:
                text = (f"{label} (above 1: zerows faster; each range covers {conns} "
                        f"connections; in brackets the lowest and highest ratio within one "
                        f"round): {text}")
            else:
                text = f"{label} {text}"
            out.append(f"- {text}")
        big = [key for key in T.keys if key[0] == 65536]
        if big:
            per = []
            for x in T.servers:
                mb = [med(v) for key in big if (v := T.runs(T.echo, key, x, "mb_per_s"))]
                if mb:
                    per.append(f"{x} {rng(mb, lambda v: f'{v:,.0f}', ' MB/s')}")
            out.append("- **64 KiB over TLS, payload each way:** " + listing(per) + ".")
        cpu = []
        for k in sorted({key[2] for key in T.keys}, reverse=True):
            rs = [r for key in T.keys if key[2] == k
                  and (r := T.ratio(T.echo, key, z, "server_cpu_us_per_msg")[0])]
            if rs:
                cpu.append(f"{rng(rs)} with {k} in flight")
        if cpu:
            out.append("- **Server CPU per echoed message, zerows-tokio ÷ tokio-tungstenite** "
                       "(below 1: zerows uses less): " + listing(cpu) + ".")
    if T.conc:
        per, cpu, absolute = [], [], []
        for k in T.conc:
            r, rounds = T.ratio(T.hs, k, z, "cycles_per_s")
            c, crounds = T.ratio(T.hs, k, z, "server_cpu_us_per_cycle")
            if r is not None:
                per.append(f"{fmt_ratio_spread(r, rounds)} with {k} "
                           f"dialer{'s' if k > 1 else ''}")
            if c is not None:
                cpu.append(f"{fmt_ratio_spread(c, crounds)} with {k}")
            xs = {x: med(T.runs(T.hs, k, x, "cycles_per_s")) for x in T.servers}
            if all(xs.values()):
                absolute.append(f"{k}: " + ", ".join(f"{x} {v:,.0f}" for x, v in xs.items()))
        lg = [f"{med(v):.0%} with {k}" for k in T.conc
              if (v := [u for x in T.servers for u in T.runs(T.hs, k, x, "loadgen_cpu_util")])]
        out.append("- **TLS handshake rate** (TCP connect, full TLS handshake, upgrade, one echo, "
                   "close), **zerows-tokio cycles/s ÷ tokio-tungstenite's:** " + listing(per)
                   + (f"; server CPU per cycle, zerows-tokio ÷ tokio-tungstenite: {listing(cpu)}"
                      if cpu else "")
                   + (f". Cycles/s by concurrent dialers: {'; '.join(absolute)}" if absolute
                      else "")
                   + (f". Load generator CPU (median, share of its core): {listing(lg)}"
                      if lg else "") + ".")
    return "\n".join(out)


BLOCKS = {
    "run": block_run,
    "summary": block_summary,
    "tables": block_tables,
    "targets": block_targets,
    "figures": block_figures,
    "decode-large": block_decode_large,
    "echo-in-process": block_echo_in_process,
    "echo-1kib": block_echo_1kib,
    "tls-run": block_tls_run,
    "tls-summary": block_tls_summary,
    "tls-tables": lambda R: "\n".join(tls_tables(Tls(R))).strip() or "Not measured.",
}
BLOCK = re.compile(r"^<!-- BEGIN GENERATED \(benches/report\.py --docs\): ([\w-]+) -->\n"
                   r"(.*?)"
                   r"^<!-- END GENERATED: \1 -->$", re.S | re.M)


def wrap(text, width=100):
    """Prose lines wrapped at `width` (list items with a hanging indent); tables, headings and
    blank lines as they are."""
    out = []
    for line in text.split("\n"):
        if not line or line.startswith(("|", "#")) or len(line) <= width:
            out.append(line)
            continue
        indent = "  " if line.startswith("- ") else ""
        # no break between a number and its unit, or a comparison and its number
        glued = re.sub(r"(?<=\d) (?=(B|KiB|MiB|GB/s|ns|µs|ms|k|M|conns|%|of \d)\b)", "\0", line)
        glued = re.sub(r"(?<=[≥≤<>]) (?=[+\d])", "\0", glued)
        out.append(textwrap.fill(glued, width, subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False).replace("\0", " "))
    return "\n".join(out)


def render_docs(doc, R):
    """`doc` with every generated block rewritten from `R`; raises KeyError on an unknown name."""
    def one(m):
        name = m.group(1)
        if name not in BLOCKS:
            raise KeyError(name)
        text = BLOCKS[name](R)
        if name != "tables":  # the tables block keeps its one-line paragraphs
            text = wrap(text)
        return (f"<!-- BEGIN GENERATED (benches/report.py --docs): {name} -->\n\n"
                f"{text}\n\n<!-- END GENERATED: {name} -->")
    begins = len(re.findall(r"^<!-- BEGIN GENERATED", doc, re.M))
    ends = len(re.findall(r"^<!-- END GENERATED", doc, re.M))
    new, n = BLOCK.subn(one, doc)
    if not n == begins == ends:
        raise ValueError(f"{begins} BEGIN and {ends} END GENERATED markers, {n} well-formed "
                         "blocks")
    return new


def report_md(R):
    meta = R.meta
    out = ["# zerows vs peers: results", ""]
    if meta:
        out += [f"- date: {meta.get('date_utc')}; command: `{meta.get('command')}`"
                f"{' (SMOKE: tiny durations, numbers are not meaningful)' if meta.get('smoke') else ''}",
                f"- machine: {meta.get('cpu')} @ {meta.get('cpu_mhz')} MHz, {meta.get('cpus')} "
                f"CPUs, Linux {meta.get('kernel')}; {meta.get('rustc')}",
                f"- tree: {meta.get('git')}{' + uncommitted changes' if meta.get('git_dirty') else ''}"
                f"; load average at start {' '.join(meta.get('loadavg_start', []))}, at end "
                f"{' '.join(meta.get('loadavg_end', []))}; run took {meta.get('duration_s')} s",
                ""]
    failures = R.failures()
    if failures:
        out += [f"## FAILED: {len(failures)} failure(s)", "",
                "The run did not complete; cells marked `fail` and missing rows are these:", ""]
        out += [f"- {f}" for f in failures] + [""]
    out += criterion_section(R.crit, R.ghz)
    out += echo_section(R.echo)
    out += handshake_section(R.handshake)
    out += memory_section(R.memory, R.sizes)
    out += alloc_section(R.alloc)
    out += tls_section(R)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", metavar="DIR",
                    help="read a published results directory (benches/results) instead of the "
                         "last run in the target directory")
    ap.add_argument("--out", metavar="DIR", help="write report.md and echo.svg here (default: "
                    "the target's zerows-bench-results/, or nowhere with --from)")
    ap.add_argument("--publish", metavar="DIR",
                    help="copy report.md, echo.svg, the raw results and criterion.json here")
    ap.add_argument("--publish-only", choices=["tls"],
                    help="with --publish: copy only the results of this phase (tls: "
                         "tls_*.jsonl and tls_meta.json) and regenerate the published report.md "
                         "and echo.svg from the published data; the rest stays as published")
    ap.add_argument("--plot-conns", type=int, default=100)
    ap.add_argument("--docs", metavar="FILE", help="rewrite the generated blocks of this "
                    "markdown file (docs/benchmarks.md) from the data")
    ap.add_argument("--check", action="store_true", help="with --docs: write nothing, exit 1 "
                    "if the file's generated blocks differ from what the data gives")
    ap.add_argument("--quiet", action="store_true", help="do not print the report")
    args = ap.parse_args()
    if args.check and not args.docs:
        ap.error("--check needs --docs")
    if args.publish_only and not args.publish:
        ap.error("--publish-only needs --publish")

    R = Results(args.src)
    md = report_md(R)
    out = Path(args.out) if args.out else (None if args.src else RES)
    if out and not args.check:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(md)
        svg = echo_svg(R.echo, args.plot_conns)
        if svg:
            (out / "echo.svg").write_text(svg)
    if not args.quiet:
        sys.stdout.write(md)
    failures = R.failures()
    status = 0
    if failures:
        status = 1
        print(f"report.py: the results in {R.dir} hold {len(failures)} failure(s):",
              file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
    if args.publish:
        if args.publish_only:  # only the failures of what is published (and of the build)
            failures = [f for f in failures if f.startswith((args.publish_only, "build"))]
        if failures:
            print("report.py: not publishing a run with failures", file=sys.stderr)
            return 1
        if out is None:
            ap.error("--publish needs the report written (drop --from or give --out)")
        dst = Path(args.publish)
        dst.mkdir(parents=True, exist_ok=True)
        if args.publish_only == "tls":
            files = [R.dir / f"{n}.jsonl" for n in TLS_JSONL] + [R.dir / "tls_meta.json"]
        else:
            files = [out / "report.md", out / "echo.svg", R.dir / "meta.json",
                     R.dir / "tls_meta.json"]
            files += [R.dir / f"{n}.jsonl" for n in JSONL]
        for f in files:
            if f.exists():
                shutil.copy(f, dst / f.name)
            elif (dst / f.name).exists():
                (dst / f.name).unlink()  # from an earlier run
        if args.publish_only:
            # the published report and plot, from the published data with the new part
            P = Results(dst)
            (dst / "report.md").write_text(report_md(P))
            svg = echo_svg(P.echo, args.plot_conns)
            if svg:
                (dst / "echo.svg").write_text(svg)
        else:
            # criterion's medians, flattened, so the published numbers can be recomputed
            with open(dst / "criterion.json", "w") as f:
                json.dump(R.crit, f, indent=0, sort_keys=True)
        R = Results(dst)  # the docs from the published copy, so they can be regenerated from it
    if args.docs:
        path = Path(args.docs)
        doc = path.read_text()
        try:
            new = render_docs(doc, R)
        except KeyError as e:
            print(f"report.py: {path}: no generator for the block {e}; known: "
                  f"{', '.join(BLOCKS)}", file=sys.stderr)
            return 2
        except ValueError as e:
            print(f"report.py: {path}: malformed generated blocks: {e}", file=sys.stderr)
            return 2
        if args.check:
            if new != doc:
                sys.stderr.writelines(difflib.unified_diff(
                    doc.splitlines(True), new.splitlines(True), str(path),
                    f"{path} regenerated from {R.dir}"))
                print(f"report.py: {path} is not what {R.dir} gives (a hand edit inside a "
                      f"generated block, or stale tables); regenerate with: python3 "
                      f"benches/report.py --from {R.dir} --docs {path}", file=sys.stderr)
                status = 1
        elif new != doc:
            path.write_text(new)
    return status


if __name__ == "__main__":
    sys.exit(main())
