"""pygeoapi-config.yml is rendered from the registry, committed, and must not drift from it."""

from __future__ import annotations

import io

import yaml
from click.testing import CliRunner
from pygeoapi.config import validate_config
from pygeoapi.util import yaml_load

from geoportal.app.cli import main
from geoportal.app.pygeoapi_config import render_config, render_text
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "pygeoapi-config.yml"


def test_committed_config_matches_the_registry() -> None:
    registry = load_registry(PROJECT_ROOT / "datasets")
    assert CONFIG.read_text(encoding="utf-8") == render_text(registry), (
        "pygeoapi-config.yml is out of date: run `geoportal config` and commit it"
    )


def test_config_check_command_detects_drift(tmp_path, monkeypatch) -> None:
    (tmp_path / "datasets").mkdir()
    for f in (PROJECT_ROOT / "datasets").glob("*.yml"):
        (tmp_path / "datasets" / f.name).write_text(f.read_text(encoding="utf-8"),
                                                    encoding="utf-8")
    (tmp_path / "pygeoapi-config.yml").write_text(CONFIG.read_text(encoding="utf-8"),
                                                  encoding="utf-8")
    monkeypatch.setenv("GEOPORTAL_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["config", "--check"]).exit_code == 0
    trees = tmp_path / "datasets" / "trees.yml"
    trees.write_text(trees.read_text(encoding="utf-8").replace("de: Stadtbäume", "de: Bäume"),
                     encoding="utf-8")
    result = runner.invoke(main, ["config", "--check"])
    assert result.exit_code != 0 and "out of date" in result.output
    assert runner.invoke(main, ["config"]).exit_code == 0
    assert "de: Bäume" in (tmp_path / "pygeoapi-config.yml").read_text(encoding="utf-8")


def test_rendered_config_is_valid_for_pygeoapi(monkeypatch) -> None:
    monkeypatch.setenv("GEOPORTAL_PUBLISHED_DIR", "/srv/published")
    config = yaml_load(io.StringIO(CONFIG.read_text(encoding="utf-8")))
    assert validate_config(config)
    trees = config["resources"]["trees"]["providers"][0]
    assert trees["data"] == "/srv/published/trees/trees.gpkg"
    assert config["server"]["url"] == "http://127.0.0.1:5000"


def test_every_fact_comes_from_the_registry() -> None:
    registry = load_registry(PROJECT_ROOT / "datasets")
    config = render_config(registry)
    for d in registry:
        if not (d.serve.features or d.serve.tiles or d.serve.coverage):
            assert d.id not in config["resources"]  # download only (the COPC point cloud)
            continue
        resource = config["resources"][d.id]
        assert resource["title"] == {"de": d.title.de, "en": d.title.en}
        if d.serve.features:  # rasters (coverages, tiles) have no id field
            assert resource["providers"][0]["id_field"] == d.schema.id_field
        assert any(link["rel"] == "license" and link["href"] == d.license.page
                   for link in resource["links"])
    assert yaml.safe_load(render_text(registry)) == config


def test_cli_help_explains_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("sample", "build", "config", "serve", "demo", "datasets"):
        assert command in result.output
