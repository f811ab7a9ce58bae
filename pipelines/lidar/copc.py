"""Per-tile COPC (Cloud Optimized Point Cloud) downloads, written without PDAL.

A COPC file is a LAZ 1.4 file (point format 6-8) whose points are grouped, one LAZ chunk per
node, into an octree, with a ``copc info`` VLR (cube centre, half size, root spacing) and a
hierarchy EVLR listing every node's chunk. Clients (QGIS, potree, laspy's ``CopcReader``) then
fetch only the nodes covering a bbox at the detail they need, over HTTP range requests.

PDAL (``writers.copc``) cannot be installed here, so the octree is built by a compiled pass
(:mod:`.kernels`), the chunks are compressed by lazrs and the file layout (VLRs, hierarchy) is
left to ``copclib``; all three ship wheels. The octree is the usual level-of-detail scheme:
every node keeps at most one point per cell of a ``GRID``³ grid over its cube, the other points
go down to its children, and a node holding at most ``LEAF_MAX`` points keeps them all. Every
source point ends in exactly one node.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import laspy
import numpy as np
from pyproj import CRS

from geoportal.core.errors import GeoportalError, PipelineError, SourceError
from geoportal.core.publish import atomic_path, keep_digest
from pipelines.lidar import kernels
from pipelines.lidar.tiles import Tile, file_stamp, fingerprint
from pipelines.pointcloud import CrsRule, read_info, read_las

#: Bump when the octree or the file layout changes: cached COPC files are then rewritten.
ALGORITHM_VERSION = 2
#: Cells per node edge: the root's point spacing is the cube's edge / GRID.
GRID = 128
#: A node with at most this many remaining points keeps them all (a leaf).
LEAF_MAX = 100_000
#: The deepest level: real clouds never reach it (a 1 km tile has cells of 1 mm at depth 13).
#: Quantised coordinates have ``MAX_DEPTH + log2(GRID)`` bits per axis, 20: they fit int32.
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


def build_octree(coords: Sequence[np.ndarray], grid: int = GRID,
                 leaf_max: int = LEAF_MAX) -> Octree:
    """Assign every point to one node; a node's points lie inside its cube (clients rely on it).

    Coordinates are quantised once to ``MAX_DEPTH + log2(grid)`` bits per axis; then one
    compiled pass per level (:func:`.kernels.octree_nodes`) places the points, and a counting
    sort groups them node by node. A node keeps the first point (in file order) of each
    occupied cell; at most ``leaf_max`` points, it keeps all. Within a node the points stay in
    file order, i.e. in scan order: neighbours along a scan line are neighbours in the chunk,
    which LAZ compresses ~12 % smaller than the z-order of a Morton sort (measured on a city
    tile; it is also why no sort is needed).
    """
    gbits = grid.bit_length() - 1
    if grid != 1 << gbits:
        raise CopcError(f"octree grid {grid}: expected a power of two")
    if len(coords) != 3:
        raise CopcError(f"octree: expected the x, y and z arrays, got {len(coords)} arrays "
                        f"(pass an (n, 3) array transposed)")
    axes = [_axis(a) for a in coords]
    lo, hi = np.empty(3), np.empty(3)
    for a, (values, scale, offset) in enumerate(axes):
        ends = [float(values.min()) * scale + offset, float(values.max()) * scale + offset]
        lo[a], hi[a] = min(ends), max(ends)
    center = (lo + hi) / 2
    halfsize = float(max((hi - lo).max() / 2, 0.5)) * (1 + 1e-9)
    span = 2 * halfsize
    bits = MAX_DEPTH + gbits
    origin, factor, top = center - halfsize, (1 << bits) / span, (1 << bits) - 1
    q = [kernels.quantise(values, scale, offset, float(origin[a]), factor, top)
         for a, (values, scale, offset) in enumerate(axes)]
    node_of, keys = kernels.octree_nodes(*q, bits, gbits, leaf_max, MAX_DEPTH)
    del q
    order, starts = kernels.group_by_node(node_of, len(keys))
    return Octree(center, halfsize, span / grid, lo, hi, [tuple(k) for k in keys.tolist()],
                  starts, order)


def _axis(values: Any) -> tuple[np.ndarray, float, float]:
    """An axis as stored: laspy's scaled views give their integer array, scale and offset
    (no float copy of 15 million coordinates); plain arrays are taken as they are."""
    if hasattr(values, "array") and hasattr(values, "scale") and hasattr(values, "offset"):
        return np.asarray(values.array), float(values.scale), float(values.offset)
    return np.asarray(values, dtype=np.float64), 1.0, 0.0


def crs_wkt(crs: str) -> str:  # a code, or the WKT of a file's own CRS
    """The OGC WKT (1) of ``crs``, as LAS 1.4 readers expect in the WKT VLR."""
    return CRS.from_user_input(crs).to_wkt("WKT1_GDAL")


def write_copc(source: Path, target: Path, crs: str) -> int:
    """Write ``source`` (LAS/LAZ) as a COPC file at ``target`` (atomically); return its points."""
    return write_copc_las(read_las(source), target, crs, source)


def write_copc_las(las: laspy.LasData, target: Path, crs: str, source: Path | str = "",
                   seconds: dict[str, float] | None = None) -> int:
    """Write decoded points as a COPC file at ``target`` (atomically); return its points.

    The integer coordinates, scales and offsets are kept, so every point is preserved exactly;
    ``crs`` is written as the WKT VLR (NRW tiles carry none). ``seconds`` receives the time of
    the octree and of the chunks (gather and LAZ compression), for the build summary.
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
    clock = time.perf_counter()
    tree = build_octree((las.x, las.y, las.z))  # scaled views: no copies
    octree_seconds = time.perf_counter() - clock
    records, source_format = las.points.array, las.header.point_format.id

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

    with atomic_path(target) as tmp:  # never a half-written file next to the cache
        writer = copclib.FileWriter(str(tmp), config)
        try:
            compress = chunk_compressor(fmt)
            for i, key in enumerate(tree.keys):
                # Node by node: one chunk's records at a time (a few MB), never the whole
                # reordered tile (440 MB for a city tile) next to the decoded one.
                points = tree.node(i)
                chunk = compress(to_las14(records, source_format, fmt, points))
                writer.AddNodeCompressed(copclib.VoxelKey(*key), copclib.VectorChar(chunk),
                                         len(points))
        finally:
            writer.Close()
        # The digest for the catalogue now, while the file is in the page cache; kept before
        # the file is renamed into place, so a cached file always has its digest.
        keep_digest(target, of=tmp)
    if seconds is not None:
        seconds["octree"] = octree_seconds
        seconds["copc"] = time.perf_counter() - clock - octree_seconds
    return len(tree.order)


