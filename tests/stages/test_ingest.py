"""Ingest stage against real DuckDB files: reason codes, conservation, duplicates, rejects, crashes."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.contract import REASONS
from pipeline.generate import generate
from pipeline.stages.ingest import ingest_file
from pipeline.store import db, ledger
from pipeline.store.landing import classify
from tests.helpers import DATA, REPO, read_ledger, write

CHATS_HEADER = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message\n"
GOOD_ID = "ebd6c379-a508-432e-95a0-9e95505eeaf0"


def query(settings, sql, params=None):
    with duckdb.connect(str(settings.warehouse_db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_file_names_map_to_datasets(settings):
    assert classify("de_test_chats.csv", settings) == "chats"
    assert classify("DE_TEST_CATEGORIES.CSV", settings) == "categories"
    assert classify("chats_2026-11-25.csv.gz", settings) == "chats"
    assert classify("orders.csv", settings) is None


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    """A generated pair of files with 5% defects, every reason code injected."""
    out = tmp_path_factory.mktemp("gen")
    manifest = generate(out, chats=6000, categories=460, seed=11, defect_rate=0.05, messages=True)
    return out, manifest


@pytest.mark.parametrize("dataset", ["categories", "chats"])
def test_every_reason_code_is_quarantined_with_exact_counts(settings, defective, dataset):
    out, manifest = defective
    spec = manifest["files"][dataset]
    src = write(settings.landing / spec["file"], (out / spec["file"]).read_bytes())
    result = ingest_file(settings, src)

    expected = {code: n for code, n in spec["defects"].items() if n}
    assert set(expected) >= {"malformed_row", "missing_id", "invalid_id", "duplicate_id_in_file"}
    assert result.reasons == expected
    assert result.rows_read == spec["rows"]
    assert result.rows_loaded == spec["valid_rows"]
    assert result.rows_read == result.rows_loaded + result.rows_quarantined

    # The warehouse agrees with the result and the ledger (conservation recorded per batch).
    (loaded,) = query(settings, f"select count(*) from audit.{dataset}")[0]
    by_code = dict(query(settings, "select reason_code, count(*) from meta.quarantine group by 1"))
    [batch] = read_ledger(settings)
    record = (batch["rows_read"], batch["rows_loaded"], batch["rows_quarantined"])
    assert loaded == spec["valid_rows"]
    assert by_code == expected
    assert record == (spec["rows"], spec["valid_rows"], sum(expected.values()))

    # Quarantine file: one row per rejected row, with line number, code, message, raw record and its fields.
    qfile = settings.quarantine_dir / dataset / f"{result.batch_id}.csv"
    lines = qfile.read_text(errors="replace").splitlines()
    assert lines[0] == "line_number,reason_code,reason,raw_record,fields"
    assert (qfile.stat().st_mode & 0o777) == 0o600
    assert (settings.quarantine_dir.stat().st_mode & 0o777) == 0o700
    rows = query(settings, "select line_number, reason_code, reason from meta.quarantine order by line_number")
    assert all(reason == REASONS[code] or code == "malformed_row" for _, code, reason in rows)
    assert len({line for line, _, _ in rows}) == len(rows)


def test_line_numbers_point_at_the_source_lines(settings):
    text = (
        CHATS_HEADER
        + f"{GOOD_ID},,2023-01-01 10:00:00,true,,hello\n"  # line 2: loaded
        + "6bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-01-02\n"  # line 3: too few fields
        + "not-a-uuid,,2023-01-01 10:00:00,,,\n"  # line 4: invalid_id
        + "1bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-01-01T10:00:00Z,no,,x\n"  # line 5: loaded
        + f"{GOOD_ID},,2023-01-01 11:00:00,,,again\n"
    )  # line 6: duplicate
    result = ingest_file(settings, write(settings.landing / "x_chats.csv", text))
    assert result.rows_read == 5 and result.rows_loaded == 2
    assert query(settings, "select _line_number from audit.chats order by 1") == [(2,), (5,)]
    assert query(settings, "select line_number, reason_code from meta.quarantine order by 1") == [
        (3, "malformed_row"),
        (4, "invalid_id"),
        (6, "duplicate_id_in_file"),
    ]


def test_contract_parsing_rules(settings):
    text = (
        "\ufeff ID ,Chat_Category_ID,created_at,IS_CUSTOMER_INITIATED,resolved_at,message,agent\n"
        f'{GOOD_ID.upper()},,2023-03-05T04:02:57.660+11:00,YES,2023-03-05 00:00:00,"a, ""quoted"" one",ann\n'
        '1bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-01-01 10:00:00,F,,"two\nlines",bob\n'
    )
    ingest_file(settings, write(settings.landing / "chats.csv", text))
    rows = query(
        settings,
        "select id::varchar, created_at::varchar, is_customer_initiated, message, _extra "
        "from audit.chats order by _line_number",
    )
    assert rows[0] == (GOOD_ID, "2023-03-04 17:02:57.66", True, 'a, "quoted" one', '{"agent":"ann"}')
    assert rows[1][2] is False and rows[1][3] == "two\nlines"
    assert [b["extra_columns"] for b in read_ledger(settings)] == [["agent"]]


def test_categories_null_literal_and_self_parent(settings):
    text = (
        "id,parent_id,disabled\n"
        f"{GOOD_ID},NULL,\n"
        "1bd6c379-a508-432e-95a0-9e95505eeaf0,1bd6c379-a508-432e-95a0-9e95505eeaf0,false\n"
        f"2bd6c379-a508-432e-95a0-9e95505eeaf0,{GOOD_ID},0\n"
    )
    result = ingest_file(settings, write(settings.landing / "categories.csv", text))
    assert result.reasons == {"self_parent": 1}
    assert query(settings, "select parent_id, disabled from audit.categories order by _line_number") == [
        (None, None),
        (duckdb.execute(f"select '{GOOD_ID}'::uuid").fetchone()[0], False),
    ]


def test_gzip_files_are_read(settings):
    path = settings.landing / "chats_part.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(CHATS_HEADER + f"{GOOD_ID},,2023-01-01 10:00:00,,,hi\n")
    assert ingest_file(settings, path).rows_loaded == 1


def test_same_content_twice_is_a_recorded_duplicate(settings):
    text = CHATS_HEADER + f"{GOOD_ID},,2023-01-01 10:00:00,,,hi\n"
    first = ingest_file(settings, write(settings.landing / "a_chats.csv", text))
    with db.connect(settings) as con:  # the chain finished the first copy
        ledger.done(con, first.batch_id)
    second = ingest_file(settings, write(settings.landing / "renamed_chats.csv", text))
    assert second.status == "duplicate"
    assert query(settings, "select count(*) from audit.chats") == [(1,)]
    statuses = [(b["file"], b["status"], b["duplicate_of"]) for b in read_ledger(settings)]
    assert statuses == [("a_chats.csv", "done", None), ("renamed_chats.csv", "duplicate", first.batch_id)]
    assert not (settings.landing / "renamed_chats.csv").exists()
    assert (settings.archive_dir / "duplicates" / f"{second.batch_id}__renamed_chats.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty_chats.csv", b"", "empty_file"),
        ("bin_chats.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not_csv"),
        ("latin1_chats.csv", "id,cr\xe9ated_at\n".encode("latin-1"), "not_utf8"),
        ("nohdr_chats.csv", b"just some words\nmore words\n", "not_csv"),
        ("cols_chats.csv", b"id,message\n1,hi\n", "missing_columns"),
        ("dup_chats.csv", b"id,ID,created_at\n", "duplicate_columns"),
        ("hdr_chats.csv", CHATS_HEADER.encode(), "no_rows"),
        ("orders.csv", b"id,total\n1,2\n", "unknown_dataset"),
    ],
)
def test_whole_file_rejects_go_to_failed_with_a_reason(settings, name, content, code):
    result = ingest_file(settings, write(settings.landing / name, content))
    assert result.status == "rejected" and result.error_code == code
    failed = settings.failed_dir / f"{result.batch_id}__{name}"  # batch id first: names are reused
    assert failed.exists() and not (settings.landing / name).exists()
    error = json.loads(failed.with_name(f"{failed.name}.error.json").read_text())
    assert error["error_code"] == code and error["error"]
    assert [(b["status"], b["error_code"]) for b in read_ledger(settings)] == [("rejected", code)]


def test_an_unterminated_quote_quarantines_the_rest_of_the_file_as_one_record(settings):
    # RFC 4180: the open quote runs to the end of the file. DuckDB 1.0 would silently swallow
    # lines here; the exact account quarantines them, raw text included, so nothing is lost.
    tail = "".join(f"{i}bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-01-01 10:00:00,,,ok\n" for i in range(3))
    text = CHATS_HEADER + f'{GOOD_ID},,2023-01-01 10:00:00,,,"open\n' + tail
    result = ingest_file(settings, write(settings.landing / "q_chats.csv", text))
    assert (result.rows_read, result.rows_loaded, result.reasons) == (1, 0, {"malformed_row": 1})
    [(line, reason, raw)] = query(settings, "select line_number, reason, raw_record from meta.quarantine")
    assert line == 2 and "unterminated quote" in reason
    assert raw.endswith(tail.rstrip("\n")), "the swallowed lines are kept in the quarantine record"


CRASH_SCRIPT = """
import sys
from pathlib import Path
from pipeline import logs
from pipeline.settings import load_settings
from pipeline.stages.ingest import ingest_file
logs.configure(json=True)
s = load_settings(landing=sys.argv[1], warehouse=sys.argv[2])
ingest_file(s, Path(sys.argv[3]))
"""


@pytest.mark.slow
def test_kill_during_load_leaves_no_partial_batch(settings, tmp_path):
    generate(tmp_path / "big", chats=400_000, categories=50, seed=3, defect_rate=0.01, messages=True)
    src = write(settings.landing / "chats.csv", (tmp_path / "big" / "chats.csv").read_bytes())
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(settings.landing), str(settings.warehouse), str(src)],
        stderr=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    # Kill -9 as soon as the load transaction has started.
    for line in proc.stderr:
        if json.loads(line).get("event") == "ingest.transaction_started":
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"

    assert query(settings, "select count(*) from audit.chats") == [(0,)]
    assert query(settings, "select count(*) from meta.quarantine") == [(0,)]
    assert [(b["status"], b["stage"]) for b in read_ledger(settings)] in (
        [],
        [(ledger.RUNNING, "registered")],
        [(ledger.QUEUED, "registered")],
    )
    assert src.exists(), "the file stays in landing until its batch is committed"

    # A restart loads the whole batch exactly once.
    result = ingest_file(settings, src)
    assert result.rows_read == 400_000
    assert query(settings, "select count(*) from audit.chats")[0][0] == result.rows_loaded
    assert result.rows_loaded + result.rows_quarantined == 400_000


def test_line_numbers_match_the_file_for_every_row(settings, defective):
    out, manifest = defective
    src = write(settings.landing / "chats.csv", (out / "chats.csv").read_bytes())
    lines = src.read_bytes().split(b"\n")
    ingest_file(settings, src)
    for line_number, chat_id in query(settings, "select _line_number, id::varchar from audit.chats"):
        assert lines[line_number - 1].startswith(chat_id.encode()), line_number
    malformed = query(settings, "select line_number from meta.quarantine where reason_code = 'malformed_row'")
    assert len(malformed) == manifest["files"]["chats"]["defects"]["malformed_row"]


def test_blank_lines_and_multiline_fields_keep_line_numbers_exact(settings):
    text = (
        CHATS_HEADER
        + f'{GOOD_ID},,2023-01-01 10:00:00,,,"line one\nline two"\n'  # lines 2-3
        + "\n"  # line 4: blank
        + "1bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-01-01 10:00:00,,,x,extra\n"  # line 5: malformed
        + "2bd6c379-a508-432e-95a0-9e95505eeaf0,,2023-01-01 10:00:00,,,ok\n"
    )  # line 6
    result = ingest_file(settings, write(settings.landing / "m_chats.csv", text))
    assert (result.rows_read, result.rows_loaded, result.reasons) == (3, 2, {"malformed_row": 1})
    assert query(settings, "select _line_number from audit.chats order by 1") == [(2,), (6,)]
    assert query(settings, "select line_number from meta.quarantine") == [(5,)]


def test_line_breaks_the_parallel_reader_refuses_are_read_serially(settings):
    """DuckDB 1.4's parallel reader refuses padding on this file ("does not support null_padding in
    conjunction with quoted new lines"): read again serially, every row and line as written."""
    text = (DATA / "hostile" / "short_line_breaks_chats.csv").read_text()
    result = ingest_file(settings, write(settings.landing / "lb_chats.csv", text))
    assert (result.rows_read, result.rows_loaded, result.reasons) == (4, 3, {"malformed_row": 1})
    assert query(settings, "select _line_number, message from audit.chats order by 1") == [
        (2, "a\nb"),
        (4, "x\n\ny"),
        (8, "hello"),
    ]
    assert query(settings, "select line_number, reason_code from meta.quarantine") == [(7, "malformed_row")]


