"""Pseudonyms: a keyed hash of an identifier, stable for joins and not reversible without the key.

HMAC-SHA256 with a secret key: values cannot be recovered by hashing a dictionary of
candidates (an unsalted hash can). The key comes from ``PIPELINE_PSEUDONYM_KEY`` or a key
file created on first use (owner-only).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets

import structlog

from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.store.files import secure_dir

log = structlog.get_logger()


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key: ``PIPELINE_PSEUDONYM_KEY``, else the key file (created on first use, 0600)."""
    if settings.pseudonym_key:
        if len(settings.pseudonym_key) < 16:
            raise ConfigError("PIPELINE_PSEUDONYM_KEY must be at least 16 characters")
        return settings.pseudonym_key.encode()
    path = settings.pseudonym_key_file
    if not path.exists():
        secure_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        log.warning("pseudonym.key_created", path=str(path),
                    note="random key, owner-only; back it up: pseudonyms change if it is lost")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable key (need ≥ 32 hex characters)")
    return key.encode()


def pseudonymise(key: bytes, value: str | None) -> str | None:
    """Keyed hash of an identifier: stable for joins, not reversible without the key."""
    if value is None:
        return None
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()
