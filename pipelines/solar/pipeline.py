"""``roof_solar``: the roof solar potential (Solarkataster) per roof plane, one unit per DSM tile.

Reads the published surface model (its per-tile COGs and mosaic), the terrain model and the
building footprints; segments each footprint's roof into planes (:mod:`.roofs`), samples each
plane's interior every ``sample_m``, finds every sample's horizon in the DSM (terrain,
buildings and trees), sums a typical year of pvlib sunlight on it (:mod:`.sky`) and reports
per plane: tilt, orientation, mean yearly irradiation, the loss to shading, the suitable area,
the estimated peak power and the yearly yield. Method and limits: docs/solar.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from pydantic import Field
from rasterio.windows import Window, from_bounds
from scipy import ndimage

from geoportal.core.errors import SourceError
from geoportal.core.publish import (
    LayerMetadata,
    atomic_write_text,
    file_record,
    now_iso,
    read_metadata,
)
from geoportal.core.registry import OutputRef
from pipelines.base import BuildResult, WorkUnit
from pipelines.conform import STORAGE_CRS
from pipelines.solar.roofmodel import (
    ROOF_MODELS,
    Roofs,
    facet_labels,
    fit_footprints,
    model_planes,
    models_json,
)
from pipelines.solar.roofs import Segmentation, from_facets, horizon, interior, merge, segment
from pipelines.solar.sky import Sky, irradiation, make_sky
from pipelines.vector import VectorParams, VectorPipeline, link_tiles

#: Codes in English; the dataset's YAML gives the German labels the popups show (``values``).
ORIENTATIONS = ("north", "north-east", "east", "south-east", "south", "south-west", "west",
                "north-west")


class RoofSolarParams(VectorParams):
    """Inputs, the typical year, the horizon search and the suitability rules (docs/solar.md)."""

    dsm: OutputRef = OutputRef("surface_dsm")
    dtm: OutputRef = OutputRef("terrain_dtm")
    buildings: OutputRef = OutputRef("buildings")
    ghi_kwh_m2: float = Field(default=1000.0, gt=300, lt=2500)
    diffuse_share: float = Field(default=0.5, gt=0, lt=1)
    albedo: float = Field(default=0.2, ge=0, le=1)
    day_step: int = Field(default=6, ge=1, le=30)
    minutes: int = Field(default=20, ge=5, le=60)
    sectors: int = Field(default=36, ge=8, le=360)
    max_distance_m: float = Field(default=150.0, gt=0, le=2000)
    sample_m: float = Field(default=1.0, gt=0, le=10)
    module_height_m: float = Field(default=0.2, ge=0, le=2)
    min_height_m: float = Field(default=2.0, ge=0)
    min_plane_m2: float = Field(default=4.0, gt=0)
    max_angle_deg: float = Field(default=8.0, gt=0, lt=45)
    planarity_m: float = Field(default=0.15, gt=0, le=1)
    flat_roof_deg: float = Field(default=10.0, ge=0, lt=45)
    flat_module_share: float = Field(default=0.5, gt=0, le=1)
    max_tilt_deg: float = Field(default=60.0, gt=0, le=90)
    min_kwh_m2: float = Field(default=800.0, ge=0)
    good_kwh_m2: float = Field(default=950.0, ge=0)
    min_suitable_m2: float = Field(default=5.0, ge=0)
    kwp_per_m2: float = Field(default=0.2, gt=0, le=0.5)
    performance_ratio: float = Field(default=0.8, gt=0, le=1)


class RoofSolarPipeline(VectorPipeline):
    """Roof planes with their solar potential; one work unit per 1 km tile of the DSM."""

    Params = RoofSolarParams

    def folder(self, ref: OutputRef) -> Path:
        return self.context.published(self.dataset, str(ref))

    def mosaic(self, ref: OutputRef) -> Path:
        """The published mosaic of a raster dependency, checked to be in the storage CRS."""
        path = self.folder(ref) / f"{ref}.vrt"
        if not path.exists():
            raise SourceError(f"{path}: the mosaic of {str(ref)!r} is missing; rebuild it "
                              f"(`geoportal build {ref}`)")
        with rasterio.open(path) as src:
            if src.crs is None or src.crs.to_epsg() != 25832:
                raise SourceError(f"{path}: CRS {src.crs} , expected {STORAGE_CRS} (the roof "
                                  f"solar potential is computed in the city's frame)")
        return path

    @property
    def source_file(self) -> Path:
        return self.mosaic(self.params.dsm)

    def plan(self) -> list[WorkUnit]:
        self.mosaic(self.params.dtm)
        meta = read_metadata(self.settings.published_dir, str(self.params.dsm))
        folder = self.folder(self.params.dsm)
        tiles = sorted({f.unit: folder / f.path for f in meta.files if f.unit}.items())
        if not tiles:
            raise SourceError(f"{folder}: the surface model has no tiles")
        return [WorkUnit(key=key, inputs=(path,)) for key, path in tiles]

    def footprints(self) -> gpd.GeoDataFrame:
        ref = self.params.buildings
        path = self.folder(ref) / f"{ref}.gpkg"
        if not path.exists():
            raise SourceError(f"{path}: the footprints of {str(ref)!r} are missing")
        layer = gpd.read_file(path)
        if layer.crs is None or layer.crs.to_epsg() != 25832:
            raise SourceError(f"{path}: CRS {layer.crs}, expected {STORAGE_CRS}")
        return layer

    def build(self, unit: WorkUnit, staging: Path) -> gpd.GeoDataFrame:
        with rasterio.open(unit.inputs[0]) as tile:
            bounds = tuple(tile.bounds)
        houses = self.footprints()
        inner = houses.geometry.representative_point()
        mine = np.asarray(inner.within(shapely.box(*bounds)))
        return roof_solar(self.mosaic(self.params.dsm), self.mosaic(self.params.dtm), houses,
                          mine, bounds, self.params)

    def finish(self, results: list[gpd.GeoDataFrame], staging: Path) -> BuildResult:
        frames = [r for r in results if not r.empty] or results[:1]
        layer = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=STORAGE_CRS)
        models = write_models(layer, staging / ROOF_MODELS)
        layer = layer.drop(columns=[MODEL])
        paths, tiles = self.write_outputs(layer, staging, self.source_file)
        if tiles is not None:
            tiles.wait()
            link_tiles(self.settings.tiles_dir, self.settings.published_dir, self.dataset.id)
        native = [round(float(v), 2) for v in layer.total_bounds]
        wgs84 = [round(float(v), 7) for v in layer.to_crs("EPSG:4326").total_bounds]
        meta = LayerMetadata(id=self.dataset.id, built_at=now_iso(), modified=now_iso(),
                             feature_count=len(layer), rejected_count=0, bbox_wgs84=wgs84,
                             bbox_native=native, crs_native=STORAGE_CRS, source_sha256=None,
                             files=[*(file_record(p, fmt) for fmt, p in paths.items()),
                                    file_record(models, "json")])
        suitable = layer[layer["suitable_area_m2"] > 0]
        roofs = layer.drop_duplicates("building_id")["roof_type"].value_counts()
        headline = (f"{len(layer)} roof planes of {layer['building_id'].nunique()} buildings "
                    f"({', '.join(f'{n} {kind}' for kind, n in roofs.items())}), "
                    f"{len(suitable)} suitable: {suitable['kwp'].sum():,.0f} kWp, "
                    f"{suitable['yield_kwh'].sum() / 1e6:,.2f} GWh/a")
        return BuildResult(self.dataset.id, meta, headline)


def read_window(path: Path, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """The mosaic's cells in ``bounds`` (NaN where it has none, also beyond its edge)."""
    with rasterio.open(path) as src:
        window = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
        data = src.read(1, window=Window(*window.flatten()), boundless=True, masked=True,
                        fill_value=src.nodata)
    return np.asarray(data.astype(float).filled(np.nan))


