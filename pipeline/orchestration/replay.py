"""Replay: rebuild a fresh warehouse from ``landing/archive/`` and compare its marts with the live ones.

The archive keeps every ingested file under ``<seq>_<batch_id>__<name>``; replaying them in
seq order through the same runner must give the same marts (the pipeline is deterministic in
its inputs and their arrival order).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.orchestration import runner
from pipeline.settings import Settings
from pipeline.store import db, landing


def mart_checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every mart table."""
    with db.connect(settings) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        out = {}
        for table in tables:
            n, digest = con.execute(
                f"select count(*), coalesce(bit_xor(hash(t::varchar)), 0)::varchar from marts.{table} as t"
            ).fetchone()
            out[table] = (n, digest)
    return out


def replay(settings: Settings, target: Path) -> dict[str, Any]:
    """Rebuild a fresh warehouse at ``target`` from the archive; report whether its marts are identical."""
    if target.resolve() == settings.warehouse.resolve():
        raise PipelineError("replay needs a fresh warehouse folder, not the live one")
    if target.exists() and any(target.iterdir()):
        raise PipelineError(f"{target} is not empty: replay builds a fresh warehouse")
    files = landing.archived_files(settings)
    if not files:
        raise PipelineError(f"nothing to replay: {settings.archive_dir} holds no archived batches")
    scratch = Path(tempfile.mkdtemp(prefix="replay-landing-"))
    fresh = replace(settings, landing=scratch, warehouse=target.resolve())
    try:
        copies = []
        for src in files:
            dest = scratch / landing.original_name(src)
            shutil.copy2(src, dest)
            copies.append(dest)
        outcomes = runner.run(fresh, copies)  # in archive (arrival) order: ingest keeps it
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    live, rebuilt = mart_checksums(settings), mart_checksums(fresh)
    return {
        "files": len(files),
        "failed": [o.file for o in outcomes if not o.ok],
        "identical": live == rebuilt,
        "live": live,
        "replayed": rebuilt,
        "warehouse": str(target),
    }
