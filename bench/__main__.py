"""Benchmarks of issue 6: every figure next to its target, ratios measured in one run on this machine.

``python -m bench`` (``make bench``) prints a Markdown report and writes it, with the raw
figures as JSON and the scaling plot as PNG, to ``warehouse/reports/bench/<timestamp>.{md,json}``
and ``<timestamp>-scaling.png``. ``--sections`` picks sections, the size flags size them and
``--quick`` runs everything tiny (a smoke test, not a measurement). The defaults fit the whole
run in about 12 minutes on 2 cores.

1. ``ingest``: the ingest stage against a bare DuckDB load of the same file (interleaved runs);
2. ``reference``: ingest against the chunked pandas approach of a reference Airflow project
   (:mod:`bench.reference`);
3. ``latency``: file closed → ``analysis.json`` through a running watcher, against a bare
   ``dbt build`` of the same project and data; ``chain``: the whole chain for one large chats
   file against the bare load of that file;
4. ``scaling``: wall time and peak RSS of the whole chain over sizes, with a log-log fit;
5. ``redaction``: ``python -m bench.redaction`` (SQL vs a plain scan vs Python ``re``);
6. ``burst``: watcher pickup latency and a burst of small files dropped at once;
7. ``microbatch``: a small file into warehouses with growing history, and the fixed cost of a
   tiny file (:mod:`bench.microbatch`).

Every measured job runs in a process of its own (:mod:`bench.jobs`), so its peak RSS is
its own; the bench process itself stays small and only starts jobs and waits for them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from bench import microbatch as bench_microbatch
from bench import report as bench_report
from bench import watch as bench_watch
from bench.report import percentile
from bench.watch import fresh, place, share_of
from pipeline.settings import PROJECT_ROOT, load_settings

SECTIONS = ("ingest", "reference", "latency", "chain", "scaling", "redaction", "burst", "microbatch")

#: Sizes of a full run (about 12 min on 2 cores, 15 at most) and of ``--quick``.
FULL = {
    "sizes": "100000,1000000,5000000",
    "repeats": 3,
    "reference_rows": 1_000_000,
    "latency_chats": 50_000,
    "drops": 10,
    "dbt_repeats": 3,
    "chain_rows": 2_000_000,
    "chain_repeats": 3,
    "scaling_sizes": "10000,100000,1000000,5000000",
    "scaling_repeats": 1,
    "redaction_messages": 200_000,
    "pickup_files": 20,
    "burst": 200,
    "microbatch_chats": 10_000,
    "microbatch_histories": "2000000,5000000",
    "microbatch_repeats": 3,
    "tiny_chats": 100,
    "tiny_drops": 10,
}
QUICK = {
    "sizes": "2000,5000",
    "repeats": 1,
    "reference_rows": 5_000,
    "latency_chats": 2_000,
    "drops": 2,
    "dbt_repeats": 1,
    "chain_rows": 5_000,
    "chain_repeats": 1,
    "scaling_sizes": "1000,2000,5000,10000",
    "scaling_repeats": 1,
    "redaction_messages": 2_000,
    "pickup_files": 2,
    "burst": 3,
    "microbatch_chats": 500,
    "microbatch_histories": "5000",
    "microbatch_repeats": 1,
    "tiny_chats": 100,
    "tiny_drops": 2,
}


class JobFailed(RuntimeError):
    """A measured job exited with an error or was killed; ``seconds`` is how long it ran."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass
