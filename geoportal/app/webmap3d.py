"""The web map's 3D view and point-cloud view: what they draw, from the registry and the builds.

The manifest's ``view3d`` block (``web/src/view3d.js``, ``web/src/pointcloud.js`` read it):

- ``terrain``: the raster-dem tiles of the dataset whose map tiles encode heights (a style of
  :data:`pipelines.imagery.webtiles.ELEVATION_ENCODINGS`, the DTM's Terrarium PNG);
- ``buildings``: the footprints' vector tiles with the measured roof height above ground,
  extruded on the terrain;
- ``trees``: the detected trees' items with measured height and crown diameter, drawn as crowns;
- ``point_cloud``: the COPC files, each with its extent and a quadratic map from its
  coordinates to longitude/latitude (the browser has no PROJ; over a 1 km tile the quadratic
  fit of the exact transformation is within millimetres, :func:`lnglat_quadratic`).

Each part appears only when its dataset is built and served, so a portal without LiDAR has no
3D toggle rather than a broken one.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pyproj import Transformer

from geoportal.core.publish import read_metadata
from geoportal.core.registry import Dataset, Registry
from geoportal.core.settings import Settings
from pipelines.imagery.webtiles import ELEVATION_ENCODINGS

#: Which layers the 3D view builds on, and the fields it reads (measured by the laser scan).
BUILDINGS = {"layer": "building_heights", "height_field": "height_p95_m"}
TREES = {"layer": "trees_lidar", "height_field": "height_m", "crown_field": "crown_diameter_m"}
POINT_CLOUD = "point_cloud"
COPC_NAME = re.compile(r"_(\d+)_(\d+)\.copc\.laz$")  # <id>_<E km>_<N km>.copc.laz
TILE_M = 1000.0
MAP_TOLERANCE_M = 0.01


def view3d(registry: Registry, served: dict[str, dict[str, Any]], settings: Settings,
           layers: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The 3D block of the manifest (None without a terrain: no 3D view then)."""
    terrain = _terrain(registry, served, layers)
    if terrain is None:
        return None
    block: dict[str, Any] = {"terrain": terrain}
    buildings = layers.get(BUILDINGS["layer"], {})
    if (buildings.get("draw") or {}).get("kind") == "vector":
        block["buildings"] = {**BUILDINGS, **{k: buildings["draw"][k] for k in
                                              ("tiles", "source_layer", "minzoom", "maxzoom")},
                              "bounds": buildings["draw"].get("bounds")}
    trees = layers.get(TREES["layer"], {})
    if trees.get("items"):
        block["trees"] = {**TREES, "items": trees["items"], "id_field": trees.get("id_field")}
    files = point_cloud_files(settings)
    if files:
        block["point_cloud"] = {"dataset": POINT_CLOUD, "files": files}
    return block


def elevation_encoding(d: Dataset) -> str | None:
    """MapLibre's name of the height encoding of the dataset's map tiles, None for pictures."""
    params = d.pipeline.params
    tiles = params.raster_tiles() if hasattr(params, "raster_tiles") else None
    return ELEVATION_ENCODINGS.get(tiles.style) if tiles is not None else None


def _terrain(registry: Registry, served: dict[str, dict[str, Any]],
             layers: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    for d in registry:
        draw = (layers.get(d.id) or {}).get("terrain") if d.id in served else None
        if draw:
            return {"dataset": d.id, "encoding": elevation_encoding(d), **draw}
    return None


def point_cloud_files(settings: Settings) -> list[dict[str, Any]]:
    """The published COPC files: URL, size, extent (WGS84) and the map to lon/lat."""
    metadata = read_metadata(settings.published_dir, POINT_CLOUD)
    if metadata is None:
        return []
    out = []
    crs = metadata.crs_native or "EPSG:25832"
    for record in metadata.files:
        found = COPC_NAME.search(record.path)
        if not found:
            continue
        origin = (float(found[1]) * TILE_M, float(found[2]) * TILE_M)
        to_lnglat, bounds = lnglat_quadratic(crs, origin)
        out.append({"href": f"/downloads/{POINT_CLOUD}/{record.path}", "bytes": record.bytes,
                    "origin": list(origin), "to_lnglat": to_lnglat, "bbox": bounds})
    return out


def lnglat_quadratic(crs: str, origin: tuple[float, float]
                     ) -> tuple[list[list[float]], list[float]]:
    """Least-squares quadratic map from (u, v) = ((x − x0) / 1 km, (y − y0) / 1 km) to lon and
    lat over one tile, as coefficients of [1, u, v, u², uv, v²], and the tile's WGS84 bounds.

    An affine map strayed 5 cm over a tile (the meridians converge); the quadratic stays within
    millimetres, and is refused beyond :data:`MAP_TOLERANCE_M` (another CRS, a larger tile).
    """
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    u, v = (a.ravel() for a in np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11)))
    lon, lat = to_wgs84.transform(origin[0] + u * TILE_M, origin[1] + v * TILE_M)
    design = np.column_stack([np.ones_like(u), u, v, u * u, u * v, v * v])
    coefficients = [np.linalg.lstsq(design, values, rcond=None)[0] for values in (lon, lat)]
    strays = 111_320.0 * np.hypot((design @ coefficients[0] - lon) * np.cos(np.radians(lat)),
                                  design @ coefficients[1] - lat)
    if strays.max() > MAP_TOLERANCE_M:
        raise ValueError(f"{crs}: a quadratic map to lon/lat strays {strays.max():.3f} m over "
                         "a tile")
    bounds = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
    return [[float(c) for c in k] for k in coefficients], bounds
