"""Command line: ``python -m pipeline <command>`` (also the ``pipeline`` console script).

A thin layer over library functions: parse arguments, call, print. Domain errors become
one sentence on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import structlog

from pipeline import logs
from pipeline.errors import PipelineError
from pipeline.generate import generate
from pipeline.orchestration import replay, runner
from pipeline.orchestration.watcher import Watcher, install_signal_handlers
from pipeline.settings import Settings, load_settings
from pipeline.stages import export, transform
from pipeline.store import db, landing, ledger

log = structlog.get_logger()


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(landing=getattr(args, "landing", None), warehouse=getattr(args, "warehouse", None))


def _add_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("--landing", help="drop folder (default: $PIPELINE_LANDING, luigi.cfg [pipeline], ./landing)")
    p.add_argument("--warehouse", help="warehouse folder (default: $PIPELINE_WAREHOUSE, luigi.cfg, ./warehouse)")


# --------------------------------------------------------------------------- commands
def cmd_generate(args: argparse.Namespace) -> int:
    manifest = generate(
        Path(args.out),
        chats=args.chats,
        categories=args.categories,
        seed=args.seed,
        defect_rate=args.defect_rate,
        messages=args.messages,
    )
    files = manifest["files"]
    print(
        f"wrote {files['categories']['rows']} categories and {files['chats']['rows']} chats to {args.out} "
        f"(manifest.json lists the injected defects)"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    files = [Path(f) for f in args.files] if args.files else landing.discover(settings)
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise PipelineError(f"no such file: {', '.join(missing)}")
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


def _print_outcomes(outcomes: list[runner.BatchOutcome]) -> None:
    for o in outcomes:
        print(f"{o.status:<10} {o.batch_id or '-':<24} {o.file}" + (f"  ({o.error})" if o.error else ""))


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.warehouse_db.exists():
        rows = []
    else:
        with db.connect(settings, read_only=True) as con:
            rows = ledger.all_batches(con)
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
    print(export.render_terminal(_settings(args)))
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    settings = _settings(args)
    out = transform.docs(settings, settings.reports_dir / "dbt-docs")
    print(f"dbt docs written to {out}/index.html")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
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


def cmd_watch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.settle is not None:
        settings = replace(settings, settle_seconds=args.settle)
    if args.reconcile is not None:
        settings = replace(settings, reconcile_seconds=args.reconcile)
    watcher = Watcher(settings, polling=args.polling, scheduler_url=args.scheduler_url or settings.scheduler_url)
    install_signal_handlers(watcher)
    watcher.serve()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
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
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=None,
        help="JSON log lines even on a terminal (default: JSON when not a TTY)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="write a synthetic categories.csv + chats.csv (+ manifest.json)")
    p.add_argument("--out", required=True, help="folder to write into (e.g. landing)")
    p.add_argument("--chats", type=int, default=10_000, help="number of chats (default 10000)")
    p.add_argument("--categories", type=int, default=460, help="number of categories (default 460)")
    p.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default 42)")
    p.add_argument(
        "--defect-rate",
        type=float,
        default=0.0,
        help="fraction of rows given exactly one defect, every reason code represented (default 0)",
    )
    p.add_argument(
        "--messages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include a free-text message column, ~20%% with personal data (default on)",
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
    p.add_argument("--settle", type=float, help="seconds a file's size/mtime must stay unchanged (default 1)")
    p.add_argument("--reconcile", type=float, help="seconds between reconciliation scans (default 30)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("replay", help="rebuild a fresh warehouse from landing/archive/ and compare marts")
    _add_paths(p)
    p.add_argument("--into", required=True, help="folder for the rebuilt warehouse (must be empty or new)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("status", help="show the batch ledger")
    _add_paths(p)
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per batch")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("report", help="print the analysis tables of the latest export")
    _add_paths(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("docs", help="build the dbt docs site into warehouse/reports/dbt-docs/")
    _add_paths(p)
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("demo", help="generate a sample into landing/ and process it")
    _add_paths(p)
    p.add_argument("--chats", type=int, default=20_000, help="number of chats (default 20000)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--defect-rate", type=float, default=0.01, help="share of defective rows (default 0.01)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level.upper(), json=args.log_json)
    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
