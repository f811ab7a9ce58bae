"""The screening hydrology in tiles — fill, sink depth, D8, accumulation — equal to one mosaic.

Hydrology is not tile-local: a pit near a tile's edge may spill through the next tile, or only
over a rim three tiles away, and a stream carries the area of every tile upstream. So each
step works in tiles and joins them on a small graph (after Barnes 2016, "Parallel
priority-flood depression filling for trillion cell digital elevation models", and Barnes 2017,
"Parallel non-divergent flow accumulation"):

1. **flood** each tile on its own (``priority_flood``), its perimeter cells as outlets: every
   cell gets its local fill and the label of the perimeter cell its flood came from;
2. **levels**: two labels meeting (8-neighbours inside a tile or across a seam) are joined at
   the higher local fill of the two cells; a label reaching an outlet of the whole grid (its
   edge, beside no-data) is joined to the "ocean"; a minimax flood on that graph gives each
   label the level its water must reach to leave the grid; a cell's fill is the higher of its
   local fill and its label's level (maxima of terrain heights, never sums: to the bit);
3. **flats**: D8 is the steepest drop on the filled surface (``d8_receivers``, a one-cell
   halo); a cell without a lower neighbour drains to the flat neighbour nearest (8-connected
   steps) to the flat's edge, found by a distance flood per tile repeated until the seams
   agree. That rule does not depend on where tiles are cut; the mosaic model's "drain to where
   the flood came from" does (``model.analyse``), so on flats the two differ (docs/starkregen.md);
4. **accumulation**: per tile the local sums and, for each cell where water leaves the tile,
   the cell of the next tile it enters; the driver passes each exit's total down that chain of
   exits (upstream first), each tile adds its inflows along its own receivers. Cell areas are
   multiples of a power of two (0.25, 1, 4 m² …) far below 2^53, so sums in another order are
   the same floats.

Every step is a function of one tile that reads and writes ``.npy`` files in a scratch folder
(only perimeters travel to the driver), mapped by a :data:`Runner`: in-process, or the tasks of
a ``dask.distributed`` client (:func:`dask_runner`, the pattern of ``pipelines/executor.py``),
so memory stays that of a few tiles whatever the grid's size.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numba
import numpy as np

from pipelines.heavy_rain import model
from pipelines.heavy_rain.hydrology import (
    DC,
    DR,
    accumulate,
    d8_receivers,
    first_sink_downstream,
    priority_flood,
)

#: Map a function over argument tuples, results in order: in-process or on Dask.
Runner = Callable[[Callable[..., Any], Sequence[tuple]], list[Any]]
FAR = 2 ** 30  # a flat distance not yet known (stored as int32)


def in_process(fn: Callable[..., Any], args: Sequence[tuple]) -> list[Any]:
    """Run every tile here, one after the other (tests, small grids)."""
    return [fn(*a) for a in args]


def dask_runner(client: Any) -> Runner:
    """Each tile a task of a ``dask.distributed`` client; the scratch folder must be shared."""
    def run(fn: Callable[..., Any], args: Sequence[tuple]) -> list[Any]:
        return client.gather([client.submit(fn, *a, pure=False) for a in args])
    return run


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[Runner]:
    """A LocalCluster of single-threaded processes (as ``executor.py``'s ``local``)."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield dask_runner(client)


@contextmanager
def open_runner(scheduler: str | None, workers: int) -> Iterator[Runner]:
    """A cluster's client (``tcp://host:8786``), a LocalCluster of ``workers``, or this
    process (one worker)."""
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler) as client:
            yield dask_runner(client)
    elif workers > 1:
        with local_cluster(workers) as runner:
            yield runner
    else:
        yield in_process


class Source(Protocol):
    """Terrain by window: float32 heights, NaN where there is none (picklable for Dask)."""

    shape: tuple[int, int]

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray: ...


@dataclass(frozen=True)
class ArraySource:
    """A terrain already in memory."""

    z: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.z.shape

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return self.z[r0:r1, c0:c1].astype(np.float32)


