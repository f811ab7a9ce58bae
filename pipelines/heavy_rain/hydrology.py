"""Terrain hydrology on a grid, compiled with numba: priority-flood, D8, accumulation, sinks.

One priority-flood pass (Barnes, Lehman & Mulla 2014, "Priority-Flood" with a plain queue for
the cells raised into a pit) gives three things at once: the depression-filled surface, for
every cell the neighbour it was reached from, and the order the cells were reached in. The
filled elevations come off the queue in non-decreasing order, so the reverse of that order is a
topological order of any flow graph whose edges go down or, on a flat, to a cell reached
earlier: accumulation is then one pass without a sort.

D8 takes the steepest drop on the filled surface (drop over distance, diagonals √2 farther);
a cell with no lower neighbour (the flat surface of a filled sink, a flat plain) drains to the
neighbour the flood reached it from, so flats drain towards their outlet without an ε-slope.

richdem (last release 2018, no wheel for Python 3.12), whitebox (downloads its binary at run
time, which cannot work offline here) and pysheds would each add a dependency for ~100 lines;
the kernels are tested against hand-made cases in tests/heavy_rain/test_hydrology.py.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

#: The eight neighbours (row, column offsets) and their distances in cells.
DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)
DIST = np.array([np.sqrt(2.0), 1.0, np.sqrt(2.0), 1.0, 1.0, np.sqrt(2.0), 1.0, np.sqrt(2.0)])


@_jit
def priority_flood(z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill every depression of ``z`` (2-D float) to its spill level.

    Water leaves the grid at its edge and wherever it borders an invalid cell (no data: outside
    the scan). Returns the filled surface, the flat index of the cell each cell was reached
    from (-1 for the outlets) and the flat indices in the order they were reached.
    """
    rows, cols = z.shape
    filled = z.copy()
    parent = np.full(rows * cols, -1, dtype=np.int64)
    closed = ~valid
    order = np.empty(int(valid.sum()), dtype=np.int64)
    heap = [(0.0, np.int64(0), np.int64(0))]
    heap.pop()
    pit = np.empty(rows * cols, dtype=np.int64)  # a FIFO queue: head and tail indices
    head = tail = 0
    counter = np.int64(0)
    for r in range(rows):
        for c in range(cols):
            if closed[r, c]:
                continue
            edge = r == 0 or c == 0 or r == rows - 1 or c == cols - 1
            if not edge:
                for k in range(8):
                    if not valid[r + DR[k], c + DC[k]]:
                        edge = True
                        break
            if edge:
                closed[r, c] = True
                heapq.heappush(heap, (np.float64(z[r, c]), counter, np.int64(r * cols + c)))
                counter += 1
    n = 0
    while head < tail or len(heap) > 0:
        if head < tail:
            i = pit[head]
            head += 1
        else:
            i = heapq.heappop(heap)[2]
        order[n] = i
        n += 1
        r, c = i // cols, i % cols
        level = filled[r, c]
        for k in range(8):
            nr, nc = r + DR[k], c + DC[k]
            if nr < 0 or nc < 0 or nr >= rows or nc >= cols or closed[nr, nc]:
                continue
            closed[nr, nc] = True
            j = nr * cols + nc
            parent[j] = i
            if z[nr, nc] <= level:
                filled[nr, nc] = level
                pit[tail] = j
                tail += 1
            else:
                heapq.heappush(heap, (np.float64(z[nr, nc]), counter, np.int64(j)))
                counter += 1
    return filled, parent, order[:n]


@_jit
def d8_receivers(filled: np.ndarray, valid: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Each cell's D8 receiver (flat index, -1 where water leaves the grid)."""
    rows, cols = filled.shape
    receiver = np.full(rows * cols, -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            if not valid[r, c]:
                continue
            best, steepest = -1, 0.0
            for k in range(8):
                nr, nc = r + DR[k], c + DC[k]
                if nr < 0 or nc < 0 or nr >= rows or nc >= cols or not valid[nr, nc]:
                    continue
                slope = (filled[r, c] - filled[nr, nc]) / DIST[k]
                if slope > steepest:
                    best, steepest = nr * cols + nc, slope
            receiver[r * cols + c] = best if best >= 0 else parent[r * cols + c]
    return receiver


@_jit
def accumulate(receiver: np.ndarray, order: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Sum ``weight`` (flat, per cell) over each cell and everything upstream of it."""
    acc = weight.astype(np.float64).copy()
    for n in range(order.size - 1, -1, -1):
        i = order[n]
        j = receiver[i]
        if j >= 0:
            acc[j] += acc[i]
    return acc


@_jit
def first_sink_downstream(sink: np.ndarray, receiver: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For each cell the label of the first sink its water reaches (its own if it lies in one;
    0 when it leaves the grid first): the sinks' catchments."""
    label = np.zeros(sink.size, dtype=np.int64)
    for n in range(order.size):
        i = order[n]
        if sink[i] > 0:
            label[i] = sink[i]
        elif receiver[i] >= 0:
            label[i] = label[receiver[i]]
    return label


@_jit
def pour_points(sink: np.ndarray, receiver: np.ndarray, count: int) -> np.ndarray:
    """Per sink label (1..count) the flat index of the cell it spills into (-1: none found)."""
    pour = np.full(count + 1, -1, dtype=np.int64)
    for i in range(sink.size):
        s = sink[i]
        if s > 0 and pour[s] < 0:
            j = receiver[i]
            if j < 0:
                pour[s] = i
            elif sink[j] != s:
                pour[s] = j
    return pour
