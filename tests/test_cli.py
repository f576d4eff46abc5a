"""The command line as users run it: ``python -m pipeline …`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.cli import build_parser
from tests.helpers import REPO, write

COMMANDS = ["generate", "run", "watch", "replay", "status", "report", "docs", "demo"]


def cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: pipeline {command}")


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "pipeline")
    proc = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and set(COMMANDS) <= set(proc.stdout.replace(",", " ").split())


def test_parser_knows_every_documented_command():
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(COMMANDS) <= set(choices)


def test_the_cli_has_no_benchmark_commands():
    """Benchmarks live in the top-level bench/ package (``make bench``), not in the product's CLI."""
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert not [name for name in choices if "bench" in name]


def test_run_then_status_json(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    proc = cli("generate", "--out", str(landing), "--chats", "300", "--categories", "40", "--defect-rate", "0.05")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((landing / "manifest.json").read_text())
    # paths from the environment, as documented
    env = {"PIPELINE_LANDING": str(landing), "PIPELINE_WAREHOUSE": str(warehouse)}
    proc = cli("run", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "results:" in proc.stdout

    status = json.loads(cli("status", "--json", env=env).stdout)
    assert [b["dataset"] for b in status] == ["categories", "chats"]
    for batch in status:
        assert {
            "batch_id",
            "file",
            "dataset",
            "sha256",
            "status",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
        } <= set(batch)
        spec = manifest["files"][batch["dataset"]]
        assert batch["status"] == "done"
        assert batch["rows_read"] == spec["rows"] == batch["rows_loaded"] + batch["rows_quarantined"]
        assert batch["rows_loaded"] == spec["valid_rows"]
    table = cli("status", env=env).stdout
    assert "categories" in table and "chats" in table and "done" in table
    report = cli("report", env=env)
    assert report.returncode == 0 and "Ten most populous categories" in report.stdout


def test_run_exits_non_zero_with_a_one_line_reason(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "broken_chats.csv", b"id,message\n1,hi\n")
    proc = cli("run", "--landing", str(landing), "--warehouse", str(tmp_path / "wh"))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 1 batch(es) did not succeed; first: broken_chats.csv: rejected:")
    assert "required column(s) missing" in last


def test_run_with_a_missing_file_is_a_sentence_not_a_traceback(tmp_path):
    proc = cli("run", "--landing", str(tmp_path), "--warehouse", str(tmp_path / "wh"), str(tmp_path / "nope.csv"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no such file: {tmp_path / 'nope.csv'}"
    assert "Traceback" not in proc.stderr
