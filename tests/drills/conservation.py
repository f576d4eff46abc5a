"""Conservation audit and warehouse snapshots for the fault drills (``tests/test_drills.py``).

:func:`audit` checks, for every batch the ledger shows ingested, that no input record was
lost or doubled: the ledger's counts add up, the warehouse holds exactly those rows, and an
independent account of the archived file's bytes, made without any CSV reader, agrees with
the source lines the rows and quarantine entries claim. :func:`snapshot` captures everything a
drill compares with an undisturbed run (tables, ledger, share layer, exports, markers, files),
with the columns that legitimately differ between runs (load times, generated-at stamps) left out.

Both read the warehouse files directly: call them only while no pipeline process is running.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb

from pipeline.orchestration.replay import mart_checksums
from pipeline.settings import Settings
from pipeline.store.landing import archive_path
from pipeline.store.ledger import LEDGER_FIELDS, all_batches, stage_reached

#: Columns whose values depend on when a run happened, not on what it loaded.
VOLATILE_COLUMNS = {"_loaded_at", "quarantined_at", "updated_at", "landed_at", "started_at", "finished_at"}
#: Ledger fields compared between runs (times and the free-text error left out).
LEDGER_COMPARED = tuple(f for f in LEDGER_FIELDS if f not in VOLATILE_COLUMNS)
LOADED_TABLES = ("raw.categories", "raw.chats", "audit.categories", "audit.chats")


class ConservationError(AssertionError):
    """The audit found records that are lost, doubled or unaccounted for."""


# --------------------------------------------------------------------------- the audit
def physical_lines(data: bytes) -> int:
    """Lines of text: newlines, plus one for a last line without a trailing newline."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.lower().endswith(".gz") else data


def line_problems(data: bytes, starts: list[int], rows_read: int) -> list[str]:
    """Check the claimed record start lines of one file against its bytes (no CSV reader).

    ``starts`` are the source lines of all loaded and quarantined records. They must be
    distinct, ``rows_read`` many, and within the data lines; every other data line must be
    blank or continue a record whose quoted field is still open (an odd number of ``"`` from
    the record's start line up to that line; an unterminated quote keeps it open to the end).
    """
    problems = []
    n_lines = physical_lines(data)
    lines = data.split(b"\n")[:n_lines]
    start_set = set(starts)
    if len(start_set) != len(starts):
        doubled = sorted(n for n in start_set if starts.count(n) > 1)[:5]
        problems.append(f"{len(starts) - len(start_set)} source line(s) claimed twice, e.g. {doubled}")
    if len(start_set) != rows_read:
        problems.append(f"{len(start_set)} distinct record start lines but rows_read = {rows_read}")
    outside = sorted(n for n in start_set if not 2 <= n <= n_lines)
    if outside:
        problems.append(f"start lines outside the data lines 2..{n_lines}: {outside[:5]}")
    open_quote = False  # quote parity from the last start line up to the line before this one
    unaccounted = []
    for number in range(2, n_lines + 1):
        line = lines[number - 1]
        if number in start_set:
            open_quote = line.count(b'"') % 2 == 1
            continue
        if not open_quote and line.rstrip(b"\r"):
            unaccounted.append(number)  # neither a record, blank, nor inside a quoted field
        open_quote ^= line.count(b'"') % 2 == 1
    if unaccounted:
        problems.append(f"{len(unaccounted)} data line(s) are in no record, e.g. lines {unaccounted[:5]}")
    return problems


def _batch_problems(con: duckdb.DuckDBPyConnection, settings: Settings, batch: dict[str, Any]) -> list[str]:
    batch_id, dataset = batch["batch_id"], batch["dataset"]
    read, loaded, quarantined = batch["rows_read"], batch["rows_loaded"], batch["rows_quarantined"]
    problems = []
    if None in (read, loaded, quarantined) or read != loaded + quarantined:
        problems.append(f"ledger rows_read {read} != rows_loaded {loaded} + rows_quarantined {quarantined}")
    loaded_lines = [
        r[0]
        for r in con.execute(
            f"select _line_number from raw.{dataset} where _batch_id = $1 "
            f"union all select _line_number from audit.{dataset} where _batch_id = $1",
            [batch_id],
        ).fetchall()
    ]
    quarantine_lines = [
        r[0] for r in con.execute("select line_number from meta.quarantine where batch_id = ?", [batch_id]).fetchall()
    ]
    if len(loaded_lines) != loaded:
        problems.append(f"{len(loaded_lines)} rows in audit/raw.{dataset} but rows_loaded = {loaded}")
    if len(quarantine_lines) != quarantined:
        problems.append(f"{len(quarantine_lines)} rows in meta.quarantine but rows_quarantined = {quarantined}")
    quarantine_csv = settings.quarantine_dir / dataset / f"{batch_id}.csv"
    if quarantine_csv.exists() != bool(quarantined):
        problems.append(
            f"quarantine file {quarantine_csv} exists: {quarantine_csv.exists()}, rows_quarantined = {quarantined}"
        )
    archived = archive_path(settings, batch)
    if not archived.is_file():
        return [*problems, f"archived file {archived.name} is missing"]
    raw_bytes = archived.read_bytes()
    if hashlib.sha256(raw_bytes).hexdigest() != batch["sha256"]:
        problems.append(f"archived file {archived.name} does not match the ledger's sha256")
    return problems + line_problems(_file_bytes(archived), loaded_lines + quarantine_lines, read or 0)


