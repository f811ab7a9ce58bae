"""Orthophoto pipeline against GDAL's own tools, same input, same run.

Input: ``--tiles`` NRW-style 1 km tiles of ``--size``² RGB pixels (default 4 × 10000² = 400 MP,
i.e. real DOP10 tiles), made from the sample city's scene (rendered at 0.5 m, upsampled with
pixel noise so that JPEG has photo-like work to do), stored as uncompressed tiled GeoTIFF so that
input decoding costs both sides the same little.

Measured:
1. COG conversion, megapixels/s: our pipeline (``OrthophotoPipeline`` units through
   ``pipelines.executor.run_units``: checks, per-tile process pool, COG validation, checksums)
   against Debian's plain ``gdal_translate -of COG`` (JPEG q85, NUM_THREADS=ALL_CPUS) tile after
   tile; also our pipeline with the rasterio-only encoder.
2. Pre-rendering web tiles z``--zmin``–``--zmax``: ours (PMTiles, bottom-up) against
   ``gdal2tiles.py --processes 2`` on the same mosaic and zooms, tiles/s.
3. Serving through gunicorn (2 workers) with wrk (2 connections, ``--seconds`` each): p95 for a
   pre-rendered tile, a cached deep-zoom tile, and uncached deep-zoom tiles (every request a
   different z``--zdeep`` tile, cache emptied first).

Run:  .venv/bin/python bench/bench_imagery.py [--tiles 4] [--size 10000]
Needs Debian's gdal-bin (gdal_translate, gdal2tiles.py) and wrk.

Peak memory:  .venv/bin/python bench/bench_imagery.py --memory 5,20 [--size 10000]
makes the largest delivery once, then builds the first N tiles of it (conversion, mosaic, web
tiles z``--zmin``–``--zmax``, empty cache) in a fresh Python process per N and reports that
process's peak RSS (``getrusage(RUSAGE_SELF)``, the driver) and its children's
(``RUSAGE_CHILDREN``: the largest single tile or web-tile worker; two run at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from testkit import free_port, make_settings  # noqa: E402

from geoportal.app.sample import ortho  # noqa: E402
from geoportal.app.sample.surface import TileSurface  # noqa: E402
from geoportal.core.registry import load_registry  # noqa: E402
from pipelines.base import PipelineContext  # noqa: E402
from pipelines.executor import run_units  # noqa: E402
from pipelines.imagery.pipeline import MOSAIC, OrthophotoPipeline  # noqa: E402
from pipelines.imagery.webtiles import TMS  # noqa: E402

YEAR = 2025
WRK_P95 = """
done = function(summary, latency, requests)
  io.write(string.format("P95_MS %.2f\\n", latency:percentile(95) / 1000))
  io.write(string.format("P50_MS %.2f\\n", latency:percentile(50) / 1000))
