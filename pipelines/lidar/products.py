"""Per-tile LiDAR products with a shared, incremental cache.

Every LiDAR dataset (terrain, surface, canopy, hillshade, trees, building heights) needs the same
two steps per tile, so they share one cache under ``<data>/cache/lidar``: the first dataset built
decodes and grids a tile, the others reuse the result, and a rerun with unchanged inputs and
parameters decodes nothing. The steps are data (:data:`STAGES`), logged with every tile.

* ``bin``: decode the tile once and reduce it to per-cell grids (see :mod:`.grid`).
* ``finish``: paste the neighbours' edge strips around it (the buffer), fill gaps, derive
  DTM/DSM/CHM/hillshade rasters, detect trees, measure building heights.

Cache entries are written to a temporary folder and renamed into place, so a run killed at any
point leaves either a complete entry or none; a per-tile lock keeps two workers from binning
the same neighbour twice.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio.features
from pydantic import Field, field_validator

from geoportal.core.errors import GeoportalError, SourceError, SourceFormatError
from geoportal.core.publish import atomic_path, keep_digest
from geoportal.core.registry import KnownCRS, Params
from pipelines.lidar.copc import CopcError, write_copc_las
from pipelines.lidar.grid import GridSpec, beyond_reach, bin_points, fill_gaps, hillshade, paste
from pipelines.lidar.ground import GROUND, SmrfParams, classified_by_smrf
from pipelines.lidar.kernels import count_outside
from pipelines.lidar.raster import FLOAT_NODATA, write_cog
from pipelines.lidar.tiles import Tile, TileLayout, file_stamp, fingerprint, neighbours
from pipelines.lidar.trees import TreeParams, detect
from pipelines.pointcloud import (
    TILE_NAME,
    CloudCRS,
    CrsRule,
    Points,
    points_from_las,
    read_info,
    read_las,
)
from pipelines.tiles import TILE_SIZE

ALGORITHM_VERSION = "3"
STAGES: list[dict[str, Any]] = [
    {"step": "read", "reader": "laspy+lazrs", "fields": ["xyz", "classification", "returns"],
     "all fields": "when the tile's COPC file is due as well (one decode feeds both)"},
    {"step": "ground", "when": "params.ground is smrf (clouds without a ground class)",
     "method": "SMRF: minimum surface, progressive opening, points near the provisional terrain"},
    {"step": "bin", "kernel": "kernels.bin_cells",
     "products": ["dsm: max z", "ground: mean z of ground classes",
                  "multi: share of multi-return pulses"]},
    {"step": "octree", "kernel": "kernels.octree_nodes",
     "rule": "first point per cell of a 128³ grid per node, all points at <= 100,000"},
    {"step": "copc", "writer": "kernels.gather_records, lazrs chunks, copclib layout",
     "order": "file order within a node", "from": "the same decoded records"},
    {"step": "buffer", "from": "neighbour tiles' binned grids"},
    {"step": "fill", "method": "nearest measured cell (exact) + 3 relaxation passes (5 x 5)",
     "nodata": "cells farther than max_gap_fill_m from every cell with a point"},
    {"step": "derive", "products": ["dtm", "dsm", "chm = dsm - dtm", "hillshade(dtm)"]},
    {"step": "cogs", "writer": "GDAL GTiff, COPY_SRC_OVERVIEWS, ZSTD", "digests": "sha256"},
    {"step": "trees", "method": "pit-filled CHM, lmf (height-dependent window, no tops within "
                                "1 m of a footprint) + watershed (dalponte-like)"},
    {"step": "buildings", "method": "p95 of dsm - dtm inside the footprint"},
]


@dataclass(frozen=True)
class LidarParams:
    """Everything that changes the products; hashed into each tile's fingerprint."""

    crs: str = "EPSG:25832"
    resolution: float = 0.5
    buffer_m: float = 20.0
    ground_classes: tuple[int, ...] = (2, 9)
    #: Where the terrain's points come from: ``classes`` (the delivered ground classes) or
    #: ``smrf`` (the built-in ground filter, for clouds delivered without a ground class).
    ground: str = "classes"
    smrf: SmrfParams = field(default_factory=SmrfParams)
    footprints: str | None = "alkis/gebaeude.gpkg"
    trees: TreeParams = field(default_factory=TreeParams)
    max_gap_fill_m: float = 5.0
    tile_name: str | None = TILE_NAME.pattern
    crs_override: str | None = None
    vertical_unit: str | None = None

    @property
    def crs_rule(self) -> CrsRule:
        return CrsRule(self.crs, self.crs_override, self.vertical_unit)

    @property
    def layout(self) -> TileLayout:
        return TileLayout(self.crs_rule, self.tile_name)

    @classmethod
    def from_options(cls, crs: str, options: LidarOptions) -> LidarParams:
        """The parameters from a dataset's typed ``pipeline.params`` (the registry checked
        them); the raster datasets' ``product`` and ``tiles`` do not change the tile pass."""
        return cls(crs=crs, **{name: getattr(options, name)
                               for name in LidarOptions.model_fields})


