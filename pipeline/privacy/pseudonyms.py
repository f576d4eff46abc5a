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
from pathlib import Path

import structlog

from pipeline.errors import ConfigError
from pipeline.settings import MIN_PSEUDONYM_KEY, Settings
from pipeline.store.files import atomic_write_text, secure_dir

log = structlog.get_logger()


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key: ``PIPELINE_PSEUDONYM_KEY``, else the key file (created on first use, 0600).

    The warehouse remembers a fingerprint of the key that made its pseudonyms; a key that is
    missing or different later is an error, never a silent new key (pseudonyms would change
    and joins across weeks would find nothing).
    """
    key = _env_key(settings) or _file_key(settings)
    _check_fingerprint(settings, key)
    return key


def _env_key(settings: Settings) -> bytes | None:
    if not settings.pseudonym_key:
        return None
    if len(settings.pseudonym_key) < MIN_PSEUDONYM_KEY:  # a Settings built without load_settings
        raise ConfigError(f"PIPELINE_PSEUDONYM_KEY must be at least {MIN_PSEUDONYM_KEY} characters")
    return settings.pseudonym_key.encode()


def _file_key(settings: Settings) -> bytes:
    path = settings.pseudonym_key_file
    if not path.exists():
        if _fingerprint_file(settings).exists():
            raise ConfigError(
                f"the pseudonym key file {path} is missing, but this warehouse already has pseudonyms made "
                "with a key: restore the key file (or set PIPELINE_PSEUDONYM_KEY); a new key would change "
                "every pseudonym"
            )
        secure_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        log.warning(
            "pseudonym.key_created",
            path=str(path),
            note="random key, owner-only; back it up: pseudonyms change if it is lost",
        )
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable key (need ≥ 32 hex characters)")
    return key.encode()


def _fingerprint_file(settings: Settings) -> Path:
    return settings.state_dir / "pseudonym_key.fingerprint"


def _check_fingerprint(settings: Settings, key: bytes) -> None:
    """Record the key's fingerprint on first use; refuse a different key afterwards."""
    fingerprint = hmac.new(key, b"pipeline pseudonym key check", hashlib.sha256).hexdigest()[:32]
    path = _fingerprint_file(settings)
    if path.exists():
        if path.read_text().strip() != fingerprint:
            raise ConfigError(
                "the pseudonym key is not the one that made this warehouse's pseudonyms "
                f"(fingerprint in {path}); use the original key"
            )
        return
    secure_dir(path.parent)
    atomic_write_text(path, fingerprint + "\n", mode=0o600)


def pseudonymise(key: bytes, value: str | None) -> str | None:
    """Keyed hash of an identifier: stable for joins, not reversible without the key."""
    if value is None:
        return None
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()
