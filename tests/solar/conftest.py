"""Fixtures: the roof solar layer built from the tiny sample city into a folder of its own,
and served by pygeoapi under gunicorn."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
from testkit import free_port, make_settings
from testkit.lidar import build

from geoportal.core.settings import Settings


@pytest.fixture(scope="session")
def solar_built(tmp_path_factory: pytest.TempPathFactory, sample_raw: Path) -> Settings:
    """``roof_solar`` and what it needs (DSM, DTM, footprints) built from the tiny sample."""
    base = tmp_path_factory.mktemp("solar")
    (base / "raw").symlink_to(sample_raw)
    settings = make_settings(base, f"http://127.0.0.1:{free_port()}")
    summary, log = build(settings, ["roof_solar"])
    assert summary.ok, log
    return settings


@pytest.fixture(scope="session")
def roof_planes(solar_built: Settings) -> gpd.GeoDataFrame:
    return gpd.read_file(solar_built.published_dir / "roof_solar" / "roof_solar.gpkg")


@pytest.fixture(scope="session")
def solar_server(solar_built: Settings) -> Iterator[str]:
    """The solar build served on its own port (what is not built is not served)."""
    from geoportal.app.server import start, stop

    port = int(solar_built.url.rsplit(":", 1)[1])
    proc: subprocess.Popen[bytes] = start(solar_built, "127.0.0.1", port, workers=1,
                                          log=solar_built.data_dir / "server.log")
    try:
        yield solar_built.url
    finally:
        stop(proc)
