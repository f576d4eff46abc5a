"""Command line: ``python -m pipeline <command>`` (also the ``pipeline`` console script).

A thin layer over library functions: parse arguments, call, print. Domain errors become
one sentence on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import structlog

from pipeline import logs
from pipeline.errors import ConfigError, PipelineError, WarehouseLocked
from pipeline.settings import Settings, load_settings
from pipeline.store import db, landing, ledger
from pipeline.store.files import sha256_of

# Luigi, dbt, Soda, numpy and matplotlib are imported by the commands that use them: ``status``
# must answer within a second, and most of a cold start is imports.

log = structlog.get_logger()


def failure_reason(exc: BaseException) -> str:
    """The first line of an error (as the Luigi tasks report it), for the one-sentence message."""
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


#: Exit codes: 0 success, 1 a batch (or a check) did not succeed, 2 a usage or configuration
#: error (nothing was done), 3 the warehouse is busy and no snapshot exists, 130 interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


class UsageError(PipelineError):
    """A command was given something that does not exist or cannot be used (exit 2)."""


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(landing=getattr(args, "landing", None), warehouse=getattr(args, "warehouse", None))


def _where(args: argparse.Namespace, name: str) -> str:
    """How a folder was chosen, for the error sentence."""
    if getattr(args, name, None):
        return f"--{name}"
    if os.environ.get(f"PIPELINE_{name.upper()}"):
        return f"PIPELINE_{name.upper()}"
    return f"luigi.cfg [pipeline] {name}"


def _explicit(args: argparse.Namespace, name: str) -> bool:
    return bool(getattr(args, name, None) or os.environ.get(f"PIPELINE_{name.upper()}"))


def _need_landing(settings: Settings, args: argparse.Namespace) -> None:
    if not settings.landing.is_dir():
        raise UsageError(
            f"the landing folder {settings.landing} does not exist (from {_where(args, 'landing')}); "
            "check the path or create the folder"
        )


def _need_warehouse(settings: Settings, args: argparse.Namespace, *, may_create: bool) -> None:
    """An existing warehouse folder; a first ``run`` may create it when its parent folder exists."""
    if settings.warehouse.is_dir():
        return
    if may_create and settings.warehouse.parent.is_dir():
        return
    raise UsageError(
        f"the warehouse folder {settings.warehouse} does not exist (from {_where(args, 'warehouse')}); "
        "check the path" + (" or create its parent folder" if may_create else ": nothing has run there yet")
    )


# --------------------------------------------------------------------------- argument types
def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        hint = f" (for {value:g}% write {value / 100:g})" if 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, not {text}{hint}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in logs.LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(logs.LEVELS)}, not {text!r}")
    return level


def _add_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("--landing", help="drop folder (default: $PIPELINE_LANDING, luigi.cfg [pipeline], ./landing)")
    p.add_argument("--warehouse", help="warehouse folder (default: $PIPELINE_WAREHOUSE, luigi.cfg, ./warehouse)")


# --------------------------------------------------------------------------- commands
def cmd_generate(args: argparse.Namespace) -> int:
    from pipeline.generate import generate

    manifest = generate(
        Path(args.out),
        chats=args.chats,
        categories=args.categories,
        seed=args.seed,
        defect_rate=args.defect_rate,
        messages=args.messages,
        category_skew=args.category_skew,
    )
    files = manifest["files"]
    print(
        f"wrote {files['categories']['rows']} categories and {files['chats']['rows']} chats to {args.out} "
        f"(manifest.json lists the injected defects)"
    )
    return 0


def _take_in(settings: Settings, path: Path) -> Path:
    """A FILE given to ``run``: used in place when it is in landing/, else copied in (never moved).

    Ingest moves what it takes into ``landing/archive/``; a user's own file elsewhere stays
    where it is. The copy keeps the name (``name.2.csv`` … when landing/ already holds a
    different file of that name) and the mtime, and appears in landing/ in one rename.
    """
    if path.resolve().parent == settings.landing.resolve():
        return path
    dest = settings.landing / path.name
    if dest.exists():
        if sha256_of(dest) == sha256_of(path):
            return dest  # the same bytes are already waiting
        dest = landing._unique(dest)  # noqa: SLF001 - the one unique-name rule of landing/
    tmp = settings.landing / f".{dest.name}.part"
    shutil.copy2(path, tmp)
    os.replace(tmp, dest)
    print(f"copied {path} into {dest} (the original stays where it is)")
    return dest


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.orchestration import runner
    from pipeline.orchestration.tasks import set_aside_unsupported

    settings = _settings(args)
    _need_landing(settings, args)
    _need_warehouse(settings, args, may_create=True)
    given = [Path(f) for f in args.files]
    missing = [str(f) for f in given if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    set_aside_unsupported(settings, wait=runner.SETTLE_WAIT_FACTOR * settings.settle_seconds)
    files = [_take_in(settings, f) for f in given] if given else landing.discover(settings)
    # Always through the runner: it also finishes batches an earlier run or a crash left unfinished.
    outcomes = runner.run(settings, files, scheduler_url=args.scheduler_url or settings.scheduler_url)
    if not outcomes:
        print(f"nothing to do: no CSV files waiting in {settings.landing} and no unfinished batches")
        return 0
    _print_outcomes(outcomes)
    bad = [o for o in outcomes if not o.ok]
    if bad:
        first = bad[0]
        print(
            f"error: {len(bad)} of {len(outcomes)} batch(es) did not succeed; first: {first.file}: "
            f"{first.status}: {first.error}",
            file=sys.stderr,
        )
        return 1
    print(f"results: {settings.exports_dir}  (report.md, analysis.json, hourly_heatmap.png)")
    return 0


def _print_outcomes(outcomes: list) -> None:
    for o in outcomes:
        print(f"{o.status:<10} {o.batch_id or '-':<24} {o.file}" + (f"  ({o.error})" if o.error else ""))


def ledger_rows(settings: Settings) -> tuple[list[dict], str | None]:
    """The ledger without waiting for a writer: the database when it is free, else the snapshot.

    DuckDB lets one process hold a read-write file and no other process read it; the ledger
    module rewrites ``ledger.snapshot.json`` after every change, so a busy warehouse is answered
    from there at once (the second value says so, with the snapshot's time).
    """
    if not settings.warehouse_db.exists():
        return [], None
    try:
        con = db.open_database(
            settings.warehouse_db,
            read_only=True,
            threads=1,
            memory_limit=settings.duckdb_memory_limit,
            lock_timeout=0,
        )
    except WarehouseLocked:
        snapshot = ledger.read_snapshot(settings.warehouse_db)
        if snapshot is None:
            raise
        return snapshot[
            "batches"
        ], f"the warehouse is busy (a batch is being processed): ledger as of {snapshot['written_at']}"
    try:
        return ledger.all_batches(con), None
    except duckdb.CatalogException:
        return [], None  # the file exists, the schema is not created yet
    finally:
        con.close()


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _need_warehouse(settings, args, may_create=False)
    try:
        rows, note = ledger_rows(settings)
    except WarehouseLocked:
        print(
            f"error: the warehouse {settings.warehouse_db} is busy and has no ledger snapshot yet; try again shortly",
            file=sys.stderr,
        )
        return EXIT_BUSY
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print("no batches yet")
        return 0
    header = f"{'seq':>4}  {'batch_id':<24} {'dataset':<10} {'status':<9} {'stage':<11} {'read':>9} {'loaded':>9} {'quarant.':>9}  file"
    print(header)
    for r in rows:
        print(
            f"{r['seq']:>4}  {r['batch_id']:<24} {r['dataset'] or '-':<10} {r['status']:<9} {r['stage'] or '-':<11} "
            f"{_n(r['rows_read'])} {_n(r['rows_loaded'])} {_n(r['rows_quarantined'])}  {r['file']}"
            + (f"  [{r['error']}]" if r["error"] else "")
        )
    return 0


def _n(value) -> str:
    return f"{value:>9,}" if isinstance(value, int) else f"{'-':>9}"


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.stages import export

    print(export.render_terminal(_settings(args)))
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from pipeline.stages import export
    from pipeline.store import history

    settings = _settings(args)
    _need_warehouse(settings, args, may_create=False)
    if args.last and args.last > settings.quality_history_batches:
        raise UsageError(
            f"--last {args.last} asks for more than the {settings.quality_history_batches} batches per dataset "
            "the history keeps (setting quality_history_batches)"
        )
    doc = history.read_history(settings.reports_dir, strict=True)
    if args.last:
        doc = {**doc, "last": args.last, "batches": _last_per_dataset(doc["batches"], args.last)}
    print(export.render_quality_text(doc), end="")
    return 0


def _last_per_dataset(batches: list[dict], last: int) -> list[dict]:
    keep = []
    for dataset in sorted({b["dataset"] for b in batches}):
        keep += [b for b in batches if b["dataset"] == dataset][-last:]
    return keep


def cmd_docs(args: argparse.Namespace) -> int:
    from pipeline.stages import transform

    settings = _settings(args)
    out = transform.docs(settings, settings.reports_dir / "dbt-docs")
    print(f"dbt docs written to {out}/index.html")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.generate import generate
    from pipeline.orchestration import runner

    settings = _settings(args)
    generate(settings.landing, chats=args.chats, seed=args.seed, defect_rate=args.defect_rate, messages=True)
    outcomes = runner.run(settings, landing.discover(settings))
    _print_outcomes(outcomes)
    print()
    print(f"exports:    {settings.exports_dir}/ (report.md, analysis.json, CSVs, hourly_heatmap.png)")
    print(f"share db:   {settings.share_db} (redacted, shareable)")
    print(f"soda:       {settings.reports_dir / 'soda'}/")
    print(f"quarantine: {settings.quarantine_dir}/")
    print("ledger:     python -m pipeline status")
    return 0 if all(o.ok for o in outcomes) else 1


def _failed_copy(settings: Settings, record: dict) -> Path | None:
    """Where a batch's file waits for a retry: ``failed/<batch_id>__<name>`` (newest), or still in landing/."""
    in_landing = settings.landing / record["file"]
    if in_landing.is_file():
        return in_landing
    if not settings.failed_dir.is_dir():
        return None
    copies = [
        p
        for p in settings.failed_dir.glob(f"{record['batch_id']}__*")
        if p.is_file() and not p.name.endswith(".error.json")
    ]
    return max(copies, key=lambda p: p.stat().st_mtime_ns) if copies else None


def _requeue(settings: Settings, record: dict, known: dict[str, dict]) -> tuple[Path | None, str]:
    """Put a failed batch's file back into landing/ under its name; returns it (or None) and what happened."""
    source = _failed_copy(settings, record)
    if source is None:
        return None, (
            f"{record['batch_id']}: its file is neither in {settings.failed_dir} nor in landing/; "
            f"drop {record['file']} into {settings.landing} again"
        )
    content_id = ledger.batch_id_for(sha256_of(source))
    if content_id != record["batch_id"] and ledger.is_done(known.get(content_id)):
        return None, f"{record['batch_id']}: the fixed file {source.name} is already done as batch {content_id}"
    if source.parent == settings.landing:
        return source, f"{record['batch_id']}: {source.name} is still in landing/, taking it again"
    dest = settings.landing / landing.safe_name(record["file"])
    if dest.exists():
        dest = landing._unique(dest)  # noqa: SLF001 - the one unique-name rule of landing/
    os.replace(source, dest)
    source.with_name(f"{source.name}.error.json").unlink(missing_ok=True)
    edited = "" if content_id == record["batch_id"] else f" (its content changed: new batch {content_id})"
    return dest, f"{record['batch_id']}: re-queued {source.name} as {dest.name}{edited}"


def cmd_retry(args: argparse.Namespace) -> int:
    """Run failed batches again once the operator fixed the cause (a setting, the file in failed/)."""
    from pipeline.orchestration import runner

    settings = _settings(args)
    _need_landing(settings, args)
    _need_warehouse(settings, args, may_create=False)
    if not args.batch_ids and not args.failed:
        raise UsageError("name the batch id(s) to retry (see `pipeline status`), or pass --failed for all")
    if not settings.warehouse_db.exists():
        raise UsageError(f"no warehouse at {settings.warehouse_db}: nothing has been processed there yet")
    with db.connect(settings, read_only=True) as con:
        known = {r["batch_id"]: r for r in ledger.all_batches(con)}
    if args.failed:
        targets = [r for r in known.values() if ledger.is_settled_failure(r)]
        if not targets:
            print("nothing to retry: no failed or rejected batches")
            return EXIT_OK
    else:
        unknown = [b for b in args.batch_ids if b not in known]
        if unknown:
            raise UsageError(f"no such batch: {', '.join(unknown)} (see `pipeline status`)")
        targets = [known[b] for b in args.batch_ids]
    files: list[Path] = []
    resumed = 0
    problems = 0
    for record in targets:
        if not ledger.is_settled_failure(record):
            print(f"{record['batch_id']}: {record['status']}, nothing to retry")
            continue
        if record["stage"] != "registered":
            resumed += 1  # ingested before it failed: the runner resumes it at the failed stage
            print(
                f"{record['batch_id']}: failed at {record['error_code'] or 'a stage'}, resuming after {record['stage']}"
            )
            continue
        path, what = _requeue(settings, record, known)
        print(what)
        if path is None:
            problems += 1
        else:
            files.append(path)
    if not files and not resumed:
        return EXIT_FAILED if problems else EXIT_OK
    outcomes = runner.run(settings, files, scheduler_url=args.scheduler_url or settings.scheduler_url)
    _print_outcomes(outcomes)
    bad = [o for o in outcomes if not o.ok]
    if bad:
        first = bad[0]
        print(
            f"error: {len(bad)} of {len(outcomes)} batch(es) did not succeed; first: {first.file}: "
            f"{first.status}: {first.error}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_FAILED if problems else EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    """Soda scan of a known batch where its rows are now (raw once published), as by hand."""
    from pipeline.stages import quality

    settings = _settings(args)
    _need_warehouse(settings, args, may_create=False)
    with db.writer_lock(settings):  # Soda opens the file read-write: wait for a running stage
        result = quality.rescan(settings, args.batch_id)
    width = max((len(c["name"] or "") for c in result.checks), default=10)
    for check in sorted(result.checks, key=lambda c: c["name"] or ""):
        print(
            f"{check['outcome'] or '-':<5} {check['name'] or '':<{width}}  {check['value_text']:<14} "
            f"{check.get('threshold_text', '')}"
        )
    for error in result.errors:
        print(f"scan error: {error}")
    verdict = "passes" if result.passed else "fails"
    print(f"{result.dataset} batch {result.batch_id} {verdict} the checks; report: {result.report_md}")
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_watch(args: argparse.Namespace) -> int:
    from pipeline.orchestration.tasks import set_aside_unsupported
    from pipeline.orchestration.watcher import Watcher, install_signal_handlers

    class _LandingWatcher(Watcher):
        """The watcher, plus: unsupported files in landing/ are set aside at every reconciliation scan."""

        def reconcile(self) -> None:
            set_aside_unsupported(self.settings)
            super().reconcile()

    settings = _settings(args)
    # The drop folder is created only when it is the configured default; a mistyped --landing is an error.
    if _explicit(args, "landing"):
        _need_landing(settings, args)
    if _explicit(args, "warehouse"):
        _need_warehouse(settings, args, may_create=True)  # like run: a new warehouse under an existing folder
    if args.settle is not None:
        settings = replace(settings, settle_seconds=args.settle)
    if args.reconcile is not None:
        settings = replace(settings, reconcile_seconds=args.reconcile)
    watcher = _LandingWatcher(
        settings, polling=args.polling, scheduler_url=args.scheduler_url or settings.scheduler_url, tune_gc=True
    )
    install_signal_handlers(watcher)
    watcher.serve()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from pipeline.orchestration import replay

    settings = _settings(args)
    result = replay.replay(settings, Path(args.into))
    print(f"replayed {result['files']} archived file(s) into {result['warehouse']}")
    for table, (live, again) in {
        t: (result["live"].get(t), result["replayed"].get(t))
        for t in sorted(set(result["live"]) | set(result["replayed"]))
    }.items():
        print(f"  {table:<32} live={live}  replayed={again}  {'same' if live == again else 'DIFFERENT'}")
    if result["failed"] or not result["identical"]:
        print(
            "error: the replayed marts differ from the live ones"
            if not result["identical"]
            else f"error: {len(result['failed'])} file(s) failed on replay",
            file=sys.stderr,
        )
        return 1
    print("marts identical to the live warehouse")
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """Every command and its options; one declarative list, long because the CLI is."""
    parser = argparse.ArgumentParser(
        prog="pipeline",
        description="Chat-analytics micro-batch pipeline: drop CSVs in landing/, get validated, audited, redacted analysis.",
    )
    parser.add_argument(
        "--log-level", type=_log_level, default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)"
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=None,
        help="JSON log lines even on a terminal (default: JSON when not a TTY)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="write a synthetic categories.csv + chats.csv (+ manifest.json)")
    p.add_argument("--out", required=True, help="folder to write into (e.g. landing)")
    p.add_argument("--chats", type=_count(1), default=10_000, help="number of chats, at least 1 (default 10000)")
    p.add_argument("--categories", type=_count(1), default=460, help="number of categories, at least 1 (default 460)")
    p.add_argument("--seed", type=_count(0), default=42, help="random seed; same seed, same bytes (default 42)")
    p.add_argument(
        "--defect-rate",
        type=_fraction,
        default=0.0,
        help="fraction of rows given exactly one defect, every reason code represented (default 0)",
    )
    p.add_argument(
        "--messages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include a free-text message column, ~20%% with personal data (default on)",
    )
    p.add_argument(
        "--category-skew",
        type=_fraction,
        default=0.0,
        help="fraction of chats moved to one rare category, 0-1: a category shift for the drift checks (default 0)",
    )
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("run", help="process the files waiting in landing/ once (or the FILEs given)")
    _add_paths(p)
    p.add_argument("--scheduler-url", help="use a running luigid (default: local scheduler)")
    p.add_argument("files", nargs="*", metavar="FILE", help="files to process (default: all waiting in landing/)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("watch", help="long-running service: process files as they land")
    _add_paths(p)
    p.add_argument(
        "--polling", action="store_true", help="poll the folder instead of inotify (Docker bind mounts, network shares)"
    )
    p.add_argument("--scheduler-url", help="run tasks through a luigid, e.g. http://127.0.0.1:8082")
    p.add_argument("--settle", type=_seconds, help="seconds a file's size/mtime must stay unchanged (default 1)")
    p.add_argument("--reconcile", type=_seconds, help="seconds between reconciliation scans (default 30)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("replay", help="rebuild a fresh warehouse from landing/archive/ and compare marts")
    _add_paths(p)
    p.add_argument("--into", required=True, help="folder for the rebuilt warehouse (must be empty or new)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("status", help="show the batch ledger")
    _add_paths(p)
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per batch")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "retry",
        help="run failed batches again after fixing the cause (re-queues the file from landing/failed/)",
        description="Re-queue a failed or rejected batch's file from landing/failed/<batch_id>__<name> (same "
        "content: the same ledger row, its arrival order kept), or resume a batch that failed after ingest.",
    )
    _add_paths(p)
    p.add_argument("batch_ids", nargs="*", metavar="BATCH_ID", help="batch id(s) from `pipeline status`")
    p.add_argument("--failed", action="store_true", help="every failed or rejected batch")
    p.add_argument("--scheduler-url", help="use a running luigid (default: local scheduler)")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser(
        "scan",
        help="Soda scan of one batch again, where its rows are now (raw once published)",
        description="Runs the quality gate's checks on a known batch: the audit rows while it is in flight, "
        "the published raw rows after. Report: warehouse/reports/soda/<batch_id>.rescan.md. Exit 1 on failing checks.",
    )
    _add_paths(p)
    p.add_argument("batch_id", metavar="BATCH_ID", help="batch id from `pipeline status`")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("report", help="print the analysis tables of the latest export")
    _add_paths(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "quality",
        help="data quality over time: rows, quarantine share by reason, gate outcome and drift per batch",
        description="The last batches of each dataset the quality gate profiled (warehouse/reports/"
        "quality_history.json, the same table as the report's 'Quality over time'; setting quality_history_batches).",
    )
    _add_paths(p)
    p.add_argument("--last", type=_count(1), help="only the last N batches per dataset")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("docs", help="build the dbt docs site into warehouse/reports/dbt-docs/")
    _add_paths(p)
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("demo", help="generate a sample into landing/ and process it")
    _add_paths(p)
    p.add_argument("--chats", type=_count(1), default=20_000, help="number of chats (default 20000)")
    p.add_argument("--seed", type=_count(0), default=7, help="random seed (default 7)")
    p.add_argument("--defect-rate", type=_fraction, default=0.01, help="share of defective rows, 0-1 (default 0.01)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, configure logging, run the command; every failure ends as one sentence and an exit code.

    Argument errors are argparse's (exit 2). Configuration and usage errors: exit 2. A batch
    that did not succeed: exit 1. Anything unexpected: exit 1 with its first line; the JSON log
    (``--log-json``, the default off a terminal) carries the traceback as a structured dict.
    """
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level, json=args.log_json)
    try:
        return args.func(args)
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        log.error("cli.failed", command=args.command, exc_info=True)
        print(
            f"error: {args.command} failed: {failure_reason(exc)} ({type(exc).__name__}; "
            "run with --log-json for the details)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
