"""All configuration in one place.

Precedence, highest first: explicit arguments (CLI flags) > environment variables
(``PIPELINE_*``) > ``luigi.cfg`` section ``[pipeline]`` > defaults. Nothing else in
the package reads ``os.environ`` for pipeline settings.
"""

from __future__ import annotations

import configparser
import grp
import os
import re
import sys
import urllib.parse
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


#: Sections of luigi.cfg the pipeline reads: its own, its alerts, and Luigi's mail server settings
#: (``[smtp]``, ``[email]``), read here once so alerts use the same server Luigi would.
CFG_SECTIONS = ("pipeline", "alerts", "smtp", "email")


def _read_cfg() -> tuple[dict[str, dict[str, str]], Path]:
    """The sections :data:`CFG_SECTIONS` of the first luigi.cfg found, and the folder it is in.

    ``LUIGI_CONFIG_PATH`` naming no file, or a luigi.cfg that cannot be opened or decoded, is a
    ConfigError: ``ConfigParser.read`` would skip it and run on defaults without a word.
    """
    explicit = os.environ.get("LUIGI_CONFIG_PATH")
    if explicit and not Path(explicit).is_file():
        raise ConfigError(f"LUIGI_CONFIG_PATH is {explicit}, which is not a file")
    parser = configparser.ConfigParser(interpolation=None)
    for path in _cfg_files():
        if path.is_file():
            try:
                with path.open(encoding="utf-8") as handle:
                    parser.read_file(handle, source=str(path))
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} cannot be read: {exc}") from None
            except configparser.Error as exc:
                raise ConfigError(f"{path} cannot be read: {str(exc).splitlines()[0]}") from None
            base = path.resolve().parent
            break
    else:
        base = Path.cwd()
    return {name: dict(parser[name]) if parser.has_section(name) else {} for name in CFG_SECTIONS}, base


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]`` of luigi.cfg (``PIPELINE_ALERTS_<KEY>`` overrides) plus Luigi's ``[smtp]`` server."""

    #: JSON webhook (Slack/Teams incoming webhooks take the ``text`` field); None = no webhook.
    webhook_url: str | None = None
    #: E-mail recipients; empty = no e-mail. Not Luigi's ``[email] receiver``: with that set,
    #: Luigi mails its own traceback for every failed task too (two mails per failure).
    email_to: tuple[str, ...] = ()
    email_from: str = "pipeline@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_ssl: bool = False
    smtp_no_tls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    #: Alerts with the same cause and subject within this many seconds are coalesced into the next one.
    cooldown_seconds: float = 3600.0
    #: ``watch`` alerts when no new file arrived for this many seconds (0 = never).
    freshness_seconds: float = 86400.0
    #: Seconds one delivery attempt (webhook) may take.
    timeout_seconds: float = 5.0


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
    #: Folder of the shareable outputs (share.duckdb, exports/): readable by ``share_group``.
    #: Default: ``<warehouse>-share/`` beside the warehouse folder (one per warehouse; never
    #: inside it: the warehouse is 0700).
    share: Path | None = None
    #: Group that may read the share folder; default the process's own group.
    share_group: str | None = None
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
    # --- data-quality history and drift (meta.batch_profile, meta.drift_findings)
    #: ``warn`` (report and alert, publish) or ``withhold`` (the gate withholds a drifting batch).
    drift_action: str = "warn"
    #: Scalar metrics are compared once at least this many earlier published batches exist.
    drift_min_batches: int = 5
    #: The baseline: this many most recent published batches of the same dataset.
    drift_history: int = 10
    #: A scalar metric drifts when its robust z-score (median/MAD) is above this.
    drift_z_threshold: float = 3.5
    #: The category distribution drifts when its population stability index is above this.
    drift_psi_threshold: float = 0.25
    #: Batches per dataset shown by ``pipeline quality`` and the report's quality history.
    quality_history_batches: int = 20
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: The dbt project and the Soda configuration: from the checkout, else the installed copy.
    dbt_project_dir: Path = field(default_factory=lambda: project_folder("dbt"))
    soda_dir: Path = field(default_factory=lambda: project_folder("soda"))

    # --- derived paths -------------------------------------------------------
    @property
    def warehouse_db(self) -> Path:
        return self.warehouse / "warehouse.duckdb"

    @property
    def share_dir(self) -> Path:
        """The analysts' folder (0750 + setgid, group ``share_group``), outside the warehouse."""
        return self.share if self.share is not None else self.warehouse.with_name(self.warehouse.name + "-share")

    @property
    def share_gid(self) -> int:
        return grp.getgrnam(self.share_group).gr_gid if self.share_group else os.getegid()

    @property
    def share_db(self) -> Path:
        return self.share_dir / "share.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.warehouse / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.share_dir / "exports"

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


