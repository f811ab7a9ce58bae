"""WMS/WMTS serving (MapProxy → MapServer per request) against the cached OGC API tile.

The 'tiny' sample city is generated, built and served by gunicorn (2 workers, as ``geoportal
serve``) from a temporary folder; wrk then holds ``--connections`` connections for
``--seconds`` on each request, all at the district's centre:

* the peer: the OGC API orthophoto tile (z16, JPEG; rendered once, then from the disk cache),
* the WMTS tile of the same square (WebMercatorQuad 16) and one of the AdV grid (level 14),
* a WMS GetMap of the orthophoto (256 × 256 px in EPSG:25832) and of two vector layers
  (parcels + trees, 256 × 256 px in EPSG:3857),
* a WMS GetFeatureInfo on the parcels (GeoJSON).

WMS/WMTS images are drawn for every request (MapProxy stores no tiles, so a rebuild shows at
once); the ratio to the peer is the price of that. Reported per run: requests/s, p50/p99,
errors and gunicorn worker restarts (``bench_load.measure``).

Run:  .venv/bin/python bench/bench_wms.py [--seconds 20] [--connections 8]
Needs Debian's wrk and mapserver-bin. About 3 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_load import LUA, answer_size, measure  # noqa: E402
from testkit import served_sample  # noqa: E402

from geoportal.core.settings import Settings  # noqa: E402

ADV_ORIGIN, ADV_RES0 = (-46133.17, 6301219.54), 4891.969810251271


def endpoints(settings: Settings) -> dict[str, str]:
    import morecantile
    import rasterio
    from pyproj import Transformer

    with rasterio.open(settings.published_dir / "orthophoto" / "mosaic.vrt") as src:
        left, bottom, right, top = src.bounds
    x, y = (left + right) / 2, (bottom + top) / 2
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(x, y)
    mx, my = Transformer.from_crs(25832, 3857, always_xy=True).transform(x, y)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 16)
    res = ADV_RES0 / 2 ** 14
    col = math.floor((x - ADV_ORIGIN[0]) / (256 * res))
    row = math.floor((ADV_ORIGIN[1] - y) / (256 * res))
    wms = "/wms?SERVICE=WMS&VERSION=1.3.0&STYLES=&WIDTH=256&HEIGHT=256&FORMAT=image/png"
    utm = f"&CRS=EPSG:25832&BBOX={x - 38:.0f},{y - 38:.0f},{x + 38:.0f},{y + 38:.0f}"
    web = f"&CRS=EPSG:3857&BBOX={mx - 120:.0f},{my - 120:.0f},{mx + 120:.0f},{my + 120:.0f}"
    return {
        "peer: OGC API tile (orthophoto z16, cached)":
            f"/collections/orthophoto/tiles/WebMercatorQuad/16/{t.y}/{t.x}?f=jpeg",
        "WMTS WebMercatorQuad 16 (orthophoto)":
            f"/wmts/orthophoto/WebMercatorQuad/16/{t.x}/{t.y}.jpeg",
        "WMTS DE_EPSG_25832_ADV 14 (orthophoto)":
            f"/wmts/orthophoto/DE_EPSG_25832_ADV/14/{col}/{row}.jpeg",
        "WMS GetMap orthophoto 256 px EPSG:25832": f"{wms}&REQUEST=GetMap&LAYERS=orthophoto{utm}",
        "WMS GetMap parcels+trees 256 px EPSG:3857":
            f"{wms}&REQUEST=GetMap&LAYERS=parcels,trees{web}",
        "WMS GetFeatureInfo parcels (JSON)":
            f"{wms}&REQUEST=GetFeatureInfo&LAYERS=parcels&QUERY_LAYERS=parcels{utm}"
            "&I=128&J=128&INFO_FORMAT=application/json",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    started, load = time.strftime("%Y-%m-%d %H:%M:%S %Z"), os.getloadavg()
    with served_sample("bench-wms-", args.workers) as (settings, proc):
        base, log = settings.url, settings.data_dir / "server.log"
        script = settings.data_dir / "summary.lua"
        script.write_text(LUA)
        paths = endpoints(settings)
        for label, path in paths.items():
            print(f"{label}: {answer_size(base + path):,} bytes", flush=True)
        runs = {label: measure(base, path, args, proc, log, script)
                for label, path in paths.items()}
    peer = next(iter(runs.values()))["req/s"]
    print(f"\nstarted {started}, load average {load[0]:.1f} → {os.getloadavg()[0]:.1f}, "
          f"{args.connections} connections × {args.seconds} s, {args.workers} workers\n")
    print("| request | req/s | ratio to the OGC API tile | p50 ms | p99 ms | errors | restarts |")
    print("|---|---|---|---|---|---|---|")
    for label, r in runs.items():
        print(f"| {label} | {r['req/s']} | {r['req/s'] / peer:.2f} | {r['p50 ms']} | "
              f"{r['p99 ms']} | {r['errors']} | {r['worker restarts']} |")


if __name__ == "__main__":
    main()
