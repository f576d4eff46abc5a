"""Ingest stage: validate every row of a landed file in DuckDB SQL and load it as one batch.

One landed file is one batch. The file is parsed once by DuckDB's CSV reader (every
column as text, reader-level rejects kept), each row gets at most one reason code, and in
a single transaction the valid rows go to ``audit.<dataset>`` (Write-Audit-Publish: the
quality gate decides later whether they are published to ``raw``), the rejected rows go to
``meta.quarantine`` and the ledger records the counts. A crash before the commit leaves
nothing behind; re-running the stage is idempotent.

Conservation: ``rows_read = rows_loaded + rows_quarantined`` holds by construction, and the
record count is reconciled against physical lines counted independently of the CSV reader
(DuckDB 1.0 can swallow a line after an unterminated quote without reporting it): a file
whose lines cannot all be accounted for is rejected as a whole rather than loaded short.
"""
from __future__ import annotations

import csv
import fnmatch
import gzip
import hashlib
import io
import json
import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import structlog

from pipeline import csvscan, db, ledger, pii
from pipeline.errors import FileRejected
from pipeline.logs import stage
from pipeline.settings import Settings

log = structlog.get_logger()

REASONS = {
    "malformed_row": "the CSV reader could not parse the row",
    "missing_id": "id is empty",
    "invalid_id": "id is not a UUID",
    "duplicate_id_in_file": "id already appeared earlier in this file",
    "missing_created_at": "created_at is empty",
    "invalid_timestamp": "a timestamp is not a valid timestamp",
    "resolved_before_created": "resolved_at is earlier than created_at",
    "invalid_boolean": "a boolean is not one of true/false, t/f, 1/0, yes/no",
    "invalid_category_id": "a category id is neither empty nor a UUID",
    "self_parent": "parent_id equals id",
}
DATASET_FIELDS = {name: tuple(cols) for name, cols in db.DATASET_COLUMNS.items()}
#: Columns whose raw text is kept next to the typed value, to judge and quarantine a row.
CHECKED = {
    "chats": ("id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at"),
    "categories": ("id", "parent_id", "disabled"),
}
TRUE_WORDS = ("true", "t", "1", "yes")
FALSE_WORDS = ("false", "f", "0", "no")
_CHUNK = 8 << 20
_MAX_LINE = 64 << 20


@dataclass
class FileFacts:
    """What is known about a landed file from one streaming pass over its bytes."""

    path: Path
    sha256: str
    size_bytes: int
    physical_lines: int  # lines of text, header included, trailing newline not counted twice
    first_line: bytes
    head: bytes  # the first few KiB, to tell text from binary
    cr_only: bool = False  # classic Mac line endings
    unreadable: str | None = None  # why the (compressed) text could not be read


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


# --------------------------------------------------------------------------- file level
def classify(name: str, settings: Settings) -> str | None:
    """Dataset of a file name by the configured glob patterns (case-insensitive), or None."""
    lowered = name.lower()
    for dataset in ("categories", "chats"):  # categories first: a name can match both patterns
        if any(fnmatch.fnmatch(lowered, pattern.lower()) for pattern in settings.patterns[dataset]):
            return dataset
    return None


def scan_file(path: Path) -> FileFacts:
    """Hash the stored bytes and count physical lines of the text (one pass for plain files)."""
    sha = hashlib.sha256()
    size = newlines = carriage_returns = 0
    last = first_line = head = b""

    def text_chunk(chunk: bytes) -> None:
        nonlocal newlines, carriage_returns, last, first_line, head
        if not head:
            head = chunk[:4096]
            first_line = chunk.split(b"\n", 1)[0][:_MAX_LINE]
        newlines += chunk.count(b"\n")
        carriage_returns += chunk.count(b"\r")
        last = chunk[-1:]

    compressed = path.name.lower().endswith(".gz")
    with open(path, "rb") as raw:
        while chunk := raw.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
            if not compressed:
                text_chunk(chunk)
    unreadable = None
    if compressed:
        try:
            with gzip.open(path, "rb") as text:
                while chunk := text.read(_CHUNK):
                    text_chunk(chunk)
        except (OSError, EOFError, zlib.error) as exc:  # not gzip, truncated or corrupt
            unreadable = f"cannot decompress the gzip file: {exc}"
    cr_only = newlines == 0 and carriage_returns > 0
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    return FileFacts(path, sha.hexdigest(), size, lines, first_line.split(b"\r", 1)[0], head, cr_only,
                     unreadable)


