"""The PII catalog is read from the dbt project's yml (one declaration for dbt and redaction)."""
from __future__ import annotations

from pipeline.privacy import catalog
from pipeline.settings import load_settings


def test_pii_columns_come_from_the_dbt_yml():
    settings = load_settings()
    assert catalog.pii_columns(settings) == {
        "raw.chats": ["message"],
        "staging.stg_support__chats": ["message"],
    }