class Workbench:
    """Scratch folder, the environment of every job, and generated data shared by the sections."""

    work: Path
    env: dict[str, str] | None = None  # of every job; None: this process's
    #: Job results by (job, chats), for a later section measuring the same job on the same file.
    runs: dict[tuple[str, int], list[dict]] = field(default_factory=dict)
    _generated: dict[tuple[int, int], Path] = field(default_factory=dict)

    def job(self, name: str, *args: object) -> dict:
        """Run one measured job of :mod:`bench.jobs` in its own process; its JSON result."""
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.jobs", name, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=self.env,
        )
        if proc.returncode < 0:
            killer = " (the kernel's out-of-memory killer?)" if proc.returncode == -signal.SIGKILL else ""
            why = f"killed by {signal.Signals(-proc.returncode).name}{killer}"
        elif proc.returncode > 0:
            why = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        else:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        raise JobFailed(f"bench job {name} {why}", time.perf_counter() - started)

    def datasets(self, chats: int, seeds: list[int]) -> list[Path]:
        """Folders with categories.csv + chats.csv (1 % defects, messages), generated once per run."""
        missing = [seed for seed in seeds if (chats, seed) not in self._generated]
        if missing:
            folders = {seed: fresh(self.work / f"gen-{chats}-s{seed}") for seed in missing}
            self.job("generate", chats, *(arg for seed in missing for arg in (seed, folders[seed])))
            self._generated.update({(chats, seed): folder for seed, folder in folders.items()})
        return [self._generated[(chats, seed)] for seed in seeds]

    def dataset(self, chats: int, seed: int = 1) -> Path:
        return self.datasets(chats, [seed])[0]

    def landing(self, name: str, src: Path, *files: str) -> tuple[Path, Path]:
        """Fresh landing + warehouse folders, with ``files`` of ``src`` waiting in landing."""
        landing, warehouse = fresh(self.work / f"{name}-landing"), fresh(self.work / f"{name}-warehouse")
        for file in files:
            place(src / file, landing / file)
        return landing, warehouse


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["files"]["chats"]


def _median(runs: list[dict], key: str = "seconds") -> float:
    return percentile([r[key] for r in runs], 50)


