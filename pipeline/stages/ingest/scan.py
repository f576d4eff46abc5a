"""Ingest, step 1: facts about a landed file from one streaming pass over its bytes.

The pass hashes the stored bytes (batch identity), counts physical lines, keeps the head
to tell text from binary, and — for ingest — builds the record index
(:class:`pipeline.stages.ingest.records.RecordIndex`) that every row is proven against.
Whole-file problems (not UTF-8, no header, missing columns …) are found here and raised as
:class:`~pipeline.errors.FileRejected` with a stable code.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.contract import REQUIRED_COLUMNS
from pipeline.errors import FileChanged, FileRejected
from pipeline.stages.ingest import records as record_index

_CHUNK = 8 << 20
MAX_LINE = 64 << 20


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
    records: record_index.RecordIndex | None = None  # where every record starts and ends (ingest only)
    stat_key: tuple[int, int, int] = (0, 0, 0)  # (inode, size, mtime_ns) before the pass read a byte


def stat_key(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def verify_unchanged(facts: FileFacts) -> None:
    """Raise FileChanged when the file is no longer the bytes the pass hashed and indexed.

    Called just before ingest commits: the sha256 in the ledger is then the hash of exactly
    the bytes that were loaded.
    """
    try:
        now = stat_key(facts.path)
    except FileNotFoundError:
        now = None
    if now != facts.stat_key:
        raise FileChanged(f"{facts.path.name} changed while it was being loaded; it will be taken again once complete")


@dataclass(frozen=True)
class Limits:
    """What a landed file may hold before it is rejected whole, with a reason that names the limit.

    They bound the memory of the record index (16 bytes per line) and the time spent on a file
    that cannot be an export: a few KB of gzip can expand to gigabytes of blank lines.
    """

    max_text_bytes: int = 8 << 30  # decompressed
    max_blank_lines: int = 1_000_000
    max_record_bytes: int = MAX_LINE


def _too_much(what: str, value: int, limit: int, setting: str) -> FileRejected:
    return FileRejected("too_large", f"the file holds {what} {value:,}, over the limit of {limit:,} ({setting})")


def scan_file(path: Path, *, index: bool = False, limits: Limits | None = None) -> FileFacts:
    """Hash the stored bytes and count physical lines of the text (one pass for plain files).

    With ``index`` the same pass also finds where every record starts and ends
    (:class:`pipeline.stages.ingest.records.RecordIndex`), which ingest checks the CSV reader against.
    ``limits`` (ingest): stop as soon as the text passes one, with :class:`FileRejected` ``too_large``.
    """
    limits = limits or Limits()
    text_bytes = blank_estimate = 0
    before = stat_key(path)
    sha = hashlib.sha256()
    indexer = record_index.RecordIndexer() if index else None
    size = newlines = 0
    has_cr = False
    last = first_line = head = b""

    def text_chunk(chunk: bytes) -> None:
        nonlocal newlines, has_cr, last, first_line, head, text_bytes, blank_estimate
        text_bytes += len(chunk)
        if text_bytes > limits.max_text_bytes:
            raise _too_much("bytes of text (decompressed) over", text_bytes, limits.max_text_bytes, "max_text_bytes")
        if not head:
            head = chunk[:4096]
            first_line = chunk.split(b"\n", 1)[0][:MAX_LINE]
        if not newlines:  # only a file without any LF can be CR-only
            has_cr = has_cr or b"\r" in chunk
        if indexer:  # the newline positions the index needs give both counts
            chunk_newlines, blanks = indexer.count(chunk)
        else:
            chunk_newlines, blanks = chunk.count(b"\n"), chunk.count(b"\n\n") + chunk.count(b"\n\r\n")
        newlines += chunk_newlines
        blank_estimate += blanks  # a lower bound: stop early, before the chunk is indexed
        if blank_estimate > limits.max_blank_lines:
            raise _too_much("blank lines, at least", blank_estimate, limits.max_blank_lines, "max_blank_lines")
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
    if records is not None:
        _check_records(records, limits)
    return FileFacts(
        path, sha.hexdigest(), size, lines, first_line.split(b"\r", 1)[0], head, cr_only, unreadable, records, before
    )


def _check_records(records: record_index.RecordIndex, limits: Limits) -> None:
    blank = int(records.blank[1:].sum())
    if blank > limits.max_blank_lines:
        raise _too_much("blank lines:", blank, limits.max_blank_lines, "max_blank_lines")
    lengths = records.ends - records.starts
    if len(lengths) and int(lengths.max()) > limits.max_record_bytes:
        longest = int(lengths.argmax())
        raise FileRejected(
            "too_large",
            f"the record at line {int(records.start_lines[longest])} is {int(lengths[longest]):,} bytes, over the "
            f"limit of {limits.max_record_bytes:,} (max_record_bytes)",
        )


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
    required = REQUIRED_COLUMNS[dataset]
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
        raise FileRejected("missing_columns", f"required column(s) missing for {dataset}: {', '.join(missing)}")
    if facts.physical_lines < 2:
        raise FileRejected("no_rows", "the file has a header but no data rows")
    return names
