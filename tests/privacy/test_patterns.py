"""PII redaction: SQL path against hand-written cases, Python twin, check-digit macros, quality."""

from __future__ import annotations

import csv
import random
import re
from collections import Counter

import duckdb
import pytest

from bench.redaction import measure, synthetic_messages
from pipeline.privacy import patterns as pii
from tests.helpers import DATA

CASES_PATH = DATA / "pii_cases.csv"
CASES: list[dict[str, str]] = list(csv.DictReader(CASES_PATH.open(encoding="utf-8", newline="")))
PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in pii.PLACEHOLDERS))


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    pii.install_macros(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def sql_results(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every case redacted by one vectorised query over a real table."""
    con.execute("create or replace temp table pii_cases (case_id varchar, text varchar)")
    con.executemany("insert into pii_cases values (?, ?)", [(c["case_id"], c["text"]) for c in CASES])
    return dict(con.execute(f"select case_id, {pii.redact_sql('text')} from pii_cases").fetchall())


def _sql_one(con: duckdb.DuckDBPyConnection, text: str | None) -> str | None:
    return con.execute(f"select {pii.redact_sql('$1')}", [text]).fetchone()[0]


# --------------------------------------------------------------------------- cases file


def test_cases_file_is_big_enough_and_ids_unique() -> None:
    ids = [c["case_id"] for c in CASES]
    assert len(CASES) >= 220
    assert len(ids) == len(set(ids))
    assert all(set(c) == {"case_id", "text", "expected"} for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_redact_sql_case(case: dict[str, str], sql_results: dict[str, str]) -> None:
    assert sql_results[case["case_id"]] == case["expected"]


def test_redact_python_agrees_with_sql_on_all_cases(sql_results: dict[str, str]) -> None:
    mismatches = {
        c["case_id"]: (sql_results[c["case_id"]], pii.redact_python(c["text"]))
        for c in CASES
        if pii.redact_python(c["text"]) != sql_results[c["case_id"]]
    }
    assert mismatches == {}


def _counts(text: str) -> Counter[str]:
    return Counter(pii.PLACEHOLDERS[m] for m in PLACEHOLDER_RE.findall(text))


def _quality_on_cases(sql_results: dict[str, str]) -> dict[str, dict[str, float]]:
    tally: dict[str, Counter[str]] = {p.name: Counter() for p in pii.PATTERNS}
    for case in CASES:
        # Placeholders already in the input ("[EMAIL] already redacted") are not findings.
        before = _counts(case["text"])
        want, got = _counts(case["expected"]) - before, _counts(sql_results[case["case_id"]]) - before
        for name in tally:
            tp = min(want[name], got[name])
            tally[name].update(tp=tp, fp=got[name] - tp, fn=want[name] - tp)
    return {
        name: {
            "support": t["tp"] + t["fn"],
            "precision": t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 1.0,
            "recall": t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 1.0,
        }
        for name, t in tally.items()
    }


def test_precision_and_recall_per_type_on_cases(sql_results: dict[str, str]) -> None:
    quality = _quality_on_cases(sql_results)
    for name in ("email", "phone", "card"):
        assert quality[name]["support"] >= 30, (name, quality[name])
        assert quality[name]["recall"] >= 0.99, (name, quality[name])
        assert quality[name]["precision"] >= 0.98, (name, quality[name])
    for name in ("tfn", "ipv4", "street_address"):
        assert quality[name]["support"] >= 10, (name, quality[name])


# --------------------------------------------------------------------------- engines agree


def test_null_and_empty(con: duckdb.DuckDBPyConnection) -> None:
    assert _sql_one(con, None) is None
    assert _sql_one(con, "") == ""
    assert pii.redact_python(None) is None


def test_sql_and_python_agree_on_random_strings(con: duckdb.DuckDBPyConnection) -> None:
    """Fuzz: RE2 and Python ``re`` must give identical output for the same patterns."""
    rng = random.Random(20240611)
    alphabet = (
        list("0123456789") * 6
        + list(" .-+()/#$@,:_aZéx😀東\n\x1f")
        + ["St", "Street", "Smith ", "Rd", "04", "+61", "@ex.com", "jo", "4111", "1111 ", "255.", "VIC"]
    )
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(5000)]
    con.execute("create or replace temp table fuzz (i integer, t varchar)")
    con.executemany("insert into fuzz values (?, ?)", list(enumerate(texts)))
    rows = con.execute(f"select i, {pii.redact_sql('t')} from fuzz").fetchall()
    mismatches = [(texts[i], out, pii.redact_python(texts[i])) for i, out in rows if out != pii.redact_python(texts[i])]
    assert mismatches == []
    layered = dict(con.execute(f"select i, t from ({pii.redact_query('fuzz', ['t'])})").fetchall())
    assert [(texts[i], out, layered[i]) for i, out in rows if layered[i] != out] == []


def test_layered_query_agrees_with_the_expression(con: duckdb.DuckDBPyConnection, sql_results: dict[str, str]) -> None:
    """The stage's layered query (steps skipped where they cannot match) gives redact_sql's output,
    keeps the other columns and NULLs, and redacts several columns."""
    layered = dict(con.execute(f"select case_id, text from ({pii.redact_query('pii_cases', ['text'])})").fetchall())
    assert {k: v for k, v in layered.items() if v != sql_results[k]} == {}
    con.execute("create or replace temp table two (id integer, a varchar, b varchar)")
    rows = [(1, "Hi Tom, call 0412 345 678", "DOB 03/04/1985"), (2, None, "4111 1111 1111 1111"), (3, "ok", None)]
    con.executemany("insert into two values (?, ?, ?)", rows)
    got = con.execute(f"select * from ({pii.redact_query('two', ['a', 'b'])}) order by id").fetchall()
    assert got == [(i, pii.redact_python(a), pii.redact_python(b)) for i, a, b in rows]
    assert got[0] == (1, "Hi [NAME], call [PHONE]", "DOB [DOB]")


# --------------------------------------------------------------------------- check macros


def _luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if pii.luhn_ok(prefix + d))


def test_luhn_macro_matches_python(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(1)
    numbers = ["".join(rng.choice("0123456789") for _ in range(rng.randrange(13, 20))) for _ in range(3000)]
    numbers += [_luhn_complete(n[:-1]) for n in numbers[:1000]]  # make sure both outcomes occur
    got = dict(con.execute("select d, pii_luhn_ok(d) from unnest(?::varchar[]) t(d)", [numbers]).fetchall())
    assert got == {n: pii.luhn_ok(n) for n in numbers}
    assert sum(got.values()) >= 1000
    assert pii.luhn_ok("4111111111111111") and pii.luhn_ok("79927398713")
    assert not pii.luhn_ok("4111111111111112")


def test_luhn_macro_rejects_wrong_lengths(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("select pii_luhn_ok('79927398713'), pii_luhn_ok('4111111111111111')").fetchone() == (False, True)


def test_tfn_macro_matches_python(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(2)
    numbers = [f"{rng.randrange(10**9):09d}" for _ in range(5000)]
    got = dict(con.execute("select d, pii_tfn_ok(d) from unnest(?::varchar[]) t(d)", [numbers]).fetchall())
    assert got == {n: pii.tfn_ok(n) for n in numbers}
    assert 300 < sum(got.values()) < 700  # ~1 in 11 random numbers pass
    assert pii.tfn_ok("123456782") and not pii.tfn_ok("123456789")


def test_ipv4_macro_matches_python(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(3)
    candidates = [
        ".".join(str(rng.choice([rng.randrange(256), rng.randrange(1000)])) for _ in range(rng.choice([3, 4, 4, 5])))
        for _ in range(3000)
    ]
    got = dict(con.execute("select c, pii_ipv4_ok(c) from unnest(?::varchar[]) t(c)", [candidates]).fetchall())
    assert got == {c: pii.ipv4_ok(c) for c in candidates}


# --------------------------------------------------------------------------- API


def test_patterns_are_documented_and_compile(con: duckdb.DuckDBPyConnection) -> None:
    # Extended (was the first six only): URLs, handles, IPv6, ABN/ACN/Medicare and names are now detected.
    assert [p.name for p in pii.PATTERNS] == [
        "email",
        "phone",
        "card",
        "tfn",
        "ipv4",
        "street_address",
        "url_secret",
        "social_handle",
        "ipv6",
        "abn",
        "acn",
        "medicare",
        "person_name",
    ]
    assert [p.placeholder for p in pii.PATTERNS][:6] == ["[EMAIL]", "[PHONE]", "[CARD]", "[TFN]", "[IP]", "[ADDRESS]"]
    for p in pii.PATTERNS:
        assert "NOT matched" in p.description, p.name
        re.compile(p.regex)
        con.execute("select regexp_matches('x', ?)", [p.regex]).fetchone()  # RE2 accepts it


def test_find_pii_and_detect_sql(con: duckdb.DuckDBPyConnection) -> None:
    text = "jo@ex.com, 0412 345 678, card 4111 1111 1111 1111 123, tfn 123 456 782, ip 10.0.0.1, 12 Smith St"
    # Keyword-led values ("tfn 123 456 782") are now found by the rules pass, which runs first.
    assert pii.find_pii(text) == [
        ("tfn", "123 456 782"),
        ("email", "jo@ex.com"),
        ("phone", "0412 345 678"),
        ("card", "4111 1111 1111 1111"),
        ("ipv4", "10.0.0.1"),
        ("street_address", "12 Smith St"),
    ]
    assert con.execute(f"select {pii.detect_sql('$1')}", [text]).fetchone()[0] == [
        "email",
        "phone",
        "card",
        "tfn",
        "ipv4",
        "street_address",
    ]


def test_redact_sql_has_no_python_udf() -> None:
    sql = pii.redact_sql("message")
    assert "regexp_replace" in sql and "pii_classify" in sql
    assert "create_function" not in sql


def test_measure_reports_quality_and_throughput() -> None:
    messages, truth = synthetic_messages(3000, seed=11)
    report = measure(None, messages, truth, repeats=1)
    assert report["messages"] == 3000
    assert report["sql_msgs_per_s"] > 0 and report["python_msgs_per_s"] > 0 and report["sql_to_scan_ratio"] > 0
    for name in ("email", "phone", "card", "tfn", "ipv4", "street_address"):
        assert report["quality"][name]["recall"] >= 0.99, name
        assert report["quality"][name]["precision"] >= 0.98, name


def test_each_identifier_rule_matches_only_where_its_trigger_does():
    """A rule's trigger is a necessary condition of its regex (``Rule.trigger``): the layered query
    runs the late rules only where their triggers' union matches, so a rule matching without its
    trigger would be skipped there."""
    from bench.pii_eval import corpus
    from pipeline.privacy import identifiers

    texts = [c["text"] for c in CASES]
    texts += [m.text for seed in (20261201, 20270415) for m in corpus.build(n=4000, seed=seed)]
    for rule in (*identifiers.RULES, *identifiers.LATE_RULES):
        assert rule.trigger, rule.name
        regex, trigger = re.compile(rule.regex, re.ASCII), re.compile(rule.trigger, re.ASCII)
        matched = [t for t in texts if regex.search(t)]
        assert [t for t in matched if not trigger.search(t)] == [], rule.name
    # The rules do match here: the check above is not vacuous.
    assert {r.name for r in identifiers.RULES if any(re.search(r.regex, t, re.ASCII) for t in texts)} == {
        r.name for r in identifiers.RULES
    }