class Stages(dict):
    """Seconds per stage of :func:`roof_solar`, summed over calls (bench/bench_solar.py)."""

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - start


def roof_solar(dsm_path: Path, dtm_path: Path, houses: gpd.GeoDataFrame, mine: np.ndarray,
               tile: tuple[float, float, float, float], p: RoofSolarParams,
               stages: Stages | None = None) -> gpd.GeoDataFrame:
    """The roof planes of the footprints ``mine`` (inside ``tile``), with their potential."""
    stages = Stages() if stages is None else stages
    with stages.time("read DSM, DTM, footprints"):
        with rasterio.open(dsm_path) as src:
            res = float(src.res[0])
        pad = p.max_distance_m
        bounds = (tile[0] - pad, tile[1] - pad, tile[2] + pad, tile[3] + pad)
        dsm = read_window(dsm_path, bounds)
        dtm = read_window(dtm_path, bounds)
        transform = rasterio.transform.from_origin(bounds[0], bounds[3], res, res)
        footprints = footprint_raster(houses, mine, bounds, dsm.shape, transform)
    origin = (bounds[0], bounds[3])
    with stages.time("roof models and planes"):
        roofs, seg = roof_planes(dsm, dtm, footprints, list(houses.geometry), res, origin, p)
    if not len(seg.tilt):
        return _empty()
    with stages.time("sun and sky (pvlib)"):
        sky = make_sky(p.ghi_kwh_m2, p.diffuse_share, p.albedo, p.day_step, p.minutes)
    plane_table = potential(seg, dsm, res, origin, sky, p, stages)
    with stages.time("plane polygons and table"):
        polygons = plane_polygons(seg.labels, transform)
        plane_table["building_id"] = houses["building_id"].to_numpy()[seg.building]
        plane_table["roof_plane_id"] = [f"{b}_{n}" for b, n in zip(
            plane_table["building_id"], plane_table.groupby("building_id").cumcount() + 1,
            strict=True)]
        for name, values in building_columns(roofs, seg.building).items():
            plane_table[name] = values
        inside = houses.geometry.representative_point().to_numpy()[seg.building]
        plane_table[MODEL] = [json.dumps({"inside": [round(p.x, 3), round(p.y, 3)],
                                          "planes": json.loads(m)})
                              for p, m in zip(inside, plane_table[MODEL], strict=True)]
        layer = gpd.GeoDataFrame(plane_table, geometry=polygons, crs=STORAGE_CRS)
    return layer[[*COLUMNS, MODEL, "geometry"]]