def _ingest_outcome(settings, path: Path) -> tuple:
    """Counts, reasons and every row's line number, reason and raw text after ingesting ``path``."""
    result = ingest_file(settings, path)
    if result.status != "ingested":
        return result.status, result.error_code
    dataset = result.dataset
    loaded = query(settings, f"select _line_number, id from audit.{dataset} order by _line_number")
    held = query(
        settings, "select line_number, reason_code, reason, raw_record from meta.quarantine order by line_number"
    )
    return result.rows_read, result.rows_loaded, result.reasons, loaded, held


HOSTILE = sorted(p for p in (DATA / "hostile").iterdir() if p.suffix.lower() in (".csv", ".gz"))


@pytest.mark.parametrize("source", HOSTILE + ["generated"], ids=lambda p: getattr(p, "name", p))
def test_fast_account_agrees_with_the_line_by_line_account(tmp_path, monkeypatch, source, defective):
    """The vectorised account (record index + fingerprints) and csvscan's give the same batch."""
    from pipeline.settings import load_settings
    from pipeline.stages.ingest import load as ingest

    if source == "generated":
        source = defective[0] / "chats.csv"
    real, fast_results = ingest.fast_account, []
    accounts = {
        "fast": lambda *a: fast_results.append(real(*a)) or fast_results[-1],
        "exact": lambda *a: (None, "disabled by the test"),
    }
    outcomes = []
    for mode, account in accounts.items():
        settings = load_settings(landing=tmp_path / mode / "landing", warehouse=tmp_path / mode / "warehouse")
        landed = write(settings.landing / source.name, source.read_bytes())
        monkeypatch.setattr(ingest, "fast_account", account)
        outcomes.append(_ingest_outcome(settings, landed))
    assert outcomes[0] == outcomes[1]
    if source.name == "chats.csv":  # the generated file: its 1% defects must not need the slow path
        assert fast_results and fast_results[0][0] is not None, fast_results[0][1]