def _middle(runs: list[dict]) -> dict:
    """The run of median time (the upper one of an even count), to show its details."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


# --------------------------------------------------------------------------- 1. ingest vs bare
def ingest_vs_bare(bench: Workbench, rows: int, repeats: int) -> dict:
    """Interleaved runs of the bare load and the ingest stage on the same generated file."""
    src = bench.dataset(rows)
    bare, ingest = [], []
    for _ in range(repeats):
        db = bench.work / "bare.duckdb"
        db.unlink(missing_ok=True)
        bare.append(bench.job("bare", src / "chats.csv", db))
        landing, warehouse = bench.landing("ingest", src, "chats.csv")
        ingest.append(bench.job("ingest", landing / "chats.csv", landing, warehouse))
    bench.runs[("ingest", rows)] = ingest
    bare_s, ingest_s = _median(bare), _median(ingest)
    manifest = _manifest(src)
    return {
        "rows": rows,
        "file_bytes": (src / "chats.csv").stat().st_size,
        "defects": manifest["rows"] - manifest["valid_rows"],
        "bare_seconds_median": bare_s,
        "ingest_seconds_median": ingest_s,
        "bare_rows_per_s": rows / bare_s,
        "ingest_rows_per_s": rows / ingest_s,
        "ingest_to_bare_throughput": bare_s / ingest_s,
        "ingest_peak_rss_bytes": max(r["peak_rss_bytes"] for r in ingest),
        "bare_peak_rss_bytes": max(r["peak_rss_bytes"] for r in bare),
        "runs": {"bare": bare, "ingest": ingest},
    }


# --------------------------------------------------------------------------- 2. reference
def versus_reference(bench: Workbench, rows: int, repeats: int) -> dict:
    """The pandas reference approach against the ingest stage on the same file.

    The ingest runs of section 1 are reused when it measured this file; otherwise both are
    measured here, interleaved.
    """
    src = bench.dataset(rows)
    reference, ingest = [], bench.runs.get(("ingest", rows), [])[:repeats]
    reused = len(ingest) == repeats
    for _ in range(repeats):
        db = bench.work / "reference.duckdb"
        db.unlink(missing_ok=True)
        reference.append(bench.job("reference", src / "chats.csv", db))
        if len(ingest) < repeats:
            landing, warehouse = bench.landing("ingest", src, "chats.csv")
            ingest.append(bench.job("ingest", landing / "chats.csv", landing, warehouse))
    in_file = _manifest(src)["rows"]
    ref, ing = reference[0], ingest[0]
    return {
        "rows": in_file,
        "repeats": repeats,
        "ingest_runs_from_section_1": reused,
        "reference_seconds_median": _median(reference),
        "ingest_seconds_median": _median(ingest),
        "speedup": _median(reference) / _median(ingest),
        "reference_peak_rss_bytes": max(r["peak_rss_bytes"] for r in reference),
        "ingest_peak_rss_bytes": max(r["peak_rss_bytes"] for r in ingest),
        "rows_loaded": ref["rows_loaded"],
        "rows_quarantined": ref["rows_quarantined"],
        "ingest_rows_loaded": ing["rows_loaded"],
        "ingest_rows_quarantined": ing["rows_quarantined"],
        "conserved": all(r["rows_loaded"] + r["rows_quarantined"] == r["rows_read"] == in_file for r in reference),
        "same_loaded_as_ingest": ref["rows_loaded"] == ing["rows_loaded"],
        "runs": {"reference": reference, "ingest": ingest},
    }


# --------------------------------------------------------------------------- 3. latency and chain
def latency(bench: Workbench, chats: int, drops: int, dbt_repeats: int, settle: float) -> dict:
    """End to end through a running watcher, then a bare ``dbt build`` on the warehouse it left."""
    folders = bench.datasets(chats, [100 + i for i in range(drops)])
    result = bench_watch.end_to_end(bench.work, folders, settle, bench.env)
    result["dbt"] = bench_watch.bare_dbt_build(Path(result.pop("warehouse")), dbt_repeats)
    bare_s = result["dbt"]["wall_median_s"]
    result.update(chats=chats, p50_to_dbt=result["p50_s"] / bare_s, last_to_dbt=result["latencies_s"][-1] / bare_s)
    return result


def _chain(bench: Workbench, name: str, src: Path) -> dict:
    """One chain job over categories + chats of ``src`` in a fresh warehouse; a job that died is a failed run."""
    landing, warehouse = bench.landing(name, src, "categories.csv", "chats.csv")
    try:
        return bench.job("chain", landing, warehouse)
    except JobFailed as exc:
        return {
            "seconds": exc.seconds,
            "file_seconds": {},
            "peak_rss_bytes": None,
            "statuses": {},
            "stage_seconds": {},
            "died": str(exc),
        }


def _failure(run: dict) -> str | None:
    """Why a chain job did not get every batch done, or None."""
    if "died" in run:
        return run["died"]
    bad = [file for file, status in run["statuses"].items() if status != "done"]
    return None if not bad else f"{bad[0]}: {run['statuses'][bad[0]]}: {run['errors'].get(bad[0], '')}"


def _peak(runs: list[dict]) -> int | None:
    return max((r["peak_rss_bytes"] for r in runs if r["peak_rss_bytes"] is not None), default=None)


def chain_vs_bare(bench: Workbench, rows: int, chain_repeats: int, bare_repeats: int) -> dict:
    """The chain for one chats file, timed after its categories went through, against the bare load of it."""
    src = bench.dataset(rows)
    chains, bare = [], []
    for i in range(max(chain_repeats, bare_repeats)):
        if i < chain_repeats:
            run = _chain(bench, "chain", src)
            chains.append({**run, "seconds": run["file_seconds"].get("chats.csv", run["seconds"])})
        if i < bare_repeats:
            db = bench.work / "bare.duckdb"
            db.unlink(missing_ok=True)
            bare.append(bench.job("bare", src / "chats.csv", db))
    chain_s, bare_s = _median(chains), _median(bare)
    errors = [e for e in map(_failure, chains) if e]
    return {
        "rows": rows,
        "chain_repeats": chain_repeats,
        "bare_repeats": bare_repeats,
        "chain_seconds": chain_s,
        "bare_seconds_median": bare_s,
        "chain_to_bare": chain_s / bare_s,
        "ok": not errors,
        "error": errors[0] if errors else None,
        "chain_peak_rss_bytes": _peak(chains),
        "bare_peak_rss_bytes": max(r["peak_rss_bytes"] for r in bare),
        "stage_seconds": _middle(chains)["stage_seconds"].get("chats.csv", {}),
        "runs": {"chain": chains, "bare": bare},
    }


# --------------------------------------------------------------------------- 4. scaling
def _fit(points: list[dict], key: str) -> dict | None:
    if len(points) < 2:
        return None
    xs = [p["chats"] for p in points]
    exponent, coefficient = bench_report.loglog_fit(xs, [p[key] for p in points])
    return {"exponent": exponent, "coefficient": coefficient, "from": min(xs), "to": max(xs)}


def _label(points: list[dict]) -> str:
    def short(n: int) -> str:
        return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"

    return f"{short(points[0]['chats'])}–{short(points[-1]['chats'])}" if points else "no points"


def scaling(bench: Workbench, sizes: list[int], repeats: int) -> dict:
    """The whole chain (categories + chats, fresh warehouse) per size; log-log fits of time and RSS."""
    points = []
    for chats in sizes:
        src = bench.dataset(chats)
        runs = [_chain(bench, "scaling", src) for _ in range(repeats)]
        middle = _middle(runs)
        errors = [e for e in map(_failure, runs) if e]
        points.append(
            {
                "chats": chats,
                "seconds": middle["seconds"],
                "ok": not errors,
                "error": errors[0] if errors else None,
                "peak_rss_bytes": _peak(runs),
                "chats_stage_seconds": middle["stage_seconds"].get("chats.csv", {}),
                "runs": runs,
            }
        )
        print(f"  scaling {chats:,} chats: {middle['seconds']:.1f} s{'' if not errors else ' FAILED'}", flush=True)
    ok = [p for p in points if p["ok"]]
    upper = [p for p in ok if p["chats"] > min(sizes)]
    fits = {
        "fit_all": _fit(ok, "seconds"),
        "fit_upper": _fit(upper, "seconds"),
        "rss_fit_upper": _fit([p for p in upper if p["peak_rss_bytes"]], "peak_rss_bytes"),
    }
    failed = [f"{p['chats']:,}" for p in points if not p["ok"]]
    return {
        "repeats": repeats,
        "points": points,
        **fits,
        "upper_label": _label(upper),
        "exponent_all": fits["fit_all"] and fits["fit_all"]["exponent"],
        "exponent_upper": fits["fit_upper"] and fits["fit_upper"]["exponent"],
        "rss_exponent_upper": fits["rss_fit_upper"] and fits["rss_fit_upper"]["exponent"],
        "fit_note": f"the {', '.join(failed)}-chat run failed and is left out of the fits" if failed else "",
    }


# --------------------------------------------------------------------------- 5. redaction
def redaction(bench: Workbench, messages: int, repeats: int) -> dict:
    """``python -m bench.redaction`` in its own process."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.redaction", "--messages", str(messages), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=bench.env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench-redaction failed: {proc.stderr.strip()[-2000:]}")
    return {"repeats": repeats, **json.loads(proc.stdout)}


