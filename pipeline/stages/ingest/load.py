"""Ingest stage: validate every row of a landed file in DuckDB SQL and load it as one batch.

One landed file is one batch. The file is parsed once by DuckDB's CSV reader (every column
as text), each row gets at most one reason code, and in a single transaction the valid rows
go to ``audit.<dataset>`` (Write-Audit-Publish: the quality gate decides later whether they
are published to ``raw``), the rejected rows go to ``meta.quarantine`` and the ledger
records the counts. A crash before the commit leaves nothing behind; re-running the stage is
idempotent.

Conservation: ``rows_read = rows_loaded + rows_quarantined`` holds by construction, and every
record is proven against the file itself: a numpy record index built in the hashing pass says
where every record starts; the records the reader rejected (its reject store gives their start
offsets) are taken out, and the reader's rows must then be exactly the records left, in order.
When that does not come out exact, a line-by-line pass accounts for every record, and a file
whose lines still cannot all be accounted for is rejected as a whole rather than loaded short
(:mod:`pipeline.stages.ingest.account`).

The steps live in their own modules: ``scan`` (file facts), ``validate`` (the SQL),
``account`` (every record proven), and this one, ``load`` (one transaction, the ledger
verbs, the archive move).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import structlog

from pipeline.contract import CHECKED_COLUMNS, DATASET_COLUMNS, REASONS
from pipeline.errors import FileChanged, FileRejected
from pipeline.logs import stage
from pipeline.privacy import patterns
from pipeline.settings import Settings
from pipeline.stages.ingest.account import exact_account, fast_account
from pipeline.stages.ingest.scan import FileFacts, Limits, parse_header, scan_file, verify_unchanged
from pipeline.stages.ingest.validate import read_csv, validated_select
from pipeline.store import db, landing, ledger
from pipeline.store.db import sql_literal as _q
from pipeline.store.files import secure_dir, sha256_of

log = structlog.get_logger()


@dataclass
class IngestResult:
    batch_id: str
    dataset: str | None
    status: str  # ingested | duplicate | rejected | already_ingested
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    error_code: str | None = None
    error: str | None = None
    archived_to: Path | None = None


def _scan(settings: Settings, path: Path) -> tuple[FileFacts | None, FileRejected | None, str, int]:
    """The file's facts, or the limit it broke (the pass stopped early), and its sha256 and size."""
    limits = Limits(settings.max_text_bytes, settings.max_blank_lines, settings.max_record_bytes)
    try:
        facts = scan_file(path, index=True, limits=limits)
    except FileRejected as exc:  # over a limit: rejected whole by the caller, once registered
        return None, exc, sha256_of(path), path.stat().st_size
    return facts, None, facts.sha256, facts.size_bytes


