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


def test_the_catalog_is_read_again_when_a_yml_file_changes(tmp_path):
    import shutil
    from dataclasses import replace

    project = tmp_path / "dbt"
    shutil.copytree(load_settings().dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs"))
    settings = replace(load_settings(), dbt_project_dir=project)
    assert catalog.pii_columns(settings)["staging.stg_support__chats"] == ["message"]
    yml = project / "models" / "staging" / "support" / "stg_support__chats.yml"
    text = yml.read_text()
    assert "pii: true" in text
    yml.write_text(text.replace("pii: true", "pii: identifier", 1))
    assert catalog.classify_columns(settings)["staging.stg_support__chats"] == {"message": "identifier"}
