"""Quality gate: real Soda scans against real DuckDB files in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import structlog
import yaml

from pipeline.errors import ConfigError, QualityGateFailed
from pipeline.settings import PROJECT_ROOT, Settings, load_settings
from pipeline.stages import quality
from pipeline.store import ledger
from pipeline.store.db import SCHEMA_DDL

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
BATCH = "b-0001"
VENV_BIN = Path(sys.executable).parent

CHATS_CHECKS = {
    "chats schema has required columns and types",
    "chats batch is not empty",
    "chats id is never missing",
    "chats created_at is never missing",
    "chats id is unique within the batch",
    "chats id is a valid RFC 9562 UUID",
    "chats chat_category_id is a valid RFC 9562 UUID",
    "chats resolved_at is not before created_at",
    "chats category exists in categories",
    "chats newest created_at is recent relative to NOW",
    "chats quarantined share of records (%)",
    "chats record count vs recent batches (% off their median)",
}
CATEGORIES_CHECKS = {
    "categories schema has required columns and types",
    "categories batch is not empty",
    "categories id is never missing",
    "categories id is unique within the batch",
    "categories id is a valid RFC 9562 UUID",
    "categories parent_id is a valid RFC 9562 UUID",
    "categories disabled left empty to inherit from the parent (%)",
    "categories parent exists in categories",
    "categories quarantined share of records (%)",
    "categories record count vs recent batches (% off their median)",
}


@pytest.fixture(scope="module")
def soda_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, soda_home):
    # Soda's telemetry config lives in $HOME/.soda; keep the developer's home untouched.
    monkeypatch.setenv("HOME", str(soda_home))
    for name in quality.SCAN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def settings(tmp_path) -> Settings:
    s = load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    s.warehouse.mkdir(parents=True)
    with duckdb.connect(str(s.warehouse_db)) as con:
        for stmt in SCHEMA_DDL:
            con.execute(stmt)
    return s


def _insert(settings: Settings, table: str, rows: list[dict]) -> None:
    with duckdb.connect(str(settings.warehouse_db)) as con:
        for row in rows:
            cols = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            con.execute(f"insert into {table} ({cols}) values ({marks})", list(row.values()))


def _category(batch: str = BATCH, **over) -> dict:
    row = {
        "id": str(uuid.uuid4()),
        "parent_id": None,
        "disabled": False,
        "_batch_id": batch,
        "_batch_seq": 1,
        "_line_number": 2,
        "_loaded_at": datetime(2026, 11, 25),
    }
    row.update(over)
    return row


def _chat(category_id: str, i: int = 0, batch: str = BATCH, **over) -> dict:
    created = datetime(2023, 6, 1, 10, 0) + timedelta(hours=i)
    row = {
        "id": str(uuid.uuid4()),
        "chat_category_id": category_id,
        "created_at": created,
        "is_customer_initiated": True,
        "resolved_at": created + timedelta(minutes=30),
        "message": f"hello, my card number is 4111-{i:04d}",
        "_batch_id": batch,
        "_batch_seq": 1,
        "_line_number": i + 2,
        "_loaded_at": datetime(2026, 11, 25),
    }
    row.update(over)
    return row


@pytest.fixture
def published_category(settings) -> str:
    row = _category(batch="b-0000")
    _insert(settings, "raw.categories", [row])
    return row["id"]


def _clean_chats(category_id: str, n: int = 5) -> list[dict]:
    return [_chat(category_id, i) for i in range(n)]


def _outcomes(result) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in result.checks}


# --- chats ---------------------------------------------------------------------------------------


def test_clean_chats_batch_passes(settings, published_category):
    _insert(settings, "audit.chats", _clean_chats(published_category))
    with structlog.testing.capture_logs() as logs:
        result = quality.run_gate(settings, BATCH, "chats", now=NOW)

    assert result.passed, (result.failed, result.errors)
    assert result.failed == [] and result.warned == [] and result.errors == []
    assert set(_outcomes(result)) == CHATS_CHECKS
    assert set(_outcomes(result).values()) == {"pass"}
    summary = [e for e in logs if e["event"] == "quality_gate.done"]
    assert len(summary) == 1
    assert summary[0]["passed"] is True
    assert summary[0]["checks_passed"] == len(CHATS_CHECKS)
    assert summary[0]["checks_failed"] == summary[0]["checks_warned"] == 0
    assert summary[0]["duration_s"] >= 0 and summary[0]["batch_id"] == BATCH
    assert quality.raise_for_result(result) is result


def test_reports_hold_every_check_name_and_outcome(settings, published_category):
    _insert(
        settings, "audit.chats", [*_clean_chats(published_category), _chat(str(uuid.uuid4()), 9)]
    )  # unknown category -> warn
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)

    assert result.report_json == settings.reports_dir / "soda" / f"{BATCH}.json"
    assert result.report_md == settings.reports_dir / "soda" / f"{BATCH}.md"
    report = json.loads(result.report_json.read_text())
    md = result.report_md.read_text()
    assert report["batch_id"] == BATCH and report["passed"] is True
    assert report["variables"]["NOW"] == NOW.isoformat()
    by_name = {c["name"]: c for c in report["checks"]}
    assert set(by_name) == CHATS_CHECKS
    assert by_name["chats category exists in categories"]["outcome"] == "warn"
    assert by_name["chats category exists in categories"]["value"] == 1
    assert by_name["chats batch is not empty"]["value"] == 6
    assert "| Check | Outcome | Measured value |" in md
    for name, check in by_name.items():
        assert f"| {name} | {check['outcome']} |" in md
    assert not list(result.report_json.parent.glob("*.tmp"))  # atomic writes leave nothing behind


def test_only_the_audited_batch_counts(settings, published_category):
    other = _chat(published_category, 1, batch="b-0002")
    _insert(settings, "audit.chats", [*_clean_chats(published_category), other, dict(other)])
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert result.passed
    assert result.failed == []
    assert quality.run_gate(settings, "b-0002", "chats", now=NOW).failed == ["chats id is unique within the batch"]


def test_duplicate_ids_fail(settings, published_category):
    rows = _clean_chats(published_category)
    rows.append(dict(rows[0], _line_number=99))
    _insert(settings, "audit.chats", rows)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)

    assert not result.passed
    assert result.failed == ["chats id is unique within the batch"]
    with pytest.raises(
        QualityGateFailed, match=r"chats id is unique within the batch \(measured 1 rows, fail ≠ 0 rows\)"
    ):
        quality.raise_for_result(result)


def test_resolved_before_created_fails(settings, published_category):
    rows = _clean_chats(published_category)
    rows[2]["resolved_at"] = rows[2]["created_at"] - timedelta(seconds=1)
    _insert(settings, "audit.chats", rows)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert not result.passed
    assert result.failed == ["chats resolved_at is not before created_at"]


def test_unknown_category_only_warns(settings, published_category):
    in_flight = _category(batch="b-cat")  # a category batch in audit, not yet published: known
    _insert(settings, "audit.categories", [in_flight])
    rows = _clean_chats(published_category)
    rows[0]["chat_category_id"] = str(uuid.uuid4())
    rows[1]["chat_category_id"] = in_flight["id"]
    _insert(settings, "audit.chats", rows)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)

    assert result.passed
    assert result.warned == ["chats category exists in categories"]
    assert {c["name"]: c["value"] for c in result.checks}["chats category exists in categories"] == 1


def test_nil_uuid_fails_format_check(settings, published_category):
    rows = _clean_chats(published_category)
    rows[0]["id"] = "00000000-0000-0000-0000-000000000000"
    rows[1]["chat_category_id"] = "ffffffff-ffff-ffff-ffff-ffffffffffff"
    _insert(settings, "audit.chats", rows)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert sorted(result.failed) == [
        "chats chat_category_id is a valid RFC 9562 UUID",
        "chats id is a valid RFC 9562 UUID",
    ]


def test_stale_batch_only_warns(settings, published_category):
    _insert(settings, "audit.chats", _clean_chats(published_category))
    result = quality.run_gate(settings, BATCH, "chats", now=NOW, variables={"FRESHNESS_WARN_DAYS": "400"})
    assert result.passed
    assert result.warned == ["chats newest created_at is recent relative to NOW"]
    age = {c["name"]: c["value"] for c in result.checks}["chats newest created_at is recent relative to NOW"]
    assert 1270 < age < 1275


def test_empty_batch_fails_on_row_count_only(settings):
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert result.failed == ["chats batch is not empty"]


def test_schema_drift_fails(tmp_path):
    s = load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    s.warehouse.mkdir(parents=True)
    with duckdb.connect(str(s.warehouse_db)) as con:
        for stmt in SCHEMA_DDL:
            if "audit.chats" in stmt:
                stmt = stmt.replace("id UUID,", "id VARCHAR,", 1).replace("message VARCHAR,", "")
            con.execute(stmt)
        con.execute(
            f"insert into audit.chats (id, created_at, _batch_id) values ('{uuid.uuid4()}', '2023-06-01', '{BATCH}')"
        )
    result = quality.run_gate(s, BATCH, "chats", now=NOW)
    assert result.failed == ["chats schema has required columns and types"]
    schema = next(c for c in result.checks if c["name"] == "chats schema has required columns and types")
    assert "missing message" in schema["value_text"] and "id (varchar, expected uuid)" in schema["value_text"]


def test_message_text_never_reaches_the_reports(settings, published_category):
    secret = "SECRET-PII-7f3a please call me on 0400 000 000"
    rows = [_chat(published_category, i, message=f"{secret} #{i}") for i in range(4)]
    rows.append(dict(rows[0]))  # duplicate id -> fail
    rows[1]["resolved_at"] = rows[1]["created_at"] - timedelta(hours=1)  # -> fail
    rows[2]["chat_category_id"] = str(uuid.uuid4())  # -> warn
    _insert(settings, "audit.chats", rows)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)

    assert set(result.failed) == {"chats id is unique within the batch", "chats resolved_at is not before created_at"}
    for path in (result.report_json, result.report_md):
        text = path.read_text()
        assert "SECRET-PII" not in text and "0400 000 000" not in text
    assert "SECRET-PII" not in json.dumps(result.checks)


# --- categories ----------------------------------------------------------------------------------


DISABLED_CHECK = "categories disabled left empty to inherit from the parent (%)"


@pytest.mark.parametrize(("blank", "outcome"), [(0, "pass"), (1, "pass"), (10, "pass"), (11, "pass"), (12, "warn")])
def test_categories_disabled_missing(settings, blank, outcome):
    """The contract allows an empty `disabled` (inherited from the parent): blanks never withhold a
    batch; only a batch where no row has a value warns (the column was exported empty)."""
    rows = [_category(_line_number=i + 2, disabled=None if i < blank else (i % 2 == 0)) for i in range(12)]
    _insert(settings, "audit.categories", rows)
    result = quality.run_gate(settings, BATCH, "categories", now=NOW)

    assert set(_outcomes(result)) == CATEGORIES_CHECKS
    assert _outcomes(result)[DISABLED_CHECK] == outcome
    assert result.passed
    others = {n: o for n, o in _outcomes(result).items() if n != DISABLED_CHECK}
    assert set(others.values()) == {"pass"}


def test_twenty_empty_disabled_values_pass_the_gate(settings):
    rows = [_category(_line_number=i + 2, disabled=None if i < 20 else True) for i in range(25)]
    _insert(settings, "audit.categories", rows)
    result = quality.run_gate(settings, BATCH, "categories", now=NOW)
    assert result.passed and result.warned == []
    by_name = {c["name"]: c for c in result.checks}
    assert by_name[DISABLED_CHECK]["value"] == 80


def test_unknown_parent_only_warns(settings):
    root = _category(batch="b-0000")
    _insert(settings, "raw.categories", [root])
    child = _category(parent_id=root["id"])
    grandchild = _category(parent_id=child["id"])  # parent in the same batch
    orphan = _category(parent_id=str(uuid.uuid4()))
    _insert(settings, "audit.categories", [child, grandchild, orphan])
    result = quality.run_gate(settings, BATCH, "categories", now=NOW)
    assert result.passed
    assert result.warned == ["categories parent exists in categories"]


# --- the batch as a whole: quarantine share and size swings (from the ledger's counts) -------------


def _ledger_row(settings, batch_id, dataset, rows_read, rows_quarantined, *, stage="ingested"):
    """A batch in the ledger at ``stage`` with these counts, through the ledger's own verbs (in call order)."""
    # The ledger derives a batch id from the content hash ("b" + its first 16 characters): a short
    # stand-in hash gives the test's readable id.
    sha256 = batch_id[1:]
    assert ledger.batch_id_for(sha256) == batch_id
    with duckdb.connect(str(settings.warehouse_db)) as con:
        ledger.register(con, file=f"{batch_id}_{dataset}.csv", sha256=sha256, size_bytes=1, dataset=dataset)
        ledger.start(con, batch_id)
        ledger.advance(
            con,
            batch_id,
            stage,
            rows_read=rows_read,
            rows_loaded=rows_read - rows_quarantined,
            rows_quarantined=rows_quarantined,
        )


