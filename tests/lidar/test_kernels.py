"""The compiled per-point loops against plain numpy/scipy written out independently."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipelines.lidar.grid import GridSpec, beyond_reach, bin_points, fill_gaps, hillshade
from pipelines.lidar.kernels import count_outside, nearest_fill
from pipelines.pointcloud import Points


def _cloud(n: int = 200_000) -> Points:
    rng = np.random.default_rng(3)
    X = rng.integers(0, 100_000, n, dtype=np.int32)  # 0.01 m: a 1 km tile
    Y = rng.integers(0, 100_000, n, dtype=np.int32)
    Z = rng.integers(4_000, 9_000, n, dtype=np.int32)
    classes = rng.choice(np.array([1, 2, 9, 18, 20], np.uint8), n, p=[.3, .4, .05, .05, .2])
    returns = rng.integers(1, 4, n).astype(np.uint8)
    return Points(X, Y, Z, np.array([0.01, 0.01, 0.01]), np.array([350_000.0, 5_685_000.0, 0.0]),
                  classes, returns.copy(), returns)


def test_binning_matches_a_plain_numpy_reduction() -> None:
    points = _cloud()
    spec = GridSpec.for_tile((350_000.0, 5_685_000.0), 1000.0, 2.0)
    cells = bin_points(points, spec, (2, 9))
    keep = ~np.isin(points.classification, (7, 18))
    x, y, z = points.x[keep], points.y[keep], points.z[keep]
    col = np.clip(((x - spec.x0) / spec.resolution).astype(np.int64), 0, spec.size - 1)
    row = np.clip(((spec.y_top - y) / spec.resolution).astype(np.int64), 0, spec.size - 1)
    idx = row * spec.size + col  # points on the far edges fall into the last cell
    dsm = np.full(spec.size ** 2, -np.inf)
    np.maximum.at(dsm, idx, z)
    ground = np.isin(points.classification[keep], (2, 9))
    g_sum = np.bincount(idx[ground], weights=z[ground], minlength=spec.size ** 2)
    g_n = np.bincount(idx[ground], minlength=spec.size ** 2)
    multi = np.bincount(idx[~ground & (points.number_of_returns[keep] > 1)],
                        minlength=spec.size ** 2)
    count = np.bincount(idx, minlength=spec.size ** 2)
    shape = (spec.size, spec.size)
    np.testing.assert_array_equal(cells.grids["dsm"],
                                  np.where(np.isinf(dsm), np.nan, dsm).reshape(shape)
                                  .astype(np.float32))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(cells.grids["ground"], (g_sum / g_n).reshape(shape),
                                   rtol=1e-6)
        np.testing.assert_allclose(cells.grids["multi"], (multi / count).reshape(shape),
                                   rtol=1e-6)
    assert cells.ground_points == int(ground.sum())
    assert cells.ground_range == (z[ground].min(), z[ground].max())


def test_a_tile_without_ground_points_has_no_ground_range() -> None:
    points = _cloud(1000)
    points.classification[:] = 1
    cells = bin_points(points, GridSpec.for_tile((350_000.0, 5_685_000.0), 1000.0, 2.0), (2,))
    assert cells.ground_range is None and np.isnan(cells.grids["ground"]).all()


def test_points_outside_the_frame_are_counted_not_binned() -> None:
    points = _cloud(10_000)
    spec = GridSpec.for_tile((350_000.0, 5_685_000.0), 1000.0, 2.0)
    assert count_outside(points.X, points.Y, points.scale, points.offset, spec.x0, spec.y_top,
                         spec.resolution, spec.size) == 0
    points.X[:100] = 100_000 + 5  # 5 cm east of the tile (beyond the 1 cm edge tolerance)
    points.Y[100:150] = -2  # 2 cm south of it
    points.X[150:160] = 100_000  # on the east edge: in the last column
    assert count_outside(points.X, points.Y, points.scale, points.offset, spec.x0, spec.y_top,
                         spec.resolution, spec.size) == 150
    # the strays count for nothing (no edge cell takes their heights), the edge points do
    def take(sel: slice | np.ndarray) -> Points:
        return Points(points.X[sel], points.Y[sel], points.Z[sel], points.scale, points.offset,
                      points.classification[sel], None, points.number_of_returns[sel])

    np.testing.assert_array_equal(bin_points(points, spec, (2, 9)).grids["dsm"],
                                  bin_points(take(np.s_[150:]), spec, (2, 9)).grids["dsm"])
    edge = take(np.s_[150:160])
    edge.classification[:] = 1
    on_edge = np.isfinite(bin_points(edge, spec, (2, 9)).grids["dsm"])
    assert on_edge[:, -1].sum() >= 1 and not on_edge[:, :-1].any()  # in the last column


def test_cells_beyond_the_gap_distance_match_scipy() -> None:
    rng = np.random.default_rng(5)
    measured = rng.random((300, 257)) > 0.995
    far = beyond_reach(measured, 7.0, 0.5)
    distance = ndimage.distance_transform_edt(~measured, sampling=0.5)
    np.testing.assert_array_equal(far, distance > 7.0)
    assert beyond_reach(np.zeros((4, 4), bool), 7.0, 0.5).all()
    assert not beyond_reach(np.ones((4, 4), bool), 0.0, 0.5).any()


def test_each_empty_cell_takes_the_value_of_a_nearest_measured_cell() -> None:
    """Every cell holds its own flat index, so a filled value says where it was taken from:
    a measured cell, at the distance scipy's exact transform gives to the nearest one."""
    rng = np.random.default_rng(5)
    grid = np.arange(300 * 280, dtype=np.float32).reshape(300, 280)
    grid[rng.random(grid.shape) < 0.3] = np.nan
    grid[100:160, 40:120] = np.nan  # a building's footprint
    empty = np.isnan(grid)
    filled = nearest_fill(grid)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~empty], grid[~empty])
    rows, cols = np.divmod(filled[empty].astype(np.int64), grid.shape[1])
    assert not empty[rows, cols].any(), "a value that was never measured"
    at_rows, at_cols = np.nonzero(empty)
    taken_from = np.hypot(at_rows - rows, at_cols - cols)
    np.testing.assert_allclose(taken_from, ndimage.distance_transform_edt(empty)[empty])


