"""Fixtures: a generated two-tile sample (low density) and builders into temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testkit.lidar import THREE_TILES, TWO_TILES


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


@pytest.fixture(scope="session")
def three_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 1 km tiles in a row at 2 points/m²: the first and the third are not neighbours."""
    from geoportal.app.sample import SampleSpec, generate

    out = tmp_path_factory.mktemp("three_tiles") / "raw"
    generate(SampleSpec(tiles=THREE_TILES, seed=7, lidar_density=2.0, ortho_resolution=4.0), out)
    return out