QUARANTINE_CHECK = "chats quarantined share of records (%)"


@pytest.mark.parametrize(("quarantined", "outcome"), [(0, "pass"), (1, "pass"), (3, "warn"), (90, "fail")])
def test_quarantine_share_withholds_a_mostly_broken_batch(settings, published_category, quarantined, outcome):
    """5 loaded rows; 100 records read: 90 quarantined is 90%, over the 5% default."""
    _insert(settings, "audit.chats", _clean_chats(published_category))
    _ledger_row(settings, BATCH, "chats", 100, quarantined)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    by_name = {c["name"]: c for c in result.checks}
    assert by_name[QUARANTINE_CHECK]["outcome"] == outcome
    assert by_name[QUARANTINE_CHECK]["value"] == quarantined
    assert result.passed is (outcome != "fail")
    if outcome == "fail":
        with pytest.raises(
            QualityGateFailed, match=r"quarantined share of records \(%\) \(measured 90 %, fail > 5 %\)"
        ):
            quality.raise_for_result(result)
    md = result.report_md.read_text()
    assert "| Threshold |" in md and "warn > 1 %, fail > 5 %" in md


def test_quarantine_threshold_comes_from_the_settings(settings, published_category, monkeypatch):
    monkeypatch.setenv("PIPELINE_QUARANTINE_FAIL_PCT", "95")
    monkeypatch.setenv("PIPELINE_QUARANTINE_WARN_PCT", "50")
    relaxed = load_settings(landing=settings.landing, warehouse=settings.warehouse)
    _insert(settings, "audit.chats", _clean_chats(published_category))
    _ledger_row(settings, BATCH, "chats", 100, 90)
    result = quality.run_gate(relaxed, BATCH, "chats", now=NOW)
    assert result.passed and QUARANTINE_CHECK in result.warned
    assert json.loads(result.report_json.read_text())["variables"]["QUARANTINE_FAIL_PCT"] == "95"