def check_share(settings: Settings, env: dict | None = None) -> None:
    """The share folder must be apart from the owner-only warehouse and from landing (the stage
    chmods it 2750 and hands it to the group), and its group must exist and be ours to give."""
    env = os.environ if env is None else env
    share, warehouse = settings.share_dir.resolve(), settings.warehouse.resolve()
    landing = settings.landing.resolve()
    where = f"setting share ({_source('share', env)}) is {str(share)!r}"
    if share == warehouse or warehouse in share.parents:
        raise ConfigError(
            f"{where}, inside the warehouse folder, which only its "
            "owner can open; choose a folder outside it (default: <warehouse>-share beside it)"
        )
    clash = (
        ("holds the warehouse", share in warehouse.parents),
        ("holds the landing folder", share == landing or share in landing.parents),
    )
    for what, found in clash:
        if found:
            raise ConfigError(
                f"{where}, which {what}; the share folder is opened to its group, so give it a folder "
                "of its own (default: <warehouse>-share beside the warehouse)"
            )
    if settings.share_group:
        try:
            gid = grp.getgrnam(settings.share_group).gr_gid
        except KeyError:
            raise ConfigError(
                f"setting share_group ({_source('share_group', env)}) is {settings.share_group!r}, "
                "which is not a group on this machine"
            ) from None
        if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
            raise ConfigError(
                f"setting share_group ({_source('share_group', env)}) is {settings.share_group!r}, "
                "which this user is not a member of, so the share folder cannot be given to it"
            )


#: Shortest HMAC key accepted from ``PIPELINE_PSEUDONYM_KEY``.
MIN_PSEUDONYM_KEY = 16

_MEMORY_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


def load_settings(landing: Path | str | None = None, warehouse: Path | str | None = None) -> Settings:
    """Resolve settings from arguments, environment, luigi.cfg and defaults.

    Every value is checked here, once: a bad one is a :class:`ConfigError` whose sentence names
    the setting, where it came from and the value (never a traceback later in a stage).
    """
    sections, cfg_dir = _read_cfg()
    cfg = sections["pipeline"]
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
        drift_action=pick("drift_action", "warn").strip().lower(),
        drift_min_batches=number("drift_min_batches", "5", int, 2),
        drift_history=number("drift_history", "10", int, 2),
        drift_z_threshold=number("drift_z_threshold", "3.5", float, 0),
        drift_psi_threshold=number("drift_psi_threshold", "0.25", float, 0),
        quality_history_batches=number("quality_history_batches", "20", int, 1),
        alerts=_alert_settings(sections, env),
        dbt_project_dir=project_folder("dbt", pick("dbt_dir")),
        soda_dir=project_folder("soda", pick("soda_dir")),
        share=Path(env["PIPELINE_SHARE"]).resolve()
        if env.get("PIPELINE_SHARE")
        else ((cfg_dir / cfg["share"]).resolve() if cfg.get("share") else None),
        share_group=pick("share_group") or None,
    )
    check_share(settings, env)
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
    if settings.drift_action not in {"warn", "withhold"}:
        raise ConfigError(
            f"setting drift_action ({_source('drift_action', env)}) must be warn or withhold, not {settings.drift_action!r}"
        )
    if settings.drift_min_batches > settings.drift_history:
        raise ConfigError(
            f"setting drift_min_batches ({settings.drift_min_batches}) must not exceed drift_history "
            f"({settings.drift_history}): the baseline would never be large enough"
        )
    if settings.quarantine_warn_pct > settings.quarantine_fail_pct:
        raise ConfigError(
            f"setting quarantine_warn_pct ({settings.quarantine_warn_pct:g}) must not exceed "
            f"quarantine_fail_pct ({settings.quarantine_fail_pct:g})"
        )
    if settings.pseudonym_key and len(settings.pseudonym_key) < MIN_PSEUDONYM_KEY:
        # Said here, before any batch: the redact stage is the first to use the key.
        raise ConfigError(f"PIPELINE_PSEUDONYM_KEY must be at least {MIN_PSEUDONYM_KEY} characters")
    return settings


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+$")


