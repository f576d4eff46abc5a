"""The shareable layer: redacted, pseudonymised, permissioned, and nothing leaves the machine."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from structlog.testing import capture_logs

from pipeline.generate import generate
from pipeline.orchestration.runner import run as run_pending
from pipeline.privacy import pseudonyms as redact
from tests.helpers import REPO


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`python -m pipeline demo` as a user runs it, its log captured to a file."""
    root = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "PIPELINE_LANDING": str(root / "landing"),
        "PIPELINE_WAREHOUSE": str(root / "warehouse"),
        "PIPELINE_PSEUDONYM_KEY_FILE": str(root / "secrets" / "pseudonym.key"),
    }
    env.pop("PIPELINE_PSEUDONYM_KEY", None)
    log = root / "demo.log"
    with open(log, "w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "demo", "--chats", "4000", "--defect-rate", "0.02"],
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]
    return root


def truth_values(root: Path) -> list[str]:
    with open(root / "landing" / "pii_truth.jsonl") as fh:
        return [json.loads(line)["value"] for line in fh]


def test_share_holds_one_row_per_chat_with_redacted_messages(demo):
    with duckdb.connect(str(demo / "warehouse" / "share.duckdb"), read_only=True) as con:
        n, distinct = con.execute("select count(*), count(distinct id) from chats").fetchone()
        columns = [r[0] for r in con.execute("describe chats").fetchall()]
        placeholders = con.execute(
            "select count(*) from chats where message like '%[EMAIL]%' "
            "or message like '%[PHONE]%' or message like '%[CARD]%'"
        ).fetchone()[0]
        tables = {r[0] for r in con.execute("show tables").fetchall()}
    with duckdb.connect(str(demo / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        chats = con.execute("select count(*) from staging.stg_support__chats").fetchone()[0]
    assert n == distinct == chats
    assert {"id", "message", "category_group_id", "created_at_local"} <= set(columns)
    assert "batch_id" not in columns and "line_number" not in columns
    assert placeholders > 0.1 * n
    assert {"chats", "categories", "category_chat_volume", "hourly_distribution"} <= tables


def test_no_ground_truth_value_leaks_into_shareable_outputs_or_logs(demo):
    values = truth_values(demo)
    assert len(values) > 500
    files = [demo / "warehouse" / "share.duckdb", demo / "demo.log"]
    for folder in ("warehouse/exports/", "landing/quarantine", "landing/failed", "warehouse/reports", "warehouse/logs"):
        files += [p for p in (demo / folder).rglob("*") if p.is_file()]
    assert any("quarantine" in str(p) for p in files), "the demo quarantines rows (defect rate 2%)"
    for path in files:
        blob = path.read_bytes()
        leaked = [v for v in values if v.encode() in blob]
        assert not leaked, f"{path} contains {len(leaked)} ground-truth values, e.g. {leaked[0]!r}"


def test_restricted_files_are_owner_only(demo):
    assert mode(demo / "warehouse" / "warehouse.duckdb") == 0o600
    assert mode(demo / "warehouse") == 0o700
    for folder in ("landing/archive", "landing/quarantine", "landing/quarantine/chats"):
        assert mode(demo / folder) == 0o700, folder
    for path in [*(demo / "landing" / "archive").iterdir(), *(demo / "landing" / "quarantine" / "chats").iterdir()]:
        assert mode(path) == 0o600, path
    key = demo / "secrets" / "pseudonym.key"
    assert mode(key) == 0o600 and len(key.read_text().strip()) == 64
    assert "pseudonym.key_created" in (demo / "demo.log").read_text()


def test_pseudonyms_are_keyed_hashes_that_still_join(settings, tmp_path, monkeypatch):
    generate(settings.landing, chats=300, categories=40, seed=8)
    key = "k" * 40
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", key)  # the Luigi tasks read settings themselves
    monkeypatch.setenv("PIPELINE_PII_IDENTIFIER_COLUMNS", "category_id")
    assert [o.status for o in run_pending(settings)] == ["done", "done"]
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        some = con.execute("select category_id::varchar from staging.stg_support__categories limit 1").fetchone()[0]
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        cats = {r[0] for r in con.execute("select category_id from categories").fetchall()}
        joined = con.execute("select count(*) from chats join categories using (category_id)").fetchone()[0]
        with_cat = con.execute("select count(*) from chats where category_id is not null").fetchone()[0]
    expected = hmac.new(key.encode(), some.encode(), hashlib.sha256).hexdigest()
    assert expected in cats and some not in cats
    assert hashlib.sha256(some.encode()).hexdigest() not in cats, "not an unsalted hash"
    assert joined == with_cat > 0


def test_key_file_is_created_once_and_never_defaulted(settings):
    with capture_logs() as logs:
        first = redact.pseudonym_key(settings)
    assert [e["event"] for e in logs if e["event"].startswith("pseudonym")] == ["pseudonym.key_created"]
    assert redact.pseudonym_key(settings) == first
    other = replace(
        settings,
        pseudonym_key_file=settings.warehouse.parent / "other.key",
        warehouse=settings.warehouse.parent / "other-warehouse",
    )
    assert redact.pseudonym_key(other) != first, "each installation gets its own random key"
    os.chmod(settings.pseudonym_key_file, 0o644)
    with pytest.raises(Exception, match="readable by others"):
        redact.pseudonym_key(settings)


NO_NETWORK = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pipeline.cli import main
code = main(sys.argv[2:])
open(sys.argv[1], "w").write(json.dumps({"code": code, "attempts": attempts}))
"""


def test_a_full_run_opens_no_network_connection(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate(landing, chats=500, categories=50, seed=2, defect_rate=0.02)
    home = tmp_path / "home"  # a fresh HOME: the pipeline must not write a Soda config there
    home.mkdir()
    out = tmp_path / "result.json"
    env = {**os.environ, "HOME": str(home), "PIPELINE_PSEUDONYM_KEY_FILE": str(tmp_path / "key")}
    env.pop("DO_NOT_TRACK", None)
    env.pop("DBT_SEND_ANONYMOUS_USAGE_STATS", None)
    proc = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(out), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = json.loads(out.read_text())
    assert result["code"] == 0, proc.stderr[-3000:]
    assert result["attempts"] == []
    assert not (home / ".soda").exists(), "Soda's telemetry is off without writing the user's HOME"
    shutil.rmtree(home)
