"""The tile layout of a LiDAR delivery: which 1 km tiles exist, who their neighbours are, and
whether a tile's inputs changed since it was last processed.

NRW tiles are named by their lower-left kilometre corner; a glob in the registry
(``lidar/3dm_32_*_1_nw.laz``) selects them. Incremental rebuilds compare a cheap fingerprint —
name, size and modification time of every input plus the processing parameters — instead of
hashing gigabytes of LAZ on every run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoportal.core.errors import SourceError
from pipelines.pointcloud import tile_origin
from pipelines.tiles import SourceTile


@dataclass(frozen=True)
class Tile(SourceTile):
    """One delivered 1 km LiDAR tile; its key names its cache entries (``<E>_<N>``)."""

    @property
    def key(self) -> str:
        return f"{self.e_km}_{self.n_km}"


def discover(raw_dir: Path, pattern: str, dataset_id: str) -> list[Tile]:
    """The tiles matching ``pattern`` under ``raw_dir``, in (E, N) order."""
    paths = sorted(raw_dir.glob(pattern))
    if not paths:
        raise SourceError(f"{raw_dir / pattern}: no LiDAR tiles found for dataset {dataset_id!r} "
                          f"(datasets/{dataset_id}.yml source.path; run `geoportal sample`)")
    tiles = []
    for path in paths:
        origin = tile_origin(path)
        if origin is None:
            raise SourceError(f"{path}: not an NRW tile name (expected 3dm_32_<E>_<N>_1_nw.laz)")
        tiles.append(Tile(path, *origin))
    return sorted(tiles, key=lambda t: (t.e_km, t.n_km))


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
