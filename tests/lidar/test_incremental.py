"""Rebuilds of the LiDAR products: one changed tile recomputes that tile and its neighbours and
publishes what a full build would; a rebuild with no change reads no point data at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import pytest
from testkit.lidar import build, settings_for

from geoportal.core.publish import read_metadata
from geoportal.core.settings import Settings

IDS = ["terrain_dtm", "canopy_height", "trees_lidar", "building_heights", "point_cloud",
       "trees", "trees_not_in_cadastre"]
FIRST, MIDDLE, LAST = "350_5685", "351_5685", "352_5685"


@pytest.fixture(scope="module")
def portal(three_tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Every LiDAR product built from a copy of the three-tile delivery, which the tests
    change; each test leaves what is published consistent with the delivery it leaves."""
    base = tmp_path_factory.mktemp("incremental")
    shutil.copytree(three_tiles, base / "raw")
    settings = settings_for(base / "portal", base / "raw")
    summary, log = build(settings, IDS)
    assert summary.ok, log
    return settings


def entries(settings: Settings, kind: str) -> dict[str, list[str]]:
    """The cache entries (``binned`` or ``products``) per tile: a new name is a recomputation."""
    root = settings.data_dir / "cache" / "lidar" / kind
    return {tile.name: sorted(p.name for p in tile.iterdir() if p.is_dir())
            for tile in sorted(root.iterdir())}


def tile_file(raw: Path, key: str) -> Path:
    return raw / "lidar" / f"3dm_32_{key}_1_nw.laz"


def raise_canopy(path: Path, metres: float) -> None:
    """A re-flown tile: every point above the ground classes of its eastern half higher."""
    las = laspy.read(path)
    east = (np.asarray(las.x) > las.header.mins[0] + 500) & ~np.isin(las.classification, (2, 9))
    las.z = np.where(east, np.asarray(las.z) + metres, np.asarray(las.z))
    las.write(path)


def published_tiles(settings: Settings, dataset: str) -> dict[str, str]:
    """The per-tile files of a published raster or COPC dataset: path → digest."""
    meta = read_metadata(settings.published_dir, dataset)
    assert meta is not None
    return {f.path: f.sha256 for f in meta.files}


def trees(settings: Settings, dataset: str) -> gpd.GeoDataFrame:
    frame = gpd.read_file(settings.published_dir / dataset / f"{dataset}.gpkg")
    return frame.sort_values(frame.columns[0]).reset_index(drop=True)


def test_one_changed_tile_rebuilds_it_and_its_neighbours_like_a_full_build(
        portal: Settings, tmp_path: Path) -> None:
    settings, delivery = portal, portal.raw_dir
    binned, products = entries(settings, "binned"), entries(settings, "products")

    raise_canopy(tile_file(delivery, FIRST), 3.0)
    summary, log = build(settings, IDS)
    assert summary.ok, log
    rebuilt_binned, rebuilt_products = entries(settings, "binned"), entries(settings, "products")
    # Decoded again: the changed tile alone; its products and its neighbour's are new.
    assert [k for k in binned if binned[k] != rebuilt_binned[k]] == [FIRST]
    assert [k for k in products if products[k] != rebuilt_products[k]] == [FIRST, MIDDLE]
    assert "from 3 tile(s)" in log and "(1 tile(s) unchanged, reused)" in log

    fresh = settings_for(tmp_path / "fresh", delivery)
    summary, log = build(fresh, IDS)
    assert summary.ok, log
    for dataset in ("terrain_dtm", "canopy_height", "point_cloud"):
        assert published_tiles(settings, dataset) == published_tiles(fresh, dataset), dataset
    for dataset in ("trees_lidar", "building_heights", "trees", "trees_not_in_cadastre"):
        assert trees(settings, dataset).equals(trees(fresh, dataset)), dataset


def test_a_rebuild_with_no_change_reads_no_point_data(portal: Settings) -> None:
    """The tiles are overwritten with zeros of the same size and time: a rebuild that opened
    any of them (or its cached grids) would fail; it keeps every published version instead."""
    settings, delivery = portal, portal.raw_dir
    before = {d: read_metadata(settings.published_dir, d) for d in IDS}
    shutil.rmtree(settings.data_dir / "cache" / "lidar")
    for path in (delivery / "lidar").glob("*.laz"):
        stat = path.stat()
        path.write_bytes(bytes(stat.st_size))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    summary, log = build(settings, IDS)
    assert summary.ok, log
    assert [r.dataset_id for r in summary.built] == IDS
    assert all(r.headline.startswith("unchanged since") for r in summary.built), log
    assert {d: read_metadata(settings.published_dir, d) for d in IDS} == before
