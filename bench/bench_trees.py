"""Tree detection scored against the sample generator's truth, and the cadastre conflation counts.

Builds ``trees_lidar``, ``trees`` and ``trees_not_in_cadastre`` from a generated sample (the
registry's parameters, nothing tuned here) and scores the detected trees with
:func:`pipelines.lidar.score.score` (one-to-one matching within 3 m) twice:

* ``as written``: against ``truth/trees.gpkg`` as the generator writes it. That file lists the
  trees of the sample's own cells only, while the scan also shows the neighbouring cells' trees
  along the sample's edges (streets run along the cell edges), and it lists own trees standing
  just outside the scanned tiles — both count as errors that are not detection errors;
* ``complete``: against the truth of the sample cells *and* their neighbours, limited to the
  scanned tiles — the number that measures the detection.

With ``--whitebox-python`` the same run also detects trees with WhiteboxTools
(``whitebox-workflows`` from PyPI, in a bench-only venv; never a project dependency) on the
first tile, as uncompressed LAS (it refuses the sample's LAZ), and scores its tree tops with the
same scorer against the same complete truth, limited to that tile. WhiteboxTools'
``individual_tree_detection`` wants a height-normalised cloud; its documented route is
``normalize_lidar`` (point z minus a DTM raster), the DTM being a TIN of the ground and water
returns (``lidar_tin_gridding``, 1 m, ground thinned to one lowest return per 1 m cell: the
unthinned TIN peaked at ~10 GB). Ground, water and noise (classes 2, 9, 18) are dropped first,
and after normalising the points below the lowest ``min_height`` (they change no result);
NRW clouds carry no vegetation class, so ``only_use_veg`` is off. It runs once per setting of
(min/max search radius, min/max height) in ``WHITEBOX_SETTINGS``; each result is also scored
with its tops on or within 1 m of an ALKIS building footprint dropped (``+footprints``), the
footprints and margin ours uses, since the point-based tool cannot tell a roof from a crown.
WhiteboxTools gives no crowns.

Run:  .venv/bin/python bench/bench_trees.py --raw <sample raw folder> [--work <folder>]
          [--whitebox-python /path/to/venv/bin/python]
      (make one with ``geoportal sample --district tiny`` or ``default``; density 15 pts/m²;
      a bench-only venv: ``python3.12 -m venv wb && wb/bin/pip install whitebox-workflows``)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from geoportal.app.sample.truth import complete_sample_truth
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import build_all
from pipelines.lidar.score import score

IDS = ["trees_lidar", "trees", "trees_not_in_cadastre"]
CRS = "EPSG:25832"  # the registry's; the sample's LAZ tiles carry none

# WhiteboxTools' search radius grows linearly from min_search_radius at min_height to
# max_search_radius at max_height. "matched" mirrors our window (diameter 2.5 m + 0.08 m per m
# of height: radius 1.25 m at 2 m, 2.45 m at 30 m); "crown" uses about half the sample's crown
# radius (crown diameter ~0.6 × height); "default" is the tool's own default radius of 1 m.
WHITEBOX_SETTINGS = {
    "default": {"min_search_radius": 1.0, "min_height": 2.0},
    "matched": {"min_search_radius": 1.25, "min_height": 2.0, "max_search_radius": 2.45,
                "max_height": 30.0},
    "crown": {"min_search_radius": 2.0, "min_height": 2.0, "max_search_radius": 5.0,
              "max_height": 30.0},
}

WHITEBOX_TREES = """
import json, os, sys, time
import whitebox_workflows as wb

def step(timings, name, started, out):
    timings[name] = {"wall_s": round(time.perf_counter() - started[0], 2),
                     "cpu_s": round(time.process_time() - started[1], 2)}
    started[:] = [time.perf_counter(), time.process_time()]
    with open(os.path.join(out, "timings.json"), "w") as f:  # kept per step: partial runs tell
        json.dump(timings, f)

