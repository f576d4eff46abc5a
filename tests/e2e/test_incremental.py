"""Incremental dbt models: each build takes in only what new batches change, and agrees exactly
with a full rebuild — late categories, re-exported chats and a category's ``disabled`` changing."""

from __future__ import annotations

import json
import uuid

import duckdb

from pipeline.orchestration import runner
from pipeline.orchestration.replay import mart_checksums
from pipeline.stages import transform
from pipeline.store import ledger
from tests.helpers import read_ledger, write

CHATS = "id,chat_category_id,created_at,is_customer_initiated,resolved_at\n"
CATEGORIES = "id,parent_id,disabled\n"
ROOT, LEAF, OTHER = (str(uuid.UUID(int=n, version=4)) for n in (1, 2, 3))
A, B, D = (str(uuid.UUID(int=n, version=4)) for n in (11, 12, 13))


def _drop(settings, name: str, text: str) -> None:
    write(settings.landing / name, text)
    outcomes = runner.run(settings, settled=True)
    assert [o.status for o in outcomes] == [ledger.DONE], [o.error for o in outcomes]


def _volume(settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        return dict(con.execute("select category_group_id::varchar, chats from marts.category_chat_volume").fetchall())


def _resolved(settings) -> int:
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        return con.execute("select coalesce(sum(chats), 0) from marts.resolved_chats_per_day").fetchone()[0]


def test_incremental_builds_agree_with_a_full_rebuild(settings):
    # 1. chats first: their category is not known yet
    _drop(
        settings,
        "b1_chats.csv",
        CHATS + f"{A},{LEAF},2023-03-01 10:00:00,true,\n{B},{LEAF},2023-03-01 11:00:00,true,2023-03-01 12:00:00\n",
    )
    assert _volume(settings) == {} and _resolved(settings) == 1  # unknown categories are not ranked
    # 2. the categories arrive late: LEAF rolls up to its parent ROOT
    _drop(settings, "b2_categories.csv", CATEGORIES + f"{ROOT},,false\n{LEAF},{ROOT},false\n{OTHER},,false\n")
    assert _volume(settings) == {ROOT: 2}
    # 3. A is re-exported resolved; a new chat D in OTHER
    _drop(
        settings,
        "b3_chats.csv",
        CHATS + f"{A},{LEAF},2023-03-01 10:00:00,true,2023-03-02 09:00:00\n{D},{OTHER},2023-03-02 10:00:00,true,\n",
    )
    assert _volume(settings) == {ROOT: 2, OTHER: 1} and _resolved(settings) == 2
    # 4. ROOT becomes disabled; LEAF inherits it, so its chats leave the volume ranking
    _drop(settings, "b4_categories.csv", CATEGORIES + f"{ROOT},,true\n{LEAF},{ROOT},\n{OTHER},,false\n")
    assert _volume(settings) == {OTHER: 1}
    incremental = mart_checksums(settings)
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        staged = con.execute(
            "select chat_id::varchar, resolved_at is not null from staging.stg_support__chats order by 1"
        ).fetchall()
    assert staged == sorted([(A, True), (B, True), (D, False)])

    transform.build(settings, full_refresh=True)
    assert mart_checksums(settings) == incremental


def test_a_changed_time_zone_rebuilds_everything(settings):
    from dataclasses import replace

    _drop(settings, "tz_chats.csv", CHATS + f"{A},,2023-03-01 23:30:00,true,2023-03-02 00:30:00\n")
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        before = con.execute("select created_hour_local from intermediate.int_chats_localized").fetchone()
    transform.build(replace(settings, timezone="UTC"))  # no --full-refresh asked: the vars changed
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        after = con.execute("select created_hour_local from intermediate.int_chats_localized").fetchone()
    assert (before, after) == ((10,), (23,))  # Melbourne (UTC+11 in March), then UTC


def _share_checksums(settings) -> dict[str, tuple]:
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        return {
            t: con.execute(f"select count(*), coalesce(bit_xor(hash(x::varchar)), 0) from {t} as x").fetchone()
            for t in tables
        }


def test_the_share_layer_is_updated_incrementally_and_agrees_with_a_full_rebuild(settings):
    from pipeline.stages import redact

    chats = CHATS.rstrip("\n") + ",message\n"
    _drop(
        settings,
        "s1_chats.csv",
        chats
        + f"{A},{LEAF},2023-03-01 10:00:00,true,,write to jo@example.com\n"
        + f"{B},{LEAF},2023-03-01 11:00:00,true,,or sam@example.org\n",
    )
    _drop(settings, "s2_categories.csv", CATEGORIES + f"{ROOT},,false\n{LEAF},{ROOT},false\n")
    _drop(settings, "s3_chats.csv", chats + f"{A},{LEAF},2023-03-01 10:00:00,true,2023-03-02 09:00:00,thanks\n")
    runs = {
        r["file"]: json.loads((settings.state_dir / r["batch_id"] / "redact.json").read_text())
        for r in read_ledger(settings)
    }
    # s1: first share, both chats; s2: the category arrived, both chats' groups changed; s3: A only
    files = ("s1_chats.csv", "s2_categories.csv", "s3_chats.csv")
    assert [runs[f]["chats_redacted_now"] for f in files] == [2, 2, 1]
    # placeholders among the chats redacted in that run (s3: A's new message has none; B keeps its)
    assert [runs[f]["messages_with_placeholders_now"] for f in files] == [2, 2, 0]
    incremental = _share_checksums(settings)
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        assert con.execute("select count(*), count(resolved_at) from chats").fetchone() == (2, 1)
        assert con.execute("select count(distinct category_group_id) from chats").fetchone() == (1,)
    summary = redact.build_share(settings, full_refresh=True)
    assert (summary["chats_redacted_now"], summary["messages_with_placeholders_now"]) == (2, 1)
    assert _share_checksums(settings) == incremental


def test_a_small_batch_redacted_by_the_python_twin_agrees_with_a_full_rebuild(settings, monkeypatch):
    """A watcher's small batch is redacted by the Python twin (a large one and a rebuild by the SQL
    query): the same share rows, on messages of the independent evaluation set."""
    import csv
    import io

    from bench.pii_eval import corpus
    from pipeline.privacy import patterns
    from pipeline.stages import redact

    messages = [m.text for m in corpus.build(n=300, seed=20261204) if m.spans][:120]
    _drop(settings, "p0_categories.csv", CATEGORIES + f"{ROOT},,false\n{LEAF},{ROOT},false\n")
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    writer.writerow(["id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at", "message"])
    writer.writerows(
        [
            [str(uuid.UUID(int=100 + i, version=4)), LEAF, "2023-03-01 10:00:00", "true", "", m]
            for i, m in enumerate(messages[:60])
        ]
    )
    _drop(settings, "p1_chats.csv", body.getvalue())  # the first share: every chat, the SQL query
    queries = []
    real = patterns.redact_query
    monkeypatch.setattr(patterns, "redact_query", lambda *a: queries.append(a) or real(*a))
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    writer.writerow(["id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at", "message"])
    writer.writerows(
        [
            [str(uuid.UUID(int=200 + i, version=4)), LEAF, "2023-03-02 10:00:00", "false", "", m]
            for i, m in enumerate(messages[60:])
        ]
    )
    _drop(settings, "p2_chats.csv", body.getvalue())
    assert queries == []  # 60 new messages: all through the twin
    incremental = _share_checksums(settings)
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        names = con.execute("select count(*) filter (where message like '%[NAME]%') from chats").fetchone()[0]
    assert names >= 10
    redact.build_share(settings, full_refresh=True)
    assert queries  # the rebuild: the layered query
    assert _share_checksums(settings) == incremental
