"""Tree detection on hand-made canopy models: a roof's edge is no tree top, a sparse crown is
one crown of its full size."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.lidar.grid import GridSpec
from pipelines.lidar.trees import TreeParams, detect

RES = 0.5
SIZE = 120  # 60 m


def spec() -> GridSpec:
    return GridSpec(0.0, SIZE * RES, RES, SIZE)


def cone(chm: np.ndarray, cx: float, cy: float, height: float, radius: float) -> None:
    """A round crown: ``height`` at (cx, cy) metres, falling to half height at ``radius``."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    x, y = (xx + 0.5) * RES, SIZE * RES - (yy + 0.5) * RES
    d = np.hypot(x - cx, y - cy)
    crown = np.where(d < radius, height * (1 - 0.5 * (d / radius) ** 2), 0.0)
    np.maximum(chm, crown, out=chm)


def run(chm: np.ndarray, buildings: np.ndarray | None = None, p: TreeParams | None = None):
    multi = np.where(chm > 0, 0.5, 0.0).astype(np.float32)
    mask = np.zeros(chm.shape, bool) if buildings is None else buildings
    return detect(chm.astype(np.float32), multi, mask, spec(), 0, p or TreeParams())


def test_a_roof_rim_outside_the_footprint_is_no_tree_top() -> None:
    chm = np.zeros((SIZE, SIZE))
    cone(chm, 30.25, 30.25, 9.0, 3.0)
    chm[20:60, 74:100] = 14.0  # a 14 m roof from x = 37 m
    footprint = np.zeros_like(chm, bool)
    footprint[21:59, 75:99] = True  # rasterised by cell centres: the roof's rim cells stay out
    trees = run(chm, footprint)
    assert len(trees) == 1, "the roof's rim is not a tree top"
    assert trees.height[0] == pytest.approx(9.0, abs=0.05)
    assert np.hypot(trees.x[0] - 30.25, trees.y[0] - 30.25) < 0.1
    assert len(run(chm, footprint, TreeParams(building_margin_m=0.0))) > 1, "rim tops without it"


def test_pits_in_a_sparse_crown_neither_split_nor_shrink_it() -> None:
    chm = np.zeros((SIZE, SIZE))
    cone(chm, 30.0, 30.0, 18.0, 5.0)
    rng = np.random.default_rng(1)
    pits = (rng.random(chm.shape) < 0.25) & (chm > 0)
    chm[pits] *= rng.uniform(0.0, 0.6, pits.sum())  # returns from deep in the crown or ground
    chm[59, 59] = 18.0  # the apex itself was hit
    trees = run(chm)
    assert len(trees) == 1
    assert trees.height[0] == pytest.approx(18.0, abs=0.05)
    assert trees.crown_diameter[0] == pytest.approx(10.0, abs=1.0)
    without = run(chm, p=TreeParams(pit_fill_m=0.0))
    assert without.crown_diameter.max() < trees.crown_diameter[0] - 1.0, "pits shrink crowns"


def test_sample_tiles_are_compressed_laz(two_tiles) -> None:
    """The generator once wrote plain LAS under the .laz name, which made decoding look free."""
    import laspy

    for path in sorted((two_tiles / "lidar").glob("*.laz")):
        with laspy.open(path) as reader:
            assert reader.header.are_points_compressed, path
