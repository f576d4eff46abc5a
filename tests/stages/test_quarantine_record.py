"""The quarantine's ``raw_record``: one format, the CSV text of the record, redacted as before."""

from __future__ import annotations

import csv
import io
import json
import re

import duckdb
import pytest

from bench.pii_eval import corpus
from pipeline.privacy import patterns
from pipeline.stages.ingest import ingest_file
from tests.helpers import write

HEADER = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message,Customer Email\n"


def test_every_held_row_is_csv_text_whatever_its_reason(settings):
    text = HEADER + (
        'bad-id,,2023-01-01 10:00:00,true,,"hi, mail jo@example.com",jo@example.com\n'
        '00000001-0000-4000-8000-000000000000,,2023-01-01 10:00:00,maybe,,"say ""x""",\n'
        "00000002-0000-4000-8000-000000000000,,2023-01-01 10:00:00,true,,ok,\n"
        "00000002-0000-4000-8000-000000000000,,2023-01-01 10:00:00,true,,dup,\n"
        "1,2\n"
    )
    result = ingest_file(settings, write(settings.landing / "t_chats.csv", text))
    qfile = settings.quarantine_dir / "chats" / f"{result.batch_id}.csv"
    rows = {r["reason_code"]: r["raw_record"] for r in csv.DictReader(io.StringIO(qfile.read_text()))}
    assert rows == {
        "invalid_id": 'bad-id,,2023-01-01 10:00:00,true,,"hi, mail [EMAIL]",[EMAIL]',
        "invalid_boolean": '00000001-0000-4000-8000-000000000000,,2023-01-01 10:00:00,maybe,,"say ""x""",',
        "duplicate_id_in_file": "00000002-0000-4000-8000-000000000000,,2023-01-01 10:00:00,true,,dup,",
        "malformed_row": "1,2",
    }
    for raw in rows.values():  # each one parses as one CSV record again
        assert len(list(csv.reader(io.StringIO(raw)))) == 1 and not raw.startswith("{")


def test_every_split_record_carries_its_parsed_fields_beside_the_raw_text(settings):
    """``fields``: the contract columns as the reader split them (JSON, redacted); none for a malformed record."""
    text = HEADER + (
        'bad-id,,2023-01-01 10:00:00,true,,"hi, mail jo@example.com",jo@example.com\n'
        "00000001-0000-4000-8000-000000000000,,2023-13-45 10:00:00,true,,ok,\n"
        "1,2\n"
    )
    result = ingest_file(settings, write(settings.landing / "f_chats.csv", text))
    qfile = settings.quarantine_dir / "chats" / f"{result.batch_id}.csv"
    rows = {r["reason_code"]: r["fields"] for r in csv.DictReader(io.StringIO(qfile.read_text()))}
    assert set(rows) == {"invalid_id", "invalid_timestamp", "malformed_row"}
    assert json.loads(rows["invalid_id"]) == {
        "id": "bad-id",
        "chat_category_id": None,
        "created_at": "2023-01-01 10:00:00",
        "is_customer_initiated": "true",
        "resolved_at": None,
        "message": "hi, mail [EMAIL]",
    }
    assert json.loads(rows["invalid_timestamp"])["created_at"] == "2023-13-45 10:00:00"
    assert rows["malformed_row"] == ""


def _quarantine_texts(settings, name: str, text: str) -> list[tuple]:
    result = ingest_file(settings, write(settings.landing / name, text))
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        return con.execute(
            "select line_number, reason_code, raw_record, fields from meta.quarantine where batch_id = ? "
            "order by line_number",
            [result.batch_id],
        ).fetchall()


#: A held row is two texts (its record and its split fields): this many rows are past the twin's limit.
_MANY = patterns.PYTHON_MAX_TEXTS // 2 + 20


@pytest.mark.parametrize("bad_rows", [3, _MANY])
def test_few_and_many_quarantined_texts_are_redacted_alike(settings, monkeypatch, bad_rows):
    """A few quarantined texts take the Python twin, many the SQL query: the same stored rows,
    on messages of the independent evaluation set (names, phones, addresses, cards...)."""
    messages = [m.text for m in corpus.build(n=800, seed=20261201) if m.spans][:bad_rows]
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    for i, message in enumerate(messages):  # 'maybe': every row is held with its message
        writer.writerow([f"00000000-0000-4000-8000-{i:012d}", "", "2023-01-01 10:00:00", "maybe", "", message, ""])
    text = HEADER + body.getvalue()
    queries = []  # which path each run took: the SQL query is built only on its path
    real = patterns.redact_query
    monkeypatch.setattr(patterns, "redact_query", lambda *a: queries.append(a) or real(*a))
    default = _quarantine_texts(settings, "a_chats.csv", text)
    assert bool(queries) == (bad_rows == _MANY)
    # the other path: none through the twin for a few rows, all of them for many
    monkeypatch.setattr(patterns, "PYTHON_MAX_TEXTS", -1 if bad_rows < _MANY else 10**6)
    monkeypatch.setattr(patterns, "PYTHON_MAX_CHARS", 10**9)
    queries.clear()
    other = _quarantine_texts(settings, "b_chats.csv", text + "\n")
    assert bool(queries) == (bad_rows < _MANY)
    assert len(default) == bad_rows and default == other
    placeholders = [bool(re.search(r"\[[A-Z_]+\]", row[2])) for row in default]
    assert sum(placeholders) >= 0.9 * bad_rows and any("[NAME]" in row[2] for row in default)