end
"""


def make_input(raw: Path, tiles: list[tuple[int, int]], size: int) -> float:
    """Write the delivery; return its megapixels."""
    dop = raw / "dop"
    dop.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for e, n in tiles:
        small = dop.parent / f"small_{e}_{n}.tif"
        ortho.write_tile(TileSurface(42, YEAR, e, n), small, 0.5, "rgb", 42)
        res = 1000.0 / size
        profile = {"driver": "GTiff", "dtype": "uint8", "width": size, "height": size,
                   "count": 3, "crs": "EPSG:25832", "tiled": True, "blockxsize": 512,
                   "blockysize": 512, "photometric": "RGB",
                   "transform": from_origin(e * 1000.0, (n + 1) * 1000.0, res, res)}
        out = dop / f"dop10rgb_32_{e}_{n}_1_nw_{YEAR}.tif"
        with rasterio.open(small) as src, rasterio.open(out, "w", **profile) as dst:
            step = 2000
            for r0 in range(0, size, step):
                rows = min(step, size - r0)
                window = Window(0, r0 * src.height / size, src.width, rows * src.height / size)
                data = src.read(window=window, out_shape=(3, rows, size),
                                resampling=Resampling.bilinear).astype(np.int16)
                data += rng.normal(0, 6, data.shape).astype(np.int16)
                dst.write(np.clip(data, 0, 255).astype(np.uint8), window=Window(0, r0, size, rows))
        small.unlink()
    return len(tiles) * size * size / 1e6


def pipeline(settings, encoder: str, zmin: int, zmax: int) -> OrthophotoPipeline:
    dataset = load_registry(ROOT / "datasets")["orthophoto"]
    params = dataset.pipeline.params.model_copy(update={
        "encoder": encoder, "min_zoom": zmin, "prerender_max_zoom": zmax, "workers": 2})
    dataset = dataset.model_copy(update={"pipeline": dataset.pipeline.model_copy(
        update={"params": params})})
    return OrthophotoPipeline(dataset, PipelineContext(load_registry(ROOT / "datasets"),
                                                       settings))


def bench_conversion(settings, megapixels: float) -> dict[str, float]:
    rates = {}
    for encoder in ("gdal_translate", "rasterio"):
        shutil.rmtree(settings.data_dir / "cache", ignore_errors=True)
        p = pipeline(settings, encoder, 12, 12)
        staging = settings.data_dir / f"staging-{encoder}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        started = time.perf_counter()
        run_units(p, p.plan(), staging, workers=2)
        rates[f"ours ({encoder} encoder, 2 tile processes)"] = megapixels / (
            time.perf_counter() - started)
    peer = settings.data_dir / "peer"
    peer.mkdir(exist_ok=True)
    started = time.perf_counter()
    for src in sorted((settings.raw_dir / "dop").glob("*.tif")):
        subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=JPEG",
                        "-co", "QUALITY=85", "-co", "BLOCKSIZE=512", "-co", "NUM_THREADS=ALL_CPUS",
                        "-co", "OVERVIEW_RESAMPLING=AVERAGE", str(src), str(peer / src.name)],
                       check=True)
    rates["Debian gdal_translate -of COG, ALL_CPUS, tile after tile"] = megapixels / (
        time.perf_counter() - started)
    return rates


def bench_webtiles(settings, zmin: int, zmax: int) -> tuple[dict[str, float], Path]:
    """Ours (finish(): mosaic + PMTiles) versus gdal2tiles on the same mosaic."""
    p = pipeline(settings, "gdal_translate", zmin, zmax)
    staging = settings.data_dir / "staging-webtiles"
    staging.mkdir()
    results = run_units(p, p.plan(), staging, workers=2)  # cached: no conversion
    started = time.perf_counter()
    built = p.finish(results, staging)
    ours_s = time.perf_counter() - started
    ours_tiles = int(re.search(r"(\d+) pre-rendered", built.headline)[1])
    out = settings.data_dir / "gdal2tiles"
    started = time.perf_counter()
    subprocess.run(["gdal2tiles.py", "-q", "--xyz", "-w", "none", "-r", "average",
                    "--processes=2", f"-z{zmin}-{zmax}", str(staging / MOSAIC), str(out)],
                   check=True)
    peer_s = time.perf_counter() - started
    peer_tiles = sum(1 for _ in out.rglob("*.png"))
    return {"ours_tiles": ours_tiles, "ours_s": ours_s, "peer_tiles": peer_tiles,
            "peer_s": peer_s}, staging


def wrk(url_or_script: str, base: str, seconds: int, script: Path) -> tuple[float, float, float]:
    cmd = ["wrk", "-t2", "-c2", f"-d{seconds}s", "-s", str(script), base + url_or_script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    p95 = float(re.search(r"P95_MS ([\d.]+)", out)[1])
    p50 = float(re.search(r"P50_MS ([\d.]+)", out)[1])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    return p50, p95, rps


def bench_serving(settings, staging: Path, zdeep: int, seconds: int) -> dict[str, tuple]:
    from geoportal.app.server import start, stop
    from geoportal.core.publish import publish_version

    settings.published_dir.mkdir(parents=True, exist_ok=True)
    version = settings.published_dir / ".versions" / "orthophoto" / "bench"
    version.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(version, ignore_errors=True)
    shutil.copytree(staging, version)
    publish_version(settings.published_dir, "orthophoto", version)
    host, port = "127.0.0.1", int(settings.url.rsplit(":", 1)[1])
    proc = start(settings, host, port, workers=2, log=settings.data_dir / "server.log")
    to_wgs = Transformer.from_crs(25832, 4326, always_xy=True)
    with rasterio.open(staging / MOSAIC) as m:
        b = m.bounds
    w, s = to_wgs.transform(b.left + 50, b.bottom + 50)
    e, n = to_wgs.transform(b.right - 50, b.top - 50)
    tpl = "/collections/orthophoto/tiles/WebMercatorQuad/{z}/{y}/{x}?f=jpeg"
    lua = settings.data_dir / "p95.lua"
    lua.write_text(WRK_P95)
    deep = list(TMS.tiles(w, s, e, n, [zdeep]))
    rng = np.random.default_rng(3)
    rng.shuffle(deep)
    paths = [tpl.format(z=t.z, y=t.y, x=t.x) for t in deep]
    uncached = settings.data_dir / "uncached.lua"
    uncached.write_text(
        "local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
        "local n = 0\nlocal id = 0\nlocal threads = 0\n"
        "function setup(thread) thread:set('id', threads); threads = threads + 1 end\n"
        "function init(args) n = id * math.floor(#paths / 2) end\n"
        "function request() n = n + 1; return wrk.format('GET', paths[(n % #paths) + 1]) end\n"
        + WRK_P95)
    mid = TMS.tile((w + e) / 2, (s + n) / 2, 13)
    deep_one = TMS.tile((w + e) / 2, (s + n) / 2, zdeep)
    try:
        wrk(tpl.format(z=13, y=mid.y, x=mid.x), settings.url, 2, lua)  # warm up both workers
        results = {"pre-rendered z13 (PMTiles)": wrk(tpl.format(z=13, y=mid.y, x=mid.x),
                                                     settings.url, seconds, lua)}
        subprocess.run(["curl", "-s", "-o", "/dev/null", settings.url + tpl.format(
            z=zdeep, y=deep_one.y, x=deep_one.x)], check=True)
        results[f"cached z{zdeep} (disk cache)"] = wrk(tpl.format(
            z=zdeep, y=deep_one.y, x=deep_one.x), settings.url, seconds, lua)
        shutil.rmtree(settings.tiles_dir, ignore_errors=True)
        results[f"uncached z{zdeep} (rendered from the COGs), {len(paths)} distinct tiles"] = (
            wrk("/", settings.url, seconds, uncached))
    finally:
        stop(proc)
    return results


def rss_child(base: Path, zmin: int, zmax: int) -> dict[str, float]:
    """Build the delivery under ``base/raw`` from scratch; report time and peak RSS (MB)."""
    settings = make_settings(base)
    p = pipeline(settings, "auto", zmin, zmax)
    staging = base / "staging"
    staging.mkdir()
    started = time.perf_counter()
    results = run_units(p, p.plan(), staging, workers=2)
    encoders_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # pool has ended
    built = p.finish(results, staging)
    seconds = time.perf_counter() - started
    megapixels = sum(r.megapixels for r in results)
    return {"tiles": len(results), "megapixels": megapixels, "seconds": seconds,
            "web_tiles": int(re.search(r"(\d+) pre-rendered", built.headline)[1]),
            "driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "driver_hwm_mb": _vm_hwm_mb(),
            "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "cog_worker_mb": encoders_kb / 1024}


def _vm_hwm_mb() -> float:
    """This process's own peak RSS (``VmHWM``: unlike ru_maxrss, nothing inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_memory(counts: list[int], size: int, zmin: int, zmax: int,
                 keep: Path | None = None) -> list[dict[str, float]]:
    """Peak RSS of whole builds of ``counts`` tiles, each in a fresh process (clean rusage).

    ``keep``: a folder to make the input in once and reuse on later runs.
    """
    with tempfile.TemporaryDirectory(prefix="bench-imagery-rss-", dir=ROOT / "var"
                                     if (ROOT / "var").is_dir() else None) as tmp:
        base = Path(tmp)
        tiles = [(350 + k // 4, 5685 + k % 4) for k in range(max(counts))]
        started = time.perf_counter()
        keep = keep.resolve() if keep else None  # the runs link to its files
        given = keep / "dop" if keep else None
        if not (given and len(list(given.glob("*.tif"))) >= len(tiles)):
            # in a process of its own: Linux carries a parent's peak RSS over into the children
            # it starts (ru_maxrss survives fork + exec), so this process must stay small
            subprocess.run([sys.executable, __file__, "--make-input", str(keep or base / "input"),
                            "--tiles", str(len(tiles)), "--size", str(size)], check=True)
        print(f"input: {len(tiles)} tiles × {size}² RGB "
              f"({time.perf_counter() - started:.0f} s to make)", flush=True)
        sources = sorted((keep or base / "input").joinpath("dop").glob("*.tif"))[:len(tiles)]
        rows = []
        for n in counts:
            run = base / f"run{n}"
            (run / "raw" / "dop").mkdir(parents=True)
            for src in sources[:n]:
                (run / "raw" / "dop" / src.name).symlink_to(src)
            done = subprocess.run([sys.executable, __file__, "--rss-child", str(run),
                                   "--zmin", str(zmin), "--zmax", str(zmax)],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"build of {n} tiles failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(run)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=4, help="1 km tiles (2×N/2 block)")
    parser.add_argument("--size", type=int, default=10000, help="pixels per tile side")
    parser.add_argument("--zmin", type=int, default=12)
    parser.add_argument("--zmax", type=int, default=17)
    parser.add_argument("--zdeep", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--memory", metavar="N,M", help="peak RSS for builds of N, M tiles")
    parser.add_argument("--input", type=Path, help="--memory: keep/reuse the input here")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_input:
        make_input(args.make_input, [(350 + k // 4, 5685 + k % 4) for k in range(args.tiles)],
                   args.size)
        return
    if args.rss_child:
        print(json.dumps(rss_child(args.rss_child, args.zmin, args.zmax)))
        return
    if args.memory:
        print(f"load average before: {os.getloadavg()}", flush=True)
        rows = bench_memory([int(n) for n in args.memory.split(",")], args.size, args.zmin,
                            args.zmax, args.input)
        print(f"\n## Peak memory (z{args.zmin}–z{args.zmax} web tiles included)")
        for r in rows:
            print(f"- {r['tiles']} tiles, {r['megapixels']:,.0f} MP in {r['seconds']:.0f} s "
                  f"({r['megapixels'] / r['seconds']:.1f} MP/s, {r['web_tiles']} web tiles): "
                  f"driver {r['driver_mb']:.0f} MB (VmHWM {r['driver_hwm_mb']:.0f} MB), "
                  f"largest worker {r['worker_mb']:.0f} MB "
                  f"(COG workers {r['cog_worker_mb']:.0f} MB)")
        print(f"\nload average after: {os.getloadavg()}")
        return
    tiles = [(350 + k // 2, 5685 + k % 2) for k in range(args.tiles)]
    with tempfile.TemporaryDirectory(prefix="bench-imagery-", dir=ROOT / "var"
                                     if (ROOT / "var").is_dir() else None) as tmp:
        base = Path(tmp)
        port = free_port()
        settings = make_settings(base, f"http://127.0.0.1:{port}")
        print(f"load average before: {os.getloadavg()}", flush=True)
        started = time.perf_counter()
        mp = make_input(settings.raw_dir, tiles, args.size)
        print(f"input: {len(tiles)} tiles × {args.size}² RGB = {mp:,.0f} MP "
              f"({time.perf_counter() - started:.0f} s to make)", flush=True)
        rates = bench_conversion(settings, mp)
        peer = rates["Debian gdal_translate -of COG, ALL_CPUS, tile after tile"]
        print("\n## COG conversion (megapixels/s)")
        for name, rate in rates.items():
            print(f"- {name}: {rate:.1f} MP/s ({rate / peer:.2f}× gdal_translate); "
                  f"100 GP would take {100_000 / rate / 60:.0f} min")
        web, staging = bench_webtiles(settings, args.zmin, args.zmax)
        ours, peer_rate = web["ours_tiles"] / web["ours_s"], web["peer_tiles"] / web["peer_s"]
        print(f"\n## Web tiles z{args.zmin}–z{args.zmax}")
        print(f"- ours (mosaic VRT + PMTiles, JPEG): {web['ours_tiles']} tiles in "
              f"{web['ours_s']:.1f} s = {ours:.1f} tiles/s")
        print(f"- gdal2tiles.py --processes=2 (PNG): {web['peer_tiles']} tiles in "
              f"{web['peer_s']:.1f} s = {peer_rate:.1f} tiles/s")
        print(f"- ratio: {ours / peer_rate:.1f}×")
        serving = bench_serving(settings, staging, args.zdeep, args.seconds)
        print("\n## Serving (wrk -t2 -c2, gunicorn 2 workers)")
        for name, (p50, p95, rps) in serving.items():
            print(f"- {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, {rps:.0f} req/s")
        print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
