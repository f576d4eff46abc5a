"""A warehouse file written by DuckDB 1.0.0 opens, takes new batches and reads on today's DuckDB.

The fixture (``tests/data/duckdb_1_0/warehouse.duckdb.gz``) was written by the pipeline on
DuckDB 1.0.0; ``tests/data/duckdb_1_0/make_warehouse.py`` says how. It holds two batches through
the whole chain and one chats batch ingested only (a row loaded with an offset timestamp, one
malformed row quarantined), whose archived file is in ``tests/data/duckdb_1_0/archive/`` as the
1.0 pipeline left it in ``landing/archive/``.
"""

from __future__ import annotations

import gzip
import shutil

import duckdb

from pipeline.orchestration import runner
from pipeline.stages.ingest import ingest_file
from pipeline.store import db, ledger
from tests.helpers import DATA, chats_text, write

FIXTURE = DATA / "duckdb_1_0" / "warehouse.duckdb.gz"
#: landing/archive/ as the 1.0 pipeline left it: the file of its ingested-only batch.
ARCHIVE = DATA / "duckdb_1_0" / "archive"
MARTS = [
    "category_chat_volume",
    "category_resolution_rates",
    "category_resolution_times",
    "chat_summary",
    "customer_resolved_per_day",
    "hourly_distribution",
    "resolved_chats_per_day",
]


def _install_fixture(settings) -> None:
    settings.warehouse.mkdir(parents=True, exist_ok=True)
    with gzip.open(FIXTURE, "rb") as src, open(settings.warehouse_db, "wb") as out:
        shutil.copyfileobj(src, out)
    assert b"v1.0.0" in settings.warehouse_db.read_bytes()[:128], "the fixture was written by DuckDB 1.0.0"
    settings.archive_dir.mkdir(parents=True)
    for archived in ARCHIVE.iterdir():
        shutil.copyfile(archived, settings.archive_dir / archived.name)


def test_a_duckdb_1_0_warehouse_opens_takes_batches_and_reads(settings):
    _install_fixture(settings)
    with db.connect(settings) as con:  # the schema DDL runs against the 1.0 file
        before = [(b["file"], b["status"], b["stage"]) for b in ledger.all_batches(con)]
        assert [f for f, _, _ in before] == ["v1_0_categories.csv", "v1_0_chats.csv", "v1_0_more_chats.csv"]
        assert con.execute("select count(*) from raw.chats").fetchone() == (200,)
        assert con.execute("select count(*) from raw.categories").fetchone() == (30,)
        assert con.execute("select created_at::varchar from audit.chats where message = 'offset'").fetchone() == (
            "2023-03-04 17:02:57.66",
        )
        assert con.execute("select reason_code from meta.quarantine").fetchall() == [("malformed_row",)]
        marts = con.execute("select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall()
        assert [m for (m,) in marts] == MARTS

    # ingest into it, then the whole chain (Soda gate, publish, dbt build, redact, export)
    result = ingest_file(settings, write(settings.landing / "new_chats.csv", chats_text(7, offset=0x500)))
    assert (result.status, result.rows_loaded) == ("ingested", 7)
    outcomes = runner.run(settings, [write(settings.landing / "newer_chats.csv", chats_text(5, offset=0x600))])
    # The run also resumed the two batches that were ingested only: new_chats.csv, and the one the
    # 1.0 pipeline left in flight, which today's gate scans on this DuckDB and withholds (one of its
    # two records was quarantined; the gate fails above 5 %).
    assert [(o.file, o.status) for o in outcomes] == [
        ("newer_chats.csv", "done"),
        ("v1_0_more_chats.csv", "failed"),
        ("new_chats.csv", "done"),
    ], outcomes
    assert outcomes[1].error.startswith(
        "chats batch b6433bc747fe2ab3a failed the quality gate: "
        "chats quarantined share of records (%) (measured 50 %, fail > 5 %). Report: "
    ), outcomes[1].error

    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        # 200 + 7 + 5 published; the withheld 1.0 batch is back at registered, none of its rows published
        assert con.execute("select count(*) from raw.chats").fetchone() == (212,)
        assert con.execute("select count(*) from raw.chats where _batch_id = 'b6433bc747fe2ab3a'").fetchone() == (0,)
        withheld = ledger.get(con, "b6433bc747fe2ab3a")
        assert (withheld["status"], withheld["stage"], withheld["error_code"]) == (
            "failed",
            "registered",
            "quality_gate_failed",
        )
        assert con.execute("select count(*) from raw.chats where _batch_id = ?", [result.batch_id]).fetchone() == (7,)
        files = [b["file"] for b in sorted(ledger.all_batches(con), key=lambda b: b["seq"])]
        assert files == [*[f for f, _, _ in before], "new_chats.csv", "newer_chats.csv"]
        # the marts were rebuilt on today's DuckDB over all published chats, the 1.0 ones included
        assert (
            con.execute("select total_chats from marts.chat_summary").fetchone()
            == con.execute("select count(distinct id) from raw.chats").fetchone()
        )
