"""Benchmarks against a running watcher (``python -m pipeline watch``) and a bare ``dbt build``.

* end-to-end latency: a categories + chats pair closed in landing/ until ``analysis.json`` in the
  published exports lists the chats file, one distinct pair (seed) at a time;
* the bare ``dbt build`` of the same project on the warehouse those drops left, through the dbt CLI
  with the pipeline's own profile, target folder and variables;
* pickup latency (file closed until the batch is queued) and a burst of small files dropped at once.

A file is "closed in landing" when it is renamed in from a hidden name, which is how a copy tool
finishes (and what the watcher sees as moved-in).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bench.report import percentile
from pipeline.settings import PROJECT_ROOT, load_settings
from pipeline.stages import transform


def share_of(warehouse: Path) -> Path:
    """A bench warehouse's share folder: always the default, beside it (``bench.__main__`` makes sure)."""
    return warehouse.with_name(warehouse.name + "-share")


def fresh(path: Path) -> Path:
    """An empty folder at ``path``; a warehouse's share folder beside it goes too
    (a new warehouse must not find an old run's share layer)."""
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(share_of(path), ignore_errors=True)
    path.mkdir(parents=True)
    return path


def place(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` without copying its bytes when possible (the pipeline only moves it)."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy(src, dest)


class Service:
    """A watcher process whose JSON log lines are collected as they come, each stamped on arrival."""

    def __init__(self, landing: Path, warehouse: Path, settle: float, env: Mapping[str, str]) -> None:
        cmd = [
            sys.executable,
            "-m",
            "pipeline",
            "--log-json",
            "watch",
            "--settle",
            str(settle),
            "--reconcile",
            "5",
            "--landing",
            str(landing),
            "--warehouse",
            str(warehouse),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=dict(env), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.events: list[dict] = []
        threading.Thread(target=self._follow, daemon=True).start()
        self.wait(lambda: self.event("watch.ready"), timeout=120)  # started, and its one-off costs paid

    def _follow(self) -> None:
        for line in self.proc.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["_seen"] = time.time()
            self.events.append(event)

    def wait(self, predicate: Callable[[], object], timeout: float = 900, poll: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the watcher did not get there (stopped or timed out)")
            time.sleep(poll)

    def event(self, name: str, file: str | None = None) -> dict | None:
        return next(
            (e for e in self.events if e.get("event") == name and (file is None or e.get("file") == file)), None
        )

    def ended(self, file: str) -> dict | None:
        return self.event("watch.batch_end", file)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)


def drop(pairs: Sequence[tuple[Path, str]], landing: Path) -> float:
    """Land files (source, name) by renaming them in from hidden names; returns when the last one was closed."""
    for src, name in pairs:
        place(src, landing / f".{name}.part")
    for _, name in pairs:
        os.rename(landing / f".{name}.part", landing / name)
    return time.time()


def _exported(exports: Path, file: str) -> bool:
    """Whether the published analysis.json lists a batch of ``file`` (the exports symlink swaps atomically)."""
    try:
        doc = json.loads((exports / "analysis.json").read_text())
    except (OSError, ValueError):
        return False
    return any(batch["file"] == file for batch in doc["batches"])


def end_to_end(
    work: Path, drops: Sequence[Path], settle: float, env: Mapping[str, str], *, with_categories: bool = True
) -> dict:
    """Each generated folder in ``drops`` landed; seconds until its chats are in the exports.

    ``with_categories``: each drop is a pair (its categories and chats files, two ingests and
    gates before the build). Otherwise every drop's categories land first, all at once and
    untimed, and each chats file is then landed alone: the one-file drop the latency goal names.
    """
    name = "e2e" if with_categories else "e2e-single"
    landing, warehouse = fresh(work / f"{name}-landing"), fresh(work / f"{name}-warehouse")
    exports = load_settings(landing=landing, warehouse=warehouse).exports_dir
    service = Service(landing, warehouse, settle, env)
    latencies = []

    def finish(i: int, *files: str) -> None:
        service.wait(lambda: all(service.ended(f) for f in files))
        failed = [service.ended(f) for f in files if service.ended(f)["status"] != "done"]
        if failed:
            raise RuntimeError(f"drop {i} ({failed[0]['file']}) did not succeed: {failed[0].get('error')}")

    try:
        if not with_categories:
            names = [f"drop{i:02d}_categories.csv" for i in range(len(drops))]
            drop([(folder / "categories.csv", n) for folder, n in zip(drops, names)], landing)
            finish(-1, *names)
        for i, folder in enumerate(drops):
            categories, chats = f"drop{i:02d}_categories.csv", f"drop{i:02d}_chats.csv"
            pairs = [(folder / "categories.csv", categories)] if with_categories else []
            closed = drop([*pairs, (folder / "chats.csv", chats)], landing)
            # A chats batch ends only after its export, so ending first means it failed.
            service.wait(lambda: _exported(exports, chats) or service.ended(chats), poll=0.01)
            latencies.append(time.time() - closed)
            finish(i, chats, *([categories] if with_categories else []))
    finally:
        service.stop()
    in_pipeline = [e["duration_s"] for e in service.events if e.get("event") == "transform.build"]
    return {
        "drops": len(drops),
        "with_categories": with_categories,
        "settle_seconds": settle,
        "latencies_s": latencies,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "dbt_build_in_pipeline_p50_s": percentile(in_pipeline, 50),
        "warehouse": str(warehouse),
    }


def bare_dbt_build(warehouse: Path, repeats: int) -> dict:
    """``dbt build`` from the dbt CLI on ``warehouse``, with exactly the profile, target and vars the pipeline uses."""
    settings = load_settings(warehouse=warehouse)
    dbt = Path(sys.executable).with_name("dbt")
    walls, dbt_elapsed = [], []
    for _ in range(repeats):
        # The pipeline's own helpers, so profile, target folder, vars and limits cannot drift apart.
        with transform._dbt_environment(settings):
            started = time.perf_counter()
            proc = subprocess.run(
                [str(dbt), "build", "--quiet", *transform._common_args(settings)],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
            )
            walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise RuntimeError(f"dbt build failed: {(proc.stdout + proc.stderr)[-1000:]}")
        run_results = json.loads((settings.dbt_target_dir / "run_results.json").read_text())
        dbt_elapsed.append(run_results["elapsed_time"])
    return {
        "repeats": repeats,
        "wall_s": walls,
        "wall_median_s": percentile(walls, 50),
        "dbt_elapsed_median_s": percentile(dbt_elapsed, 50),
    }


def _tiny_chats(i: int, rows: int = 5) -> str:
    header = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message\n"
    return header + "".join(
        f"{i:08x}-{r:04x}-4000-8000-000000000000,,2023-03-01 10:00:00,true,2023-03-01 10:30:00,hello\n"
        for r in range(rows)
    )


def _timestamp(event: dict) -> float:
    return dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def pickup_and_burst(work: Path, files: int, burst: int, settle: float, env: Mapping[str, str]) -> dict:
    """Pickup latency (closed → queued) and end to end of tiny files one at a time, then ``burst`` at once."""
    landing, warehouse = fresh(work / "watch-landing"), fresh(work / "watch-warehouse")
    tiny = fresh(work / "tiny")
    service = Service(landing, warehouse, settle, env)
    pickups, singles = [], []
    try:
        for i in range(files):
            name = f"single_{i:04d}_chats.csv"
            (tiny / name).write_text(_tiny_chats(i))
            closed = drop([(tiny / name, name)], landing)
            service.wait(lambda: service.ended(name))
            pickups.append(_timestamp(service.event("watch.queued", name)) - closed)
            singles.append(service.ended(name)["_seen"] - closed)
        names = [f"burst_{i:04d}_chats.csv" for i in range(burst)]
        for i, name in enumerate(names):
            (tiny / name).write_text(_tiny_chats(100_000 + i))
        started = drop([(tiny / name, name) for name in names], landing)
        service.wait(lambda: all(service.ended(n) for n in names))
        burst_seconds = time.time() - started
    finally:
        service.stop()
    builds = sum(1 for e in service.events if e.get("event") == "transform.build")
    one_file = percentile(singles, 50)
    return {
        "files": files,
        "settle_seconds": settle,
        "pickup_p50_s": percentile(pickups, 50),
        "pickup_p95_s": percentile(pickups, 95),
        "single_file_end_to_end_median_s": one_file,
        "burst_files": burst,
        "burst_seconds": burst_seconds,
        "burst_vs_serial": burst_seconds / (burst * one_file),
        "dbt_builds_total": builds,
    }
