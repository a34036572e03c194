#!/usr/bin/env python3
"""Turns the benchmark results into markdown tables (ratios computed here, never typed) and an
SVG plot. Standard library only.

Reads  $CARGO_TARGET_DIR/criterion/**/new/{benchmark,estimates}.json  (criterion)
       $CARGO_TARGET_DIR/zerows-bench-results/*.jsonl, meta.json    (benches/run.py)
Writes the markdown to stdout and to zerows-bench-results/report.md, the plot to
       zerows-bench-results/echo.svg; with --publish DIR, copies report.md, echo.svg and the raw
       results there too (benches/results/ is what docs/benchmarks.md links to).

Ratios are always  peer / zerows  of the metric in the table; each table says which way is
better. The zerows reference is named in each table.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
RES = TARGET / "zerows-bench-results"
CRIT = TARGET / "criterion"

ECHO_ORDER = ["raw", "zerows-sync", "zerows-tokio", "tokio-tungstenite", "fastwebsockets",
              "tokio-websockets"]
PEERS = ["tokio-tungstenite", "fastwebsockets", "tokio-websockets"]
ZEROWS = ["zerows-sync", "zerows-tokio"]


def load_jsonl(name):
    p = RES / f"{name}.jsonl"
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


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

def load_criterion():
    groups = defaultdict(dict)
    if not CRIT.exists():
        return groups
    for bj in CRIT.glob("**/new/benchmark.json"):
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
            zbest = max([x for x in (zt, zs) if x], default=None)
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
# the condensed tables for docs/benchmarks.md

def spread(xs):
    m = med(xs)
    return (max(xs) - min(xs)) / m * 100 if xs and m else 0


def summary(meta, groups, ghz, echo, hs, memory, sizes, alloc):
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
                goal = 1.1 if key[2] > 1 else 1.0
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
        out += [f"### Memory per connection at {memory[0]['conns']:,} connections (KiB, RSS delta ÷ connections)",
                "", table(["server", "idle after handshake", "idle after one 64 KiB echo",
                           "idle − bare"], rows), ""]
    if sizes:
        out += ["Task future sizes (bytes), from `echo_server --sizes`: "
                + "; ".join(f"{x['what']} {x['bytes']:,}" for x in sizes) + ".", ""]
    # allocations
    if alloc:
        stacks = list(dict.fromkeys(r["stack"] for r in alloc))
        szs = sorted({r["size"] for r in alloc})
        get = {(r["stack"], r["size"]): r for r in alloc}
        rows = [[x] + [f"{get[(x, z)]['allocs_per_msg']:.3f}" if (x, z) in get else "—"
                       for z in szs] for x in stacks]
        out += ["### Allocations per echoed message (in-memory, steady state)", "",
                table(["stack"] + [f"{z:,} B" for z in szs], rows), ""]
    hsa = load_jsonl("alloc_handshake")
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
    return out


def update_docs(path, text):
    begin, end = "<!-- BEGIN GENERATED (benches/report.py --docs) -->", "<!-- END GENERATED -->"
    p = Path(path)
    doc = p.read_text() if p.exists() else f"{begin}\n{end}\n"
    if begin not in doc or end not in doc:
        doc += f"\n{begin}\n{end}\n"
    pre, rest = doc.split(begin, 1)
    _, post = rest.split(end, 1)
    p.write_text(pre + begin + "\n\n" + text + "\n" + end + post)

# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publish", help="copy report.md, echo.svg and raw results to this dir")
    ap.add_argument("--plot-conns", type=int, default=100)
    ap.add_argument("--docs", help="replace the generated block of this markdown file "
                    "(docs/benchmarks.md) with the condensed tables")
    args = ap.parse_args()

    meta = {}
    if (RES / "meta.json").exists():
        meta = json.loads((RES / "meta.json").read_text())
    ghz = None
    try:
        ghz = float(meta.get("cpu_mhz") or 0) / 1000 or None
    except ValueError:
        pass
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
    echo = load_jsonl("echo")
    out += criterion_section(load_criterion(), ghz)
    out += echo_section(echo)
    out += handshake_section(load_jsonl("handshake"))
    out += memory_section(load_jsonl("memory"), load_jsonl("sizes"))
    out += alloc_section(load_jsonl("alloc"))
    md = "\n".join(out) + "\n"
    RES.mkdir(parents=True, exist_ok=True)
    (RES / "report.md").write_text(md)
    svg = echo_svg(echo, args.plot_conns)
    if svg:
        (RES / "echo.svg").write_text(svg)
    sys.stdout.write(md)
    if args.docs:
        text = "\n".join(summary(meta, load_criterion(), ghz, echo, load_jsonl("handshake"),
                                 load_jsonl("memory"), load_jsonl("sizes"), load_jsonl("alloc")))
        update_docs(args.docs, text)
    if args.publish:
        dst = Path(args.publish)
        dst.mkdir(parents=True, exist_ok=True)
        for f in ["report.md", "echo.svg", "meta.json", "echo.jsonl", "handshake.jsonl",
                  "memory.jsonl", "sizes.jsonl", "alloc.jsonl", "alloc_handshake.jsonl"]:
            if (RES / f).exists():
                shutil.copy(RES / f, dst / f)
        # criterion's medians, flattened, so the published numbers can be recomputed
        crit = load_criterion()
        with open(dst / "criterion.json", "w") as f:
            json.dump(crit, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