def test_gap_filling_closes_holes_from_the_heights_around_them_only() -> None:
    """On sloping ground (36 m from corner to corner) a hole is filled from the measured cells
    around it, never with heights from elsewhere; the measured cells stay as they were."""
    rng = np.random.default_rng(7)
    grid = sloping_ground(rng)
    grid[rng.random(grid.shape) < 0.005] = np.nan  # single cells a scan missed
    grid[100:160, 40:120] = np.nan  # a building's footprint
    grid[20:24, 200:203] = np.nan  # a car
    empty = np.isnan(grid)
    filled = fill_gaps(grid)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~empty], grid[~empty])
    # A filled cell is an average of cells at most 2 cells away (5 x 5) that were measured or
    # filled from the same neighbourhood: bounded by the measured cells of its hole's surround.
    surround, n = ndimage.label(ndimage.binary_dilation(empty, np.ones((5, 5), bool)),
                                np.ones((3, 3), bool))
    index = np.arange(1, n + 1)
    low = ndimage.minimum(np.where(empty, np.inf, grid), surround, index)
    high = ndimage.maximum(np.where(empty, -np.inf, grid), surround, index)
    label = surround[empty] - 1
    assert (filled[empty] >= low[label] - 1e-4).all()
    assert (filled[empty] <= high[label] + 1e-4).all()
    building = surround[130, 80] - 1
    assert high[building] - low[building] < 0.3 * (np.nanmax(grid) - np.nanmin(grid))


def test_gap_filling_leaves_no_terraces_under_a_building() -> None:
    """Nearest-cell filling alone (scipy's, as a peer) leaves steps under a building where the
    nearest edge changes; the filled ground is smooth at a fraction of that."""
    grid = sloping_ground(np.random.default_rng(7), noise=0.0)
    grid[100:160, 40:120] = np.nan
    empty = np.isnan(grid)
    nearest = grid[tuple(ndimage.distance_transform_edt(empty, return_distances=False,
                                                        return_indices=True))]
    filled = fill_gaps(grid)
    assert largest_step(filled, empty) < 0.25 * largest_step(nearest, empty)
    assert largest_step(filled, empty) < 6 * largest_step(grid, ~empty)  # the slope's own


def sloping_ground(rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """300 x 280 cells rising 5 cm per column and 3 cm per row, with a little noise."""
    yy, xx = np.mgrid[0:300, 0:280]
    return (40 + 0.05 * xx + 0.03 * yy + rng.normal(0, noise, xx.shape)).astype(np.float32)


def largest_step(grid: np.ndarray, where: np.ndarray) -> float:
    """The largest height difference between two neighbouring cells (row or column) both in
    ``where``."""
    down = np.abs(np.diff(grid, axis=0))[where[1:] & where[:-1]]
    across = np.abs(np.diff(grid, axis=1))[where[:, 1:] & where[:, :-1]]
    return float(max(down.max(), across.max()))


def test_nothing_to_fill_and_nothing_to_fill_from() -> None:
    full = np.ones((10, 10), np.float32)
    assert fill_gaps(full) is full
    empty = np.full((10, 10), np.nan, np.float32)
    assert np.isnan(fill_gaps(empty)).all()


def test_hillshade_matches_the_trigonometric_formula() -> None:
    yy, xx = np.mgrid[0:200, 0:240].astype(np.float32)
    dtm = (40 + 3 * np.sin(xx / 17) + 2 * np.cos(yy / 11) + 0.02 * xx).astype(np.float32)
    dy, dx = np.gradient(dtm, 0.5)
    slope, aspect = np.arctan(np.hypot(dx, dy)), np.arctan2(-dx, dy)
    az, alt = np.radians(360.0 - 315.0 + 90.0), np.radians(45.0)
    value = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    expected = np.clip(1 + 254 * np.clip(value, 0, 1), 1, 255).astype(np.uint8)
    shade = hillshade(dtm, 0.5)
    assert shade.dtype == np.uint8 and shade.min() >= 1
    assert np.abs(shade.astype(int) - expected).max() <= 1
    assert (shade != expected).mean() < 1e-3