if __name__ == "__main__":
    las, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    wbe = wb.WbEnvironment()
    wbe.verbose = False
    timings, started = {}, [time.perf_counter(), time.process_time()]
    lidar = wbe.read_lidar(las)
    dtm = wbe.lidar.interpolation_gridding.lidar_tin_gridding(
        input=lidar, resolution=1.0, excluded_classes=[c for c in range(256) if c not in (2, 9)],
        triangulation_thin_cell_size=1.0, triangulation_thin_method="min_value",
        output=os.path.join(out, "dtm.tif"))  # normalize_lidar reads the DTM from a file
    step(timings, "dtm", started, out)
    above = wbe.lidar.filter_lidar_classes(input=lidar, excluded_classes=[2, 9, 18])
    norm = wbe.lidar.normalize_lidar(input=above, dtm=dtm, no_negatives=True)
    # Points below the lowest min_height can be neither a top nor higher than one: dropping
    # them changes no result and spares the detection's neighbour searches.
    low = min(p["min_height"] for p in settings.values())
    norm = wbe.lidar.lidar_elevation_slice(input=norm, minz=low)
    step(timings, "normalise", started, out)
    for name, params in settings.items():
        wbe.lidar.individual_tree_detection(input=norm, only_use_veg=False,
                                            output=os.path.join(out, name + ".shp"), **params)
        step(timings, name, started, out)
"""


def settings_for(work: Path, raw: Path) -> Settings:
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "raw").exists():
        (work / "raw").symlink_to(raw.resolve())
    return Settings.from_env({"GEOPORTAL_HOME": str(PROJECT_ROOT),
                              "GEOPORTAL_DATA_DIR": str(work),
                              "GEOPORTAL_RAW_DIR": str(work / "raw"),
                              "GEOPORTAL_TILES_DIR": str(work / "tiles")})


# Ours on the same single tile as WhiteboxTools, in a child: decode, bin, gap-fill, canopy
# model, detection, crowns (and the tile's other grids) — without the COPC download the
# registry's build also writes from the same decode, and without neighbour tiles.
OURS_TILE = """
import json, sys
from pathlib import Path
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT
from pipelines.lidar.products import LidarParams, build_tile
from pipelines.lidar.tiles import discover
if __name__ == "__main__":
    raw, cache = Path(sys.argv[1]), Path(sys.argv[2])
    ds = load_registry(PROJECT_ROOT / "datasets")["trees_lidar"]
    params = LidarParams.from_options(ds.source.crs, ds.pipeline.params)
    tile = discover(raw, ds.source.path, ds.id)[0]
    outcome = build_tile(tile, [tile], params, raw, cache)
    print(json.dumps({"folder": outcome.folder, "error": outcome.error,
                      "stages": outcome.stage_seconds}))
