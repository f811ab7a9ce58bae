"""Roof solar potential of the sample district (4 km², four 1 km tiles), timed by stage.

In one run:

1. the inputs are built as the registry builds them (``surface_dsm``, ``terrain_dtm``,
   ``buildings``), timed as a whole: the peer that puts the solar stages in proportion;
2. ``roof_solar`` per DSM tile, exactly as the pipeline calls it, with its stage times summed
   over the tiles (:class:`pipelines.solar.pipeline.Stages`): reading, roof models, pvlib's
   sky, the DSM horizon, the irradiation sums, the polygons; then the GeoPackage written;
3. the peer for the irradiation sums: pvlib's ``get_total_irradiance`` (isotropic) hour by
   hour over the year for every plane, unshaded, against our sampled sums for the same planes
   without horizon (time and agreement);
4. the roofs scored against the generator's truth (type, ridge, slope), and the peak memory.

    python bench/bench_solar.py [--raw var/raw] [--density 4] [--roofs all]

``--roofs all`` generates the district with the generator's opt-in roofs (hipped, shed and
stepped "complex" ones beside flat and gabled) and scores each type on its own.

Without ``--raw`` the default district is generated into a temporary folder at ``--density``
points/m² (the DSM is 0.5 m whatever the density; the demo's 15 points/m² take minutes more to
generate and grid, not to compute the solar potential).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pvlib
import rasterio
import shapely

from geoportal.app.sample import DISTRICTS, SampleSpec, generate
from geoportal.app.sample.truth import roof_truth
from geoportal.core.publish import read_metadata
from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings
from pipelines.build import build_all
from pipelines.solar.pipeline import RoofSolarParams, Stages, roof_solar
from pipelines.solar.score import score_by_type, score_roofs
from pipelines.solar.sky import irradiation, make_sky, typical_year

INPUTS = ["surface_dsm", "terrain_dtm", "buildings"]


def settings_in(base: Path, raw: Path) -> Settings:
    """A data folder of its own over the raw delivery ``raw``."""
    return Settings.from_env({"GEOPORTAL_DATA_DIR": str(base), "GEOPORTAL_RAW_DIR": str(raw),
                              "GEOPORTAL_TILES_DIR": str(base / "tiles")})


def solar(settings: Settings, params: RoofSolarParams) -> tuple[gpd.GeoDataFrame, Stages]:
    """Every tile's roof planes, as the pipeline computes them, with the stage times."""
    pub = settings.published_dir
    houses = gpd.read_file(pub / "buildings" / "buildings.gpkg")
    inner = houses.geometry.representative_point()
    stages, parts = Stages(), []
    meta = read_metadata(pub, "surface_dsm")
    for record in sorted({f.unit: f for f in meta.files if f.unit}.values(),
                         key=lambda f: f.unit):
        with rasterio.open(pub / "surface_dsm" / record.path) as tile:
            bounds = tuple(tile.bounds)
        mine = np.asarray(inner.within(shapely.box(*bounds)))
        parts.append(roof_solar(pub / "surface_dsm" / "surface_dsm.vrt",
                                pub / "terrain_dtm" / "terrain_dtm.vrt", houses, mine, bounds,
                                params, stages))
    layer = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
    with stages.time("write GeoPackage"), tempfile.TemporaryDirectory() as tmp:
        layer.to_file(Path(tmp) / "roof_solar.gpkg")
    return layer, stages