class LidarOptions(Params):
    """``pipeline.params`` of every LiDAR dataset: what changes the shared tile pass.

    ``ground``: where the terrain's points come from, ``classes`` (the delivered
    ``ground_classes``) or ``smrf`` (the built-in filter, for unclassified clouds, with the
    ``smrf`` parameters); ``footprints``: ALKIS buildings (relative to the raw folder) kept out
    of tree detection and measured for building heights.

    How a delivery is read: ``tile_name`` is the pattern giving a file's 1 km square from its
    name (named groups ``e``, ``n``: the lower-left corner in km; NRW's by default; null: from
    the header's extent only), ``crs_override`` the files' CRS whatever their headers declare
    (a wrong record), ``vertical_unit`` the heights' unit where the CRS names none. Cells
    farther than ``max_gap_fill_m`` from every point are nodata in DTM, DSM, CHM and hillshade.
    """

    resolution: float = Field(default=0.5, gt=0, le=10)
    buffer_m: float = Field(default=20.0, ge=0, le=200)
    ground_classes: tuple[Annotated[int, Field(ge=0, le=255)], ...] = Field(
        default=(2, 9), min_length=1)
    ground: Literal["classes", "smrf"] = "classes"
    smrf: SmrfParams = Field(default_factory=SmrfParams)
    footprints: str | None = "alkis/gebaeude.gpkg"
    trees: TreeParams = Field(default_factory=TreeParams)
    max_gap_fill_m: float = Field(default=5.0, ge=0, le=1000)
    tile_name: str | None = TILE_NAME.pattern
    crs_override: KnownCRS | None = None
    vertical_unit: Literal["metre", "foot", "us-foot"] | None = None

    @field_validator("tile_name")
    @classmethod
    def _tile_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            groups = re.compile(value).groupindex
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc}): {value!r}") from None
        if not {"e", "n"} <= set(groups):
            raise ValueError(f"expected named groups (?P<e>...) and (?P<n>...) (the square's "
                             f"lower-left corner in km), got {value!r}")
        return value


@dataclass
class TileOutcome:
    """What one tile's unit reports to the executor's progress and to ``finish``."""

    key: str
    folder: str | None = None
    points: int = 0
    decoded: int = 0
    reused: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: Worker seconds per stage (decode, bin, copc, derive) spent by this unit: the run's
    #: summary adds them up, so a slow build shows where its time went.
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, stages: dict[str, float]) -> None:
        for name, seconds in stages.items():
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + seconds


@contextmanager
def _locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path``; with ``wait=False`` yield False at once if another
    process holds it (the caller then does other work first instead of idling)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _cache_entry(final: Path) -> Iterator[Path]:
    """A fresh folder to write a cache entry into, moved into place as ``final`` when the block
    succeeds (removed when it fails); older entries of the same tile are dropped then."""
    with atomic_path(final) as tmp:
        tmp.mkdir()
        yield tmp
        for old in final.parent.iterdir():
            if old.is_dir() and old != tmp and old.name != final.name:
                shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class Binned:
    folder: Path
    fp: str
    points: int
    decoded: bool
    copc_error: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: What reading the tile's CRS did (an override, a reprojection, feet to metres).
    notes: tuple[str, ...] = ()


