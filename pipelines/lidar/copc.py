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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import laspy
import numpy as np
from numpy.lib.recfunctions import repack_fields
from pyproj import CRS

from geoportal.errors import PipelineError, SourceError
from geoportal.publish import file_record
from pipelines.base import BuildResult
from pipelines.lidar.pipeline import LidarPipeline, cache_dir
from pipelines.lidar.tiles import Tile, file_stamp, fingerprint

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
    keys: list[tuple[int, int, int, int]] = field(default_factory=list)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def node(self, i: int) -> np.ndarray:
        """Point indices of the i-th node."""
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.order)
        return self.order[self.starts[i]:end]


def build_octree(xyz: np.ndarray, grid: int = GRID, leaf_max: int = LEAF_MAX) -> Octree:
    """Assign every point to one node; a node's points lie inside its cube (clients rely on it).

    Coordinates are quantised once to ``MAX_DEPTH + log2(grid)`` bits per axis, so a point's
    node and cell at any depth are bit shifts, and each level costs one sort of the points
    still unplaced (leaves need none).
    """
    gbits = grid.bit_length() - 1
    if grid != 1 << gbits:
        raise CopcError(f"octree grid {grid}: expected a power of two")
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    center = (lo + hi) / 2
    halfsize = float(max((hi - lo).max() / 2, 0.5)) * (1 + 1e-9)
    span = 2 * halfsize
    bits = MAX_DEPTH + gbits
    # One contiguous array per axis: column arithmetic on an (n, 3) array is strided and slow.
    origin, factor, top = center - halfsize, (1 << bits) / span, (1 << bits) - 1
    q = [np.clip(((xyz[:, a] - origin[a]) * factor).astype(np.int64), 0, top) for a in range(3)]
    key_of = np.zeros(len(xyz), np.int64)  # depth << 48 | linear node index at that depth
    remaining = np.arange(len(xyz))
    for depth in range(MAX_DEPTH + 1):
        if not len(remaining):
            break
        qr = q if depth == 0 else [axis[remaining] for axis in q]
        shift = bits - depth
        node = ((qr[0] >> shift) << (2 * depth)) | ((qr[1] >> shift) << depth) | (qr[2] >> shift)
        if depth <= 7:  # at most 2M nodes: counting beats sorting
            keep = np.bincount(node, minlength=1 << (3 * depth))[node] <= leaf_max
        else:
            _, inverse, counts = np.unique(node, return_inverse=True, return_counts=True)
            keep = counts[inverse] <= leaf_max
        inner = np.flatnonzero(~keep)
        if depth < MAX_DEPTH and len(inner):
            cb = depth + gbits
            cx, cy, cz = (axis[inner] >> (bits - cb) for axis in qr)
            cell = (cx << (2 * cb)) | (cy << cb) | cz
            order = np.argsort(cell, kind="stable")
            ordered = cell[order]
            first = np.ones(len(order), bool)
            first[1:] = ordered[1:] != ordered[:-1]
            keep[inner[order[first]]] = True  # one point per occupied cell
        elif len(inner):
            keep[:] = True
        key_of[remaining[keep]] = (depth << 48) | node[keep]
        remaining = remaining[~keep]
    order = np.argsort(key_of, kind="stable")
    ordered = key_of[order]
    change = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    keys = []
    for key in ordered[starts].tolist():
        d, lin = key >> 48, key & ((1 << 48) - 1)
        mask = (1 << d) - 1
        keys.append((d, lin >> (2 * d), (lin >> d) & mask, lin & mask))
    return Octree(center, halfsize, span / grid, keys, starts, order)


def crs_wkt(crs: str) -> str:
    """The OGC WKT (1) of ``crs``, as LAS 1.4 readers expect in the WKT VLR."""
    return CRS.from_user_input(crs).to_wkt("WKT1_GDAL")


def write_copc(source: Path, target: Path, crs: str) -> int:
    """Write ``source`` (LAS/LAZ) as a COPC file at ``target`` (atomically); return its points.

    The integer coordinates, scales and offsets are kept, so every point is preserved exactly;
    ``crs`` is written as the WKT VLR (NRW tiles carry none).
    """
    import copclib

    try:
        las = laspy.read(source, laz_backend=laspy.LazBackend.Lazrs)
    except Exception as exc:  # laspy, lazrs (truncated chunks) and OS errors alike
        raise SourceError(f"{source}: cannot read LAZ ({exc})") from exc
    if not len(las.points):
        raise SourceError(f"{source}: no points")
    fmt = COPC_FORMAT.get(las.header.point_format.id)
    if fmt is None:
        raise SourceError(f"{source}: point format {las.header.point_format.id} unsupported "
                          f"(expected 0-10)")
    if fmt != las.header.point_format.id:
        las = laspy.convert(las, point_format_id=fmt, file_version="1.4")
    # Extra bytes would need an extra-bytes VLR: NRW deliveries have none, keep standard dims.
    dtype = laspy.PointFormat(fmt).dtype()
    record = las.points.array
    if record.dtype != dtype:
        record = repack_fields(record[list(dtype.names)])
    xyz = np.column_stack([las.x, las.y, las.z])
    tree = build_octree(xyz)

    scale, offset = las.header.scales, las.header.offsets
    config = copclib.CopcConfigWriter(fmt, copclib.Vector3(*scale), copclib.Vector3(*offset),
                                      crs_wkt(crs))
    header = config.las_header
    header.min = copclib.Vector3(*xyz.min(axis=0))
    header.max = copclib.Vector3(*xyz.max(axis=0))
    by_return = np.bincount(np.asarray(las.return_number), minlength=16)[1:16]
    header.points_by_return = [int(v) for v in by_return]
    header.generating_software = "geoportal copc (copclib)"
    info = config.copc_info
    info.center_x, info.center_y, info.center_z = (float(v) for v in tree.center)
    info.halfsize, info.spacing = tree.halfsize, tree.spacing

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        writer = copclib.FileWriter(str(tmp), config)
        try:
            for i, key in enumerate(tree.keys):
                data = record[tree.node(i)].tobytes()
                writer.AddNode(copclib.VoxelKey(*key),
                               copclib.VectorChar(np.frombuffer(data, np.int8)))
        finally:
            writer.Close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written file next to the cache
        raise
    return len(record)


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
    fp = fingerprint(file_stamp(tile.path), crs, GRID, LEAF_MAX, ALGORITHM_VERSION)
    path = cache / "copc" / tile.key / f"{fp}.copc.laz"
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


class CopcPipeline(LidarPipeline):
    """Each delivered LAZ tile as a COPC download (``tiles/<id>_<E>_<N>.copc.laz``)."""

    def build(self, unit: Any, staging: Path) -> CopcOutcome:
        tile = next(t for t in self.tiles() if t.key == unit.key)
        return ensure_copc(tile, self.dataset.source.crs, cache_dir(self.settings))

    def finish(self, results: list[CopcOutcome], staging: Path) -> BuildResult:
        self.check(results)  # type: ignore[arg-type]
        folder = staging / "tiles"
        folder.mkdir()
        files = []
        for r in results:
            path = folder / f"{self.dataset.id}_{r.key}.copc.laz"
            _link(Path(str(r.path)), path)
            record = file_record(path, "laz")
            record.path = str(path.relative_to(staging))
            files.append(record)
        meta = self.metadata(files, len(files), results)  # type: ignore[arg-type]
        return BuildResult(self.dataset.id, meta,
                           self.headline(results, "COPC files"))  # type: ignore[arg-type]


def _link(src: Path, dst: Path) -> None:
    from pipelines.lidar.pipeline import _link as link

    link(src, dst)
