"""Micro-batches stay micro: what one small file costs as the warehouse's history grows.

A 10k-chat file (seed 2) goes through the whole chain (``runner.run``, the ``chain`` job) into
copies of template warehouses that hold its categories and

- nothing else (the baseline), or
- the history: categories + N chats of another seed (2M and 5M by default),

interleaved: baseline, 2M, 5M, baseline, 2M, 5M, … Each run starts from a fresh copy of its
template, so every run does the same work. The ratio of medians is the figure: a micro-batch
whose cost follows the batch stays near 1×; one whose cost follows the warehouse grows with N.

A 100-chat file through the same chain into the baseline warehouse is the fixed cost of a run
(interpreter start-up and imports are outside the job's clock; Luigi, Soda, dbt and the exports
are inside). The same tiny files dropped one after another into a running ``pipeline watch``
give the latency a user sees: file closed → ``analysis.json`` lists it (goal p95 ≤ 3 s).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from bench.watch import end_to_end, fresh, place, share_of

if TYPE_CHECKING:  # the Workbench lives in bench.__main__, which imports this module
    from bench.__main__ import Workbench

#: The new file's seed; the history's is another one, so its chat ids are new.
NEW_SEED = 2
HISTORY_SEED = 1


def _template(bench: Workbench, name: str, files: list[tuple[Path, str]]) -> Path:
    """A warehouse that went through the chain for ``files`` (source, landed name), in that order."""
    landing, warehouse = fresh(bench.work / f"{name}-landing"), fresh(bench.work / f"{name}-warehouse")
    for src, landed in files:
        place(src, landing / landed)
    run = bench.job("chain", landing, warehouse)
    bad = {f: s for f, s in run["statuses"].items() if s != "done"}
    if bad:
        raise RuntimeError(f"the {name} template did not build: {bad} {run['errors']}")
    shutil.rmtree(landing)
    return warehouse


def _one(bench: Workbench, template: Path, src: Path, name: str) -> dict:
    """The chain for ``src/chats.csv`` landed as ``new_chats.csv`` into a fresh copy of ``template``."""
    warehouse = bench.work / f"{name}-run-warehouse"
    for folder, copy in ((template, warehouse), (share_of(template), share_of(warehouse))):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(folder, copy, symlinks=True)  # the exports link is relative
    landing = fresh(bench.work / f"{name}-run-landing")
    place(src / "chats.csv", landing / "new_chats.csv")
    run = bench.job("chain", landing, warehouse)
    if run["statuses"].get("new_chats.csv") != "done":
        raise RuntimeError(f"the new file did not go through on {name}: {run['statuses']} {run['errors']}")
    return {
        "seconds": run["file_seconds"]["new_chats.csv"],
        "stage_seconds": run["stage_seconds"].get("new_chats.csv", {}),
        "peak_rss_bytes": run["peak_rss_bytes"],
    }


def microbatch(
    bench: Workbench, new_chats: int, histories: list[int], repeats: int, tiny_chats: int, drops: int, settle: float
) -> dict:
    """Interleaved runs of the new file on the baseline and on every history; the tiny file's fixed cost
    and its latency through a running watcher."""
    new = bench.dataset(new_chats, NEW_SEED)
    tiny = bench.dataset(tiny_chats, NEW_SEED)
    templates = {0: _template(bench, "mb-empty", [(new / "categories.csv", "categories.csv")])}
    for n in histories:
        hist = bench.dataset(n, HISTORY_SEED)
        templates[n] = _template(
            bench,
            f"mb-{n}",
            [
                (hist / "categories.csv", "history_categories.csv"),
                (hist / "chats.csv", "history_chats.csv"),
                (new / "categories.csv", "categories.csv"),
            ],
        )
    runs: dict[int, list[dict]] = {n: [] for n in templates}
    fixed: list[dict] = []
    for _ in range(repeats):
        for n, template in templates.items():
            runs[n].append(_one(bench, template, new, f"mb-{n}"))
        fixed.append(_one(bench, templates[0], tiny, "mb-tiny"))
    base = statistics.median(r["seconds"] for r in runs[0])
    points = []
    for n in histories:
        median = statistics.median(r["seconds"] for r in runs[n])
        middle = sorted(runs[n], key=lambda r: r["seconds"])[len(runs[n]) // 2]
        points.append(
            {
                "history_chats": n,
                "seconds_median": median,
                "ratio_to_empty": median / base,
                "stage_seconds": middle["stage_seconds"],
                "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs[n]),
            }
        )
    empty_middle = sorted(runs[0], key=lambda r: r["seconds"])[len(runs[0]) // 2]
    folders = bench.datasets(tiny_chats, [300 + i for i in range(drops)])
    watched = end_to_end(bench.work, folders, settle, bench.env)
    watched.pop("warehouse")
    alone = end_to_end(bench.work, folders, settle, bench.env, with_categories=False)
    alone.pop("warehouse")
    return {
        "new_chats": new_chats,
        "repeats": repeats,
        "empty_seconds_median": base,
        "empty_stage_seconds": empty_middle["stage_seconds"],
        "histories": points,
        "tiny_chats": tiny_chats,
        "tiny_seconds_median": statistics.median(r["seconds"] for r in fixed),
        "tiny_stage_seconds": sorted(fixed, key=lambda r: r["seconds"])[len(fixed) // 2]["stage_seconds"],
        "tiny_watch": watched,
        "tiny_watch_alone": alone,
        "runs": {str(n): r for n, r in runs.items()} | {"tiny": fixed},
    }


#: Goals of the micro-batch issue: new file into N chats of history ÷ into categories only.
GOALS = {2_000_000: 1.3, 5_000_000: 1.5}


def goal_for(history_chats: int) -> float:
    """The issue's goal for this history (the 2M goal below 2M, the 5M goal from 5M up)."""
    return GOALS[5_000_000] if history_chats >= 5_000_000 else GOALS[2_000_000]


