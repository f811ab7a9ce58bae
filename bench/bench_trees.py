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

Run:  .venv/bin/python bench/bench_trees.py --raw <sample raw folder> [--work <folder>]
      (make one with ``geoportal sample --district tiny`` or ``default``; density 15 pts/m²)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd

from geoportal.build import build_all
from geoportal.registry import load_registry
from geoportal.settings import PROJECT_ROOT, Settings
from pipelines.lidar.score import complete_sample_truth, score

IDS = ["trees_lidar", "trees", "trees_not_in_cadastre"]


def settings_for(work: Path, raw: Path) -> Settings:
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "raw").exists():
        (work / "raw").symlink_to(raw.resolve())
    return Settings.from_env({"GEOPORTAL_HOME": str(PROJECT_ROOT),
                              "GEOPORTAL_DATA_DIR": str(work),
                              "GEOPORTAL_RAW_DIR": str(work / "raw"),
                              "GEOPORTAL_TILES_DIR": str(work / "tiles")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-trees-"))
    settings = settings_for(work, args.raw)
    started = time.perf_counter()
    summary = build_all(load_registry(settings.datasets_dir), settings, IDS)
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


if __name__ == "__main__":
    main()