def binned_fingerprint(tile: Tile, params: LidarParams) -> str:
    # The filter's parameters only when it runs: caches of classified deliveries stay valid.
    smrf = [asdict(params.smrf)] if params.ground == "smrf" else []
    return fingerprint(file_stamp(tile.path), tile.key, params.resolution, params.ground_classes,
                       asdict(params.crs_rule), ALGORITHM_VERSION, *smrf)


def ensure_binned(tile: Tile, params: LidarParams, cache: Path, wait: bool = True,
                  copc: Path | None = None) -> Binned | None:
    """Decode and bin ``tile`` unless an entry for its current file and parameters exists.

    ``copc``: where the tile's COPC download belongs in the cache. When the tile is decoded
    anyway and that file is missing, it is written from the same decoded records: decoding is
    the largest single cost of a tile, and this way it is paid once for every product.
    With ``wait=False``, return None instead of waiting while another worker bins the tile.
    """
    fp = binned_fingerprint(tile, params)
    final = cache / "binned" / tile.key / fp
    clock = time.perf_counter()
    with _locked(cache / "locks" / f"{tile.key}.lock", wait) as held:
        if not held:
            return None
        # Time spent waiting for another worker binning this tile (a neighbour both need).
        seconds = {"wait": time.perf_counter() - clock} if wait else {}
        if (final / "meta.json").exists():
            meta = json.loads((final / "meta.json").read_text())
            return Binned(final, fp, meta["points"], decoded=False, stage_seconds=seconds,
                          notes=tuple(meta.get("notes", ())))
        cloud = tile_crs(tile, params.crs_rule)  # refuses a CRS that cannot be gridded
        with_copc = copc is not None and not copc.exists()
        clock = time.perf_counter()
        las = read_las(tile.path, all_fields=with_copc)
        points = cloud.to_target(points_from_las(las, returns=True))
        if not with_copc:
            del las
        seconds["decode"] = time.perf_counter() - clock
        clock = time.perf_counter()
        count = _bin_and_commit(tile, points, params, final, cloud.notes)
        seconds["bin"] = time.perf_counter() - clock
        del points  # the COPC step needs only the records: a third less peak memory
    # The binned grids are committed and the lock is free, so a worker waiting for this tile
    # as a neighbour goes on while this one writes the COPC file (nobody else decodes it).
    copc_error = None
    if with_copc:
        copc_error = _write_copc(las, copc, cloud.crs.to_wkt(), tile.path, seconds)
    return Binned(final, fp, count, decoded=True, copc_error=copc_error,
                  stage_seconds=seconds, notes=cloud.notes)


def tile_crs(tile: Tile, rule: CrsRule) -> CloudCRS:
    """How ``tile``'s coordinates become the registry's CRS in metres (its header read)."""
    return rule.resolve(tile.path, read_info(tile.path, rule.target).declared)


def check_inside(tile: Tile, points: Points, spec: GridSpec) -> None:
    """Refuse a tile with points outside its square, naming the file and the count.

    Binning would otherwise have to drop them or pile them into the edge cells: a foreign
    file renamed to a tile it does not cover, or a delivery with overlapping tiles, would then
    publish a plausible, wrong terrain model.
    """
    outside = count_outside(points.X, points.Y, points.scale, points.offset, spec.x0,
                            spec.y_top, spec.resolution, spec.size)
    if outside:
        raise SourceError(
            f"{tile.path}: {outside:,} of {len(points):,} points lie outside "
            f"{tile.describe()}; a file must hold only its own square's points (another "
            f"square's file renamed? overlapping tiles? a wrong pipeline.params.tile_name?)")


