"""The compiled priority-flood against a plain-Python one on random terrain with ties, flats
and no data: the fast path may change the speed, never the result."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest

from pipelines.heavy_rain.hydrology import DC, DR, accumulate, d8_receivers, priority_flood


def reference_flood(z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """Barnes et al. 2014's priority-flood with a pit queue, in plain Python: a heap of
    (elevation, push count, cell), outlets pushed in raster order."""
    rows, cols = z.shape
    filled, parent, closed = z.copy(), np.full(z.size, -1), ~valid
    heap: list = []
    pit: list = []
    pushes = itertools.count()
    for r in range(rows):
        for c in range(cols):
            if closed[r, c]:
                continue
            if (r in (0, rows - 1) or c in (0, cols - 1)
                    or not all(valid[r + dr, c + dc] for dr, dc in zip(DR, DC, strict=True))):
                closed[r, c] = True
                heapq.heappush(heap, (z[r, c], next(pushes), r * cols + c))
    order: list = []
    while pit or heap:
        i = pit.pop(0) if pit else heapq.heappop(heap)[2]
        order.append(i)
        r, c = divmod(i, cols)
        for dr, dc in zip(DR, DC, strict=True):
            nr, nc = r + dr, c + dc
            if not (0 <= nr < rows and 0 <= nc < cols) or closed[nr, nc]:
                continue
            closed[nr, nc] = True
            parent[nr * cols + nc] = i
            if z[nr, nc] <= filled[r, c]:
                filled[nr, nc] = filled[r, c]
                pit.append(nr * cols + nc)
            else:
                heapq.heappush(heap, (z[nr, nc], next(pushes), nr * cols + nc))
    return filled, parent, order


def random_terrain(seed: int, float32: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rough terrain rounded to 5 cm (many ties), a flat plateau, a flat-bottomed pit, a hole
    of no data and a few scattered no-data cells; -0.0 among the heights."""
    rng = np.random.default_rng(seed)
    z = np.round(rng.normal(0, 0.3, (37, 45)).cumsum(axis=1) / 5, 2) * 5
    z[5:12, 20:30] = 1.0
    z[20:26, 5:12] = z.min() - 1
    z[0, 0] = -0.0
    if not float32:
        z = z + rng.uniform(0, 1e-9, z.shape) * (rng.random(z.shape) < 0.5)
    valid = np.ones(z.shape, bool)
    valid[28:33, 30:36] = False
    valid[rng.random(z.shape) < 0.02] = False
    return z.astype(np.float32).astype(np.float64) if float32 else z, valid


@pytest.mark.parametrize("float32", [True, False], ids=["float32 heights", "float64 heights"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_priority_flood_equals_the_plain_python_flood(seed: int, float32: bool) -> None:
    z, valid = random_terrain(seed, float32)
    filled, parent, order = priority_flood(z, valid)
    expected_filled, expected_parent, expected_order = reference_flood(z, valid)
    assert np.array_equal(filled[valid], expected_filled[valid])
    assert np.array_equal(parent, expected_parent)
    assert order.tolist() == expected_order
    receiver = d8_receivers(filled, valid, parent)
    acc = accumulate(receiver, order, valid.ravel().astype(float))
    outlets = valid.ravel() & (receiver < 0)
    assert acc[outlets].sum() == valid.sum()  # every cell's water leaves the grid exactly once