"""


def run_measured(python: str, code: str, args: list[str], log: Path) -> dict:
    """Run ``code`` in a child; its wall, CPU (user + system, all its threads and reaped
    children) and peak RSS from ``wait4``: the figures of that step alone."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([python, "-c", code, *args], stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if status:
        raise SystemExit(f"step failed (status {status}); see {log}:\n"
                         f"{log.read_text(errors='replace')[-2000:]}")
    return {"wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def whitebox_tops(path: Path) -> gpd.GeoDataFrame:
    """WhiteboxTools' tree tops as the scorer wants them: points with ``height_m`` (the top
    point's height above ground, from the normalised cloud) and no crown."""
    tops = gpd.read_file(path).set_crs(CRS, allow_override=True)
    height = next(c for c in tops.columns if c.upper() in ("Z", "HEIGHT", "ELEV", "Z_VALUE"))
    return gpd.GeoDataFrame({"height_m": tops[height].astype(float),
                             "crown_diameter_m": np.nan}, geometry=tops.geometry, crs=CRS)


def score_line(name: str, r, seconds: str = "") -> str:
    return (f"{name:>27} | {r.free_standing.precision:.3f} {r.free_standing.recall:.3f} "
            f"{r.free_standing.f1:.3f} | {r.closed_canopy.precision:.3f} "
            f"{r.closed_canopy.recall:.3f} {r.closed_canopy.f1:.3f} | {r.height_rmse_m:5.2f} "
            f"{r.height_bias_m:+5.2f} | {r.crown_diameter_mae_m:5.2f} | {r.matched:4d}/"
            f"{r.free_standing.detected + r.closed_canopy.detected:<4d} | {seconds}")


def compare_whitebox(python: str, raw: Path, work: Path, ours: gpd.GeoDataFrame) -> None:
    """Ours and WhiteboxTools' tops on the first tile, one table, same scorer and truth."""
    import laspy
    import shapely

    tile = sorted((raw / "lidar").glob("3dm_32_*_1_nw.laz"))[0]
    out = work / "whitebox"
    out.mkdir(exist_ok=True)
    print(f"ours on {tile.name} alone, load average {os.getloadavg()[0]:.1f} …", flush=True)
    mine = run_measured(sys.executable, OURS_TILE, [str(raw), str(work / "tile-cache")],
                        work / "ours-tile.log")
    mine.update(json.loads((work / "ours-tile.log").read_text().splitlines()[-1]))
    las = out / tile.with_suffix(".las").name
    laspy.read(tile).write(las)
    roofs = shapely.union_all(gpd.read_file(raw / "alkis" / "gebaeude.gpkg").buffer(1.0).values)
    print(f"WhiteboxTools on {tile.name} ({laspy.open(las).header.point_count:,} points), "
          f"load average {os.getloadavg()[0]:.1f} …", flush=True)
    wbt = run_measured(python, WHITEBOX_TREES,
                       [str(las), str(out), json.dumps(WHITEBOX_SETTINGS)], out / "whitebox.log")
    wbt["steps"] = json.loads((out / "timings.json").read_text())
    truth, area = complete_sample_truth(raw)
    e, n = (float(v) * 1000.0 for v in tile.name.split("_")[2:4])
    area = area.intersection(shapely.box(e, n, e + 1000.0, n + 1000.0))
    prep = {k: wbt["steps"][k] for k in ("dtm", "normalise")}
    prep_wall = sum(v["wall_s"] for v in prep.values())
    prep_cpu = sum(v["cpu_s"] for v in prep.values())
    print(f"{'':>27} | free-standing P R F1 | closed canopy P R F1 | height RMSE bias | "
          f"crown MAE | matched/detected | seconds")
    print(score_line("ours", score(ours, truth, area=area),
                     f"{mine['wall_s']:.1f} wall, {mine['cpu_s']:.1f} CPU"))
    for name in WHITEBOX_SETTINGS:
        step = wbt["steps"][name]
        seconds = (f"{prep_wall + step['wall_s']:.1f} wall, {prep_cpu + step['cpu_s']:.1f} CPU")
        tops = whitebox_tops(out / f"{name}.shp")
        print(score_line(f"whitebox {name}", score(tops, truth, area=area), seconds))
        off_roofs = tops[~tops.intersects(roofs)]
        print(score_line(f"whitebox {name}+footprints", score(off_roofs, truth, area=area)))
    print(f"WhiteboxTools steps: {json.dumps(wbt['steps'])}; whole child {wbt['wall_s']} s "
          f"wall, {wbt['cpu_s']} s CPU, peak RSS {wbt['peak_rss_mb']} MB; settings "
          f"{json.dumps(WHITEBOX_SETTINGS)}")
    print(f"ours on the tile alone: {mine['wall_s']} s wall, {mine['cpu_s']} s CPU, peak RSS "
          f"{mine['peak_rss_mb']} MB; worker stages (s) "
          f"{json.dumps({k: round(v, 1) for k, v in mine['stages'].items()})}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--whitebox-python", default=None,
                        help="a Python with whitebox-workflows: compare its tree detection")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-trees-"))
    settings = settings_for(work, args.raw)
    registry = load_registry(settings.datasets_dir)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")
    started = time.perf_counter()
    summary = build_all(registry, settings, IDS)
    if not summary.ok:
        raise SystemExit(1)
    print(f"built in {time.perf_counter() - started:.1f} s (work folder {work})")
    pub = settings.published_dir
    detected = gpd.read_file(pub / "trees_lidar" / "trees_lidar.gpkg")
    written = gpd.read_file(args.raw / "truth" / "trees.gpkg")
    truth, area = complete_sample_truth(args.raw)
    for name, result in (("as written", score(detected, written)),
                         ("complete", score(detected, truth, area=area))):
        r = result
        print(f"{name:>10}: free-standing P {r.free_standing.precision:.3f} "
              f"R {r.free_standing.recall:.3f} F1 {r.free_standing.f1:.3f} "
              f"(truth {r.free_standing.truth}) | closed canopy P {r.closed_canopy.precision:.3f}"
              f" R {r.closed_canopy.recall:.3f} F1 {r.closed_canopy.f1:.3f} "
              f"(truth {r.closed_canopy.truth}) | height RMSE {r.height_rmse_m:.2f} m, bias "
              f"{r.height_bias_m:+.2f} m | crown diameter MAE {r.crown_diameter_mae_m:.2f} m, "
              f"bias {r.crown_diameter_bias_m:+.2f} m")
    trees = gpd.read_file(pub / "trees" / "trees.gpkg")
    extra = gpd.read_file(pub / "trees_not_in_cadastre" / "trees_not_in_cadastre.gpkg")
    status = trees["lidar_status"].fillna("outside the scan").value_counts().to_dict()
    print(f"conflation: {len(trees)} cadastre trees {status}; {len(extra)} detected trees not "
          f"in the cadastre")
    if args.whitebox_python:
        compare_whitebox(args.whitebox_python, args.raw, work, detected)


if __name__ == "__main__":
    main()