# --------------------------------------------------------------------------- main
def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes everywhere: a smoke test, not a measurement")
    sized = {
        "sizes": "chats per ingest-vs-bare size, comma-separated",
        "repeats": "runs of each job whose median is reported: ingest, bare load, reference, redaction",
        "reference_rows": "chats for the reference comparison",
        "latency_chats": "chats per drop for the end-to-end latency",
        "drops": "drops into the watcher for the end-to-end latency (a new seed each)",
        "dbt_repeats": "bare dbt builds after the drops",
        "chain_rows": "chats for the whole chain vs the bare load",
        "chain_repeats": "runs of that whole chain",
        "scaling_sizes": "chats per scaling point, comma-separated",
        "scaling_repeats": "chain runs per scaling point",
        "redaction_messages": "messages for the redaction benchmark",
        "pickup_files": "tiny files for the watcher pickup latency",
        "burst": "tiny files dropped at once",
        "microbatch_chats": "chats of the small file dropped into warehouses with history",
        "microbatch_histories": "chats of history per micro-batch point, comma-separated",
        "microbatch_repeats": "interleaved runs per micro-batch point",
        "tiny_chats": "chats of the tiny file whose chain time is the fixed cost",
        "tiny_drops": "tiny files dropped one by one into a running watcher for the fixed latency",
    }
    for name, text in sized.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=str if name.endswith(("sizes", "histories")) else int,
            help=f"{text} (default {FULL[name]}, --quick {QUICK[name]})",
        )
    parser.add_argument("--settle", type=float, default=1.0, help="watcher settle seconds (default 1)")
    parser.add_argument("--out", type=Path, help="report folder (default warehouse/reports/bench)")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def run_sections(bench: Workbench, args: argparse.Namespace, report: dict) -> None:
    """Run the chosen sections in order; one that breaks is recorded and the others still run."""
    chosen = args.sections.split(",")
    steps = {
        "ingest": lambda: [ingest_vs_bare(bench, rows, args.repeats) for rows in _sizes(args.sizes)],
        "reference": lambda: versus_reference(bench, args.reference_rows, args.repeats),
        "latency": lambda: latency(bench, args.latency_chats, args.drops, args.dbt_repeats, args.settle),
        "chain": lambda: chain_vs_bare(bench, args.chain_rows, args.chain_repeats, args.repeats),
        "scaling": lambda: scaling(bench, _sizes(args.scaling_sizes), args.scaling_repeats),
        "redaction": lambda: redaction(bench, args.redaction_messages, args.repeats),
        "burst": lambda: bench_watch.pickup_and_burst(
            bench.work, args.pickup_files, args.burst, args.settle, bench.env
        ),
        "microbatch": lambda: bench_microbatch.microbatch(
            bench,
            args.microbatch_chats,
            _sizes(args.microbatch_histories),
            args.microbatch_repeats,
            args.tiny_chats,
            args.tiny_drops,
            args.settle,
        ),
    }
    for name in SECTIONS:
        if name not in chosen:
            continue
        started = time.monotonic()
        try:
            report[name] = steps[name]()
        except Exception as exc:  # keep the other sections' figures: a 13-minute run is not thrown away
            report["errors"][name] = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        report["section_seconds"][name] = time.monotonic() - started
        report["load_average"][name] = os.getloadavg()[0]  # other work on the machine skews the figures
        print(
            f"{name}: {report['section_seconds'][name]:.0f} s, load average {report['load_average'][name]:.1f}"
            + (f" — FAILED: {report['errors'][name]}" if name in report["errors"] else ""),
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = _options(argv)
    settings = load_settings()
    out = args.out or settings.reports_dir / "bench"
    started = time.monotonic()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report: dict = {
        "started_at": stamp,
        "quick": args.quick,
        "options": vars(args) | {"out": str(out)},
        "machine": f"{os.cpu_count()} cores, python {sys.version.split()[0]}, DuckDB {version('duckdb')} "
        f"(threads {settings.duckdb_threads}, memory_limit {settings.duckdb_memory_limit})",
        "errors": {},
        "section_seconds": {},
        "load_average": {},
    }
    # Every job's warehouse keeps its share folder beside it (bench.watch.share_of): a share folder
    # set for the user's own warehouse would be one folder for all of them.
    os.environ.pop("PIPELINE_SHARE", None)
    if load_settings(warehouse=Path("/bench")).share_dir != share_of(Path("/bench")):
        print(
            "error: the bench needs the default share folder; remove share from luigi.cfg [pipeline]", file=sys.stderr
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    # Jobs never touch the user's pseudonym key: the run gets a key file of its own.
    bench = Workbench(work, env={**os.environ, "PIPELINE_PSEUDONYM_KEY_FILE": str(work / "pseudonym.key")})
    try:
        run_sections(bench, args, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["total_seconds"] = time.monotonic() - started
    report["targets"] = bench_report.targets(report)
    out.mkdir(parents=True, exist_ok=True)
    png = None
    if report.get("scaling"):
        png = bench_report.plot_scaling(report["scaling"], out / f"{stamp}-scaling.png").name
    markdown = bench_report.render(report, png)
    (out / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / f"{stamp}.md").write_text(markdown)
    print(markdown)
    print(f"written to {out / stamp}.md (.json{', -scaling.png' if png else ''})")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
