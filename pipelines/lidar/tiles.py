"""The tile layout of a LiDAR delivery: which 1 km tiles exist, who their neighbours are, and
whether a tile's inputs changed since it was last processed.

A glob in the registry (``lidar/3dm_32_*_1_nw.laz``) selects the files. Each file is gridded
within one 1 km square of the registry's CRS: the square its name gives (NRW names tiles by
their lower-left kilometre; ``pipeline.params.tile_name`` is another delivery's pattern), or
else the square its header's extent lies in (a renamed tile, a 600 x 400 m cut). A file whose
extent spans several squares is refused (it is not split), and so are two files in one square;
points outside the square are refused when the tile is binned (:mod:`.products`), never moved
into its edge cells. Incremental rebuilds compare a cheap fingerprint —
name, size and modification time of every input plus the processing parameters — instead of
hashing gigabytes of LAZ on every run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import laspy

from geoportal.core.errors import SourceError
from pipelines.lidar.kernels import EDGE_TOLERANCE_M
from pipelines.pointcloud import TILE_NAME, CrsRule, read_info, tile_origin
from pipelines.tiles import TILE_SIZE, SourceTile


@dataclass(frozen=True)
class Tile(SourceTile):
    """One delivered LiDAR file and its 1 km square; its key names its cache entries
    (``<E>_<N>``). ``placed_by`` says how the square was found: ``name`` or ``header``."""

    placed_by: str = "name"

    @property
    def key(self) -> str:
        return f"{self.e_km}_{self.n_km}"

    def describe(self) -> str:
        """The square and how it was found, for messages."""
        x0, y0, x1, y1 = self.bounds
        how = "its file name" if self.placed_by == "name" else "its header's extent"
        return f"the square E {x0:.0f}-{x1:.0f}, N {y0:.0f}-{y1:.0f} (from {how})"


@dataclass(frozen=True)
class TileLayout:
    """How a dataset finds each file's square: the name pattern (named groups ``e`` and ``n``,
    kilometres; None: always the header) and the CRS rule for reading a header's extent."""

    crs: CrsRule = field(default_factory=lambda: CrsRule("EPSG:25832"))
    name: str | None = TILE_NAME.pattern


def discover(raw_dir: Path, pattern: str, dataset_id: str,
             layout: TileLayout | None = None) -> list[Tile]:
    """The tiles matching ``pattern`` under ``raw_dir``, in (E, N) order."""
    layout = layout or TileLayout()
    paths = sorted(raw_dir.glob(pattern))
    if not paths:
        raise SourceError(f"{raw_dir / pattern}: no LiDAR tiles found for dataset {dataset_id!r} "
                          f"(datasets/{dataset_id}.yml source.path; run `geoportal sample`)")
    tiles: dict[str, Tile] = {}
    for path in paths:
        origin = tile_origin(path, re.compile(layout.name, re.I)) if layout.name else None
        tile = Tile(path, *origin) if origin else header_tile(path, layout.crs)
        if tile.key in tiles:
            raise SourceError(f"{path}: {tile.describe()} is {tiles[tile.key].path.name}'s "
                              f"already; one file per 1 km square (dataset {dataset_id!r})")
        tiles[tile.key] = tile
    return sorted(tiles.values(), key=lambda t: (t.e_km, t.n_km))


def header_tile(path: Path, rule: CrsRule) -> Tile:
    """The tile of a file whose name gives no square: the square its header's x/y extent (in
    the registry's CRS) lies in, edges included (to the coordinates' precision,
    :data:`.kernels.EDGE_TOLERANCE_M`). A file spanning several is refused."""
    info = read_info(path, rule.target)
    x0, y0, _, x1, y1, _ = info.bounds
    minx, miny, maxx, maxy = rule.resolve(path, info.declared).to_target_bounds((x0, y0, x1, y1))
    slack = EDGE_TOLERANCE_M
    e0, n0 = math.floor((minx + slack) / TILE_SIZE), math.floor((miny + slack) / TILE_SIZE)
    e1 = math.ceil((maxx - slack) / TILE_SIZE) - 1
    n1 = math.ceil((maxy - slack) / TILE_SIZE) - 1
    if (e1, n1) != (e0, n0) and not (maxx == minx or maxy == miny):
        raise SourceError(
            f"{path}: the header's extent E {minx:.0f}-{maxx:.0f}, N {miny:.0f}-{maxy:.0f} "
            f"spans {(e1 - e0 + 1) * (n1 - n0 + 1)} squares of 1 km (E {e0}-{e1}, N {n0}-{n1} "
            f"km); a file is gridded within one square and is not split: deliver it cut "
            f"into 1 km tiles, or name each file's square (pipeline.params.tile_name)")
    return Tile(path, e0, n0, placed_by="header")


def neighbours(tile: Tile, tiles: list[Tile]) -> list[Tile]:
    """The (up to eight) tiles touching ``tile``, whose edge strips make up its buffer."""
    return [t for t in tiles
            if t != tile and abs(t.e_km - tile.e_km) <= 1 and abs(t.n_km - tile.n_km) <= 1]


def file_stamp(path: Path) -> str:
    """Name, size and mtime: changes whenever the file is replaced or rewritten."""
    try:
        st = path.stat()
    except OSError:
        return f"{path.name}:missing"
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def fingerprint(*parts: Any) -> str:
    """A short stable digest of inputs and parameters (JSON-serialisable parts)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flight_dates(tiles: list[Tile]) -> list[dt.date]:
    """The tiles' flight days, from the LAS headers' creation dates (cheap to read)."""
    dates = []
    for tile in tiles:
        with laspy.open(tile.path) as reader:
            created = reader.header.creation_date
        if created is not None:
            dates.append(created)
    return dates


def flight_period(tiles: list[Tile]) -> list[str] | None:
    """First and last flight day of ``tiles`` (``LayerMetadata.period``), None if unstated."""
    dates = flight_dates(tiles)
    return [min(dates).isoformat(), max(dates).isoformat()] if dates else None