def _bin_and_commit(tile: Tile, points: Points, params: LidarParams, final: Path,
                    notes: tuple[str, ...] = ()) -> int:
    spec = GridSpec.for_tile(tile.origin, TILE_SIZE, params.resolution)
    check_inside(tile, points, spec)
    classes = params.ground_classes
    if params.ground == "smrf":
        points, classes = classified_by_smrf(points, tile.origin, TILE_SIZE, params.smrf), (GROUND,)
    cells = bin_points(points, spec, classes)
    if cells.ground_range is None:
        raise SourceFormatError(f"{tile.path}: " + (
            "the ground filter (smrf) found no ground points; cannot model the terrain"
            if params.ground == "smrf" else
            f"no ground points (classes {list(classes)}); cannot model the terrain. An "
            f"unclassified cloud? Set `ground: smrf` in the LiDAR datasets' pipeline.params "
            f"(datasets/*.yml) to classify ground with the built-in filter"))
    with _cache_entry(final) as tmp:
        for name, grid in cells.grids.items():
            np.save(tmp / f"{name}.npy", grid)
        meta = {"points": len(points), "ground_z": list(cells.ground_range),
                "notes": list(notes)}
        (tmp / "meta.json").write_text(json.dumps(meta))
    return len(points)


def _write_copc(las: Any, target: Path, crs: str, source: Path,
                seconds: dict[str, float]) -> str | None:
    """The COPC file from records decoded for binning; a failure is reported, not raised:
    the raster products are fine, and the ``point_cloud`` dataset retries and reports it."""
    try:
        write_copc_las(las, target, crs, source, seconds)
    except (CopcError, GeoportalError, OSError, ValueError, RuntimeError) as exc:
        return f"{source}: COPC not written in the tile pass ({exc})"
    return None


def build_tile(tile: Tile, tiles: list[Tile], params: LidarParams, raw_dir: Path,
               cache: Path, copc: Callable[[Tile], Path] | None = None) -> TileOutcome:
    """Make sure the products of ``tile`` are in the cache; never raises for bad input.

    ``copc`` maps a tile to its COPC cache path when the registry publishes COPC downloads of
    the same tiles: every tile this unit decodes then gets its COPC file from that decode.
    """
    outcome = TileOutcome(tile.key)
    binned = _bin_with_neighbours(tile, tiles, params, cache, outcome, copc)
    if outcome.error:
        return outcome
    own = binned.pop(tile.key)
    around = [(t, binned[t.key]) for t in neighbours(tile, tiles) if t.key in binned]
    footprints = raw_dir / params.footprints if params.footprints else None
    fp = _products_fingerprint(own.fp, [(t.key, b.fp) for t, b in around], params, footprints)
    final = cache / "products" / tile.key / fp
    outcome.folder = str(final)
    if (final / "done.json").exists():
        outcome.reused = True
        return outcome
    with _cache_entry(final) as tmp:
        started = time.perf_counter()
        outcome.timed(_derive(tile, own, around, params, footprints, tmp))
        (tmp / "done.json").write_text(json.dumps({"seconds": time.perf_counter() - started,
                                                   "stages": STAGES}))
    return outcome


def _products_fingerprint(own_fp: str, around: list[tuple[str, str]], params: LidarParams,
                          footprints: Path | None) -> str:
    # How the ground was found is in the binned fingerprints already (own and around).
    options = {k: v for k, v in asdict(params).items() if k not in ("ground", "smrf")}
    return fingerprint(own_fp, sorted(around), options,
                       file_stamp(footprints) if footprints else None, ALGORITHM_VERSION)


def products_key(tile: Tile, tiles: list[Tile], params: LidarParams, raw_dir: Path) -> str:
    """The fingerprint of ``tile``'s products from file stamps alone (nothing decoded): its
    own file, its neighbours' (their edge strips are its buffer), the footprints, the
    parameters. One changed file changes the keys of its tile and of its neighbours only."""
    footprints = raw_dir / params.footprints if params.footprints else None
    around = [(t.key, binned_fingerprint(t, params)) for t in neighbours(tile, tiles)]
    return _products_fingerprint(binned_fingerprint(tile, params), around, params, footprints)


