"""The landing folder's rules: names that are always safe and unique, folders that are really ours."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from pipeline.errors import ConfigError
from pipeline.stages.ingest import ingest_file
from pipeline.store import landing
from tests.helpers import REPO, chats_text, pipeline_cmd, read_ledger, write

BAD = b"id,message\n1,hi\n"  # no created_at: rejected as a whole (missing_columns)


def test_a_240_byte_name_is_archived_under_a_bounded_name(settings):
    name = "x" * 230 + "_chats.csv"
    result = ingest_file(settings, write(settings.landing / name, chats_text(3)))
    assert result.status == "ingested"
    assert len(result.archived_to.name.encode()) <= 255 and result.archived_to.exists()
    assert result.archived_to.name.endswith("_chats.csv") and "~" in result.archived_to.name
    assert [r["file"] for r in read_ledger(settings)] == [name]  # the ledger keeps the real name


def test_a_latin1_byte_in_a_name_neither_crashes_run_nor_stops_the_other_files(settings):
    odd = os.fsencode(settings.landing) + b"/ch\xe4ts_export_chats.csv"
    with open(odd, "wb") as fh:
        fh.write(chats_text(2).encode())
    write(settings.landing / "plain_chats.csv", chats_text(3, offset=10))
    proc = subprocess.run(
        pipeline_cmd(settings, "run"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    files = sorted(r["file"] for r in read_ledger(settings))
    assert files == ["ch\\xe4ts_export_chats.csv", "plain_chats.csv"]
    assert all(r["status"] == "done" for r in read_ledger(settings))


def test_a_second_reject_with_the_same_name_keeps_the_first(settings):
    first = ingest_file(settings, write(settings.landing / "daily_chats.csv", BAD))
    second = ingest_file(settings, write(settings.landing / "daily_chats.csv", BAD + b"2,again\n"))
    assert first.status == second.status == "rejected" and first.batch_id != second.batch_id
    kept = sorted(p.name for p in settings.failed_dir.iterdir())
    assert kept == sorted(
        [
            f"{first.batch_id}__daily_chats.csv",
            f"{first.batch_id}__daily_chats.csv.error.json",
            f"{second.batch_id}__daily_chats.csv",
            f"{second.batch_id}__daily_chats.csv.error.json",
        ]
    )
    assert (settings.failed_dir / f"{first.batch_id}__daily_chats.csv").read_bytes() == BAD


def test_the_same_content_rejected_twice_never_overwrites_a_copy(settings):
    one = ingest_file(settings, write(settings.landing / "a_chats.csv", BAD))
    ingest_file(settings, write(settings.landing / "a_chats.csv", BAD))
    names = sorted(p.name for p in settings.failed_dir.iterdir() if not p.name.endswith(".error.json"))
    assert names == [f"{one.batch_id}__a_chats.2.csv", f"{one.batch_id}__a_chats.csv"]


@pytest.mark.parametrize("folder", ["failed", "archive", "quarantine"])
def test_a_service_folder_that_is_a_symlink_is_refused(settings, tmp_path, folder):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.csv").write_text("keep me\n")
    outside.chmod(0o755)
    (settings.landing / folder).symlink_to(outside, target_is_directory=True)
    content = BAD if folder == "failed" else chats_text(2) + "not,a,valid,row,at,all,extra\n"
    with pytest.raises(ConfigError, match="is a symbolic link"):
        ingest_file(settings, write(settings.landing / "x_chats.csv", content))
    assert sorted(p.name for p in outside.iterdir()) == ["precious.csv"]
    assert (outside / "precious.csv").read_text() == "keep me\n"
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755


def test_safe_names_are_printable_bounded_and_distinct():
    long_a, long_b = "a" * 300 + "1_chats.csv.gz", "a" * 300 + "2_chats.csv.gz"
    assert landing.safe_name(long_a) != landing.safe_name(long_b)
    assert all(len(landing.safe_name(n).encode()) <= landing.MAX_NAME_BYTES for n in (long_a, long_b))
    assert landing.safe_name(long_a).endswith(".csv.gz")
    assert landing.safe_name("a/b\x01c\udce9.csv") == "a_b_c_xe9.csv"