def test_row_count_swing_against_recent_batches_warns(settings, published_category):
    for i in range(3):
        _ledger_row(settings, f"b-old{i}", "chats", 100, 0, stage="exported")
    _insert(settings, "audit.chats", _clean_chats(published_category))
    _ledger_row(settings, BATCH, "chats", 5, 0)
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    name = "chats record count vs recent batches (% off their median)"
    assert result.passed and result.warned == [name]
    assert {c["name"]: c for c in result.checks}[name]["value"] == 95


# --- errors --------------------------------------------------------------------------------------


def test_missing_warehouse_is_a_failure(tmp_path):
    s = load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "nowhere")
    result = quality.run_gate(s, BATCH, "chats", now=NOW)
    assert not result.passed
    assert any("Could not connect" in e for e in result.errors)
    with pytest.raises(QualityGateFailed, match="scan error"):
        quality.raise_for_result(result)
    assert "Scan errors" in result.report_md.read_text()


def test_broken_checks_file_is_a_failure(settings, published_category, tmp_path):
    soda_dir = tmp_path / "soda"
    soda_dir.mkdir()
    (soda_dir / "configuration.yml").write_text((PROJECT_ROOT / "soda" / "configuration.yml").read_text())
    (soda_dir / "chats.yml").write_text("checks for chats:\n  - row_count > 0:\n    name: [unclosed\n")
    settings = replace(settings, soda_dir=soda_dir)
    _insert(settings, "audit.chats", _clean_chats(published_category))
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert not result.passed and result.errors