def _alert_settings(sections: dict[str, dict[str, str]], env) -> AlertSettings:
    """``[alerts]`` (env ``PIPELINE_ALERTS_<KEY>`` first), Luigi's ``[smtp]`` and ``[email] sender``; checked here.

    (Long: one check per setting, each with its own sentence.)
    """
    alerts, smtp, email = sections["alerts"], sections["smtp"], sections["email"]

    def source(key: str) -> str:
        return (
            f"PIPELINE_ALERTS_{key.upper()}"
            if env.get(f"PIPELINE_ALERTS_{key.upper()}")
            else f"luigi.cfg [alerts] {key}"
        )

    def pick(key: str, default: str | None = None) -> str | None:
        value = env.get(f"PIPELINE_ALERTS_{key.upper()}") or alerts.get(key)
        return value.strip() if value and value.strip() else default

    def number(where: str, raw: str, kind: type = float, *, positive: bool = False, top: float | None = None) -> float:
        """At least 0 (above 0 with ``positive``: a timeout of 0 never waits, so it always fails), at most ``top``."""
        try:
            value = kind(raw)
        except ValueError:
            value = -1
        if value != value or value < 0 or (positive and value == 0) or (top is not None and value > top):
            word = "a whole number" if kind is int else "a number"
            bound = "above 0" if positive else "of at least 0"
            raise ConfigError(
                f"setting {where} must be {word} {bound}"
                + (f" and at most {top:g}" if top is not None else "")
                + f", not {raw!r}"
            )
        return value

    def flag(where: str, raw: str | None) -> bool:
        text = (raw or "").strip().lower()
        if text not in _TRUE | _FALSE:
            raise ConfigError(f"setting {where} must be true or false, not {raw!r}")
        return text in _TRUE

    url = pick("webhook_url")
    if url is not None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(
                f"setting webhook_url ({source('webhook_url')}) must be an http:// or https:// address, not {url!r}"
            )
    recipients = tuple(r.strip() for r in (pick("email_to") or "").split(",") if r.strip())
    for address in recipients:
        if not _EMAIL_RE.match(address):
            raise ConfigError(
                f"setting email_to ({source('email_to')}) has {address!r}, which is not an e-mail address"
            )
    sender = pick("email_from") or (email.get("sender") or "").strip() or AlertSettings.email_from
    if not _EMAIL_RE.match(sender):
        raise ConfigError(f"setting email_from ({source('email_from')}) is {sender!r}, which is not an e-mail address")
    port = number("port (luigi.cfg [smtp] port)", (smtp.get("port") or "25").strip(), int, positive=True, top=65535)
    return AlertSettings(
        webhook_url=url,
        email_to=recipients,
        email_from=sender,
        smtp_host=(smtp.get("host") or "localhost").strip(),
        smtp_port=port,
        smtp_ssl=flag("ssl (luigi.cfg [smtp] ssl)", smtp.get("ssl")),
        smtp_no_tls=flag("no_tls (luigi.cfg [smtp] no_tls)", smtp.get("no_tls")),
        smtp_username=(smtp.get("username") or "").strip() or None,
        smtp_password=smtp.get("password") or None,
        smtp_timeout=number("timeout (luigi.cfg [smtp] timeout)", (smtp.get("timeout") or "10").strip(), positive=True),
        cooldown_seconds=number(f"cooldown_seconds ({source('cooldown_seconds')})", pick("cooldown_seconds", "3600")),
        freshness_seconds=number(
            f"freshness_seconds ({source('freshness_seconds')})", pick("freshness_seconds", "86400")
        ),
        timeout_seconds=number(
            f"timeout_seconds ({source('timeout_seconds')})", pick("timeout_seconds", "5"), positive=True
        ),
    )
