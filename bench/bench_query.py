"""Benchmark: CQL2 queries on the embedded back end (GeoPackage) vs PostGIS, in the same run.

39,000 synthetic parcel polygons (a jittered grid over ~9 × 9 km of Ratingen, EPSG:25832) and
500 commercial-space offers (points with size, zoning, price and distances to the nearest
motorway junction and S-Bahn station) are written as GeoPackages and copied into a private
PostGIS cluster (``geoportal.app.postgis``). One pygeoapi app under gunicorn (2 workers) serves each
layer twice: ``<id>`` from the GeoPackage (geoportal's provider) and ``<id>_pg`` from PostGIS
(pygeoapi's PostgreSQL provider, with geoportal's fixes). For each query the answers of both
back ends are compared first (numberMatched and ids), then wrk (2 threads, 8 connections, 15 s)
measures requests/s and latency percentiles (p95 from wrk's Lua ``done`` hook).

    .venv/bin/python bench/bench_query.py        # needs wrk, ogr2ogr, postgresql-15-postgis-3
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import requests
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import config as base_config
from bench_features import start

from geoportal.app.postgis import Cluster, load_layer
from geoportal.app.providers.postgis import PostGISProvider

N_PARCELS, N_OFFERS = 39_000, 500
CRS_URIS = ["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "http://www.opengis.net/def/crs/EPSG/0/25832"]
TO_LONLAT = pyproj.Transformer.from_crs(25832, "OGC:CRS84", always_xy=True)
LUA = 'done = function(s, latency, r) io.write(string.format("P95 %d\\n", ' \
      'latency:percentile(95))) end\n'


def parcels() -> gpd.GeoDataFrame:
    """A 200 × 195 grid of ~46 m cells with jittered corners: 39,000 quadrilaterals."""
    rng = np.random.default_rng(5)
    nx, ny, size = 200, 195, 46.0
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    x0 = 350_000 + gx.ravel() * size
    y0 = 5_684_000 + gy.ravel() * size
    j = rng.uniform(-6, 6, (x0.size, 4, 2))
    rings = np.stack([
        np.column_stack([x0 + j[:, 0, 0], y0 + j[:, 0, 1]]),
        np.column_stack([x0 + size + j[:, 1, 0], y0 + j[:, 1, 1]]),
        np.column_stack([x0 + size + j[:, 2, 0], y0 + size + j[:, 2, 1]]),
        np.column_stack([x0 + j[:, 3, 0], y0 + size + j[:, 3, 1]]),
    ], axis=1)
    geoms = shapely.polygons(rings)
    uses = np.array(["Wohnbaufläche", "Industrie- und Gewerbefläche", "Fläche gemischter Nutzung",
                     "Straßenverkehr", "Landwirtschaft", "Wald"])
    return gpd.GeoDataFrame({
        "parcel_id": [f"053134{i:014d}" for i in range(x0.size)],
        "flur": (gx.ravel() // 20 + 1).astype(int),
        "official_area_m2": np.round(shapely.area(geoms) * rng.uniform(0.9, 1.1, x0.size)),
        "land_use": uses[rng.integers(0, uses.size, x0.size)],
    }, geometry=geoms, crs="EPSG:25832")


def offers() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(6)
    zoning = np.array(["industrial", "commercial", "mixed", "office"])
    kind = np.array(["office", "hall", "plot"])
    return gpd.GeoDataFrame({
        "offer_id": [f"GW-{i:04d}" for i in range(N_OFFERS)],
        "type": kind[rng.integers(0, 3, N_OFFERS)],
        "zoning": zoning[rng.integers(0, 4, N_OFFERS)],
        "flaeche": np.round(rng.lognormal(7, 1, N_OFFERS)),
        "price_eur_m2": np.round(rng.uniform(4, 18, N_OFFERS), 2),
        "dist_motorway_m": np.round(rng.uniform(200, 8000, N_OFFERS)),
        "dist_sbahn_m": np.round(rng.uniform(100, 4000, N_OFFERS)),
    }, geometry=shapely.points(rng.uniform(350_000, 359_000, N_OFFERS),
                               rng.uniform(5_684_000, 5_693_000, N_OFFERS)), crs="EPSG:25832")


def lonlat_wkt(geom: shapely.Geometry) -> str:
    return shapely.transform(geom, lambda c: np.column_stack(TO_LONLAT.transform(*c.T))).wkt


AREA = shapely.Polygon([(352_000, 5_686_000), (354_500, 5_685_800), (355_000, 5_688_000),
                        (352_400, 5_688_300)])
QUERIES = {
    # the example: the economic development office's typical finder query
    "offers: size 500-2000 m², industrial, ≤3 km motorway, ≤1 km S-Bahn, sorted by price": (
        "offers", {"filter": "flaeche BETWEEN 500 AND 2000 AND zoning = 'industrial' AND "
                             "dist_motorway_m <= 3000 AND dist_sbahn_m <= 1000",
                   "sortby": "price_eur_m2", "limit": 100}),
    "parcels: S_INTERSECTS(polygon) AND area 500-2000 m², limit 100": (
        "parcels", {"filter": f"S_INTERSECTS(geometry, {lonlat_wkt(AREA)}) AND "
                              "official_area_m2 BETWEEN 1500 AND 2500", "limit": 100}),
    "parcels: land_use = 'Industrie- und Gewerbefläche' AND flur IN (3,4), limit 100": (
        "parcels", {"filter": "land_use = 'Industrie- und Gewerbefläche' AND flur IN (3, 4)",
                    "limit": 100}),
}


def wrk(url: str, folder: Path) -> dict[str, float]:
    script = folder / "p95.lua"
    script.write_text(LUA)
    out = subprocess.run(["wrk", "-t2", "-c8", "-d15s", "--latency", "-s", str(script), url],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    p95 = int(re.search(r"P95 (\d+)", out).group(1)) / 1000  # type: ignore[union-attr]
    return {"req/s": rps, "p50 ms": pct("50"), "p95 ms": p95, "p99 ms": pct("99"),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def answers(url: str, params: dict) -> tuple[int, list[str]]:
    page = requests.get(url, params={**params, "f": "json", "skipGeometry": "true"},
                        timeout=60).json()
    return page["numberMatched"], [f["id"] for f in page["features"]]


def main() -> None:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        folder = Path(tmp)
        layers = {"parcels": (parcels(), "parcel_id"), "offers": (offers(), "offer_id")}
        cluster = Cluster(Path(tempfile.mkdtemp(prefix="bench-pg-")), 55_433)
        conn = cluster.start()
        server = None
        try:
            resources = {}
            for name, (gdf, id_field) in layers.items():
                path = folder / f"{name}.gpkg"
                gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
                load_layer(path, conn, name)
                template = base_config(path, {}, 0)["resources"]["points"]
                gpkg = {"name": "geoportal.app.providers.geopackage.GeoPackageProvider",
                        "data": str(path), "storage_crs": CRS_URIS[0]}
                pg = {"name": f"{PostGISProvider.__module__}.PostGISProvider",
                      "data": conn.provider_data(), "table": name, "geom_field": "geom",
                      "storage_crs": CRS_URIS[1]}
                for suffix, provider in (("", gpkg), ("_pg", pg)):
                    resources[name + suffix] = {**template, "providers": [
                        {**provider, "type": "feature", "id_field": id_field, "crs": CRS_URIS}]}
            port = 55_434
            cfg = base_config(folder / "x", {}, port)
            cfg["resources"] = resources
            server = start(cfg, folder, "query", port, "geoportal.app.wsgi:app")
            base = f"http://127.0.0.1:{port}/collections"
            results = {}
            for label, (layer, params) in QUERIES.items():
                ours = answers(f"{base}/{layer}/items", params)
                theirs = answers(f"{base}/{layer}_pg/items", params)
                assert ours == theirs, (label, ours[0], theirs[0])
                row = {"numberMatched": ours[0]}
                for backend, suffix in (("GeoPackage (ours)", ""), ("PostGIS (pygeoapi)", "_pg")):
                    query = urllib.parse.urlencode({**params, "f": "json"})
                    row[backend] = wrk(f"{base}/{layer}{suffix}/items?{query}", folder)
                results[label] = row
        finally:
            if server is not None:
                server.terminate()
                server.wait()
            cluster.stop()
    print(json.dumps({"load average at start (1/5/15 min)": load, "results": results},
                     indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
