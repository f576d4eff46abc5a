"""Python text functions registered on a DuckDB connection, called once per vector.

DuckDB 1.4's native Python UDF costs ~80 us a row whatever the function does (an identity
function over 100k rows: 8 s on this 2-core machine), so a function over every message of a
batch would cost more than all the redaction's regexes. An ``arrow`` UDF is called once per
vector of up to 2,048 rows; the function itself still runs per value, in Python.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb


def register_text_function(
    con: duckdb.DuckDBPyConnection, name: str, fn: Callable[[str], str | None], *, replace: bool = False
) -> None:
    """Register ``name(varchar) -> varchar`` on ``con``: ``fn`` applied to each non-NULL value
    (NULL stays NULL). ``replace`` drops a function of that name first."""
    import pyarrow  # lazy: only a connection that redacts pays for the import (~0.1 s)

    def vector(texts):  # no annotations: DuckDB evaluates them, and pyarrow is a local name here
        return pyarrow.array([None if t is None else fn(t) for t in texts.to_pylist()], pyarrow.string())

    if replace:
        try:
            con.remove_function(name)
        except duckdb.InvalidInputException:
            pass  # not registered on this connection yet
    con.create_function(  # "special": NULLs reach the wrapper, and ``fn`` may return None
        name, vector, ["VARCHAR"], "VARCHAR", type="arrow", null_handling="special", side_effects=False
    )
