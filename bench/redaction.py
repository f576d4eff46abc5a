"""Quality and throughput of PII redaction: DuckDB SQL path vs. pure-Python ``re``.

``python -m bench.redaction`` builds N synthetic chat messages (~20 %
with PII, many of the rest with harmless numbers: order numbers, prices, times,
dates, versions) and prints :func:`measure`'s report as JSON.
"""

from __future__ import annotations

import csv
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence

import duckdb

from pipeline import logs
from pipeline.privacy import patterns as pii

Truth = tuple[int, str, str]  # (message_index, type name, value)

_WORDS = (
    "hi",
    "thanks",
    "my",
    "order",
    "still",
    "has",
    "not",
    "arrived",
    "can",
    "you",
    "check",
    "please",
    "the",
    "app",
    "crashes",
    "when",
    "I",
    "log",
    "in",
    "refund",
    "café",
    "naïve",
    "😀",
    "東京",
    "ok",
    "great",
    "help",
    "account",
    "password",
    "reset",
    "delivery",
    "today",
)
_STREETS = (
    "Smith Street",
    "King St",
    "George St",
    "Collins Street",
    "Pitt St",
    "Chapel Rd",
    "Beach Road",
    "Ocean Parade",
    "Hill Avenue",
    "Park Lane",
    "St Kilda Rd",
)


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if pii.luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


def _tfn(rng: random.Random) -> str:
    while True:
        digits = f"{rng.randrange(10**8, 10**9)}"
        if pii.tfn_ok(digits):
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _pii_value(kind: str, rng: random.Random) -> str:
    if kind == "email":
        return f"{rng.choice(['jo', 'sam.lee', 'a.b+tag', 'kim_99'])}{rng.randrange(1000)}@{rng.choice(['gmail.com', 'mail.ex.com.au', 'corp.io'])}"
    if kind == "phone":
        n = f"{rng.randrange(10**7, 10**8)}"
        return rng.choice(
            [
                f"04{n[:2]} {n[2:5]} {n[5:]}",
                f"04{n}",
                f"+61 4{n[:2]} {n[2:5]} {n[5:]}",
                f"(02) {n[:4]} {n[4:]}",
                f"03-{n[:4]}-{n[4:]}",
            ]
        )
    if kind == "card":
        d = _luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        return rng.choice([d, f"{d[:4]} {d[4:8]} {d[8:12]} {d[12:]}", f"{d[:4]}-{d[4:8]}-{d[8:12]}-{d[12:]}"])
    if kind == "tfn":
        return _tfn(rng)
    if kind == "ipv4":
        return ".".join(str(rng.randrange(256)) for _ in range(4))
    return f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}"


def _harmless(rng: random.Random) -> str:
    return rng.choice(
        [
            f"order #{rng.randrange(10**7, 10**8)}",
            f"${rng.randrange(1, 5000):,}.{rng.randrange(100):02d}",
            f"at {rng.randrange(24)}:{rng.randrange(60):02d}",
            f"on 2023-0{rng.randrange(1, 10)}-1{rng.randrange(10)}",
            f"v{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}",
            f"REF {rng.randrange(10**7, 10**8)}",
            f"{rng.randrange(2, 9)} days",
            "no numbers here",
        ]
    )


def synthetic_messages(n: int, pii_share: float = 0.2, seed: int = 7) -> tuple[list[str], list[Truth]]:
    """``n`` messages and their ground truth; ``pii_share`` of them carry 1-2 PII values."""
    rng = random.Random(seed)
    kinds = ("email", "phone", "card", "tfn", "ipv4", "street_address")
    messages: list[str] = []
    truth: list[Truth] = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(4, 14)))
        if rng.random() < pii_share:
            parts = [words]
            for _ in range(rng.choice((1, 1, 1, 2))):
                kind = rng.choice(kinds)
                value = _pii_value(kind, rng)
                truth.append((i, kind, value))
                parts.append(value)
                parts.append(rng.choice(("thanks", "ok?", "cheers 😀", "asap")))
            messages.append(" ".join(parts))
        elif rng.random() < 0.5:
            messages.append(f"{words} {_harmless(rng)} {rng.choice(_WORDS)}")
        else:
            messages.append(words)
    return messages, truth


def load_messages(con: duckdb.DuckDBPyConnection, messages: Sequence[str], table: str = "bench_messages") -> str:
    """Load ``messages`` into ``table(message_index, message)`` via a temporary CSV (no pandas)."""
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(("message_index", "message"))
            writer.writerows(enumerate(messages))
        con.execute(
            f"create or replace table {table} as select * from read_csv(?, header = true, "
            "columns = {'message_index': 'BIGINT', 'message': 'VARCHAR'}, quote = '\"', escape = '\"')",
            [path],
        )
    finally:
        os.unlink(path)
    return table


