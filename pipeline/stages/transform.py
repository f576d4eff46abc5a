"""Transform stage: build and test the dbt project (``dbt/``) against the warehouse.

dbt runs in-process through :class:`dbt.cli.main.dbtRunner`, so a build costs no
interpreter start-up and its results come back as objects instead of log text.
Everything dbt writes (``target/``, ``dbt.log``, docs) goes under the warehouse
folder, never into the repository's ``dbt/`` folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import structlog

from pipeline.errors import PipelineError, TransformFailed
from pipeline.settings import Settings
from pipeline.store.db import connect
from pipeline.store.files import atomic_write_text

log = structlog.get_logger()

#: Files of ``dbt docs generate`` that make up the static docs site.
DOCS_FILES = ("index.html", "manifest.json", "catalog.json")
#: At most this many failing nodes are named in a TransformFailed message.
_MAX_NAMED_FAILURES = 5


@dataclass(frozen=True)
class TransformResult:
    """Outcome of a ``dbt build``: counts for the happy path, names where someone must look."""

    models_ok: int
    tests_passed: int
    #: Names of warn-severity tests that found rows (the build still succeeded).
    tests_warned: tuple[str, ...]
    #: Names of tests that failed or errored (non-empty only on TransformFailed.result).
    tests_failed: tuple[str, ...]
    #: Wall-clock seconds of the dbt invocation.
    duration: float

    @property
    def duration_s(self) -> float:
        """Alias of ``duration`` under the unit-suffixed name used in log lines."""
        return self.duration


@contextlib.contextmanager
def _dbt_environment(settings: Settings) -> Iterator[None]:
    """Point profiles.yml at this warehouse (and its DuckDB limits) and silence telemetry, for one invocation only.

    dbt reads these from the process environment; they are restored afterwards so a
    later invocation with other settings (tests, several warehouses) starts clean.
    """
    overrides = {
        "PIPELINE_WAREHOUSE_DB": str(settings.warehouse_db),
        "DBT_DUCKDB_THREADS": str(settings.duckdb_threads),
        "DBT_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _dbt_vars(settings: Settings) -> dict[str, Any]:
    return {
        "timezone": settings.timezone,
        "category_rollup": settings.category_rollup,
        "min_group_chats": settings.min_group_chats,
    }


def _common_args(settings: Settings) -> list[str]:
    project_dir = str(settings.dbt_project_dir)
    dbt_vars = _dbt_vars(settings)
    return [
        "--project-dir",
        project_dir,
        "--profiles-dir",
        project_dir,
        "--target-path",
        str(settings.dbt_target_dir),
        "--log-path",
        str(settings.warehouse / "logs"),
        "--vars",
        json.dumps(dbt_vars),
    ]


#: dbt events not worth forwarding (the traceback stays in dbt.log).
_QUIET_EVENTS = frozenset({"MainStackTrace"})


def _forward_event(event: Any) -> None:
    """dbtRunner callback: dbt's own console output is off; its warnings and errors join our log stream."""
    level = event.info.level
    if level in ("warn", "error") and event.info.name not in _QUIET_EVENTS:
        getattr(log, "warning" if level == "warn" else "error")(
            "dbt.event", dbt_event=event.info.name, detail=event.info.msg
        )


#: The last parsed manifest of this process and what it was parsed from (:func:`_manifest_key`).
_MANIFEST: dict[tuple, Any] = {}


def _manifest_key(settings: Settings) -> tuple:
    """What a parsed manifest depends on: the arguments, the profile's variables, and every file of
    the dbt project (path, size, modification time), so an edited model is parsed again."""
    project = settings.dbt_project_dir
    skip = {settings.dbt_target_dir.resolve(), (project / "target").resolve(), (project / "logs").resolve()}
    files = []
    for folder, dirs, names in os.walk(project):
        dirs[:] = sorted(d for d in dirs if (Path(folder) / d).resolve() not in skip)
        for name in sorted(names):
            info = (Path(folder) / name).stat()
            files.append((os.path.relpath(Path(folder) / name, project), info.st_size, info.st_mtime_ns))
    return (*_common_args(settings), settings.duckdb_threads, settings.duckdb_memory_limit, tuple(files))