def products_cached(tile: Tile, tiles: list[Tile], params: LidarParams, raw_dir: Path,
                    cache: Path) -> bool:
    """Whether ``tile``'s products for its current inputs are in the cache, so its unit
    would only look them up."""
    fp = products_key(tile, tiles, params, raw_dir)
    return (cache / "products" / tile.key / fp / "done.json").exists()


def _bin_with_neighbours(tile: Tile, tiles: list[Tile], params: LidarParams, cache: Path,
                         outcome: TileOutcome,
                         copc: Callable[[Tile], Path] | None = None) -> dict[str, Binned]:
    """Bin ``tile`` and its neighbours, tiles no other worker is binning right now first.

    Two workers starting on adjacent tiles both need each other's tile: waiting for the lock
    in a fixed order left one of them idle while the other decoded (a fifth of the first
    dataset's worker time on the 2x2 sample). Trying every lock without waiting first, and
    waiting only for the tiles still busy at the end, keeps both decoding.
    """
    done: dict[str, Binned] = {}
    todo = [tile, *neighbours(tile, tiles)]
    for wait in (False, True):
        busy = []
        for other in todo:
            try:
                binned = ensure_binned(other, params, cache, wait=wait,
                                       copc=copc(other) if copc else None)
            except (GeoportalError, OSError, ValueError) as exc:
                if other is tile:
                    outcome.error = str(exc)
                    return done
                outcome.warnings.append(f"tile {tile.key}: neighbour {other.key} left out of "
                                        f"the buffer ({exc})")
                continue
            if binned is None:
                busy.append(other)
                continue
            done[other.key] = binned
            outcome.timed(binned.stage_seconds)
            if binned.copc_error:
                outcome.warnings.append(binned.copc_error)
            if other is tile:
                outcome.points = binned.points
                outcome.warnings.extend(binned.notes)
            outcome.decoded += binned.points if binned.decoded else 0
        todo = busy
    return done


def _buffered(name: str, tile: Tile, own: Binned, around: list[tuple[Tile, Binned]],
              params: LidarParams) -> tuple[np.ndarray, GridSpec, int]:
    core = GridSpec.for_tile(tile.origin, TILE_SIZE, params.resolution)
    spec, cells = core.buffered(params.buffer_m)
    grid = np.full((spec.size, spec.size), np.nan, dtype=np.float32)
    for t, b in [(tile, own), *around]:
        src_spec = GridSpec.for_tile(t.origin, TILE_SIZE, params.resolution)
        paste(grid, spec, np.load(b.folder / f"{name}.npy", mmap_mode="r"), src_spec)
    return grid, spec, cells


def _derive(tile: Tile, own: Binned, around: list[tuple[Tile, Binned]], params: LidarParams,
            footprints: Path | None, out: Path) -> dict[str, float]:
    """Write the tile's rasters, trees and building heights; return seconds per stage."""
    clock, seconds = time.perf_counter(), {}
    ground, spec, cells = _buffered("ground", tile, own, around, params)
    dsm_raw, _, _ = _buffered("dsm", tile, own, around, params)
    multi, _, _ = _buffered("multi", tile, own, around, params)
    dtm = fill_gaps(ground)
    dtm[beyond_reach(~np.isnan(dsm_raw), params.max_gap_fill_m, params.resolution)] = np.nan
    dsm = np.maximum(fill_gaps(dsm_raw), dtm)  # NaN where the terrain is
    chm = (dsm - dtm).astype(np.float32)
    shade = hillshade(dtm, params.resolution)
    seconds["fill"], clock = time.perf_counter() - clock, time.perf_counter()
    core_spec = GridSpec.for_tile(tile.origin, TILE_SIZE, params.resolution)
    inner = (slice(cells, cells + core_spec.size),) * 2
    for name, grid, nodata in (("dtm", dtm, FLOAT_NODATA), ("dsm", dsm, FLOAT_NODATA),
                               ("chm", chm, FLOAT_NODATA), ("hillshade", shade, 0)):
        keep_digest(write_cog(out / f"{name}.tif", np.ascontiguousarray(grid[inner]),
                              core_spec, params.crs, nodata))
    seconds["cogs"], clock = time.perf_counter() - clock, time.perf_counter()
    houses = _footprints(footprints, spec, params.crs)
    ids = _rasterize_ids(houses, spec)
    trees = detect(np.nan_to_num(chm, nan=0.0), multi, ids > 0, spec, cells, params.trees)
    _trees_frame(trees, params.crs).to_parquet(out / "trees.parquet")
    seconds["trees"], clock = time.perf_counter() - clock, time.perf_counter()
    _building_heights(houses, ids, chm, core_spec).to_parquet(out / "buildings.parquet")
    seconds["buildings"] = time.perf_counter() - clock
    return seconds


