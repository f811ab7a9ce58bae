"""Ground points for clouds that carry no ground class: a simple morphological filter (SMRF).

NRW delivers classified tiles, and the terrain model uses their ground classes. Other sources
(a drone flight, an older survey) arrive unclassified; PDAL would classify them with
``filters.smrf``, but PDAL cannot be installed here. This is the same algorithm — Pingel,
Clarke & McBride (2013), "An improved simple morphological filter for the terrain
classification of airborne LIDAR data" — on the grid the tile pass already works with:

1. the *minimum surface*: per cell (``cell_m``) the lowest point, gaps filled from the nearest
   measured cell;
2. *progressive opening*: the surface opened with growing windows up to ``window_m``; a cell
   dropping between two successive openings by more than ``slope`` × the window's radius
   (plus the terrain's own share, below) is an object (a roof, a crown, a car) — terrain does
   not drop that fast;
3. the *provisional terrain*: the minimum surface without its objects, their cells filled;
4. *points*: a point is ground when it lies within ``threshold_m`` + ``scalar`` × the terrain's
   local slope of the provisional terrain (interpolated bilinearly at the point).

One departure from the paper keeps hills: on a slope ``g`` the lowest point of a cell lies
anywhere in it, so neighbouring cells' minima differ by up to ``g`` × the cell, and a crest
(a ridge, a spoil heap, an embankment's edge) loses ``g`` × the cell at every opening step.
With the paper's test alone both exceed ``slope`` × radius at the small radii on slopes over
~10°, and the filter cut the crests of steep hills flat (issue 16: 2–4 m on 30° flanks).
Each drop is therefore also allowed ``relief`` × ``g`` × cell, ``g`` the terrain's slope around
the cell (:func:`terrain_slope`); a wall drops its full height at one step and still counts.
``relief: 0`` is the paper's filter.

Square windows instead of the paper's disks: a square opening is two separable 1-D passes
whatever its size, which keeps a 1 km tile well under a second. Each tile is filtered alone
(windows clamp at its edge), and the classes of the published point cloud are left as
delivered: the filter only decides which points make the terrain model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from pipelines.lidar.grid import NOISE_CLASSES, GridSpec, check_non_negative, fill_gaps, lookup
from pipelines.lidar.kernels import lowest_cells, near_surface, nearest_fill
from pipelines.pointcloud import Points

#: The class the filter gives ground points (ASPRS/NRW "ground"), and every other point.
GROUND, OTHER = 2, 1


@dataclass(frozen=True)
class SmrfParams:
    """The filter's parameters, with the meaning of PDAL ``filters.smrf``'s, and its defaults
    but the window: 18 m left the larger roofs of the sample's centre (over 36 m across) in
    the terrain, up to 19 m high; 30 m removed them and changed nothing on the real NRW tile
    (tests/lidar/test_ground.py). ``relief`` is this filter's own: the share of the terrain's
    slope a cell may drop between two openings (see the module docstring; 0 is PDAL's
    filter, 2 keeps 30° hills, tests/delivery/test_smrf.py)."""

    cell_m: float = 1.0
    slope: float = 0.15
    window_m: float = 30.0
    threshold_m: float = 0.5
    scalar: float = 1.25
    relief: float = 2.0

    def __post_init__(self) -> None:
        check_non_negative(self)


def minimum_surface(points: Points, spec: GridSpec) -> np.ndarray:
    """The lowest point per cell of ``spec`` (NaN where a cell has none; noise left out)."""
    return lowest_cells(points.X, points.Y, points.Z, points.classification, points.scale,
                        points.offset, spec.x0, spec.y_top, spec.resolution, spec.size,
                        lookup(NOISE_CLASSES))


#: The terrain slope is read from the minimum surface opened by this radius (m; crowns' and
#: shrubs' single cells gone), as the median per block of this size (m) — a wall is a line
#: in its block, a slope fills it — and each block takes its neighbours' steepest, so the
#: crest between two flanks has their slope.
_SLOPE_OPENING_M, _SLOPE_BLOCK_M = 3.0, 10.0
#: The steepest terrain slope the allowance uses (tan 35°): a dense crown that the opening
#: left whole must not make its block "steep" and hide the building next to it.
_STEEPEST = 0.7


def terrain_slope(surface: np.ndarray, cell_m: float) -> np.ndarray:
    """The slope (rise over run) of the terrain around each cell of a gap-free minimum surface,
    robust against the objects on it (see :data:`_SLOPE_BLOCK_M`)."""
    radius = max(1, round(_SLOPE_OPENING_M / cell_m))
    opened = ndimage.grey_opening(surface, size=(2 * radius + 1,) * 2, mode="nearest")
    dy, dx = np.gradient(opened, cell_m)
    g = np.minimum(np.hypot(dx, dy), _STEEPEST)
    b = max(1, round(_SLOPE_BLOCK_M / cell_m))
    h, w = g.shape
    padded = np.pad(g, ((0, -h % b), (0, -w % b)), mode="edge")
    rows, cols = padded.shape[0] // b, padded.shape[1] // b
    blocks = np.median(padded.reshape(rows, b, cols, b).transpose(0, 2, 1, 3)
                       .reshape(rows, cols, b * b), axis=2)
    blocks = ndimage.maximum_filter(blocks, size=3, mode="nearest")
    return np.repeat(np.repeat(blocks, b, axis=0), b, axis=1)[:h, :w]


def object_cells(surface: np.ndarray, p: SmrfParams) -> np.ndarray:
    """Cells that drop between two successive openings by more than ``slope`` × radius plus
    ``relief`` × the terrain's slope, both in cells."""
    allowance = p.relief * terrain_slope(surface, p.cell_m) * p.cell_m if p.relief else 0.0
    objects = np.zeros(surface.shape, dtype=bool)
    last = surface
    for radius in range(1, math.ceil(p.window_m / p.cell_m) + 1):
        opened = ndimage.grey_opening(last, size=(2 * radius + 1,) * 2, mode="nearest")
        objects |= (last - opened) > p.slope * radius * p.cell_m + allowance
        last = opened
    return objects


