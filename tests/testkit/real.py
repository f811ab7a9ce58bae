"""Building the project's layers from the real public files in ../shared/data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml
from testkit import make_settings

from geoportal.core.settings import PROJECT_ROOT, Settings

#: the portal's own settings (publisher, contact, licence defaults) as the registry holds them
PORTAL = yaml.safe_load((PROJECT_ROOT / "datasets" / "_portal.yml").read_text(encoding="utf-8"))


def dataset_file(folder: Path, spec: dict) -> Path:
    """Write a dataset description the way a GIS officer would: one YAML file."""
    base = {
        "title": {"de": "Bäume Münster", "en": "Trees Münster"},
        "description": {"de": "Testdaten", "en": "test data"},
        "theme": "environment",
        "keywords": {"de": ["Baum"]},
        "license": "dl-de/zero-2-0",
        "update_frequency": "annual",
        "pipeline": {"kind": "vector"},
    }
    path = folder / f"{spec['id']}.yml"
    path.write_text(yaml.safe_dump({**base, **spec}, allow_unicode=True), encoding="utf-8")
    return path


def reading_shared_data(tmp_path: Path, shared_data: Path) -> Settings:
    """Settings that build into a temporary folder from the real files in ../shared/data."""
    return replace(make_settings(tmp_path / "data"), raw_dir=shared_data)
