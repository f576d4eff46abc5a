"""docker-compose.yml cannot run here (no Docker daemon): check it statically against the repo."""

from __future__ import annotations

import re

import yaml

from pipeline.cli import build_parser
from tests.helpers import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_are_luigid_watcher_and_postgres():
    assert set(SERVICES) == {"luigid", "watcher", "postgres"}


def test_luigid_publishes_8082_on_loopback_and_keeps_state_on_a_volume():
    luigid = SERVICES["luigid"]
    assert luigid["ports"] == ["127.0.0.1:8082:8082"]
    command = luigid["command"]
    assert command[0] == "luigid" and command[command.index("--port") + 1] == "8082"
    state = command[command.index("--state-path") + 1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in luigid["volumes"]}
    assert any(state.startswith(target) for target in mounts)
    assert all(name in COMPOSE["volumes"] for name in mounts.values())
    assert (REPO / ".venv" / "bin" / "luigid").exists(), "luigid comes from the pinned requirements"


def test_watcher_runs_the_same_cli_the_tests_run_in_polling_mode():
    command = SERVICES["watcher"]["command"]
    assert command[:4] == ["python", "-m", "pipeline", "watch"]
    args = build_parser().parse_args(command[3:])  # the real parser accepts it
    assert args.polling is True
    assert args.scheduler_url == "http://luigid:8082"


def test_bind_mounts_point_at_repo_folders():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).is_dir(), f"{name}: {source} does not exist in the repo"
            else:
                assert source in COMPOSE["volumes"], f"{name}: named volume {source} is not declared"
    watcher_mounts = {v.split(":")[0]: v.split(":")[1] for v in SERVICES["watcher"]["volumes"]}
    assert watcher_mounts["./landing"] == "/app/landing" and watcher_mounts["./warehouse"] == "/app/warehouse"


def test_container_config_and_dockerfile_refer_to_existing_files():
    for service in ("luigid", "watcher"):
        cfg = SERVICES[service]["environment"]["LUIGI_CONFIG_PATH"]
        assert cfg.startswith("/app/") and (REPO / cfg.removeprefix("/app/")).is_file()
    dockerfile = (REPO / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), f"Dockerfile copies missing {src}"
    assert "requirements.lock" in dockerfile
    pg_cfg = (REPO / "docker" / "luigi.cfg").read_text()
    assert re.search(r"db_connection = postgresql://\w+:\w+@postgres:5432/", pg_cfg)
    assert SERVICES["postgres"]["environment"]["POSTGRES_DB"] in pg_cfg


def _pip_installs(text: str) -> list[tuple[str, bool]]:
    """(requirements file, with --no-deps) for every `pip install -r` in a Dockerfile or Makefile, in order."""
    installs = []
    for command in re.findall(r"pip install[^\n\\]*(?:\\\n[^\n\\]*)*", text):
        for lock in re.findall(r"-r\s+(\S+)", command):
            installs.append((lock.rsplit("/", 1)[-1], "--no-deps" in command.split()))
    return installs


def test_dockerfile_installs_soda_without_its_dependencies_like_the_makefile():
    """soda-core-duckdb 3.5.6 declares duckdb<1.1: installed with its dependencies it would stop pip
    (or downgrade DuckDB) in the image, though `make setup` works."""
    for name in ("Dockerfile", "Makefile"):
        installs = _pip_installs((REPO / name).read_text())
        files = [lock for lock, _ in installs]
        assert ("requirements-soda.lock", True) in installs, f"{name}: {installs}"
        assert ("requirements.lock", False) in installs, f"{name}: {installs}"
        assert files.index("requirements.lock") < files.index("requirements-soda.lock"), f"{name}: {files}"
    soda_lock = (REPO / "requirements-soda.lock").read_text().splitlines()
    assert [line for line in soda_lock if line and not line.startswith("#")] == [
        "soda-core==3.5.6",
        "soda-core-duckdb==3.5.6",
    ]  # nothing else escapes the resolver
