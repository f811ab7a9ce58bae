"""Load on the served portal: five kinds of request under 32 connections, against a static file.

The 'tiny' sample city (with the finder offers the tests plant) is generated, built and served
by gunicorn (2 workers, as ``geoportal serve``) from a temporary folder. wrk then holds
``--connections`` connections open for ``--seconds`` on each of

* a vector tile (``buildings``, MVT, z15 at the district's centre: pygeoapi's tippecanoe
  provider reading the published tile folder),
* an orthophoto map tile (JPEG, z16: rendered once from the COGs, then from the disk cache),
* a features page (``buildings``, 100 features as GeoJSON: our GeoPackage provider),
* the finder's CQL2 query of the README on ``commercial_spaces``,
* a terrain subset (``terrain_dtm``, 100 m × 100 m = 200 × 200 cells as GeoTIFF),

and, as the peer in the same run, on a file of similar size under ``/downloads`` (the published
file closest to the median answer size), before and after them; each endpoint's throughput is
reported as a ratio to the mean of the two peer runs (the machine is shared and noisy).

Reported per run: requests/s, p50 and p99 latency, errors (answers >= 400 plus socket errors:
connect, read, write, timeout after 30 s) and gunicorn worker restarts (the master's child PIDs
before and after, and the master's log lines about killed or timed-out workers). Afterwards
every endpoint must still answer 200.

Run:  .venv/bin/python bench/bench_load.py [--seconds 60] [--connections 32] [--json out.json]
Needs Debian's wrk. About 8 minutes with the defaults (1 min to build the sample).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from testkit import served_sample  # noqa: E402

from geoportal.app.server import worker_pids  # noqa: E402
from geoportal.core.settings import Settings  # noqa: E402

FINDER = ("area_m2 BETWEEN 500 AND 2000 AND zoning='GI' AND "
          "motorway_junction_network_distance_m <= 3000")
#: wrk's summary as one parseable line (latencies in microseconds).
LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOAD %d %d %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
#: What gunicorn's master logs when it replaces a worker.
RESTART_SIGNS = ("WORKER TIMEOUT", "was sent SIG", "exited with code", "Booting worker")


def endpoints(settings: Settings) -> dict[str, str]:
    """The five requests, placed at the centre of the built district."""
    import morecantile
    import rasterio
    from pyproj import Transformer

    with rasterio.open(settings.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as src:
        left, bottom, right, top = src.bounds
    x, y = round((left + right) / 2), round((bottom + top) / 2)
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(x, y)
    tms = morecantile.tms.get("WebMercatorQuad")
    vector, raster = tms.tile(lon, lat, 15), tms.tile(lon, lat, 16)
    return {
        "vector tile (buildings z15, MVT)":
            f"/collections/buildings/tiles/WebMercatorQuad/15/{vector.y}/{vector.x}?f=mvt",
        "raster tile (orthophoto z16, JPEG)":
            f"/collections/orthophoto/tiles/WebMercatorQuad/16/{raster.y}/{raster.x}?f=jpeg",
        "features page (buildings, limit=100)": "/collections/buildings/items?f=json&limit=100",
        "finder CQL2 (commercial_spaces)":
            f"/collections/commercial_spaces/items?f=json&filter={quote(FINDER)}",
        "coverage subset (terrain_dtm 200x200, GTiff)":
            f"/collections/terrain_dtm/coverage?f=GTiff&subset=x({x - 50}:{x + 50}),"
            f"y({y - 50}:{y + 50})",
    }


def answer_size(url: str) -> int:
    """The body size of a 200 answer (exits if the request does not answer 200 with a body)."""
    response = requests.get(url, timeout=120)
    if response.status_code != 200 or not response.content:
        sys.exit(f"{url}: {response.status_code} {response.text[:300]}")
    return len(response.content)


def peer_file(settings: Settings, size: float) -> tuple[str, int]:
    """The published download (``/downloads/...``) whose size is closest to ``size``."""
    root = settings.published_dir
    files = []
    for folder, subfolders, names in os.walk(root, followlinks=True):  # datasets are symlinks
        subfolders[:] = [d for d in subfolders if d != ".versions"]
        files += [Path(folder, name) for name in names]
    best = min(files, key=lambda p: abs(p.stat().st_size - size))
    return f"/downloads/{best.relative_to(root).as_posix()}", best.stat().st_size


def wrk(url: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    """One wrk run: requests/s, p50/p99 latency (ms) and errors (>= 400 plus socket errors)."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
                          "-s", str(script), url],
                         check=True, capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("LOAD "))
    n, duration, p50, p99, connect, read, write, status, timeout = map(int, line.split()[1:])
    return {"req/s": round(n / (duration / 1e6), 1), "p50 ms": round(p50 / 1000, 2),
            "p99 ms": round(p99 / 1000, 2), "requests": n,
            "errors": connect + read + write + status + timeout,
            "socket errors": connect + read + write + timeout}


def measure(base: str, path: str, args: argparse.Namespace, proc: subprocess.Popen[bytes],
            log: Path, script: Path) -> dict[str, Any]:
    """Warm up, then one measured run with the worker PIDs and the log checked around it."""
    wrk(base + path, 3, 4, script)  # every worker opens its readers, caches fill
    before, log_size = worker_pids(proc.pid), log.stat().st_size
    result = wrk(base + path, args.seconds, args.connections, script)
    after = worker_pids(proc.pid)
    with log.open("rb") as fh:
        fh.seek(log_size)
        written = fh.read().decode("utf-8", errors="replace").splitlines()
    result["worker restarts"] = max(len(after - before),
                                    sum(any(s in t for s in RESTART_SIGNS) for t in written))
    print(f"  {path[:70]:<70} {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the results here as well")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    started, load = time.strftime("%Y-%m-%d %H:%M:%S %Z"), os.getloadavg()
    with served_sample("bench-load-", args.workers, offers=True) as (settings, proc):
        base, log = settings.url, settings.data_dir / "server.log"
        script = settings.data_dir / "summary.lua"
        script.write_text(LUA)
        paths = endpoints(settings)
        sizes = {label: answer_size(base + path) for label, path in paths.items()}
        peer, peer_bytes = peer_file(settings, statistics.median(sizes.values()))
        print(f"peer: {peer} ({peer_bytes:,} bytes); answers: {sizes}", flush=True)
        runs = {"peer (before)": measure(base, peer, args, proc, log, script)}
        for label, path in paths.items():
            runs[label] = measure(base, path, args, proc, log, script)
        runs["peer (after)"] = measure(base, peer, args, proc, log, script)
        peer_rps = (runs["peer (before)"]["req/s"] + runs["peer (after)"]["req/s"]) / 2
        for label in paths:
            runs[label]["ratio to peer"] = round(runs[label]["req/s"] / peer_rps, 4)
            runs[label]["bytes"] = sizes[label]
        still = {label: requests.get(base + path, timeout=60).status_code
                 for label, path in {**paths, "peer": peer}.items()}
    report = {"started": started, "load average at start (1/5/15 min)": load,
              "connections": args.connections, "seconds per run": args.seconds,
              "gunicorn workers": args.workers, "peer": {"path": peer, "bytes": peer_bytes},
              "runs": runs, "status after the load": still}
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if any(code != 200 for code in still.values()) or \
            any(r["worker restarts"] for r in runs.values()):
        sys.exit("the server did not come through the load unharmed (see above)")


if __name__ == "__main__":
    main()