def test_gzip_file_gives_the_same_batch_as_the_plain_file(tmp_path, defective):
    """Raw text of skipped records is read back from the decompressed stream (seek on gzip)."""
    from pipeline.settings import load_settings

    plain = (defective[0] / "chats.csv").read_bytes()
    outcomes = []
    for name, data in (("chats.csv", plain), ("chats.csv.gz", gzip.compress(plain))):
        settings = load_settings(landing=tmp_path / name / "landing", warehouse=tmp_path / name / "warehouse")
        outcomes.append(_ingest_outcome(settings, write(settings.landing / name, data)))
    assert outcomes[0][2]["malformed_row"] > 0
    assert outcomes[0] == outcomes[1]


def test_a_small_gzip_of_blank_lines_is_rejected_with_its_limit_not_expanded(settings, tmp_path):
    """8 KB of gzip that expand to ~8 M blank lines: stopped early, as ``too_large``, in little memory."""
    import resource

    bomb = gzip.compress(CHATS_HEADER.encode() + b"\n" * 8_000_000, compresslevel=9)
    assert len(bomb) < 16_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = ingest_file(settings, write(settings.landing / "bomb_chats.csv.gz", bomb))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert (result.status, result.error_code) == ("rejected", "too_large")
    assert "blank lines" in result.error and "max_blank_lines" in result.error
    assert grown_mb < 200, f"RSS grew {grown_mb:.0f} MB"
    assert (settings.failed_dir / f"{result.batch_id}__bomb_chats.csv.gz").exists()


