"""OGC API Features from a GeoPackage: our provider against pygeoapi's OGR provider, same run.

Both serve the same GeoPackage (40,000 points in EPSG:25832 around Ratingen) from pygeoapi under
gunicorn (2 workers) on 127.0.0.1. Measured:

- correctness: for random lon/lat boxes, the ids returned versus geopandas' own ``intersects`` on
  the box transformed as a polygon; and paging a box with ``limit``/``offset`` (duplicates);
- throughput and latency with wrk (8 connections, 10 s) for a bbox query (limit 100) and for a
  single item.

Run:  .venv/bin/python bench/bench_features.py
Needs Debian's wrk, and the GDAL Python bindings for the OGR peer:
    apt-get install libgdal-dev && .venv/bin/pip install gdal==$(gdal-config --version)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import requests
import shapely
import yaml

ROOT = Path(__file__).resolve().parent.parent
N_POINTS = 40_000
CRS_URIS = ["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "http://www.opengis.net/def/crs/EPSG/0/25832"]


def make_layer(folder: Path) -> tuple[Path, gpd.GeoDataFrame]:
    rng = np.random.default_rng(7)
    x = rng.uniform(349_000, 360_000, N_POINTS)
    y = rng.uniform(5_683_000, 5_692_000, N_POINTS)
    layer = gpd.GeoDataFrame({"fid_text": [f"P{i:05d}" for i in range(N_POINTS)],
                              "value": rng.integers(0, 1000, N_POINTS)},
                             geometry=shapely.points(x, y), crs="EPSG:25832")
    path = folder / "points.gpkg"
    layer.to_file(path, layer="points", driver="GPKG", engine="pyogrio")
    return path, layer


def config(path: Path, provider: dict, port: int) -> dict:
    return {
        "server": {"bind": {"host": "127.0.0.1", "port": port},
                   "url": f"http://127.0.0.1:{port}", "mimetype": "application/json",
                   "encoding": "utf-8", "languages": ["en-US"], "limits":
                   {"default_items": 100, "max_items": 10000}, "map": {"url": "x",
                   "attribution": "x"}},
        "logging": {"level": "ERROR"},
        "metadata": {"identification": {"title": "b", "description": "b", "keywords": ["b"],
                                        "terms_of_service": "x", "url": "x"},
                     "license": {"name": "x", "url": "x"}, "provider": {"name": "x", "url": "x"},
                     "contact": {"name": "x"}},
        "resources": {"points": {"type": "collection", "title": "p", "description": "p",
                                 "keywords": ["p"], "extents": {"spatial": {
                                     "bbox": [6.7, 51.2, 7.0, 51.4]}},
                                 "providers": [{**provider, "type": "feature",
                                                "id_field": "fid_text", "crs": CRS_URIS}]}},
    }


def ours(path: Path) -> dict:
    return {"name": "geoportal.app.providers.geopackage.GeoPackageProvider", "data": str(path)}


def ogr(path: Path) -> dict:
    return {"name": "OGR", "layer": "points",
            "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/25832",
            "data": {"source_type": "GPKG", "source": str(path),
                     "source_capabilities": {"paging": True}}}


# (label, WSGI app, provider): the stock peer a city would run today, the peer provider inside
# our app (which carries geoportal/app/pygeoapi_patches.py), and ours.
VARIANTS = [
    ("stock pygeoapi 0.24 + OGR provider", "pygeoapi.flask_app:APP", ogr),
    ("geoportal app + OGR provider", "geoportal.app.wsgi:app", ogr),
    ("geoportal app + GeoPackageProvider", "geoportal.app.wsgi:app", ours),
]


def start(cfg: dict, folder: Path, name: str, port: int, app: str) -> subprocess.Popen[bytes]:
    cfg_path = folder / f"{name}.yml"
    cfg_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    openapi = folder / f"{name}-openapi.yml"
    from pygeoapi.openapi import generate_openapi_document

    openapi.write_text(generate_openapi_document(cfg_path, "yaml"), encoding="utf-8")
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg_path), "PYGEOAPI_OPENAPI": str(openapi),
           "GEOPORTAL_DATA_DIR": str(folder)}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen([gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", app],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if requests.get(f"http://127.0.0.1:{port}/conformance?f=json", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not start")


def random_boxes(n: int) -> list[list[float]]:
    rng = np.random.default_rng(11)
    boxes = []
    for _ in range(n):
        lon, lat = rng.uniform(6.80, 6.92), rng.uniform(51.27, 51.33)
        size = rng.uniform(0.005, 0.02)
        boxes.append([lon, lat, lon + size, lat + size * 0.6])
    return boxes


def truth(layer: gpd.GeoDataFrame, box: list[float]) -> set[str]:
    polygon = gpd.GeoSeries([shapely.box(*box)], crs="EPSG:4326").to_crs(layer.crs).iloc[0]
    return set(layer.loc[layer.intersects(polygon), "fid_text"])


def correctness(base: str, layer: gpd.GeoDataFrame) -> dict[str, int]:
    wrong_boxes = missing = extra = duplicates = 0
    for box in random_boxes(20):
        expected = truth(layer, box)
        bbox = ",".join(f"{v:.6f}" for v in box)
        got: list[str] = []
        for offset in range(0, len(expected) + 100, 100):
            page = requests.get(f"{base}/collections/points/items", timeout=60, params={
                "f": "json", "bbox": bbox, "limit": 100, "offset": offset}).json()
            got += [str(f["id"]) for f in page["features"]]
        duplicates += len(got) - len(set(got))
        missing += len(expected - set(got))
        extra += len(set(got) - expected)
        wrong_boxes += expected != set(got)
    return {"boxes": 20, "wrong boxes": wrong_boxes, "missing": missing, "extra": extra,
            "duplicates when paging": duplicates}


def wrk(url: str) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", "-c8", "-d10s", "--latency", url], check=True,
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        value, unit = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"req/s": rps, "p50 ms": pct("50"), "p99 ms": pct("99")}


def main() -> None:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, layer = make_layer(folder)
        for i, (name, app, provider) in enumerate(VARIANTS):
            port = 5900 + i
            proc = start(config(path, provider(path), port), folder, f"p{i}", port, app)
            base = f"http://127.0.0.1:{port}"
            try:
                results[name] = {
                    **correctness(base, layer),
                    "bbox": wrk(f"{base}/collections/points/items?f=json&limit=100"
                                "&bbox=6.84,51.29,6.86,51.30"),
                    "item": wrk(f"{base}/collections/points/items/P01234?f=json"),
                }
            finally:
                proc.terminate()
                proc.wait()
    print(json.dumps(results, indent=2))
    stock, _, mine = results.values()
    print(f"ours / stock peer, req/s: bbox {mine['bbox']['req/s'] / stock['bbox']['req/s']:.1f}x, "
          f"item {mine['item']['req/s'] / stock['item']['req/s']:.1f}x")


if __name__ == "__main__":
    main()
