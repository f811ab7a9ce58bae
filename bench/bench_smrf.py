"""The built-in ground filter (SMRF, ``ground: smrf``) on terrain with relief: its terrain model
against the known ground, on open ground and per slope class.

Cases:

* ``nrw``: the real NRW tile 3dm_32_291_5744 (subset, 3.57 million points) with its classes
  hidden; the truth is the terrain model of its delivered ground classes (2 ground, 26
  synthetic ground), scored where those have points;
* ``hills`` / ``terraces`` / ``embankment``: unclassified synthetic clouds over analytic terrain
  (:mod:`geoportal.app.sample.relief`) with buildings, trees and shrubs on top, at 2, 0.5
  and 0.25 pulses/m², scored ≥ 2 m away from every object. ``under roofs``: the filter's terrain
  model under the buildings (2 m inside the walls) against the model of the true ground
  points, which fills them the same way — a roof taken as ground shows there; ``under
  shrubs``: the model under the shrubs (1–2 m high) against the true ground.

Each case runs twice: the filter as configured (``relief`` 2) and as the paper has it
(``relief`` 0). Targets (issue 16): RMSE ≤ 0.3 m on open ground (< 10°), ≤ 0.5 m per slope
class up to 30°; tests/delivery/test_smrf.py asserts them.

Run:  .venv/bin/python bench/bench_smrf.py [--shared-data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geoportal.app.sample.relief import KINDS, ReliefCloud, relief_cloud  # noqa: E402
from pipelines.lidar.grid import GridSpec  # noqa: E402
from pipelines.lidar.ground import SmrfParams, smrf_ground  # noqa: E402
from pipelines.lidar.score import (  # noqa: E402
    GroundFilterScore,
    ground_cells,
    score_ground_filter,
    terrain_model,
)
from pipelines.pointcloud import read_points, tile_origin  # noqa: E402
from pipelines.tiles import TILE_SIZE  # noqa: E402

NRW_TILE = "nrw-lidar-3dm/3dm_32_291_5744_1_nw_subset.laz"
NRW_GROUND = (2, 26)
RESOLUTION = 0.5  # the DTM's


def nrw_case(path: Path, params: SmrfParams) -> GroundFilterScore:
    points = read_points(path, returns=True)
    origin = tuple(v * TILE_SIZE for v in tile_origin(path))
    spec = GridSpec.for_tile(origin, TILE_SIZE, RESOLUTION)
    truth_ground = np.isin(points.classification, NRW_GROUND)
    measured = np.isfinite(ground_cells(points, truth_ground, spec))
    truth = terrain_model(points, truth_ground, spec)
    return score_ground_filter(points, truth_ground, truth, measured, spec, params)


def relief_case(kind: str, density: float, params: SmrfParams
                ) -> tuple[GroundFilterScore, tuple[float, float]]:
    cloud = relief_cloud(kind, density=density)
    spec = cloud.spec(RESOLUTION)
    result = score_ground_filter(cloud.points, cloud.is_ground, cloud.truth(spec),
                                 cloud.open_cells(spec), spec, params)
    return result, under_objects(cloud, spec, params)


def under_objects(cloud: ReliefCloud, spec: GridSpec, params: SmrfParams
                  ) -> tuple[float, float]:
    """RMSE under the roofs against the model of the true ground points, and under the shrubs
    against the true ground."""
    found = smrf_ground(cloud.points, cloud.spec(params.cell_m), params)
    dtm = terrain_model(cloud.points, found, spec)
    roofs, shrubs = cloud.building_cells(spec), cloud.shrub_cells(spec)
    roof_diff = (dtm - terrain_model(cloud.points, cloud.is_ground, spec))[roofs]
    shrub_diff = (dtm - cloud.truth(spec))[shrubs]
    return tuple(round(float(np.sqrt(np.mean(d ** 2))), 3) for d in (roof_diff, shrub_diff))


def row(case: str, relief: float, s: GroundFilterScore,
        under: tuple[float, float] | None) -> str:
    t = s.terrain
    slopes = " | ".join(f"{v:.3f}" if np.isfinite(v) else "– (none)"
                        for v in t.slope_rmse_m.values())
    return (f"| {case} | {relief:g} | {s.points:,} | {t.open_rmse_m:.3f} | {slopes} | "
            f"{'– | –' if under is None else f'{under[0]:.3f} | {under[1]:.3f}'} | "
            f"{s.precision:.4f} | "
            f"{s.recall:.4f} | {s.seconds:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--densities", type=float, nargs="+", default=[2.0, 0.5, 0.25])
    args = parser.parse_args()
    print("| case | relief | points | RMSE open (<10°) m | RMSE 10–20° m | RMSE 20–30° m | "
          "under roofs m | under shrubs m | precision | recall | SMRF s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for relief in (2.0, 0.0):
        params = replace(SmrfParams(), relief=relief)
        print(row("nrw 3dm_32_291_5744 (classes hidden)", relief,
                  nrw_case(args.shared_data / NRW_TILE, params), None), flush=True)
        for kind in KINDS:
            for density in args.densities:
                result, under = relief_case(kind, density, params)
                print(row(f"{kind} {density:g}/m²", relief, result, under), flush=True)


if __name__ == "__main__":
    main()