def test_limits_are_settings_and_name_themselves(settings):
    from dataclasses import replace

    small = replace(settings, max_record_bytes=100, max_text_bytes=10_000)
    long_record = CHATS_HEADER + f"{GOOD_ID},,2023-01-01 10:00:00,,,{'x' * 200}\n"
    result = ingest_file(small, write(small.landing / "long_chats.csv", long_record))
    assert (result.status, result.error_code) == ("rejected", "too_large")
    assert result.error.startswith("the record at line 2 is ") and "(max_record_bytes)" in result.error
    big = CHATS_HEADER + "".join(f"{GOOD_ID},,2023-01-01 10:00:00,,,hi\n" for _ in range(300))
    result = ingest_file(small, write(small.landing / "big_chats.csv", big))
    assert result.error_code == "too_large" and "(max_text_bytes)" in result.error


def test_offsets_are_converted_to_utc_and_odd_forms_rejected(settings):
    """DuckDB 1.1+ drops an offset in a TIMESTAMP cast; ingest must still convert it to UTC.

    Found on a generated 1M-row file: 9,519 rows came out ``resolved_before_created`` instead of
    1,111, and every timestamp with an offset was 10-11 hours off.
    """
    rows = [
        ("2023-03-05T04:02:57.660+11:00", "2023-03-05T04:02:57.660Z", None),  # 17:02 UTC, resolved 11 h later
        ("2023-03-05T04:02:57-05:00", "2023-03-05 09:02:57", None),  # equal in UTC: not before
        ("2023-03-05T04:02:57+0530", "2023-03-04 22:32:58", None),
        ("2023-03-05 04:02:57+05", "2023-03-04 23:02:56", "resolved_before_created"),  # 1 s before in UTC
        ("2023-03-05T01:00:00+11:00", "2023-03-04 20:00:00", None),  # looks resolved first, is not
        ("2023-03-05", "", None),  # a date alone is midnight UTC
        (" 2023-03-05 04:02:57 ", "", None),  # surrounding blanks are trimmed
        ("2023-03-05 04:02:57 -0500", "", "invalid_timestamp"),  # TIMESTAMPTZ would misread it
        ("2023-03-05 04:02:57 EST", "", "invalid_timestamp"),  # zone names are not offsets
        ("2023-03-05 04:02:57 Australia/Melbourne", "", "invalid_timestamp"),
        ("epoch", "", "invalid_timestamp"),
        ("infinity", "", "invalid_timestamp"),
        ("1899-12-31T23:00:00-02:00", "", None),  # 01:00 on 1 Jan 1900 in UTC: in range
        ("2200-01-01T01:00:00+02:00", "", None),  # 23:00 on 31 Dec 2199 in UTC: in range
        ("2199-12-31T23:00:00-02:00", "", "invalid_timestamp"),  # 01:00 on 1 Jan 2200 in UTC: out of range
    ]
    text = CHATS_HEADER + "".join(
        f"{i:08x}-a508-432e-95a0-9e95505eeaf0,,{created},,{resolved},m\n"
        for i, (created, resolved, _) in enumerate(rows)
    )
    result = ingest_file(settings, write(settings.landing / "tz_chats.csv", text))
    expected = {i + 2: reason for i, (_, _, reason) in enumerate(rows) if reason}
    assert dict(query(settings, "select line_number, reason_code from meta.quarantine")) == expected
    assert result.rows_loaded == len(rows) - len(expected)
    loaded = dict(
        query(
            settings,
            "select _line_number, [created_at::varchar, resolved_at::varchar] from audit.chats",
        )
    )
    assert loaded[2] == ["2023-03-04 17:02:57.66", "2023-03-05 04:02:57.66"]
    assert loaded[3] == ["2023-03-05 09:02:57", "2023-03-05 09:02:57"]
    assert loaded[4] == ["2023-03-04 22:32:57", "2023-03-04 22:32:58"]
    assert loaded[6] == ["2023-03-04 14:00:00", "2023-03-04 20:00:00"]
    assert loaded[7] == ["2023-03-05 00:00:00", None]
    assert loaded[8] == ["2023-03-05 04:02:57", None]
    assert loaded[14] == ["1900-01-01 01:00:00", None]
    assert loaded[15] == ["2199-12-31 23:00:00", None]