def _looks_binary(head: bytes) -> bool:
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return b"\x00" in head or controls > len(head) // 100


def parse_header(facts: FileFacts, dataset: str) -> list[str]:
    """Header names, trimmed and lower-cased; whole-file problems raise FileRejected."""
    first_line = facts.first_line
    if facts.unreadable:
        raise FileRejected("unreadable", facts.unreadable)
    if facts.head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FileRejected("not_utf8", "the file is UTF-16 text (byte-order mark FF FE / FE FF); save it as UTF-8")
    if not facts.head.strip():
        raise FileRejected("empty_file", "the file is empty (no header row)")
    if _looks_binary(facts.head):
        raise FileRejected("not_csv", "the file holds binary data (NUL or control bytes), not CSV text")
    if facts.cr_only:
        raise FileRejected("cr_line_endings", "lines end with a bare CR (classic Mac); save with LF or CRLF endings")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected("not_utf8", f"the header is not valid UTF-8 (byte {exc.start})") from exc
    names = [name.strip().lower() for name in next(csv.reader(io.StringIO(text)))]
    required = db.REQUIRED_COLUMNS[dataset]
    if len(names) == 1 and names[0] not in required:
        raise FileRejected("not_csv", "the first line has no comma-separated header: this is not a CSV export")
    if "" in names:
        raise FileRejected("bad_header", f"header column {names.index('') + 1} has no name")
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})
    if dupes:
        raise FileRejected("duplicate_columns", f"header names repeat: {', '.join(dupes)}")
    missing = [c for c in required if c not in names]
    if missing:
        raise FileRejected(
            "missing_columns", f"required column(s) missing for {dataset}: {', '.join(missing)}"
        )
    if facts.physical_lines < 2:
        raise FileRejected("no_rows", "the file has a header but no data rows")
    return names


# --------------------------------------------------------------------------- SQL
def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bool_sql(raw: str) -> str:
    words_t = ", ".join(_q(w) for w in TRUE_WORDS)
    words_f = ", ".join(_q(w) for w in FALSE_WORDS)
    return (f"case when lower(trim({raw})) in ({words_t}) then true "
            f"when lower(trim({raw})) in ({words_f}) then false end")


def _ts_sql(raw: str) -> str:
    # TIMESTAMP (not TIMESTAMPTZ): in DuckDB 1.0 it converts 'Z' and '+hh:mm' offsets to UTC and
    # rejects forms TIMESTAMPTZ would misread (' -0500'); the range check drops 'infinity'.
    ts = f"try_cast(trim({raw}) as timestamp)"
    return f"case when {ts} between timestamp '1900-01-01' and timestamp '2200-01-01' then {ts} end"


