"""The sample city's truth trees, complete to the scanned tiles' edges, for scoring detection.

It regenerates what the sample generator placed (the shell knows the generator; the pipelines'
scoring, :func:`pipelines.lidar.score.score`, only compares two sets of points).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geoportal.app.sample import cadastre
from geoportal.app.sample import scene as sc
from pipelines.lidar.tiles import discover
from pipelines.tiles import TILE_SIZE


def complete_sample_truth(raw_dir, pattern: str = "lidar/3dm_32_*_1_nw.laz"):
    """The sample generator's truth trees over the scanned tiles, complete to their edges.

    ``truth/trees.gpkg`` lists the trees of the sample's own cells; the scan also shows the
    neighbouring cells' trees along its edges (streets run along cell edges). This regenerates
    the truth of the tiles' cells and their neighbours (seed and year from the sample's
    manifest) and returns it with the scanned area, to pass as ``score(..., area=area)``.
    """
    raw_dir = Path(raw_dir)
    manifest = json.loads((raw_dir / "manifest.json").read_text(encoding="utf-8"))
    seed, year = int(manifest["spec"]["seed"]), int(manifest["spec"]["year"])
    tiles = discover(raw_dir, pattern, "trees_lidar")
    cells = {}
    for t in tiles:
        for c in sc.neighbourhood(seed, year, t.e_km, t.n_km):
            cells[(c.e, c.n)] = c
    truth, _ = cadastre.trees_frames(list(cells.values()), seed, year)
    area = shapely.union_all([shapely.box(*t.origin, t.origin[0] + TILE_SIZE,
                                          t.origin[1] + TILE_SIZE) for t in tiles])
    return truth, area


def roof_truth(raw_dir) -> gpd.GeoDataFrame:
    """Each sample building's roof as the generator drew it, for scoring roof models.

    ``truth/buildings.gpkg`` gives type, eave and ridge heights but not the ridge's direction
    or the pitch; both follow from the regenerated scene (the ridge runs along the rectangle's
    ``u`` axis, the pitch is the rise from eave to ridge over half the ``v`` side). Columns:
    ``roof_type``, ``ridge_height_m`` (above the ground), ``ridge_z`` (its elevation),
    ``eave_z``, ``ridge_azimuth_deg`` (0–180, clockwise from north; NaN for flat and complex
    roofs), ``slope_deg`` (NaN for complex ones), ``in_alkis`` and the footprint. A sample
    generated with ``roofs="all"`` (its manifest says so) has hipped, shed and stepped
    ("complex") roofs too.
    """
    raw_dir = Path(raw_dir)
    manifest = json.loads((raw_dir / "manifest.json").read_text(encoding="utf-8"))
    seed, year = int(manifest["spec"]["seed"]), int(manifest["spec"]["year"])
    roofs = manifest["spec"].get("roofs", "flat_gabled")
    tiles = discover(raw_dir, "lidar/3dm_32_*_1_nw.laz", "roof_truth")
    b = sc.concat([sc.cell_scene(seed, year, t.e_km, t.n_km, roofs).buildings for t in tiles])
    roof, rise = b["roof"], b["ridge"] - b["eave"]
    pitched = (roof == sc.GABLED) | (roof == sc.HIPPED)
    slope = np.select([pitched, roof == sc.SHED, roof == sc.FLAT],
                      [np.degrees(np.arctan(rise / (b["len_v"] / 2))),
                       np.degrees(np.arctan(rise / b["len_v"])), 0.0], np.nan)
    azimuth = (90.0 - np.degrees(b["angle"])) % 180.0  # the ridge (a shed's top edge) along u
    return gpd.GeoDataFrame({
        "roof_type": np.asarray(sc.ROOF_NAMES, dtype=object)[roof],
        "ridge_height_m": b["ridge"],
        "ridge_z": b["ground"] + b["ridge"],
        "eave_z": b["ground"] + b["eave"],
        "ridge_azimuth_deg": np.where(pitched | (roof == sc.SHED), azimuth, np.nan),
        "slope_deg": slope,
        "in_alkis": b["in_alkis"],
    }, geometry=sc.building_polygons(b), crs="EPSG:25832")
