"""Shared fixtures: every test gets its own landing/ and warehouse/ folders on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.settings import Settings, load_settings
from tests.helpers import REPO, free_port, luigi_api

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY_FILE", str(tmp_path / "secrets" / "pseudonym.key"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    landing = tmp_path / "landing"
    landing.mkdir()
    return load_settings(landing=landing, warehouse=tmp_path / "warehouse")


@pytest.fixture
def luigid(tmp_path):
    """A real luigid on a free port, recording task history in SQLite as the repo's luigi.cfg does."""
    port = free_port()
    history = tmp_path / "history.db"
    cfg = (
        (REPO / "luigi.cfg")
        .read_text()
        .replace("sqlite:///warehouse/luigi/luigi-task-history.db", f"sqlite:///{history}")
    )
    (tmp_path / "luigi.cfg").write_text(cfg)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "luigid"),
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--state-path",
            str(tmp_path / "state.pickle"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LUIGI_CONFIG_PATH": str(tmp_path / "luigi.cfg")},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            luigi_api(port, "task_list", {"status": "DONE", "upstream_status": "", "search": ""})
            break
        except OSError:
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=10)
