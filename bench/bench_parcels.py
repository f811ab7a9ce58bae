"""Parcels at full-city size: every output in one build, and vector tiles against tippecanoe alone.

The sample generator's city scenes (all 99 km² of Ratingen, 1 km cells) give the ALKIS parcels of
the whole city with their (synthetic) owner fields; nothing but the vector layer is generated, no
LiDAR or orthophotos. Measured in the same run:

1. ``geoportal build parcels``: read (owner fields dropped), repair, conform, reproject, area
   check, then GeoPackage + R-tree, CSV, GeoJSON, GeoParquet and vector tiles (z12–16), published
   atomically — the wall time of the whole build;
2. our tile step against **tippecanoe alone** on the same input, the published GeoJSON (the file
   a user would feed it), same options. Ours reads that file too (the build writes it anyway, so
   no extra input is written) while the other formats are written meanwhile; the tiles are
   byte-identical (tests/layers).
   Pairs are run ``--repeat`` times, order alternated; the ratio ``tippecanoe alone / ours`` ≥ 1
   means ours is at least as fast. Each pair's ratio is printed with the load average.

Run:  .venv/bin/python bench/bench_parcels.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geoportal.app.sample import DISTRICTS, cadastre
from geoportal.app.sample import scene as sc
from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings
from pipelines.build import build_all
from pipelines.writers import tippecanoe_binary, write_mvt

ROOT = Path(__file__).resolve().parent.parent

SEED, YEAR = 42, 2025
TARGET = 39_000  # Ratingen's ALKIS: about 39,000 parcels


def city_parcels(raw: Path) -> int:
    """Write the whole city's ALKIS parcels (with owner fields) as the surveying office would.

    The sample city's 99 cells hold about 32,000 parcels; the missing ones are copies of city
    parcels moved 12 km east (outside the city), with Gemarkung numbers 9xxx so their
    identifiers stay unique.
    """
    tiles = DISTRICTS["city"]
    started = time.perf_counter()
    cells = []
    for k, (e, n) in enumerate(tiles, 1):
        cells.append(sc.cell_scene(SEED, YEAR, e, n))
        if k % 10 == 0 or k == len(tiles):
            rate = k / (time.perf_counter() - started)
            print(f"  city scenes {k}/{len(tiles)}, ETA {(len(tiles) - k) / rate:.0f} s",
                  flush=True)
    parcels = cadastre.parcels_frame(cells, SEED, YEAR)
    parcels = parcels.drop(columns=[c for c in ("cell", "kind") if c in parcels.columns])
    extra = parcels.iloc[:max(0, TARGET - len(parcels))].copy()
    extra["flstkennz"] = extra["flstkennz"].str.slice_replace(2, 3, "9")
    extra["geometry"] = extra.geometry.translate(12_000, 0)
    parcels = gpd.GeoDataFrame(pd.concat([parcels, extra], ignore_index=True), crs=parcels.crs)
    path = raw / "alkis" / "flurstuecke.gpkg"
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(parcels, path, layer="flurstueck", driver="GPKG")
    return len(parcels)


def tippecanoe_alone(geojson: Path, out: Path) -> float:
    """tippecanoe with the options our writer uses, on the published GeoJSON."""
    command = [tippecanoe_binary(), "-e", str(out), "--no-tile-compression", "--force",
               "--quiet", "-l", "parcels", "-Z", "12", "-z", "16", "--drop-densest-as-needed",
               str(geojson)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="tile timings: N pairs")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-parcels-"))
    try:
        settings = Settings.from_env({"GEOPORTAL_HOME": str(ROOT), "GEOPORTAL_DATA_DIR": str(base),
                                      "GEOPORTAL_TILES_DIR": str(base / "tiles")})
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print("generating the city's parcels …", flush=True)
        count = city_parcels(settings.raw_dir)
        print(f"  {count:,} parcels")
        registry = load_registry(settings.datasets_dir)
        started = time.perf_counter()
        summary = build_all(registry, settings, ["parcels"], echo=lambda line: print("  " + line))
        build_s = time.perf_counter() - started
        assert summary.ok, summary.lines()
        folder = settings.published_dir / "parcels"
        sizes = {p.suffix: p.stat().st_size for p in folder.glob("parcels.*")}
        tiles = sum(1 for _ in (folder / "tiles").rglob("*.pbf"))
        layer = gpd.read_parquet(folder / "parcels.parquet")
        geojson = folder / "parcels.geojson"
        ours, alone = [], []
        for k in range(args.repeat):
            scratch = base / f"scratch-{k}"
            scratch.mkdir()
            if k % 2:  # alternate the order: the machine's load drifts during a run
                alone.append(tippecanoe_alone(geojson, scratch / "alone"))
            started = time.perf_counter()
            write_mvt(layer, scratch, "parcels", 12, 16, geojson=geojson)
            ours.append(time.perf_counter() - started)
            if not k % 2:
                alone.append(tippecanoe_alone(geojson, scratch / "alone"))
            shutil.rmtree(scratch)
            print(f"  pair {k + 1}/{args.repeat}: ours {ours[-1]:.2f} s, alone {alone[-1]:.2f} s, "
                  f"ratio {alone[-1] / ours[-1]:.2f} (load {os.getloadavg()[0]:.1f})", flush=True)
        ratios = sorted(a / o for a, o in zip(alone, ours, strict=True))
        print(f"\nload average {os.getloadavg()[0]:.2f} after the run")
        print(f"full build, all outputs: {build_s:.1f} s for {count:,} parcels "
              f"({count / build_s:,.0f} parcels/s); {tiles:,} tiles z12–16")
        print("  sizes: " + ", ".join(f"{k[1:]} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())
                                      if k in {".gpkg", ".csv", ".geojson", ".parquet"}))
        print(f"vector tiles, {args.repeat} pairs: ours (tippecanoe on the published GeoJSON) "
              f"best {min(ours):.2f} s / median {statistics.median(ours):.2f} s; tippecanoe "
              f"alone best {min(alone):.2f} s / median {statistics.median(alone):.2f} s; "
              f"ratio alone/ours: best-of {min(alone) / min(ours):.2f}, per pair median "
              f"{statistics.median(ratios):.2f} (range {ratios[0]:.2f}–{ratios[-1]:.2f}), "
              f"ours faster in {sum(r > 1 for r in ratios)}/{len(ratios)} pairs")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