def write_models(layer: gpd.GeoDataFrame, path: Path) -> Path:
    """The roof models of the layer's buildings (:data:`ROOF_MODELS`): what the 3D city's
    LoD2 reads instead of fitting the roofs a second time."""
    first = layer.drop_duplicates("building_id")
    rows = {str(r.building_id): {"roof_type": r.roof_type,
                                 "ground_z_m": float(r.ground_z_m) if np.isfinite(r.ground_z_m)
                                 else None, **json.loads(r.roof_model)}
            for r in first.itertuples()}
    rows = {k: v for k, v in rows.items() if v["planes"]}
    atomic_write_text(path, json.dumps(models_json(rows), separators=(",", ":")))
    return path


def footprint_raster(houses: gpd.GeoDataFrame, mine: np.ndarray, bounds: tuple[float, ...],
                     shape: tuple[int, int], transform: rasterio.Affine) -> np.ndarray:
    """1-based index into ``houses`` per cell of the window, for the footprints ``mine``."""
    near = houses.intersects(shapely.box(*bounds)).to_numpy()
    shapes = [(g, i + 1) for i, (g, n) in enumerate(zip(houses.geometry, near, strict=True))
              if n and g is not None]
    if not shapes:
        return np.zeros(shape, np.int32)
    footprints = rasterio.features.rasterize(shapes, out_shape=shape, transform=transform,
                                             fill=0, dtype="int32")
    wanted = np.concatenate([[False], mine])
    return np.where(wanted[footprints], footprints, 0)


