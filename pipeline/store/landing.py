"""The landing folder's rules: which files are taken, their dataset, arrival order, and where they go.

Everything that names, finds or moves a file under ``landing/`` lives here::

    landing/<name>                              dropped by a producer, waiting
    landing/archive/<seq>_<batch_id>__<name>    ingested (the seq prefix keeps arrival order for replay)
    landing/archive/duplicates/<batch_id>__<name>  same content as a batch already done
    landing/failed/<name> + <name>.error.json   rejected as a whole, or withheld by the gate
    landing/quarantine/<dataset>/<batch_id>.csv rejected rows (written by ingest)

Moved files keep raw values, so they are owner-only (0600 in 0700 folders).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from pipeline.contract import DATASETS
from pipeline.settings import Settings
from pipeline.store.files import atomic_write_text, secure_dir

#: In-progress copies and editor files that are never taken.
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
_ARCHIVE_SEP = "__"
#: Longest original name kept in archive/ and failed/ names (bytes, UTF-8). With the
#: ``<seq>_<batch_id>__`` prefix and ``.error.json`` the result stays under NAME_MAX (255).
MAX_NAME_BYTES = 180
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def display_name(name: str) -> str:
    """A file name as text that can be logged, printed and stored: undecodable bytes as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def safe_name(name: str) -> str:
    """A bounded, printable version of a file name for archive/ and failed/ (any byte string in).

    Control characters and slashes become ``_``; a name longer than :data:`MAX_NAME_BYTES` is
    cut in the middle (its start and its end, where exports put the dataset word such as
    ``_chats``, survive), with a short hash of the whole name so cut names stay distinct.
    """
    text = _UNSAFE.sub("_", display_name(name))
    raw = text.encode("utf-8")
    if len(raw) <= MAX_NAME_BYTES:
        return text
    tag = ("~" + hashlib.sha256(raw).hexdigest()[:8] + "~").encode()
    keep = (MAX_NAME_BYTES - len(tag)) // 2
    return (raw[:keep] + tag + raw[-keep:]).decode("utf-8", "ignore")


def utf8_path(path: Path) -> Path:
    """``path``, renamed in place to its safe name when its name is not valid UTF-8.

    DuckDB takes file names as UTF-8 text; a producer's Latin-1 byte would make the file
    unreadable to it. The file is the pipeline's once taken (it moves to archive/ next).
    """
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        target = _unique(path.with_name(safe_name(path.name)))
        os.replace(path, target)
        return target
    return path


