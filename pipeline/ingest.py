"""Ingest stage: validate every row of a landed file in DuckDB SQL and load it as one batch.

One landed file is one batch. The file is parsed once by DuckDB's CSV reader (every column
as text), each row gets at most one reason code, and in a single transaction the valid rows
go to ``audit.<dataset>`` (Write-Audit-Publish: the quality gate decides later whether they
are published to ``raw``), the rejected rows go to ``meta.quarantine`` and the ledger
records the counts. A crash before the commit leaves nothing behind; re-running the stage is
idempotent.

Conservation: ``rows_read = rows_loaded + rows_quarantined`` holds by construction, and every
record is proven against the file itself rather than the reader's word (DuckDB 1.0 skips
records without a trustworthy record of them): a numpy record index built in the hashing pass
is aligned with the reader's rows by fingerprint (:func:`_fast_account`); when they cannot be
lined up, a line-by-line pass accounts for every record (:func:`_exact_account`), and a file
whose lines still cannot all be accounted for is rejected as a whole rather than loaded short.
"""
from __future__ import annotations

import contextlib
import csv
import fnmatch
import gzip
import hashlib
import io
import json
import os
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
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
    records: csvscan.RecordIndex | None = None  # where every record starts and ends (ingest only)


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


def scan_file(path: Path, *, index: bool = False) -> FileFacts:
    """Hash the stored bytes and count physical lines of the text (one pass for plain files).

    With ``index`` the same pass also finds where every record starts and ends
    (:class:`pipeline.csvscan.RecordIndex`), which ingest checks the CSV reader against.
    """
    sha = hashlib.sha256()
    indexer = csvscan.RecordIndexer() if index else None
    size = newlines = 0
    has_cr = False
    last = first_line = head = b""

    def text_chunk(chunk: bytes) -> None:
        nonlocal newlines, has_cr, last, first_line, head
        if not head:
            head = chunk[:4096]
            first_line = chunk.split(b"\n", 1)[0][:_MAX_LINE]
        if not newlines:  # only a file without any LF can be CR-only
            has_cr = has_cr or b"\r" in chunk
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
        if indexer:
            indexer.update(chunk)

    compressed = path.name.lower().endswith(".gz")
    # hashlib releases the GIL: the hash of a chunk runs on the other core while it is indexed
    with open(path, "rb") as raw, ThreadPoolExecutor(1) as hasher:
        while chunk := raw.read(_CHUNK):
            hashed = hasher.submit(sha.update, chunk)
            size += len(chunk)
            if not compressed:
                text_chunk(chunk)
            hashed.result()
    unreadable = None
    if compressed:
        try:
            with gzip.open(path, "rb") as text:
                while chunk := text.read(_CHUNK):
                    text_chunk(chunk)
        except (OSError, EOFError, zlib.error) as exc:  # not gzip, truncated or corrupt
            unreadable = f"cannot decompress the gzip file: {exc}"
    cr_only = newlines == 0 and has_cr
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    records = indexer.finish() if indexer and not unreadable else None
    return FileFacts(path, sha.hexdigest(), size, lines, first_line.split(b"\r", 1)[0], head, cr_only,
                     unreadable, records)


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


def _uuid_sql(raw: str) -> str:
    # trim only when the plain cast fails (trimming every value costs an allocation a row)
    return f"coalesce(try_cast({raw} as uuid), try_cast(trim({raw}) as uuid))"


def _bool_sql(raw: str) -> str:
    words_t = ", ".join(_q(w) for w in TRUE_WORDS)
    words_f = ", ".join(_q(w) for w in FALSE_WORDS)
    word = f"lower(trim({raw}))"
    return (f"case {raw} when 'true' then true when 'false' then false else "
            f"case when {word} in ({words_t}) then true when {word} in ({words_f}) then false end end")


