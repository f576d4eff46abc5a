"""Find landed files and drive the Luigi chain over them, one batch at a time, in arrival order."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import luigi
import structlog

from pipeline import db, ledger
from pipeline.settings import Settings

log = structlog.get_logger()

IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")


def is_candidate(path: Path) -> bool:
    """Files the pipeline takes from landing/: visible ``*.csv`` / ``*.csv.gz`` regular files.

    Hidden files and in-progress copies (``*.tmp``, ``*.part``…) are ignored; other
    extensions (``manifest.json``, notes) are left alone.
    """
    name = path.name.lower()
    if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
        return False
    return (name.endswith(".csv") or name.endswith(".csv.gz")) and path.is_file() and not path.is_symlink()


def arrival_key(path: Path, settings: Settings) -> tuple:
    """Arrival order (mtime), categories before chats when both are waiting."""
    from pipeline.ingest import classify

    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        mtime = 0
    return (0 if classify(path.name, settings) == "categories" else 1, mtime, path.name)


def discover(settings: Settings) -> list[Path]:
    """Files waiting in landing/, in processing order."""
    if not settings.landing.is_dir():
        return []
    files = [p for p in settings.landing.iterdir() if is_candidate(p)]
    return sorted(files, key=lambda p: arrival_key(p, settings))


@dataclass
class BatchOutcome:
    file: str
    batch_id: str | None
    status: str
    error: str | None = None


def run_file(settings: Settings, path: Path, *, scheduler_url: str | None = None) -> BatchOutcome:
    """Run the whole chain for one file and report what the ledger says about it."""
    from pipeline.tasks import ProcessFile, resolve_batch

    path = path.resolve()
    batch_id = resolve_batch(settings, path)
    task = ProcessFile(path=str(path), batch_id=batch_id, landing=str(settings.landing),
                       warehouse=str(settings.warehouse))
    kwargs = {"local_scheduler": True} if not scheduler_url else {"scheduler_url": scheduler_url}
    luigi.build([task], workers=1, detailed_summary=False, log_level="WARNING", **kwargs)
    with db.connect(settings) as con:
        record = ledger.get(con, batch_id)
        dup = con.execute(
            "select batch_id from meta.batches where duplicate_of = ? and file = ? order by seq desc limit 1",
            [batch_id, path.name]).fetchone()
    if dup and not path.exists() and record and record["status"] == "done":
        return BatchOutcome(path.name, dup[0], "duplicate")
    if record is None:
        return BatchOutcome(path.name, batch_id, "failed", "the batch never reached the ledger")
    return BatchOutcome(path.name, batch_id, record["status"], record["error"])


def run_pending(settings: Settings, files: list[Path] | None = None, *,
                scheduler_url: str | None = None) -> list[BatchOutcome]:
    """Process the given files (default: everything waiting in landing/) one after another."""
    todo = files if files is not None else discover(settings)
    outcomes = []
    for path in todo:
        structlog.contextvars.clear_contextvars()
        outcome = run_file(settings, Path(path), scheduler_url=scheduler_url)
        outcomes.append(outcome)
        log.info("batch.finished", file=outcome.file, batch_id=outcome.batch_id, status=outcome.status,
                 error=outcome.error)
    structlog.contextvars.clear_contextvars()
    return outcomes


# --------------------------------------------------------------------------- replay
def archived_files(settings: Settings) -> list[Path]:
    """Archived batches in their original arrival order (the ``<seq>_`` prefix of their names)."""
    if not settings.archive_dir.is_dir():
        return []
    return sorted(p for p in settings.archive_dir.iterdir() if p.is_file() and p.name[:8].isdigit())


def mart_checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every mart table."""
    with db.connect(settings) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall()]
        out = {}
        for table in tables:
            n, digest = con.execute(
                f"select count(*), coalesce(bit_xor(hash(t::varchar)), 0)::varchar from marts.{table} as t"
            ).fetchone()
            out[table] = (n, digest)
    return out


def replay(settings: Settings, target: Path) -> dict:
    """Rebuild a fresh warehouse at ``target`` from landing/archive/ and compare its marts with the live ones."""
    import shutil
    import tempfile

    from pipeline.errors import PipelineError
    from dataclasses import replace

    if target.resolve() == settings.warehouse.resolve():
        raise PipelineError("replay needs a fresh warehouse folder, not the live one")
    if target.exists() and any(target.iterdir()):
        raise PipelineError(f"{target} is not empty: replay builds a fresh warehouse")
    files = archived_files(settings)
    if not files:
        raise PipelineError(f"nothing to replay: {settings.archive_dir} holds no archived batches")
    scratch = Path(tempfile.mkdtemp(prefix="replay-landing-"))
    fresh = replace(settings, landing=scratch, warehouse=target.resolve())
    outcomes = []
    try:
        for src in files:
            dest = scratch / src.name.split("__", 1)[1]
            shutil.copy2(src, dest)
            outcomes.append(run_file(fresh, dest))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    live, rebuilt = mart_checksums(settings), mart_checksums(fresh)
    return {"files": len(files), "failed": [o.file for o in outcomes if o.status != "done"],
            "identical": live == rebuilt, "live": live, "replayed": rebuilt, "warehouse": str(target)}
