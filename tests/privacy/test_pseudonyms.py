"""Pseudonym keys: a lost or different key is an error, never a silent new key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.errors import ConfigError
from pipeline.privacy.pseudonyms import pseudonym_key, pseudonymise


def test_a_lost_key_file_is_an_error_once_pseudonyms_exist(settings):
    first = pseudonym_key(settings)
    settings.pseudonym_key_file.unlink()  # lost: a new random key would change every pseudonym
    with pytest.raises(ConfigError, match="pseudonym key file .* is missing, but this warehouse already has"):
        pseudonym_key(settings)
    assert not settings.pseudonym_key_file.exists(), "no replacement key was created"
    settings.pseudonym_key_file.write_text(first.decode() + "\n")  # restored
    settings.pseudonym_key_file.chmod(0o600)
    assert pseudonymise(pseudonym_key(settings), "42") == pseudonymise(first, "42")


def test_a_different_key_is_refused(settings):
    pseudonym_key(settings)
    other = replace(settings, pseudonym_key="x" * 32)
    with pytest.raises(ConfigError, match="not the one that made this warehouse's pseudonyms"):
        pseudonym_key(other)
