"""The benchmark's helpers (cheap), the reference approach's rules, and a ``--quick`` smoke run (marked bench)."""

from __future__ import annotations

import json
import math

import duckdb
import pytest

import bench.__main__ as bench
from bench import report as bench_report
from bench.reference import Invalid, load_chats, validate_chat

HEADER = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message\n"
GOOD = {
    "id": "15705c33-a813-4e24-9dc9-31dd1282c2fc",
    "chat_category_id": "b6d638dc-37ab-477e-83e8-6cd892c8c447",
    "created_at": "2023-12-18 08:54:16.824",
    "is_customer_initiated": "true",
    "resolved_at": "2023-12-18 08:54:19.525",
    "message": "hello",
}


def test_loglog_fit_recovers_a_power_law():
    xs = [1e4, 1e5, 1e6, 5e6]
    exponent, coefficient = bench_report.loglog_fit(xs, [3.0 * x**1.5 for x in xs])
    assert exponent == pytest.approx(1.5)
    assert coefficient == pytest.approx(3.0)


def test_loglog_fit_of_a_constant_is_flat():
    exponent, coefficient = bench_report.loglog_fit([10, 100, 1000], [7.0, 7.0, 7.0])
    assert exponent == pytest.approx(0.0, abs=1e-12)
    assert coefficient == pytest.approx(7.0)


def test_percentile_interpolates_between_measurements():
    assert bench_report.percentile([4, 1, 3, 2], 50) == 2.5
    assert bench_report.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == pytest.approx(9.55)
    assert bench_report.percentile([3.0], 95) == 3.0
    assert bench_report.percentile([], 50) is None


def test_targets_say_met_or_missed():
    report = {
        "ingest": [
            {"rows": 5_000_000, "ingest_to_bare_throughput": 0.5, "ingest_peak_rss_bytes": 0.5 * bench_report.GIB}
        ],
        "chain": {"rows": 2_000_000, "chain_to_bare": 3.0, "ok": True},
    }
    found = {t["target"]: t["met"] for t in bench_report.targets(report)}
    assert found == {
        "ingest ÷ bare load throughput, 5,000,000 rows": False,
        "ingest peak RSS, 5,000,000 rows": True,
        "whole chain ÷ bare load, 2,000,000 chats": True,
    }


def test_micro_batch_targets_use_the_goal_of_their_history():
    report = {
        "microbatch": {
            "new_chats": 10_000,
            "histories": [
                {"history_chats": 2_000_000, "ratio_to_empty": 1.4},
                {"history_chats": 5_000_000, "ratio_to_empty": 1.4},
            ],
        }
    }
    found = {t["target"]: (t["goal"], t["met"]) for t in bench_report.targets(report)}
    assert found == {
        "10,000 chats into 2,000,000 chats of history ÷ into categories only": ("≤ 1.3×", False),
        "10,000 chats into 5,000,000 chats of history ÷ into categories only": ("≤ 1.5×", True),
    }


def test_quick_defaults_fill_only_what_was_not_given():
    args = bench._options(["--quick", "--drops", "4"])
    assert args.drops == 4 and args.latency_chats == bench.QUICK["latency_chats"]
    with pytest.raises(SystemExit):
        bench._options(["--sections", "ingest,nonsense"])


def test_a_job_that_fails_says_why(tmp_path):
    with pytest.raises(bench.JobFailed, match="bench job no_such_job KeyError: 'no_such_job'") as caught:
        bench.Workbench(tmp_path).job("no_such_job")
    assert caught.value.seconds > 0


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"id": " "}, "missing_id"),
        ({"id": "not-a-uuid"}, "invalid_id"),
        ({"created_at": ""}, "missing_created_at"),
        ({"created_at": "31/12/2023 10:00"}, "invalid_timestamp"),
        ({"resolved_at": "2300-01-01"}, "invalid_timestamp"),
        ({"is_customer_initiated": "maybe"}, "invalid_boolean"),
        ({"chat_category_id": "cat-12"}, "invalid_category_id"),
        ({"resolved_at": "2023-12-18 08:00:00"}, "resolved_before_created"),
        ({"message": None}, "malformed_row"),
        ({"message": "bad \udcff byte"}, "malformed_row"),
    ],
)
def test_reference_rules_give_the_ingest_reason_codes(change, reason):
    with pytest.raises(Invalid) as caught:
        validate_chat({**GOOD, **change})
    assert caught.value.args[0] == reason


def test_reference_accepts_the_contract_forms():
    typed = validate_chat(
        {
            **GOOD,
            "id": "{15705C33A8134E249DC931DD1282C2FC}",
            "is_customer_initiated": " YES ",
            "created_at": "2023-12-18T19:54:16+11:00",
            "resolved_at": "",
            "chat_category_id": "",
        }
    )
    assert typed["id"] == GOOD["id"]
    assert typed["created_at"].isoformat() == "2023-12-18T08:54:16"
    assert typed["is_customer_initiated"] is True and typed["resolved_at"] is None


def test_reference_load_accounts_for_every_row(tmp_path):
    good = ",".join(GOOD.values())
    other = good.replace("15705c33", "25705c33")
    path = tmp_path / "chats.csv"
    path.write_bytes(
        (HEADER + good + "\n" + good + "\n" + other + ",extra\n" + "a,b\n" + other + "\n").encode()
        + GOOD["id"].replace("1", "3").encode()
        + b",,2023-01-01,,,bad \xff\n"
    )
    con = duckdb.connect()
    result = load_chats(path, con)
    reasons = sorted(q["reason_code"] for q in result.quarantine)
    assert reasons == ["duplicate_id_in_file", "malformed_row", "malformed_row", "malformed_row"]
    assert (result.rows_read, result.rows_loaded) == (6, 2)
    assert con.execute("select count(*) from chats").fetchone()[0] == 2


@pytest.mark.bench
def test_quick_bench_writes_every_section(tmp_path):
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert not report["errors"]
    assert set(bench.SECTIONS) <= set(report)
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    assert math.isfinite(report["scaling"]["exponent_all"])
    assert next(tmp_path.glob("*-scaling.png")).stat().st_size > 0
    assert "## Targets" in next(tmp_path.glob("*.md")).read_text()
