"""The ``heavy_rain`` pipeline kind: the heavy-rain screening products as datasets.

One model run (``pipelines/heavy_rain/model.py``) makes every product: the sinks (polygons),
the flow paths (lines), the sink depth raster and one water-depth raster per scenario. Each
product is its own dataset (``params.product``), so each is served, downloaded and catalogued
like any layer. The model is described once, in the sinks' dataset
(``datasets/heavy_rain_sinks.yml``, ``params.model``); the other products name that dataset
(``model_from``, an :class:`OutputRef`, so it is built first) and reuse its run from the cache
``cache/heavy_rain/<key>``, whose key is a digest of the model, the published terrain and the
input files: nothing is computed twice, and a changed input recomputes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.shutil
from pydantic import Field, field_validator, model_validator

from geoportal.core.errors import RegistryError, SourceError
from geoportal.core.geometry import transform_bounds
from geoportal.core.publish import (
    LayerMetadata,
    atomic_path,
    file_record,
    now_iso,
    read_metadata,
)
from geoportal.core.registry import Dataset, OutputRef, Params, RasterTiles, Strict, Text
from pipelines.base import BuildResult, Pipeline, WorkUnit
from pipelines.heavy_rain import dynamic, exposure, model, simulation, tiled
from pipelines.imagery.webtiles import StyledTiles
from pipelines.lidar.raster import FLOAT_NODATA, overview_factors, write_vrt
from pipelines.writers import WRITERS, index_ids

SCENARIO_ID = r"^[a-z][a-z0-9_]{0,30}$"
METHOD = {
    "de": "Topografische Senkenanalyse (Füllen–Überlaufen–Kaskade), kein 2D-Abflussmodell: "
          "ohne Fließgeschwindigkeiten, ohne Zeitverlauf, ohne Kanalnetz.",
    "en": "Topographic sink analysis (fill–spill cascade), not a 2-D surface-flow model: no "
          "velocities, no time, no sewer network.",
}
DYNAMIC_METHOD = {
    "de": "Gefahrenhinweis aus einer 2D-Oberflächenabflusssimulation (lokal-träge "
          "Flachwassergleichungen, Blockregen, Abflussbeiwerte je Fläche), ohne Kanalnetz.",
    "en": "Hazard indication from a 2-D surface-flow simulation (local-inertial shallow-water "
          "equations, block rain, run-off coefficients per surface), without the sewer network.",
}
EXPOSURE_PRODUCTS = ("building_exposure", "street_exposure")
DYNAMIC_PRODUCTS = ("max_depth", "max_velocity", *EXPOSURE_PRODUCTS)


class Scenario(Strict):
    """A design rain as in the NRW guideline: depth in one hour and heavy-rain index (SRI)."""

    id: str = Field(pattern=SCENARIO_ID)
    title: Text
    rain_mm: float = Field(gt=0, le=500)
    duration_min: int = Field(default=60, gt=0)
    return_period_years: int | None = Field(default=None, gt=0)
    sri: int = Field(ge=1, le=12)


class BurnLine(Strict):
    """A culvert, a bridge opening or a passage the terrain model shows as a dam."""

    name: str = Field(min_length=1)
    kind: Literal["culvert", "bridge", "passage"] = "culvert"
    coordinates: list[tuple[float, float]] = Field(min_length=2)  # in the DTM's CRS


class Surface(Strict):
    """A surface kind with its run-off coefficient, from a vector file of the raw folder;
    lines (streets) are buffered by ``buffer_m``. Later surfaces win where they overlap."""

    name: str = Field(min_length=1)
    path: str = Field(min_length=1)
    layer: str | None = None
    buffer_m: float = Field(default=0.0, ge=0)
    coefficient: float = Field(ge=0, le=1)


class DynamicModel(Strict):
    """The 2-D surface-flow simulation (``model.dynamic``; pipelines/heavy_rain/dynamic.py)."""

    resolution: float = Field(default=2.0, gt=0, le=20)  # m; a multiple of model.resolution
    manning_n: float = Field(default=0.035, gt=0, le=0.2)  # s/m^(1/3)
    after_rain_min: int = Field(default=60, ge=0)  # run-off simulated after the rain stops
    theta: float = Field(default=0.9, ge=0.5, le=1.0)
    advection: bool = True

    def settings(self) -> dynamic.Settings:
        return dynamic.Settings(manning_n=self.manning_n, theta=self.theta,
                                advection=self.advection)


class TiledRun(Strict):
    """The hydrology in tiles of ``tile_cells`` square (``model.tiles``;
    pipelines/heavy_rain/tiled.py), each tile a Dask task: on ``scheduler`` (a cluster's
    ``tcp://host:8786``) or a LocalCluster of ``workers`` (1: in this process)."""

    tile_cells: int = Field(default=2000, ge=16)
    workers: int = Field(default=2, ge=1)
    scheduler: str | None = None


class HeavyRainModel(Strict):
    """The screening model's inputs and settings (``pipeline.params.model``)."""

    dtm: OutputRef = OutputRef("terrain_dtm")
    resolution: float = Field(default=1.0, gt=0, le=10)
    buildings: str = "alkis/gebaeude.gpkg"
    building_raise_m: float = Field(default=10.0, gt=0)
    burn_in: list[BurnLine] = Field(default_factory=list)
    default_coefficient: float = Field(default=0.5, ge=0, le=1)
    surfaces: list[Surface] = Field(default_factory=list)
    min_sink_depth_m: float = Field(default=0.1, ge=0)
    min_sink_area_m2: float = Field(default=10.0, ge=0)
    flow_path_min_area_m2: float = Field(default=10000.0, gt=0)
    depth_classes: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.3, 0.5, 1.0])
    scenarios: list[Scenario] = Field(min_length=1)
    #: The dynamic model; without it only the screening products exist.
    dynamic: DynamicModel | None = None
    #: Fill, D8 and accumulation in tiles on Dask; without it, on the one mosaic.
    tiles: TiledRun | None = None

    @field_validator("depth_classes")
    @classmethod
    def _ascending(cls, bounds: list[float]) -> list[float]:
        if not bounds or any(b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"expected ascending depths in m, got {bounds}")
        return bounds

    @model_validator(mode="after")
    def _unique(self) -> HeavyRainModel:
        ids = [s.id for s in self.scenarios]
        if len(set(ids)) != len(ids):
            raise ValueError(f"scenario ids must be unique, got {ids}")
        return self


