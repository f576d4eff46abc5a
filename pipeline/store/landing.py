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

import datetime as dt
import fnmatch
import json
import os
from pathlib import Path
from typing import Any

from pipeline.contract import DATASETS
from pipeline.settings import Settings
from pipeline.store.files import atomic_write_text, secure_dir

#: In-progress copies and editor files that are never taken.
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
_ARCHIVE_SEP = "__"


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
    return settings.archive_dir / f"{record['seq']:08d}_{record['batch_id']}{_ARCHIVE_SEP}{Path(record['file']).name}"


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


def _move(src: Path, dest_dir: Path, name: str) -> Path:
    secure_dir(dest_dir)
    dest = dest_dir / name
    if src.exists():
        os.replace(src, dest)
        os.chmod(dest, 0o600)  # archived and failed files keep raw values: owner-only
    return dest


def archive(settings: Settings, path: Path, record: dict[str, Any]) -> Path:
    """Move an ingested file to the archive (a no-op when it is there already)."""
    return _move(path, settings.archive_dir, archive_path(settings, record).name)


def archive_duplicate(settings: Settings, path: Path, duplicate_id: str) -> Path:
    """Move a file whose content is already done to ``archive/duplicates/``."""
    return _move(path, settings.archive_dir / "duplicates", f"{duplicate_id}{_ARCHIVE_SEP}{path.name}")


def reject(
    settings: Settings, path: Path, code: str, message: str, batch_id: str | None, *, name: str | None = None
) -> Path:
    """Move a whole-file reject to failed/ with ``<name>.error.json`` beside it."""
    name = name or path.name
    dest = _move(path, settings.failed_dir, name)
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
    return reject(settings, archived, code, message, record["batch_id"], name=Path(record["file"]).name)