def _validated_select(dataset: str, columns: dict[str, str], read: str) -> str:
    """SELECT producing typed columns, raw text of the checked columns and one reason code."""
    def raw(name: str) -> str:
        return columns.get(name, "null::varchar")

    if dataset == "chats":
        typed = f"""
            try_cast(trim({raw('id')}) as uuid) as id,
            try_cast(trim({raw('chat_category_id')}) as uuid) as chat_category_id,
            {_ts_sql(raw('created_at'))} as created_at,
            {_bool_sql(raw('is_customer_initiated'))} as is_customer_initiated,
            {_ts_sql(raw('resolved_at'))} as resolved_at,
            {raw('message')} as message"""
        reason = """
            case
                when r_id is null then 'missing_id'
                when id is null then 'invalid_id'
                when r_created_at is null then 'missing_created_at'
                when created_at is null or (r_resolved_at is not null and resolved_at is null)
                    then 'invalid_timestamp'
                when r_is_customer_initiated is not null and is_customer_initiated is null
                    then 'invalid_boolean'
                when r_chat_category_id is not null and chat_category_id is null
                    then 'invalid_category_id'
                when resolved_at < created_at then 'resolved_before_created'
            end"""
    else:
        parent = raw("parent_id")
        typed = f"""
            try_cast(trim({raw('id')}) as uuid) as id,
            try_cast(case when lower(trim({parent})) = 'null' then null else trim({parent}) end as uuid)
                as parent_id,
            {_bool_sql(raw('disabled'))} as disabled"""
        reason = """
            case
                when r_id is null then 'missing_id'
                when id is null then 'invalid_id'
                when r_disabled is not null and disabled is null then 'invalid_boolean'
                when r_parent_id is not null and lower(trim(r_parent_id)) <> 'null' and parent_id is null
                    then 'invalid_category_id'
                when parent_id = id then 'self_parent'
            end"""
    raws = ",\n            ".join(f"{raw(c)} as r_{c}" for c in CHECKED[dataset])
    extras = [f"{_q(name.removeprefix('extra:'))}, {col}" for name, col in columns.items()
              if name.startswith("extra:")]
    extra_sql = f"json_object({', '.join(extras)})" if extras else "null::json"
    typed_names = ", ".join(DATASET_FIELDS[dataset])
    # Raw text is kept only for rejected rows: it is what the quarantine shows.
    keep_raw = ", ".join(f"case when reason_code is not null then r_{c} end as r_{c}" for c in CHECKED[dataset])
    return f"""
        select {typed_names}, _extra, reason_code, {keep_raw}
        from (
            select *, {reason} as reason_code
            from (
                select
                    {typed},
                    {raws},
                    {extra_sql} as _extra
                from {read}
            )
        )"""


# --------------------------------------------------------------------------- stage
def _move(src: Path, dest_dir: Path, name: str) -> Path:
    db.secure_dir(dest_dir)
    dest = dest_dir / name
    if src.exists():
        os.replace(src, dest)
        os.chmod(dest, 0o600)  # archived and failed files keep raw values: owner-only
    return dest


