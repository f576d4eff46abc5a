"""Redaction stage: build the shareable layer. (Pass-through until the redaction issue lands.)"""
from __future__ import annotations

from typing import Any

from pipeline.settings import Settings


def build_share(settings: Settings) -> dict[str, Any]:
    return {"redacted": False}
