"""Python text functions on a DuckDB connection (pipeline.privacy.udf), over real vectors."""

from __future__ import annotations

import duckdb
import pytest

from pipeline.privacy import udf


@pytest.fixture
def con():
    with duckdb.connect() as con:
        yield con


def test_the_function_runs_on_every_value_of_several_vectors_and_nulls_stay_null(con):
    calls: list[str] = []

    def shout(text: str) -> str:
        calls.append(text)
        return text.upper() + "!"

    udf.register_text_function(con, "shout", shout)
    # 5,000 rows: three of DuckDB's 2,048-row vectors; every seventh value NULL.
    rows = con.execute(
        "select i, shout(case when i % 7 = 0 then null else 'v' || i end) from range(5000) t(i) order by i"
    ).fetchall()
    assert len(rows) == 5000
    for i, value in rows:
        assert value == (None if i % 7 == 0 else f"V{i}!")
    assert sorted(calls) == sorted(f"v{i}" for i in range(5000) if i % 7)


def test_a_function_may_return_null(con):
    udf.register_text_function(con, "drop_b", lambda t: None if t.startswith("b") else t)
    assert con.execute("select drop_b('apple'), drop_b('banana')").fetchone() == ("apple", None)


def test_replace_swaps_a_registered_function_and_without_it_a_second_registration_fails(con):
    udf.register_text_function(con, "f", lambda t: "one")
    with pytest.raises(duckdb.Error):
        udf.register_text_function(con, "f", lambda t: "two")
    udf.register_text_function(con, "f", lambda t: "two", replace=True)
    assert con.execute("select f('x')").fetchone() == ("two",)
    udf.register_text_function(con, "g", lambda t: "first", replace=True)  # nothing to drop yet
    assert con.execute("select g('x')").fetchone() == ("first",)