class HeavyRainParams(Params):
    """``product`` to publish; the model itself (``model``) or the dataset holding it
    (``model_from``); ``scenario`` for a ``water_depth`` product."""

    product: Literal["sinks", "flow_paths", "sink_depth", "water_depth", "max_depth",
                     "max_velocity", "building_exposure", "street_exposure"]
    model: HeavyRainModel | None = None
    model_from: OutputRef | None = None
    scenario: str | None = Field(default=None, pattern=SCENARIO_ID)
    #: The published layer an exposure product rates (``buildings``, ``streets``).
    exposed: OutputRef | None = None
    #: A street is flooded where the maximum water depth reaches this (m).
    flooded_from_m: float = Field(default=0.1, gt=0)
    #: Map tiles of a raster product (``serve.tiles: raster``), e.g. ``style: water_depth``.
    tiles: StyledTiles = Field(default_factory=lambda: RasterTiles(style="water_depth",
                                                                   format="png"))

    def raster_tiles(self) -> RasterTiles:
        return self.tiles

    @model_validator(mode="after")
    def _one_model(self) -> HeavyRainParams:
        if (self.model is None) == (self.model_from is None):
            raise ValueError("give either 'model' or 'model_from' (the dataset holding it)")
        per_scenario = self.product in ("water_depth", *DYNAMIC_PRODUCTS)
        if per_scenario != (self.scenario is not None):
            raise ValueError("'scenario' is given for, and only for, the products water_depth, "
                             "max_depth and max_velocity")
        if (self.product in EXPOSURE_PRODUCTS) != (self.exposed is not None):
            raise ValueError("'exposed' (the layer to rate) is given for, and only for, the "
                             "products building_exposure and street_exposure")
        if self.model and self.product in DYNAMIC_PRODUCTS and self.model.dynamic is None:
            raise ValueError(f"product {self.product} needs model.dynamic")
        if self.model and self.scenario and self.scenario not in {s.id for s in
                                                                  self.model.scenarios}:
            raise ValueError(f"scenario {self.scenario!r} is not one of model.scenarios")
        return self


