"""Figures and presentation of ``make bench``: percentiles, the log-log fit, targets, Markdown, PNG.

Pure functions of the report dict that :mod:`pipeline.bench` builds, so they can be tested
without running a benchmark.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

GIB = 2**30
MIB = 2**20
#: The chain's stages in the order they run (stage markers are read back in file-name order).
STAGES = ("ingest", "quality_gate", "dbt_build", "redact", "export")


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile, interpolated between the measured values (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def loglog_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least squares of log(y) on log(x): ``(exponent, coefficient)`` with y ≈ coefficient · x^exponent."""
    slope, intercept = statistics.linear_regression([math.log(x) for x in xs], [math.log(y) for y in ys])
    return slope, math.exp(intercept)


# --------------------------------------------------------------------------- targets
def _target(name: str, figure: float | None, unit: str, op: str, limit: float, note: str = "") -> dict:
    met = figure is not None and (figure >= limit if op == "≥" else figure <= limit)
    return {"target": name, "figure": figure, "unit": unit, "goal": f"{op} {limit:g}{unit}", "met": met, "note": note}


def targets(report: dict) -> list[dict]:
    """Every target of the benchmark issue with the figure measured in this run.

    (Long: one entry per target, written out.)
    """
    found = []
    if report.get("ingest"):
        top = report["ingest"][-1]
        rows = f"{top['rows']:,} rows"
        found.append(_target(f"ingest ÷ bare load throughput, {rows}", top["ingest_to_bare_throughput"], "×", "≥", 0.7))
        found.append(_target(f"ingest peak RSS, {rows}", top["ingest_peak_rss_bytes"] / GIB, " GiB", "≤", 1))
    if report.get("reference"):
        ref = report["reference"]
        found.append(
            _target(f"ingest speed-up over the reference approach, {ref['rows']:,} rows", ref["speedup"], "×", "≥", 10)
        )
        found.append(
            {
                "target": "reference: loaded + quarantined = rows in the file",
                "figure": None,
                "unit": "",
                "goal": "equal",
                "met": ref["conserved"],
                "note": f"{ref['rows_loaded']:,} + {ref['rows_quarantined']:,} vs {ref['rows']:,}",
            }
        )
    if report.get("latency"):
        lat = report["latency"]
        found.append(
            _target(
                "end-to-end p50 ÷ bare dbt build",
                lat["p50_to_dbt"],
                "×",
                "≤",
                2,
                "p50 drop on a smaller warehouse than the dbt build's",
            )
        )
        found.append(
            _target(
                "end-to-end ÷ bare dbt build, like for like (last drop, same warehouse)",
                lat["last_to_dbt"],
                "×",
                "≤",
                2,
            )
        )
    if report.get("chain"):
        chain = report["chain"]
        found.append(
            _target(
                f"whole chain ÷ bare load, {chain['rows']:,} chats",
                chain["chain_to_bare"],
                "×",
                "≤",
                4,
                "" if chain["ok"] else "the chain failed",
            )
        )
    if report.get("scaling") and report["scaling"].get("exponent_upper") is not None:
        sc = report["scaling"]
        found.append(
            _target(
                f"scaling exponent of the chain's time, {sc['upper_label']}",
                sc["exponent_upper"],
                "",
                "≤",
                1.05,
                sc.get("fit_note", ""),
            )
        )
    return found


