"""The built-in ground filter (SMRF) for clouds delivered without a ground class: scored
against the real NRW classification and the sample's, and run through the tile pass."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import laspy
import numpy as np
import pytest
import rasterio
from scipy import ndimage

from geoportal.core.errors import SourceFormatError
from pipelines.lidar.grid import GridSpec, bin_points, fill_gaps
from pipelines.lidar.ground import SmrfParams, minimum_surface, smrf_ground
from pipelines.lidar.kernels import near_surface
from pipelines.lidar.products import LidarOptions, LidarParams, build_tile
from pipelines.lidar.tiles import discover
from pipelines.pointcloud import Points, read_points, tile_origin
from pipelines.tiles import TILE_SIZE

NRW_GROUND = (2, 9, 26)  # ground, water, synthetic ground (NRW's class list)
NOISE = (7, 18)


def _unclassified(points: Points) -> Points:
    """The same points as an unclassified delivery: every class 1 but the noise."""
    noise = np.isin(points.classification, NOISE)
    return replace(points, classification=np.where(noise, points.classification, 1)
                   .astype(np.uint8))


def _terrain(points: Points, ground: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    """The 0.5 m terrain model the tile pass makes from these ground points."""
    classes = np.where(ground, 2, 1).astype(np.uint8)
    spec = GridSpec.for_tile(origin, TILE_SIZE, 0.5)
    return fill_gaps(bin_points(replace(points, classification=classes), spec, (2,))
                     .grids["ground"])


def _score(path: Path, truth_classes: tuple[int, ...]) -> dict[str, float]:
    points = read_points(path, returns=True)
    origin = tuple(v * TILE_SIZE for v in tile_origin(path))
    truth = np.isin(points.classification, truth_classes)
    p = SmrfParams()
    found = smrf_ground(_unclassified(points), GridSpec.for_tile(origin, TILE_SIZE, p.cell_m), p)
    hit = (found & truth).sum()
    diff = np.abs(_terrain(points, found, origin) - _terrain(points, truth, origin))
    diff = diff[np.isfinite(diff)]
    return {"precision": hit / found.sum(), "recall": hit / truth.sum(),
            "rmse": float(np.sqrt(np.mean(diff ** 2))), "p99": float(np.percentile(diff, 99))}


def test_smrf_finds_the_ground_of_the_real_nrw_tile(shared_data: Path) -> None:
    """NRW's own classification (3.1 of 3.57 million points ground) as the truth."""
    score = _score(shared_data / "nrw-lidar-3dm" / "3dm_32_291_5744_1_nw_subset.laz",
                   NRW_GROUND)
    assert score["precision"] >= 0.97 and score["recall"] >= 0.99, score
    assert score["rmse"] <= 0.15 and score["p99"] <= 0.5, score


def test_smrf_takes_roofs_and_crowns_out_of_the_sample_terrain(two_tiles: Path) -> None:
    """The sample's centre tile: buildings over 36 m across, street trees, parks."""
    score = _score(two_tiles / "lidar" / "3dm_32_350_5685_1_nw.laz", (2, 9))
    assert score["precision"] >= 0.98 and score["recall"] >= 0.98, score
    assert score["rmse"] <= 0.15 and score["p99"] <= 0.5, score


def test_minimum_surface_is_the_lowest_point_per_cell() -> None:
    rng = np.random.default_rng(5)
    n = 50_000
    X, Y = (rng.integers(0, 10_000, n, dtype=np.int32) for _ in range(2))
    Z = rng.integers(0, 3_000, n, dtype=np.int32)
    classes = rng.choice(np.array([1, 2, 18], np.uint8), n)
    points = Points(X, Y, Z, np.array([0.01] * 3), np.array([350_000.0, 5_685_000.0, 10.0]),
                    classes)
    spec = GridSpec.for_tile((350_000.0, 5_685_000.0), 100.0, 2.0)
    low = minimum_surface(points, spec)
    keep = classes != 18
    col = np.minimum(((points.x[keep] - spec.x0) / 2.0).astype(int), spec.size - 1)
    row = np.minimum(((spec.y_top - points.y[keep]) / 2.0).astype(int), spec.size - 1)
    expected = np.full(spec.size ** 2, np.inf)
    np.minimum.at(expected, row * spec.size + col, points.z[keep])
    expected[np.isinf(expected)] = np.nan
    np.testing.assert_array_equal(low, expected.reshape(low.shape))


