"""Fixtures: a generated two-tile sample (low density) and builders into temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testkit import make_settings

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import BuildSummary, build_all

TWO_TILES = [(350, 5685), (351, 5685)]
LIDAR_IDS = ["terrain_dtm", "surface_dsm", "canopy_height", "hillshade", "trees_lidar",
             "building_heights"]


@pytest.fixture(scope="session")
def two_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two adjacent 1 km tiles at 3 points/m² (trees stand on their shared edge at E 351 km).

    ``GEOPORTAL_TEST_LIDAR_RAW`` points at an already generated folder to save time locally.
    """
    if os.environ.get("GEOPORTAL_TEST_LIDAR_RAW"):
        return Path(os.environ["GEOPORTAL_TEST_LIDAR_RAW"])
    from geoportal.app.sample import SampleSpec, generate

    out = tmp_path_factory.mktemp("two_tiles") / "raw"
    generate(SampleSpec(tiles=TWO_TILES, seed=42, lidar_density=3.0, ortho_resolution=4.0), out)
    return out


def settings_for(base: Path, raw: Path) -> Settings:
    base.mkdir(parents=True, exist_ok=True)
    if not (base / "raw").exists():
        (base / "raw").symlink_to(raw)
    return make_settings(base)


def build(settings: Settings, ids: list[str], scheduler: str | None = None
          ) -> tuple[BuildSummary, str]:
    lines: list[str] = []
    registry = load_registry(PROJECT_ROOT / "datasets")
    summary = build_all(registry, settings, ids, echo=lines.append, scheduler=scheduler)
    return summary, "\n".join(lines)
