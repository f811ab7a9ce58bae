"""Bounding boxes between coordinate reference systems.

A straight box edge in one CRS is a curve in another (a parallel in UTM, say), so moving only the
four corners cuts off or adds slivers. Every box that changes CRS goes through here: its edges
are split into short segments first (densified) and every vertex is transformed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyproj

#: Densification of a lon/lat box before projecting it: with 0.0005° (≈ 35-55 m) segments the
#: chord error of a parallel in transverse Mercator is below 0.1 mm.
DENSIFY_STEP_DEG = 0.0005
MAX_SEGMENTS_PER_EDGE = 1024
#: Points per edge for a box's bounds in another CRS (pyproj's default for ``transform_bounds``).
BOUNDS_DENSIFY_PTS = 21

Box = Sequence[float]  # minx, miny, maxx, maxy


def box_ring(box: Box, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """The box's outline as ``4 * segments`` vertices, not closed: counter-clockwise from
    (minx, miny), edge ``i`` (bottom, right, top, left) starting at vertex ``i * segments``."""
    x0, y0, x1, y1 = box
    steps = np.linspace(0.0, 1.0, segments + 1)[:-1]
    xs = np.concatenate([x0 + (x1 - x0) * steps, np.full(segments, x1),
                         x1 - (x1 - x0) * steps, np.full(segments, x0)])
    ys = np.concatenate([np.full(segments, y0), y0 + (y1 - y0) * steps,
                         np.full(segments, y1), y1 - (y1 - y0) * steps])
    return xs, ys


def projected_ring(box: Box, transformer: pyproj.Transformer,
                   step: float = DENSIFY_STEP_DEG) -> tuple[np.ndarray, np.ndarray]:
    """The box's outline (see :func:`box_ring`) with edges split every ``step`` (at most
    :data:`MAX_SEGMENTS_PER_EDGE` pieces), transformed: ``len(x) // 4`` vertices per edge."""
    x0, y0, x1, y1 = box
    segments = min(MAX_SEGMENTS_PER_EDGE, max(1, math.ceil(max(x1 - x0, y1 - y0) / step)))
    x, y = transformer.transform(*box_ring(box, segments))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def transform_bounds(bounds: Box, src: str | pyproj.CRS, dst: str | pyproj.CRS
                     ) -> tuple[float, float, float, float]:
    """The bounds in ``dst`` of a box in ``src`` (x/y order), its edges densified: for the
    extents the catalogue publishes and the plausibility checks of sources."""
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return transformer.transform_bounds(*bounds, densify_pts=BOUNDS_DENSIFY_PTS)