def _ts_sql(raw: str) -> str:
    # TIMESTAMP (not TIMESTAMPTZ): in DuckDB 1.0 it converts 'Z' and '+hh:mm' offsets to UTC and
    # rejects forms TIMESTAMPTZ would misread (' -0500'). The range check (next layer) drops
    # 'infinity' and years no export has. A timestamp starts with a digit: DuckDB's words
    # ('epoch', 'infinity', ...) are not timestamps of a chat.
    return (f"case when ascii({raw}) between 48 and 57 then try_cast({raw} as timestamp) "
            f"when ascii(ltrim({raw})) between 48 and 57 then try_cast(trim({raw}) as timestamp) end")


def _in_range(ts: str) -> str:
    return f"case when {ts} between timestamp '1900-01-01' and timestamp '2200-01-01' then {ts} end as {ts}"


def _fingerprint_sql(read_cols: list[str]) -> str:
    """Per present field: its bytes without quotes plus the comma after it; minus one."""
    fields = [f"coalesce(case when contains({c}, '\"') then strlen(replace({c}, '\"', '')) else strlen({c}) end + 1, 0)"
              for c in read_cols]
    total = " + ".join(fields) if len(fields) <= 100 else f"list_sum([{', '.join(fields)}])"  # expression depth
    return f"({total} - 1)::integer"


