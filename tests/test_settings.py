"""Settings: where the dbt project and the Soda checks are found, in a checkout and when installed."""

from __future__ import annotations

import glob

import pytest
import tomllib

from pipeline import settings as settings_module
from pipeline.errors import ConfigError
from tests.helpers import REPO


def test_a_checkout_uses_its_own_dbt_and_soda_folders():
    loaded = settings_module.load_settings()
    assert loaded.dbt_project_dir == REPO / "dbt"
    assert loaded.soda_dir == REPO / "soda"


def test_an_installed_package_finds_the_folders_under_its_prefix(tmp_path, monkeypatch):
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path / "site-packages")  # no checkout
    monkeypatch.setattr(settings_module, "INSTALLED_SHARE", tmp_path / "share" / "pipeline")
    (tmp_path / "share" / "pipeline" / "dbt").mkdir(parents=True)
    assert settings_module.project_folder("dbt") == tmp_path / "share" / "pipeline" / "dbt"
    with pytest.raises(ConfigError, match="cannot find the soda folder.*PIPELINE_SODA_DIR"):
        settings_module.project_folder("soda")


def test_an_explicit_folder_setting_wins(tmp_path, monkeypatch):
    (tmp_path / "my-dbt").mkdir()
    monkeypatch.setenv("PIPELINE_DBT_DIR", str(tmp_path / "my-dbt"))
    assert settings_module.load_settings().dbt_project_dir == tmp_path / "my-dbt"


def test_the_wheel_ships_every_file_of_the_dbt_project_and_the_soda_checks():
    """pyproject's data-files cover every tracked file the two tools read."""
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {
        path for patterns in data_files.values() for pattern in patterns for path in glob.glob(pattern, root_dir=REPO)
    }
    needed = {
        str(p.relative_to(REPO))
        for folder in ("dbt", "soda")
        for p in (REPO / folder).rglob("*")
        if p.is_file() and not {"target", "logs", ".sqlfluff-library"} & set(p.parts) and p.name != ".sqlfluff"
    }
    assert needed - shipped == set()


def test_share_folder_defaults_beside_the_warehouse_and_may_not_sit_inside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_SHARE", raising=False)
    monkeypatch.delenv("PIPELINE_SHARE_GROUP", raising=False)
    s = settings_module.load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "wh")
    assert s.share_dir == tmp_path / "wh-share" and s.share_db == tmp_path / "wh-share" / "share.duckdb"
    assert s.exports_dir == tmp_path / "wh-share" / "exports"
    monkeypatch.setenv("PIPELINE_SHARE", str(tmp_path / "wh" / "share"))
    with pytest.raises(ConfigError, match=r"setting share \(PIPELINE_SHARE\) is .* inside the warehouse folder"):
        settings_module.load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "wh")


def test_share_group_must_exist(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_SHARE", raising=False)
    monkeypatch.setenv("PIPELINE_SHARE_GROUP", "no-such-group-xyz")
    with pytest.raises(ConfigError, match=r"setting share_group \(PIPELINE_SHARE_GROUP\) is 'no-such-group-xyz', "):
        settings_module.load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "wh")


@pytest.mark.parametrize(
    ("share", "what"),
    [
        ("", "holds the warehouse"),
        ("in", "holds the landing folder"),
    ],
)
def test_share_folder_may_not_hold_the_warehouse_or_landing(tmp_path, monkeypatch, share, what):
    """The share folder is chmodded 2750 and given to its group: never a parent of the private folders."""
    monkeypatch.delenv("PIPELINE_SHARE_GROUP", raising=False)
    monkeypatch.setenv("PIPELINE_SHARE", str(tmp_path / share))
    with pytest.raises(ConfigError) as caught:
        settings_module.load_settings(landing=tmp_path / "in" / "landing", warehouse=tmp_path / "wh")
    assert str(caught.value) == (
        f"setting share (PIPELINE_SHARE) is {str((tmp_path / share).resolve())!r}, which {what}; the share folder "
        "is opened to its group, so give it a folder of its own (default: <warehouse>-share beside the warehouse)"
    )


def test_luigi_config_path_naming_no_file_is_a_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(tmp_path / "nope.cfg"))
    with pytest.raises(ConfigError) as caught:
        settings_module.load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "wh")
    assert str(caught.value) == f"LUIGI_CONFIG_PATH is {tmp_path / 'nope.cfg'}, which is not a file"


def test_a_luigi_cfg_that_is_not_utf8_is_a_sentence(tmp_path, monkeypatch):
    cfg = tmp_path / "luigi.cfg"
    cfg.write_bytes(b"[pipeline]\nlanding = caf\xe9\n")
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(cfg))
    with pytest.raises(ConfigError, match=rf"^{cfg} cannot be read: 'utf-8' codec can't decode byte 0xe9"):
        settings_module.load_settings(landing=tmp_path / "landing", warehouse=tmp_path / "wh")
