"""Terrain hydrology on a grid, compiled with numba: priority-flood, D8, accumulation, sinks.

One priority-flood pass (Barnes, Lehman & Mulla 2014, "Priority-Flood" with a plain queue for
the cells raised into a pit) gives three things at once: the depression-filled surface, for
every cell the neighbour it was reached from, and the order the cells were reached in. The
filled elevations come off the queue in non-decreasing order, so the reverse of that order is a
topological order of any flow graph whose edges go down or, on a flat, to a cell reached
earlier: accumulation is then one pass without a sort.

D8 takes the steepest drop on the filled surface (drop over distance, diagonals √2 farther;
a tie goes to the first in WhiteboxTools' order, NE, E, SE, S, SW, W, NW, N);
a cell with no lower neighbour (the flat surface of a filled sink, a flat plain) drains to the
neighbour the flood reached it from, so flats drain towards their outlet without an ε-slope.

richdem (last release 2018, no wheel for Python 3.12), whitebox (downloads its binary at run
time, which cannot work offline here) and pysheds would each add a dependency for ~100 lines;
the kernels are tested against hand-made cases in tests/heavy_rain/test_hydrology.py.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

#: The eight neighbours (row, column offsets) and their distances in cells.
DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)
DIST = np.array([np.sqrt(2.0), 1.0, np.sqrt(2.0), 1.0, 1.0, np.sqrt(2.0), 1.0, np.sqrt(2.0)])


#: A cell's state during the flood: still open, or closed without a parent (an outlet, no data);
#: 0..7 (closed) is the direction ``k`` it was reached along, from ``(r - DR[k], c - DC[k])``.
_OPEN = np.uint8(255)
_NONE = np.uint8(8)


@_jit
def priority_flood(z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill every depression of ``z`` (2-D float, finite where ``valid``) to its spill level.

    Water leaves the grid at its edge and wherever it borders an invalid cell (no data: outside
    the scan). Returns the filled surface, the flat index of the cell each cell was reached
    from (-1 for the outlets) and the flat indices in the order they were reached.

    Cells leave the heap by (elevation, push count): the lowest first, equal ones first in,
    first out, so ties, flats and the returned order are reproducible. The heap is 4-ary on
    one uint64 per entry (a 32-bit key that sorts like the elevation, then the push count), on
    a grid padded by one closed cell with a byte of state per cell: 1.7–1.8× faster than the
    binary heap of (elevation, count, cell) tuples it replaced, with the same order, cell for
    cell (tests/heavy_rain/test_hydrology.py).
    """
    rows, cols = z.shape
    level, table = _elevation_keys(z, valid)
    state = _initial_state(valid)
    order = _flood(level, state, valid)
    filled = z.copy()
    parent = np.full(rows * cols, -1, dtype=np.int64)
    _unpad(z, valid, level, state, table, filled, parent, order)
    return filled, parent, order


