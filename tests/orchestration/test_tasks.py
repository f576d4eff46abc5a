"""The Luigi tasks as the visualizer sees them: progress and status messages while each stage works."""

from __future__ import annotations

import luigi.scheduler
import pytest

from pipeline.orchestration import runner, tasks
from tests.helpers import chats_text, write


@pytest.fixture
def reported(monkeypatch):
    """Every status message and progress value a task sent to the (local) scheduler, in order."""
    calls: list[tuple[str, str, object]] = []
    set_message = luigi.scheduler.Scheduler.set_task_status_message
    set_progress = luigi.scheduler.Scheduler.set_task_progress_percentage

    def message(self, task_id, status_message):
        calls.append((task_id.split("_")[0], "message", status_message))
        return set_message(self, task_id, status_message)

    def progress(self, task_id, progress_percentage):
        calls.append((task_id.split("_")[0], "progress", progress_percentage))
        return set_progress(self, task_id, progress_percentage)

    monkeypatch.setattr(luigi.scheduler.Scheduler, "set_task_status_message", message)
    monkeypatch.setattr(luigi.scheduler.Scheduler, "set_task_progress_percentage", progress)
    return calls


def _of(calls, family: str, kind: str) -> list:
    return [value for fam, k, value in calls if fam == family and k == kind]


def test_each_stage_reports_progress_and_counts_while_it_works(settings, reported):
    write(settings.landing / "a_chats.csv", chats_text(40).replace("hello 3", "mail jo@example.com"))
    [outcome] = runner.run(settings, [settings.landing / "a_chats.csv"])
    assert outcome.status == "done"

    ingest = _of(reported, "Ingest", "message")
    assert ingest[0].startswith("ingest: starting")
    assert any(m.startswith("ingest: reading and validating a_chats.csv (") for m in ingest)
    assert any("ingest: ingested: 40 rows read, 40 validated and loaded, 0 quarantined" in m for m in ingest)
    gate = _of(reported, "QualityGate", "message")
    assert any(m.startswith("quality_gate: Soda scan of 40 chats rows") for m in gate)
    assert any("checks:" in m and "passed" in m for m in gate)
    assert any(m.startswith("quality_gate: published 40 rows to raw.chats") for m in gate)

    dbt = _of(reported, "DbtBuild", "message")
    built = [m for m in dbt if "models and tests built" in m]
    assert len(built) > 10, "one update per finished dbt node"
    assert built[-1].split(":")[1].strip().split(" of ")[0] == built[-1].split(" of ")[1].split(" ")[0]
    assert dbt[-1].startswith("dbt_build: done in") and "models built" in dbt[-1]
    progress = _of(reported, "DbtBuild", "progress")
    assert progress == sorted(progress) and len(set(progress)) > 5 and progress[-1] == 100

    for family in ("Ingest", "QualityGate", "DbtBuild", "Redact", "ExportAnalysis"):
        assert _of(reported, family, "progress")[-1] == 100, family
    assert not [m for _, k, m in reported if k == "message" and "jo@example.com" in str(m)]


def test_a_status_line_loses_identifiers_and_names_but_keeps_our_words():
    line = "ingest:  failed: could not parse 'jane.doe@example.com'\n(0412 345 678) for Sarah Nguyen; Done, Published"
    assert tasks.status_text(line) == (
        "ingest: failed: could not parse '[EMAIL]' ([PHONE]) for [NAME] [NAME]; Done, Published"
    )
    assert len(tasks.status_text("x" * 1000)) == 300
