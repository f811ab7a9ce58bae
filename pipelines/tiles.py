"""A delivered source tile, as both tiled pipelines (LiDAR, orthophotos) receive them.

NRW delivers point clouds and orthophotos alike as one file per 1 km square of UTM zone 32,
named by the square's lower-left kilometre. What follows from that is here once; each pipeline
adds what is its own (its key in caches and mosaics, an orthophoto's year and bands).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The edge of a delivered tile in metres.
TILE_SIZE = 1000.0


@dataclass(frozen=True)
class SourceTile:
    """One delivered tile: its file and the lower-left corner of its square in kilometres."""

    path: Path
    e_km: int
    n_km: int

    @property
    def origin(self) -> tuple[float, float]:
        """The lower-left corner in metres."""
        return self.e_km * TILE_SIZE, self.n_km * TILE_SIZE

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The square the tile must cover (minx, miny, maxx, maxy), in metres."""
        x0, y0 = self.origin
        return (x0, y0, x0 + TILE_SIZE, y0 + TILE_SIZE)
