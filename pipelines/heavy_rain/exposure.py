"""Exposure: what the dynamic model's maximum water depth means for each building and street.

- A building's depth is the deepest water on a ring just outside its walls (the footprint
  grown by one cell of the simulation, minus the footprint): in the simulation a house is an
  obstacle, so the water that matters stands at the wall, not inside. A cell counts when its
  centre lies in the ring (on its edge too).
- A street segment's flooded length is the length of it inside cells with at least
  ``flooded_from_m`` of water; its depth is the deepest cell along it.

Both read the published ``buildings`` and ``streets`` layers, so the ids are the portal's.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from affine import Affine

from pipelines.heavy_rain.model import classify


def _wet_centres(depth: np.ndarray, transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    """The centres of the cells with water (points) and their flat indices."""
    flat = np.flatnonzero(np.nan_to_num(depth) > 0)
    rows, cols = np.divmod(flat, depth.shape[1])
    x, y = transform @ (cols + 0.5, rows + 0.5)
    return shapely.points(np.asarray(x), np.asarray(y)), flat


def buildings(layer: gpd.GeoDataFrame, id_field: str, depth: np.ndarray, speed: np.ndarray,
              transform: Affine, bounds: Sequence[float]) -> gpd.GeoDataFrame:
    """Per building the deepest water and the fastest flow along its walls, and the class."""
    cell = abs(transform.a)
    walls = shapely.difference(shapely.buffer(layer.geometry.values, cell), layer.geometry.values)
    points, flat = _wet_centres(depth, transform)
    deepest = np.zeros(len(layer))
    fastest = np.zeros(len(layer))
    if len(points):
        hit, ring = shapely.STRtree(walls).query(points, predicate="intersects")
        np.maximum.at(deepest, ring, depth.ravel()[flat[hit]])
        np.maximum.at(fastest, ring, np.nan_to_num(speed.ravel()[flat[hit]]))
    depth_m = np.round(deepest, 2)
    out = gpd.GeoDataFrame({
        "building_id": layer[id_field].to_numpy(),
        "address": layer["address"].to_numpy() if "address" in layer else None,
        "function": layer["function"].to_numpy() if "function" in layer else None,
        "max_depth_m": depth_m,
        "depth_class": classify(depth_m, bounds).astype(np.int64),
        "max_velocity_m_s": np.round(fastest, 2),
    }, geometry=layer.geometry.values, crs=layer.crs)
    return out


def streets(layer: gpd.GeoDataFrame, id_field: str, depth: np.ndarray, transform: Affine,
            flooded_from_m: float) -> gpd.GeoDataFrame:
    """Per street segment its length, flooded length and share, and the deepest water on it."""
    lines = layer.geometry.values
    wet = np.nan_to_num(depth) >= flooded_from_m
    shapes = [shapely.geometry.shape(g) for g, v in rasterio.features.shapes(
        wet.astype(np.uint8), mask=wet, transform=transform) if v]
    flooded = shapely.union_all(shapes) if shapes else shapely.Polygon()
    length = shapely.length(lines)
    under = shapely.length(shapely.intersection(lines, flooded)) if shapes else np.zeros(len(lines))
    deepest = _deepest_along(lines, depth, transform)
    return gpd.GeoDataFrame({
        "segment_id": layer[id_field].to_numpy(),
        "name": layer["name"].to_numpy() if "name" in layer else None,
        "length_m": np.round(length, 1),
        "flooded_length_m": np.round(under, 1),
        "flooded_share": np.round(np.divide(under, length, out=np.zeros(len(lines)),
                                            where=length > 0), 3),
        "max_depth_m": np.round(deepest, 2),
    }, geometry=lines, crs=layer.crs)


def _deepest_along(lines: np.ndarray, depth: np.ndarray, transform: Affine) -> np.ndarray:
    """The deepest cell each line crosses (sampled every quarter cell)."""
    cell = abs(transform.a)
    dense = shapely.segmentize(lines, cell / 4)
    xy, which = shapely.get_coordinates(dense, return_index=True)
    cols, rows = ~transform @ (xy[:, 0], xy[:, 1])
    rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
    inside = (rows >= 0) & (cols >= 0) & (rows < depth.shape[0]) & (cols < depth.shape[1])
    deepest = np.zeros(len(lines))
    values = np.nan_to_num(depth[rows[inside], cols[inside]])
    np.maximum.at(deepest, which[inside], values)
    return deepest
