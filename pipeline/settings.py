"""All configuration in one place.

Precedence, highest first: explicit arguments (CLI flags) > environment variables
(``PIPELINE_*``) > ``luigi.cfg`` section ``[pipeline]`` > defaults. Nothing else in
the package reads ``os.environ`` for pipeline settings.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
import zoneinfo
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
    # --- quality gate thresholds (one place: luigi.cfg [pipeline]; passed to Soda as scan variables)
    #: Fail (withhold) a batch when more than this share of its records is quarantined, in percent.
    quarantine_fail_pct: float = 5.0
    #: Warn when more than this share of its records is quarantined, in percent.
    quarantine_warn_pct: float = 1.0
    #: Warn when a batch's row count differs from the median of recent batches of its dataset by more than this, in percent.
    row_count_swing_warn_pct: float = 50.0
    #: How many recent published batches of the same dataset the swing check compares against.
    row_count_history: int = 5
    #: Warn when the newest created_at is more than this many days older than the landing time.
    freshness_warn_days: float = 1500.0
    # --- exports
    #: Category groups with fewer chats than this are left out of the rankings (and counted).
    min_group_chats: int = 30
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


def _source(name: str, env: dict) -> str:
    """Where a setting's value came from, for the error sentence."""
    return f"PIPELINE_{name.upper()}" if env.get(f"PIPELINE_{name.upper()}") else f"luigi.cfg [pipeline] {name}"


def check_timezone(value: str, source: str = "timezone") -> str:
    """An IANA zone name that ``zoneinfo`` knows; DuckDB would silently fall back to UTC otherwise."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(
            f"setting timezone ({source}) is {value!r}, which is not a known IANA time zone "
            "(e.g. Australia/Melbourne, UTC)"
        ) from None
    return value


_MEMORY_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


def load_settings(landing: Path | str | None = None, warehouse: Path | str | None = None) -> Settings:
    """Resolve settings from arguments, environment, luigi.cfg and defaults.

    Every value is checked here, once: a bad one is a :class:`ConfigError` whose sentence names
    the setting, where it came from and the value (never a traceback later in a stage).
    """
    cfg, cfg_dir = _read_cfg()
    env = os.environ

    def pick(name: str, default: str | None = None) -> str | None:
        return env.get(f"PIPELINE_{name.upper()}") or cfg.get(name) or default

    def number(name: str, default: str, kind: type = float, minimum: float = 0.0, maximum: float | None = None):
        raw = pick(name, default)
        try:
            value = kind(str(raw).strip())
        except ValueError:
            word = "a whole number" if kind is int else "a number"
            raise ConfigError(f"setting {name} ({_source(name, env)}) must be {word}, not {raw!r}") from None
        if value != value or value < minimum or (maximum is not None and value > maximum):  # NaN too
            bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
            raise ConfigError(f"setting {name} ({_source(name, env)}) must be {bound}, not {raw!r}")
        return value

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
        timezone=check_timezone(pick("timezone", "Australia/Melbourne"), _source("timezone", env)),
        category_rollup=pick("category_rollup", "parent"),
        duckdb_threads=number("duckdb_threads", "2", int, 1, 1024),
        duckdb_memory_limit=pick("duckdb_memory_limit", "512MB"),
        patterns={
            "categories": _patterns(pick("categories_patterns"), "categories"),
            "chats": _patterns(pick("chats_patterns"), "chats"),
        },
        settle_seconds=number("settle_seconds", "1.0"),
        reconcile_seconds=number("reconcile_seconds", "30", float, 0.01),
        lock_timeout_seconds=number("lock_timeout_seconds", "120"),
        writer_wait_seconds=number("writer_wait_seconds", "3600"),
        max_text_bytes=number("max_text_bytes", str(8 << 30), int, 1),
        max_blank_lines=number("max_blank_lines", "1000000", int, 0),
        max_record_bytes=number("max_record_bytes", str(64 << 20), int, 1),
        pseudonym_key=env.get("PIPELINE_PSEUDONYM_KEY") or None,
        pseudonym_key_file=Path(key_file).expanduser()
        if key_file
        else Path.home() / ".config" / "pipeline" / "pseudonym.key",
        pii_identifier_columns=tuple(c.strip() for c in (ids or "").split(",") if c.strip()),
        scheduler_url=pick("scheduler_url"),
        quarantine_fail_pct=number("quarantine_fail_pct", "5", float, 0, 100),
        quarantine_warn_pct=number("quarantine_warn_pct", "1", float, 0, 100),
        row_count_swing_warn_pct=number("row_count_swing_warn_pct", "50", float, 0),
        row_count_history=number("row_count_history", "5", int, 1),
        freshness_warn_days=number("freshness_warn_days", "1500", float, 0),
        min_group_chats=number("min_group_chats", "30", int, 1),
        dbt_project_dir=project_folder("dbt", pick("dbt_dir")),
        soda_dir=project_folder("soda", pick("soda_dir")),
    )
    if settings.category_rollup not in {"leaf", "parent", "root"}:
        raise ConfigError(
            f"setting category_rollup ({_source('category_rollup', env)}) must be leaf, parent or root, "
            f"not {settings.category_rollup!r}"
        )
    if not _MEMORY_RE.match(settings.duckdb_memory_limit or ""):
        raise ConfigError(
            f"setting duckdb_memory_limit ({_source('duckdb_memory_limit', env)}) must be a size such as 512MB "
            f"or 2GB, not {settings.duckdb_memory_limit!r}"
        )
    if settings.quarantine_warn_pct > settings.quarantine_fail_pct:
        raise ConfigError(
            f"setting quarantine_warn_pct ({settings.quarantine_warn_pct:g}) must not exceed "
            f"quarantine_fail_pct ({settings.quarantine_fail_pct:g})"
        )
    return settings