@_jit
def _elevation_keys(z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of the grid padded by one closed cell a uint32 that orders and equates like its
    elevation, and the table back (empty: the key is the float32's bits).

    A DTM's heights are float32, so the flipped float32 bits do; other heights go by rank
    (a sort, slower but exact).
    """
    rows, cols = z.shape
    exact = True
    for r in range(rows):
        for c in range(cols):
            if valid[r, c] and np.float64(np.float32(z[r, c])) != z[r, c]:
                exact = False
    key = np.zeros((rows + 2, cols + 2), np.uint32)
    if exact:
        bits = (z + 0.0).astype(np.float32).view(np.uint32)  # + 0.0: -0.0 is 0.0
        sign = np.uint32(0x80000000)
        for r in range(rows):
            for c in range(cols):
                b = bits[r, c]
                key[r + 1, c + 1] = ~b if b & sign else b | sign
        return key.ravel(), np.empty(0)
    table = np.unique(z.ravel()[valid.ravel()])
    for r in range(rows):
        for c in range(cols):
            if valid[r, c]:
                key[r + 1, c + 1] = np.searchsorted(table, z[r, c])
    return key.ravel(), table


@_jit
def _key_value(key: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The elevations of keys made by :func:`_elevation_keys`."""
    if table.size:
        return table[key.astype(np.int64)]
    bits = np.empty(key.size, np.uint32)
    for m in range(key.size):
        b = key[m]
        bits[m] = b ^ np.uint32(0x80000000) if b & np.uint32(0x80000000) else ~b
    return bits.view(np.float32).astype(np.float64)


@_jit
def _initial_state(valid: np.ndarray) -> np.ndarray:
    """The padded grid's states: valid cells open, invalid and padding closed."""
    rows, cols = valid.shape
    state = np.full((rows + 2, cols + 2), _NONE, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if valid[r, c]:
                state[r + 1, c + 1] = _OPEN
    return state.ravel()


@_jit
def _flood(level: np.ndarray, state: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Flood the padded grid from its outlets (``level``: keys, raised in place; ``state``:
    closed in place): the padded indices in the order they were reached."""
    rows, cols = valid.shape
    pc = cols + 2
    step = np.empty(8, np.int64)
    for k in range(8):
        step[k] = DR[k] * pc + DC[k]
    count = int(valid.sum())
    heap = np.empty(count, np.uint64)  # (key << 32) | push count: ties first in, first out
    cells = np.empty(count, np.int64)
    size = pushed = 0
    pit = np.empty(count, np.int64)  # a FIFO queue of cells raised into a pit
    head = tail = 0
    for r in range(rows):
        for c in range(cols):
            i = (r + 1) * pc + c + 1
            if state[i] == _OPEN and _is_outlet(valid, r, c):
                state[i] = _NONE
                size = _push(heap, cells, size, _heap_key(level[i], pushed), i)
                pushed += 1
    order = np.empty(count, np.int64)
    n = 0
    while head < tail or size > 0:
        if head < tail:
            i = pit[head]
            head += 1
            if head == tail:
                head = tail = 0  # empty: start again at the front, where the cache is warm
        else:
            i = _pop(heap, cells, size)
            size -= 1
        order[n] = i
        n += 1
        here = level[i]
        for k in range(8):
            j = i + step[k]
            if state[j] != _OPEN:
                continue
            state[j] = np.uint8(k)
            if level[j] <= here:
                level[j] = here
                pit[tail] = j
                tail += 1
            else:
                size = _push(heap, cells, size, _heap_key(level[j], pushed), j)
                pushed += 1
    return order[:n]


@_jit
def _heap_key(key: np.uint32, pushed: int) -> np.uint64:
    """The heap's order: by elevation key, then by push count (below 2³²: one per cell)."""
    return (np.uint64(key) << np.uint64(32)) | np.uint64(pushed)


@_jit
def _is_outlet(valid: np.ndarray, r: int, c: int) -> bool:
    """A valid cell on the grid's edge or next to no data: water leaves there."""
    rows, cols = valid.shape
    if r == 0 or c == 0 or r == rows - 1 or c == cols - 1:
        return True
    for k in range(8):  # noqa: SIM110 - numba compiles the loop, not any() of a generator
        if not valid[r + DR[k], c + DC[k]]:
            return True
    return False


@_jit
def _unpad(z: np.ndarray, valid: np.ndarray, level: np.ndarray, state: np.ndarray,
           table: np.ndarray, filled: np.ndarray, parent: np.ndarray, order: np.ndarray) -> None:
    """The flood's padded results in the caller's frame: raised cells' levels into
    ``filled``, directions into ``parent``'s flat indices, ``order`` unpadded in place."""
    rows, cols = z.shape
    pc = cols + 2
    key, _ = _elevation_keys(z, valid)
    raised = np.flatnonzero(level != key)
    values = _key_value(level[raised], table)
    flat = filled.ravel()
    for m in range(raised.size):
        flat[_unpadded(raised[m], pc)] = values[m]
    for r in range(rows):
        for c in range(cols):
            k = state[(r + 1) * pc + c + 1]
            if k < 8:
                parent[r * cols + c] = (r - DR[k]) * cols + c - DC[k]
    for m in range(order.size):
        order[m] = _unpadded(order[m], pc)


@_jit
def _unpadded(p: int, pc: int) -> int:
    """The flat index in the caller's grid of padded index ``p`` (``pc`` padded columns): the
    row by a float multiply, corrected by one, as a division per cell costs ~20 % of the flood."""
    r = int(p * (1.0 / pc))
    if r * pc > p:
        r -= 1
    elif (r + 1) * pc <= p:
        r += 1
    return (r - 1) * (pc - 2) + p - r * pc - 1


@_jit
def _push(heap: np.ndarray, cells: np.ndarray, size: int, key: np.uint64, cell: int) -> int:
    """Push ``cell`` by ``key`` into the 4-ary min-heap of ``size`` entries; the new size."""
    pos = size
    while pos > 0:
        up = (pos - 1) >> 2
        if heap[up] < key:
            break
        heap[pos], cells[pos] = heap[up], cells[up]
        pos = up
    heap[pos], cells[pos] = key, cell
    return size + 1


@_jit
def _pop(heap: np.ndarray, cells: np.ndarray, size: int) -> int:
    """Remove the least entry of the 4-ary min-heap of ``size`` entries; its cell."""
    top = cells[0]
    last = size - 1
    key, cell = heap[last], cells[last]
    pos = 0
    while True:
        child = 4 * pos + 1
        if child >= last:
            break
        best, least = child, heap[child]
        for q in range(child + 1, min(child + 4, last)):
            if heap[q] < least:
                best, least = q, heap[q]
        if key < least:
            break
        heap[pos], cells[pos] = least, cells[best]
        pos = best
    heap[pos], cells[pos] = key, cell
    return top


#: D8's scan order (indices into DR, DC): NE, E, SE, S, SW, W, NW, N, WhiteboxTools' D8Pointer
#: order, so a tie of steepest drops (common: LiDAR heights come in mm) goes to the same
#: neighbour as there, the first in this order.
D8_SCAN = np.array([2, 4, 7, 6, 5, 3, 0, 1], dtype=np.int64)


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
            for k in D8_SCAN:
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