def roof_planes(dsm: np.ndarray, dtm: np.ndarray, footprints: np.ndarray,
                polygons: list[shapely.Geometry], res: float, origin: tuple[float, float],
                p: RoofSolarParams) -> tuple[Roofs, Segmentation]:
    """Each footprint's fitted roof model and its facets as planes; the footprints whose roof
    is complex get the planes region growing finds in them instead (:mod:`.roofmodel`)."""
    roofs = fit_footprints(dsm, dtm, footprints, polygons, res, origin, p.min_height_m)
    min_cells = int(np.ceil(p.min_plane_m2 / res**2))
    labels, planes = facet_labels(roofs, footprints, res, origin, min_cells)
    fitted = from_facets(labels, np.array([i for i, _ in planes], np.int64),
                         np.array([(f.a, f.b, f.c) for _, f in planes]).reshape(-1, 3),
                         np.array([roofs.fits[i].rms_m for i, _ in planes]))
    windows = ndimage.find_objects(footprints)
    for index, fit in roofs.fits.items():
        if fit.roof_type == "complex":
            fitted = merge(fitted, grow_planes(dsm, dtm, footprints, index, windows[index], res,
                                               origin, p))
    return roofs, fitted


def grow_planes(dsm: np.ndarray, dtm: np.ndarray, footprints: np.ndarray, index: int,
                window: tuple[slice, slice], res: float, origin: tuple[float, float],
                p: RoofSolarParams) -> Segmentation:
    """Region growing's planes of one footprint, run on its own cells only (on the whole
    window it would cost seconds per complex roof), as labels over the whole window."""
    rows = slice(max(window[0].start - 2, 0), window[0].stop + 2)
    cols = slice(max(window[1].start - 2, 0), window[1].stop + 2)
    mine = np.where(footprints[rows, cols] == index + 1, index + 1, 0)
    here = (origin[0] + cols.start * res, origin[1] - rows.start * res)
    grown = segment(dsm[rows, cols], dsm[rows, cols] - dtm[rows, cols], mine, res, here,
                    min_height_m=p.min_height_m, planarity_m=p.planarity_m,
                    max_angle_deg=p.max_angle_deg, min_plane_m2=p.min_plane_m2)
    labels = np.zeros(footprints.shape, np.int32)
    labels[rows, cols] = grown.labels
    return replace(grown, labels=labels)


def building_columns(roofs: Roofs, building: np.ndarray) -> dict[str, np.ndarray]:
    """The roof model of each plane's building (type, heights above ground, ridge, slope)."""
    fits = [roofs.fits[int(i)] for i in building]
    ground = np.array([roofs.ground[int(i)] for i in building])
    return {
        "roof_type": np.array([f.roof_type for f in fits], dtype=object),
        "ground_z_m": ground.round(2),
        "eave_height_m": (np.array([f.eave_z for f in fits]) - ground).round(2),
        "ridge_height_m": (np.array([f.ridge_z for f in fits]) - ground).round(2),
        "ridge_azimuth_deg": np.array([f.ridge_azimuth_deg for f in fits]).round(1),
        "roof_slope_deg": np.array([f.slope_deg for f in fits]).round(1),
        MODEL: np.array([json.dumps(model_planes(f)) for f in fits], dtype=object),
    }


COLUMNS = ["roof_plane_id", "building_id", "tilt_deg", "azimuth_deg", "orientation", "area_m2",
           "irradiation_kwh_m2", "shading_loss_pct", "suitable_area_m2", "suitability", "kwp",
           "yield_kwh", "roof_type", "ground_z_m", "eave_height_m", "ridge_height_m",
           "ridge_azimuth_deg", "roof_slope_deg"]


#: The building's roof model planes (JSON) on each plane row, taken off into :data:`ROOF_MODELS`
#: before the layer is written.
MODEL = "roof_model"


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in [*COLUMNS, MODEL]}, geometry=[], crs=STORAGE_CRS)


