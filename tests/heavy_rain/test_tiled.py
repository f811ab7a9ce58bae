"""The tiled depression fill equals the one-mosaic fill cell by cell, across every seam."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pipelines.heavy_rain.hydrology import priority_flood
from pipelines.heavy_rain.tiled import tiled_fill


def terrain(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hills and pits on a slope, with a hole of no terrain."""
    rng = np.random.default_rng(seed)
    z = 50 + ndimage.gaussian_filter(rng.normal(size=shape), 3) * 30 + 0.02 * np.arange(shape[1])
    valid = np.ones(shape, bool)
    valid[shape[0] // 3:shape[0] // 3 + 5, shape[1] // 2:shape[1] // 2 + 7] = False
    return z, valid


@pytest.mark.parametrize(("shape", "tile", "seed"), [((150, 210), 32, 1), ((97, 64), 17, 2),
                                                     ((60, 60), 60, 3), ((120, 90), 7, 4)])
def test_the_tiled_fill_equals_the_mosaic_fill_exactly(shape, tile, seed) -> None:
    z, valid = terrain(shape, seed)
    whole = priority_flood(np.where(valid, z, 0.0), valid)[0]
    tiled = tiled_fill(z, valid, tile)
    assert np.array_equal(tiled[valid], whole[valid])
    assert (whole[valid] > z[valid]).mean() > 0.05  # the case has pits to fill, across seams


def test_a_pit_spilling_through_three_tiles_fills_to_the_far_rim() -> None:
    z = np.full((30, 90), 10.0)
    z[1:-1, 1:-1] = 1.0        # one basin across three tiles of 30
    z[15, 0] = 5.0             # its lowest rim cell, at the far west edge
    valid = np.ones(z.shape, bool)
    tiled = tiled_fill(z, valid, 30)
    assert np.all(tiled[1:-1, 1:-1] == 5.0)
