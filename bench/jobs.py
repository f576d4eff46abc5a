"""The measured jobs of ``make bench``, one per process: ``python -m bench.jobs JOB ARG…``.

Each job prints one JSON line: its result, ``seconds`` (wall time of the measured work, without
interpreter start-up and imports) and ``peak_rss_bytes``. A fresh interpreter per job means no job inherits
another's warm caches or memory.

Peak RSS is ``VmHWM`` from ``/proc/self/status``, the high-water mark of this process image. On
Linux ``getrusage(RUSAGE_SELF).ru_maxrss`` of a spawned child starts at its parent's high-water mark
(it survives fork and exec), so a small job started by a bench that once held 1 GiB reported
1 GiB; ``ru_maxrss`` is only the fallback where ``/proc`` does not exist.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from pipeline import logs
from pipeline.generate import generate as write
from pipeline.orchestration import runner
from pipeline.settings import load_settings
from pipeline.stages.ingest import ingest_file
from pipeline.store.landing import discover

#: The limit the ingest stage is measured against: DuckDB's own CSV reader with explicit types,
#: straight into a table, bad rows skipped. No hashing, validation, quarantine or ledger. Quote and
#: escape are explicit: with ``auto_detect = false`` DuckDB 1.4 has no escape, and kept 499 of 1M rows.
BARE_LOAD = """
    create table chats as select * from read_csv(?, header = true, auto_detect = false,
        delim = ',', quote = '"', escape = '"', ignore_errors = true, columns = {'id': 'UUID', 'chat_category_id': 'UUID',
        'created_at': 'TIMESTAMP', 'is_customer_initiated': 'VARCHAR', 'resolved_at': 'TIMESTAMP',
        'message': 'VARCHAR'})"""


def peak_rss_bytes() -> int:
    """This process's peak resident memory (see the module docstring for why not ``ru_maxrss``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Yields a dict that holds the wall ``seconds`` of the block once it has run."""
    clock: dict[str, float] = {}
    started = time.perf_counter()
    yield clock
    clock["seconds"] = time.perf_counter() - started


def _connect(db: str):
    """A DuckDB connection with the pipeline's limits, so baselines run under the same rules."""
    settings = load_settings()
    con = duckdb.connect(db)
    con.execute(f"set threads = {settings.duckdb_threads}")
    con.execute(f"set memory_limit = '{settings.duckdb_memory_limit}'")
    return con


def generate(chats: str, *seeds_and_folders: str) -> dict:
    """Generated categories + chats pairs (1 % defects, with messages): one per ``seed folder`` pair."""
    pairs = list(zip(seeds_and_folders[::2], seeds_and_folders[1::2]))
    with measured() as clock:
        for seed, folder in pairs:
            write(Path(folder), chats=int(chats), categories=460, seed=int(seed), defect_rate=0.01, messages=True)
    return {"generated": len(pairs), **clock}


def bare(csv: str, db: str) -> dict:
    con = _connect(db)
    con.execute("set preserve_insertion_order = true")
    with measured() as clock:
        con.execute(BARE_LOAD, [csv])
        rows = con.execute("select count(*) from chats").fetchone()[0]
        con.close()
    return {"rows_loaded": rows, **clock}


def ingest(csv: str, landing: str, warehouse: str) -> dict:
    settings = load_settings(landing=landing, warehouse=warehouse)
    with measured() as clock:
        result = ingest_file(settings, Path(csv))
    return {
        "status": result.status,
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        **clock,
    }


def reference(csv: str, db: str) -> dict:
    # Imported here: it imports pandas, which only this job needs (and which costs every other
    # job ~0.5 s of start-up and ~60 MB of RSS).
    from bench.reference import load_chats

    con = _connect(db)
    with measured() as clock:
        result = load_chats(Path(csv), con)
        con.close()
    return {
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        **clock,
    }


def chain(landing: str, warehouse: str) -> dict:
    """The whole chain (``runner.run``) for everything waiting in ``landing``, each file timed on its own."""
    settings = load_settings(landing=landing, warehouse=warehouse)
    outcomes, file_seconds = [], {}
    with measured() as clock:
        for path in discover(settings):
            with measured() as file_clock:
                outcomes += runner.run(settings, [path])
            file_seconds[path.name] = file_clock["seconds"]
    stages: dict[str, dict[str, float | None]] = {}
    for outcome in outcomes:
        for marker in sorted((settings.state_dir / str(outcome.batch_id)).glob("*.json")):
            data = json.loads(marker.read_text())
            stages.setdefault(outcome.file, {})[data["stage"]] = data.get("stage_seconds")
    return {
        "statuses": {o.file: o.status for o in outcomes},
        "errors": {o.file: o.error for o in outcomes if o.error},
        "file_seconds": file_seconds,
        "stage_seconds": stages,
        **clock,
    }


JOBS: dict[str, Callable[..., dict]] = {
    "generate": generate,
    "bare": bare,
    "ingest": ingest,
    "reference": reference,
    "chain": chain,
}


def main(argv: list[str] | None = None) -> int:
    job, *args = sys.argv[1:] if argv is None else argv
    logs.configure("WARNING", json=True)
    result = JOBS[job](*args)
    print(json.dumps({**result, "peak_rss_bytes": peak_rss_bytes()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