def peer_pvlib(layer: gpd.GeoDataFrame, params: RoofSolarParams) -> tuple[float, float, float]:
    """(pvlib hourly seconds, our sampled seconds, largest relative difference) for the
    unshaded yearly sums of every plane."""
    tilt = layer["tilt_deg"].to_numpy(float)
    azimuth = np.nan_to_num(layer["azimuth_deg"].to_numpy(float), nan=180.0)
    start = time.perf_counter()
    times = pd.date_range("2023-01-01 00:30", periods=8760, freq="h", tz="UTC")
    year = typical_year(times, params.ghi_kwh_m2, params.diffuse_share)
    theirs = np.empty(len(layer))
    for i, (t, a) in enumerate(zip(tilt, azimuth, strict=True)):
        poa = pvlib.irradiance.get_total_irradiance(
            t, a, year["apparent_zenith"], year["azimuth"], year["dni"], year["ghi"],
            year["dhi"], albedo=params.albedo, model="isotropic")
        theirs[i] = poa["poa_global"].fillna(0).sum() / 1000
    pvlib_s = time.perf_counter() - start
    start = time.perf_counter()
    sky = make_sky(params.ghi_kwh_m2, params.diffuse_share, params.albedo, params.day_step,
                   params.minutes)
    ours = irradiation(sky, tilt, azimuth, np.arange(len(layer)),
                       np.zeros((len(layer), params.sectors)))
    ours_s = time.perf_counter() - start
    return pvlib_s, ours_s, float(np.max(np.abs(ours / theirs - 1)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", type=Path, help="an already generated default district")
    parser.add_argument("--density", type=float, default=4.0)
    parser.add_argument("--roofs", choices=["flat_gabled", "all"], default="flat_gabled",
                        help="the generator's roof types (all: also hipped, shed, complex)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-solar-") as tmp:
        raw = args.raw or Path(tmp) / "raw"
        if args.raw is None:
            start = time.perf_counter()
            generate(SampleSpec(tiles=DISTRICTS["default"], seed=42, lidar_density=args.density,
                                ortho_resolution=4.0, ortho_jp2=False, roofs=args.roofs), raw)
            print(f"sample district generated in {time.perf_counter() - start:.1f} s "
                  f"({args.density} points/m²)")
        settings = settings_in(Path(tmp) / "data", raw)
        registry = load_registry(settings.datasets_dir)
        start = time.perf_counter()
        summary = build_all(registry, settings, INPUTS, echo=lambda _: None)
        assert summary.ok, summary.lines()
        inputs_s = time.perf_counter() - start
        params = registry["roof_solar"].pipeline.params
        start = time.perf_counter()
        layer, stages = solar(settings, params)
        solar_s = time.perf_counter() - start
        pvlib_s, ours_s, worst = peer_pvlib(layer, params)
        truth = roof_truth(raw)
        score = score_roofs(layer, truth[truth["in_alkis"]])
        by_type = score_by_type(layer, truth[truth["in_alkis"]])
    report(layer, stages, solar_s, inputs_s, (pvlib_s, ours_s, worst), score)
    for kind, s in by_type.items():
        print(f"  {kind:<8} {s.buildings:5} roofs: type {s.type_accuracy:6.1%}, ridge RMSE "
              f"{s.ridge_rmse_m:.2f} m, slope RMSE {s.slope_rmse_deg:.1f}°, found as "
              f"{s.confusion.get(kind, {})}")


def report(layer, stages, solar_s, inputs_s, peer, score) -> None:
    suitable = layer[layer["suitable_area_m2"] > 0]
    print(f"{len(layer):,} roof planes of {layer['building_id'].nunique():,} buildings, "
          f"{len(suitable):,} suitable: {suitable['kwp'].sum():,.0f} kWp, "
          f"{suitable['yield_kwh'].sum() / 1e6:,.2f} GWh/a")
    print(f"inputs (DSM, DTM, footprints) built   {inputs_s:8.1f} s")
    print(f"roof solar potential, all tiles      {solar_s:8.1f} s  "
          f"(ratio to the inputs {solar_s / inputs_s:.2f})")
    for name, seconds in stages.items():
        print(f"  {name:<34} {seconds:8.1f} s  {seconds / solar_s:6.1%}")
    pvlib_s, ours_s, worst = peer
    print(f"unshaded yearly sums, {len(layer):,} planes: pvlib hourly {pvlib_s:.2f} s, ours "
          f"sampled {ours_s:.2f} s (ratio {pvlib_s / ours_s:.1f}), largest difference "
          f"{worst:.2%}")
    print(f"roofs vs truth: {score.found} of {score.buildings} found, type accuracy "
          f"{score.type_accuracy:.1%}, ridge RMSE {score.ridge_rmse_m:.2f} m "
          f"(all {score.ridge_rmse_all_m:.2f} m), slope RMSE {score.slope_rmse_deg:.1f}°, "
          f"confusion {score.confusion}")
    print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}"
          " MB")


if __name__ == "__main__":
    main()