def quality(outputs: Sequence[str | None], truth: Sequence[Truth], n: int) -> dict[str, dict[str, float]]:
    """Per-type precision/recall: per message, TP = min(#placeholders, #true values) of the type."""
    true_counts: Counter[tuple[int, str]] = Counter((i, t) for i, t, _ in truth)
    pred_counts: Counter[tuple[int, str]] = Counter()
    for i, out in enumerate(outputs[:n]):
        if out and "[" in out:
            for placeholder, name in pii.PLACEHOLDERS.items():
                c = out.count(placeholder)
                if c:
                    pred_counts[(i, name)] += c
    report: dict[str, dict[str, float]] = {}
    for p in pii.PATTERNS:
        tp = fp = fn = 0
        for key in set(true_counts) | set(pred_counts):
            if key[1] != p.name:
                continue
            t, q = true_counts.get(key, 0), pred_counts.get(key, 0)
            tp += min(t, q)
            fp += max(q - t, 0)
            fn += max(t - q, 0)
        report[p.name] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0,
        }
    return report


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    con: duckdb.DuckDBPyConnection | None,
    messages: Sequence[str] | str,
    truth: Sequence[Truth] | None = None,
    *,
    column: str = "message",
    repeats: int = 3,
    python: bool = True,
) -> dict:
    """Quality (if ``truth`` is given) and throughput of :func:`pii.redact_sql`.

    ``messages`` is a list of strings (loaded into a temp table) or the name of an
    existing table with ``column``. Timings are medians of ``repeats`` runs in the
    same connection: the SQL redaction, a plain ``sum(length(col))`` scan of the
    same column, and (``python=True``) :func:`pii.redact_python` over the same messages.
    """
    con = con or duckdb.connect()
    pii.install_macros(con)
    if isinstance(messages, str):
        table = messages
        texts: list[str] = [r[0] for r in con.execute(f"select {column} from {table} order by rowid").fetchall()]
    else:
        texts = list(messages)
        table = load_messages(con, texts)
        column = "message"
    n = len(texts)
    redact = pii.redact_sql(column)
    sql_seconds = _median_time(lambda: con.execute(f"select sum(length({redact})) from {table}").fetchall(), repeats)
    scan_seconds = _median_time(lambda: con.execute(f"select sum(length({column})) from {table}").fetchall(), repeats)
    report: dict = {
        "messages": n,
        "threads": con.execute("select current_setting('threads')").fetchone()[0],
        "sql_seconds": sql_seconds,
        "sql_msgs_per_s": n / sql_seconds,
        "scan_seconds": scan_seconds,
        "sql_to_scan_ratio": sql_seconds / scan_seconds if scan_seconds else None,
    }
    if python:
        py_seconds = _median_time(lambda: [pii.redact_python(t) for t in texts], repeats)
        report.update(
            python_seconds=py_seconds, python_msgs_per_s=n / py_seconds, sql_speedup_vs_python=py_seconds / sql_seconds
        )
    if truth is not None:
        outputs = [r[0] for r in con.execute(f"select {redact} from {table} order by rowid").fetchall()]
        report["quality"] = quality(outputs, truth, n)
    return report


def generator_set(n: int, seed: int = 11) -> tuple[list[str], list[Truth]]:
    """Messages of ``n`` generated chats and the generator's PII ground truth for them."""
    import shutil
    from pathlib import Path

    from pipeline.generate import generate

    folder = Path(tempfile.mkdtemp(prefix="bench-redaction-"))
    try:
        generate(folder, chats=n, categories=60, seed=seed, defect_rate=0.0, messages=True)
        con = duckdb.connect()
        rows = con.execute(
            "select id, message from read_csv(?, header = true, all_varchar = true) order by id",
            [str(folder / "chats.csv")],
        ).fetchall()
        index = {chat_id: i for i, (chat_id, _) in enumerate(rows)}
        truth: list[Truth] = []
        with open(folder / "pii_truth.jsonl") as fh:
            for line in fh:
                item = json.loads(line)
                truth.append((index[item["chat_id"]], item["type"], item["value"]))
        return [m or "" for _, m in rows], truth
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cases_set(path: str) -> tuple[list[str], list[Truth], list[str]]:
    """The hand-written cases: texts, truth derived from the expected placeholders, expected outputs."""
    texts, expected, truth = [], [], []
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            texts.append(row["text"])
            expected.append(row["expected"])
            for placeholder, name in pii.PLACEHOLDERS.items():
                truth += [(i, name, placeholder)] * row["expected"].count(placeholder)
    return texts, truth, expected