def reject_file(settings: Settings, path: Path, code: str, message: str, batch_id: str | None) -> Path:
    """Move a whole-file reject to failed/ with ``<name>.error.json`` beside it."""
    dest = _move(path, settings.failed_dir, path.name)
    payload = {"file": path.name, "batch_id": batch_id, "error_code": code, "error": message,
               "failed_at": ledger.now().isoformat() + "Z"}
    tmp = dest.with_name(f".{dest.name}.error.json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, dest.with_name(f"{dest.name}.error.json"))
    return dest


def archive_name(record: dict) -> str:
    """Archived files keep arrival order in their name so a replay can follow it."""
    return f"{record['seq']:08d}_{record['batch_id']}__{Path(record['file']).name}"


def ingest_file(settings: Settings, path: Path) -> IngestResult:
    """Run the ingest stage for one landed file (see module docstring)."""
    path = Path(path)
    dataset = classify(path.name, settings)
    structlog.contextvars.bind_contextvars(file=path.name, dataset=dataset)
    facts = scan_file(path)
    batch_id = ledger.batch_id_for(facts.sha256)
    structlog.contextvars.bind_contextvars(batch_id=batch_id)
    with stage("ingest") as summary, db.connect(settings) as con:
        reg = ledger.register(con, file=path.name, sha256=facts.sha256,
                              size_bytes=facts.size_bytes, dataset=dataset)
        record = ledger.get(con, reg.batch_id)
        if reg.is_duplicate:
            dest = _move(path, settings.archive_dir / "duplicates", f"{reg.batch_id}__{path.name}")
            summary.update(status="duplicate", duplicate_of=reg.duplicate_of)
            return IngestResult(reg.batch_id, dataset, "duplicate", archived_to=dest)
        if ledger.stage_reached(record, "ingested"):
            # Crash after the commit but before the move: finish the move only.
            dest = _move(path, settings.archive_dir, archive_name(record))
            summary.update(status="already_ingested")
            return IngestResult(batch_id, dataset, "already_ingested",
                                rows_read=record["rows_read"], rows_loaded=record["rows_loaded"],
                                rows_quarantined=record["rows_quarantined"], archived_to=dest)
        ledger.update(con, batch_id, status="running", started_at=ledger.now())
        try:
            if dataset is None:
                raise FileRejected(
                    "unknown_dataset",
                    f"file name matches no dataset pattern ({', '.join(sum(settings.patterns.values(), ()))})",
                )
            names = parse_header(facts, dataset)
            result = _load(con, settings, facts, dataset, names, batch_id, record["seq"])
        except FileRejected as exc:
            ledger.update(con, batch_id, status="rejected", error_code=exc.code, error=exc.message,
                          finished_at=ledger.now())
            dest = reject_file(settings, path, exc.code, exc.message, batch_id)
            summary.update(status="rejected", error_code=exc.code)
            log.warning("ingest.file_rejected", error_code=exc.code, error=exc.message, moved_to=str(dest))
            return IngestResult(batch_id, dataset, "rejected", error_code=exc.code, error=exc.message)
        except Exception as exc:
            # Unexpected failure: nothing was committed; the file stays in landing for a retry.
            ledger.update(con, batch_id, status="failed", error_code="ingest_error",
                          error=str(exc).splitlines()[0][:500], finished_at=ledger.now())
            raise
        record = ledger.get(con, batch_id)
        result.archived_to = _move(path, settings.archive_dir, archive_name(record))
        summary.update(status="ingested", rows_read=result.rows_read, rows_loaded=result.rows_loaded,
                       rows_quarantined=result.rows_quarantined, reasons=result.reasons,
                       extra_columns=result.extra_columns)
        return result


def _load(con: duckdb.DuckDBPyConnection, settings: Settings, facts: FileFacts, dataset: str,
          names: list[str], batch_id: str, seq: int) -> IngestResult:
    contract = db.DATASET_COLUMNS[dataset]
    columns: dict[str, str] = {}
    extra_columns: list[str] = []
    for i, name in enumerate(names):
        if name in contract:
            columns[name] = f"c{i}"
        else:
            columns[f"extra:{name}"] = f"c{i}"
            extra_columns.append(name)
    spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    tag = f"{batch_id}_{int(time.time() * 1000)}"
    read = (f"read_csv({_q(str(facts.path))}, header = true, auto_detect = false, delim = ',', "
            f"quote = '\"', escape = '\"', columns = {spec}, store_rejects = true, "
            f"rejects_table = 'rej_{tag}', rejects_scan = 'rejscan_{tag}', "
            f"max_line_size = {_MAX_LINE}, null_padding = false)")
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"create or replace temp table v as {_validated_select(dataset, columns, read)}")
    con.execute(f"""
        create or replace temp table rejects as
        select line, min(lower(error_type::varchar) || ': ' || error_message) as detail,
               min(csv_line) as csv_line
        from rej_{tag} group by line""")
    con.execute(f"drop table rej_{tag}; drop table rejscan_{tag}")
    parsed, embedded = con.execute(
        "select count(*), coalesce(sum(length(message) - length(replace(message, chr(10), ''))), 0) from v"
        if dataset == "chats" else "select count(*), 0 from v").fetchone()
    rejected, rejected_embedded = con.execute(
        "select count(*), coalesce(sum(length(csv_line) - length(replace(csv_line, chr(10), ''))), 0) "
        "from rejects").fetchone()
    con.execute("create or replace temp table spans (start bigint, lines bigint)")
    if embedded == 0 and rejected_embedded == 0 and 1 + parsed + rejected == facts.physical_lines:
        # Every record is one line and the reader reported every reject: its account is complete.
        con.execute("insert into spans select line, 1 from rejects")
    else:
        _exact_account(con, facts, len(names), parsed)
        rejected = con.execute("select count(*) from rejects").fetchone()[0]
    # Later copies of an id that is otherwise valid (usually none: only then is a window needed).
    con.execute("""
        create or replace temp table dup_rows as
        select rid from (
            select rowid as rid, row_number() over (partition by id order by rowid) as n
            from v
            where reason_code is null
              and id in (select id from v where reason_code is null group by id having count(*) > 1))
        where n > 1""")
    # Source line of each parsed row: the data lines that are not taken by rejected records, blank
    # lines or continuations of multi-line fields, in order, joined to the rows by position.
    good_lines = {"line": _good_row_lines(con, facts, parsed)}  # noqa: F841  (scanned by DuckDB by name)
    has_dups = con.execute("select count(*) from dup_rows").fetchone()[0] > 0
    numbered = "(select v.*, v.rowid as rid, good_lines.line as _line_number from v positional join good_lines)"
    is_dup = "rid in (select rid from dup_rows)" if has_dups else "false"
    cols = list(contract)
    raw_cols = [c for c in names if c in contract]
    reason_text = ", ".join(f"{_q(k)}: {_q(v)}" for k, v in REASONS.items())
    # Quarantine keeps raw values so rows can be fixed, except free text marked PII in the dbt
    # yml: that is redacted here too (the untouched original stays in the restricted archive).
    from pipeline.transform import pii_meta

    free_text = set(pii_meta(settings).get(f"raw.{dataset}", {}))
    pii.install_macros(con)

    def pick(c: str) -> str:
        if c in CHECKED[dataset]:
            return f"{_q(c)}, coalesce(r_{c}, {c}::varchar)"
        return f"{_q(c)}, {pii.redact_sql(c) if c in free_text else f'{c}::varchar'}"

    raw_pick = ", ".join(pick(c) for c in raw_cols)
    now = ledger.now()
    con.execute("begin transaction")
    log.info("ingest.transaction_started", rows_parsed=parsed, rows_rejected_by_reader=rejected)
    try:
        con.execute(f"delete from audit.{dataset} where _batch_id = ?", [batch_id])
        con.execute("delete from meta.quarantine where batch_id = ?", [batch_id])
        con.execute(f"""
            insert into audit.{dataset} ({', '.join(cols)}, _extra, _batch_id, _batch_seq, _line_number, _loaded_at)
            select {', '.join(cols)}, _extra, ?, ?, _line_number, ?
            from {numbered} where reason_code is null and not ({is_dup})""", [batch_id, seq, now])
        con.execute(f"""
            insert into meta.quarantine
            select ?, ?, _line_number, final_reason,
                   map_extract(map {{{reason_text}}}, final_reason)[1],
                   json_object({raw_pick}, '_extra', _extra)::varchar, ?
            from (select *, coalesce(reason_code, 'duplicate_id_in_file') as final_reason
                  from {numbered} where reason_code is not null or {is_dup})
            union all
            select ?, ?, line, 'malformed_row', 'the CSV reader could not parse the row: ' || detail,
                   {pii.redact_sql('csv_line')}, ?
            from rejects""", [batch_id, dataset, now, batch_id, dataset, now])
        counts = dict(con.execute("""
            select reason_code, count(*) from meta.quarantine where batch_id = ? group by 1 order by 1""",
                                  [batch_id]).fetchall())
        loaded = con.execute(f"select count(*) from audit.{dataset} where _batch_id = ?", [batch_id]).fetchone()[0]
        quarantined = sum(counts.values())
        rows_read = parsed + rejected
        assert rows_read == loaded + quarantined, "conservation violated"  # by construction
        _write_quarantine_csv(con, settings, dataset, batch_id)
        ledger.update(con, batch_id, stage="ingested", rows_read=rows_read, rows_loaded=loaded,
                      rows_quarantined=quarantined, extra_columns=extra_columns)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists v; drop table if exists rejects; drop table if exists spans; "
                    "drop table if exists dup_rows")
    if extra_columns:
        log.warning("ingest.extra_columns_kept", extra_columns=extra_columns)
    return IngestResult(batch_id, dataset, "ingested", rows_read=rows_read, rows_loaded=loaded,
                        rows_quarantined=quarantined, reasons=counts, extra_columns=extra_columns)


