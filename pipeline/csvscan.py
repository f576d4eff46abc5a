"""An exact, line-numbered account of a CSV file's records, independent of DuckDB's reader.

DuckDB 1.0 parses fast but its reject store is lossy: under load it drops reject records
("CSV Buffer is not available to reconstruct CSV Line") and, after an unterminated quote,
it can swallow a good line without a record. Ingest therefore uses DuckDB's rejects only
when the line count proves them complete; otherwise this streaming pass, which reads the
file once line by line, names every line that is not a good record (malformed records,
blank lines, continuation lines of quoted multi-line fields) so that each record gets its
exact source line number and every malformed one is quarantined with its raw text.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path


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


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _check(record: bytes, n_fields: int) -> str:
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
        if all(not piece or ((i == 0 or piece.startswith(b",")) and (i == last or piece.endswith(b",")))
               for i, piece in enumerate(outside)):
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
                if record[k + 1:k + 2] == b'"':  # escaped quote
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
    with _open(path) as fh:
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
    error = "unterminated quote runs to the end of the file" if unterminated else _check(record.rstrip(b"\r"), n_fields)
    if error:
        result.spans.append(Span(start, lines, True, error, record))
    elif lines > 1:
        result.spans.append(Span(start + 1, lines - 1, False))
