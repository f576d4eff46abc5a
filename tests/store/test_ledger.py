"""The ledger's lifecycle verbs on a real DuckDB file."""

from __future__ import annotations

from pipeline.store import db, ledger


def _register(con, name: str, sha: str) -> str:
    return ledger.register(con, file=name, sha256=sha, size_bytes=1, dataset="chats").batch_id


def test_a_retried_batch_keeps_its_arrival_sequence(settings):
    """An older export that failed and is retried after a newer one must stay older (version order)."""
    with db.connect(settings) as con:
        older = _register(con, "monday_chats.csv", "a" * 64)
        ledger.fail(con, older, "ingest_error", "lock timeout")
        newer = _register(con, "tuesday_chats.csv", "b" * 64)
        assert _register(con, "monday_chats.csv", "a" * 64) == older  # the retry
        seq = {r["batch_id"]: r["seq"] for r in ledger.all_batches(con)}
        assert ledger.get(con, older)["status"] == ledger.QUEUED
    assert seq[older] < seq[newer]


def test_advance_never_moves_a_batch_backwards(settings):
    with db.connect(settings) as con:
        batch = _register(con, "a_chats.csv", "c" * 64)
        ledger.advance(con, batch, "transformed")
        ledger.advance(con, batch, "published")  # a stage re-run after a crash
        assert ledger.get(con, batch)["stage"] == "transformed"
