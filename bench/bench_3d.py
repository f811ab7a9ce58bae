"""LoD1 buildings and 3D Tiles (buildings, trees) for a sample district, timed by stage.

1. generates the district (default: the 4 km² centre, LiDAR at a low 2 points/m²: the 3D
   stage reads the published heights and DTM, not the points) and builds its inputs
   (``building_heights``, ``terrain_dtm``, ``trees``), untimed;
2. runs the ``buildings_3d`` and ``trees_3d`` units one after the other in this process
   (LoD1 blocks only, what the issue times; with ``--lod2`` also the LoD2 solids from the
   published ``roof_solar`` roof models, which ``--lod2`` then builds first, untimed),
   with their stage times (read, lod1, cityjson, 3dtiles; trees) and each unit's peak of
   traced memory (tracemalloc: Python and numpy allocations) in a second pass;
3. the peer, in the same run: the same footprints read and written as a GeoPackage (what a
   plain vector layer costs), so the 3D stage is reported as a ratio to it;
4. extrapolates to the city's ~40,000 buildings from the time per building (stage times
   scale with the buildings in a tile; the per-process set-up — PROJ's geoid transformation
   — is counted once per worker), on ``--workers`` processes.

Run:  .venv/bin/python bench/bench_3d.py [--district default] [--data DIR] [--workers 2]
      [--lod2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pyogrio
from testkit import make_settings

from geoportal.app.sample import DISTRICTS, SampleSpec, generate
from geoportal.core.registry import load_registry
from pipelines.base import PipelineContext
from pipelines.build import build_all
from pipelines.city3d.pipeline import Lod1BuildingsPipeline, Trees3dPipeline, _globe

CITY_BUILDINGS = 40_000


def prepare(data: Path, district: str, lod2: bool = False) -> None:
    if not (data / "raw" / "manifest.json").exists():
        print(f"generating the {district!r} district …", flush=True)
        generate(SampleSpec(tiles=DISTRICTS[district], seed=42, lidar_density=2.0,
                            ortho_resolution=4.0, ortho_jp2=False), data / "raw")
    settings = make_settings(data)
    registry = load_registry(settings.datasets_dir)
    inputs = ["building_heights", "terrain_dtm", "trees"] + (["roof_solar"] if lod2 else [])
    summary = build_all(registry, settings, inputs, echo=lambda _: None)
    if not summary.ok:
        sys.exit("\n".join(summary.lines()))


def run_units(pipeline, staging: Path, traced: bool) -> tuple[list, list[float], float]:
    """Build every unit in turn; their outputs, peak traced MB per unit, and the CPU seconds
    (the machine is shared: CPU time is what a free core would take as wall time)."""
    outputs, peaks, started = [], [], time.process_time()
    for unit in pipeline.plan():
        if traced:
            tracemalloc.start()
        outputs.append(pipeline.build(unit, staging))
        if traced:
            peaks.append(tracemalloc.get_traced_memory()[1] / 1e6)
            tracemalloc.stop()
    return outputs, peaks, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--district", default="default", choices=sorted(DISTRICTS))
    parser.add_argument("--data", type=Path, default=None, help="keep the data here (reuse)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lod2", action="store_true",
                        help="also the LoD2 solids (builds roof_solar first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench3d-") as tmp:
        data = args.data or Path(tmp)
        prepare(data, args.district, args.lod2)
        settings = make_settings(data)
        registry = load_registry(settings.datasets_dir)
        context = PipelineContext(registry, settings)
        started = time.process_time()
        _globe("EPSG:25832")
        setup = time.process_time() - started
        report(context, Path(tmp), setup, args.workers, args.lod2)


def report(context: PipelineContext, tmp: Path, setup: float, workers: int,
           lod2: bool) -> None:
    registry = context.registry
    lod1 = Lod1BuildingsPipeline(registry["buildings_3d"], context)
    if not lod2:  # the blocks alone: no roof models read, no LoD2 solids
        lod1.params = lod1.params.model_copy(update={"roofs": None})
    trees = Trees3dPipeline(registry["trees_3d"], context)
    for name in ("s0", "s1"):
        (tmp / name).mkdir()
    outputs, _, lod1_units = run_units(lod1, tmp / "s0", traced=False)
    started = time.process_time()
    lod1.finish(outputs, tmp / "s0")
    lod1_finish = time.process_time() - started
    tree_outputs, _, tree_units = run_units(trees, tmp / "s1", traced=False)
    _, peaks, _ = run_units(lod1, tmp / "s0", traced=True)

    buildings = sum(len(o.rows) for o in outputs)
    stages: dict[str, float] = {}
    for o in outputs:
        for name, seconds in o.seconds.items():
            stages[name] = stages.get(name, 0.0) + seconds
    started = time.process_time()
    footprints = pyogrio.read_dataframe(lod1.heights_file())
    pyogrio.write_dataframe(footprints, tmp / "peer.gpkg", driver="GPKG", spatial_index=True)
    peer = time.process_time() - started

    per_building = (lod1_units + lod1_finish) / buildings
    tiles = len(outputs)
    print(f"district: {tiles} tile(s), {buildings} buildings "
          f"({max(len(o.rows) for o in outputs)} in the fullest tile), "
          f"{sum(len(o.rows) for o in tree_outputs)} trees")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; times are CPU "
          "seconds of this process (stage times: wall)")
    print(f"set-up once per process (PROJ geoid transformation): {setup:.2f} s")
    print("buildings_3d units: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items())
          + f"; total {lod1_units:.2f} s, finish (GeoPackage/CSV/GeoJSON, tileset) "
          f"{lod1_finish:.2f} s")
    print(f"  {per_building * 1000:.2f} ms per building; peer (read + write the footprints "
          f"as GeoPackage) {peer:.2f} s = {peer / buildings * 1000:.3f} ms per building; "
          f"ratio 3D/peer {(lod1_units + lod1_finish) / peer:.1f}x")
    print(f"trees_3d units: {tree_units:.2f} s")
    print(f"peak traced memory per buildings unit: {max(peaks):.0f} MB (max), "
          + ", ".join(f"{p:.0f}" for p in peaks) + " MB by tile")
    units = per_building * CITY_BUILDINGS
    print(f"extrapolated to {CITY_BUILDINGS:,} buildings: {units:.0f} s of worker time "
          f"(+ trees {tree_units / tiles * 99:.0f} s for 99 tiles), on {workers} workers "
          f"≈ {(units + tree_units / tiles * 99) / workers + setup:.0f} s wall")


if __name__ == "__main__":
    main()
