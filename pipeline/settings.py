"""All configuration in one place.

Precedence, highest first: explicit arguments (CLI flags) > environment variables
(``PIPELINE_*``) > ``luigi.cfg`` section ``[pipeline]`` > defaults. Nothing else in
the package reads ``os.environ`` for pipeline settings.
"""

from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ConfigError

#: The checkout this package runs from, when it runs from one (editable install, tests).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Where a wheel install puts the dbt project and the Soda checks (pyproject ``data-files``).
INSTALLED_SHARE = Path(sys.prefix) / "share" / "pipeline"

DEFAULT_PATTERNS = {
    "categories": ("*categories*.csv", "*categories*.csv.gz"),
    "chats": ("*chats*.csv", "*chats*.csv.gz"),
}


def _cfg_files() -> list[Path]:
    explicit = os.environ.get("LUIGI_CONFIG_PATH")
    if explicit:
        return [Path(explicit)]
    return [Path.cwd() / "luigi.cfg", PROJECT_ROOT / "luigi.cfg"]


def _read_cfg() -> tuple[dict[str, str], Path]:
    """The ``[pipeline]`` section of the first luigi.cfg found, and the folder it is in."""
    parser = configparser.ConfigParser(interpolation=None)
    for path in _cfg_files():
        if path.is_file():
            parser.read(path)
            base = path.resolve().parent
            break
    else:
        base = Path.cwd()
    return (dict(parser["pipeline"]) if parser.has_section("pipeline") else {}), base


@dataclass(frozen=True)
class Settings:
    landing: Path
    warehouse: Path
    timezone: str = "Australia/Melbourne"
    category_rollup: str = "parent"
    duckdb_threads: int = 2
    duckdb_memory_limit: str = "512MB"
    patterns: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PATTERNS))
    settle_seconds: float = 1.0
    reconcile_seconds: float = 30.0
    lock_timeout_seconds: float = 120.0
    #: How long a pipeline process waits for another one's write phase (a stage) to end.
    writer_wait_seconds: float = 3600.0
    #: Limits of one landed file (rejected whole as ``too_large`` beyond them).
    max_text_bytes: int = 8 << 30
    max_blank_lines: int = 1_000_000
    max_record_bytes: int = 64 << 20
    pseudonym_key: str | None = None
    pseudonym_key_file: Path = Path.home() / ".config" / "pipeline" / "pseudonym.key"
    pii_identifier_columns: tuple[str, ...] = ()
    scheduler_url: str | None = None
    #: The dbt project and the Soda configuration: from the checkout, else the installed copy.
    dbt_project_dir: Path = field(default_factory=lambda: project_folder("dbt"))
    soda_dir: Path = field(default_factory=lambda: project_folder("soda"))

    # --- derived paths -------------------------------------------------------
    @property
    def warehouse_db(self) -> Path:
        return self.warehouse / "warehouse.duckdb"

    @property
    def share_db(self) -> Path:
        return self.warehouse / "share.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.warehouse / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.warehouse / "exports"

    @property
    def state_dir(self) -> Path:
        """Luigi task markers, one folder per batch."""
        return self.warehouse / "state"

    @property
    def tmp_dir(self) -> Path:
        return self.warehouse / "tmp"

    @property
    def archive_dir(self) -> Path:
        return self.landing / "archive"

    @property
    def failed_dir(self) -> Path:
        return self.landing / "failed"

    @property
    def quarantine_dir(self) -> Path:
        return self.landing / "quarantine"

    @property
    def dbt_target_dir(self) -> Path:
        return self.warehouse / "dbt-target"


def project_folder(name: str, explicit: str | None = None) -> Path:
    """``dbt`` or ``soda``: an explicit setting, else the checkout's folder, else the installed copy.

    A wheel install has no checkout beside the package; ``pyproject.toml`` ships both folders
    as data files under ``<prefix>/share/pipeline/`` (the way Dagster's examples find their
    dbt project when installed).
    """
    candidates = [Path(explicit).expanduser().resolve()] if explicit else [PROJECT_ROOT / name, INSTALLED_SHARE / name]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise ConfigError(
        f"cannot find the {name} folder (looked in {', '.join(map(str, candidates))}); set PIPELINE_{name.upper()}_DIR"
    )


def _patterns(raw: str | None, dataset: str) -> tuple[str, ...]:
    if not raw:
        return DEFAULT_PATTERNS[dataset]
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def load_settings(landing: Path | str | None = None, warehouse: Path | str | None = None) -> Settings:
    """Resolve settings from arguments, environment, luigi.cfg and defaults."""
    cfg, cfg_dir = _read_cfg()
    env = os.environ

    def pick(name: str, default: str | None = None) -> str | None:
        return env.get(f"PIPELINE_{name.upper()}") or cfg.get(name) or default

    def folder(explicit: Path | str | None, name: str) -> Path:
        """Arguments and env vars are relative to the working directory, luigi.cfg values to its folder."""
        if explicit:
            return Path(explicit).resolve()
        if env.get(f"PIPELINE_{name.upper()}"):
            return Path(env[f"PIPELINE_{name.upper()}"]).resolve()
        return (cfg_dir / cfg.get(name, name)).resolve()

    key_file = pick("pseudonym_key_file")
    ids = pick("pii_identifier_columns", "")
    settings = Settings(
        landing=folder(landing, "landing"),
        warehouse=folder(warehouse, "warehouse"),
        timezone=pick("timezone", "Australia/Melbourne"),
        category_rollup=pick("category_rollup", "parent"),
        duckdb_threads=int(pick("duckdb_threads", "2")),
        duckdb_memory_limit=pick("duckdb_memory_limit", "512MB"),
        patterns={
            "categories": _patterns(pick("categories_patterns"), "categories"),
            "chats": _patterns(pick("chats_patterns"), "chats"),
        },
        settle_seconds=float(pick("settle_seconds", "1.0")),
        reconcile_seconds=float(pick("reconcile_seconds", "30")),
        lock_timeout_seconds=float(pick("lock_timeout_seconds", "120")),
        writer_wait_seconds=float(pick("writer_wait_seconds", "3600")),
        max_text_bytes=int(pick("max_text_bytes", str(8 << 30))),
        max_blank_lines=int(pick("max_blank_lines", "1000000")),
        max_record_bytes=int(pick("max_record_bytes", str(64 << 20))),
        pseudonym_key=env.get("PIPELINE_PSEUDONYM_KEY") or None,
        pseudonym_key_file=Path(key_file).expanduser()
        if key_file
        else Path.home() / ".config" / "pipeline" / "pseudonym.key",
        pii_identifier_columns=tuple(c.strip() for c in (ids or "").split(",") if c.strip()),
        scheduler_url=pick("scheduler_url"),
        dbt_project_dir=project_folder("dbt", pick("dbt_dir")),
        soda_dir=project_folder("soda", pick("soda_dir")),
    )
    if settings.category_rollup not in {"leaf", "parent", "root"}:
        raise ConfigError(f"category_rollup must be leaf, parent or root, not {settings.category_rollup!r}")
    return settings