def test_sql_error_in_a_check_is_a_failure(settings, published_category, tmp_path):
    soda_dir = tmp_path / "soda"
    soda_dir.mkdir()
    (soda_dir / "configuration.yml").write_text((PROJECT_ROOT / "soda" / "configuration.yml").read_text())
    (soda_dir / "chats.yml").write_text(
        textwrap.dedent("""\
        checks for chats:
          - row_count > 0:
              name: rows
          - failed rows:
              name: broken
              fail condition: no_such_column > 1
        """)
    )
    settings = replace(settings, soda_dir=soda_dir)
    _insert(settings, "audit.chats", _clean_chats(published_category))
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert not result.passed
    assert any("no_such_column" in e for e in result.errors)


def test_environment_variable_shadowing_a_scan_variable_is_a_failure(settings, published_category, monkeypatch):
    _insert(settings, "audit.chats", _clean_chats(published_category))
    monkeypatch.setenv("BATCH_ID", "some-other-batch")
    result = quality.run_gate(settings, BATCH, "chats", now=NOW)
    assert not result.passed
    assert "BATCH_ID" in result.errors[0]


@pytest.mark.parametrize("bad", ["", "x' or '1'='1", "a b"])
def test_unsafe_batch_id_is_rejected(settings, bad):
    with pytest.raises(ConfigError):
        quality.run_gate(settings, bad, "chats", now=NOW)