def _validated_select(dataset: str, columns: dict[str, str], read: str, overflow: str | None = None) -> str:
    """SELECT producing typed columns, raw text of the checked columns and one reason code.

    Three layers, so that every value is computed once: raw text (an empty field is NULL),
    typed values, then the reason code. With ``overflow`` (the padded read of the fast path)
    a row with too few fields (the last column padded with NULL) or too many (the overflow
    column filled) is ``malformed_row``, and ``_fp`` is the row's fingerprint (see
    :class:`pipeline.csvscan.RecordIndex`).
    """
    contract = DATASET_FIELDS[dataset]
    raws = ", ".join(f"nullif({columns[c]}, '') as r_{c}" if c in columns else f"null::varchar as r_{c}"
                     for c in contract)
    extras = [f"{_q(name.removeprefix('extra:'))}, nullif({col}, '')" for name, col in columns.items()
              if name.startswith("extra:")]
    extra_sql = f"json_object({', '.join(extras)})" if extras else "null::json"
    if overflow:
        read_cols = [f"c{i}" for i in range(len(columns))] + [overflow]
        malformed, fingerprint = f"({read_cols[-2]} is null or {overflow} is not null)", _fingerprint_sql(read_cols)
    else:
        malformed, fingerprint = "false", "null::integer"
    if dataset == "chats":
        typed = f"""
            {_uuid_sql('r_id')} as id,
            {_uuid_sql('r_chat_category_id')} as chat_category_id,
            {_ts_sql('r_created_at')} as created_at,
            {_bool_sql('r_is_customer_initiated')} as is_customer_initiated,
            {_ts_sql('r_resolved_at')} as resolved_at,
            r_message as message"""
        ranged = f"* replace ({_in_range('created_at')}, {_in_range('resolved_at')})"
        reason = """
            case
                when _malformed then 'malformed_row'
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
        typed = f"""
            {_uuid_sql('r_id')} as id,
            {_uuid_sql("case when lower(trim(r_parent_id)) = 'null' then null else r_parent_id end")} as parent_id,
            {_bool_sql('r_disabled')} as disabled"""
        ranged = "*"
        reason = """
            case
                when _malformed then 'malformed_row'
                when r_id is null then 'missing_id'
                when id is null then 'invalid_id'
                when r_disabled is not null and disabled is null then 'invalid_boolean'
                when r_parent_id is not null and lower(trim(r_parent_id)) <> 'null' and parent_id is null
                    then 'invalid_category_id'
                when parent_id = id then 'self_parent'
            end"""
    checked = ", ".join(f"r_{c}" for c in CHECKED[dataset])
    # Raw text is kept only for rejected rows: it is what the quarantine shows.
    keep_raw = ", ".join(f"case when reason_code is not null then r_{c} end as r_{c}" for c in CHECKED[dataset])
    return f"""
        select {', '.join(contract)}, _extra, reason_code, {keep_raw}, _fp
        from (
            select *, {reason} as reason_code
            from (
                select {ranged}
                from (
                    select {typed}, {checked}, _extra, _malformed, _fp
                    from (
                        select {raws}, {extra_sql} as _extra, {malformed} as _malformed, {fingerprint} as _fp
                        from {read}
                    )
                )
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
    facts = scan_file(path, index=True)
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
            # Crash after the commit but before the move: finish the quarantine file and the move.
            _write_quarantine_csv(con, settings, dataset, batch_id)
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
    con.execute("set TimeZone = 'UTC'")
    con.execute("create or replace temp table rejects (line bigint, detail varchar, csv_line varchar)")
    con.execute("drop table if exists reader_rejects; drop table if exists reader_scans")
    good_lines = None
    if facts.records is not None and not facts.records.open_quote_at_end:
        # Fast path: a padded read that parses rows with too few or too many fields as well,
        # proven record by record against the file's own record index.
        read = _read_csv(facts.path, len(names), padded=True)
        con.execute(f"create or replace temp table v as {_validated_select(dataset, columns, read, 'c_over')}")
        good_lines, why_not = _fast_account(con, facts, len(names))
        if good_lines is None:
            log.info("ingest.fast_account_declined", why=why_not)
    if good_lines is None:
        # Exact path: a strict read, every record accounted for line by line (pipeline.csvscan).
        read = _read_csv(facts.path, len(names), padded=False)
        con.execute(f"create or replace temp table v as {_validated_select(dataset, columns, read)}")
        parsed = con.execute("select count(*) from v").fetchone()[0]
        good_lines = _exact_account(con, facts, len(names), parsed)
    parsed, flagged = con.execute(
        "select count(*), count(*) filter (where reason_code = 'malformed_row') from v").fetchone()
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
    # Source line of each parsed row, joined to the rows by position; for the few rows held
    # back (quarantined), joined by row id so the quarantine does not scan every row.
    good_lines = {"line": good_lines}  # noqa: F841  (scanned by DuckDB by name)
    held = con.execute("""
        select rowid as rid from v where reason_code is not null and reason_code <> 'malformed_row'
        union all select rid from dup_rows""").fetchnumpy()["rid"]
    held_lines = {"rid": held, "line": good_lines["line"][held]}  # noqa: F841  (scanned by DuckDB)
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
    log.info("ingest.transaction_started", rows_parsed=parsed - flagged, rows_malformed=rejected)
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
            from (select v.*, held_lines.line as _line_number,
                         coalesce(reason_code, 'duplicate_id_in_file') as final_reason
                  from v join held_lines on v.rowid = held_lines.rid)
            union all
            select ?, ?, line, 'malformed_row', 'the CSV reader could not parse the row: ' || detail,
                   {pii.redact_sql('csv_line')}, ?
            from rejects""", [batch_id, dataset, now, batch_id, dataset, now])
        counts = dict(con.execute("""
            select reason_code, count(*) from meta.quarantine where batch_id = ? group by 1 order by 1""",
                                  [batch_id]).fetchall())
        loaded = con.execute(f"select count(*) from audit.{dataset} where _batch_id = ?", [batch_id]).fetchone()[0]
        quarantined = sum(counts.values())
        rows_read = parsed - flagged + rejected
        assert rows_read == loaded + quarantined, "conservation violated"  # by construction
        ledger.update(con, batch_id, stage="ingested", rows_read=rows_read, rows_loaded=loaded,
                      rows_quarantined=quarantined, extra_columns=extra_columns)
        con.execute("commit")
    except BaseException:
        # A commit that failed (disk full) has ended the transaction already: the rollback's
        # "no transaction is active" must not replace the error that says why.
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists v; drop table if exists rejects; "
                    "drop table if exists reader_rejects; drop table if exists reader_scans; "
                    "drop table if exists dup_rows")
    # After the commit: a failed load leaves no quarantine file behind. A crash before this
    # line is repaired when the stage resumes (see ingest_file, already_ingested).
    _write_quarantine_csv(con, settings, dataset, batch_id)
    if extra_columns:
        log.warning("ingest.extra_columns_kept", extra_columns=extra_columns)
    return IngestResult(batch_id, dataset, "ingested", rows_read=rows_read, rows_loaded=loaded,
                        rows_quarantined=quarantined, reasons=counts, extra_columns=extra_columns)


_NULL = "\x1f<null>\x1f"  # the reader's NULL string: not in CSV text, so empty fields read as ''
_ALIGN_LIMIT = 100_000  # more records than this dropped by the reader: take the exact path


def _read_csv(path: Path, n_fields: int, *, padded: bool) -> str:
    """DuckDB's reader over the file, every field as text, records it cannot parse skipped.

    (Skipped with ``store_rejects``: with ``ignore_errors`` DuckDB 1.0 miscounts after an
    unterminated quote, count(*) = -1, and can crash.)

    ``padded`` adds an overflow column and pads short rows with NULL (an empty field reads
    as '' thanks to the NULL string), so rows with too few or one too many fields come
    back as rows that the validation marks ``malformed_row``. Skipped records are found
    by the account that follows, never trusted to the reader's reject store (lossy in 1.0).
    """
    names = [f"c{i}" for i in range(n_fields)] + (["c_over"] if padded else [])
    spec = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
    return (f"read_csv({_q(str(path))}, header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {spec}, nullstr = {_q(_NULL)}, null_padding = {str(padded).lower()}, "
            f"store_rejects = true, rejects_table = 'reader_rejects', rejects_scan = 'reader_scans', "
            f"max_line_size = {_MAX_LINE})")


def _fast_account(con: duckdb.DuckDBPyConnection, facts: FileFacts, n_fields: int) -> tuple[np.ndarray | None, str]:
    """Line numbers of the rows of ``v`` from the file's record index, or (None, why not).

    The reader's rows must line up with the index's data records (blank lines excluded):
    same order, equal fingerprints, the only differences records the reader skipped. Every
    skipped record and every row marked ``malformed_row`` must then be malformed by
    :func:`pipeline.csvscan.check` too; they go to ``rejects`` with their raw text.
    """
    index = facts.records
    records = np.flatnonzero(~index.blank)
    records = records[records > 0]  # record 0 is the header
    fingerprints = con.execute("select _fp from v").fetchnumpy()["_fp"]
    gaps = _align(fingerprints, index.fingerprint[records])
    if gaps is None:
        return None, "the reader's rows do not line up with the file's records"
    flagged = con.execute("select rowid from v where reason_code = 'malformed_row'").fetchnumpy()["rowid"]
    candidates = sorted({p for lo, hi in gaps for p in range(lo, hi + 1)})
    raw = dict(zip(candidates, _record_bytes(facts.path, index, records[candidates])))
    errors = {p: csvscan.check(raw[p], n_fields) for p in candidates}
    skipped = []
    for lo, hi in gaps:
        # Records with equal fingerprints side by side: the malformed one is the one skipped.
        bad = [p for p in range(lo, hi + 1) if errors[p]]
        if len(bad) != 1:
            line = index.start_lines[records[hi]]
            return None, f"cannot tell which record near line {line} the reader skipped"
        skipped.append(bad[0])
    kept = np.delete(records, skipped)
    rows = [(records[p], errors[p], raw[p]) for p in skipped]
    for record, text in zip(kept[flagged].tolist(), _record_bytes(facts.path, index, kept[flagged])):
        error = csvscan.check(text, n_fields)
        if not error:
            return None, f"the reader's field count disagrees at line {index.start_lines[record]}"
        rows.append((record, error, text))
    _insert_rejects(con, [(int(index.start_lines[r]), error, text.decode("utf-8", errors="replace"))
                          for r, error, text in rows])
    log.info("ingest.fast_account", records=len(records), skipped_by_reader=len(skipped),
             malformed=len(rows), blank_lines=int(index.blank[1:].sum()))
    return index.start_lines[kept], ""


def _align(rows: np.ndarray, records: np.ndarray) -> list[tuple[int, int]] | None:
    """Where ``records`` has entries missing from ``rows``, when rows = records minus some.

    Each gap is a range ``(lo, hi)`` of positions in ``records`` of which exactly one is
    missing: more than one when equal fingerprints sit side by side. None when the rows
    are not the records minus some. Compares growing blocks, so each gap costs a few short
    comparisons and a clean run costs one pass over the arrays.
    """
    missing = len(records) - len(rows)
    if missing < 0 or missing > _ALIGN_LIMIT:
        return None
    gaps: list[tuple[int, int]] = []
    i = j = 0
    block = 64
    while i < len(rows):
        if len(records) - j < len(rows) - i:
            return None
        n = min(block, len(rows) - i)
        diff = np.flatnonzero(rows[i:i + n] != records[j:j + n])
        if not len(diff):
            i, j, block = i + n, j + n, min(block * 4, 1 << 20)
            continue
        i, j = i + int(diff[0]), j + int(diff[0])
        lo = j  # records[j] is not the reader's next row: it, or an equal one just before, was skipped
        while lo > (gaps[-1][1] + 1 if gaps else 0) and records[lo - 1] == records[j]:
            lo -= 1
        gaps.append((lo, j))
        j, block = j + 1, 64
        if len(gaps) > missing:
            return None
    if j < len(records):
        gaps.extend((p, p) for p in range(j, len(records)))
    return gaps if len(gaps) == missing else None


def _record_bytes(path: Path, index: csvscan.RecordIndex, records: np.ndarray):
    """Raw bytes of the given records (ascending), line ending removed."""
    starts = index.starts
    with csvscan.open_text(path) as fh:
        for record in records.tolist():
            start, end = int(starts[record]), int(index.ends[record]) - 1
            fh.seek(start)
            raw = fh.read(end - start)
            yield raw[:-1] if raw.endswith(b"\r") else raw


def _insert_rejects(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, str]]) -> None:
    """Malformed records (line, why, raw text) into ``rejects``.

    Through a temporary CSV: DuckDB's executemany costs ~0.5 ms a row.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as fh:
        writer = csv.writer(fh)
        writer.writerow(("line", "detail", "csv_line"))
        writer.writerows(rows)
    try:
        con.execute(f"insert into rejects select * from read_csv({_q(fh.name)}, header = true, auto_detect = false, "
                    "columns = {'line': 'BIGINT', 'detail': 'VARCHAR', 'csv_line': 'VARCHAR'})")
    finally:
        os.unlink(fh.name)


def _exact_account(con: duckdb.DuckDBPyConnection, facts: FileFacts, n_fields: int, parsed: int) -> np.ndarray:
    """Line numbers of the ``parsed`` rows from a line-by-line account (see ``pipeline.csvscan``)."""
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
    _insert_rejects(con, [(s.start, s.error, s.raw.decode("utf-8", errors="replace")) for s in malformed])
    # The data lines that are not taken by rejected records, blank lines or continuations.
    free = np.ones(max(facts.physical_lines - 1, 0), dtype=bool)  # index i is line i + 2
    for span in account.spans:
        free[span.start - 2:span.start - 2 + span.lines] = False
    good = np.flatnonzero(free) + 2
    if len(good) != parsed:
        raise FileRejected("unaccounted_lines", f"{len(good)} data lines are not accounted for by "
                           f"{parsed} parsed rows; nothing was loaded")
    return good


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