def samples(seg: Segmentation, res: float, sample_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the sample points: the planes' interior cells on a ``sample_m``
    grid, plus each plane's first interior cell so that no plane goes without one."""
    core = interior(np.where(seg.labels > 0, seg.labels, -1)) & (seg.labels > 0)
    step = max(1, round(sample_m / res))
    grid = np.zeros_like(core)
    grid[::step, ::step] = True
    rows, cols = np.nonzero(core & grid)
    all_rows, all_cols = np.nonzero(core)
    _, first = np.unique(seg.labels[all_rows, all_cols], return_index=True)
    points = np.unique(np.concatenate([
        np.stack([rows, cols], 1), np.stack([all_rows[first], all_cols[first]], 1)]), axis=0)
    return points[:, 0], points[:, 1]


def potential(seg: Segmentation, dsm: np.ndarray, res: float, origin: tuple[float, float],
              sky: Sky, p: RoofSolarParams, stages: Stages) -> pd.DataFrame:
    """Per plane: orientation, mean irradiation, shading loss, suitable area, kWp and yield."""
    rows, cols = samples(seg, res, p.sample_m)
    plane = seg.labels[rows, cols] - 1
    x = origin[0] + (cols + 0.5) * res
    y = origin[1] - (rows + 0.5) * res
    a, b, c = seg.coef[plane].T
    z = a * x + b * y + c + p.module_height_m
    with stages.time("horizon (DSM rays)"):
        seen = horizon(dsm, res, rows.astype(float), cols.astype(float), z, p.sectors,
                       p.max_distance_m)
    with stages.time("irradiation"):
        shaded = irradiation(sky, seg.tilt, seg.azimuth, plane, seen)
        open_sky = irradiation(sky, seg.tilt, seg.azimuth, plane, np.zeros_like(seen))
    n = len(seg.tilt)
    count = np.bincount(plane, minlength=n)
    mean = np.bincount(plane, shaded, n) / count
    unshaded = np.bincount(plane, open_sky, n) / count
    good = (shaded >= p.min_kwh_m2) & (seg.tilt[plane] <= p.max_tilt_deg)
    share = np.bincount(plane, good, n) / count
    good_mean = np.bincount(plane, shaded * good, n) / np.maximum(np.bincount(plane, good, n), 1)
    slope = 1 / np.cos(np.radians(seg.tilt))
    core = interior(np.where(seg.labels > 0, seg.labels, -1)) & (seg.labels > 0)
    core_cells = np.bincount(seg.labels[core] - 1, minlength=n)
    suitable = share * core_cells * res**2 * slope
    suitable = np.where(suitable >= p.min_suitable_m2, suitable, 0.0)
    flat = seg.tilt < p.flat_roof_deg
    kwp = suitable * np.where(flat, p.flat_module_share, 1.0) * p.kwp_per_m2
    return pd.DataFrame({
        "tilt_deg": seg.tilt.round(1),
        "azimuth_deg": np.where(flat, np.nan, seg.azimuth.round(0)),
        "orientation": orientation(seg.tilt, seg.azimuth, p.flat_roof_deg),
        "area_m2": (seg.cells * res**2 * slope).round(1),
        "irradiation_kwh_m2": mean.round(0),
        "shading_loss_pct": (100 * (1 - mean / unshaded)).round(1),
        "suitable_area_m2": suitable.round(1),
        "suitability": suitability(mean, suitable, p),
        "kwp": kwp.round(1),
        "yield_kwh": (kwp * good_mean * p.performance_ratio).round(-1),
    })


def orientation(tilt: np.ndarray, azimuth: np.ndarray, flat_deg: float) -> list[str]:
    """'flat' or the compass direction (one of eight) the plane faces."""
    sector = (((azimuth + 22.5) % 360) // 45).astype(int)
    return ["flat" if t < flat_deg else ORIENTATIONS[s] for t, s in
            zip(tilt, sector, strict=True)]


def suitability(mean: np.ndarray, suitable: np.ndarray, p: RoofSolarParams) -> list[str]:
    """The class a Solarkataster's legend shows (English codes; German labels in the YAML)."""
    out = []
    for m, s in zip(mean, suitable, strict=True):
        if s <= 0:
            out.append("unsuitable")
        elif m >= p.good_kwh_m2:
            out.append("very good")
        elif m >= p.min_kwh_m2:
            out.append("good")
        else:
            out.append("limited")
    return out


def plane_polygons(labels: np.ndarray, transform: rasterio.Affine) -> list[shapely.Geometry]:
    """One (multi)polygon per plane label 1..n, from the cells, slightly simplified."""
    parts: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(labels, mask=labels > 0, transform=transform):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    out = []
    for label in range(1, int(labels.max()) + 1):
        merged = shapely.union_all(parts.get(label, []))
        out.append(shapely.simplify(merged, 0.25, preserve_topology=True))
    return out
