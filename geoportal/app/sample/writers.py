"""Atomic, deterministic file writers (same input → same bytes)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import geopandas as gpd
import pyogrio

from geoportal.core.publish import atomic_path, atomic_write_bytes


def write_csv(path: Path, header: list[str], rows: list[list], sep: str = ",",
              encoding: str = "utf-8") -> int:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\r\n" if encoding != "utf-8" else "\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode(encoding, errors="replace"))
    return len(rows)


def write_geojson(path: Path, features: list[dict]) -> int:
    """RFC 7946 FeatureCollection (WGS84, no ``crs`` member), coordinates rounded to ~1 cm."""
    fc = {"type": "FeatureCollection", "features": features}
    atomic_write_bytes(path, json.dumps(fc, ensure_ascii=False, indent=None).encode("utf-8"))
    return len(features)


def write_gpkg(path: Path, gdf: gpd.GeoDataFrame, layer: str, stamp: str) -> int:
    """GeoPackage with a fixed ``last_change`` timestamp so that reruns are byte-identical."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        with atomic_path(path) as tmp:
            gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    return len(gdf)