class HeavyRainPipeline(Pipeline):
    """One unit: run (or reuse) the model, publish this dataset's product."""

    Params = HeavyRainParams

    def owner(self) -> Dataset:
        """The dataset whose ``params.model`` describes the model."""
        if self.params.model is not None:
            return self.dataset
        owner = self.context.registry[str(self.params.model_from)]
        if not isinstance(owner.pipeline.params, HeavyRainParams) or owner.pipeline.params.model \
                is None:
            raise RegistryError(self.dataset.path or self.dataset.id, [
                f"pipeline.params.model_from: {owner.id!r} holds no heavy-rain model"])
        return owner

    @property
    def model(self) -> HeavyRainModel:
        return self.owner().pipeline.params.model

    def plan(self) -> list[WorkUnit]:
        scenario = self.params.scenario
        if scenario and scenario not in {s.id for s in self.model.scenarios}:
            raise RegistryError(self.dataset.path or self.dataset.id, [
                f"pipeline.params.scenario: {scenario!r} is not one of the model's scenarios"])
        if self.params.product in DYNAMIC_PRODUCTS and self.model.dynamic is None:
            raise RegistryError(self.dataset.path or self.dataset.id, [
                f"pipeline.params.product: {self.params.product} needs the model's 'dynamic' "
                f"(in {self.owner().id})"])
        return [WorkUnit(key=self.dataset.id)]

    @property
    def workers(self) -> int:
        return 1  # one unit; a pool would only add its start-up

    def build(self, unit: WorkUnit, staging: Path) -> Path:
        return ensure_run(self.owner(), self.model, self.context.published(
            self.owner(), str(self.model.dtm)), self.settings.raw_dir,
            self.context.cache_dir("heavy_rain"))

    def finish(self, results: list[Path], staging: Path) -> BuildResult:
        (run,) = results
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        product = self.params.product
        if product in EXPOSURE_PRODUCTS:
            layer = self.exposure(run)
            paths = {f: WRITERS[f](layer, staging, self.dataset.id) for f in self.dataset.outputs}
            if "gpkg" in paths:
                index_ids(paths["gpkg"], self.dataset.id, self.dataset.schema.id_field)
            files, count = [file_record(p, f) for f, p in paths.items()], len(layer)
        elif product in ("sinks", "flow_paths"):
            layer = gpd.read_parquet(run / f"{product}.parquet")
            names = [p.name for p in self.dataset.schema.properties]
            layer = layer[[c for c in names if c in layer.columns] + ["geometry"]]
            paths = {f: WRITERS[f](layer, staging, self.dataset.id) for f in self.dataset.outputs}
            if "gpkg" in paths:
                index_ids(paths["gpkg"], self.dataset.id, self.dataset.schema.id_field)
            files, count = [file_record(p, f) for f, p in paths.items()], len(layer)
        else:
            name = ("sink_depth" if product == "sink_depth"
                    else f"{product}_{self.params.scenario}")
            folder = staging / "tiles"
            folder.mkdir()
            tif = folder / f"{self.dataset.id}.tif"
            shutil.copyfile(run / f"{name}.tif", tif)
            write_vrt(staging / f"{self.dataset.id}.vrt", [tif], summary["crs"])
            record = file_record(tif, "tif")
            record.path = str(tif.relative_to(staging))
            files, count = [record], 1
        native = summary["bbox"]
        wgs = transform_bounds(native, summary["crs"], "EPSG:4326")
        meta = LayerMetadata(id=self.dataset.id, built_at=now_iso(), modified=now_iso(),
                             feature_count=count, rejected_count=0,
                             bbox_wgs84=[round(v, 7) for v in wgs], bbox_native=native,
                             crs_native=summary["crs"], source_sha256=summary["key"],
                             files=files, period=summary.get("terrain_period"))
        # stated with every build and in metadata.json: what the map is, and what it is not
        method = DYNAMIC_METHOD if product in DYNAMIC_PRODUCTS else METHOD
        captured = " to ".join(dict.fromkeys(summary.get("terrain_period") or ["?"]))
        terrain = (f"Terrain: {self.model.dtm} captured {captured}, built "
                   f"{summary.get('terrain_modified', '?')}")
        return BuildResult(self.dataset.id, meta,
                           headline(summary, product, count, self.params.scenario),
                           warnings=[method["en"], terrain])


    def exposure(self, run: Path) -> gpd.GeoDataFrame:
        """The exposed layer rated by this scenario's maximum depth (and velocity)."""
        ref = str(self.params.exposed)
        folder = self.context.published(self.dataset, ref)
        layer = gpd.read_file(folder / f"{ref}.gpkg")
        source = self.context.registry[ref]
        id_field = source.schema.id_field if source.schema else layer.columns[0]
        sid = self.params.scenario
        with rasterio.open(run / f"max_depth_{sid}.tif") as src:
            depth = src.read(1, masked=True).filled(0)
            transform = src.transform
            layer = layer.to_crs(src.crs)
        if self.params.product == "street_exposure":
            return exposure.streets(layer, id_field, depth, transform, self.params.flooded_from_m)
        with rasterio.open(run / f"max_velocity_{sid}.tif") as src:
            speed = src.read(1, masked=True).filled(0)
        return exposure.buildings(layer, id_field, depth, speed, transform,
                                  self.model.depth_classes)