def test_unknown_dataset_is_rejected(settings):
    with pytest.raises(ConfigError):
        quality.run_gate(settings, BATCH, "tickets", now=NOW)


def test_configuration_uses_the_real_warehouse_like_the_pipeline_connections(settings):
    config = yaml.safe_load(quality.configuration_yaml(settings))["data_source warehouse"]
    assert config["path"] == str(settings.warehouse_db)
    # same DuckDB configuration as the pipeline's own handles: a read-only one would clash in-process
    assert config["read_only"] is False and config["type"] == "duckdb"
    # unqualified names resolve to the audit layer unless a by-hand scan says -v LAYER=raw
    assert config["schema"] == "${ LAYER | default('audit', true) }"
    assert config["sampler"]["exclude_columns"] == {"chats": ["message"]}


# --- telemetry -----------------------------------------------------------------------------------


def test_ensure_soda_telemetry_off_keeps_other_keys(tmp_path):
    path = tmp_path / ".soda" / "config.yml"
    assert quality.ensure_soda_telemetry_off(path) == path
    assert yaml.safe_load(path.read_text()) == {"send_anonymous_usage_stats": False}
    path.write_text("send_anonymous_usage_stats: true\nuser_cookie_id: keep-me\n")
    quality.ensure_soda_telemetry_off(path)
    assert yaml.safe_load(path.read_text()) == {"send_anonymous_usage_stats": False, "user_cookie_id": "keep-me"}


NO_NETWORK_SCRIPT = """
import json, socket, sys
from datetime import datetime
attempts = []
def deny(*args, **kwargs):
    attempts.append(repr(args[1:2] or args[:1]))
    raise OSError("network disabled by test")
socket.socket.connect = deny
socket.socket.connect_ex = deny
socket.getaddrinfo = deny
socket.create_connection = deny

from pipeline.stages.quality import run_gate
from pipeline.settings import load_settings
result = run_gate(load_settings(landing=sys.argv[1], warehouse=sys.argv[2]), "b-0001", "chats",
                  now=datetime(2026, 11, 25))
from soda.telemetry.soda_telemetry import SodaTelemetry
from opentelemetry import trace
provider = trace.get_tracer_provider()
for flush in ("force_flush", "shutdown"):
    getattr(provider, flush, lambda: None)()
print(json.dumps({"attempts": attempts, "passed": result.passed,
                  "telemetry_on": SodaTelemetry.get_instance()._SodaTelemetry__send}))
"""


