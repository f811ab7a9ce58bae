"""Writers for the published vector formats. Each takes the conformed layer in the storage CRS.

- GeoPackage: the served store and the GIS download, in EPSG:25832 (the city's frame), with an
  R-tree index the OGC API provider uses for bbox queries.
- CSV: UTF-8, comma, dot decimals; points as ``x``/``y`` in EPSG:25832 plus ``lon``/``lat``, other
  geometries as WKT — what a spreadsheet and ``pandas.read_csv`` both read without options.
- GeoJSON: RFC 7946, WGS84 lon/lat, 7 decimals (about 1 cm).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

Writer = Callable[[gpd.GeoDataFrame, Path, str], Path]


@contextmanager
def content_timestamp(source: Path) -> Iterator[None]:
    """Stamp outputs with the source's modification time instead of the wall clock.

    GeoPackage records a ``last_change`` time; with the wall clock, two builds of the same input
    would differ byte for byte and every rebuild would look like an update to the catalogue.
    """
    stamp = datetime.fromtimestamp(source.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def write_gpkg(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.gpkg"
    pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG", spatial_index=True)
    return path


def index_ids(path: Path, layer: str, column: str) -> None:
    """A unique index on the feature id, so ``/items/{id}`` is an index lookup, not a scan."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f'CREATE UNIQUE INDEX "idx_{layer}_{column}" ON "{layer}" ("{column}")')


def write_csv(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.csv"
    table = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    geoms = layer.geometry.values
    if bool((shapely.get_type_id(geoms) == 0).all()):
        wgs84 = layer.geometry.to_crs("EPSG:4326").values
        table["x"] = shapely.get_x(geoms).round(2)
        table["y"] = shapely.get_y(geoms).round(2)
        table["lon"] = shapely.get_x(wgs84).round(7)
        table["lat"] = shapely.get_y(wgs84).round(7)
    else:
        table["wkt"] = shapely.to_wkt(geoms, rounding_precision=2)
    table.to_csv(path, index=False, encoding="utf-8")
    return path


def write_geojson(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.geojson"
    pyogrio.write_dataframe(
        layer.to_crs("EPSG:4326"), path, driver="GeoJSON",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "7", "WRITE_NAME": "NO"},
    )
    return path


WRITERS: dict[str, Writer] = {"gpkg": write_gpkg, "csv": write_csv, "geojson": write_geojson}
