"""Write ``warehouse.duckdb.gz`` here with DuckDB 1.0.0: a warehouse as the pipeline left it before 1.4.

``tests/store/test_duckdb_1_0_warehouse.py`` opens, ingests into and reads this file with the
DuckDB the pipeline runs on now. The file must come from DuckDB 1.0.0 and the pipeline as it was
then, so it is generated once and committed. How it was made (commit 4e9f120, the last one on
DuckDB 1.0.0):

    git archive 4e9f120 | tar -x -C /tmp/p100
    python3 -m venv /tmp/v100 && /tmp/v100/bin/pip install -r /tmp/p100/requirements.lock
    cd /tmp/p100 && /tmp/v100/bin/pip install --no-deps -e .
    /tmp/v100/bin/python <this checkout>/tests/data/duckdb_1_0/make_warehouse.py <this folder>

It runs the whole chain (ingest, Soda gate, publish, dbt build, redact, export) for one
categories and one chats file, plus an ingest-only chats file with a malformed row, so the file
holds every schema (meta, audit, raw, staging, marts) with rows in each. Gzipped: 5.8 MB of
mostly empty blocks become 76 KB. ``archive/`` holds the ingest-only file as archived (added after
the warehouse was made, from the text below; its sha256 starts with the batch id in the ledger,
b6433bc747fe2ab3a, which the resumed ingest checks).
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

from pipeline.generate import generate
from pipeline.orchestration import runner
from pipeline.settings import load_settings
from pipeline.stages.ingest import ingest_file

HEADER = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message\n"


def main(dest: Path) -> None:
    assert duckdb.__version__ == "1.0.0", duckdb.__version__
    work = Path(tempfile.mkdtemp(prefix="warehouse-1.0-"))
    settings = load_settings(landing=work / "landing", warehouse=work / "warehouse")
    settings.landing.mkdir(parents=True)
    generate(work / "gen", chats=200, categories=30, seed=10, defect_rate=0.0, messages=True)
    for name in ("categories.csv", "chats.csv"):
        shutil.copyfile(work / "gen" / name, settings.landing / f"v1_0_{name}")
    outcomes = runner.run(settings, sorted(settings.landing.glob("*.csv")))
    assert all(o.status == "done" for o in outcomes), outcomes
    (settings.landing / "v1_0_more_chats.csv").write_text(
        HEADER
        + "7bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-03-05T04:02:57.660+11:00,yes,,offset\n"
        + "8bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-03-05 10:00:00\n"  # malformed: too few fields
    )
    result = ingest_file(settings, settings.landing / "v1_0_more_chats.csv")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1), result
    with duckdb.connect(str(settings.warehouse_db)) as con:
        con.execute("checkpoint")
    dest.mkdir(parents=True, exist_ok=True)
    with open(settings.warehouse_db, "rb") as src, gzip.open(dest / "warehouse.duckdb.gz", "wb", 9) as out:
        shutil.copyfileobj(src, out)
    # The in-flight batch resumes from its archived file (the finished ones need theirs no more).
    (dest / "archive").mkdir(exist_ok=True)
    shutil.copyfile(result.archived_to, dest / "archive" / result.archived_to.name)
    shutil.rmtree(work)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