def _invoke(
    settings: Settings,
    command: Sequence[str],
    on_event: Callable[[Any], None] | None = None,
    *,
    reuse_manifest: bool = False,
) -> Any:
    """One dbt command in-process. With ``reuse_manifest``, a process that already parsed this
    project (the watcher, batch after batch) hands dbt the parsed manifest instead of parsing
    again: partial parsing still re-reads the whole saved manifest, ~1.5 s of every build.
    An empty ``command`` with ``reuse_manifest`` only parses (:func:`warm`): the parse's outcome
    when it failed, else None."""
    # Imported here: dbt is heavy to import and only this stage needs it.
    from dbt.cli.main import dbtRunner

    common = [*_common_args(settings), "--log-level", "none", "--log-level-file", "info", "--no-use-colors"]
    callbacks = [_forward_event, *([on_event] if on_event else [])]
    with _dbt_environment(settings):
        try:
            manifest = None
            if reuse_manifest:
                key = _manifest_key(settings)
                manifest = _MANIFEST.get(key)
                if manifest is None:
                    parsed = dbtRunner(callbacks=callbacks).invoke(["parse", *common])
                    if not parsed.success:
                        return parsed
                    _MANIFEST.clear()  # one project per process in practice: keep one manifest
                    _MANIFEST[key] = manifest = parsed.result
            if not command:
                return None
            return dbtRunner(manifest=manifest, callbacks=callbacks).invoke([*command, *common])
        finally:
            _release_warehouse()


def warm(settings: Settings) -> None:
    """Import dbt and parse the project now, so that this process's next :func:`build` starts at
    once (the watcher calls it at start-up instead of making its first batch wait ~5 s)."""
    failed = _invoke(settings, [], reuse_manifest=True)
    if failed is not None:
        raise TransformFailed(f"dbt parse failed: {_outcome_detail(failed)}")


def _release_warehouse() -> None:
    """Close the DuckDB instance dbt-duckdb keeps open in-process after an invocation.

    Otherwise this process holds the warehouse file lock (other processes cannot
    write) and cannot itself reopen the file with other settings. dbt-duckdb has no
    public hook for this, hence the class attributes. (Imported here like dbtRunner: dbt is slow
    to import and only this stage needs it.)
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
            DuckDBConnectionManager._ENV = None


def _first_line(text: str | None) -> str:
    """The informative line of a dbt error: skip a "Runtime Error in model x (path)" header."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > 1 and " Error in " in lines[0] and lines[0].endswith(")"):
        return lines[1]
    return lines[0] if lines else "unknown error"


def _broken_rules(settings: Settings, node: Any) -> str | None:
    """Which rules a failed ``column_checks`` test found broken, e.g. ``not_null(created_at) 2``.

    That test folds every column rule of a model into one dbt node, and dbt reports only its
    total; its rows name the rules, so its compiled query is run again (only ever on failure).
    """
    metadata = getattr(node, "test_metadata", None)
    if metadata is None or metadata.name != "column_checks" or not getattr(node, "compiled_code", None):
        return None
    try:
        with connect(settings) as con:
            rows = con.execute(node.compiled_code).fetchall()
    except (duckdb.Error, PipelineError) as exc:
        log.warning("transform.rules_unknown", test=node.name, error=str(exc))
        return None
    return ", ".join(f"{rule} {count}" for rule, count in sorted(rows)) or None


def _outcome_detail(outcome: Any) -> str:
    """The informative line of a failed dbt invocation that raised rather than ran nodes."""
    return _first_line(str(outcome.exception)) if outcome.exception else "see the dbt log"


def _describe_failure(settings: Settings, node_result: Any) -> str:
    node = node_result.node
    if node.resource_type == "test" and node_result.status == "fail":
        rows = node_result.failures
        detail = f"{rows} failing row{'s' if rows != 1 else ''}" if rows is not None else "failed"
        rules = _broken_rules(settings, node)
        if rules:
            detail += f": {rules}"
    else:
        detail = _first_line(node_result.message)
    return f"{node.resource_type} {node.name} ({detail})"


