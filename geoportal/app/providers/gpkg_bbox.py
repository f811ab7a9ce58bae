"""Bounding boxes: parsed, densified and projected into the table's CRS, with the R-tree
rectangles that answer the easy cases (see :mod:`geoportal.app.providers.geopackage`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import shapely

from geoportal.app.providers.gpkg_geometry import (
    CRS84,
    get_transformer,
    reproject,
)
from geoportal.app.providers.gpkg_layer import (
    Layer,
)
from geoportal.core.errors import InvalidQueryError
from geoportal.core.geometry import projected_ring

#: Valid CRS84 coordinates; a bbox outside them is a client error, not an empty answer.
_LON_RANGE, _LAT_RANGE = (-180.0, 180.0), (-90.0, 90.0)



# --------------------------------------------------------------------------------------------
# Bounding boxes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BboxFilter:
    """A CRS84 box as a polygon in the table's CRS, plus the rectangles used with the R-tree."""

    polygon: shapely.Geometry | None
    outer: tuple[float, float, float, float]
    inner: tuple[float, float, float, float] | None


def parse_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """Validate a 4- or 6-number CRS84 bbox and return its horizontal part."""
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError) as err:
        raise InvalidQueryError("bbox must contain numbers") from err
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidQueryError("bbox must have 4 (or 6) finite numbers")
    minx, miny, maxx, maxy = values
    lon_ok = all(_LON_RANGE[0] <= v <= _LON_RANGE[1] for v in (minx, maxx))
    if not (lon_ok and all(_LAT_RANGE[0] <= v <= _LAT_RANGE[1] for v in (miny, maxy))):
        raise InvalidQueryError(
            f"bbox {values} is out of range: longitudes must lie in [-180, 180] and "
            "latitudes in [-90, 90] (bbox is minLon,minLat,maxLon,maxLat in CRS84)"
        )
    if minx > maxx or miny > maxy:
        raise InvalidQueryError(
            "bbox must be minLon,minLat,maxLon,maxLat with min <= max "
            "(boxes crossing the antimeridian are not supported)"
        )
    return minx, miny, maxx, maxy


def project_bbox(box: tuple[float, float, float, float], layer: Layer) -> BboxFilter | None:
    """Project a CRS84 box to the table's CRS; None if no feature can intersect it.

    The box is first clipped to the layer's lon/lat extent (which changes no answer, as every
    feature lies inside it) so that a world-wide box is never projected into a UTM zone. Each
    edge is densified and projected on its own, which also yields the inscribed rectangle.
    """
    if layer.extent_lonlat is not None:
        ex0, ey0, ex1, ey1 = layer.extent_lonlat
        box = (max(box[0], ex0), max(box[1], ey0), min(box[2], ex1), min(box[3], ey1))
        if box[0] > box[2] or box[1] > box[3]:
            return None
    clamped = (box[0], max(box[1], -90.0), box[2], min(box[3], 90.0))
    x, y = projected_ring(clamped, get_transformer(CRS84, layer.crs))
    n = len(x) // 4  # vertices per edge
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidQueryError("bbox lies outside the area this layer covers")
    polygon = shapely.Polygon(np.column_stack([x, y]))
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    shapely.prepare(polygon)
    edge = [slice(i * n, (i + 1) * n + 1) for i in range(4)]
    xr, yr = np.append(x, x[0]), np.append(y, y[0])
    inner = (xr[edge[3]].max(), yr[edge[0]].max(), xr[edge[1]].min(), yr[edge[2]].min())
    return BboxFilter(polygon, tuple(polygon.bounds), _checked_inner(polygon, inner))


def _checked_inner(
    polygon: shapely.Geometry, rect: tuple[float, float, float, float]
) -> tuple[float, float, float, float] | None:
    """Keep the inscribed rectangle only if it really is inside the polygon.

    The projected box is a slightly rotated, slightly curved quadrilateral: the rectangle between
    the innermost points of its four edges lies inside it in every practical case, but this is
    verified rather than assumed; None makes every R-tree candidate go through the exact test.
    """
    if rect[0] >= rect[2] or rect[1] >= rect[3]:
        return None
    return rect if polygon.covers(shapely.box(*rect)) else None


@lru_cache(maxsize=64)
def same_crs(a: str, b: str) -> bool:
    """Whether two CRS names mean the same CRS (parsing them costs milliseconds: cached)."""
    return a == b or pyproj.CRS.from_user_input(a) == pyproj.CRS.from_user_input(b)


def literal_in_layer_crs(literal: dict, layer: Layer) -> shapely.Geometry:
    """A CQL2 geometry literal (GeoJSON, optionally with a ``crs`` name) in the table's CRS.

    pygeoapi has already moved it into the storage CRS and named that CRS (``crs`` member); a
    literal without one is CRS84, the CQL2 default. Vertices are transformed one by one, as
    pygeoapi and PostGIS do, so a polygon means the same on every back end.
    """
    crs = (literal.get("crs") or {}).get("properties", {}).get("name") or CRS84
    try:
        geometry = shapely.geometry.shape({k: v for k, v in literal.items() if k != "crs"})
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as err:
        msg = f"invalid geometry literal in filter: {err}"
        raise InvalidQueryError(msg) from err
    if geometry.is_empty:
        raise InvalidQueryError("empty geometry literal in filter")
    if not same_crs(crs, layer.crs):
        transformer = get_transformer(crs, layer.crs, always_xy=False)
        geometry = reproject(np.array([geometry], dtype=object), transformer)[0]
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise InvalidQueryError(
            "a geometry literal in the filter lies outside the area this layer covers"
        )
    return geometry


def covers_layer(box: tuple[float, float, float, float], layer: Layer) -> bool:
    """True if the CRS84 box contains the whole layer, so it filters nothing."""
    if layer.extent_lonlat is None:
        return False
    ex0, ey0, ex1, ey1 = layer.extent_lonlat
    return box[0] <= ex0 and box[1] <= ey0 and box[2] >= ex1 and box[3] >= ey1



_FAR = 1e300
#: The bbox filter of a box that contains the whole layer: every R-tree entry matches.
EVERYWHERE = BboxFilter(None, (-_FAR, -_FAR, _FAR, _FAR), (-_FAR, -_FAR, _FAR, _FAR))


def _rtree_outer(outer: tuple[float, float, float, float]) -> tuple[str, tuple]:
    """Condition on R-tree entries that intersect a rectangle (xmin, ymin, xmax, ymax)."""
    sql = "minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
    return sql, (outer[2], outer[0], outer[3], outer[1])


def _rtree_inner(inner: tuple[float, float, float, float]) -> tuple[str, tuple]:
    """Condition on R-tree entries that lie inside a rectangle (xmin, ymin, xmax, ymax).

    Must stay the exact complement of the ring's four strips in :meth:`_ring`.
    """
    sql = "minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?"
    return sql, (inner[0], inner[2], inner[1], inner[3])
