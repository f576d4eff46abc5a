"""The whole chain where files, paths and readers misbehave (real DuckDB, Soda, dbt, Luigi)."""

from __future__ import annotations

import csv
import io
import os
import signal
import stat
import subprocess
import sys
import uuid

import duckdb

from pipeline.orchestration import runner
from pipeline.settings import load_settings
from pipeline.store import ledger
from tests.helpers import chats_text, read_ledger, running, wait_for, write

CATEGORIES_HEADER = "id,parent_id,disabled\n"


def test_an_apostrophe_in_the_warehouse_path_is_just_a_path(tmp_path):
    root = tmp_path / "data" / "o'brien"
    settings = load_settings(landing=root / "landing", warehouse=root / "ware'house")
    write(settings.landing / "a_chats.csv", chats_text(5))
    [outcome] = runner.run(settings, settled=True)
    assert outcome.status == ledger.DONE, outcome.error
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        assert con.execute("select count(*) from chats").fetchone() == (5,)


def test_a_50_level_category_chain_resolves_to_its_root(settings):
    ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(50)]
    # Levels 1..40 set disabled, the last nine inherit it (fewer than ten blanks: the gate only warns).
    rows = [f"{ids[0]},,true\n"] + [f"{ids[i]},{ids[i - 1]},{'true' if i <= 40 else ''}\n" for i in range(1, 50)]
    write(settings.landing / "deep_categories.csv", CATEGORIES_HEADER + "".join(rows))
    [outcome] = runner.run(settings, settled=True)
    assert outcome.status == ledger.DONE, outcome.error
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        leaf = con.execute(
            "select depth, root_category_id::varchar, is_disabled from intermediate.int_categories_resolved "
            "where category_id = ?",
            [ids[-1]],
        ).fetchone()
    assert leaf == (49, ids[0], True)  # the root 49 levels up; disabled inherited over the blank levels


KILLED_WRITER = """
import sys, os, signal, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("set checkpoint_threshold = '1GB'")
con.execute("delete from chats")
print("written", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # an analyst's session dies with its changes in the WAL
"""


def test_a_reader_session_cannot_change_what_the_next_publish_shows(settings):
    write(settings.landing / "one_chats.csv", chats_text(10))
    runner.run(settings, settled=True)
    assert stat.S_IMODE(settings.share_db.stat().st_mode) == 0o440  # readers open it read-only
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(settings.share_db)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and "written" in proc.stdout  # root ignores the 0444
    assert settings.share_db.with_name("share.duckdb.wal").exists()
    write(settings.landing / "two_chats.csv", chats_text(10, offset=100))
    runner.run(settings, settled=True)
    assert not settings.share_db.with_name("share.duckdb.wal").exists()
    with duckdb.connect(str(settings.share_db), read_only=True) as con:
        assert con.execute("select count(*) from chats").fetchone() == (20,)


def test_quarantine_cells_cannot_run_as_formulas_and_carry_no_personal_data(settings):
    header = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message,customer_email\n"
    body = [
        '=HYPERLINK("http://x.example"),,2023-01-01 10:00:00,true,,hi,a@b.example\n',
        "+cmd|' /C calc'!A0,,2023-01-01 10:00:00,true,,hi,c@d.example\n",
        "@SUM(1+1),,2023-01-01 10:00:00,true,,hi,e@f.example\n",
        "-2+3,,2023-01-01 10:00:00,true,,hi,g@h.example\n",
        "jane.doe@example.com,,2023-01-01 10:00:00,true,,call 0412 345 678,i@j.example\n",
    ]
    write(settings.landing / "bad_chats.csv", header + "".join(body))
    runner.run(settings, settled=True)
    [quarantine] = settings.quarantine_dir.glob("chats/*.csv")
    cells = list(csv.DictReader(io.StringIO(quarantine.read_text())))
    assert len(cells) == 5
    for row in cells:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", value
    text = quarantine.read_text()
    for secret in ("a@b.example", "g@h.example", "jane.doe@example.com", "0412 345 678"):
        assert secret not in text


def test_watch_never_changes_the_drop_folders_mode(settings):
    os.chmod(settings.landing, 0o2775)  # a group-writable, setgid drop folder for producers
    with running(settings):
        write(settings.landing / "w_chats.csv", chats_text(3))
        wait_for(lambda: [r for r in read_ledger(settings) if r["status"] == ledger.DONE], what="batch done")
    assert stat.S_IMODE(settings.landing.stat().st_mode) == 0o2775