def test_offsets_convert_to_utc_whatever_the_session_time_zone(settings, monkeypatch):
    """The cast reads TIMESTAMPTZ back in the session's TimeZone: ingest pins it to UTC."""
    real = db.open_database

    def melbourne(*args, **kwargs):
        con = real(*args, **kwargs)
        con.execute("set TimeZone = 'Australia/Melbourne'")
        return con

    monkeypatch.setattr(db, "open_database", melbourne)
    text = CHATS_HEADER + f"{GOOD_ID},,2023-03-05T04:02:57+11:00,,2023-03-05 06:00:00,m\n"
    ingest_file(settings, write(settings.landing / "tz_chats.csv", text))
    assert query(settings, "select created_at::varchar, resolved_at::varchar from audit.chats") == [
        ("2023-03-04 17:02:57", "2023-03-05 06:00:00")
    ]


# --- DuckDB 1.4's CSV reader: what ingest must say explicitly -----------------------------------

_SIX_TEXT_COLUMNS = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(6)) + "}"


def test_doubled_quotes_load_every_row_with_its_text(settings, tmp_path):
    """Delimiter, quote and escape are given: with ``auto_detect = false`` DuckDB 1.4 defaults the
    escape to none, so a ``""`` inside a quoted field ends it and the row is skipped into the
    reject store. Every record here must load, with its exact text and its own line number."""
    messages = [
        'she said "hi", then left',
        '"quoted" start; a;b;c',
        'two\nlines, "q"',
        "plain; semi|pipe\ttab",
        "'single' quotes, kept",
    ]
    ids = [f"{i:08x}-a508-432e-95a0-9e95505eeaf0" for i in range(len(messages))]
    text = CHATS_HEADER + "".join(
        f'{id_},,2023-03-01 10:00:00,true,,"{message.replace(chr(34), chr(34) * 2)}"\n'
        for id_, message in zip(ids, messages)
    )
    copy = write(tmp_path / "copy.csv", text)
    # the trap is real on this DuckDB: its defaults for auto_detect = false lose three of the five
    with duckdb.connect() as con:
        (read_by_defaults,) = con.execute(
            f"select count(*) from read_csv(?, header = true, auto_detect = false, "
            f"columns = {_SIX_TEXT_COLUMNS}, store_rejects = true)",
            [str(copy)],
        ).fetchone()
    assert read_by_defaults == 2

    result = ingest_file(settings, write(settings.landing / "quoted_chats.csv", text))
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("ingested", 5, 5, 0)
    assert query(settings, "select _line_number, id::varchar, message from audit.chats order by _line_number") == [
        (2, ids[0], messages[0]),
        (3, ids[1], messages[1]),
        (4, ids[2], messages[2]),  # its quoted field runs on to line 5
        (6, ids[3], messages[3]),
        (7, ids[4], messages[4]),
    ]


