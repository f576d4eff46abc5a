"""Files the pipeline writes: owner-only folders, atomic writes, content hashes.

Readers of any file written here see the previous complete version or the new one, never
a half-written file: everything goes to a hidden temporary name in the same folder first
and is renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from pipeline.errors import ConfigError

_CHUNK = 8 << 20


def _own_folder(path: Path) -> None:
    """Create ``path`` (and parents), refusing a symbolic link, a non-folder or someone else's folder."""
    if path.is_symlink():
        raise ConfigError(f"{path} is a symbolic link; the pipeline writes only into real folders it owns")
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{path} exists and is not a folder")
        if path.stat().st_uid != os.geteuid():
            raise ConfigError(f"{path} belongs to another user; the pipeline writes only into folders it owns")
    path.mkdir(parents=True, exist_ok=True)


def secure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it owner-only (0700).

    Only for the service's own folders (warehouse/, archive/, failed/, quarantine/ …), never the
    drop folder itself. A folder that is a symbolic link, not a folder, or owned by someone else
    is refused: following it would write restricted data (and change modes) somewhere else.
    """
    _own_folder(path)
    os.chmod(path, 0o700)
    return path


def shared_dir(path: Path, gid: int) -> Path:
    """Create ``path`` for the analysts' group: 2750 (group may list and read; setgid, so files
    made inside inherit the group), group ``gid``. Refused like :func:`secure_dir` when it is a
    symbolic link, not a folder, or someone else's."""
    _own_folder(path)
    os.chown(path, -1, gid)
    os.chmod(path, 0o2750)
    return path


def share_file(path: Path, gid: int, mode: int = 0o440) -> Path:
    """Give a finished shareable file to the analysts' group, read-only (0440 by default)."""
    os.chown(path, -1, gid)
    os.chmod(path, mode)
    return path


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` through a unique temporary file in the same folder, then rename.

    The temporary name is unique (``mkstemp``), so two writers of the same file never write
    into each other's half; the data is flushed to disk before the rename.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def sha256_of(path: Path) -> str:
    """Hex sha256 of the stored bytes of ``path`` (compressed files are hashed as stored)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
