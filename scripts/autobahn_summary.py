#!/usr/bin/env python3
"""Summarise an Autobahn (kosoku) report directory and judge it strictly.

Reads the ``index.json`` that ``kosoku`` writes (layout: agent -> case id ->
{behavior, behaviorClose, remoteCloseCode, duration, reportfile}) and prints:

* a per-section table (OK, INFORMATIONAL, NON-STRICT, FAILED, UNCLEAN,
  UNIMPLEMENTED, other),
* every case whose behavior or behaviorClose is not OK, with both verdicts,
  the peer's close code and (when the per-case report file sits next to the
  index) kosoku's explanation,
* the section 9 cases with their duration in ms, slowest first,
* optionally the same as markdown (``--markdown [FILE]``) for docs/conformance.md.

Verdict: a case passes only when both ``behavior`` and ``behaviorClose`` are
``OK`` or ``INFORMATIONAL``. NON-STRICT, FAILED, UNCLEAN, UNIMPLEMENTED,
WRONG CODE, FAILED BY CLIENT, kosoku's ERROR and anything else fail, and so
does a case listed in ``--expect-file`` that the report lacks (kosoku only
reports the cases that actually ran: in fuzzingserver mode a client that skips
cases and then calls /updateReports yields a short, all-green report).
This is stricter than kosoku's own exit code, which accepts NON-STRICT.

Exit status: 0 all cases pass, 1 some case fails or is missing,
2 the report could not be read (missing/empty index.json, unknown agent).

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict

ACCEPTED = ("OK", "INFORMATIONAL")
COLUMNS = ("OK", "INFORMATIONAL", "NON-STRICT", "FAILED", "UNCLEAN", "UNIMPLEMENTED", "other")
MISSING = "MISSING"

# What the sections test (Autobahn TestSuite numbering; there is no 8 or 11).
SECTION_NAMES = {
    "1": "Framing (text and binary payloads, lengths 0 .. 64K)",
    "2": "Pings/Pongs",
    "3": "Reserved bits",
    "4": "Opcodes (reserved data and control opcodes)",
    "5": "Fragmentation",
    "6": "UTF-8 handling",
    "7": "Close handling",
    "9": "Limits/performance (large messages, many fragments)",
    "10": "Miscellaneous (auto-fragmentation)",
    "12": "WebSocket compression (permessage-deflate, echo)",
    "13": "WebSocket compression (permessage-deflate, parameters)",
}


# kosoku's texts for a verdict that is fine on that side: not worth printing.
_NOISE = ("Actual events match at least one expected.", "Connection was properly closed")


def case_key(case_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def outcome(behavior: str, behavior_close: str) -> str:
    """One label per case: the first failing verdict, else INFORMATIONAL/OK."""
    if behavior not in ACCEPTED:
        return behavior
    if behavior_close not in ACCEPTED:
        return behavior_close
    if "INFORMATIONAL" in (behavior, behavior_close):
        return "INFORMATIONAL"
    return "OK"


def column(label: str) -> str:
    return label if label in COLUMNS else "other"


def load_index(path: str) -> tuple[dict, str]:
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise SystemExit(f"error: {path} not found (kosoku writes no report when no case ran)") from None
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read {path}: {e}") from None
    if not isinstance(index, dict) or not index:
        raise SystemExit(f"error: {path} holds no agent")
    return index, os.path.dirname(os.path.abspath(path))


def load_expected(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def case_detail(report_dir: str, entry: dict) -> dict:
    """kosoku's per-case report, if it is next to the index (best effort)."""
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        with open(os.path.join(report_dir, name), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class AgentSummary:
    def __init__(self, agent: str, cases: dict, report_dir: str, expected: list[str] | None):
        self.agent = agent
        self.rows: list[dict] = []
        for cid, entry in cases.items():
            b, bc = entry.get("behavior", "?"), entry.get("behaviorClose", "?")
            self.rows.append(
                {
                    "id": cid,
                    "behavior": b,
                    "behaviorClose": bc,
                    "outcome": outcome(b, bc),
                    "duration": entry.get("duration"),
                    "remoteCloseCode": entry.get("remoteCloseCode"),
                    "entry": entry,
                }
            )
        self.missing = sorted(set(expected or ()) - set(cases), key=case_key)
        self.unexpected = sorted(set(cases) - set(expected), key=case_key) if expected is not None else []
        for cid in self.missing:
            self.rows.append(
                {"id": cid, "behavior": MISSING, "behaviorClose": MISSING, "outcome": MISSING,
                 "duration": None, "remoteCloseCode": None, "entry": {}}
            )
        self.rows.sort(key=lambda r: case_key(r["id"]))
        self.report_dir = report_dir

        self.sections: dict[str, Counter] = defaultdict(Counter)
        for r in self.rows:
            self.sections[r["id"].split(".")[0]][column(r["outcome"])] += 1
        self.non_ok = [r for r in self.rows if r["behavior"] != "OK" or r["behaviorClose"] != "OK"]
        self.failures = [r for r in self.rows if r["outcome"] not in ACCEPTED]
        self.other_labels = sorted({r["outcome"] for r in self.rows if column(r["outcome"]) == "other"})
        self.sec9 = sorted(
            (r for r in self.rows if r["id"].split(".")[0] == "9" and r["outcome"] != MISSING),
            key=lambda r: (-(r["duration"] or 0), case_key(r["id"])),
        )

    @property
    def ok(self) -> bool:
        return not self.failures

    def explain(self, r: dict) -> str:
        if r["outcome"] == MISSING:
            return "case did not run (absent from the report)"
        d = case_detail(self.report_dir, r["entry"])
        parts = []
        for key in ("result", "resultClose"):
            if d.get(key) and d[key] not in parts and d[key] not in _NOISE:
                parts.append(d[key])
        if r["behavior"] == "NON-STRICT" and isinstance(d.get("expected"), dict) and "OK" in d["expected"]:
            # "Actual events match at least one expected" says nothing here:
            # show what strict OK wanted against what arrived.
            def brief(events) -> str:
                s = json.dumps(events)
                return s if len(s) <= 120 else s[:117] + "..."
            parts.append(f"received {brief(d.get('received'))}, OK expects {brief(d['expected']['OK'])}")
        if d.get("remoteCloseReason"):
            parts.append(f"peer close reason: {d['remoteCloseReason']!r}")
        if d.get("wasNotCleanReason"):
            parts.append(f"not clean: {d['wasNotCleanReason']}")
        return "; ".join(parts)

    # ---- text -----------------------------------------------------------------
    def text(self, out, quiet: bool = False) -> None:
        w = out.write
        total = len(self.rows)
        w(f"Agent: {self.agent}  ({total} cases)\n\n")
        hdr = ("section",) + COLUMNS + ("total",)
        widths = [max(7, len(h)) for h in hdr]
        w("  ".join(h.rjust(widths[i]) for i, h in enumerate(hdr)) + "\n")
        totals = Counter()
        for sec in sorted(self.sections, key=lambda s: case_key(s)):
            c = self.sections[sec]
            totals.update(c)
            vals = [sec] + [str(c.get(k, 0)) for k in COLUMNS] + [str(sum(c.values()))]
            w("  ".join(v.rjust(widths[i]) for i, v in enumerate(vals)) + "\n")
        vals = ["all"] + [str(totals.get(k, 0)) for k in COLUMNS] + [str(sum(totals.values()))]
        w("  ".join(v.rjust(widths[i]) for i, v in enumerate(vals)) + "\n")
        if self.other_labels:
            w(f"  ('other' = {', '.join(self.other_labels)})\n")

        listed = self.failures if quiet else self.non_ok
        w(f"\nNon-OK cases ({len(self.non_ok)}, {len(self.failures)} failing):\n")
        if not listed:
            w("  none\n")
        for r in listed:
            verdict = "FAIL" if r["outcome"] not in ACCEPTED else "info"
            code = r["remoteCloseCode"]
            dur = "" if r["duration"] is None else f" {r['duration']}ms"
            w(f"  [{verdict}] {r['id']:<8} behavior={r['behavior']:<13} behaviorClose={r['behaviorClose']:<13}"
              f" closeCode={code}{dur}\n")
            why = self.explain(r)
            if why:
                w(f"         {why}\n")
        if self.unexpected:
            w(f"\nCases reported but not expected ({len(self.unexpected)}): {' '.join(self.unexpected)}\n")

        if self.sec9 and not quiet:
            w(f"\nSection 9 durations (ms, slowest first, {len(self.sec9)} cases):\n")
            for r in self.sec9:
                flag = "" if r["outcome"] in ACCEPTED else f"  <- {r['outcome']}"
                w(f"  {r['id']:<8} {r['duration'] if r['duration'] is not None else '?':>7}{flag}\n")
            total_ms = sum(r["duration"] or 0 for r in self.sec9)
            w(f"  {'sum':<8} {total_ms:>7}\n")

        w("\n" + ("PASS" if self.ok else "FAIL") +
          f": {total - len(self.failures)} of {total} cases OK/INFORMATIONAL"
          + (f", {len(self.failures)} failing" if self.failures else "")
          + (f" ({len(self.missing)} missing)" if self.missing else "") + "\n")

    # ---- markdown -------------------------------------------------------------
    def markdown(self, out, title: str | None, level: int) -> None:
        w = out.write
        h = "#" * level
        if title:
            w(f"{h} {title}\n\n")
        total = len(self.rows)
        w(f"Agent `{self.agent}`: {total - len(self.failures)} of {total} cases OK or INFORMATIONAL"
          f" — **{'PASS' if self.ok else 'FAIL'}**.\n\n")
        w("| Section | What it tests | " + " | ".join(COLUMNS) + " | Total |\n")
        w("|---|---|" + "---:|" * (len(COLUMNS) + 1) + "\n")
        totals = Counter()
        for sec in sorted(self.sections, key=lambda s: case_key(s)):
            c = self.sections[sec]
            totals.update(c)
            w(f"| {sec} | {SECTION_NAMES.get(sec, '')} | "
              + " | ".join(str(c.get(k, 0)) for k in COLUMNS) + f" | {sum(c.values())} |\n")
        w("| **all** | | " + " | ".join(f"**{totals.get(k, 0)}**" for k in COLUMNS)
          + f" | **{sum(totals.values())}** |\n\n")
        if self.other_labels:
            w(f"'other' = {', '.join(self.other_labels)}.\n\n")

        if self.non_ok:
            w(f"{h}# Non-OK cases\n\n| Case | behavior | behaviorClose | Peer close code | Verdict |\n|---|---|---|---:|---|\n")
            for r in self.non_ok:
                verdict = "fail" if r["outcome"] not in ACCEPTED else "accepted"
                w(f"| {r['id']} | {r['behavior']} | {r['behaviorClose']} | {r['remoteCloseCode'] if r['remoteCloseCode'] is not None else ''} | {verdict} |\n")
            w("\n")
        if self.sec9:
            w(f"{h}# Section 9 durations (ms, slowest first)\n\n| Case | ms | Case | ms | Case | ms |\n|---|---:|---|---:|---|---:|\n")
            cols = 3
            nrows = (len(self.sec9) + cols - 1) // cols
            for i in range(nrows):
                cells = []
                for j in range(cols):
                    k = j * nrows + i
                    if k < len(self.sec9):
                        r = self.sec9[k]
                        cells += [r["id"], str(r["duration"])]
                    else:
                        cells += ["", ""]
                w("| " + " | ".join(cells) + " |\n")
            w("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", help="kosoku's index.json, or the report directory holding it")
    ap.add_argument("--agent", help="only this agent (default: every agent in the index)")
    ap.add_argument("--per-agent", action="store_true",
                    help="one summary per agent (default: all agents of the index as one run)")
    ap.add_argument("--expect-file", help="file of case ids (one a line) that must all be in the report")
    ap.add_argument("--markdown", nargs="?", const="-", metavar="FILE",
                    help="also emit markdown, to FILE or (no FILE / '-') to stdout instead of the text summary")
    ap.add_argument("--title", help="markdown heading (e.g. 'Server, sync')")
    ap.add_argument("--heading-level", type=int, default=3, help="markdown heading level (default 3)")
    ap.add_argument("--quiet", action="store_true", help="text: list only the failing cases, no section 9 durations")
    args = ap.parse_args(argv)

    try:
        index, report_dir = load_index(args.index)
        expected = load_expected(args.expect_file) if args.expect_file else None
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    summaries = []
    if args.agent or args.per_agent:
        for agent in [args.agent] if args.agent else sorted(index):
            if agent not in index:
                print(f"error: agent {agent!r} not in report (agents: {', '.join(sorted(index))})", file=sys.stderr)
                return 2
            summaries.append(AgentSummary(agent, index[agent], report_dir, expected))
    else:
        # One run, one peer -- but kosoku keys each case by the agent it saw:
        # the Server header in fuzzingclient mode, or the address when the
        # handshake never completed (connection refused: behavior ERROR).
        # Merge them; should a case sit under two agents, keep the worse.
        merged: dict = {}
        for agent in sorted(index):
            for cid, entry in index[agent].items():
                old = merged.get(cid)
                if old is None or outcome(old["behavior"], old["behaviorClose"]) in ACCEPTED:
                    merged[cid] = entry
        summaries.append(AgentSummary(", ".join(sorted(index)), merged, report_dir, expected))

    md_to_stdout = args.markdown == "-"
    if not md_to_stdout:
        for i, s in enumerate(summaries):
            if i:
                sys.stdout.write("\n")
            s.text(sys.stdout, quiet=args.quiet)
    if args.markdown:
        if md_to_stdout:
            out = sys.stdout
        else:
            out = open(args.markdown, "w", encoding="utf-8")
        try:
            for s in summaries:
                title = args.title if len(summaries) == 1 else f"{args.title or 'Agent'}: {s.agent}"
                s.markdown(out, title, args.heading_level)
        finally:
            if out is not sys.stdout:
                out.close()
    return 0 if all(s.ok for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