@dataclass(frozen=True)
class NpySource:
    """A terrain saved as ``.npy``, read by window through a memory map (what tasks receive
    instead of the array)."""

    path: Path

    @property
    def shape(self) -> tuple[int, int]:
        return np.load(self.path, mmap_mode="r").shape

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return np.asarray(np.load(self.path, mmap_mode="r")[r0:r1, c0:c1], np.float32)


@dataclass(frozen=True)
class Layout:
    """The grid cut into squares of ``tile`` cells (the last row and column may be smaller)."""

    shape: tuple[int, int]
    tile: int

    @property
    def counts(self) -> tuple[int, int]:
        return -(-self.shape[0] // self.tile), -(-self.shape[1] // self.tile)

    def tiles(self) -> list[tuple[int, int]]:
        return [(i, j) for i in range(self.counts[0]) for j in range(self.counts[1])]

    def window(self, i: int, j: int) -> tuple[int, int, int, int]:
        t = self.tile
        return i * t, min(self.shape[0], (i + 1) * t), j * t, min(self.shape[1], (j + 1) * t)


@dataclass(frozen=True)
class Job:
    """What every tile task needs: the terrain, the cut, the scratch folder, the cell area."""

    source: Source
    layout: Layout
    scratch: Path
    cell_area: float = 1.0
    receivers: bool = False  # keep each tile's D8 receivers (``receiver-*.npy``)

    def path(self, name: str, i: int, j: int) -> Path:
        return self.scratch / f"{name}-{i}-{j}.npy"

    def halo(self, i: int, j: int) -> np.ndarray:
        """The tile's terrain with a one-cell ring (NaN beyond the grid)."""
        r0, r1, c0, c1 = self.layout.window(i, j)
        rows, cols = self.layout.shape
        out = np.full((r1 - r0 + 2, c1 - c0 + 2), np.nan, np.float32)
        a0, a1, b0, b1 = max(r0 - 1, 0), min(r1 + 1, rows), max(c0 - 1, 0), min(c1 + 1, cols)
        out[a0 - r0 + 1:a1 - r0 + 1, b0 - c0 + 1:b1 - c0 + 1] = self.source.read(a0, a1, b0, b1)
        return out

    def ring(self, name: str, i: int, j: int, empty: float,
             missing_ok: bool = False) -> np.ndarray:
        """A stored per-tile array with a one-cell ring from the neighbouring tiles' files
        (``missing_ok``: ``empty`` where a file is not written yet)."""
        r0, r1, c0, c1 = self.layout.window(i, j)
        kind = np.int32 if missing_ok else np.load(self.path(name, i, j), mmap_mode="r").dtype
        out = np.full((r1 - r0 + 2, c1 - c0 + 2), empty, kind)
        ni, nj = self.layout.counts
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                there = self.path(name, i + di, j + dj)
                if 0 <= i + di < ni and 0 <= j + dj < nj and not (missing_ok
                                                                  and not there.exists()):
                    other = np.load(there, mmap_mode="r")
                    rs = slice(-1, None) if di < 0 else slice(0, 1) if di > 0 else slice(None)
                    cs = slice(-1, None) if dj < 0 else slice(0, 1) if dj > 0 else slice(None)
                    ro = slice(0, 1) if di < 0 else slice(-1, None) if di > 0 else slice(1, -1)
                    co = slice(0, 1) if dj < 0 else slice(-1, None) if dj > 0 else slice(1, -1)
                    out[ro, co] = other[rs, cs]
        return out

    def globals_of(self, i: int, j: int, local: np.ndarray) -> np.ndarray:
        """Global flat indices of tile-local ones (-1 stays -1)."""
        r0, _, c0, c1 = self.layout.window(i, j)
        return _to_global(local, r0, c0, c1 - c0, self.layout.shape[1])


def _to_global(local: np.ndarray, r0: int, c0: int, width: int, cols: int) -> np.ndarray:
    rr, cc = np.divmod(local, width)
    return np.where(local >= 0, (rr + r0) * cols + cc + c0, -1)


@numba.njit(cache=True, nogil=True)
def _labels(parent: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The flood's root (an outlet cell, tile-local flat index) of every cell; -1 if none."""
    label = np.full(parent.size, -1, dtype=np.int64)
    for i in order:
        label[i] = i if parent[i] < 0 else label[parent[i]]
    return label


def _outlets(valid: np.ndarray) -> np.ndarray:
    """Cells where water leaves the whole grid: beside a cell without terrain or the frame."""
    padded = np.pad(valid, 1, constant_values=False)
    out = np.zeros(valid.shape, bool)
    rows, cols = valid.shape
    for dr, dc in zip(DR, DC, strict=True):
        out |= ~padded[1 + dr:1 + dr + rows, 1 + dc:1 + dc + cols]
    return out & valid


def _pairs(label: np.ndarray, fill: np.ndarray, valid: np.ndarray,
           steps: Sequence[tuple[int, int]] = ((0, 1), (1, -1), (1, 0), (1, 1))) -> np.ndarray:
    """(label a, label b, join level) for every 8-neighbour pair of different labels."""
    found = []
    rows, cols = label.shape
    for dr, dc in steps:  # each pair once
        r1, c0, c1 = rows - dr, max(0, -dc), cols - max(0, dc)
        a = (slice(0, r1), slice(c0, c1))
        b = (slice(dr, r1 + dr), slice(c0 + dc, c1 + dc))
        differ = valid[a] & valid[b] & (label[a] != label[b])
        found.append(np.column_stack([label[a][differ], label[b][differ],
                                      np.maximum(fill[a][differ], fill[b][differ])]))
    return _lowest(np.concatenate(found)) if found else np.zeros((0, 3))


def _lowest(edges: np.ndarray) -> np.ndarray:
    """One row per label pair (smaller label first), at its lowest join level."""
    if edges.size == 0:
        return edges.reshape(0, 3)
    a, b = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
    order = np.lexsort((edges[:, 2], b, a))
    a, b, w = a[order], b[order], edges[order, 2]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return np.column_stack([a[first], b[first], w[first]])


# ---- step 1: flood each tile -------------------------------------------------------------

def flood_tile(job: Job, i: int, j: int) -> dict[str, np.ndarray]:
    """Flood one tile; store its local fill and labels; return its part of the label graph."""
    zh = job.halo(i, j)
    valid = np.isfinite(zh)[1:-1, 1:-1]
    z = zh[1:-1, 1:-1]
    local, parent, order = priority_flood(np.where(valid, z, 0.0).astype(np.float64), valid)
    roots = _labels(parent, order).reshape(z.shape)
    label = job.globals_of(i, j, roots)
    np.save(job.path("local", i, j), np.where(valid, local, np.nan).astype(np.float32))
    np.save(job.path("root", i, j), roots.astype(np.int32))
    outlet = _outlets(np.isfinite(zh))[1:-1, 1:-1]
    # the strips are copies: a view would keep the whole tile's arrays alive (70 MB at 2000²)
    # in every result a Dask worker holds until the driver gathers them all
    return {"edges": _pairs(label, local, valid),
            "outlets": np.column_stack([label[outlet], local[outlet]]),
            **{f"{side}_{what}": strip.copy() for side, cut in _SIDES.items()
               for what, strip in (("label", label[cut]), ("fill", local[cut]),
                                   ("valid", valid[cut]))}}


_SIDES = {"top": np.s_[0, :], "bottom": np.s_[-1, :], "left": np.s_[:, 0], "right": np.s_[:, -1]}


def _seam_edges(layout: Layout, parts: dict[tuple[int, int], dict]) -> np.ndarray:
    """Label pairs across every seam, each seam taken as whole rows or columns of the grid
    (so diagonal pairs at a corner of four tiles are found too)."""
    ni, nj = layout.counts
    found = [np.zeros((0, 3))]
    for j in range(nj - 1):  # vertical seams: the right column of j beside the left of j + 1
        found.append(_strip_pairs(
            [parts[i, j] for i in range(ni)], "right", [parts[i, j + 1] for i in range(ni)],
            "left"))
    for i in range(ni - 1):
        found.append(_strip_pairs(
            [parts[i, j] for j in range(nj)], "bottom", [parts[i + 1, j] for j in range(nj)],
            "top"))
    return np.concatenate(found)


def _strip_pairs(first: list[dict], side_a: str, second: list[dict], side_b: str) -> np.ndarray:
    def line(parts: list[dict], side: str) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate([p[f"{side}_{w}"] for p in parts])
                     for w in ("label", "fill", "valid"))

    la, fa, va = line(first, side_a)
    lb, fb, vb = line(second, side_b)
    stack = (np.stack([la, lb]), np.stack([fa, fb]), np.stack([va, vb]))
    return _pairs(*stack, steps=((1, -1), (1, 0), (1, 1)))


# ---- step 2: levels on the label graph, then each tile's fill -----------------------------

@numba.njit(cache=True)
def _minimax(start: np.ndarray, target: np.ndarray, weight: np.ndarray, seed: np.ndarray,
             seed_level: np.ndarray, count: int) -> np.ndarray:
    """Each node's lowest possible highest join level on a path from a seed (CSR edges)."""
    level = np.full(count, np.inf)
    heap = [(np.float64(0.0), np.int64(0))]
    heap.pop()
    for k in range(seed.size):
        heapq.heappush(heap, (seed_level[k], seed[k]))
    while len(heap) > 0:
        h, node = heapq.heappop(heap)
        if level[node] <= h:
            continue
        level[node] = h
        for e in range(start[node], start[node + 1]):
            other = target[e]
            w = max(h, weight[e])
            if w < level[other]:
                heapq.heappush(heap, (w, other))
    return level


def label_levels(edges: np.ndarray, outlets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The level of every label: sorted label ids and their levels."""
    ids = np.unique(np.concatenate([edges[:, 0], edges[:, 1], outlets[:, 0]]).astype(np.int64))
    a = np.searchsorted(ids, edges[:, 0].astype(np.int64))
    b = np.searchsorted(ids, edges[:, 1].astype(np.int64))
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    w = np.concatenate([edges[:, 2], edges[:, 2]])
    order = np.argsort(src, kind="stable")
    start = np.searchsorted(src[order], np.arange(ids.size + 1))
    seed = np.searchsorted(ids, outlets[:, 0].astype(np.int64))
    level = _minimax(start, dst[order], w[order], seed, outlets[:, 1].astype(np.float64),
                     ids.size)
    return ids, level


def settle_tile(job: Job, i: int, j: int) -> None:
    """The tile's fill: its local fill, lifted to its labels' levels (``fill-*.npy``)."""
    levels = np.load(job.scratch / "levels.npz")
    ids, level = levels["ids"], levels["level"]
    local = np.load(job.path("local", i, j))
    label = job.globals_of(i, j, np.load(job.path("root", i, j)).astype(np.int64))
    at = np.clip(np.searchsorted(ids, label), 0, ids.size - 1)
    lifted = np.where((label >= 0) & (ids[at] == label), level[at], -np.inf)
    np.save(job.path("fill", i, j), np.where(np.isfinite(local), np.maximum(local, lifted),
                                             np.nan).astype(np.float32))
    job.path("local", i, j).unlink()
    job.path("root", i, j).unlink()


# ---- step 3: flats ---------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _flat_distance(f: np.ndarray, valid: np.ndarray, ring: np.ndarray,
                   known: bool) -> np.ndarray:
    """Steps (8-connected, on cells of equal fill) from each cell of the halo'd tile to a
    cell that drains: one with a lower neighbour or beside the grid's edge (distance 0).
    ``ring`` gives the distances already known in the halo; with ``known`` also the tile's
    own from its last sweep, which are only lowered from the halo (a re-sweep costs what
    changed, not the tile)."""
    rows, cols = f.shape
    dist = ring.copy()
    heap = [(np.int64(0), np.int64(0))]
    heap.pop()
    for r in range(rows):
        for c in range(cols):
            inner = 0 < r < rows - 1 and 0 < c < cols - 1
            if not valid[r, c] or (inner and known):
                continue
            if not inner:
                if dist[r, c] < FAR:
                    heapq.heappush(heap, (np.int64(dist[r, c]), np.int64(r * cols + c)))
                continue
            dist[r, c] = FAR
            level = False  # a neighbour of equal fill, which this cell may be the exit of
            for k in range(8):
                nr, nc = r + DR[k], c + DC[k]
                if not valid[nr, nc] or f[nr, nc] < f[r, c]:
                    dist[r, c] = 0
                elif f[nr, nc] == f[r, c]:
                    level = True
            if dist[r, c] == 0 and level:
                heapq.heappush(heap, (np.int64(0), np.int64(r * cols + c)))
    while len(heap) > 0:
        d, i = heapq.heappop(heap)
        r, c = i // cols, i % cols
        if d > dist[r, c]:
            continue
        for k in range(8):
            nr, nc = r + DR[k], c + DC[k]
            if 0 < nr < rows - 1 and 0 < nc < cols - 1 and valid[nr, nc] \
                    and f[nr, nc] == f[r, c] and dist[nr, nc] > d + 1:
                dist[nr, nc] = d + 1
                heapq.heappush(heap, (d + 1, np.int64(nr * cols + nc)))
    return dist


def flats_tile(job: Job, i: int, j: int) -> bool:
    """The flat distances of a tile from what its neighbours know so far; True when its
    perimeter changed (its neighbours are swept again). Distances only ever shrink towards
    the true ones, so neighbours read mid-sweep are as good as any (each file is replaced
    atomically), and a tile's last distances are upper bounds that its halo can only lower:
    a re-sweep starts from them and floods from the halo alone, to the same distances as a
    sweep from scratch (the earlier halo was nowhere lower than this one)."""
    f = job.ring("fill", i, j, np.nan)
    path = job.path("dist", i, j)
    known = path.exists()
    ring = job.ring("dist", i, j, FAR, missing_ok=True)
    before = ring[1:-1, 1:-1]  # _flat_distance works on a copy of the ring
    dist = _flat_distance(f, np.isfinite(f), ring, known)[1:-1, 1:-1].astype(np.int32)
    np.save(path.with_suffix(".tmp.npy"), dist)
    os.replace(path.with_suffix(".tmp.npy"), path)
    return any(not np.array_equal(dist[cut], before[cut]) for cut in _SIDES.values())


@numba.njit(cache=True, nogil=True)
def _flat_receivers(f: np.ndarray, valid: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """For a cell without a lower neighbour: its first flat neighbour one step nearer the
    flat's edge (halo'd flat index), -1 at the grid's edge; what ``d8_receivers`` takes as
    ``parent``."""
    rows, cols = f.shape
    out = np.full(rows * cols, -1, np.int64)
    for r in range(1, rows - 1):
        for c in range(1, cols - 1):
            if not valid[r, c] or dist[r, c] == 0:
                continue
            for k in range(8):
                nr, nc = r + DR[k], c + DC[k]
                if valid[nr, nc] and f[nr, nc] == f[r, c] and dist[nr, nc] == dist[r, c] - 1:
                    out[r * cols + c] = nr * cols + nc
                    break
    return out


# ---- step 4: accumulation -------------------------------------------------------------

@dataclass
class TileFlow:
    """One tile's D8 in tile-local terms, receivers before donors in ``order``."""

    receiver: np.ndarray   # global flat index, -1 off the grid
    local: np.ndarray      # tile-local flat index, -1 off the tile
    order: np.ndarray
    weight: np.ndarray
    fill: np.ndarray       # 2-D, NaN off the terrain
    dist: np.ndarray       # 2-D


def tile_flow(job: Job, i: int, j: int) -> TileFlow:
    f = job.ring("fill", i, j, np.nan)
    dist = job.ring("dist", i, j, FAR)
    valid = np.isfinite(f)
    halo = d8_receivers(np.nan_to_num(f).astype(np.float64), valid,
                        _flat_receivers(f, valid, dist)).reshape(f.shape)[1:-1, 1:-1]
    rows, cols = halo.shape
    hr, hc = np.divmod(halo, cols + 2)
    inside = (halo >= 0) & (hr >= 1) & (hr <= rows) & (hc >= 1) & (hc <= cols)
    local = np.where(inside, (hr - 1) * cols + hc - 1, -1).ravel()
    r0, _, c0, _ = job.layout.window(i, j)
    receiver = _to_global(halo, r0 - 1, c0 - 1, cols + 2, job.layout.shape[1]).ravel()
    fin, din = f[1:-1, 1:-1], dist[1:-1, 1:-1]
    valid_in = np.isfinite(fin).ravel()
    weight = np.where(valid_in, job.cell_area, 0.0)
    return TileFlow(receiver, local, receivers_first(local, valid_in), weight, fin, din)


@numba.njit(cache=True, nogil=True)
def receivers_first(receiver: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The ``valid`` cells ordered so that every cell comes after the one it drains into
    (``receiver``: flat index, -1 for none), in linear time: Kahn's donors-first order,
    queued from the array's end so that it reads receivers-first without a reversed copy.
    Any such order gives the same sums (the cell areas add exactly), and sorting by fill and
    flat distance took most of a tile's accumulation."""
    inflows = np.zeros(receiver.size, np.int32)
    count = 0
    for i in range(receiver.size):
        if valid[i]:
            count += 1
            if receiver[i] >= 0:
                inflows[receiver[i]] += 1
    order = np.empty(count, np.int64)
    tail = count  # the queue is order[tail:head], taken from head - 1 downwards
    for i in range(receiver.size):
        if valid[i] and inflows[i] == 0:
            tail -= 1
            order[tail] = i
    head = count
    while head > tail:
        head -= 1
        j = receiver[order[head]]
        if j >= 0:
            inflows[j] -= 1
            if inflows[j] == 0:
                tail -= 1
                order[tail] = j
    return order[tail:]


def exits_tile(job: Job, i: int, j: int) -> dict[str, np.ndarray]:
    """Local sums; per exit (a cell draining into another tile) its sum and where it leads,
    per perimeter cell the exit its water reaches (-1: it leaves the grid first)."""
    flow = tile_flow(job, i, j)
    acc = accumulate(flow.local, flow.order, flow.weight)
    gid = job.globals_of(i, j, np.arange(flow.local.size))
    exit_ = np.flatnonzero((flow.local < 0) & (flow.receiver >= 0))
    marker = np.zeros(flow.local.size, np.int64)
    marker[exit_] = np.arange(1, exit_.size + 1)
    reach = first_sink_downstream(marker, flow.local, flow.order)
    rim = np.zeros(flow.fill.shape, bool)
    rim[[0, -1], :] = rim[:, [0, -1]] = True
    rim = np.flatnonzero(rim.ravel())
    via = np.r_[-1, gid[exit_]][reach[rim]]
    return {"exit": gid[exit_], "to": flow.receiver[exit_], "acc": acc[exit_],
            "fill": flow.fill.ravel()[exit_], "dist": flow.dist.ravel()[exit_],
            "rim": gid[rim], "via": via}


def pass_down(parts: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Each exit's total (its local sum plus all inflow), upstream exits first; returns the
    cells receiving water from another tile and how much."""
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    rim_order = np.argsort(cat["rim"])
    rim, via = cat["rim"][rim_order], cat["via"][rim_order]
    exits = np.argsort(cat["exit"])
    exit_ids = cat["exit"][exits]
    total = cat["acc"][exits].astype(np.float64)
    to = cat["to"][exits]
    nxt = via[np.searchsorted(rim, to)]
    nxt_at = np.where(nxt >= 0, np.searchsorted(exit_ids, nxt), -1)
    upstream_first = np.lexsort((-cat["dist"][exits], -cat["fill"][exits]))
    for k in upstream_first:
        if nxt_at[k] >= 0:
            total[nxt_at[k]] += total[k]
    entry, at = np.unique(to, return_inverse=True)
    return entry, np.bincount(at, weights=total, minlength=entry.size)


def accumulate_tile(job: Job, i: int, j: int) -> None:
    """The tile's accumulation: local sums plus the inflow from other tiles along its
    receivers (``acc-*.npy``), its receivers (``receiver-*.npy``, global flat indices)."""
    flow = tile_flow(job, i, j)
    inflow = np.load(job.scratch / "inflow.npz")
    entry, amount = inflow["entry"], inflow["amount"]
    r0, r1, c0, c1 = job.layout.window(i, j)
    er, ec = np.divmod(entry, job.layout.shape[1])
    mine = (er >= r0) & (er < r1) & (ec >= c0) & (ec < c1)
    weight = flow.weight.copy()
    np.add.at(weight, (er[mine] - r0) * (c1 - c0) + ec[mine] - c0, amount[mine])
    acc = accumulate(flow.local, flow.order, weight)
    np.save(job.path("acc", i, j), acc.reshape(flow.fill.shape))
    if job.receivers:
        np.save(job.path("receiver", i, j), flow.receiver.reshape(flow.fill.shape))


# ---- the whole run -------------------------------------------------------------------

def fill(job: Job, runner: Runner = in_process,
         say: Callable[[str], None] = lambda _: None) -> None:
    """Steps 1 and 2: every tile's depression-filled surface (``fill-*.npy``)."""
    job.scratch.mkdir(parents=True, exist_ok=True)
    tiles = job.layout.tiles()
    parts = dict(zip(tiles, runner(flood_tile, [(job, i, j) for i, j in tiles]), strict=True))
    edges = np.concatenate([*(p["edges"] for p in parts.values()),
                            _seam_edges(job.layout, parts)])
    outlets = np.concatenate([p["outlets"] for p in parts.values()])
    ids, level = label_levels(edges, outlets)
    np.savez(job.scratch / "levels.npz", ids=ids, level=level)
    say(f"fill: {len(tiles)} tiles, {ids.size:,} labels, {len(edges):,} joins")
    runner(settle_tile, [(job, i, j) for i, j in tiles])


def run(job: Job, runner: Runner = in_process, say: Callable[[str], None] = lambda _: None
        ) -> None:
    """Fill, flats, D8 and accumulation for every tile of ``job`` (files in its scratch)."""
    fill(job, runner, say)
    tiles = job.layout.tiles()
    todo, sweeps, swept = tiles, 0, 0
    while todo:
        changed = [t for t, moved in zip(todo, runner(flats_tile, [(job, *t) for t in todo]),
                                         strict=True) if moved]
        sweeps, swept = sweeps + 1, swept + len(todo)
        todo = _around(job.layout, changed)
    say(f"flats: {sweeps} sweeps, {swept} tile floods")
    entry, amount = pass_down(runner(exits_tile, [(job, i, j) for i, j in tiles]))
    np.savez(job.scratch / "inflow.npz", entry=entry, amount=amount)
    runner(accumulate_tile, [(job, i, j) for i, j in tiles])
    say("accumulation")


def _around(layout: Layout, changed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The tiles beside any of ``changed`` (what reads their perimeters)."""
    ni, nj = layout.counts
    near = {(i + di, j + dj) for i, j in changed for di in (-1, 0, 1) for dj in (-1, 0, 1)
            if (di or dj) and 0 <= i + di < ni and 0 <= j + dj < nj}
    return sorted(near)


def mosaic(job: Job, name: str) -> np.ndarray:
    """One stored per-tile array as the whole grid (tests and small grids only)."""
    rows = [np.concatenate([np.load(job.path(name, i, j)) for j in range(job.layout.counts[1])],
                           axis=1) for i in range(job.layout.counts[0])]
    return np.concatenate(rows, axis=0)


def tiled_fill(z: np.ndarray, valid: np.ndarray, tile: int, scratch: Path) -> np.ndarray:
    """The depression-filled surface of ``z`` (float32 heights) computed tile by tile."""
    job = Job(ArraySource(np.where(valid, z, np.nan)), Layout(z.shape, tile), scratch)
    fill(job)
    return np.where(valid, mosaic(job, "fill"), z)


def analyse(z: np.ndarray, grid: model.Grid, obstacles: np.ndarray, min_depth_m: float,
            min_area_m2: float, tile: int, runner: Runner, scratch: Path) -> model.Hydrology:
    """``model.analyse`` with the fill, D8 and accumulation computed in tiles: the same
    filled surface and sinks, flats drained by the tiled rule."""
    scratch.mkdir(parents=True, exist_ok=True)
    np.save(scratch / "z.npy", z.astype(np.float32))
    job = Job(NpySource(scratch / "z.npy"), Layout(z.shape, tile), scratch,
              cell_area=grid.cell_area, receivers=True)
    run(job, runner)
    filled = mosaic(job, "fill").astype(np.float64)
    receiver = mosaic(job, "receiver").ravel()
    order = receivers_first(receiver, np.isfinite(filled).ravel())
    return model.with_sinks(z, grid, obstacles, min_depth_m, min_area_m2, filled, receiver,
                            order, mosaic(job, "acc").ravel())
