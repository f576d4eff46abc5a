"""Permissions of the analysts' share folder, on real files (issue 13 item 5)."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import uuid

import pytest

from pipeline.store.files import share_file, shared_dir


@pytest.fixture
def analysts_group():
    """A real group: created for the test when running as root (groupadd), else our own group."""
    if os.geteuid() == 0 and shutil.which("groupadd"):
        name = f"pii-analysts-{uuid.uuid4().hex[:8]}"
        subprocess.run(["groupadd", name], check=True)
        try:
            yield grp.getgrnam(name).gr_gid
        finally:
            subprocess.run(["groupdel", name], check=False)
    else:
        yield os.getegid()


def test_share_folder_and_file_belong_to_the_analysts_group_read_only(tmp_path, analysts_group):
    folder = shared_dir(tmp_path / "share", analysts_group)
    published = folder / "share.duckdb"
    published.write_bytes(b"x")
    share_file(published, analysts_group)
    made_later = folder / "later.csv"
    made_later.write_text("a\n")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o2750 and folder.stat().st_gid == analysts_group
    assert stat.S_IMODE(published.stat().st_mode) == 0o440 and published.stat().st_gid == analysts_group
    assert made_later.stat().st_gid == analysts_group, "setgid folder: new files inherit the group"


def test_share_folder_refuses_a_symbolic_link(tmp_path, analysts_group):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(Exception, match="symbolic link"):
        shared_dir(tmp_path / "link", analysts_group)