def provisional_terrain(low: np.ndarray, p: SmrfParams) -> np.ndarray:
    """The minimum surface without its objects, the removed and empty cells filled (a grid
    without a single point stays empty)."""
    objects = object_cells(nearest_fill(low), p)
    return fill_gaps(np.where(objects, np.nan, low))


def smrf_ground(points: Points, spec: GridSpec, p: SmrfParams) -> np.ndarray:
    """Whether each point is ground, by SMRF over the frame ``spec`` (its cell size is
    ``p.cell_m``); an empty or all-noise tile gives no ground point."""
    terrain = provisional_terrain(minimum_surface(points, spec), p)
    if np.isnan(terrain).all():
        return np.zeros(len(points), dtype=bool)
    dy, dx = np.gradient(terrain, p.cell_m)
    tolerance = p.threshold_m + p.scalar * np.hypot(dx, dy)
    return near_surface(points.X, points.Y, points.Z, points.classification, points.scale,
                        points.offset, spec.x0, spec.y_top, spec.resolution, terrain,
                        tolerance, lookup(NOISE_CLASSES))


def classified_by_smrf(points: Points, origin: tuple[float, float], tile_size: float,
                       p: SmrfParams) -> Points:
    """The points with the filter's classes (ground :data:`GROUND`, else :data:`OTHER`, noise
    kept), for binning a tile whose own classes carry no ground."""
    spec = GridSpec.for_tile(origin, tile_size, p.cell_m)
    ground = smrf_ground(points, spec, p)
    noise = lookup(NOISE_CLASSES)[points.classification]
    classes = np.where(noise, points.classification,
                       np.where(ground, GROUND, OTHER)).astype(np.uint8)
    return replace(points, classification=classes)
