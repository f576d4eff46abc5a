"""Batch profile and drift rules: SUMMARIZE over a real DuckDB batch, robust z and PSI by hand."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipeline.settings import load_settings
from pipeline.stages import profile
from pipeline.store.db import SCHEMA_DDL

LANDED = dt.datetime(2023, 3, 10, 12, 0)


@pytest.fixture
def con():
    connection = duckdb.connect()
    for stmt in SCHEMA_DDL:
        connection.execute(stmt)
    yield connection
    connection.close()


def _chats(con, batch_id: str, rows: list[tuple]) -> None:
    con.executemany(
        "insert into audit.chats (id, chat_category_id, created_at, is_customer_initiated, resolved_at, message, "
        "_batch_id, _batch_seq, _line_number) values (uuid(), ?, ?, ?, ?, ?, ?, 1, ?)",
        [[*row, batch_id, i + 2] for i, row in enumerate(rows)],
    )


def test_the_profile_of_a_chats_batch_has_summarize_numbers_quarantine_shares_and_no_message_text(con):
    cat = "00000001-2222-4000-8000-000000000000"
    _chats(
        con,
        "b1",
        [
            (cat, dt.datetime(2023, 3, 1, 10), True, dt.datetime(2023, 3, 1, 12), "call me on 0412 345 678"),
            (cat, dt.datetime(2023, 3, 2, 10), False, None, None),
            (None, dt.datetime(2023, 3, 3, 10), True, dt.datetime(2023, 3, 3, 11), "hello"),
            (cat, dt.datetime(2023, 3, 4, 10), None, dt.datetime(2023, 3, 4, 14), "bye"),
        ],
    )
    con.execute(
        "insert into meta.quarantine (batch_id, dataset, line_number, reason_code, reason, raw_record, quarantined_at) "
        "values ('b1', 'chats', 7, 'invalid_id', 'x', 'raw', now()::timestamp)"
    )
    record = {"batch_id": "b1", "dataset": "chats", "rows_read": 5, "rows_loaded": 4, "rows_quarantined": 1}
    rows = profile.profile_batch(con, {**record, "landed_at": LANDED})
    got = {(r["column_name"], r["metric"]): (r["value"], r["value_text"]) for r in rows}
    assert got[("_batch", "rows_read")] == (5.0, None)
    assert got[("_batch", "quarantine_share")] == (0.2, None)
    assert got[("_batch", "quarantine_share:invalid_id")] == (0.2, None)
    assert got[("resolved_at", "null_share")] == (0.25, None)
    assert got[("chat_category_id", "null_share")] == (0.25, None)
    assert got[("_batch", "customer_initiated_share")] == (pytest.approx(2 / 3), None)
    assert got[("_batch", "arrival_lag_hours")] == (6 * 24 + 2, None)  # landed 2023-03-10 12:00, newest 03-04 10:00
    assert got[("created_at", "min")][1] == "2023-03-01 10:00:00"
    assert got[("created_at", "max")][1] == "2023-03-04 10:00:00"
    assert got[("resolution_hours", "max")] == (4.0, None)
    assert got[("chat_category_id", f"share:{cat}")] == (0.75, None)
    assert got[("chat_category_id", "share:(none)")] == (0.25, None)
    # free text: its null share and distinct count only, never a min/max that would copy a message
    assert {m for c, m in got if c == "message"} == {"null_share", "distinct"}
    assert not any("0412" in (text or "") for _, text in got.values())


def test_robust_z_uses_median_and_mad_with_a_floor():
    score, median, mad = profile.robust_z(20.0, [10.0, 11.0, 9.0, 10.0, 12.0], share=False)
    assert (median, mad) == (10.0, 1.0)
    assert score == pytest.approx(0.6745 * 10)
    # a share that never moved: the MAD is floored at 2 points, so 1 point off is no drift, 30 points is
    assert abs(profile.robust_z(0.01, [0.0] * 5, share=True)[0]) < 3.5
    assert profile.robust_z(0.30, [0.0] * 5, share=True)[0] > 3.5


def test_psi_is_zero_for_the_same_mix_and_large_for_a_shift():
    base = {"a": 500, "b": 300, "c": 200, None: 50}
    assert profile.psi({"a": 50, "b": 30, "c": 20, None: 5}, base) == pytest.approx(0.0)
    assert profile.psi({"a": 10, "b": 10, "c": 80, None: 5}, base) > 0.25


def test_compare_waits_for_enough_batches_then_names_the_drifting_metric(con, monkeypatch):
    settings = load_settings()
    baseline = {f"b{i}": {("disabled", "null_share"): 0.05 + 0.01 * (i % 2)} for i in range(5)}
    record = {"batch_id": "new", "dataset": "categories"}
    current = [{"column_name": "disabled", "metric": "null_share", "value": 0.6, "value_text": None}]
    early = profile.compare(con, settings, current, record, list(baseline)[:4], baseline)
    assert early.findings == [] and early.baseline_batches == 4
    (finding,) = profile.compare(con, settings, current, record, list(baseline), baseline).findings
    assert (finding["column_name"], finding["metric"], finding["method"], finding["action"]) == (
        "disabled",
        "null_share",
        "robust_z",
        "warn",
    )
    assert finding["baseline"] == 0.05 and finding["baseline_batches"] == 5
    assert profile.finding_text(finding).startswith("disabled.null_share: 0.6 against median 0.05")
