"""Gridding points into elevation rasters, and assembling a tile's grid with its buffer.

A tile is processed in two steps. *Binning* decodes the tile's points once and reduces them to
per-cell grids over the tile's own square kilometre (highest return, mean ground height,
share of multi-return pulses). *Finishing* pastes the tile's grid and the edge strips of its
neighbours' grids into one buffered grid and then fills gaps, derives the canopy model and the
hillshade and detects trees. Because binning is a per-cell reduction, a cell's value from the
neighbour's grid is exactly what reading the neighbour's points inside the buffer would give —
but every tile is decoded once instead of up to nine times.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.lidar.kernels import bin_cells, gap_distance2, nearest_fill, relax, shade
from pipelines.pointcloud import Points

NOISE_CLASSES = (7, 18)


@dataclass(frozen=True)
class GridSpec:
    """The raster frame of a tile core: origin (upper-left), cell size and cells per side."""

    x0: float
    y_top: float
    resolution: float
    size: int

    @classmethod
    def for_tile(cls, origin: tuple[float, float], tile_size: float,
                 resolution: float) -> GridSpec:
        cells = round(tile_size / resolution)
        return cls(origin[0], origin[1] + tile_size, resolution, cells)

    def buffered(self, buffer_m: float) -> tuple[GridSpec, int]:
        """The frame grown by ``buffer_m`` on every side, and the buffer in cells."""
        cells = math.ceil(buffer_m / self.resolution)
        grown = cells * self.resolution
        return GridSpec(self.x0 - grown, self.y_top + grown, self.resolution,
                        self.size + 2 * cells), cells

    def transform(self):  # -> affine.Affine, imported lazily to keep this module light
        from rasterio.transform import from_origin
        return from_origin(self.x0, self.y_top, self.resolution, self.resolution)

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (self.x0 + (cols + 0.5) * self.resolution,
                self.y_top - (rows + 0.5) * self.resolution)


@dataclass(frozen=True)
class CellGrids:
    """A tile's points reduced to cells: the grids (NaN where a cell has no point) and the
    range of the ground heights (None without ground points)."""

    grids: dict[str, np.ndarray]
    ground_points: int
    ground_range: tuple[float, float] | None


def lookup(classes: tuple[int, ...]) -> np.ndarray:
    """A 256-entry table, True at the given class codes (the kernels look classes up by it)."""
    table = np.zeros(256, dtype=np.bool_)
    table[list(classes)] = True
    return table


def bin_points(points: Points, spec: GridSpec, ground_classes: tuple[int, ...]) -> CellGrids:
    """Reduce a tile's points to per-cell grids in one compiled pass (:func:`.kernels.bin_cells`).

    ``dsm``: highest return; ``ground``: mean height of ground-class points; ``multi``: share of
    points from pulses with several returns (vegetation lets the beam through, roofs do not).
    Noise classes count for nothing.
    """
    returns = points.number_of_returns
    if returns is None:
        returns = np.ones(len(points), dtype=np.uint8)
    dsm, g_sum, g_count, count, multi, g_lo, g_hi = bin_cells(
        points.X, points.Y, points.Z, points.classification, returns, points.scale,
        points.offset, spec.x0, spec.y_top, spec.resolution, spec.size,
        lookup(ground_classes), lookup(NOISE_CLASSES))
    dsm[np.isneginf(dsm)] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        ground = g_sum / g_count
        share = np.where(count > 0, multi / np.maximum(count, 1), np.nan)
    shape = (spec.size, spec.size)
    grids = {"dsm": dsm.reshape(shape).astype(np.float32),
             "ground": ground.reshape(shape).astype(np.float32),
             "multi": share.reshape(shape).astype(np.float32)}
    ground_points = int(g_count.sum())
    return CellGrids(grids, ground_points, (g_lo, g_hi) if ground_points else None)


def paste(dst: np.ndarray, dst_spec: GridSpec, src: np.ndarray, src_spec: GridSpec) -> None:
    """Copy the part of ``src`` that overlaps ``dst`` (same resolution, aligned frames)."""
    r = dst_spec.resolution
    col_off = round((src_spec.x0 - dst_spec.x0) / r)
    row_off = round((dst_spec.y_top - src_spec.y_top) / r)
    d_r0, d_c0 = max(row_off, 0), max(col_off, 0)
    d_r1 = min(row_off + src_spec.size, dst_spec.size)
    d_c1 = min(col_off + src_spec.size, dst_spec.size)
    if d_r1 <= d_r0 or d_c1 <= d_c0:
        return
    dst[d_r0:d_r1, d_c0:d_c1] = src[d_r0 - row_off:d_r1 - row_off, d_c0 - col_off:d_c1 - col_off]


def fill_gaps(grid: np.ndarray, smooth_passes: int = 3) -> np.ndarray:
    """Fill NaN cells from the nearest measured cell, then relax the filled cells.

    Nearest-neighbour filling never invents heights outside the measured range; the few
    averaging passes (5 × 5 mean) over *filled* cells only remove the terraces it leaves under
    buildings. Both run compiled (:mod:`.kernels`) and touch only what they change.
    """
    empty = np.isnan(grid)
    if not empty.any():
        return grid
    filled = nearest_fill(grid)
    rows, cols = np.nonzero(empty & ~np.isnan(filled))
    relax(filled, rows, cols, smooth_passes, 2)
    return filled


def beyond_reach(measured: np.ndarray, max_distance_m: float,
                 resolution: float) -> np.ndarray:
    """Cells farther than ``max_distance_m`` (centre to centre) from every ``measured`` cell.

    Gap filling bridges what a scan misses between its points (under a roof, a dark car);
    outside the surveyed area, over water without returns or in a large hole there is nothing
    to bridge, and those cells are nodata rather than the nearest edge's height spread out.
    """
    return gap_distance2(measured) > (max_distance_m / resolution) ** 2


def hillshade(dtm: np.ndarray, resolution: float, azimuth: float = 315.0,
              altitude: float = 45.0) -> np.ndarray:
    """Shaded relief (1–255, 0 is nodata) with light from the north-west, as map hillshades
    (slope and aspect from central differences; one compiled pass, :func:`.kernels.shade`)."""
    if dtm.shape[0] < 2 or dtm.shape[1] < 2:
        raise ValueError(f"hillshade: a grid of at least 2 x 2 cells expected, got {dtm.shape}")
    return shade(np.ascontiguousarray(dtm, dtype=np.float32), float(resolution),
                 math.radians(360.0 - azimuth + 90.0), math.radians(altitude))


def check_non_negative(params: Any) -> None:
    """Refuse a parameter dataclass (SMRF, tree detection) with a negative size or factor: the
    YAML gives them, and a negative window would silently detect nothing."""
    negative = {f.name: v for f in dataclasses.fields(params) if (v := getattr(params, f.name)) < 0}
    if negative:
        raise ValueError(f"expected sizes and factors of 0 or more, got {negative}")