def _failure_message(settings: Settings, outcome: Any) -> str:
    if outcome.exception is not None:
        return f"dbt build failed: {_outcome_detail(outcome)}"
    failed = [r for r in getattr(outcome.result, "results", None) or [] if r.status in ("error", "fail")]
    if not failed:
        return "dbt build failed without a failing node (see the dbt log in the warehouse logs folder)"
    named = "; ".join(_describe_failure(settings, r) for r in failed[:_MAX_NAMED_FAILURES])
    more = len(failed) - _MAX_NAMED_FAILURES
    return f"dbt build failed: {named}" + (f"; and {more} more" if more > 0 else "")


def _summarise(outcome: Any, duration: float) -> TransformResult:
    by_status: dict[tuple[str, str], list[str]] = {}
    for node_result in getattr(outcome.result, "results", None) or []:
        key = (node_result.node.resource_type, str(node_result.status))
        by_status.setdefault(key, []).append(node_result.node.name)

    def names(resource_type: str, status: str) -> tuple[str, ...]:
        return tuple(sorted(by_status.get((resource_type, status), [])))

    return TransformResult(
        models_ok=len(names("model", "success")),
        tests_passed=len(names("test", "pass")),
        tests_warned=names("test", "warn"),
        tests_failed=names("test", "fail") + names("test", "error"),
        duration=duration,
    )


def _vars_file(settings: Settings) -> Path:
    return settings.state_dir / "dbt_vars.json"


def _vars_changed(settings: Settings) -> bool:
    """Whether the last successful build used other vars (time zone, rollup): incremental models
    then hold rows computed under the old ones and must be rebuilt whole."""
    path = _vars_file(settings)
    return not path.exists() or json.loads(path.read_text()) != _dbt_vars(settings)


def build(
    settings: Settings,
    *,
    select: str | None = None,
    full_refresh: bool = False,
    on_event: Callable[[Any], None] | None = None,
) -> TransformResult:
    """Run ``dbt build`` (models and their tests, in DAG order) against the warehouse.

    Incremental by default: staging and the localized chats take in only what the batches
    published since the last build change (``dbt/macros/new_batches.sql``). ``full_refresh``
    rebuilds every model from all history (and is chosen automatically when the dbt vars
    changed since the last build); both paths give the same marts (tested).
    ``select`` is a dbt selection (e.g. ``"+category_chat_volume"``); all nodes when None.
    Raises :class:`TransformFailed` naming the failing node(s) when a model errors or an
    error-severity test fails; warn-severity tests only show up in ``tests_warned``.
    ``on_event`` gets every dbt event too (the Luigi task's progress: node results).
    """
    full_refresh = full_refresh or _vars_changed(settings)
    command = ["build", *(["--select", *select.split()] if select else [])]
    if full_refresh:
        command.append("--full-refresh")
    started = time.monotonic()
    outcome = _invoke(settings, command, on_event, reuse_manifest=True)
    result = _summarise(outcome, round(time.monotonic() - started, 3))
    log.info(
        "transform.build",
        ok=outcome.success,
        select=select,
        full_refresh=full_refresh,
        models_ok=result.models_ok,
        tests_passed=result.tests_passed,
        tests_warned=len(result.tests_warned),
        tests_failed=len(result.tests_failed),
        duration_s=result.duration,
    )
    if outcome.success and not select:
        _vars_file(settings).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_vars_file(settings), json.dumps(_dbt_vars(settings)))
    if not outcome.success:
        error = TransformFailed(_failure_message(settings, outcome))
        error.result = result  # type: ignore[attr-defined]  # for callers that report details
        raise error
    return result


def docs(settings: Settings, out_dir: Path | None = None) -> Path:
    """Generate the dbt docs site and copy its three files into ``out_dir``.

    Defaults to ``<reports>/dbt-docs``. Files are copied under a temporary name and
    renamed, so a reader never sees a half-written file.
    """
    out_dir = Path(out_dir) if out_dir is not None else settings.reports_dir / "dbt-docs"
    started = time.monotonic()
    outcome = _invoke(settings, ["docs", "generate"])
    if not outcome.success:
        raise TransformFailed(f"dbt docs generate failed: {_outcome_detail(outcome)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DOCS_FILES:
        partial = out_dir / f".{name}.partial"
        shutil.copyfile(settings.dbt_target_dir / name, partial)
        partial.replace(out_dir / name)
    log.info("transform.docs", out_dir=str(out_dir), duration_s=round(time.monotonic() - started, 3))
    return out_dir
