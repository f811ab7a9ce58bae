"""Fixture GeoPackages for the provider tests, written with geopandas/pyogrio in EPSG:25832.

The layers are small (2,000 points, a few hundred polygons) so that the whole module runs in a
few seconds, but they are built like the real ones: GDAL writes the GeoPackage, its R-tree and
its metadata tables; the provider under test never wrote a byte of them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

#: The test window in EPSG:25832; the CRS84 test box is the lon/lat box around its corners, so
#: its edges are not parallel to the UTM grid (meridian convergence ≈ 1.7° in Ratingen).
WINDOW = (350600.0, 5685600.0, 351400.0, 5686400.0)


def crs84_box(window: tuple[float, float, float, float]) -> list[float]:
    """The lon/lat bounds of a UTM window's corners (computed with pyproj, not the provider)."""
    to_lonlat = pyproj.Transformer.from_crs(25832, "OGC:CRS84", always_xy=True)
    xs = [window[0], window[2], window[2], window[0]]
    ys = [window[1], window[1], window[3], window[3]]
    lon, lat = to_lonlat.transform(xs, ys)
    return [min(lon), min(lat), max(lon), max(lat)]


@pytest.fixture(scope="session")
def bbox() -> list[float]:
    return crs84_box(WINDOW)


def _points() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(20261123)
    n = 2000
    names = np.array(["Parkplatz", "Öko-Markt", "Straße 5", "schule", "50%_Rabatt", "ÄRZTEHAUS"])
    value = rng.normal(10, 3, n)
    value[::50] = np.nan  # stored as NULL by GDAL: SQLite has no NaN
    return gpd.GeoDataFrame(
        {
            "objekt_id": [f"P{i:05d}" for i in range(n)],
            "name": names[rng.integers(0, len(names), n)],
            "kind": rng.integers(0, 6, n),
            "value": value,
            "flag": rng.integers(0, 2, n).astype(bool),
            "day": [
                dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 365, n)
            ],
        },
        geometry=gpd.points_from_xy(
            rng.uniform(350000, 352000, n), rng.uniform(5685000, 5687000, n)
        ),
        crs=25832,
    )


def _polygons(bbox: list[float]) -> gpd.GeoDataFrame:
    """Small squares on a grid plus thin polygons laid across each edge of the CRS84 test box."""
    squares = [
        shapely.box(x, y, x + 30, y + 30)
        for x in np.arange(350000, 352000, 97.0)
        for y in np.arange(5685000, 5687000, 101.0)
    ]
    to_utm = pyproj.Transformer.from_crs("OGC:CRS84", 25832, always_xy=True)
    west, south, east, north = bbox
    straddling = []
    for t in np.linspace(0.1, 0.9, 9):
        lon, lat = west + (east - west) * t, south + (north - south) * t
        for px, py in [(west, lat), (east, lat), (lon, south), (lon, north)]:
            x, y = to_utm.transform(px, py)
            straddling.append(shapely.box(x - 3, y - 3, x + 3, y + 3))
    geoms = squares + straddling
    return gpd.GeoDataFrame(
        {"code": [f"F{i:04d}" for i in range(len(geoms))], "area": [g.area for g in geoms]},
        geometry=geoms,
        crs=25832,
    )


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gpkg")


@pytest.fixture(scope="session")
def points(fixture_dir: Path) -> tuple[Path, gpd.GeoDataFrame]:
    gdf = _points()
    path = fixture_dir / "punkte.gpkg"
    gdf.to_file(path, layer="punkte", engine="pyogrio")
    return path, gdf


@pytest.fixture(scope="session")
def polygons(fixture_dir: Path, bbox: list[float]) -> tuple[Path, gpd.GeoDataFrame]:
    gdf = _polygons(bbox)
    path = fixture_dir / "flaechen.gpkg"
    gdf.to_file(path, layer="flaechen", engine="pyogrio")
    return path, gdf


@pytest.fixture(scope="session")
def points_without_rtree(fixture_dir: Path, points: tuple[Path, gpd.GeoDataFrame]) -> Path:
    """The points file with its R-tree (and the triggers that maintain it) dropped."""
    path = fixture_dir / "punkte_ohne_rtree.gpkg"
    shutil.copy(points[0], path)
    with sqlite3.connect(path) as conn:
        names = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name LIKE 'rtree_punkte_geom%'"
        ).fetchall()
        for kind, name in names:
            if kind == "trigger":
                conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute('DROP TABLE "rtree_punkte_geom"')
    return path