def test_a_64_mib_record_loads_within_the_memory_limit(settings, tmp_path):
    """``buffer_size`` equals ``max_line_size`` (64 MiB): DuckDB 1.4 otherwise reads in 16 × that,
    a 1 GiB buffer, which the 512 MB memory limit refuses for any file, however small."""
    from pipeline.stages.ingest.scan import MAX_LINE

    assert settings.duckdb_memory_limit == "512MB" and MAX_LINE == 64 << 20
    small = write(tmp_path / "small.csv", CHATS_HEADER + f"{GOOD_ID},,2023-03-01 10:00:00,true,,hi\n")
    with db.open_database(tmp_path / "probe.duckdb", memory_limit=settings.duckdb_memory_limit) as con:
        read = (
            f"select count(*) from read_csv(?, header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {_SIX_TEXT_COLUMNS}, max_line_size = {MAX_LINE}"
        )
        with pytest.raises(duckdb.OutOfMemoryException, match="1.0 GiB"):
            con.execute(read + ")", [str(small)]).fetchone()  # the trap is real on this DuckDB
        assert con.execute(read + f", buffer_size = {MAX_LINE})", [str(small)]).fetchone() == (1,)

    # through ingest (512 MB limit): a record one byte short of 64 MiB with its quotes and line end
    length = MAX_LINE - len(f'{GOOD_ID},,2023-03-01 10:00:00,true,,""\n') - 1
    other = "fbd6c379-a508-432e-95a0-9e95505eeaf0"
    text = (
        CHATS_HEADER
        + f"{other},,2023-03-01 10:00:00,true,,short\n"
        + f'{GOOD_ID},,2023-03-01 10:00:00,true,,"{"x" * length}"\n'
    )
    result = ingest_file(settings, write(settings.landing / "long_chats.csv", text))
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("ingested", 2, 2, 0)
    assert query(settings, "select _line_number, length(message) from audit.chats order by _line_number") == [
        (2, 5),
        (3, length),
    ]


