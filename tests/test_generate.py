"""Tests for the synthetic data generator: determinism, quirk shares, exact defect counts, PII truth."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from structlog.testing import capture_logs

from pipeline.generate import CATEGORY_REASON_CODES, CHAT_REASON_CODES, generate, luhn_ok

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BOOLS = {"true", "false", "t", "f", "1", "0", "yes", "no", "TRUE", "FALSE"}
CHAT_COLS = ["id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at", "message"]
CAT_COLS = ["id", "parent_id", "disabled"]


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def parse_ts(value: str) -> datetime | None:
    """UTC naive datetime for the accepted timestamp forms, None when unparsable."""
    try:
        if "T" in value:
            ts = datetime.fromisoformat(value)
            return ts.astimezone(timezone.utc).replace(tzinfo=None)
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return None


def id_problem(rid: str, seen: set[str]) -> str | None:
    """The id checks both datasets share; a valid id is remembered in ``seen``."""
    if rid == "":
        return "missing_id"
    if not UUID_RE.match(rid):
        return "invalid_id"
    if rid in seen:
        return "duplicate_id_in_file"
    seen.add(rid)
    return None


def classify_chat(row: list[str], ncols: int, seen: set[str]) -> str | None:
    """Independent re-implementation of the chat reason codes (each defective row has one problem)."""
    if len(row) != ncols or any("\ufffd" in v for v in row):
        return "malformed_row"
    rid, cat, created, init, resolved = row[:5]
    if problem := id_problem(rid, seen):
        return problem
    if created == "":
        return "missing_created_at"
    c, r = parse_ts(created), parse_ts(resolved) if resolved else None
    if c is None or (resolved and r is None):
        return "invalid_timestamp"
    if r is not None and r < c:
        return "resolved_before_created"
    if init not in BOOLS | {""}:
        return "invalid_boolean"
    if cat and not UUID_RE.match(cat):
        return "invalid_category_id"
    return None


def classify_category(row: list[str], seen: set[str]) -> str | None:
    if len(row) != 3 or any("\ufffd" in v for v in row):
        return "malformed_row"
    rid, parent, disabled = row
    if problem := id_problem(rid, seen):
        return problem
    if disabled not in BOOLS | {""}:
        return "invalid_boolean"
    if parent and parent.lower() != "null" and not UUID_RE.match(parent):
        return "invalid_category_id"
    if parent == rid:
        return "self_parent"
    return None


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean")
    return out, generate(out, chats=20_000, seed=42)


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("defective")
    return out, generate(out, chats=20_000, seed=7, defect_rate=0.05)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    names = ["categories.csv", "chats.csv", "pii_truth.jsonl", "manifest.json"]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, chats=5_000, seed=3, defect_rate=0.05)
    generate(b, chats=5_000, seed=3, defect_rate=0.05)
    generate(c, chats=5_000, seed=4, defect_rate=0.05)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ["categories.csv", "chats.csv", "pii_truth.jsonl"]:
        assert (a / name).read_bytes() != (c / name).read_bytes(), name


#: sha256 of ``generate(out, chats=6_000, categories=460, seed=11, defect_rate=0.05, messages=True)``
#: as written by commit 4e9f120 on DuckDB 1.0.0. DuckDB 1.1 changed ``hash()`` and 1.4 quotes values
#: holding ``#`` in COPY; a generated file must not change with the DuckDB version.
DUCKDB_1_0_DIGESTS = {
    "categories.csv": "d725d95f3ca4511850ab8d0c479d5dd3120c056a0912502e6ca8d19be069fdf7",
    "chats.csv": "41e17242034cb7e5f590a983d6942a87c582782fb91776812047a78a355ec27d",
    "manifest.json": "722810bce2e1855ab4e13947afc857c23c22c10636247954b3cc166a81378b63",
    "pii_truth.jsonl": "e52373f30ff0a27d83de1c3472a6e89fb3c1b80ba9bfc1f11972b3da1e82a9de",
}


def test_output_bytes_are_those_duckdb_1_0_wrote(tmp_path: Path) -> None:
    generate(tmp_path, chats=6_000, categories=460, seed=11, defect_rate=0.05, messages=True)
    digests = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in DUCKDB_1_0_DIGESTS}
    assert digests == DUCKDB_1_0_DIGESTS


def test_output_does_not_depend_on_thread_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate(tmp_path / "parallel", chats=300_000, seed=11, defect_rate=0.01)
    real_connect = duckdb.connect

    def single_threaded(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        con = real_connect(*args, **kwargs)
        con.execute("set threads = 1")
        return con

    monkeypatch.setattr("pipeline.generate.duckdb.connect", single_threaded)
    generate(tmp_path / "serial", chats=300_000, seed=11, defect_rate=0.01)
    for name in ["chats.csv", "pii_truth.jsonl", "manifest.json"]:
        assert (tmp_path / "parallel" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def test_only_expected_files_are_written(clean: tuple[Path, dict]) -> None:
    out, manifest = clean
    assert sorted(p.name for p in out.iterdir()) == ["categories.csv", "chats.csv", "manifest.json", "pii_truth.jsonl"]
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_no_messages_variant(tmp_path: Path) -> None:
    manifest = generate(tmp_path, chats=2_000, messages=False, defect_rate=0.05)
    header, rows = read_rows(tmp_path / "chats.csv")
    assert header == CHAT_COLS[:5]
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["categories.csv", "chats.csv"]
    assert not (tmp_path / "pii_truth.jsonl").exists() and manifest["pii"] is None
    seen: set[str] = set()
    got = Counter(classify_chat(r, 5, seen) for r in rows)
    got.pop(None)
    assert dict(got) == {k: v for k, v in manifest["files"]["chats"]["defects"].items() if v}


def test_categories_shape(clean: tuple[Path, dict]) -> None:
    out, manifest = clean
    header, rows = read_rows(out / "categories.csv")
    assert header == CAT_COLS
    assert len(rows) == 460 == manifest["files"]["categories"]["rows"]
    parent = {r[0]: r[1] for r in rows}
    roots = [i for i, p in parent.items() if p == "" or p.lower() == "null"]
    assert len(roots) == 136 == manifest["stats"]["categories_roots"]
    nulls = [p for p in parent.values() if p.lower() == "null"]
    assert "null" in nulls and len(nulls) == manifest["stats"]["categories_null_literal"]

    def depth(cid: str) -> int:
        p = parent[cid]
        return 1 if p == "" or p.lower() == "null" else 1 + depth(p)

    assert Counter(depth(c) for c in parent).keys() == {1, 2, 3, 4}
    disabled = Counter(r[2] for r in rows)
    assert set(disabled) <= BOOLS | {""}
    assert 1 <= disabled[""] < 10 and disabled[""] == manifest["stats"]["categories_disabled_empty"]
    true_share = sum(v for k, v in disabled.items() if k in {"true", "t", "1", "yes", "TRUE"}) / len(rows)
    assert 0.05 < true_share < 0.16
    assert len(disabled) > 4  # varied spellings


def test_chat_quirk_shares(clean: tuple[Path, dict]) -> None:
    out, manifest = clean
    header, rows = read_rows(out / "chats.csv")
    assert header == CHAT_COLS
    n = len(rows)
    assert n == 20_000 == manifest["files"]["chats"]["valid_rows"]
    category_ids = {r[0] for r in read_rows(out / "categories.csv")[1]}
    ids = [r[0] for r in rows]
    assert len(set(ids)) == n and all(UUID_RE.match(i) for i in ids)
    no_cat = sum(r[1] == "" for r in rows)
    assert 0.007 < no_cat / n < 0.02 and no_cat == manifest["stats"]["chats_without_category"]
    assert all(r[1] in category_ids for r in rows if r[1])
    init = Counter(r[3] for r in rows)
    assert set(init) == {"", "true", "false"} and init[""] == manifest["stats"]["chats_initiator_empty"]
    assert 0.22 < init[""] / n < 0.28
    assert 0.66 < init["true"] / (init["true"] + init["false"]) < 0.74
    unresolved = sum(r[4] == "" for r in rows)
    assert 0.06 < unresolved / n < 0.09 and unresolved == manifest["stats"]["chats_unresolved"]

    iso_z = [r[2] for r in rows if r[2].endswith("Z")]
    iso_off = [r[2] for r in rows if re.search(r"[+-]\d\d:\d\d$", r[2])]
    assert 0.005 < len(iso_z) / n < 0.02 and 0.005 < len(iso_off) / n < 0.02
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", r[2])
        for r in rows
        if not r[2].endswith("Z") and r[2] not in iso_off
    )
    created = [parse_ts(r[2]) for r in rows]
    assert all(c is not None and c.year == 2023 for c in created)
    durations = [(parse_ts(r[4]) - c).total_seconds() for r, c in zip(rows, created) if r[4]]
    assert min(durations) >= 0 and max(durations) <= 86_400
    assert sorted(durations)[len(durations) // 2] < 3_600  # skewed to short chats
    business = sum(c.hour >= 22 or c.hour < 8 for c in created) / n
    assert business > 0.6
    weekday = Counter(c.weekday() for c in created)
    assert weekday[2] > weekday[6] * 1.3
    # an offset timestamp denotes the same instant as its plain form would
    assert datetime.fromisoformat("2023-03-05T04:02:57.660+11:00").astimezone(timezone.utc).replace(
        tzinfo=None
    ) == parse_ts("2023-03-04 17:02:57.660")


def test_messages_and_pii_truth(clean: tuple[Path, dict]) -> None:
    out, manifest = clean
    _, rows = read_rows(out / "chats.csv")
    assert all("\n" not in r[5] and "\r" not in r[5] for r in rows)
    assert any('"' in r[5] for r in rows) and any("," in r[5] for r in rows)
    truth = [json.loads(line) for line in (out / "pii_truth.jsonl").read_text().splitlines()]
    assert len(truth) == manifest["pii"]["values"]
    assert Counter(t["type"] for t in truth) == manifest["pii"]["by_type"]
    for t in truth:
        row = rows[t["line_number"] - 2]
        assert row[0] == t["chat_id"] and t["value"] in row[5] and t["row_valid"] is True
    share = len({t["line_number"] for t in truth}) / len(rows)
    assert 0.17 < share < 0.23
    cards = [t["value"] for t in truth if t["type"] == "card"]
    assert cards and all(luhn_ok(c) for c in cards)
    assert Counter(len(re.sub(r"\D", "", c)) for c in cards).most_common(1)[0][0] == 16
    assert {len(re.sub(r"\D", "", c)) for c in cards} >= {13, 15, 16, 19}
    phones = {t["value"] for t in truth if t["type"] == "phone"}
    shapes = {re.sub(r"\d", "9", p) for p in phones}
    assert shapes >= {
        "9999 999 999",
        "9999999999",
        "+99 999 999 999",
        "+99999999999",
        "(99) 9999 9999",
        "99 9999 9999",
        "99-9999-9999",
        "9999.999.999",
    }
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z.]+", t["value"]) for t in truth if t["type"] == "email")
    # look-alikes: 16-digit numbers in messages that are not PII must fail Luhn
    values_by_line: dict[int, list[str]] = {}
    for t in truth:
        values_by_line.setdefault(t["line_number"], []).append(t["value"])
    lookalikes = []
    for line_number, r in enumerate(rows, start=2):
        text = r[5]
        for v in values_by_line.get(line_number, []):
            text = text.replace(v, " ")
        lookalikes += re.findall(r"(?<!\d)\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}(?!\d)", text)
    assert lookalikes and not any(luhn_ok(x) for x in lookalikes)
    assert any(re.search(r"#\d{8}", r[5]) for r in rows)


def test_defect_counts_are_exact(defective: tuple[Path, dict]) -> None:
    out, manifest = defective
    files = manifest["files"]
    for name, codes in (("chats", CHAT_REASON_CODES), ("categories", CATEGORY_REASON_CODES)):
        m = files[name]
        assert list(m["defects"]) == list(codes)
        assert all(v > 0 for v in m["defects"].values()), m["defects"]
        assert m["rows"] == m["valid_rows"] + sum(m["defects"].values())
    assert sum(files["chats"]["defects"].values()) == 1000  # 5 % of 20 000
    counts = Counter(files["chats"]["defects"].values())
    assert max(files["chats"]["defects"].values()) - min(files["chats"]["defects"].values()) <= 2, counts

    _, rows = read_rows(out / "chats.csv")
    assert len(rows) == files["chats"]["rows"]
    seen: set[str] = set()
    got = Counter(classify_chat(r, 6, seen) for r in rows)
    assert got.pop(None) == files["chats"]["valid_rows"]
    assert dict(got) == files["chats"]["defects"]

    _, rows = read_rows(out / "categories.csv")
    assert len(rows) == files["categories"]["rows"]
    seen = set()
    got = Counter(classify_category(r, seen) for r in rows)
    assert got.pop(None) == files["categories"]["valid_rows"]
    assert dict(got) == files["categories"]["defects"]


@pytest.mark.parametrize("name,columns", [("chats", CHAT_COLS), ("categories", CAT_COLS)])
def test_malformed_rows_are_single_duckdb_rejects(defective: tuple[Path, dict], name: str, columns: list[str]) -> None:
    """Kept to a ~4 MB file: DuckDB 1.0 dropped some ``reject_errors`` entries on files beyond
    ~8 MB. Delimiter, quote and escape are explicit: with ``auto_detect = false`` DuckDB 1.4's
    escape defaults to none, and ``""`` inside a quoted field no longer reads as a quote."""
    out, manifest = defective
    m = manifest["files"][name]
    con = duckdb.connect()
    cols = {c: "VARCHAR" for c in columns}
    con.execute(f"""create table good as select * from read_csv('{out / m["file"]}', header = true,
                    auto_detect = false, delim = ',', quote = '"', escape = '"', columns = {cols},
                    store_rejects = true)""")
    good = con.execute("select count(*) from good").fetchone()[0]
    rejects = con.execute("select count(*), count(distinct line) from reject_errors").fetchone()
    assert rejects == (m["defects"]["malformed_row"],) * 2
    assert good + rejects[0] == m["rows"]
    types = {t for (t,) in con.execute("select distinct error_type from reject_errors").fetchall()}
    assert types == {"INVALID ENCODING", "MISSING COLUMNS", "TOO MANY COLUMNS"}  # 1.0 said INVALID UNICODE


def test_pii_truth_marks_rows_of_defective_files(defective: tuple[Path, dict]) -> None:
    out, manifest = defective
    with open(out / "chats.csv", encoding="utf-8", errors="replace", newline="") as f:
        lines = f.read().split("\n")
    truth = [json.loads(line) for line in (out / "pii_truth.jsonl").read_text().splitlines()]
    assert truth and any(not t["row_valid"] for t in truth)
    for t in truth:
        assert t["value"] in lines[t["line_number"] - 1]


def test_one_summary_log_line(tmp_path: Path) -> None:
    with capture_logs() as logs:
        generate(tmp_path, chats=500, categories=60, defect_rate=0.1)
    summary = [e for e in logs if e["event"] == "generated"]
    assert len(summary) == 1
    assert summary[0]["chats"] == 500 and summary[0]["chat_defects"] == 50


def test_small_and_empty_inputs(tmp_path: Path) -> None:
    manifest = generate(tmp_path, chats=0, categories=10, messages=False)
    assert manifest["files"]["chats"]["rows"] == 0
    assert (tmp_path / "chats.csv").read_text() == "id,chat_category_id,created_at,is_customer_initiated,resolved_at\n"
    assert not list(tmp_path.glob(".*tmp*"))
