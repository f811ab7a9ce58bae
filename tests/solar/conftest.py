"""Fixtures: the roof solar layer built from the tiny sample city into a folder of its own."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from testkit.lidar import build, settings_for

from geoportal.core.settings import Settings


@pytest.fixture(scope="session")
def solar_built(tmp_path_factory: pytest.TempPathFactory, sample_raw: Path) -> Settings:
    """``roof_solar`` and what it needs (DSM, DTM, footprints) built from the tiny sample."""
    settings = settings_for(tmp_path_factory.mktemp("solar"), sample_raw)
    summary, log = build(settings, ["roof_solar"])
    assert summary.ok, log
    return settings


@pytest.fixture(scope="session")
def roof_planes(solar_built: Settings) -> gpd.GeoDataFrame:
    return gpd.read_file(solar_built.published_dir / "roof_solar" / "roof_solar.gpkg")