@pytest.mark.parametrize("user_config", [None, "send_anonymous_usage_stats: true\nuser_cookie_id: keep-me\n"])
def test_scan_makes_no_network_connection(settings, published_category, tmp_path, user_config):
    """Fresh interpreter (Soda reads its telemetry switch once, at import), a fresh HOME or one whose
    global Soda config says true: no connection, telemetry off, and the user's HOME is not written."""
    _insert(settings, "audit.chats", _clean_chats(published_category))
    home = tmp_path / "fresh-home"
    home.mkdir()
    if user_config:
        (home / ".soda").mkdir()
        (home / ".soda" / "config.yml").write_text(user_config)
    env = {k: v for k, v in os.environ.items() if k not in quality.SCAN_VARIABLES}
    env.update(HOME=str(home), PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", NO_NETWORK_SCRIPT, str(settings.landing), str(settings.warehouse)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"attempts": [], "passed": True, "telemetry_on": False}
    if user_config:
        assert (home / ".soda" / "config.yml").read_text() == user_config  # untouched
    else:
        assert not (home / ".soda").exists()
    assert not (tmp_path / ".soda").exists()


# --- by hand -------------------------------------------------------------------------------------


def test_by_hand_cli_command(settings, published_category, tmp_path):
    """`soda scan -d warehouse -c <config> -v BATCH_ID=... soda/chats.yml` from the repo root, fresh HOME:
    the repo's ./.soda/config.yml keeps telemetry off and nothing is written to HOME."""
    soda_home = tmp_path / "fresh-home"
    soda_home.mkdir()
    rows = _clean_chats(published_category)
    _insert(settings, "audit.chats", rows)
    config = yaml.safe_load((PROJECT_ROOT / "soda" / "configuration.yml").read_text())
    config["data_source warehouse"]["path"] = str(settings.warehouse_db)
    config_file = tmp_path / "configuration.yml"
    config_file.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in quality.SCAN_VARIABLES}
    env["HOME"] = str(soda_home)

    def scan(*variables: str) -> subprocess.CompletedProcess:
        args = [str(VENV_BIN / "soda"), "scan", "-d", "warehouse", "-c", str(config_file)]
        for v in variables:
            args += ["-v", v]
        return subprocess.run(
            [*args, "soda/chats.yml"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    ok = scan(f"BATCH_ID={BATCH}")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "chats id is unique within the batch [PASSED]" in ok.stdout

    _insert(settings, "audit.chats", [dict(rows[0])])
    bad = scan(f"BATCH_ID={BATCH}", "NOW=2026-11-25T00:00:00+00:00")
    assert bad.returncode == 2, bad.stdout + bad.stderr  # soda: 2 = check failures
    assert "chats id is unique within the batch [FAILED]" in bad.stdout
    assert "4111-" not in bad.stdout + bad.stderr  # no message samples in the console either
    assert not (soda_home / ".soda").exists()
    assert "Setting up usage telemetry" not in bad.stdout + bad.stderr


def test_by_hand_scan_of_a_published_batch_with_layer_raw(settings, published_category, tmp_path):
    """The README's command after `make demo`: the batch is published, its audit rows are gone."""
    _insert(settings, "raw.chats", _clean_chats(published_category))
    config = yaml.safe_load((PROJECT_ROOT / "soda" / "configuration.yml").read_text())
    config["data_source warehouse"]["path"] = str(settings.warehouse_db)
    config_file = tmp_path / "configuration.yml"
    config_file.write_text(yaml.safe_dump(config))
    home = tmp_path / "fresh-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in quality.SCAN_VARIABLES}
    env["HOME"] = str(home)
    base = [str(VENV_BIN / "soda"), "scan", "-d", "warehouse", "-c", str(config_file), "-v", f"BATCH_ID={BATCH}"]

    def scan(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base, *extra, "soda/chats.yml"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    audit = scan()
    assert audit.returncode == 2 and "chats batch is not empty [FAILED]" in audit.stdout  # the old trap
    raw = scan("-v", "LAYER=raw")
    assert raw.returncode == 0, raw.stdout + raw.stderr
    assert "chats batch is not empty [PASSED]" in raw.stdout
    assert not (home / ".soda").exists()


def test_sampler_config_keeps_message_out_of_failed_row_samples(settings, published_category):
    """Soda's default sampler stores nothing; a persisting one (here LogSampler) must still never see `message`."""
    from soda.sampler.log_sampler import LogSampler
    from soda.scan import Scan

    rows = _clean_chats(published_category)
    rows[0]["resolved_at"] = rows[0]["created_at"] - timedelta(hours=1)
    rows[1]["chat_category_id"] = str(uuid.uuid4())
    rows.append(dict(rows[2]))
    _insert(settings, "audit.chats", rows)
    scan = Scan()
    scan.set_data_source_name("warehouse")
    scan.sampler = LogSampler()
    scan.add_variables({"BATCH_ID": BATCH})
    scan.add_configuration_yaml_str(quality.configuration_yaml(settings))
    scan.add_sodacl_yaml_file(str(PROJECT_ROOT / "soda" / "chats.yml"))
    try:
        scan.execute()
    finally:
        quality._close_connections(scan)
    logs = scan.get_logs_text()
    assert not scan.has_error_logs(), scan.get_error_logs_text()
    assert logs.count("Sample failed_rows") >= 2 and "chat_category_id" in logs  # samples were taken ...
    assert "4111-" not in logs and "message" not in logs.split("Sample failed_rows", 1)[1]  # ... without message


def test_gate_releases_the_warehouse_for_the_writer(settings, published_category):
    """Same process, as in the pipeline: read-write before and after the read-only scan."""
    from pipeline.store import db

    _insert(settings, "audit.chats", _clean_chats(published_category))
    with db.connect(settings) as con:
        con.execute("select 1")
    assert quality.run_gate(settings, BATCH, "chats", now=NOW).passed
    with db.connect(settings) as con:  # would raise if Soda had kept its read-only handle open
        assert con.execute("select count(*) from audit.chats").fetchone()[0] == 5


def test_gate_runs_while_this_process_holds_a_writer(settings, published_category):
    from pipeline.store import db

    _insert(settings, "audit.chats", _clean_chats(published_category))
    with db.connect(settings) as con:  # same configuration: the gate shares the process's instance
        result = quality.run_gate(settings, BATCH, "chats", now=NOW)
        assert con.execute("select count(*) from audit.chats").fetchone()[0] == 5
    assert result.passed and not result.errors


# --- on the pinned DuckDB ------------------------------------------------------------------------


def test_gate_on_ingested_files_passes_clean_and_fails_defective_batches(settings, tmp_path):
    """Every real Soda check (12 chats, 10 categories) over batches the real ingest wrote, on the DuckDB in requirements.lock.

    soda-core-duckdb 3.5.6 declares duckdb<1.1 and is installed without its dependencies
    (requirements-soda.lock): this is the proof that it works on the DuckDB we run.
    """
    from pipeline.generate import generate
    from pipeline.stages.ingest import ingest_file

    pinned = next(
        line.split("==")[1]
        for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines()
        if line.startswith("duckdb==")
    )
    assert duckdb.__version__ == pinned
    settings.landing.mkdir(parents=True)
    out = tmp_path / "gen"
    generate(out, chats=3_000, categories=120, seed=5, defect_rate=0.0, messages=True)
    batches = {}
    for dataset in ("categories", "chats"):
        landed = settings.landing / f"{dataset}.csv"
        landed.write_bytes((out / f"{dataset}.csv").read_bytes())
        result = ingest_file(settings, landed)
        assert result.status == "ingested" and result.rows_quarantined == 0
        batches[dataset] = result.batch_id
    for dataset, names in (("categories", CATEGORIES_CHECKS), ("chats", CHATS_CHECKS)):
        result = quality.run_gate(settings, batches[dataset], dataset, now=NOW)
        assert result.passed and result.failed == [] and result.errors == [], (result.failed, result.errors)
        assert set(_outcomes(result)) == names
        if dataset == "categories":
            categories_result = result
        assert result.warned == []
    # Generated categories leave some `disabled` empty (inherited from an ancestor later): measured,
    # and no warning, which only an entirely empty column gets.
    with duckdb.connect(str(settings.warehouse_db)) as con:
        (empty_pct,) = con.execute(
            "select round(100.0 * count(*) filter (where disabled is null) / count(*), 2) from audit.categories"
        ).fetchone()
    assert 0 < empty_pct < 100
    by_name = {c["name"]: c for c in categories_result.checks}
    assert by_name[DISABLED_CHECK]["outcome"] == "pass"
    assert by_name[DISABLED_CHECK]["value"] == float(empty_pct)

    # Values ingest accepts (they are UUIDs) but the gate must not publish: the nil UUID as an
    # id and an all-ones category id.
    header, *rows = (out / "chats.csv").read_text().splitlines()[:6]
    nil, ones = "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"
    bad = [f"{nil},{rows[0].split(',', 1)[1]}", rows[1].replace(rows[1].split(",")[1], ones, 1), *rows[2:]]
    landed = settings.landing / "bad_chats.csv"
    landed.write_text("\n".join([header, *bad]) + "\n")
    result = ingest_file(settings, landed)
    assert (result.status, result.rows_loaded) == ("ingested", 5)
    gate = quality.run_gate(settings, result.batch_id, "chats", now=NOW)
    assert not gate.passed and not gate.errors
    assert sorted(gate.failed) == [
        "chats chat_category_id is a valid RFC 9562 UUID",
        "chats id is a valid RFC 9562 UUID",
    ]


def test_gate_beside_a_pipeline_connection_has_no_configuration_clash_and_the_pipeline_limits(
    settings, published_category, tmp_path
):
    """DuckDB 1.1+ refuses a second connection to a file open in the process when its connect-time
    configuration differs ("different configuration than existing connections"): Soda's
    configuration therefore carries none, and its connection gets the pipeline's threads and
    memory limit from the instance it shares (quality._limits), in a process with or without
    another connection open."""
    from pipeline.store import db

    limited = replace(settings, duckdb_threads=1, duckdb_memory_limit="300MB", soda_dir=tmp_path / "soda")
    limited.soda_dir.mkdir()
    (limited.soda_dir / "configuration.yml").write_text((PROJECT_ROOT / "soda" / "configuration.yml").read_text())
    (limited.soda_dir / "chats.yml").write_text(
        textwrap.dedent("""\
        checks for chats:
          - duckdb_threads = 1:
              name: threads as the pipeline set them
              duckdb_threads query: select current_setting('threads')
          - duckdb_memory_limit_is_the_pipelines = 1:
              name: memory limit as the pipeline set it
              duckdb_memory_limit_is_the_pipelines query: |
                select case when current_setting('memory_limit') = '286.1 MiB' then 1 else 0 end
        """)
    )
    _insert(limited, "audit.chats", _clean_chats(published_category))
    assert "configuration" not in yaml.safe_load(quality.configuration_yaml(limited))["data_source warehouse"]
    with db.connect(limited) as con:
        # the trap on this DuckDB: the connect-time limits the gate passed on DuckDB 1.0
        with pytest.raises(duckdb.ConnectionException, match="different configuration than existing connections"):
            duckdb.connect(str(limited.warehouse_db), config={"threads": 1, "memory_limit": "300MB"})
        beside = quality.run_gate(limited, BATCH, "chats", now=NOW)
        assert con.execute("select count(*) from audit.chats").fetchone() == (5,)  # still usable
    alone = quality.run_gate(limited, BATCH, "chats", now=NOW)
    for result in (beside, alone):
        assert (result.passed, result.errors, result.failed) == (True, [], []), (result.errors, result.checks)
        assert {c["name"]: c["value"] for c in result.checks} == {
            "threads as the pipeline set them": 1,
            "memory limit as the pipeline set it": 1,
        }