def headline(summary: dict[str, Any], product: str, count: int,
             scenario: str | None = None) -> str:
    reused = " (model run reused)" if summary.get("reused") else ""
    if product in EXPOSURE_PRODUCTS:
        return f"{count} {'buildings' if product == 'building_exposure' else 'street segments'} " \
               f"rated by the maximum depth of {scenario}"
    if product in DYNAMIC_PRODUCTS and scenario:
        run = summary["dynamic"][scenario]
        return (f"{product} of {scenario}: {run['cells']:,} cells of "
                f"{summary['dynamic_resolution']} m, {run['steps']:,} steps in "
                f"{run['seconds']:.1f} s, mass balance {run['balance_error']:.1e}{reused}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["seconds"].items())
    what = {"sinks": f"{count} sinks", "flow_paths": f"{count} flow paths"}.get(product, product)
    return f"{what} on {summary['cells']:,} cells of {summary['resolution']} m{reused}; {stages}"


def say(message: str) -> None:
    """Progress of the long model steps (the executor only reports whole units)."""
    print(f"    heavy_rain: {message}", file=sys.stderr, flush=True)


def run_key(model_: HeavyRainModel, dtm_folder: Path, raw: Path) -> str:
    """A digest of everything the run depends on: the model, the terrain's files, the inputs."""
    meta = read_metadata(dtm_folder.parent, dtm_folder.name)
    inputs = [model_.buildings, *(s.path for s in model_.surfaces)]
    stats = []
    for rel in inputs:
        path = raw / rel
        if not path.exists():
            raise SourceError(f"{path}: input of the heavy-rain model is missing")
        stat = path.stat()
        stats.append((rel, stat.st_size, stat.st_mtime_ns))
    blob = json.dumps([model_.model_dump(mode="json"), meta.content_key() if meta else None,
                       stats], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def ensure_run(owner: Dataset, model_: HeavyRainModel, dtm_folder: Path, raw: Path,
               cache: Path) -> Path:
    """The cached model run for these inputs, computed when there is none."""
    key = run_key(model_, dtm_folder, raw)
    folder = cache / key
    if (folder / "summary.json").exists():
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        if not summary.get("reused"):
            summary["reused"] = True
            (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        meta = read_metadata(dtm_folder.parent, dtm_folder.name)
        run_model(model_, dtm_folder / f"{dtm_folder.name}.vrt", raw, tmp, key,
                  meta.modified if meta else None, meta.period if meta else None)
    return folder


def read_vectors(raw: Path, rel: str, layer: str | None, crs: str) -> gpd.GeoSeries:
    path = raw / rel
    if not path.exists():
        raise SourceError(f"{path}: input of the heavy-rain model is missing")
    frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    if frame.crs is None:
        raise SourceError(f"{path}: has no CRS; expected one such as EPSG:25832")
    return frame.to_crs(crs).geometry


def run_model(m: HeavyRainModel, dtm: Path, raw: Path, out: Path, key: str,
              terrain_modified: str | None = None,
              terrain_period: list[str] | None = None) -> None:
    """Condition the terrain, analyse it, route every scenario; write the products to ``out``.

    ``terrain_period``: when the terrain was captured, as its layer states it
    (``LayerMetadata.period``); every product's metadata repeats it, the catalogue's
    dct:temporal of the map.
    """
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now
        say(f"{name} done ({seconds[name]:.1f} s)")

    say(f"reading the terrain {dtm} at {m.resolution} m")
    z, grid = model.read_dtm(dtm, m.resolution)
    houses = read_vectors(raw, m.buildings, None, grid.crs)
    z, obstacles = model.raise_buildings(z, grid, houses, m.building_raise_m)
    z = model.burn_in(z, grid, [line.coordinates for line in m.burn_in])
    coefficient = np.full(grid.shape, m.default_coefficient, np.float32)
    for surface in m.surfaces:
        shapes = read_vectors(raw, surface.path, surface.layer, grid.crs)
        if surface.buffer_m:
            shapes = shapes.buffer(surface.buffer_m)
        coefficient[model.rasterize(shapes, grid)] = surface.coefficient
    stage("terrain")
    say(f"priority-flood, D8 and accumulation on {z.size:,} cells")
    h = analyse(m, z, grid, obstacles, out / "tiled")
    stage("hydrology")
    sinks = model.sink_table(h)
    paths = model.flow_paths(h, m.flow_path_min_area_m2)
    stage("vectors")
    valid = np.isfinite(z)
    sink_depth = np.where(h.sink.reshape(grid.shape) > 0, np.nan_to_num(h.depth), 0)
    write_cog(out / "sink_depth.tif", np.where(valid, sink_depth, np.nan), grid)
    runoff_share = np.where(valid, coefficient, 0).ravel()
    for scenario in m.scenarios:
        result = model.route_scenario(h, runoff_share * scenario.rain_mm / 1000.0)
        write_cog(out / f"water_depth_{scenario.id}.tif",
                  np.where(valid, result.depth, np.nan), grid)
        labels = np.arange(1, h.count + 1)
        capacity = sinks["volume_m3"].to_numpy() if h.count else np.zeros(0)
        sinks[f"depth_{scenario.id}_m"] = np.round(model.sink_water_depth(h, result), 3)
        sinks[f"stored_{scenario.id}_m3"] = np.round(result.stored[labels], 1)
        sinks[f"inflow_{scenario.id}_m3"] = np.round(result.inflow[labels], 1)
        sinks[f"full_{scenario.id}"] = result.stored[labels] >= 0.999 * capacity
        sinks[f"class_{scenario.id}"] = model.classify(sinks[f"depth_{scenario.id}_m"],
                                                       m.depth_classes).astype(np.int64)
        say(f"scenario {scenario.id}: {scenario.rain_mm} mm, {result.outflow_m3:,.0f} m³ "
            f"leave the area")
    stage("scenarios")
    dyn: dict[str, Any] = {}
    if m.dynamic:
        dyn = run_dynamic(m, m.dynamic, z, obstacles, np.where(valid, coefficient, 0), grid,
                          out)
        stage("dynamic")
    sinks.to_parquet(out / "sinks.parquet")
    paths.to_parquet(out / "flow_paths.parquet")
    left, top = grid.transform.c, grid.transform.f
    bbox = [left, top - grid.shape[0] * grid.resolution, left + grid.shape[1] * grid.resolution,
            top]
    (out / "summary.json").write_text(json.dumps({
        "key": key, "crs": grid.crs, "bbox": bbox, "cells": int(z.size),
        "resolution": m.resolution, "sinks": int(h.count), "flow_paths": len(paths),
        "terrain_modified": terrain_modified, "terrain_period": terrain_period, **dyn,
        "seconds": {k: round(v, 2) for k, v in seconds.items()}}), encoding="utf-8")


def analyse(m: HeavyRainModel, z: np.ndarray, grid: model.Grid, obstacles: np.ndarray,
            scratch: Path) -> model.Hydrology:
    """The hydrology on the mosaic, or in tiles when the model says ``tiles``."""
    if m.tiles is None:
        return model.analyse(z, grid, obstacles, m.min_sink_depth_m, m.min_sink_area_m2)
    with tiled.open_runner(m.tiles.scheduler, m.tiles.workers) as runner:
        h = tiled.analyse(z, grid, obstacles, m.min_sink_depth_m, m.min_sink_area_m2,
                          m.tiles.tile_cells, runner, scratch)
    shutil.rmtree(scratch)
    return h


def run_dynamic(m: HeavyRainModel, d: DynamicModel, z: np.ndarray, obstacles: np.ndarray,
                coefficient: np.ndarray, grid: model.Grid, out: Path) -> dict[str, Any]:
    """The 2-D simulation of every scenario; writes ``max_depth_<id>.tif`` and
    ``max_velocity_<id>.tif`` on the simulation's grid, returns its numbers for summary.json."""
    frame = simulation.coarsen(z, obstacles, coefficient, grid, d.resolution)

    def publish(sid: str, run: simulation.Run) -> None:
        write_cog(out / f"max_depth_{sid}.tif", run.max_depth, frame.grid)
        write_cog(out / f"max_velocity_{sid}.tif", run.max_speed, frame.grid)

    stats = simulation.run_all(frame, [(s.id, s.rain_mm, s.duration_min) for s in m.scenarios],
                               d.after_rain_min, d.settings(), publish, say)
    return {"dynamic_resolution": frame.grid.resolution, "dynamic": stats}


def write_cog(path: Path, data: np.ndarray, grid: model.Grid) -> Path:
    """One float band as a ZSTD COG with overviews; NaN is written as nodata."""
    data = np.where(np.isnan(data), np.float32(FLOAT_NODATA), data).astype(np.float32)
    profile = {"driver": "MEM", "width": grid.shape[1], "height": grid.shape[0], "count": 1,
               "dtype": "float32", "crs": grid.crs, "transform": grid.transform,
               "nodata": FLOAT_NODATA}
    with rasterio.open(f"/vsimem/{path.name}", "w", **profile) as mem:
        mem.write(data, 1)
        mem.build_overviews(overview_factors(grid.shape[1], grid.shape[0], 512),
                            rasterio.enums.Resampling.average)
        rasterio.shutil.copy(mem, path, driver="GTiff", TILED="YES", BLOCKXSIZE=512,
                             BLOCKYSIZE=512, COMPRESS="ZSTD", PREDICTOR=3,
                             COPY_SRC_OVERVIEWS="YES")
    return path
