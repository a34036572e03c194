#!/usr/bin/env python3
"""Side by side: the tables of docs/async.md from the programs of benches/side_by_side/.

    table.py RESULTS.jsonl [--write] [--command CMD]

Lines of code: in each program, the lines between `// side-by-side: begin` and
`// side-by-side: end` that are neither blank nor comments (a line whose first non-space
characters are `//`). Between the markers is what a user writes for the task (imports
included); the measurement harness is outside them.

Allocations: the JSON lines the programs printed (RESULTS.jsonl), see benches/src/side_by_side.rs.

Prints the markdown; with --write also replaces the part of docs/async.md between
`<!-- side-by-side:begin -->` and `<!-- side-by-side:end -->`. Fails if a program has no markers
or a measured program printed nothing.
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "benches" / "side_by_side"
DOC = ROOT / "docs" / "async.md"
BEGIN, END = "<!-- side-by-side:begin -->", "<!-- side-by-side:end -->"

TASKS = [
    ("echo", "(a) tokio echo server"),
    ("client", "(b) client: connect by URL, send one message, read the reply"),
    ("broadcast", "(c) broadcast to N clients"),
    ("forward", "(d) echo as `read.forward(write)` (futures `Stream`/`Sink`)"),
]
STACKS = [("zerows", "zerows"), ("tungstenite", "tokio-tungstenite"), ("axum", "axum `extract::ws`")]


def count_lines(path):
    """Non-blank, non-comment lines between the markers."""
    inside, n, seen = False, 0, False
    for line in path.read_text().splitlines():
        s = line.strip()
        if s == "// side-by-side: begin":
            inside, seen = True, True
        elif s == "// side-by-side: end":
            inside = False
        elif inside and s and not s.startswith("//"):
            n += 1
    if not seen:
        sys.exit(f"table.py: {path} has no side-by-side markers")
    return n


def registered():
    text = (ROOT / "benches" / "Cargo.toml").read_text()
    return set(re.findall(r'^name = "sbs_(\w+)"$', text, re.M))


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, {rustc}"


def fmt(x):
    return f"{x:.2f}"


def render(results, command):
    built = registered()
    out = []
    n_msgs = next((r["messages"] for r in results if r["task"] == "echo"), None)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.append(f"Measured {date} on {machine()}, over loopback (127.0.0.1), with `{command}`.")
    out.append("")
    out.append("**Lines of code** (non-blank, non-comment lines between the `side-by-side` markers of "
               "each program in `benches/side_by_side/`: imports and the task, not the harness):")
    out.append("")
    out.append("| task | " + " | ".join(name for _, name in STACKS) + " |")
    out.append("|---|" + "---:|" * len(STACKS))
    for task, title in TASKS:
        cells = []
        for stack, _ in STACKS:
            path = DIR / f"{task}_{stack}.rs"
            if not path.exists():
                cells.append("—")
            elif f"{task}_{stack}" not in built:
                cells.append(f"{count_lines(path)} (pending: not built yet)")
            else:
                cells.append(str(count_lines(path)))
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"**Allocations per message**, echo of {n_msgs} text messages per size after 100 "
               "warm-up rounds, one client, one message in flight; server and client counted apart "
               "(each on its own thread, tagged for the counting allocator):")
    out.append("")
    out.append("| task | server | client | server 16 B | server 1 KiB | client 16 B | client 1 KiB |")
    out.append("|---|---|---|---:|---:|---:|---:|")
    rows = {}
    for r in results:
        if r["task"] in ("echo", "forward"):
            rows.setdefault((r["task"], r["server"], r["client"]), {})[r["size"]] = r
    for (task, server, client), by_size in rows.items():
        s16, s1k = by_size[16], by_size[1024]
        out.append(f"| {task} | {server} | {client} | {fmt(s16['server_allocs_per_msg'])} | "
                   f"{fmt(s1k['server_allocs_per_msg'])} | {fmt(s16['client_allocs_per_msg'])} | "
                   f"{fmt(s1k['client_allocs_per_msg'])} |")
    if "forward_zerows" not in built:
        out.append("| forward | zerows | zerows | pending | pending | pending | pending |")
    out.append("")
    bc = [r for r in results if r["task"] == "broadcast"]
    if bc:
        out.append(f"**Broadcast**: {bc[0]['clients']} tokio-tungstenite clients, {bc[0]['messages']} "
                   "messages each; the server's allocations per delivery and the broadcaster's per "
                   "message (making the channel's value from a `String` it is given):")
        out.append("")
        out.append("| server | server allocations per delivery | broadcaster allocations per message |")
        out.append("|---|---:|---:|")
        for r in bc:
            out.append(f"| {r['server']} | {r['server_allocs_per_delivery']:.3f} | "
                       f"{r['broadcaster_allocs_per_message']:.3f} |")
    return "\n".join(out) + "\n"


def main():
    args = sys.argv[1:]
    write = "--write" in args
    command = "bash benches/side_by_side/run.sh"
    if "--command" in args:
        command = args[args.index("--command") + 1]
    files = [a for a in args if a.endswith(".jsonl")]
    if len(files) != 1:
        sys.exit(__doc__)
    results = [json.loads(l) for l in Path(files[0]).read_text().splitlines() if l.startswith("{")]
    built = registered()
    server_name = {"zerows": "zerows", "tungstenite": "tokio-tungstenite", "axum": "axum"}
    for name in sorted(built):
        task, stack = name.split("_", 1)
        key = "client" if task == "client" else "server"
        if not any(r["task"] == task and r.get(key) == server_name[stack] for r in results):
            sys.exit(f"table.py: sbs_{name} printed no figures")
    table = render(results, command)
    sys.stdout.write(table)
    if write:
        doc = DOC.read_text()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"table.py: {DOC} lacks the {BEGIN} / {END} markers")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(head + BEGIN + "\n" + table + END + tail)


if __name__ == "__main__":
    main()