def test_points_near_the_surface_use_bilinear_heights() -> None:
    rng = np.random.default_rng(6)
    surface = rng.uniform(0, 5, (20, 20))
    tolerance = np.full(surface.shape, 0.3)
    n = 20_000
    x = rng.uniform(0.5, 19.5, n)  # between the outermost cell centres: no clamping
    y = rng.uniform(0.5, 19.5, n)
    rows, cols = 20 - y - 0.5, x - 0.5
    height = ndimage.map_coordinates(surface, [rows, cols], order=1)
    z = height + rng.uniform(-0.6, 0.6, n)
    X, Y, Z = (np.round(v * 1000).astype(np.int32) for v in (x, y, z))
    near = near_surface(X, Y, Z, np.ones(n, np.uint8), np.array([0.001] * 3), np.zeros(3),
                        0.0, 20.0, 1.0, surface, tolerance, np.zeros(256, np.bool_))
    off = np.abs(Z / 1000 - height)
    clear = np.abs(off - 0.3) > 0.002  # the rounding to millimetres decides the others
    np.testing.assert_array_equal(near[clear], (off <= 0.3)[clear])


def _write_unclassified(source: Path, target: Path) -> None:
    las = laspy.read(source)
    las.classification = np.where(np.isin(las.classification, NOISE), las.classification, 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    las.write(target)


def test_unclassified_tiles_fail_with_a_hint_and_build_with_ground_smrf(two_tiles: Path,
                                                                         tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for tile in discover(two_tiles, "lidar/3dm_32_*_1_nw.laz", "terrain_dtm"):
        _write_unclassified(tile.path, raw / "lidar" / tile.path.name)
    tiles = discover(raw, "lidar/3dm_32_*_1_nw.laz", "terrain_dtm")
    classes = LidarParams(footprints=None)
    failed = build_tile(tiles[0], tiles, classes, raw, tmp_path / "cache")
    assert failed.error and "no ground points" in failed.error and "ground: smrf" in failed.error

    smrf = LidarParams.from_options("EPSG:25832",
                                    LidarOptions(ground="smrf", footprints=None))
    built = build_tile(tiles[0], tiles, smrf, raw, tmp_path / "cache")
    assert built.error is None, built.error
    delivered = discover(two_tiles, "lidar/3dm_32_*_1_nw.laz", "terrain_dtm")
    reference = build_tile(delivered[0], delivered, classes, two_tiles, tmp_path / "reference")
    with rasterio.open(Path(built.folder) / "dtm.tif") as a, \
            rasterio.open(Path(reference.folder) / "dtm.tif") as b:
        diff = np.abs(a.read(1) - b.read(1))
    assert float(np.sqrt(np.mean(diff ** 2))) <= 0.15 and np.percentile(diff, 99) <= 0.5


def test_the_filter_parameters_come_typed_from_the_yaml() -> None:
    # the mistakes (an unknown ground source or key) are tests/test_pipeline_params.py's
    options = LidarOptions.model_validate({"ground": "smrf", "smrf": {"window_m": 18}})
    params = LidarParams.from_options("EPSG:25832", options)
    assert params.ground == "smrf" and params.smrf.window_m == 18 and params.smrf.slope == 0.15


def test_a_tile_the_filter_finds_no_ground_in_is_refused(tmp_path: Path) -> None:
    from pipelines.lidar.products import _bin_and_commit
    from pipelines.lidar.tiles import Tile

    noise = Points(np.zeros(10, np.int32), np.zeros(10, np.int32), np.zeros(10, np.int32),
                   np.array([0.01] * 3), np.array([350_000.0, 5_685_000.0, 0.0]),
                   np.full(10, 18, np.uint8), np.ones(10, np.uint8), np.ones(10, np.uint8))
    tile = Tile(tmp_path / "3dm_32_350_5685_1_nw.laz", 350, 5685)
    with pytest.raises(SourceFormatError, match=r"ground filter \(smrf\) found no ground"):
        _bin_and_commit(tile, noise, LidarParams(ground="smrf"), tmp_path / "entry")
