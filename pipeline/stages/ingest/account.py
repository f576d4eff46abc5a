"""Ingest, step 3: account for every record of the file, so no row is lost without a record.

DuckDB 1.4's reject store is complete: every record the reader skipped is in
``reader_rejects`` with the byte offset where it starts. :func:`fast_account` maps those
offsets onto the file's own record index (built in the hashing pass), so each row the reader
returned gets its record's physical line, and the count must come out exact. When it does not
(or the reader's word cannot be mapped onto records), a line-by-line pass accounts for every
record (:func:`exact_account`), and a file whose lines still cannot all be accounted for is
rejected as a whole rather than loaded short. Either way the malformed records land in the
temp table ``rejects`` with their line and raw text.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import structlog

from pipeline.errors import FileRejected
from pipeline.stages.ingest import records as record_index
from pipeline.stages.ingest.scan import FileFacts
from pipeline.store.db import sql_literal as _q

log = structlog.get_logger()


def fast_account(con: duckdb.DuckDBPyConnection, facts: FileFacts, n_fields: int) -> tuple[np.ndarray | None, str]:
    """Line numbers of the rows of ``v`` from the file's record index, or (None, why not).

    The reader's rows are the index's data records (blank lines excluded) minus the records in
    its reject store, found by byte offset (``line_byte_position``; the store's ``line`` counts
    records, not physical lines, once a quoted field spans lines). Every skipped record
    and every row marked ``malformed_row`` must be malformed by
    :func:`pipeline.stages.ingest.records.check` too; they go to ``rejects`` with their raw text.
    """
    index = facts.records
    records = np.flatnonzero(~index.blank)
    records = records[records > 0]  # record 0 is the header
    offsets = con.execute("select distinct line_byte_position from reader_rejects order by 1").fetchnumpy()
    offsets = offsets["line_byte_position"].astype(np.int64)
    # DuckDB 1.4 puts line_byte_position one byte past the record's first byte; the record is the
    # one whose bytes hold it, and it must be a data record (not the header, not a blank line).
    rejected = np.searchsorted(index.starts, offsets, side="right") - 1
    at = np.searchsorted(records, rejected)
    if len(offsets) and (
        at.max() >= len(records) or (records[at] != rejected).any() or (offsets >= index.ends[rejected]).any()
    ):
        return None, "a record the reader rejected is not one of the file's data records"
    kept = np.delete(records, at)
    rows = con.execute("select count(*) from v").fetchone()[0]
    if rows != len(kept):
        return None, f"the reader returned {rows} rows for {len(kept)} records it did not reject"
    flagged = con.execute("select rowid from v where reason_code = 'malformed_row' order by rowid").fetchnumpy()[
        "rowid"
    ]
    malformed = []
    for group in (records[at], kept[flagged]):
        for record, text in zip(group.tolist(), _record_bytes(facts.path, index, group)):
            error = record_index.check(text, n_fields)
            if not error:
                return None, f"the reader and the record check disagree at line {index.start_lines[record]}"
            malformed.append((int(index.start_lines[record]), error, text.decode("utf-8", errors="replace")))
    _insert_rejects(con, malformed)
    log.info(
        "ingest.fast_account",
        records=len(records),
        skipped_by_reader=len(offsets),
        malformed=len(malformed),
        blank_lines=int(index.blank[1:].sum()),
    )
    return index.start_lines[kept], ""


def _record_bytes(path: Path, index: record_index.RecordIndex, records: np.ndarray):
    """Raw bytes of the given records (ascending), line ending removed."""
    starts = index.starts
    with record_index.open_text(path) as fh:
        for record in records.tolist():
            start, end = int(starts[record]), int(index.ends[record]) - 1
            fh.seek(start)
            raw = fh.read(end - start)
            yield raw[:-1] if raw.endswith(b"\r") else raw


def _insert_rejects(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, str]]) -> None:
    """Malformed records (line, why, raw text) into ``rejects``.

    Through a temporary CSV: DuckDB's executemany costs ~0.5 ms a row. Its line limit is set
    from the longest line written (DuckDB's default, 2,000,000 bytes, would fail the whole
    batch on one malformed record longer than that; a record may be up to 64 MiB, and its
    quotes double here), with ``buffer_size`` equal to it so the buffer stays that size.
    """
    longest = 0
    line = io.StringIO()
    writer = csv.writer(line)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as fh:
        for row in [("line", "detail", "csv_line"), *rows]:
            line.seek(0)
            line.truncate()
            writer.writerow(row)
            text = line.getvalue()
            longest = max(longest, len(text.encode("utf-8")))
            fh.write(text)
    size = max(longest + 1, _READER_DEFAULT_LINE)
    try:
        con.execute(
            f"insert into rejects select * from read_csv({_q(fh.name)}, header = true, auto_detect = false, "
            "delim = ',', quote = '\"', escape = '\"', columns = {'line': 'BIGINT', 'detail': 'VARCHAR', 'csv_line': 'VARCHAR'}, "
            f"max_line_size = {size}, buffer_size = {size})"
        )
    finally:
        os.unlink(fh.name)


#: DuckDB's own ``max_line_size`` default: the floor, so small reject files read as before.
_READER_DEFAULT_LINE = 2_000_000


def exact_account(con: duckdb.DuckDBPyConnection, facts: FileFacts, n_fields: int, parsed: int) -> np.ndarray:
    """Line numbers of the ``parsed`` rows from a line-by-line account (see ``pipeline.stages.ingest.records``)."""
    account = record_index.scan(facts.path, n_fields)
    malformed = account.malformed
    if account.records - len(malformed) != parsed:
        first = malformed[0].start if malformed else None
        raise FileRejected(
            "unaccounted_lines",
            f"the CSV reader loaded {parsed} rows but the file holds {account.records - len(malformed)} well-formed "
            f"records{f' (first malformed record at line {first})' if first else ''}; nothing was loaded",
        )
    log.info(
        "ingest.exact_account",
        records=account.records,
        malformed=len(malformed),
        other_spans=len(account.spans) - len(malformed),
    )
    _insert_rejects(con, [(s.start, s.error, s.raw.decode("utf-8", errors="replace")) for s in malformed])
    # The data lines that are not taken by rejected records, blank lines or continuations.
    free = np.ones(max(facts.physical_lines - 1, 0), dtype=bool)  # index i is line i + 2
    for span in account.spans:
        free[span.start - 2 : span.start - 2 + span.lines] = False
    good = np.flatnonzero(free) + 2
    if len(good) != parsed:
        raise FileRejected(
            "unaccounted_lines",
            f"{len(good)} data lines are not accounted for by {parsed} parsed rows; nothing was loaded",
        )
    return good