def _unique(dest: Path) -> Path:
    """``dest``, or ``dest`` with ``.2``, ``.3`` … before its suffix when that name is taken."""
    if not dest.exists() and not dest.is_symlink():
        return dest
    stem, dot, ext = dest.name.partition(".")
    n = 2
    while True:
        candidate = dest.with_name(f"{stem}.{n}{dot}{ext}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        n += 1


def classify(name: str, settings: Settings) -> str | None:
    """Dataset of a file name by the configured glob patterns (case-insensitive), or None."""
    lowered = name.lower()
    for dataset in DATASETS:  # categories first: a name can match both patterns
        if any(fnmatch.fnmatch(lowered, pattern.lower()) for pattern in settings.patterns[dataset]):
            return dataset
    return None


def is_candidate(path: Path) -> bool:
    """Files the pipeline takes from landing/: visible ``*.csv`` / ``*.csv.gz`` regular files.

    Hidden files and in-progress copies (``*.tmp``, ``*.part``…) are ignored; other
    extensions (``manifest.json``, notes) are left alone.
    """
    name = path.name.lower()
    if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
        return False
    return (name.endswith(".csv") or name.endswith(".csv.gz")) and path.is_file() and not path.is_symlink()


def arrival_key(path: Path, settings: Settings) -> tuple:
    """Arrival order (mtime), categories before chats when both are waiting."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        mtime = 0
    return (0 if classify(path.name, settings) == "categories" else 1, mtime, path.name)


def discover(settings: Settings) -> list[Path]:
    """Files waiting in landing/, in processing order."""
    if not settings.landing.is_dir():
        return []
    files = [p for p in settings.landing.iterdir() if is_candidate(p)]
    return sorted(files, key=lambda p: arrival_key(p, settings))


def is_waiting(path: Path, settings: Settings) -> bool:
    """Whether ``path`` is a file still waiting in the drop folder (not yet moved by ingest)."""
    return path.exists() and path.parent.resolve() == settings.landing.resolve()


# --------------------------------------------------------------------------- archive
def archive_path(settings: Settings, record: dict[str, Any]) -> Path:
    """Where an ingested batch's file is archived: ``<seq>_<batch_id>__<name>``."""
    return settings.archive_dir / f"{record['seq']:08d}_{record['batch_id']}{_ARCHIVE_SEP}{safe_name(record['file'])}"


def original_name(archived: Path) -> str:
    """The name a file had in landing/, from its archive name."""
    return archived.name.split(_ARCHIVE_SEP, 1)[1]


def archived_files(settings: Settings) -> list[Path]:
    """Archived batches in their original arrival order (the ``<seq>_`` prefix of their names)."""
    if not settings.archive_dir.is_dir():
        return []
    return sorted(
        p for p in settings.archive_dir.iterdir() if p.is_file() and p.name[:8].isdigit() and _ARCHIVE_SEP in p.name
    )


def batch_file(settings: Settings, record: dict[str, Any]) -> Path:
    """The file of a known batch: archived, or still in landing/ after a crash before the move."""
    archived = archive_path(settings, record)
    landed = settings.landing / record["file"]
    if not archived.exists() and landed.exists():
        return landed
    return archived


def _move(src: Path, dest_dir: Path, name: str, *, unique: bool = False) -> Path:
    """Move ``src`` into one of the service's own folders; ``unique`` never replaces a file there."""
    secure_dir(dest_dir)
    dest = dest_dir / name
    if src.exists() and src != dest:
        if unique:
            dest = _unique(dest)
        os.replace(src, dest)
        os.chmod(dest, 0o600)  # archived and failed files keep raw values: owner-only
    return dest


def archive(settings: Settings, path: Path, record: dict[str, Any]) -> Path:
    """Move an ingested file to the archive (a no-op when it is there already)."""
    return _move(path, settings.archive_dir, archive_path(settings, record).name)


def archive_duplicate(settings: Settings, path: Path, duplicate_id: str) -> Path:
    """Move a file whose content is already done to ``archive/duplicates/``."""
    return _move(
        path, settings.archive_dir / "duplicates", f"{duplicate_id}{_ARCHIVE_SEP}{safe_name(path.name)}", unique=True
    )


def reject(
    settings: Settings, path: Path, code: str, message: str, batch_id: str | None, *, name: str | None = None
) -> Path:
    """Move a whole-file reject to failed/ as ``<batch_id>__<name>``, ``.error.json`` beside it.

    Never replaces an earlier reject: daily exports reuse names, and the failed copy may be
    the only one.
    """
    name = display_name(name or path.name)
    dest = _move(path, settings.failed_dir, f"{batch_id or 'unregistered'}{_ARCHIVE_SEP}{safe_name(name)}", unique=True)
    payload = {
        "file": name,
        "batch_id": batch_id,
        "error_code": code,
        "error": message,
        "failed_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat() + "Z",
    }
    atomic_write_text(dest.with_name(f"{dest.name}.error.json"), json.dumps(payload, indent=2) + "\n")
    return dest


def withdraw(settings: Settings, record: dict[str, Any], code: str, message: str) -> Path | None:
    """Move an archived batch that was withheld back out to failed/, under its original name."""
    archived = archive_path(settings, record)
    if not archived.exists():
        return None
    return reject(settings, archived, code, message, record["batch_id"], name=record["file"])


# --------------------------------------------------------------------------- complete files
def open_for_writing(paths: list[Path]) -> set[Path]:
    """Those of ``paths`` that a process on this machine has open for writing (Linux ``/proc``).

    A copy that pauses longer than the settle time keeps its file open; this catches it. A
    writer on another host (network share) is invisible here, which is what the settle time
    is for. Empty where ``/proc`` is not available. One scan of ``/proc`` for all paths.
    """
    wanted = {}
    for path in paths:
        with contextlib.suppress(OSError):
            wanted[str(path.resolve())] = path
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()] if wanted else []
    except OSError:
        return set()
    found: set[Path] = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if target not in wanted:
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
            except (OSError, StopIteration, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add(wanted[target])
    return found


def _quiet(path: Path, settle_seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime >= settle_seconds
    except FileNotFoundError:
        return False


def wait_until_settled(paths: list[Path], settle_seconds: float, *, timeout: float) -> tuple[list[Path], list[Path]]:
    """Split ``paths`` into complete files and files still being written after ``timeout``.

    Complete: unchanged for ``settle_seconds`` and open for writing by no local process.
    """
    deadline = time.monotonic() + timeout
    waiting = [p for p in paths if p.exists()]
    while True:
        writing = open_for_writing(waiting)
        busy = [p for p in waiting if p in writing or not _quiet(p, settle_seconds)]
        if not busy or time.monotonic() >= deadline:
            return [p for p in paths if p not in busy], busy
        waiting = busy
        time.sleep(min(0.2, settle_seconds))