def ingest_file(settings: Settings, path: Path, *, expected_batch_id: str | None = None) -> IngestResult:
    """Run the ingest stage for one landed file (see module docstring).

    ``expected_batch_id``: the id the file was queued under; a file whose content no longer
    matches raises :class:`~pipeline.errors.FileChanged` before anything is recorded.
    (Long: every outcome of a file — duplicate, resumed, rejected, failed, changed, loaded — is
    decided here in one connection, so each ledger verb is next to its move.)
    """
    path = Path(path)
    name = landing.display_name(path.name)  # any byte string a producer used, as printable text
    dataset = landing.classify(name, settings)
    structlog.contextvars.bind_contextvars(file=name, dataset=dataset)
    path = landing.utf8_path(path)  # DuckDB reads UTF-8 names only
    facts, too_large, sha256, size_bytes = _scan(settings, path)
    batch_id = ledger.batch_id_for(sha256)
    if expected_batch_id and batch_id != expected_batch_id.split("-dup")[0]:
        with db.connect(settings) as con:
            ledger.forget(con, expected_batch_id)
        raise FileChanged(f"{name} changed after it was queued (now batch {batch_id}); it will be taken again")
    structlog.contextvars.bind_contextvars(batch_id=batch_id)
    with stage("ingest") as summary, db.connect(settings) as con:
        reg = ledger.register(con, file=name, sha256=sha256, size_bytes=size_bytes, dataset=dataset)
        record = ledger.get(con, reg.batch_id)
        if reg.is_duplicate:
            dest = landing.archive_duplicate(settings, path, reg.batch_id)
            summary.update(status="duplicate", duplicate_of=reg.duplicate_of)
            return IngestResult(reg.batch_id, dataset, "duplicate", archived_to=dest)
        if ledger.stage_reached(record, "ingested"):
            # The one "already ingested" decision: a crash after the commit but before the move.
            # Finish the quarantine file and the move; nothing is loaded twice.
            _write_quarantine_csv(con, settings, dataset, batch_id)
            summary.update(status="already_ingested")
            return IngestResult(
                batch_id,
                dataset,
                "already_ingested",
                rows_read=record["rows_read"],
                rows_loaded=record["rows_loaded"],
                rows_quarantined=record["rows_quarantined"],
                reasons=_quarantine_reasons(con, batch_id),  # the marker was not written before the crash
                extra_columns=record.get("extra_columns") or [],
                archived_to=landing.archive(settings, path, record),
            )
        ledger.start(con, batch_id)
        try:
            if dataset is None:
                patterns_ = ", ".join(sum(settings.patterns.values(), ()))
                raise FileRejected("unknown_dataset", f"file name matches no dataset pattern ({patterns_})")
            if too_large:
                raise too_large
            result = _load(con, settings, facts, dataset, parse_header(facts, dataset), record)
        except FileRejected as exc:
            ledger.reject(con, batch_id, exc.code, exc.message)
            dest = landing.reject(settings, path, exc.code, exc.message, batch_id)
            summary.update(status="rejected", error_code=exc.code)
            log.warning("ingest.file_rejected", error_code=exc.code, error=exc.message, moved_to=str(dest))
            return IngestResult(batch_id, dataset, "rejected", error_code=exc.code, error=exc.message)
        except FileChanged:
            # Nothing was committed; back to queued, the file is taken again once complete.
            ledger.requeue(con, batch_id)
            raise
        except Exception as exc:
            # Unexpected failure: nothing was committed; the file stays in landing for a retry.
            ledger.fail(con, batch_id, "ingest_error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        result.archived_to = landing.archive(settings, path, record)
        summary.update(
            status="ingested",
            rows_read=result.rows_read,
            rows_loaded=result.rows_loaded,
            rows_quarantined=result.rows_quarantined,
            reasons=result.reasons,
            extra_columns=result.extra_columns,
        )
        return result


def _column_map(dataset: str, names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Reader column (``c<i>``) of each contract column, and extra columns (``extra:<name>``)."""
    contract = DATASET_COLUMNS[dataset]
    columns: dict[str, str] = {}
    extra_columns: list[str] = []
    for i, name in enumerate(names):
        if name in contract:
            columns[name] = f"c{i}"
        else:
            columns[f"extra:{name}"] = f"c{i}"
            extra_columns.append(name)
    return columns, extra_columns


#: What DuckDB 1.4 holds per text column while a chunk of rows is in flight (2,048 values, their
#: strings, the reader's and the projection's copies): measured ~150 KiB on a 10,000-column file.
_BYTES_PER_FIELD = 192 << 10
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update(kib=1 << 10, mib=1 << 20, gib=1 << 30, tib=1 << 40)


def _limit_bytes(limit: str) -> int | None:
    """Bytes of a DuckDB memory limit such as ``512MB`` or ``2GiB`` (None when not of that form)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", limit.lower())
    if not match or match[2] not in {"", *_UNITS}:
        return None
    return int(float(match[1]) * _UNITS.get(match[2] or "b"))


@contextlib.contextmanager
def _memory_for_width(con: duckdb.DuckDBPyConnection, limit: str, n_fields: int) -> Iterator[None]:
    """Raise the memory limit while a very wide file is read, and put it back.

    A query that uses every column holds a chunk of all of them: for a 10,000-column file more
    than the default 512 MB that DuckDB 1.4 accounts for, so the read failed with out-of-memory
    (DuckDB 1.0 did not count that memory and used ~830 MB of RSS regardless). Files of normal
    width are not affected.
    """
    configured = _limit_bytes(limit)
    needed = n_fields * _BYTES_PER_FIELD
    if configured is None or needed <= configured:
        yield
        return
    log.warning("ingest.wide_file_memory", fields=n_fields, memory_limit=limit, raised_to_bytes=needed)
    con.execute(f"set memory_limit = '{needed}B'")
    try:
        yield
    finally:
        con.execute(f"set memory_limit = {_q(limit)}")


#: DuckDB's refusal to pad rows in parallel when quoted fields hold line breaks (see :func:`read_csv`).
_PARALLEL_REFUSED = "does not support null_padding in conjunction with quoted new lines"


def _read_and_account(
    con: duckdb.DuckDBPyConnection, facts: FileFacts, dataset: str, columns: dict[str, str]
) -> object:
    """Temp table ``v`` (validated rows) and ``rejects``; returns the source line of each row of ``v``."""
    n_fields = len(columns)
    con.execute("set TimeZone = 'UTC'")
    con.execute("create or replace temp table rejects (line bigint, detail varchar, csv_line varchar)")
    con.execute("drop table if exists reader_rejects; drop table if exists reader_scans")
    if facts.records is not None and not facts.records.open_quote_at_end:
        # Fast path: a padded read that parses rows with too few or too many fields as well,
        # proven record by record against the file's own record index.
        try:
            read = read_csv(facts.path, n_fields, padded=True)
            con.execute(f"create or replace temp table v as {validated_select(dataset, columns, read, 'c_over')}")
        except duckdb.Error as exc:
            if _PARALLEL_REFUSED not in str(exc):
                raise
            log.info("ingest.serial_read", why="quoted line breaks the parallel reader refuses with padding")
            con.execute("drop table if exists reader_rejects; drop table if exists reader_scans")
            read = read_csv(facts.path, n_fields, padded=True, parallel=False)
            con.execute(f"create or replace temp table v as {validated_select(dataset, columns, read, 'c_over')}")
        lines, why_not = fast_account(con, facts, n_fields)
        if lines is not None:
            return lines
        log.info("ingest.fast_account_declined", why=why_not)
    # Exact path: a strict read, every record accounted for line by line (ingest.records).
    read = read_csv(facts.path, n_fields, padded=False)
    con.execute(f"create or replace temp table v as {validated_select(dataset, columns, read)}")
    parsed = con.execute("select count(*) from v").fetchone()[0]
    return exact_account(con, facts, n_fields, parsed)


def _hold_back(con: duckdb.DuckDBPyConnection, lines) -> tuple[dict, dict, bool]:
    """Later copies of an otherwise valid id (temp table ``dup_rows``) and the lines of held rows.

    Returns the two arrays DuckDB scans by name (every row's line, by position; the lines of
    rows held back, by row id, so the quarantine does not scan every row) and whether there
    are duplicates at all (usually not: only then is a window needed).
    """
    con.execute("""
        create or replace temp table dup_rows as
        select rid from (
            select rowid as rid, row_number() over (partition by id order by rowid) as n
            from v
            where reason_code is null
              and id in (select id from v where reason_code is null group by id having count(*) > 1))
        where n > 1""")
    held = con.execute("""
        select rowid as rid from v where reason_code is not null and reason_code <> 'malformed_row'
        union all select rid from dup_rows""").fetchnumpy()["rid"]
    has_dups = con.execute("select count(*) from dup_rows").fetchone()[0] > 0
    return {"line": lines}, {"rid": held, "line": lines[held]}, has_dups


def _quarantine_reasons(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, int]:
    """Quarantined records of the batch by reason code (sorted by code)."""
    rows = con.execute(
        "select reason_code, count(*) from meta.quarantine where batch_id = ? group by 1 order by 1", [batch_id]
    ).fetchall()
    return dict(rows)


def _field_text(dataset: str, column: str) -> str:
    """SQL for one field of a held row as text: a checked field's raw text, else its value."""
    if column in DATASET_COLUMNS[dataset]:
        return (
            f"coalesce(r_{column}, {column}::varchar)" if column in CHECKED_COLUMNS[dataset] else f"{column}::varchar"
        )
    key = column.replace("\\", "\\\\").replace('"', '\\"')
    return f"json_extract_string(_extra, {_q('$' + '.' + chr(34) + key + chr(34))})"


def _quarantine_fields_sql(dataset: str) -> str:
    """A held row's contract fields as the CSV reader split them, as one JSON object (redacted
    with the record, see :func:`_insert_quarantine`).

    Beside ``raw_record`` (the record as CSV text) so a person sees which text landed in which
    column. Malformed records have none: the reader could not split them.
    """
    pairs = ", ".join(f"{c} := {_field_text(dataset, c)}" for c in DATASET_COLUMNS[dataset])
    return f"to_json(struct_pack({pairs}))::varchar"


def _quarantine_record_sql(settings: Settings, dataset: str, names: list[str]) -> str:
    """A held row as CSV text, like the malformed records beside it: one format for ``raw_record``.

    The record's fields in the file's column order, each quoted as RFC 4180 says when it holds a
    comma, a quote or a line break (an empty field stays empty), redacted like the share layer
    (the original stays in the archive). Checked fields keep their raw text (that is what someone
    fixes) unless it holds personal data; free text and the file's extra columns, e.g. a
    producer's ``customer_email``, are redacted too. (A rejected row's checked fields are its
    raw text; a valid later copy of an id shows its parsed values, which is the same row.)
    """
    # The CSV text of the record, redacted whole like a malformed record's line: one text per
    # record, not per field (a 10,000-column file made a per-field redaction enormous).
    fields = ", ".join(_field_text(dataset, c) for c in names)
    quote = """case when x is null then '' when regexp_matches(x, '[",\\r\\n]')
                    then '"' || replace(x, '"', '""') || '"' else x end"""
    return f"array_to_string(list_transform([{fields}], x -> {quote}), ',')"


def _insert_quarantine(
    con: duckdb.DuckDBPyConnection, held_lines: dict, record_sql: str, fields_sql: str, params: list
) -> None:
    """Insert the held rows (rows of ``v`` at ``held_lines``) and the malformed records (table
    ``rejects``) into ``meta.quarantine``, their texts redacted like the share layer.

    Every text to redact (records, their split fields, malformed lines) goes through one
    layered redaction query (:func:`patterns.redact_query`) in one column: DuckDB compiles a
    statement's regexes when it binds it, so each redacted column costs ~0.2 s of compiling
    whatever its rows; three redaction expressions cost ~1.3 s of a 100-row batch. A few short
    texts take the Python twin instead (:func:`patterns.redact_into`).
    ``held_lines`` is scanned by name from this frame; ``params``: batch id, dataset, quarantined_at.
    """
    reason_text = ", ".join(f"{_q(k)}: {_q(v)}" for k, v in REASONS.items())
    # part 0: the record as CSV text; part 1: its fields as the reader split them
    texts = """(select q, 0 as part, raw_record as t from quarantine_texts
                union all select q, 1, fields from quarantine_texts where fields is not null)"""
    # both dropped by the caller (after a rollback, a statement here would fail)
    con.execute(
        f"""
        create temp table quarantine_texts as
        select row_number() over () as q, * from (
            select _line_number as line_number, final_reason as reason_code,
                   map_extract(map {{{reason_text}}}, final_reason)[1] as reason,
                   {record_sql} as raw_record, {fields_sql} as fields
            from (select v.*, held_lines.line as _line_number,
                         coalesce(reason_code, 'duplicate_id_in_file') as final_reason
                  from v join held_lines on v.rowid = held_lines.rid)
            union all
            select line, 'malformed_row', 'the CSV reader could not parse the row: ' || detail, csv_line, null
            from rejects
        )"""
    )
    patterns.redact_into(con, "quarantine_redacted", texts, ["t"])
    con.execute(
        """
        insert into meta.quarantine
        select ?, ?, line_number, reason_code, reason, record.t, ?, split.t
        from quarantine_texts
        join quarantine_redacted as record on record.q = quarantine_texts.q and record.part = 0
        left join quarantine_redacted as split on split.q = quarantine_texts.q and split.part = 1
        order by quarantine_texts.q""",
        params,
    )


#: OWASP CSV-injection guidance: a cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = "^[=+@\t\r-]"


def _csv_cell(expr: str) -> str:
    """``expr`` made inert for spreadsheets: a leading formula character gets a ``'`` before it."""
    quote = _q("'")
    return f"case when regexp_matches({expr}, {_q(_FORMULA_START)}) then {quote} || {expr} else {expr} end"


def _load(
    con: duckdb.DuckDBPyConnection, settings: Settings, facts: FileFacts, dataset: str, names: list[str], record: dict
) -> IngestResult:
    """Validate, account and write one batch in one transaction (audit rows, quarantine, ledger).

    Longer than most: its statements share one transaction and two arrays (``good_lines``,
    ``held_lines``) that DuckDB scans by name from this frame, so they stay together.
    """
    batch_id, seq = record["batch_id"], record["seq"]
    columns, extra_columns = _column_map(dataset, names)
    with _memory_for_width(con, settings.duckdb_memory_limit, len(columns)):
        lines = _read_and_account(con, facts, dataset, columns)
    good_lines, held_lines, has_dups = _hold_back(con, lines)  # noqa: F841
    parsed, flagged = con.execute(
        "select count(*), count(*) filter (where reason_code = 'malformed_row') from v"
    ).fetchone()
    rejected = con.execute("select count(*) from rejects").fetchone()[0]
    numbered = "(select v.*, v.rowid as rid, good_lines.line as _line_number from v positional join good_lines)"
    is_dup = "rid in (select rid from dup_rows)" if has_dups else "false"
    cols = ", ".join(DATASET_COLUMNS[dataset])
    patterns.install_macros(con)
    now = ledger.now()
    log.info("ingest.transaction_started", rows_parsed=parsed - flagged, rows_malformed=rejected)
    try:
        with db.transaction(con):
            con.execute(f"delete from audit.{dataset} where _batch_id = ?", [batch_id])
            con.execute("delete from meta.quarantine where batch_id = ?", [batch_id])
            con.execute(
                f"""
                insert into audit.{dataset} ({cols}, _extra, _batch_id, _batch_seq, _line_number, _loaded_at)
                select {cols}, _extra, ?, ?, _line_number, ?
                from {numbered} where reason_code is null and not ({is_dup})""",
                [batch_id, seq, now],
            )
            # Only with something to quarantine: the redaction compiles its regexes (RE2, the name
            # lists too) whatever the rows, ~0.2 s for nothing on a clean batch.
            if len(held_lines["rid"]) or rejected:
                _insert_quarantine(
                    con,
                    held_lines,
                    _quarantine_record_sql(settings, dataset, names),
                    _quarantine_fields_sql(dataset),
                    [batch_id, dataset, now],
                )
            counts = _quarantine_reasons(con, batch_id)
            loaded = con.execute(f"select count(*) from audit.{dataset} where _batch_id = ?", [batch_id]).fetchone()[0]
            quarantined = sum(counts.values())
            rows_read = parsed - flagged + rejected
            assert rows_read == loaded + quarantined, "conservation violated"  # by construction
            verify_unchanged(facts)  # the ledger's sha256 is the hash of exactly these bytes
            ledger.advance(
                con,
                batch_id,
                "ingested",
                rows_read=rows_read,
                rows_loaded=loaded,
                rows_quarantined=quarantined,
                extra_columns=extra_columns,
            )
    finally:
        con.execute(
            "drop table if exists v; drop table if exists rejects; drop table if exists reader_rejects; "
            "drop table if exists reader_scans; drop table if exists dup_rows; "
            "drop table if exists quarantine_texts; drop table if exists quarantine_redacted"
        )
    # After the commit: a failed load leaves no quarantine file behind. A crash before this
    # line is repaired when the stage resumes (see ingest_file, already_ingested).
    _write_quarantine_csv(con, settings, dataset, batch_id)
    if extra_columns:
        log.warning("ingest.extra_columns_kept", extra_columns=extra_columns)
    return IngestResult(
        batch_id,
        dataset,
        "ingested",
        rows_read=rows_read,
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        reasons=counts,
        extra_columns=extra_columns,
    )


def _write_quarantine_csv(
    con: duckdb.DuckDBPyConnection, settings: Settings, dataset: str, batch_id: str
) -> Path | None:
    """Rejected rows, restricted (0600 in a 0700 folder), for a person to open and fix.

    Values are redacted (see :func:`_quarantine_record_sql`) and cells that a spreadsheet would
    run as a formula are neutralised.
    """
    secure_dir(settings.quarantine_dir)
    folder = secure_dir(settings.quarantine_dir / dataset)
    dest = folder / f"{batch_id}.csv"
    n = con.execute("select count(*) from meta.quarantine where batch_id = ?", [batch_id]).fetchone()[0]
    if n == 0:
        dest.unlink(missing_ok=True)
        return None
    tmp = folder / f".{batch_id}.csv.tmp"
    con.execute(f"""
        copy (select line_number, reason_code, {_csv_cell("reason")} as reason,
                     {_csv_cell("raw_record")} as raw_record, fields
              from meta.quarantine where batch_id = {_q(batch_id)} order by line_number)
        to {_q(str(tmp))} (header, delimiter ',')""")
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)
    return dest
