"""The terrain served as OGC API Coverage, and the pipeline on the real NRW tile."""

from __future__ import annotations

import shutil
from pathlib import Path

import laspy
import numpy as np
import rasterio
import requests
from rasterio.io import MemoryFile
from testkit import missing
from testkit.lidar import build, settings_for

from geoportal.core.settings import Settings


def test_terrain_coverage_subset_matches_the_mosaic(server: str, portal: Settings) -> None:
    url = (f"{server}/collections/terrain_dtm/coverage"
           "?subset=x(350100:350200),y(5685100:5685200)&f=GTiff")
    response = requests.get(url, timeout=60)
    assert response.status_code == 200, response.text[:500]
    with MemoryFile(response.content) as mem, mem.open() as cut:
        assert cut.crs.to_epsg() == 25832
        served = cut.read(1)
        left, top = cut.bounds.left, cut.bounds.top
    with rasterio.open(portal.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as mosaic:
        row, col = mosaic.index(left + 0.25, top - 0.25)
        expected = mosaic.read(1, window=((row, row + served.shape[0]),
                                          (col, col + served.shape[1])))
    assert 150 <= served.shape[0] <= 202 and np.allclose(served, expected)


def test_real_nrw_tile_gives_a_sane_terrain(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "nrw-lidar-3dm" / "3dm_32_291_5744_1_nw_subset.laz"
    if not source.exists():
        missing(f"{source} not found")
    raw = tmp_path / "raw"
    (raw / "lidar").mkdir(parents=True)
    (raw / "lidar" / "3dm_32_291_5744_1_nw.laz").symlink_to(source)
    settings = settings_for(tmp_path / "data", raw)
    summary, log = build(settings, ["terrain_dtm"])
    assert summary.ok, log
    las = laspy.read(source)
    ground = np.asarray(las.z)[np.isin(np.asarray(las.classification), (2, 9))]
    with rasterio.open(settings.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as src:
        dtm = src.read(1)
        assert src.crs.to_epsg() == 25832
    assert np.isfinite(dtm).all() and not (dtm == -9999).any(), "no holes"
    assert ground.min() - 0.01 <= dtm.min() and dtm.max() <= ground.max() + 0.01
    shutil.rmtree(tmp_path / "data" / "cache")