# --------------------------------------------------------------------------- Markdown
def _f(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _mb(n: float | None) -> str:
    return "–" if n is None else f"{n / MIB:,.0f}"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _targets_md(report: dict) -> list[str]:
    lines = ["## Targets", "", "| target | measured | goal | |", "|---|---:|---|---|"]
    for t in report["targets"]:
        figure = t["note"] if t["figure"] is None else f"{t['figure']:.2f}{t['unit']}"
        note = f" ({t['note']})" if t["note"] and t["figure"] is not None else ""
        lines.append(f"| {t['target']} | {figure} | {t['goal']} | {_met(t['met'])}{note} |")
    return lines


def _ingest_md(report: dict) -> list[str]:
    lines = [
        "## 1. Ingest vs bare DuckDB load",
        "",
        f"Median of {report['options']['repeats']} interleaved runs per size, same file; target ≥ 0.7× the bare "
        "throughput and ≤ 1 GiB peak RSS at 5M rows.",
        "",
        "| rows | file MB | bare rows/s | ingest rows/s | ingest ÷ bare | ≥ 0.7× | ingest peak RSS MB | "
        "bare peak RSS MB |",
        "|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in report["ingest"]:
        ratio = r["ingest_to_bare_throughput"]
        lines.append(
            f"| {r['rows']:,} | {r['file_bytes'] / 1e6:,.0f} | {r['bare_rows_per_s']:,.0f} | "
            f"{r['ingest_rows_per_s']:,.0f} | {ratio:.2f} | {_met(ratio >= 0.7)} | "
            f"{_mb(r['ingest_peak_rss_bytes'])} | {_mb(r['bare_peak_rss_bytes'])} |"
        )
    return lines


def _reference_md(ref: dict) -> list[str]:
    return [
        "## 2. Versus the reference approach",
        "",
        f"pandas, 10,000-row chunks, row-by-row validation, DuckDB append per chunk "
        f"(`pipeline/bench_reference.py`), {ref['rows']:,} chats; median of {ref['repeats']} runs each"
        + (
            " (the ingest runs are section 1's on the same file)."
            if ref["ingest_runs_from_section_1"]
            else ", interleaved."
        ),
        "",
        "| | seconds | rows/s | peak RSS MB | loaded | quarantined |",
        "|---|---:|---:|---:|---:|---:|",
        f"| reference | {ref['reference_seconds_median']:.2f} | {ref['rows'] / ref['reference_seconds_median']:,.0f} | "
        f"{_mb(ref['reference_peak_rss_bytes'])} | {ref['rows_loaded']:,} | {ref['rows_quarantined']:,} |",
        f"| ingest | {ref['ingest_seconds_median']:.2f} | {ref['rows'] / ref['ingest_seconds_median']:,.0f} | "
        f"{_mb(ref['ingest_peak_rss_bytes'])} | {ref['ingest_rows_loaded']:,} | {ref['ingest_rows_quarantined']:,} |",
        "",
        f"Ingest speed-up: **{ref['speedup']:.1f}×**. Reference loaded + quarantined = "
        f"{ref['rows_loaded'] + ref['rows_quarantined']:,}, rows in the file {ref['rows']:,} "
        f"({'equal' if ref['conserved'] else 'NOT equal'}); loaded count equals ingest's: "
        f"{'yes' if ref['same_loaded_as_ingest'] else 'no'}.",
    ]


def _latency_md(lat: dict) -> list[str]:
    dbt = lat["dbt"]
    return [
        "## 3. End-to-end latency",
        "",
        f"{lat['drops']} drops of {lat['chats']:,} chats + their categories (a new seed each) into a running "
        f"watcher (settle {lat['settle_seconds']:g} s), file closed → `analysis.json` lists it. The warehouse "
        f"grows with each drop (the last drop sees {lat['drops'] * lat['chats']:,} chats).",
        "",
        "| | seconds |",
        "|---|---:|",
        f"| end to end p50 | {lat['p50_s']:.2f} |",
        f"| end to end p95 | {lat['p95_s']:.2f} |",
        f"| end to end, last drop | {lat['latencies_s'][-1]:.2f} |",
        f"| dbt build inside the pipeline, p50 | {_f(lat['dbt_build_in_pipeline_p50_s'])} |",
        f"| bare `dbt build` (CLI, after the drops), median of {dbt['repeats']} | {dbt['wall_median_s']:.2f} |",
        f"| … dbt's own elapsed time (run_results.json) | {dbt['dbt_elapsed_median_s']:.2f} |",
        "",
        f"p50 ÷ bare dbt build: **{lat['p50_to_dbt']:.2f}×** (÷ dbt's own elapsed time: "
        f"{lat['p50_s'] / dbt['dbt_elapsed_median_s']:.2f}×). The bare build runs on the warehouse all "
        f"{lat['drops']} drops left, the p50 drop saw about half of it; like for like, the last drop ÷ bare dbt "
        f"build is **{lat['last_to_dbt']:.2f}×**.",
    ]


def _chain_md(chain: dict) -> list[str]:
    stages = chain["stage_seconds"]
    lines = [
        "",
        f"### Whole chain on {chain['rows']:,} chats",
        "",
        f"`run_pending` in a process of its own, fresh warehouse: categories first, then the chats file, timed "
        f"from file to exports; medians of {chain['chain_repeats']} chain and {chain['bare_repeats']} bare runs; "
        "peak RSS of the whole chain process.",
        "",
        "| | seconds | peak RSS MB |",
        "|---|---:|---:|",
        f"| whole chain ({'ok' if chain['ok'] else 'FAILED: ' + chain['error']}) | {chain['chain_seconds']:.1f} | "
        f"{_mb(chain['chain_peak_rss_bytes'])} |",
        f"| bare load | {chain['bare_seconds_median']:.1f} | {_mb(chain['bare_peak_rss_bytes'])} |",
        "",
        f"chain ÷ bare load: **{chain['chain_to_bare']:.1f}×**; stages (s): "
        + ", ".join(f"{name} {_f(stages.get(name))}" for name in STAGES),
    ]
    return lines


def _scaling_md(sc: dict, png: str | None) -> list[str]:
    lines = [
        "## 4. Scaling of the whole chain",
        "",
        f"`run_pending` for categories + chats in a fresh warehouse, own process, {sc['repeats']} run(s) per size "
        "(median).",
        "",
        "| chats | status | seconds | peak RSS MB | ingest | gate | dbt | redact | export |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sc["points"]:
        s = p["chats_stage_seconds"]
        lines.append(
            f"| {p['chats']:,} | {'ok' if p['ok'] else 'FAILED'} | {p['seconds']:.1f} | {_mb(p['peak_rss_bytes'])} | "
            + " | ".join(_f(s.get(name)) for name in STAGES)
            + " |"
        )
    for p in sc["points"]:
        if not p["ok"]:
            lines += ["", f"{p['chats']:,} chats failed: {p['error']}"]
    smallest = f"{sc['points'][0]['chats']:,}"
    lines += [
        "",
        f"Exponent of time vs rows (least squares on log-log): all successful points "
        f"{_f(sc['exponent_all'])}; {sc['upper_label']} {_f(sc['exponent_upper'])} — the latter is the target "
        f"figure: at {smallest} chats fixed costs (interpreter and imports, dbt parse, two dbt builds, Soda) "
        "are most of the time, which flattens a fit through that point."
        + (f" Note: {sc['fit_note']}." if sc.get("fit_note") else ""),
        f"Exponent of peak RSS vs rows ({sc['upper_label']}): {_f(sc['rss_exponent_upper'])}.",
    ]
    ok = [p for p in sc["points"] if p["ok"]]
    if len(ok) >= 2:
        top, below = ok[-1], ok[-2]
        lines[-1:-1] = [
            f"Between the two largest successful sizes ({below['chats']:,} → {top['chats']:,}) the time "
            f"grows as rows^{loglog_fit([below['chats'], top['chats']], [below['seconds'], top['seconds']])[0]:.2f}: "
            "fixed costs matter less as files grow, so at the top the chain is close to linear."
        ]
    if png:
        lines += ["", f"![scaling]({png})"]
    return lines


def _redaction_md(red: dict) -> list[str]:
    gen = red["generator"]
    scan_rate = gen["messages"] / gen["scan_seconds"]
    lines = [
        "## 5. Redaction",
        "",
        f"`python -m bench.redaction --messages {gen['messages']}`: median of {red['repeats']} runs, "
        f"DuckDB threads {gen['threads']}.",
        "",
        "| | messages/s |",
        "|---|---:|",
        f"| SQL redaction (the Redact stage) | {gen['sql_msgs_per_s']:,.0f} |",
        f"| plain scan of the column | {scan_rate:,.0f} |",
        f"| Python `re` | {gen['python_msgs_per_s']:,.0f} |",
        "",
        f"SQL is {gen['sql_speedup_vs_python']:.1f}× Python `re` and {gen['sql_to_scan_ratio']:.1f}× slower than "
        "the plain scan.",
        "",
        "| type | precision (generated) | recall (generated) | precision (cases) | recall (cases) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, q in gen["quality"].items():
        c = red["cases"]["quality"][name]
        lines.append(
            f"| {name} | {q['precision']:.4f} | {q['recall']:.4f} | {c['precision']:.4f} | {c['recall']:.4f} |"
        )
    if red.get("independent"):
        lines += ["", *_independent_md(red["independent"])]
    return lines


#: Presidio (analyzer + anonymizer 2.2.366, spaCy en_core_web_sm 3.8) on the same 4,000 messages,
#: default recognisers, measured by ``bench/pii_eval/presidio_ref.py`` in its own venv (see its
#: README); not re-run by ``make bench``, which cannot install spaCy's model offline in the run.
PRESIDIO_REFERENCE = {
    "pii_recall": 0.746,
    "decoy_intact_rate": 0.423,
    "clean_unchanged_rate": 0.160,
    "msgs_per_s": 97.2,
}


def _independent_md(ind: dict) -> list[str]:
    """The independent evaluation set (``bench/pii_eval``): per type, next to Presidio's figures."""
    ref = PRESIDIO_REFERENCE
    lines = [
        f"Independent set ({ind['messages']:,} messages, `bench/pii_eval`, written without the patterns):",
        "",
        "| figure | pipeline | Presidio (reference) | target |",
        "|---|---:|---:|---|",
        f"| PII recall | {ind['pii_recall']:.3f} | {ref['pii_recall']:.3f} | ≥ 0.97 |",
        f"| decoys intact | {ind['decoy_intact_rate']:.3f} | {ref['decoy_intact_rate']:.3f} | ≥ 0.98 |",
        f"| messages without PII unchanged | {ind['clean_unchanged_rate']:.3f} | {ref['clean_unchanged_rate']:.3f} "
        "| ≥ 0.98 |",
        f"| messages/s | {ind['msgs_per_s']:,.0f} | {ref['msgs_per_s']:,.1f} | ≥ 100,000 and ≥ 2,000× Presidio |",
        "",
        "| type | n | recall |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {t['n']} | {t['recall']:.3f} |" for name, t in sorted(ind["pii"].items())]
    return lines


def _burst_md(w: dict) -> list[str]:
    return [
        "## 6. Watcher: pickup and burst",
        "",
        f"Pickup latency (file closed → batch queued) over {w['files']} tiny files, settle {w['settle_seconds']:g} s: "
        f"p50 {w['pickup_p50_s']:.2f} s, p95 {w['pickup_p95_s']:.2f} s; one file end to end (median) "
        f"{w['single_file_end_to_end_median_s']:.2f} s.",
        f"Burst of {w['burst_files']} files dropped at once: {w['burst_seconds']:.1f} s = "
        f"{w['burst_vs_serial']:.2f} × ({w['burst_files']} × one file); dbt builds in the whole section: "
        f"{w['dbt_builds_total']}.",
    ]


def render(report: dict, png: str | None = None) -> str:
    """The Markdown report; ``png`` is the scaling plot's file name, linked from the scaling section."""
    load = ", ".join(f"{name} {value:.1f}" for name, value in report["load_average"].items())
    lines = [
        f"# Benchmark {report['started_at']}",
        "",
        f"machine: {report['machine']}; total {report['total_seconds'] / 60:.1f} min",
        "",
        f"1-minute load average after each section (2 cores; above ~1.5 means other work shared the machine): {load}",
        "",
    ]
    lines += _targets_md(report)
    for section, error in report["errors"].items():
        lines += ["", f"**Section {section} failed:** {error}"]
    if report.get("ingest"):
        lines += ["", *_ingest_md(report)]
    if report.get("reference"):
        lines += ["", *_reference_md(report["reference"])]
    if report.get("latency"):
        lines += ["", *_latency_md(report["latency"])]
    if report.get("chain"):
        lines += ([] if report.get("latency") else ["", "## 3. Whole chain"]) + _chain_md(report["chain"])
    if report.get("scaling"):
        lines += ["", *_scaling_md(report["scaling"], png)]
    if report.get("redaction"):
        lines += ["", *_redaction_md(report["redaction"])]
    if report.get("burst"):
        lines += ["", *_burst_md(report["burst"])]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- PNG
def _short(n: float) -> str:
    """10000 → 10k, 5000000 → 5M (axis labels)."""
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k" if n >= 1e3 else f"{n:g}"


def _minor_label(decades: float):
    """Label every minor tick of an axis spanning under a decade, only 2× and 5× ticks up to 2.5 decades."""

    def label(value: float, _position: int) -> str:
        lead = round(value / 10 ** math.floor(math.log10(value)))
        return f"{value:g}" if decades < 1 or (decades < 2.5 and lead in (2, 5)) else ""

    return label


def plot_scaling(scaling: dict, path: Path) -> Path:
    """Wall time and peak RSS against rows on log-log axes, with the fitted power laws.

    (Long: matplotlib set-up of two axes; matplotlib is imported here, only bench plots need it.)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    points = scaling["points"]
    fig, (ax_time, ax_rss) = plt.subplots(1, 2, figsize=(11, 4.5))
    panels = (
        (ax_time, "seconds", 1, "wall seconds", "{:.1f} s"),
        (ax_rss, "peak_rss_bytes", MIB, "peak RSS (MiB)", "{:,.0f}"),
    )
    for ax, key, scale, label, fmt in panels:
        for ok, marker, color, legend in (
            (True, "o", "tab:blue", "measured"),
            (False, "x", "tab:red", "failed (until the failure)"),
        ):
            chosen = [p for p in points if p["ok"] is ok and p[key] is not None]
            if chosen:
                ax.loglog(
                    [p["chats"] for p in chosen],
                    [p[key] / scale for p in chosen],
                    marker,
                    color=color,
                    markersize=8,
                    label=legend,
                )
            for p in chosen:
                ax.annotate(
                    fmt.format(p[key] / scale),
                    (p["chats"], p[key] / scale),
                    textcoords="offset points",
                    xytext=(6, -12),
                    fontsize=8,
                )
        ax.margins(x=0.12, y=0.12)
        ax.set_xlabel("chats (rows)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    for ax, fit_key, scale, style, name, what in (
        (ax_time, "fit_all", 1, ":", "all points", "time"),
        (ax_time, "fit_upper", 1, "--", scaling["upper_label"], "time"),
        (ax_rss, "rss_fit_upper", MIB, "--", scaling["upper_label"], "RSS"),
    ):
        fit = scaling.get(fit_key)
        if fit:
            xs = [fit["from"], fit["to"]]
            ax.loglog(
                xs,
                [fit["coefficient"] * x ** fit["exponent"] / scale for x in xs],
                style,
                color="tab:gray",
                label=f"fit {name}: {what} ∝ rows^{fit['exponent']:.2f}",
            )
    for ax in (ax_time, ax_rss):
        low, high = ax.get_ylim()
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label(math.log10(high / low))))
    ax_time.set_title("whole chain: wall time")
    ax_rss.set_title("whole chain: peak RSS")
    ax_time.legend(fontsize=8)
    ax_rss.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
