"""Benchmarks: ratios measured in one run on this machine, medians of several interleaved runs.

``python -m pipeline.bench [--sizes 100000,1000000,5000000] [--repeats 3] [--chain 50000]``
(``make bench``) prints a table and writes ``warehouse/reports/bench/<timestamp>.json`` and
``.md``. Each measured job runs in its own process, so its peak RSS (``ru_maxrss``) is its own.

* ingest vs the limit: the ingest stage (validate + load + quarantine, committed) against a
  bare DuckDB ``read_csv`` with explicit types into a table in a fresh file, same file;
* the whole chain for one chats file (plus its categories), with the time per stage.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.settings import PROJECT_ROOT, load_settings

BARE = """
import duckdb, resource, sys, time
path, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
con.execute("set threads = 2; set memory_limit = '1GB'; set preserve_insertion_order = true")
t = time.perf_counter()
con.execute('''create table chats as select * from read_csv(?, header = true, auto_detect = false,
    ignore_errors = true, columns = {'id': 'UUID', 'chat_category_id': 'UUID', 'created_at': 'TIMESTAMP',
    'is_customer_initiated': 'VARCHAR', 'resolved_at': 'TIMESTAMP', 'message': 'VARCHAR'})''', [path])
rows = con.execute("select count(*) from chats").fetchone()[0]
con.close()
print(rows, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

INGEST = """
import resource, sys, time
from pathlib import Path
from pipeline import logs
from pipeline.ingest import ingest_file
from pipeline.settings import load_settings
logs.configure("WARNING", json=True)
settings = load_settings(landing=sys.argv[2], warehouse=sys.argv[3])
t = time.perf_counter()
result = ingest_file(settings, Path(sys.argv[1]))
print(result.rows_read, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

CHAIN = """
import json, resource, sys, time
from pipeline import logs
from pipeline.runner import run_pending
from pipeline.settings import load_settings
logs.configure("WARNING", json=True)
settings = load_settings(landing=sys.argv[1], warehouse=sys.argv[2])
t = time.perf_counter()
outcomes = run_pending(settings)
print(json.dumps({"seconds": time.perf_counter() - t, "statuses": [o.status for o in outcomes],
                  "batches": [o.batch_id for o in outcomes],
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _py(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=PROJECT_ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return proc.stdout.strip().splitlines()[-1]


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def ingest_vs_bare(work: Path, rows: int, repeats: int) -> dict:
    """Interleaved runs of the bare load and the ingest stage on the same generated file."""
    from pipeline.generate import generate

    src = _fresh(work / f"gen-{rows}")
    manifest = generate(src, chats=rows, categories=460, seed=1, defect_rate=0.01, messages=True)
    bare, ingest = [], []
    for _ in range(repeats):
        db = work / "bare.duckdb"
        db.unlink(missing_ok=True)
        n, seconds, rss = _py(BARE, str(src / "chats.csv"), str(db)).split()
        bare.append((int(n), float(seconds), int(rss)))
        landing, warehouse = _fresh(work / "landing"), _fresh(work / "warehouse")
        shutil.copy(src / "chats.csv", landing / "chats.csv")
        n, seconds, rss = _py(INGEST, str(landing / "chats.csv"), str(landing), str(warehouse)).split()
        ingest.append((int(n), float(seconds), int(rss)))
    bare_s = statistics.median(s for _, s, _ in bare)
    ingest_s = statistics.median(s for _, s, _ in ingest)
    return {
        "rows": rows, "file_bytes": (src / "chats.csv").stat().st_size,
        "defects": sum(manifest["files"]["chats"]["defects"].values()),
        "bare_seconds_median": bare_s, "ingest_seconds_median": ingest_s,
        "bare_rows_per_s": rows / bare_s, "ingest_rows_per_s": rows / ingest_s,
        "ingest_to_bare_throughput": bare_s / ingest_s,
        "ingest_peak_rss_bytes": max(r for _, _, r in ingest), "bare_peak_rss_bytes": max(r for _, _, r in bare),
        "runs": {"bare": bare, "ingest": ingest},
    }


def chain(work: Path, chats: int) -> dict:
    """The whole chain for a generated categories + chats pair; seconds per stage from the markers."""
    from pipeline.generate import generate

    landing, warehouse = _fresh(work / "chain-landing"), _fresh(work / "chain-warehouse")
    generate(landing, chats=chats, categories=460, seed=2, defect_rate=0.01, messages=True)
    result = json.loads(_py(CHAIN, str(landing), str(warehouse)))
    settings = load_settings(landing=landing, warehouse=warehouse)
    stages: dict[str, dict[str, float]] = {}
    for batch in result["batches"]:
        for marker in sorted((settings.state_dir / batch).glob("*.json")):
            data = json.loads(marker.read_text())
            stages.setdefault(batch, {})[data["stage"]] = data.get("stage_seconds")
    return {"chats": chats, "seconds": result["seconds"], "statuses": result["statuses"],
            "peak_rss_bytes": result["peak_rss"], "stage_seconds": stages}


WATCH = [sys.executable, "-m", "pipeline", "--log-json", "watch", "--settle", "{settle}", "--reconcile", "5",
         "--landing", "{landing}", "--warehouse", "{warehouse}"]


def _tiny_chats(i: int, rows: int = 5) -> str:
    header = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message\n"
    return header + "".join(f"{i:08x}-{r:04x}-4000-8000-000000000000,,2023-03-01 10:00:00,true,"
                            f"2023-03-01 10:30:00,hello\n" for r in range(rows))


class _Service:
    def __init__(self, landing: Path, warehouse: Path, settle: float) -> None:
        import threading

        cmd = [a.format(settle=settle, landing=landing, warehouse=warehouse) for a in WATCH]
        self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True)
        self.events: list[dict] = []
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        for line in self.proc.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["_seen"] = time.time()
            self.events.append(event)

    def wait(self, predicate, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("watcher did not get there")
            time.sleep(0.02)

    def ended(self, name: str) -> dict | None:
        return next((e for e in self.events if e.get("event") == "watch.batch_end" and e.get("file") == name), None)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)


def pickup_and_burst(work: Path, files: int, burst: int, settle: float) -> dict:
    """Pickup latency (file closed → batch started) one file at a time, then a burst dropped at once."""
    landing, warehouse = _fresh(work / "watch-landing"), _fresh(work / "watch-warehouse")
    service = _Service(landing, warehouse, settle)
    latencies, singles = [], []
    try:
        for i in range(files):
            name = f"single_{i:04d}_chats.csv"
            tmp = landing / f".{name}.part"
            tmp.write_text(_tiny_chats(i))
            os.rename(tmp, landing / name)  # the close event happened when the write finished
            closed = time.time()
            service.wait(lambda: service.ended(name))
            queued = next(e for e in service.events if e.get("event") == "watch.queued" and e.get("file") == name)
            latencies.append(dt.datetime.fromisoformat(queued["timestamp"].replace("Z", "+00:00")).timestamp() - closed)
            singles.append(service.ended(name)["_seen"] - closed)
        names = [f"burst_{i:04d}_chats.csv" for i in range(burst)]
        for i, name in enumerate(names):
            (landing / f".{name}.part").write_text(_tiny_chats(100_000 + i))
        started = time.time()
        for name in names:
            os.rename(landing / f".{name}.part", landing / name)
        service.wait(lambda: all(service.ended(n) for n in names))
        burst_seconds = time.time() - started
        builds = sum(1 for e in service.events if e.get("event") == "transform.build")
    finally:
        service.stop()
    q = statistics.quantiles(latencies, n=20)
    one_file = statistics.median(singles)
    return {"files": files, "settle_seconds": settle, "pickup_p50_s": statistics.median(latencies),
            "pickup_p95_s": q[18], "single_file_end_to_end_median_s": one_file,
            "burst_files": burst, "burst_seconds": burst_seconds, "burst_vs_serial": burst_seconds / (burst * one_file),
            "dbt_builds_total": builds}


def render(report: dict) -> str:
    lines = [f"# Benchmark {report['started_at']}", "", f"machine: {report['machine']}", "",
             "## Ingest vs bare DuckDB load (median of %d interleaved runs)" % report["repeats"], "",
             "| rows | file MB | bare rows/s | ingest rows/s | ingest ÷ bare throughput | ingest peak RSS MB |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in report["ingest"]:
        lines.append(f"| {r['rows']:,} | {r['file_bytes'] / 1e6:,.0f} | {r['bare_rows_per_s']:,.0f} | "
                     f"{r['ingest_rows_per_s']:,.0f} | {r['ingest_to_bare_throughput']:.2f} | "
                     f"{r['ingest_peak_rss_bytes'] / 2**20:,.0f} |")
    if report.get("chain"):
        c = report["chain"]
        lines += ["", f"## Whole chain, {c['chats']:,} chats + categories", "",
                  f"wall {c['seconds']:.1f} s, peak RSS {c['peak_rss_bytes'] / 2**20:,.0f} MB, statuses {c['statuses']}",
                  "", "| batch | " + " | ".join(["ingest", "quality_gate", "dbt_build", "redact", "export"]) + " |",
                  "|---|---:|---:|---:|---:|---:|"]
        for batch, stages in c["stage_seconds"].items():
            lines.append(f"| {batch} | " + " | ".join(
                f"{stages.get(s, 0) or 0:.2f}" for s in ("ingest", "quality_gate", "dbt_build", "redact", "export")) + " |")
    if report.get("watch"):
        w = report["watch"]
        lines += ["", "## Watcher", "",
                  f"pickup latency (file closed → batch started) over {w['files']} files, settle {w['settle_seconds']} s: "
                  f"p50 {w['pickup_p50_s']:.2f} s, p95 {w['pickup_p95_s']:.2f} s; one file end to end (median) "
                  f"{w['single_file_end_to_end_median_s']:.2f} s",
                  f"burst of {w['burst_files']} files dropped at once: {w['burst_seconds']:.1f} s = "
                  f"{w['burst_vs_serial']:.2f} × ({w['burst_files']} × one file)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="chats rows per ingest benchmark")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per size (median reported)")
    parser.add_argument("--chain", type=int, default=50_000, help="chats for the whole-chain run (0 = skip)")
    parser.add_argument("--pickup-files", type=int, default=100, help="files for the pickup latency (0 = skip)")
    parser.add_argument("--burst", type=int, default=200, help="files dropped at once")
    parser.add_argument("--settle", type=float, default=1.0, help="watcher settle seconds")
    args = parser.parse_args(argv)
    settings = load_settings()
    work = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    report = {"started_at": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
              "machine": f"{os.cpu_count()} cores, python {sys.version.split()[0]}", "repeats": args.repeats,
              "ingest": [], "chain": None, "watch": None}
    try:
        for rows in (int(s) for s in args.sizes.split(",") if s):
            report["ingest"].append(ingest_vs_bare(work, rows, args.repeats))
            print(render(report).splitlines()[-1], flush=True)
        if args.chain:
            report["chain"] = chain(work, args.chain)
        if args.pickup_files:
            report["watch"] = pickup_and_burst(work, args.pickup_files, args.burst, args.settle)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = settings.reports_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{report['started_at']}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{report['started_at']}.md").write_text(render(report))
    print(render(report))
    print(f"written to {out}/{report['started_at']}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