def report(n: int = 200_000, cases_path: str | None = None, repeats: int = 3) -> dict:
    """Recall/precision per type on the generator's ground truth and on the tricky cases, plus throughput."""
    from pathlib import Path

    cases_path = cases_path or str(Path(__file__).resolve().parent.parent / "tests" / "data" / "pii_cases.csv")
    messages, truth = generator_set(n)
    generated = measure(None, messages, truth, repeats=repeats)
    texts, case_truth, expected = cases_set(cases_path)
    cases = measure(None, texts, case_truth, repeats=1, python=False)
    return {
        "generator": generated,
        "cases": {"cases": len(texts), "quality": cases["quality"]},
        "independent": independent_set(repeats=repeats),
    }


def redact_texts(texts: Sequence[str]) -> list[str]:
    """The pipeline's SQL redaction over a list of texts (one DuckDB table, one query)."""
    con = duckdb.connect()
    try:
        pii.install_macros(con)
        table = load_messages(con, texts)
        query = f"select {pii.redact_sql('message')} from {table} order by message_index"
        return [r[0] for r in con.execute(query).fetchall()]
    finally:
        con.close()


#: The development split of the independent set (misses may be read while improving the patterns)
#: and the held-out split (same spec, another seed; only its totals are ever looked at).
DEV_SEED = 20261201
HELD_OUT_SEED = 20270415
#: Messages in the throughput run: two DuckDB row groups (122,880 rows each), so both threads work.
THROUGHPUT_MESSAGES = 245_760


def steady_throughput(
    texts: Sequence[str], n: int = THROUGHPUT_MESSAGES, repeats: int = 3, threads: int = 2, shape: str = "query"
) -> dict:
    """Redaction throughput of the stage's SQL over ``n`` messages (``texts`` repeated), in one
    connection with the table loaded: medians of ``repeats`` timed queries, and a plain scan of
    the same column in the same run. No per-call set-up (connect, load, compile) is included.

    ``shape="query"`` times the stage's layered query (:func:`pii.redact_query`), ``"expression"``
    the single expression (:func:`pii.redact_sql`, used for quarantine lines); same output.
    ``cpu_seconds`` is this process's CPU time for the median query (both threads)."""
    rows = (list(texts) * (n // len(texts) + 1))[:n]
    con = duckdb.connect()
    try:
        con.execute(f"set threads = {int(threads)}")
        pii.install_macros(con)
        table = load_messages(con, rows)
        if shape == "query":
            query = f"select sum(length(message)) from ({pii.redact_query(table, ['message'])})"
        else:
            query = f"select sum(length({pii.redact_sql('message')})) from {table}"
        con.execute(query).fetchall()  # warm-up: regex compilation, gazetteer alternations
        timings = []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            con.execute(query).fetchall()
            timings.append((time.perf_counter() - wall, time.process_time() - cpu))
        seconds, cpu_seconds = sorted(timings)[len(timings) // 2]
        scan = _median_time(lambda: con.execute(f"select sum(length(message)) from {table}").fetchall(), repeats)
    finally:
        con.close()
    return {
        "messages": n,
        "threads": threads,
        "shape": shape,
        "seconds": seconds,
        "msgs_per_s": n / seconds,
        "cpu_seconds": cpu_seconds,
        "msgs_per_cpu_s": n / cpu_seconds,
        "scan_seconds": scan,
    }


def independent_set(repeats: int = 3, throughput_messages: int = THROUGHPUT_MESSAGES) -> dict:
    """Scores on the independent evaluation set (``bench/pii_eval``, 4,000 messages per split: the
    development seed and a held-out seed) and the redaction's throughput on its messages.

    ``msgs_per_s`` is the steady throughput of the stage's SQL (:func:`steady_throughput`);
    ``small_batch_msgs_per_s`` times :func:`redact_texts` on the 4,000 messages alone, which is
    mostly the per-call set-up (connect, load, compile)."""
    from bench.pii_eval import corpus, score

    messages = corpus.build(n=4000, seed=DEV_SEED)
    texts = [m.text for m in messages]
    small = _median_time(lambda: redact_texts(texts), repeats)
    result = score.score_outputs(messages, redact_texts(texts))
    held_out = corpus.build(n=4000, seed=HELD_OUT_SEED)
    held = score.score_outputs(held_out, redact_texts([m.text for m in held_out]))
    steady = steady_throughput(texts, throughput_messages, repeats)
    return {
        "messages": len(texts),
        "seed": DEV_SEED,
        "msgs_per_s": steady["msgs_per_s"],
        "throughput": steady,
        "small_batch_msgs_per_s": len(texts) / small,
        **result,
        "held_out": {"seed": HELD_OUT_SEED, **held},
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.redaction [--messages N] [--repeats R]``: the report as JSON on stdout."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.redaction", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="generated messages to measure")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats; the median is reported")
    args = parser.parse_args(argv)
    logs.configure("WARNING", json=True)  # log lines on stderr: stdout is the report
    print(json.dumps(report(n=args.messages, repeats=args.repeats), indent=2))


if __name__ == "__main__":
    main()