def chunk_compressor(fmt: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function compressing LAS 1.4 records of format ``fmt`` into one LAZ chunk (bytes).

    lazrs compresses the same records ~15 % faster than copclib's own ``AddNode`` (one process,
    the chunks of a 14.6 M-point tile, alternating: 6.9–7.3 s against 8.2–8.6 s), so the chunks
    are made by lazrs and handed to copclib, which still lays out the file (header, hierarchy,
    COPC info). The VLR is lazrs' own with
    variable-sized chunks, as in every COPC file: one chunk per node, however many points.
    """
    import lazrs

    record = bytearray(lazrs.LazVlr.new_for_compression(fmt, 0).record_data())
    record[12:16] = (0xFFFFFFFF).to_bytes(4, "little")  # chunk size: variable
    vlr = lazrs.LazVlr(bytes(record))

    def compress(points: np.ndarray) -> np.ndarray:
        stream = io.BytesIO()
        compressor = lazrs.LasZipCompressor(stream, vlr)
        compressor.compress_many(points.tobytes())
        compressor.finish_current_chunk()
        # the stream starts with 8 bytes reserved for the offset of a chunk table, which a
        # COPC file keeps in its hierarchy instead
        return np.frombuffer(stream.getbuffer()[8:], dtype=np.int8)

    return compress


#: Legacy scan angle rank (int8 degrees, indexed by its byte) → LAS 1.4 scan angle (0.006°):
#: a table lookup instead of float arithmetic over every point.
_SCAN_ANGLE = np.round(np.arange(256, dtype=np.uint8).view(np.int8) / 0.006).astype(np.int16)


def to_las14(record: np.ndarray, source_format: int, fmt: int,
             order: np.ndarray | None = None) -> np.ndarray:
    """Point records of any LAS format as records of the LAS 1.4 format ``fmt`` (6-8), taken
    in ``order`` (all of them, in file order, by default).

    Not ``laspy.convert``: it copies fields by name, so the legacy ``scan_angle_rank`` (whole
    degrees) never reaches 1.4's ``scan_angle`` (0.006° units) and every converted point lost
    its scan angle. Here one compiled pass (:func:`.kernels.gather_records`) copies the shared
    fields byte for byte and rebuilds the legacy bit fields: legacy return number bits 0-2,
    number of returns 3-5, scan direction 6, edge 7; class bits 0-4, synthetic 5, key point 6,
    withheld 7. LAS 1.4: returns in two nibbles; flags synthetic/key point/withheld in bits 0-2,
    scan direction 6, edge 7. Fields the source lacks are zero. Extra bytes would need an
    extra-bytes VLR: NRW deliveries have none, standard fields only.
    """
    dtype = laspy.PointFormat(fmt).dtype()
    if order is None:
        order = np.arange(len(record))
    out = np.zeros(len(order), dtype)
    legacy_names = ("bit_fields", "raw_classification", "scan_angle_rank")
    plan = [(record.dtype.fields[n][1], dtype.fields[n][1], dtype.fields[n][0].itemsize)
            for n in dtype.names if n in record.dtype.names
            and not (source_format < 6 and n in legacy_names)]
    legacy = np.full(7, -1, np.int64)
    if source_format < 6:
        legacy[:] = [record.dtype.fields[n][1] for n in legacy_names] + [
            dtype.fields[n][1] for n in ("bit_fields", "classification_flags", "classification",
                                         "scan_angle")]
    kernels.gather_records(_bytes(record), np.asarray(order, np.int64), _bytes(out),
                           np.array(_runs(plan), np.int64).reshape(-1, 3), legacy, _SCAN_ANGLE)
    return out


def _runs(plan: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Byte copies merged where fields follow each other in both formats (X, Y, Z and the
    intensity are one 14-byte copy)."""
    runs: list[tuple[int, int, int]] = []
    for src, dst, size in sorted(plan):
        if runs and runs[-1][0] + runs[-1][2] == src and runs[-1][1] + runs[-1][2] == dst:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + size)
        else:
            runs.append((src, dst, size))
    return runs