def _good_row_lines(con: duckdb.DuckDBPyConnection, facts: FileFacts, parsed: int) -> np.ndarray:
    """Line numbers of the parsed rows, in file order (data lines minus the spans)."""
    free = np.ones(max(facts.physical_lines - 1, 0), dtype=bool)  # index i is line i + 2
    for start, lines in con.execute("select start, lines from spans").fetchall():
        free[start - 2:start - 2 + lines] = False
    good = np.flatnonzero(free) + 2
    if len(good) != parsed:
        raise FileRejected("unaccounted_lines", f"{len(good)} data lines are not accounted for by "
                           f"{parsed} parsed rows; nothing was loaded")
    return good


def _exact_account(con: duckdb.DuckDBPyConnection, facts: FileFacts, n_fields: int, parsed: int) -> None:
    """Replace the reader's rejects with an exact line-by-line account (see ``pipeline.csvscan``)."""
    account = csvscan.scan(facts.path, n_fields)
    malformed = account.malformed
    if account.records - len(malformed) != parsed:
        first = malformed[0].start if malformed else None
        raise FileRejected(
            "unaccounted_lines",
            f"the CSV reader loaded {parsed} rows but the file holds {account.records - len(malformed)} well-formed "
            f"records{f' (first malformed record at line {first})' if first else ''}; nothing was loaded",
        )
    log.info("ingest.exact_account", records=account.records, malformed=len(malformed),
             other_spans=len(account.spans) - len(malformed))
    con.execute("delete from rejects")
    # Through a temporary CSV: DuckDB's executemany costs ~0.5 ms a row.
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as fh:
        writer = csv.writer(fh)
        writer.writerow(("start", "lines", "malformed", "detail", "csv_line"))
        writer.writerows((s.start, s.lines, s.malformed, s.error, s.raw.decode("utf-8", errors="replace"))
                         for s in account.spans)
    try:
        read = (f"read_csv({_q(fh.name)}, header = true, auto_detect = false, columns = {{'start': 'BIGINT', "
                "'lines': 'BIGINT', 'malformed': 'BOOLEAN', 'detail': 'VARCHAR', 'csv_line': 'VARCHAR'})")
        con.execute(f"create or replace temp table account as select * from {read}")
        con.execute("insert into rejects select start, detail, csv_line from account where malformed")
        con.execute("insert into spans select start, lines from account")
        con.execute("drop table account")
    finally:
        os.unlink(fh.name)


def _write_quarantine_csv(con: duckdb.DuckDBPyConnection, settings: Settings, dataset: str, batch_id: str) -> Path | None:
    """Rejected rows, restricted (0600 in a 0700 folder): they keep raw values so they can be fixed."""
    folder = db.secure_dir(settings.quarantine_dir / dataset)
    db.secure_dir(settings.quarantine_dir)
    dest = folder / f"{batch_id}.csv"
    n = con.execute("select count(*) from meta.quarantine where batch_id = ?", [batch_id]).fetchone()[0]
    if n == 0:
        dest.unlink(missing_ok=True)
        return None
    tmp = folder / f".{batch_id}.csv.tmp"
    con.execute(f"""
        copy (select line_number, reason_code, reason, raw_record from meta.quarantine
              where batch_id = {_q(batch_id)} order by line_number)
        to {_q(str(tmp))} (header, delimiter ',')""")
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)
    return dest
