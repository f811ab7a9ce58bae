"""The depression filling in tiles, equal to the one-mosaic fill cell by cell.

Filling is not tile-local: a pit near a tile's edge may spill through the next tile, or only
over a rim three tiles away. The tiled fill (after Barnes 2016, "Parallel priority-flood
depression filling for trillion cell digital elevation models") works in three steps:

1. each tile is flooded on its own (``priority_flood``), its perimeter cells as outlets; every
   cell gets the local fill and the label of the perimeter cell its flood came from;
2. a graph of labels: two labels meeting anywhere (8-neighbours inside a tile or across a seam)
   are joined at the higher local fill of the two cells; a label whose perimeter cell is an
   outlet of the whole grid (its edge, beside no-data) is joined to the "ocean" at its height;
   a minimax priority-flood on that small graph gives each label the level its water must
   reach to leave the grid;
3. each cell's fill is the higher of its local fill and its label's level.

Fills are maxima of terrain heights, never sums, so the result is the mosaic's to the bit
(tests/heavy_rain/test_tiled.py). Only the fill (and so the sinks' depths) is tiled; flow
directions and accumulation still run on the mosaic.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np

from pipelines.heavy_rain.hydrology import DC, DR, priority_flood


@numba.njit(cache=True, nogil=True)
def _labels(parent: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The flood's root (an outlet cell, tile-local flat index) of every cell; -1 if none."""
    label = np.full(parent.size, -1, dtype=np.int64)
    for i in order:
        label[i] = i if parent[i] < 0 else label[parent[i]]
    return label


def _outlets(valid: np.ndarray) -> np.ndarray:
    """Cells where water leaves the whole grid: its edge, and beside cells without terrain."""
    padded = np.pad(valid, 1, constant_values=False)
    out = np.zeros(valid.shape, bool)
    rows, cols = valid.shape
    for dr, dc in zip(DR, DC, strict=True):
        out |= ~padded[1 + dr:1 + dr + rows, 1 + dc:1 + dc + cols]
    return out & valid


def _pairs(label: np.ndarray, fill: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(label a, label b, join level) for every 8-neighbour pair of different labels."""
    found = []
    rows, cols = label.shape
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each pair once
        r0, r1 = 0, rows - dr
        c0, c1 = max(0, -dc), cols - max(0, dc)
        a = (slice(r0, r1), slice(c0, c1))
        b = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        differ = valid[a] & valid[b] & (label[a] != label[b])
        found.append(np.column_stack([label[a][differ], label[b][differ],
                                      np.maximum(fill[a][differ], fill[b][differ])]))
    return np.concatenate(found) if found else np.zeros((0, 3))


def tiled_fill(z: np.ndarray, valid: np.ndarray, tile: int) -> np.ndarray:
    """The depression-filled surface of ``z``, computed tile by tile (``tile`` cells square)."""
    rows, cols = z.shape
    fill = np.where(valid, z, 0.0).astype(np.float64)
    label = np.full(z.shape, -1, dtype=np.int64)
    for r0 in range(0, rows, tile):
        for c0 in range(0, cols, tile):
            window = (slice(r0, min(rows, r0 + tile)), slice(c0, min(cols, c0 + tile)))
            zt, vt = fill[window].copy(), valid[window]
            local, parent, order = priority_flood(zt, vt)
            roots = _labels(parent, order)
            rr, cc = np.divmod(roots, zt.shape[1])
            glob = np.where(roots >= 0, (rr + r0) * cols + (cc + c0), -1)
            fill[window] = local
            label[window] = glob.reshape(zt.shape)
    level = _graph_levels(_pairs(label, fill, valid), label, fill, _outlets(valid))
    lifted = np.where(label >= 0, level.get_many(label), -np.inf)
    return np.where(valid, np.maximum(fill, lifted), z)


class _Levels:
    """Each label's level to leave the grid (a dict behind a vectorised lookup)."""

    def __init__(self, levels: dict[int, float]) -> None:
        self.keys = np.fromiter(levels.keys(), dtype=np.int64, count=len(levels))
        self.values = np.fromiter(levels.values(), dtype=np.float64, count=len(levels))
        order = np.argsort(self.keys)
        self.keys, self.values = self.keys[order], self.values[order]

    def get_many(self, labels: np.ndarray) -> np.ndarray:
        at = np.clip(np.searchsorted(self.keys, labels), 0, max(self.keys.size - 1, 0))
        found = self.keys.size > 0
        hit = found & (self.keys[at] == labels) if found else np.zeros(labels.shape, bool)
        return np.where(hit, self.values[at] if found else 0.0, np.inf)


def _graph_levels(pairs: np.ndarray, label: np.ndarray, fill: np.ndarray,
                  outlets: np.ndarray) -> _Levels:
    """Minimax priority-flood on the label graph from the ocean (the grid's outlets)."""
    edges: dict[int, list[tuple[float, int]]] = {}
    for a, b, w in pairs:
        a, b = int(a), int(b)
        edges.setdefault(a, []).append((float(w), b))
        edges.setdefault(b, []).append((float(w), a))
    heap = [(float(h), int(lab)) for lab, h in zip(label[outlets], fill[outlets], strict=True)]
    heapq.heapify(heap)
    level: dict[int, float] = {}
    while heap:
        h, node = heapq.heappop(heap)
        if node in level:
            continue
        level[node] = h
        for w, other in edges.get(node, []):
            if other not in level:
                heapq.heappush(heap, (max(h, w), other))
    return _Levels(level)