def _bytes(record: np.ndarray) -> np.ndarray:
    """A contiguous record array seen as one row of bytes per record (no copy)."""
    return np.ascontiguousarray(record).view(np.uint8).reshape(len(record), record.itemsize)


def copc_path(tile: Tile, rule: CrsRule, cache: Path) -> Path:
    """Where the tile's COPC file lives in the cache, for its current file, the way its CRS is
    read (the CRS the file is written with) and this writer."""
    fp = fingerprint(file_stamp(tile.path), asdict(rule), GRID, LEAF_MAX, ALGORITHM_VERSION)
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


def ensure_copc(tile: Tile, rule: CrsRule, cache: Path) -> CopcOutcome:
    """The tile's COPC file in the cache, rewritten only if the tile or the writer changed.

    The delivered points are kept as they are, so the file carries the CRS they are in: the
    header's, the YAML's override or the registry's (``rule``; geographic and geocentric CRSs
    are refused as for the grids).
    """
    path = copc_path(tile, rule, cache)
    outcome = CopcOutcome(tile.key, str(path))
    if path.exists():
        with laspy.open(path) as reader:
            outcome.points = reader.header.point_count
        outcome.reused = True
        return outcome
    started = time.perf_counter()
    try:
        cloud = rule.resolve(tile.path, read_info(tile.path, rule.target).declared)
        outcome.points = write_copc(tile.path, path, cloud.crs.to_wkt())
    except (GeoportalError, OSError, ValueError, RuntimeError) as exc:
        outcome.error = str(exc)
        outcome.path = None
    outcome.seconds = time.perf_counter() - started
    return outcome
