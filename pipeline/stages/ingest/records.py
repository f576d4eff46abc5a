"""Accounts of a CSV file's records that are independent of DuckDB's reader.

Ingest proves every row against the file itself, not the reader's word:

* :class:`RecordIndexer` finds every record's start, line and length with numpy in the
  hashing pass; ingest maps the reader's rejects (DuckDB 1.4's reject store is complete;
  1.0's was lossy) onto it and numbers the rows it returned (the fast path);
* :func:`scan` walks the file line by line and names every line that is not a good record
  (malformed records, blank lines, continuation lines of quoted multi-line fields), for
  files the fast path cannot account for;
* :func:`check` judges one record's raw bytes (UTF-8, quoting, field count) for both.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Span:
    """Lines ``start .. start+lines-1`` that are not the first line of a good record."""

    start: int
    lines: int
    malformed: bool  # True: a record to quarantine; False: blank line or a continuation line
    error: str = ""
    raw: bytes = b""


@dataclass
class Scan:
    records: int = 0  # data records, good and malformed
    spans: list[Span] = field(default_factory=list)

    @property
    def malformed(self) -> list[Span]:
        return [s for s in self.spans if s.malformed]


def open_text(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def check(record: bytes, n_fields: int) -> str:
    """Empty string when the record is well-formed, else why not.

    Well-formed quoting is counted by splitting on ``"``: the pieces outside quotes (even
    indexes) carry the delimiters. Anything else (a quote inside an unquoted field) is read
    leniently, quote as a literal character, like DuckDB's reader does.
    """
    if not record.isascii():
        try:
            record.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid UTF-8 at byte {exc.start}"
    if b'"' not in record:
        found = record.count(b",") + 1
    else:
        pieces = record.split(b'"')
        outside = pieces[0::2]
        last = len(outside) - 1
        if all(
            not piece or ((i == 0 or piece.startswith(b",")) and (i == last or piece.endswith(b",")))
            for i, piece in enumerate(outside)
        ):
            found = sum(piece.count(b",") for piece in outside) + 1
        else:
            found = _count_fields(record)
            if isinstance(found, str):
                return found
    if found != n_fields:
        return f"expected {n_fields} fields, found {found}"
    return ""


def _count_fields(record: bytes) -> int | str:
    """Fields of a record with irregular quotes, read as DuckDB's reader does.

    A quote opens a quoted field only at the start of a field; elsewhere it is a literal
    character (`he said "hi" there`). After a closing quote only a delimiter or the end of
    the record may follow (`"quoted"trailing` is malformed).
    """
    i, n, count = 0, len(record), 1
    while True:
        if i < n and record[i] == 34:  # '"' opens a quoted field
            j = i + 1
            while True:
                k = record.find(b'"', j)
                if k < 0:
                    return "bad quoting (a quoted field is not closed)"
                if record[k + 1 : k + 2] == b'"':  # escaped quote
                    j = k + 2
                    continue
                break
            if k + 1 == n:
                return count
            if record[k + 1] != 44:
                return "bad quoting (text after a closing quote)"
            i, count = k + 2, count + 1
        else:
            k = record.find(b",", i)
            if k < 0:
                return count
            i, count = k + 1, count + 1


def scan(path: Path, n_fields: int) -> Scan:
    """Walk the file's physical lines (header = line 1) and classify every record."""
    result = Scan()
    pending: list[bytes] = []
    pending_start = 0
    with open_text(path) as fh:
        fh.readline()  # header
        lineno = 1
        for raw in fh:
            lineno += 1
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if pending:
                pending.append(line)
                if line.count(b'"') % 2 == 1:  # the open quote closes on this line
                    record = b"\n".join(pending)
                    _record(result, record, pending_start, len(pending), n_fields)
                    pending = []
                continue
            stripped = line.rstrip(b"\r")
            if not stripped:
                result.spans.append(Span(lineno, 1, False))  # blank line: skipped by the reader
                continue
            if stripped.count(b'"') % 2 == 1:  # a quoted field continues on the next line
                pending, pending_start = [line], lineno
                continue
            _record(result, stripped, lineno, 1, n_fields)
    if pending:  # a quote opened and never closed: every remaining line belongs to it
        _record(result, b"\n".join(pending), pending_start, len(pending), n_fields, unterminated=True)
    return result


def _record(result: Scan, record: bytes, start: int, lines: int, n_fields: int, *, unterminated: bool = False) -> None:
    result.records += 1
    error = "unterminated quote runs to the end of the file" if unterminated else check(record.rstrip(b"\r"), n_fields)
    if error:
        result.spans.append(Span(start, lines, True, error, record))
    elif lines > 1:
        result.spans.append(Span(start + 1, lines - 1, False))


