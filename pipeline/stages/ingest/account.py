"""Ingest, step 3: account for every record of the file, so no row is lost without a record.

The reader's word is not trusted for what it skipped: its rows are aligned with the file's
own record index by fingerprint (:func:`fast_account`); when they cannot be lined up, a
line-by-line pass accounts for every record (:func:`exact_account`), and a file whose lines
still cannot all be accounted for is rejected as a whole rather than loaded short. Either way
the malformed records land in the temp table ``rejects`` with their line and raw text.
"""

from __future__ import annotations

import csv
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

_ALIGN_LIMIT = 100_000  # more records than this dropped by the reader: take the exact path


def fast_account(con: duckdb.DuckDBPyConnection, facts: FileFacts, n_fields: int) -> tuple[np.ndarray | None, str]:
    """Line numbers of the rows of ``v`` from the file's record index, or (None, why not).

    The reader's rows must line up with the index's data records (blank lines excluded):
    same order, equal fingerprints, the only differences records the reader skipped. Every
    skipped record and every row marked ``malformed_row`` must then be malformed by
    :func:`pipeline.stages.ingest.records.check` too; they go to ``rejects`` with their raw text.
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
    errors = {p: record_index.check(raw[p], n_fields) for p in candidates}
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
        error = record_index.check(text, n_fields)
        if not error:
            return None, f"the reader's field count disagrees at line {index.start_lines[record]}"
        rows.append((record, error, text))
    _insert_rejects(
        con, [(int(index.start_lines[r]), error, text.decode("utf-8", errors="replace")) for r, error, text in rows]
    )
    log.info(
        "ingest.fast_account",
        records=len(records),
        skipped_by_reader=len(skipped),
        malformed=len(rows),
        blank_lines=int(index.blank[1:].sum()),
    )
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
        diff = np.flatnonzero(rows[i : i + n] != records[j : j + n])
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

    Through a temporary CSV: DuckDB's executemany costs ~0.5 ms a row.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as fh:
        writer = csv.writer(fh)
        writer.writerow(("line", "detail", "csv_line"))
        writer.writerows(rows)
    try:
        con.execute(
            f"insert into rejects select * from read_csv({_q(fh.name)}, header = true, auto_detect = false, "
            "delim = ',', quote = '\"', escape = '\"', columns = {'line': 'BIGINT', 'detail': 'VARCHAR', 'csv_line': 'VARCHAR'})"
        )
    finally:
        os.unlink(fh.name)


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