@pytest.mark.parametrize("account", ["fast", "exact"])
def test_a_malformed_record_over_2_mb_is_quarantined_whole(tmp_path, monkeypatch, account):
    """A record the reader rejects goes to quarantine through a CSV DuckDB reads back: its line
    limit must fit the record (DuckDB's default, 2,000,000 bytes, failed the whole batch)."""
    from pipeline.settings import load_settings
    from pipeline.stages.ingest import load as ingest

    if account == "exact":
        monkeypatch.setattr(ingest, "fast_account", lambda *a: (None, "disabled by the test"))
    settings = load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    record = f'fbd6c379-a508-432e-95a0-9e95505eeaf0,,2023-03-01 10:00:00,true,,"{"ab" * (3 << 19)}",x,y'
    assert len(record) > 3 << 20
    text = CHATS_HEADER + f"{GOOD_ID},,2023-03-01 10:00:00,true,,ok\n" + record + "\n"
    result = ingest_file(settings, write(settings.landing / "wide_chats.csv", text))
    assert (result.status, result.rows_read, result.rows_loaded, result.reasons) == (
        "ingested",
        2,
        1,
        {"malformed_row": 1},
    )
    assert query(settings, "select _line_number from audit.chats") == [(2,)]
    held = query(settings, "select line_number, reason_code, raw_record = ? from meta.quarantine", [record])
    assert held == [(3, "malformed_row", True)]  # its raw text whole, byte for byte
