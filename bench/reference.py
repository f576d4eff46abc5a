"""The reference approach to loading a chats export, kept only as the baseline of ``make bench``.

It models how a reference Airflow project did the job: pandas reads the CSV in 10,000-row
chunks with every field as text, a Python function validates one row at a time, the good rows
of each chunk are appended to a DuckDB table and the rejected ones collect in a quarantine list.
The rules are those of ``pipeline/ingest.py`` for chats (UUID id, timestamps, boolean words,
category UUID, ``resolved_at >= created_at``, the first of duplicate ids wins, one reason code
per row in the same order, malformed rows quarantined), written the way a competent engineer
would in that style; nothing here is slowed down on purpose.

Why ``engine="python"``: it is the only pandas parser that hands a line with too many fields to
an ``on_bad_lines`` callable (the C engine can only skip it or print a warning), and those lines
must reach the quarantine. Both engines pad a line with too few fields with ``None``, and invalid
UTF-8 is kept as surrogate escapes (``encoding_errors="surrogateescape"``): either marks its row
as malformed.

Unlike the ingest stage it does not hash the file, count lines independently of the parser, keep
source line numbers, redact quarantined text, keep a ledger or load in one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

CHUNK_ROWS = 10_000
COLUMNS = ("id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at", "message")
BOOLEANS = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False, "0": False, "no": False}
OLDEST, NEWEST = dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)

CREATE_TABLE = """
    create table if not exists chats (
        id uuid, chat_category_id uuid, created_at timestamp, is_customer_initiated boolean,
        resolved_at timestamp, message varchar)"""


class Invalid(ValueError):
    """A row breaks a rule; ``args[0]`` is the reason code."""


@dataclass
class ReferenceResult:
    rows_read: int = 0
    rows_loaded: int = 0
    quarantine: list[dict] = field(default_factory=list)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)


def parse_uuid(text: str, reason: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise Invalid(reason) from None


def parse_timestamp(text: str) -> dt.datetime:
    """ISO-8601 or ``2000-02-04 17:02:57.660``; offsets converted to naive UTC; years 1900-2200."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise Invalid("invalid_timestamp") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if not OLDEST <= value <= NEWEST:
        raise Invalid("invalid_timestamp")
    return value


def validate_chat(row: dict) -> dict:
    """The typed row, or :class:`Invalid` with the first reason code that applies."""
    for value in row.values():
        if value is None:  # fewer fields than the header
            raise Invalid("malformed_row")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # invalid UTF-8 in the file
            raise Invalid("malformed_row") from None
    if not row["id"].strip():
        raise Invalid("missing_id")
    chat_id = parse_uuid(row["id"], "invalid_id")
    if not row["created_at"].strip():
        raise Invalid("missing_created_at")
    created = parse_timestamp(row["created_at"])
    resolved = parse_timestamp(row["resolved_at"]) if row["resolved_at"].strip() else None
    initiated = row["is_customer_initiated"].strip().lower()
    if initiated and initiated not in BOOLEANS:
        raise Invalid("invalid_boolean")
    category = parse_uuid(row["chat_category_id"], "invalid_category_id") if row["chat_category_id"].strip() else None
    if resolved is not None and resolved < created:
        raise Invalid("resolved_before_created")
    return {
        "id": chat_id,
        "chat_category_id": category,
        "created_at": created,
        "is_customer_initiated": BOOLEANS.get(initiated),
        "resolved_at": resolved,
        "message": row.get("message"),
    }


def load_chats(path: Path, con: duckdb.DuckDBPyConnection) -> ReferenceResult:
    """Validate ``path`` chunk by chunk and append the good rows to the table ``chats``."""
    con.execute(CREATE_TABLE)
    result = ReferenceResult()
    seen_ids: set[str] = set()

    def bad_line(fields: list[str]) -> None:
        result.rows_read += 1
        result.quarantine.append({"reason_code": "malformed_row", "raw_record": ",".join(fields)})

    chunks = pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        chunksize=CHUNK_ROWS,
        engine="python",
        on_bad_lines=bad_line,
        encoding="utf-8",
        encoding_errors="surrogateescape",
    )
    for chunk in chunks:
        chunk.columns = [name.strip().lower() for name in chunk.columns]
        good = []
        for row in chunk.to_dict("records"):
            result.rows_read += 1
            try:
                typed = validate_chat(row)
                if typed["id"] in seen_ids:
                    raise Invalid("duplicate_id_in_file")
            except Invalid as exc:
                result.quarantine.append({"reason_code": exc.args[0], "raw_record": row})
                continue
            seen_ids.add(typed["id"])
            good.append(typed)
        if good:
            con.append("chats", pd.DataFrame(good, columns=list(COLUMNS)))
            result.rows_loaded += len(good)
    return result