# --------------------------------------------------------------------------- vectorised index
@dataclass
class RecordIndex:
    """Where every record of a CSV text starts and ends, found with numpy, not a CSV parser.

    A newline ends a record when the number of ``"`` bytes before it is even (RFC 4180
    quoting: an escaped quote is two bytes, so it never changes the parity). Record 0 is
    the header. ``fingerprint`` is the record's length in bytes without its line ending and
    without its ``"`` bytes: zero for a blank line (or one of only quotes), which the reader
    skips without a reject.
    """

    ends: np.ndarray  # byte offset just past each record (its newline, or end of text)
    start_lines: np.ndarray  # physical line where each record starts (1 = header)
    fingerprint: np.ndarray
    physical_lines: int
    open_quote_at_end: bool  # an unterminated quote runs to the end of the text

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], self.ends[:-1]))

    @property
    def blank(self) -> np.ndarray:
        return self.fingerprint == 0  # blank lines (and lines of only quotes) are skipped


class RecordIndexer:
    """Feed the text in chunks (``update``), then ``finish`` for the :class:`RecordIndex`.

    Per record it keeps 16 bytes (end offset, start line, fingerprint): 80 MB for 5M rows.
    """

    def __init__(self) -> None:
        self.offset = 0  # bytes seen
        self.quotes = 0  # quote bytes seen
        self.newlines = 0
        self.last_byte = -1
        self._end = 0  # where the last complete record ended
        self._end_quotes = 0  # quote bytes before that
        self._next_line = 1  # line the next record starts on
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._counted: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def count(self, chunk: bytes) -> tuple[int, int]:
        """The newlines and blank lines (``\n\n``, ``\n\r\n``; one split by the chunk's edge is not
        counted) of the chunk :meth:`update` takes next, from the newline positions it needs anyway:
        the scan checks its limits on them before the chunk is indexed (counting the bytes again
        cost twice the index)."""
        a = np.frombuffer(chunk, dtype=np.uint8)
        nl = np.flatnonzero(a == 10)
        self._counted = (chunk, a, nl)
        gaps = np.diff(nl)
        return len(nl), int(np.count_nonzero(gaps == 1) + np.count_nonzero(a[nl[:-1][gaps == 2] + 1] == 13))

    def update(self, chunk: bytes) -> None:
        counted = self._counted
        if counted is not None and counted[0] is chunk:
            _, a, nl = counted
        else:
            a = np.frombuffer(chunk, dtype=np.uint8)
            nl = np.flatnonzero(a == 10)
        self._counted = None
        quotes = np.flatnonzero(a == 34)
        before = np.searchsorted(quotes, nl)  # quotes in this chunk before each newline
        is_end = ((self.quotes + before) & 1) == 0
        local = nl[is_end]
        cr = np.zeros(len(local), dtype=np.int64)
        inside = local > 0
        cr[inside] = a[local[inside] - 1] == 13
        if len(local) and local[0] == 0:
            cr[0] = self.last_byte == 13
        self._add(local + self.offset + 1, self.quotes + before[is_end], self.newlines + np.flatnonzero(is_end) + 1, cr)
        self.offset += len(chunk)
        self.quotes += len(quotes)
        self.newlines += len(nl)
        if len(chunk):
            self.last_byte = chunk[-1]

    def _add(self, ends: np.ndarray, quote_prefix: np.ndarray, end_lines: np.ndarray, cr: np.ndarray) -> None:
        if not len(ends):
            return
        starts = np.concatenate(([self._end], ends[:-1]))
        quotes = np.diff(quote_prefix, prepend=self._end_quotes)
        fingerprint = (ends - starts - 1 - cr - quotes).astype(np.int32)
        start_lines = np.concatenate(([self._next_line], end_lines[:-1] + 1)).astype(np.int32)
        self._parts.append((ends, start_lines, fingerprint))
        self._end, self._end_quotes, self._next_line = int(ends[-1]), int(quote_prefix[-1]), int(end_lines[-1]) + 1

    def finish(self) -> RecordIndex:
        physical = self.newlines
        open_quote = bool(self.quotes & 1)
        if self.offset and self.last_byte != 10:  # text after the last newline
            physical += 1
            if not open_quote:  # a last record without a newline: as if one followed
                self._add(
                    np.array([self.offset + 1]),
                    np.array([self.quotes]),
                    np.array([physical]),
                    np.array([int(self.last_byte == 13)]),
                )
        ends, start_lines, fingerprint = (
            (np.concatenate(arrays) for arrays in zip(*self._parts))
            if self._parts
            else (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
        )
        self._parts = []
        return RecordIndex(ends, start_lines, fingerprint, physical, open_quote)