def _footprints(path: Path | None, spec: GridSpec, crs: str) -> gpd.GeoDataFrame:
    empty = gpd.GeoDataFrame({"oid": pd.Series(dtype=str)}, geometry=[], crs=crs)
    if path is None or not path.exists():
        return empty
    extent = spec.size * spec.resolution
    bbox = (spec.x0, spec.y_top - extent, spec.x0 + extent, spec.y_top)
    frame = pyogrio.read_dataframe(path, bbox=bbox)
    if frame.empty:
        return empty
    if frame.crs is not None and not frame.crs.equals(crs):
        frame = frame.to_crs(crs)
    return frame.reset_index(drop=True)


def _rasterize_ids(houses: gpd.GeoDataFrame, spec: GridSpec) -> np.ndarray:
    if houses.empty:
        return np.zeros((spec.size, spec.size), dtype=np.int32)
    shapes = ((geom, i + 1) for i, geom in enumerate(houses.geometry) if geom is not None)
    return rasterio.features.rasterize(shapes, out_shape=(spec.size, spec.size),
                                       transform=spec.transform(), fill=0, dtype="int32")


def _trees_frame(trees: Any, crs: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "x": np.round(trees.x, 2), "y": np.round(trees.y, 2),
        "height_m": np.round(trees.height, 2),
        "crown_diameter_m": np.round(trees.crown_diameter, 2),
        "multi_return_share": np.round(trees.multi_return_share, 3),
        "crown": gpd.GeoSeries(trees.crowns, crs=crs).to_wkb(),
    }, geometry=gpd.points_from_xy(trees.x, trees.y), crs=crs)


def _building_heights(houses: gpd.GeoDataFrame, ids: np.ndarray, ndsm: np.ndarray,
                      core: GridSpec) -> gpd.GeoDataFrame:
    """Roof height above terrain per footprint whose inner point lies in this tile's core."""
    columns = {"oid": [], "height_p95_m": [], "height_max_m": [], "cells": []}
    if houses.empty:
        return gpd.GeoDataFrame(columns, geometry=[], crs=houses.crs)
    inner = houses.geometry.representative_point()
    extent = core.size * core.resolution
    mine = ((inner.x >= core.x0) & (inner.x < core.x0 + extent)
            & (inner.y > core.y_top - extent) & (inner.y <= core.y_top)).to_numpy()
    flat_ids, heights = ids.ravel(), ndsm.ravel()
    sel = (flat_ids > 0) & np.isfinite(heights)  # nodata cells measure nothing
    order = np.lexsort((heights[sel], flat_ids[sel]))
    sorted_ids, sorted_h = flat_ids[sel][order], heights[sel][order]
    starts = np.searchsorted(sorted_ids, np.arange(1, len(houses) + 2))
    rows = []
    for i in np.nonzero(mine)[0]:
        lo, hi = starts[i], starts[i + 1]
        if hi <= lo:
            rows.append((np.nan, np.nan, 0))
            continue
        values = sorted_h[lo:hi]
        rows.append((float(np.percentile(values, 95)), float(values[-1]), hi - lo))
    frame = houses.loc[mine].copy()
    frame["height_p95_m"] = np.round([r[0] for r in rows], 2)
    frame["height_max_m"] = np.round([r[1] for r in rows], 2)
    frame["cells"] = [int(r[2]) for r in rows]
    return frame