def _stages(stage_seconds: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in stage_seconds.items() if v is not None) or "–"


def markdown(mb: dict) -> list[str]:
    lines = [
        "## 7. Micro-batches: a small file into a growing warehouse",
        "",
        f"{mb['new_chats']:,} new chats through the whole chain into a copy of a warehouse holding their "
        f"categories only, or also N chats of history; median of {mb['repeats']} interleaved runs each. "
        "Goal ≤ 1.3× at 2M chats of history, ≤ 1.5× at 5M.",
        "",
        "| history | seconds | ÷ categories only | goal | stages (s) |",
        "|---:|---:|---:|---|---|",
        f"| categories only | {mb['empty_seconds_median']:.2f} | 1.00 | | {_stages(mb['empty_stage_seconds'])} |",
    ]
    for p in mb["histories"]:
        goal = goal_for(p["history_chats"])
        met = "met" if p["ratio_to_empty"] <= goal else "**missed**"
        lines.append(
            f"| {p['history_chats']:,} chats | {p['seconds_median']:.2f} | {p['ratio_to_empty']:.2f} | "
            f"≤ {goal:g}× {met} | {_stages(p['stage_seconds'])} |"
        )
    lines += [
        "",
        f"Fixed cost: a {mb['tiny_chats']:,}-chat file through the chain takes {mb['tiny_seconds_median']:.2f} s "
        f"(median; stages: {_stages(mb['tiny_stage_seconds'])}). Dropped into a running `pipeline watch` "
        f"({mb['tiny_watch']['drops']} drops, each with its categories file, settle "
        f"{mb['tiny_watch']['settle_seconds']:g} s): file closed → exported p50 {mb['tiny_watch']['p50_s']:.2f} s, "
        f"p95 {mb['tiny_watch']['p95_s']:.2f} s (goal p95 ≤ 3 s)."
        + (
            f" The chats file alone (every drop's categories landed first): p50 "
            f"{mb['tiny_watch_alone']['p50_s']:.2f} s, p95 {mb['tiny_watch_alone']['p95_s']:.2f} s."
            if mb.get("tiny_watch_alone")
            else ""
        ),
    ]
    return lines


def targets(mb: dict) -> list[tuple[str, float, str, float]]:
    """(target, figure, unit, goal) per history and for the tiny file's latency, for the targets table."""
    found = [
        (
            f"{mb['new_chats']:,} chats into {p['history_chats']:,} chats of history ÷ into categories only",
            p["ratio_to_empty"],
            "×",
            goal_for(p["history_chats"]),
        )
        for p in mb["histories"]
    ]
    if mb.get("tiny_watch"):
        found.append(
            (
                f"{mb['tiny_chats']:,}-chat file, drop → exports with watch running, p95",
                mb["tiny_watch"]["p95_s"],
                " s",
                3,
            )
        )
    if mb.get("tiny_watch_alone"):
        found.append(
            (
                f"{mb['tiny_chats']:,}-chat file alone (categories landed before), drop → exports, p95",
                mb["tiny_watch_alone"]["p95_s"],
                " s",
                3,
            )
        )
    return found