def _orphan_problems(con: duckdb.DuckDBPyConnection, batches: list[dict[str, Any]]) -> list[str]:
    """Rows must belong to a batch at the right stage: raw = published, audit = ingested only."""
    published = {b["batch_id"] for b in batches if stage_reached(b, "published")}
    ingested = {b["batch_id"] for b in batches if stage_reached(b, "ingested")}
    problems = []
    for table in LOADED_TABLES:
        allowed = published if table.startswith("raw.") else ingested - published
        for (batch_id,) in con.execute(f"select distinct _batch_id from {table}").fetchall():
            if batch_id not in allowed:
                problems.append(f"{table} holds rows of batch {batch_id}, which is not at that stage")
    for (batch_id,) in con.execute("select distinct batch_id from meta.quarantine").fetchall():
        if batch_id not in ingested:
            problems.append(f"meta.quarantine holds rows of batch {batch_id}, which was never ingested")
    return problems


def _audit(settings: Settings) -> tuple[list[str], int]:
    """The problems found, and how many batches were audited."""
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        batches = all_batches(con)
        ingested = [b for b in batches if stage_reached(b, "ingested")]
        found = _orphan_problems(con, batches)
        for batch in ingested:
            found += [f"{batch['batch_id']} ({batch['file']}): {p}" for p in _batch_problems(con, settings, batch)]
    return found, len(ingested)


def problems(settings: Settings) -> list[str]:
    """Everything the audit finds wrong (empty when every record is accounted for)."""
    return _audit(settings)[0]


def audit(settings: Settings) -> int:
    """Raise ConservationError listing every problem; returns the number of batches audited."""
    found, audited = _audit(settings)
    if found:
        raise ConservationError("conservation audit failed:\n  " + "\n  ".join(found))
    return audited


# --------------------------------------------------------------------------- snapshots
def table_checksums(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash per table, volatile columns left out."""
    out = {}
    for table in tables:
        schema, name = table.split(".")
        columns = [
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where database_name = current_database() "
                "and schema_name = ? and table_name = ? order by column_index",
                [schema, name],
            ).fetchall()
        ]
        kept = ", ".join(c for c in columns if c not in VOLATILE_COLUMNS)
        n, digest = con.execute(
            f"select count(*), coalesce(bit_xor(hash(t::varchar)), 0)::varchar from (select {kept} from {table}) as t"
        ).fetchone()
        out[table] = (n, digest)
    return out


def published_data(settings: Settings) -> dict[str, Any]:
    """What readers see: the raw tables, the marts and the quarantine (for a before/after comparison)."""
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        tables = table_checksums(con, [*LOADED_TABLES, "meta.quarantine"])
    return {"tables": tables, "marts": mart_checksums(settings)}


def _share_checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    if not settings.share_db.exists():
        return {}
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        names = [
            f"main.{r[0]}"
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main' order by 1"
            ).fetchall()
        ]
        return table_checksums(con, names)


def _exports(settings: Settings) -> dict[str, Any]:
    """The published export set; ``generated_at`` (and the report line quoting it) left out."""
    folder = settings.exports_dir
    if not folder.exists():
        return {}
    out: dict[str, Any] = {}
    for path in sorted(folder.iterdir()):
        if path.name == "analysis.json":
            doc = json.loads(path.read_text())
            doc.pop("generated_at", None)
            out[path.name] = doc
        elif path.name == "report.md":
            out[path.name] = [line for line in path.read_text().splitlines() if not line.startswith("Generated ")]
        else:
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _files(folder: Path) -> dict[str, str]:
    """Relative path → sha256 of every file below ``folder``."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything a drill compares with an undisturbed run of the same input files."""
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        batches = all_batches(con)
        quarantine = con.execute(
            "select batch_id, reason_code, count(*) from meta.quarantine group by all order by all"
        ).fetchall()
    return {
        **published_data(settings),
        "ledger": [{name: b[name] for name in LEDGER_COMPARED} for b in batches],
        "quarantine_by_reason": quarantine,
        "share": _share_checksums(settings),
        "exports": _exports(settings),
        "markers": sorted(str(p.relative_to(settings.state_dir)) for p in settings.state_dir.rglob("*.json")),
        "landing": _files(settings.landing),
    }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Keys of two snapshots that differ, with both values (short)."""
    out = []
    for key in sorted(set(expected) | set(actual)):
        a, b = expected.get(key), actual.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for sub in sorted(set(a) | set(b)):
                if a.get(sub) != b.get(sub):
                    out.append(f"{key}[{sub}]: expected {str(a.get(sub))[:200]}, got {str(b.get(sub))[:200]}")
        else:
            out.append(f"{key}: expected {str(a)[:300]}, got {str(b)[:300]}")
    return out
