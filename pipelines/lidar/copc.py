"""Per-tile COPC (Cloud Optimized Point Cloud) downloads, written without PDAL.

A COPC file is a LAZ 1.4 file (point format 6-8) whose points are grouped, one LAZ chunk per
node, into an octree, with a ``copc info`` VLR (cube centre, half size, root spacing) and a
hierarchy EVLR listing every node's chunk. Clients (QGIS, potree, laspy's ``CopcReader``) then
fetch only the nodes covering a bbox at the detail they need, over HTTP range requests.

PDAL (``writers.copc``) cannot be installed here, so the octree is built with numpy and the file
layout (VLRs, chunk table, hierarchy) is left to ``copclib``, which ships wheels. The octree is
the usual level-of-detail scheme: every node keeps at most one point per cell of a
``GRID``³ grid over its cube, the other points go down to its children, and a node holding at
most ``LEAF_MAX`` points keeps them all. Every source point ends in exactly one node.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import laspy
import numpy as np
from pyproj import CRS

from geoportal.errors import PipelineError, SourceError
from pipelines.lidar.tiles import Tile, file_stamp, fingerprint
from pipelines.pointcloud import read_las

#: Bump when the octree or the file layout changes: cached COPC files are then rewritten.
ALGORITHM_VERSION = 1
#: Cells per node edge: the root's point spacing is the cube's edge / GRID.
GRID = 128
#: A node with at most this many remaining points keeps them all (a leaf).
LEAF_MAX = 100_000
#: Deeper than this the cell ids would overflow int64 (3 × (7 + depth) bits); never reached
#: by real clouds (a 1 km tile reaches cells of 1 mm at depth 13).
MAX_DEPTH = 13
#: LAS point format → the COPC one (6-8) holding the same fields (waveforms are dropped).
COPC_FORMAT = {0: 6, 1: 6, 2: 7, 3: 7, 4: 6, 5: 7, 6: 6, 7: 7, 8: 8, 9: 6, 10: 8}


class CopcError(PipelineError):
    """A COPC file could not be written."""


@dataclass
class Octree:
    """Points assigned to octree nodes: ``order`` lists point indices grouped node by node."""

    center: np.ndarray
    halfsize: float
    spacing: float
    mins: np.ndarray  # the points' bounding box (the LAS header's min and max)
    maxs: np.ndarray
    keys: list[tuple[int, int, int, int]] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def node(self, i: int) -> np.ndarray:
        """Point indices of the i-th node."""
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.order)
        return self.order[self.starts[i]:end]


def _spread(v: np.ndarray) -> np.ndarray:
    """Spread the low 21 bits of ``v`` to every third bit (the Morton code's building block)."""
    v = v & 0x1FFFFF
    v = (v | v << 32) & 0x1F00000000FFFF
    v = (v | v << 16) & 0x1F0000FF0000FF
    v = (v | v << 8) & 0x100F00F00F00F00F
    v = (v | v << 4) & 0x10C30C30C30C30C3
    return (v | v << 2) & 0x1249249249249249


def _compact(v: int) -> int:
    """Inverse of :func:`_spread` for one value: every third bit, packed."""
    out, bit = 0, 0
    while v:
        out |= (v & 1) << bit
        v >>= 3
        bit += 1
    return out


def build_octree(coords: Sequence[np.ndarray], grid: int = GRID,
                 leaf_max: int = LEAF_MAX) -> Octree:
    """Assign every point to one node; a node's points lie inside its cube (clients rely on it).

    Coordinates are quantised once to ``MAX_DEPTH + log2(grid)`` bits per axis and interleaved
    into a Morton code. Sorted by it once, every node and every cell at any depth is a run of
    consecutive points, so each level is a few passes over the points still unplaced and no
    further sort (the per-level sorts were half of a COPC write before). A node keeps the
    first point (in file order) of each occupied cell; at most ``leaf_max`` points, it keeps all.
    """
    gbits = grid.bit_length() - 1
    if grid != 1 << gbits:
        raise CopcError(f"octree grid {grid}: expected a power of two")
    if len(coords) != 3:
        raise CopcError(f"octree: expected the x, y and z arrays, got {len(coords)} arrays "
                        f"(pass an (n, 3) array transposed)")
    # One axis in memory at a time (laspy's scaled views convert on access): a tile's three
    # float axes would be a third of the COPC step's peak memory.
    lo = np.array([float(np.min(a)) for a in coords])
    hi = np.array([float(np.max(a)) for a in coords])
    center = (lo + hi) / 2
    halfsize = float(max((hi - lo).max() / 2, 0.5)) * (1 + 1e-9)
    span = 2 * halfsize
    bits = MAX_DEPTH + gbits
    origin, factor, top = center - halfsize, (1 << bits) / span, (1 << bits) - 1
    morton = np.zeros(len(coords[0]), np.int64)
    for a in range(3):  # x in the highest bit of each triple, then y, then z
        values = np.asarray(coords[a], dtype=np.float64)
        q = np.clip(((values - origin[a]) * factor).astype(np.int64), 0, top)
        del values
        morton |= _spread(q) << (2 - a)
        del q
    index = np.argsort(morton, kind="stable")  # ties keep file order
    code = morton[index]
    del morton
    placed: list[np.ndarray] = []
    node_codes: list[tuple[int, np.ndarray, np.ndarray]] = []
    for depth in range(MAX_DEPTH + 1):
        if not len(code):
            break
        shift = 3 * (bits - depth)
        counts = _run_lengths(code >> shift)  # points per node
        keep = np.repeat(counts <= leaf_max, counts)
        if depth < MAX_DEPTH:
            cell_counts = _run_lengths(code >> (shift - 3 * gbits))
            cell_starts = np.cumsum(cell_counts) - cell_counts
            first = np.minimum.reduceat(index, cell_starts)  # the cell's first point in the file
            keep |= index == np.repeat(first, cell_counts)
            del cell_counts, cell_starts, first
        else:
            keep[:] = True
        kept_nodes = code[keep] >> shift
        bounds = _run_starts(kept_nodes)
        node_codes.append((depth, kept_nodes[bounds], bounds + sum(map(len, placed))))
        placed.append(index[keep])
        keep = ~keep
        code, index = code[keep], index[keep]
    order = np.concatenate(placed)
    starts_all = np.concatenate([b for _, _, b in node_codes]).astype(np.int64)
    keys = [(d, _compact(int(c) >> 2), _compact(int(c) >> 1), _compact(int(c)))
            for d, codes, _ in node_codes for c in codes.tolist()]
    return Octree(center, halfsize, span / grid, lo, hi, keys, starts_all, order)


def _run_lengths(sorted_codes: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal values in a sorted array."""
    return np.diff(np.append(_run_starts(sorted_codes), len(sorted_codes)))


def _run_starts(sorted_codes: np.ndarray) -> np.ndarray:
    """Positions where a run of equal values begins in a sorted array."""
    if not len(sorted_codes):
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1])


def crs_wkt(crs: str) -> str:
    """The OGC WKT (1) of ``crs``, as LAS 1.4 readers expect in the WKT VLR."""
    return CRS.from_user_input(crs).to_wkt("WKT1_GDAL")


def write_copc(source: Path, target: Path, crs: str) -> int:
    """Write ``source`` (LAS/LAZ) as a COPC file at ``target`` (atomically); return its points."""
    return write_copc_las(read_las(source), target, crs, source)


def write_copc_las(las: laspy.LasData, target: Path, crs: str, source: Path | str = "") -> int:
    """Write decoded points as a COPC file at ``target`` (atomically); return its points.

    The integer coordinates, scales and offsets are kept, so every point is preserved exactly;
    ``crs`` is written as the WKT VLR (NRW tiles carry none).
    """
    import copclib

    if not len(las.points):
        raise SourceError(f"{source}: no points")
    fmt = COPC_FORMAT.get(las.header.point_format.id)
    if fmt is None:
        raise SourceError(f"{source}: point format {las.header.point_format.id} unsupported "
                          f"(expected 0-10)")
    by_return = np.bincount(np.asarray(las.return_number), minlength=16)[1:16]
    scale, offset = las.header.scales, las.header.offsets
    tree = build_octree((las.x, las.y, las.z))  # scaled views: no copies
    # Node by node: each node's chunk is then one contiguous slice.
    record = to_las14(las.points.array, las.header.point_format.id, fmt, tree.order)

    config = copclib.CopcConfigWriter(fmt, copclib.Vector3(*scale), copclib.Vector3(*offset),
                                      crs_wkt(crs))
    header = config.las_header
    header.min = copclib.Vector3(*tree.mins.tolist())
    header.max = copclib.Vector3(*tree.maxs.tolist())
    header.points_by_return = [int(v) for v in by_return]
    header.generating_software = "geoportal copc (copclib)"
    info = config.copc_info
    info.center_x, info.center_y, info.center_z = (float(v) for v in tree.center)
    info.halfsize, info.spacing = tree.halfsize, tree.spacing

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    ends = [*tree.starts[1:].tolist(), len(record)]
    try:
        writer = copclib.FileWriter(str(tmp), config)
        try:
            for key, start, end in zip(tree.keys, tree.starts.tolist(), ends, strict=True):
                chunk = record[start:end].view(np.int8).reshape(-1)
                writer.AddNode(copclib.VoxelKey(*key), copclib.VectorChar(chunk))
        finally:
            writer.Close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written file next to the cache
        raise
    return len(record)


#: Legacy scan angle rank (int8 degrees, indexed by its byte) → LAS 1.4 scan angle (0.006°):
#: a table lookup instead of float arithmetic over every point.
_SCAN_ANGLE = np.round(np.arange(256, dtype=np.uint8).view(np.int8) / 0.006).astype(np.int16)


def to_las14(record: np.ndarray, source_format: int, fmt: int,
             order: np.ndarray | None = None) -> np.ndarray:
    """Point records of any LAS format as records of the LAS 1.4 format ``fmt`` (6-8), taken
    in ``order`` (all of them, in file order, by default).

    Not ``laspy.convert``: it copies fields by name, so the legacy ``scan_angle_rank`` (whole
    degrees) never reaches 1.4's ``scan_angle`` (0.006° units) and every converted point lost
    its scan angle; done field by field here it is kept. Gathering field by field also never
    holds a reordered copy of the source records next to the result (a third less memory).
    Extra bytes would need an extra-bytes VLR: NRW deliveries have none, standard fields only.
    """
    dtype = laspy.PointFormat(fmt).dtype()
    take = (lambda values: values) if order is None else (lambda values: values[order])
    if source_format >= 6 and record.dtype == dtype:
        return take(record)
    out = np.empty(len(record) if order is None else len(order), dtype)
    for name in dtype.names:
        if name in record.dtype.names and (source_format >= 6 or name != "bit_fields"):
            out[name] = take(record[name])
        elif name not in record.dtype.names:
            out[name] = 0
    if source_format >= 6:
        return out
    bits, raw = take(record["bit_fields"]), take(record["raw_classification"])
    # Legacy: return number bits 0-2, number of returns 3-5, scan direction 6, edge 7;
    # class bits 0-4, synthetic 5, key point 6, withheld 7. LAS 1.4: returns in two nibbles;
    # flags synthetic/key point/withheld in bits 0-2, scan direction 6, edge 7.
    out["bit_fields"] = (bits & 0b111) | ((bits >> 3) & 0b111) << 4
    out["classification"] = raw & 0b11111
    out["classification_flags"] = (raw >> 5) | (bits & 0b11000000)
    out["scan_angle"] = _SCAN_ANGLE[take(record["scan_angle_rank"]).view(np.uint8)]
    return out


def copc_path(tile: Tile, crs: str, cache: Path) -> Path:
    """Where the tile's COPC file lives in the cache, for its current file and this writer."""
    fp = fingerprint(file_stamp(tile.path), crs, GRID, LEAF_MAX, ALGORITHM_VERSION)
    return cache / "copc" / tile.key / f"{fp}.copc.laz"


@dataclass
class CopcOutcome:
    """One tile's COPC file in the cache (or why it failed), for ``finish``."""

    key: str
    path: str | None = None
    points: int = 0
    reused: bool = False
    seconds: float = 0.0
    error: str | None = None


def ensure_copc(tile: Tile, crs: str, cache: Path) -> CopcOutcome:
    """The tile's COPC file in the cache, rewritten only if the tile or the writer changed."""
    path = copc_path(tile, crs, cache)
    outcome = CopcOutcome(tile.key, str(path))
    if path.exists():
        with laspy.open(path) as reader:
            outcome.points = reader.header.point_count
        outcome.reused = True
        return outcome
    started = time.perf_counter()
    try:
        outcome.points = write_copc(tile.path, path, crs)
    except (SourceError, CopcError, OSError, ValueError, RuntimeError) as exc:
        outcome.error = str(exc)
        outcome.path = None
    outcome.seconds = time.perf_counter() - started
    return outcome
