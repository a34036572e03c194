#!/usr/bin/env python3
"""Tests of the benchmark harness (benches/run.py, benches/report.py); standard library only.

    python3 benches/test_harness.py        (bash benches/run.sh --smoke runs it first)

- Every phase of run.py fails the run (exit 1, each failure named) when its program fails: fake
  `echo_server`, `loadgen`, `alloc_count` (ZEROWS_BENCH_BIN) and `cargo` (first on PATH) that
  fail in a chosen way (FAKE_FAIL); with fakes that all succeed, the whole smoke run exits 0.
- report.py exits 1 on results holding a failure, and still writes the report, marking it.
- docs/benchmarks.md is exactly what report.py makes of benches/results/ (no hand edit inside a
  generated block, no stale table), and so are benches/results/report.md and echo.svg.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benches" / "run.py"
REPORT = ROOT / "benches" / "report.py"
RESULTS = ROOT / "benches" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"

# One fake for every program; what it does depends on its name and on FAKE_FAIL (a comma-separated
# list of failures to act out).
FAKE = textwrap.dedent("""\
    import json, os, sys, time
    fail = set(filter(None, os.environ.get("FAKE_FAIL", "").split(",")))
    name, args = os.path.basename(sys.argv[0]), sys.argv[1:]

    def out(rec):
        print(json.dumps(rec), flush=True)

    if name == "cargo":
        sys.exit(101 if "cargo" in fail else 0)

    if name == "alloc_count":
        if "alloc_count" in fail:
            sys.exit("alloc_count: panicked")
        out({"mode": "alloc_handshake", "stack": "zerows", "allocs_per_handshake": 0.0,
             "bytes_per_handshake": 0.0})
        for size in (16, 65536):
            for stack in ("zerows-sync", "zerows-tokio", "tungstenite"):
                out({"mode": "alloc", "stack": stack, "size": size, "n": 10,
                     "allocs_per_msg": 0.0, "bytes_per_msg": 0.0, "setup_allocs": 3})
        sys.exit(0)

    if name == "echo_server":
        if "--gen-cert" in args:
            if "gen-cert" in fail:
                sys.exit("echo_server --gen-cert: failed")
            d = args[args.index("--gen-cert") + 1]
            for f in ("ca.pem", "cert.pem", "key.pem"):
                open(os.path.join(d, f), "w").write("fake")
            sys.exit(0)
        if "--tls-cert" in args and "tls-server-dies" in fail:
            print("listening 127.0.0.1:9", flush=True)
            sys.exit(4)
        if "--sizes" in args:
            if "sizes" in fail:
                sys.exit("echo_server --sizes: failed")
            out({"mode": "future_size", "what": "bare", "bytes": 208})
            sys.exit(0)
        if "server-nostart" in fail:
            sys.exit("echo_server: cannot bind")
        print("listening 127.0.0.1:9", flush=True)
        if "server-dies" in fail:
            sys.exit(3)
        while True:
            time.sleep(60)

    if name == "loadgen":
        mode = args[0]
        if "loadgen" in fail:
            sys.exit(f"loadgen {mode}: echo mismatch at byte 3 of a 18-byte frame")
        if "loadgen-hang" in fail:
            time.sleep(600)
        if "loadgen-garbage" in fail:
            print("thread 'main' panicked", flush=True)
            sys.exit(0)
        rate = 0.0 if "loadgen-zero" in fail else 1000.0
        if mode == "echo":
            out({"mode": "echo", "msgs": 100, "msg_per_s": rate, "server_cpu_s": 0.1,
                 "server_cpu_us_per_msg": 1.0, "loadgen_cpu_util": 0.5})
        elif mode == "handshake":
            out({"mode": "handshake", "cycles": 10, "secs": 0.2, "cycles_per_s": rate})
        elif mode == "tls-echo":
            if not os.path.exists(args[args.index("--ca") + 1]):
                sys.exit("loadgen tls-echo: no CA file")
            out({"mode": "tls_echo", "msgs": 100, "msg_per_s": rate, "mb_per_s": rate / 1e4,
                 "server_cpu_s": 0.1, "server_cpu_us_per_msg": 1.0, "loadgen_cpu_util": 0.5,
                 "tls": "TLSv1_3 fake"})
        elif mode == "tls-handshake":
            out({"mode": "tls_handshake", "cycles": 10, "secs": 0.2, "cycles_per_s": rate,
                 "server_cpu_us_per_cycle": 100.0, "loadgen_cpu_util": 0.9,
                 "tls": "TLSv1_3 fake"})
        elif mode == "idle":
            print("READY handshake", flush=True)
            sys.stdin.readline()
            if "--echo-size" in args:
                print("READY echoed", flush=True)
            sys.stdin.read()
        sys.exit(0)

    sys.exit(f"fake: unknown program {name}")
    """)


class Harness(unittest.TestCase):
    """run.py against fakes, in a temporary target directory."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="zerows-harness-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        bin_dir = self.tmp / "bin"
        path_dir = self.tmp / "path"
        bin_dir.mkdir()
        path_dir.mkdir()
        script = f"#!{sys.executable}\n{FAKE}"
        for d, name in [(bin_dir, "echo_server"), (bin_dir, "loadgen"),
                        (bin_dir, "alloc_count"), (path_dir, "cargo")]:
            p = d / name
            p.write_text(script)
            p.chmod(p.stat().st_mode | stat.S_IXUSR)
        self.out = self.tmp / "target" / "zerows-bench-results"
        self.env = dict(os.environ, CARGO_TARGET_DIR=str(self.tmp / "target"),
                        ZEROWS_BENCH_BIN=str(bin_dir), ZEROWS_BENCH_PAUSE="0",
                        ZEROWS_BENCH_TIMEOUT="20",
                        PATH=f"{path_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def run_py(self, only, fail="", timeout=None):
        env = dict(self.env, FAKE_FAIL=fail)
        if timeout is not None:
            env["ZEROWS_BENCH_TIMEOUT"] = str(timeout)
        return subprocess.run([sys.executable, str(RUN), "--smoke", "--no-build", "--only", only],
                              env=env, capture_output=True, text=True, timeout=600)

    def report_py(self, *args):
        return subprocess.run([sys.executable, str(REPORT), "--quiet", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def assert_failed(self, p, *words):
        self.assertNotEqual(p.returncode, 0, p.stderr)
        summary = p.stderr[p.stderr.find("failure(s):"):]
        self.assertIn("failure(s):", p.stderr)
        for w in words:
            self.assertIn(w, summary)

    def test_a_run_where_everything_succeeds_exits_0(self):
        p = self.run_py("criterion,alloc,echo,handshake,memory,tls,report")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("no failures", p.stderr)
        report = (self.out / "report.md").read_text()
        self.assertNotIn("FAILED", report)
        self.assertIn("## Loopback echo", report)
        self.assertIn("## Memory per idle connection", report)
        self.assertIn("## TLS", report)
        self.assertIn("TLS handshake rate", report)
        self.assertEqual(self.report_py().returncode, 0)

    def test_each_phase_fails_the_run_when_its_program_fails(self):
        for phase, fail, words in [
            ("criterion", "cargo", ["criterion", "exit code 101"]),
            ("alloc", "alloc_count", ["alloc_count", "panicked"]),
            ("echo", "loadgen", ["echo", "echo mismatch"]),
            ("handshake", "loadgen", ["handshake", "echo mismatch"]),
            ("memory", "loadgen", ["memory", "READY handshake"]),
            ("tls", "loadgen", ["tls", "echo mismatch"]),
        ]:
            with self.subTest(phase=phase):
                self.assert_failed(self.run_py(phase, fail), *words)
                # the report of those results fails too, and says why
                r = self.report_py()
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("FAILED", (self.out / "report.md").read_text())
                self.assertIn(words[-1], r.stderr)
                # and so does run.py's own report phase
                self.assert_failed(self.run_py("report"), "benches/report.py")

    def test_a_failure_in_one_phase_fails_a_run_of_every_phase(self):
        p = self.run_py("criterion,alloc,echo,handshake,memory,tls,report", "loadgen")
        self.assert_failed(p, "echo mismatch", "echo:", "handshake:", "memory:", "tls:")
        self.assertIn("phase memory", p.stderr)  # went on after the echo failures
        self.assertIn("phase tls", p.stderr)

    def test_every_kind_of_echo_failure_is_a_failure(self):
        for fail, words, timeout in [
            ("loadgen-garbage", ["printed no result"], None),
            ("loadgen-zero", ["msg_per_s = 0.0"], None),
            ("loadgen-hang", ["timed out"], 0.5),
            ("server-dies", ["exited with code 3"], None),
            ("server-nostart", ["did not start"], None),
        ]:
            with self.subTest(fail=fail):
                self.assert_failed(self.run_py("echo", fail, timeout), *words)
                self.assertEqual(self.report_py().returncode, 1)

    def test_every_kind_of_tls_failure_is_a_failure(self):
        for fail, words, timeout in [
            ("gen-cert", ["tls", "echo_server --gen-cert"], None),
            ("tls-server-dies", ["tls", "exited with code 4"], None),
            ("server-nostart", ["tls", "did not start"], None),
            ("loadgen-garbage", ["tls", "printed no result"], None),
            ("loadgen-zero", ["tls", "msg_per_s = 0.0", "cycles_per_s = 0.0"], None),
            ("loadgen-hang", ["tls", "timed out"], 0.5),
        ]:
            with self.subTest(fail=fail):
                self.assert_failed(self.run_py("tls", fail, timeout), *words)
                r = self.report_py()
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("FAILED", (self.out / "report.md").read_text())

    def test_a_tls_server_that_dies_fails_every_run_after_it(self):
        p = self.run_py("tls", "tls-server-dies")
        self.assert_failed(p, "zerows-tokio", "tokio-tungstenite", "zerows-sync")
        recs = [json.loads(x) for x in (self.out / "tls_echo.jsonl").read_text().splitlines()]
        self.assertTrue(recs and all("error" in r for r in recs), recs)
        recs = [json.loads(x) for x in
                (self.out / "tls_handshake.jsonl").read_text().splitlines()]
        self.assertTrue(recs and all("error" in r for r in recs), recs)

    def test_tls_alone_is_published_alone(self):
        # a tls run, published into a copy of the published results: only the tls files change,
        # report.md is regenerated from the copy, the docs follow
        p = self.run_py("tls,report")
        self.assertEqual(p.returncode, 0, p.stderr)
        meta = json.loads((self.out / "tls_meta.json").read_text())
        self.assertIn("--only tls,report", meta["command"])
        self.assertFalse((self.out / "meta.json").exists())  # a tls-only run leaves it alone
        pub = self.tmp / "published"
        shutil.copytree(RESULTS, pub)
        before = {f.name: f.read_bytes() for f in pub.iterdir()}
        docs = self.tmp / "benchmarks.md"
        shutil.copy(DOCS, docs)
        r = self.report_py("--publish", str(pub), "--publish-only", "tls", "--docs", str(docs))
        self.assertEqual(r.returncode, 0, r.stderr)
        changed = {f.name for f in pub.iterdir() if before.get(f.name) != f.read_bytes()}
        self.assertEqual(changed - {"report.md"},
                         {"tls_echo.jsonl", "tls_handshake.jsonl", "tls_meta.json"})
        self.assertIn("## TLS", (pub / "report.md").read_text())
        r = self.report_py("--from", str(pub), "--docs", str(docs), "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        with tempfile.TemporaryDirectory() as out:
            self.assertEqual(self.report_py("--from", str(pub), "--out", out).returncode, 0)
            self.assertEqual((Path(out) / "report.md").read_text(),
                             (pub / "report.md").read_text())
        self.assertIn("TLS echo, zerows-tokio msg/s", docs.read_text())

    def test_memory_phase_failures(self):
        for fail, words, timeout in [("sizes", ["echo_server --sizes"], None),
                                     ("server-dies", ["memory", "server"], None),
                                     ("loadgen-hang", ["memory", "no output"], 0.5)]:
            with self.subTest(fail=fail):
                self.assert_failed(self.run_py("memory", fail, timeout), *words)

    def test_a_clean_rerun_of_a_phase_clears_its_failures(self):
        self.assert_failed(self.run_py("alloc", "alloc_count"), "alloc_count")
        p = self.run_py("alloc,report")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_report_fails_on_error_records_and_marks_them(self):
        for name, rec in [
            ("echo", {"server": "zerows-tokio", "rep": 0, "size": 16, "conns": 10,
                      "inflight": 1, "error": "loadgen exit code 1: echo mismatch"}),
            ("handshake", {"server": "raw", "rep": 0, "error": "loadgen timed out after 60 s"}),
            ("tls_echo", {"server": "zerows-tokio", "rep": 0, "size": 16, "conns": 10,
                          "inflight": 1, "error": "server zerows-tokio exited with code 4"}),
            ("tls_handshake", {"server": "tokio-tungstenite", "rep": 0, "concurrency": 16,
                               "error": "loadgen exit code 1: dial wss://127.0.0.1:9/"}),
            ("memory", {"server": "bare", "conns": 10000, "error": "RuntimeError: boom"}),
            ("errors", {"phase": "criterion", "what": "cargo bench", "error": "exit code 101"}),
        ]:
            with self.subTest(name=name):
                src = self.tmp / f"results-{name}"
                shutil.copytree(RESULTS, src)
                with open(src / f"{name}.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
                out = self.tmp / f"out-{name}"
                r = self.report_py("--from", str(src), "--out", str(out))
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(rec["error"], r.stderr)
                report = (out / "report.md").read_text()
                self.assertIn("## FAILED: 1 failure(s)", report)
                self.assertIn(rec["error"], report)
                # --publish refuses it
                pub = self.report_py("--from", str(src), "--out", str(out), "--publish",
                                     str(self.tmp / f"pub-{name}"))
                self.assertEqual(pub.returncode, 1)
                self.assertFalse((self.tmp / f"pub-{name}").exists())


class Published(unittest.TestCase):
    """docs/benchmarks.md and benches/results/ agree with what report.py computes."""

    def report_py(self, *args):
        return subprocess.run([sys.executable, str(REPORT), "--quiet", *args],
                              capture_output=True, text=True, timeout=120)

    def test_the_published_results_hold_no_failure(self):
        r = self.report_py("--from", str(RESULTS))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_docs_are_what_the_published_results_give(self):
        r = self.report_py("--from", str(RESULTS), "--docs", str(DOCS), "--check")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_published_report_and_plot_are_what_their_data_give(self):
        with tempfile.TemporaryDirectory() as out:
            r = self.report_py("--from", str(RESULTS), "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            for f in ["report.md", "echo.svg"]:
                self.assertEqual(
                    (Path(out) / f).read_text(), (RESULTS / f).read_text(),
                    f"benches/results/{f} is not what its data give; regenerate with: python3 "
                    "benches/report.py --from benches/results --out benches/results")

    def test_the_check_catches_a_hand_edit_in_a_generated_block(self):
        doc = DOCS.read_text()
        begin = doc.index("<!-- BEGIN GENERATED (benches/report.py --docs): summary -->")
        i = begin + doc[begin:].index("×") - 1  # the last digit of the first ratio
        self.assertTrue(doc[i].isdigit())
        edited = doc[:i] + str((int(doc[i]) + 1) % 10) + doc[i + 1:]
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "benchmarks.md"
            p.write_text(edited)
            r = self.report_py("--from", str(RESULTS), "--docs", str(p), "--check")
            self.assertEqual(r.returncode, 1)
            self.assertIn("is not what", r.stderr)
            self.assertEqual(p.read_text(), edited)  # --check writes nothing
            # regenerating restores the published page
            r = self.report_py("--from", str(RESULTS), "--docs", str(p))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(p.read_text(), doc)
            # prose outside the blocks is free
            p.write_text(doc.replace("## Problems still open", "## Problems still open (edited)"))
            r = self.report_py("--from", str(RESULTS), "--docs", str(p), "--check")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_an_unknown_block_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "x.md"
            p.write_text("<!-- BEGIN GENERATED (benches/report.py --docs): nope -->\n"
                         "<!-- END GENERATED: nope -->\n")
            r = self.report_py("--from", str(RESULTS), "--docs", str(p), "--check")
            self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
