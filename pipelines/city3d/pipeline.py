"""The 3D city as registry kinds: ``lod1_buildings`` and ``trees_3d``.

Both plan one work unit per 1 km tile of the published DTM and hold only that tile's
buildings or trees and DTM window in memory, so a unit costs the same in the 4 km² district
and the 99 km² city (bench/bench_3d.py). A building belongs to the tile of its footprint's
inner point, as in ``building_heights``.

``lod1_buildings`` publishes the LoD1 attributes (ground and roof height, both absolute,
DHHN2016) as Features and GeoPackage, the blocks as CityJSON 2.0 per tile
(``cityjson/<id>_<E>_<N>.city.json``) and as OGC 3D Tiles 1.1 (``3dtiles/tileset.json`` with
one GLB per tile). ``trees_3d`` publishes the conflated trees (trunk and crown from the
measured sizes) as 3D Tiles with instanced glTF.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pydantic import Field
from pyproj import CRS

from geoportal.core.errors import PipelineError, SourceError
from geoportal.core.geometry import transform_bounds
from geoportal.core.publish import (
    FileRecord,
    LayerMetadata,
    file_record,
    now_iso,
    read_metadata,
)
from geoportal.core.registry import OutputRef, Params
from pipelines.base import BuildResult, Pipeline, WorkUnit
from pipelines.city3d import cityjson
from pipelines.city3d.gltf import Part, unit_cylinder, unit_sphere, write_glb
from pipelines.city3d.lod1 import lod1_heights, read_terrain, sample_terrain
from pipelines.city3d.lod2 import building_solids, match_models, read_models
from pipelines.city3d.solids import Surface, mesh, prism
from pipelines.city3d.tileset import (
    GlobeFrame,
    LocalFrame,
    TileEntry,
    box_volume,
    globe_frame,
    to_gltf_axes,
    write_tileset,
)
from pipelines.conform import order_like_schema
from pipelines.solar.roofmodel import ROOF_MODELS
from pipelines.tiles import TILE_SIZE
from pipelines.writers import WRITERS, index_ids

TILESET = "3dtiles/tileset.json"
BUILDING_COLOUR = (0.85, 0.82, 0.78, 1.0)
TRUNK_COLOUR = (0.42, 0.30, 0.20, 1.0)
CROWN_COLOUR = (0.30, 0.55, 0.25, 1.0)


@lru_cache(maxsize=4)
def _globe(crs: str) -> GlobeFrame:
    """One transformation per worker process (pyproj's transformers do not pickle)."""
    return globe_frame(crs)


@dataclass
class TileOutput:
    """What one tile's unit made: its rows, its tileset entry, its files, its stage times."""

    key: str
    rows: gpd.GeoDataFrame
    entry: TileEntry | None
    cityjson: str | None = None
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    lod2: int = 0  # buildings with a LoD2 solid


class Lod1Params(Params):
    """``heights``: the roof heights per footprint; ``terrain``: the DTM (its tiles are the
    work units); ``roofs``: the layer whose fitted roof models (``roof_models.json``) become
    LoD2 (none: LoD1 only); ``geometric_error_m``: the tileset root's error (showing
    nothing)."""

    heights: OutputRef = OutputRef("building_heights")
    terrain: OutputRef = OutputRef("terrain_dtm")
    roofs: OutputRef | None = None
    geometric_error_m: float = Field(default=TILE_SIZE, gt=0)


class City3dPipeline(Pipeline):
    """Planning by the DTM's tiles, and the tileset and metadata both kinds write."""

    Params = Lod1Params

    def terrain_folder(self) -> Path:
        return self.context.published(self.dataset, str(self.params.terrain))

    def plan(self) -> list[WorkUnit]:
        terrain = read_metadata(self.settings.published_dir, str(self.params.terrain))
        keys = sorted({f.unit for f in terrain.files if f.unit}) if terrain else []
        if not keys:
            raise SourceError(f"{self.dataset.id}: the published {self.params.terrain!r} has "
                              f"no tiles; build it first")
        self.terrain_folder()  # a declared dependency, or a clear error
        return [WorkUnit(key=k) for k in keys]

    @staticmethod
    def square(key: str) -> tuple[float, float, float, float]:
        e_km, n_km = (int(v) for v in key.split("_"))
        return e_km * TILE_SIZE, n_km * TILE_SIZE, (e_km + 1) * TILE_SIZE, (n_km + 1) * TILE_SIZE

    def setup(self) -> float:
        """Seconds spent making this process's ECEF transformation (once per worker: PROJ
        looks for the geoid grids), kept apart from the tile's own stage times."""
        clock = time.perf_counter()
        _globe(self.crs)
        return time.perf_counter() - clock

    def mosaic(self) -> str:
        return str(self.terrain_folder() / f"{self.params.terrain}.vrt")

    def tile_frame(self, key: str, height: float) -> LocalFrame:
        x0, y0, x1, y1 = self.square(key)
        return LocalFrame.at(_globe(self.crs), ((x0 + x1) / 2, (y0 + y1) / 2, height))

    @property
    def crs(self) -> str:
        return self.dataset.source.crs if self.dataset.source else "EPSG:25832"

    def tileset(self, outputs: list[TileOutput], staging: Path, note: str) -> FileRecord:
        entries = [o.entry for o in outputs if o.entry is not None]
        if not entries:
            raise PipelineError(f"{self.dataset.id}: no tile has any content")
        path = staging / TILESET
        path.parent.mkdir(parents=True, exist_ok=True)
        globe = _globe(self.crs)
        write_tileset(path, globe, entries, float(self.params.geometric_error_m),
                      {"heights": f"DHHN2016 via the {globe.geoid}", "content": note})
        record = file_record(path, "3dtiles")
        record.path = TILESET
        return record

    def metadata(self, files: list[FileRecord], count: int, bounds: list[float]
                 ) -> LayerMetadata:
        wgs = transform_bounds(bounds, self.crs, "EPSG:4326")
        return LayerMetadata(
            id=self.dataset.id, built_at=now_iso(), modified=now_iso(), feature_count=count,
            rejected_count=0, bbox_wgs84=[round(v, 7) for v in wgs], bbox_native=bounds,
            crs_native=self.crs, source_sha256=None, files=files)

    def headline(self, outputs: list[TileOutput], what: str) -> str:
        stages: dict[str, float] = {}
        for o in outputs:
            for name, seconds in o.seconds.items():
                stages[name] = stages.get(name, 0.0) + seconds
        spent = ", ".join(f"{n} {s:.1f} s" for n, s in stages.items())
        return f"{what} in {len(outputs)} tile(s); worker time: {spent}"


class Lod1BuildingsPipeline(City3dPipeline):
    """LoD1 blocks per footprint: attributes, CityJSON 2.0 per tile, 3D Tiles 1.1."""

    def heights_file(self) -> Path:
        heights = str(self.params.heights)
        return self.context.published(self.dataset, heights) / f"{heights}.gpkg"

    def build(self, unit: WorkUnit, staging: Path) -> TileOutput:
        seconds = {"setup": self.setup()}
        clock = time.perf_counter()
        square = self.square(unit.key)
        houses = self.houses(square)
        seconds["read"], clock = time.perf_counter() - clock, time.perf_counter()
        if houses.empty:
            return TileOutput(unit.key, houses, None, seconds=seconds)
        houses = lod1_heights(houses, read_terrain(self.mosaic(), tuple(houses.total_bounds)))
        seconds["lod1"], clock = time.perf_counter() - clock, time.perf_counter()
        blocks = houses[np.isfinite(houses["roof_m"]) & np.isfinite(houses["ground_m"])]
        blocks = blocks.reset_index(drop=True)
        lod2 = self.lod2(blocks)
        seconds["lod2"], clock = time.perf_counter() - clock, time.perf_counter()
        name = f"cityjson/{self.dataset.id}_{unit.key}.city.json"
        errors = self.write_cityjson(blocks, lod2, staging / name)
        seconds["cityjson"], clock = time.perf_counter() - clock, time.perf_counter()
        entry = self.write_glb(unit.key, blocks, lod2, staging) if len(blocks) else None
        seconds["3dtiles"] = time.perf_counter() - clock
        return TileOutput(unit.key, houses, entry, name if len(blocks) else None, errors,
                          seconds, sum(r is not None for r in lod2))

    def houses(self, square: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
        """The footprints whose inner point lies in the square (read by bounding box)."""
        frame = pyogrio.read_dataframe(self.heights_file(), bbox=square)
        if frame.empty:
            return frame
        inner = frame.geometry.representative_point()
        x0, y0, x1, y1 = square
        mine = ((inner.x >= x0) & (inner.x < x1) & (inner.y >= y0) & (inner.y < y1)).to_numpy()
        frame = frame.loc[mine].rename(columns={"funktion": "function"})
        keep = ["building_id", "function", "height_p95_m", "geometry"]
        return frame[[c for c in keep if c in frame]].reset_index(drop=True)

    def lod2(self, blocks: gpd.GeoDataFrame) -> list[tuple[str, list[list[Surface]]] | None]:
        """Per block its roof type and LoD2 solids from the fitted roof the ``roofs`` layer
        published (read, not fitted again), or None (no model, or refused)."""
        if self.params.roofs is None or blocks.empty:
            return [None] * len(blocks)
        folder = self.context.published(self.dataset, str(self.params.roofs))
        models = match_models(blocks.geometry.to_numpy(), *read_models(folder / ROOF_MODELS))
        out: list[tuple[str, list[list[Surface]]] | None] = []
        for row, model in zip(blocks.itertuples(), models, strict=True):
            solids = building_solids(row.geometry, float(row.ground_m), model)
            out.append((model.roof_type, solids) if model and solids else None)
        return out

    def write_cityjson(self, blocks: gpd.GeoDataFrame,
                       lod2: list[tuple[str, list[list[Surface]]] | None], path: Path
                       ) -> list[str]:
        """The tile's CityJSON file; returns :func:`cityjson.check`'s errors (none expected)."""
        if blocks.empty:
            return []
        buildings = [cityjson.Building(
            row.building_id, row.geometry, float(row.ground_m), float(row.roof_m),
            {"function": row.function, "measuredHeight": float(row.height_m),
             "groundHeight": float(row.ground_m), "roofHeight": float(row.roof_m),
             **({"roofType": roof[0]} if roof else {})},
            roof[1] if roof else None)
            for row, roof in zip(blocks.itertuples(), lod2, strict=True)]
        title = "LoD1 und LoD2" if any(lod2) else "LoD1"
        doc = cityjson.document(buildings, f"{self.dataset.title.de} ({title}, Höhen DHHN2016)",
                                CRS.from_user_input(self.crs).to_epsg() or 25832,
                                self.reference_date())
        path.parent.mkdir(parents=True, exist_ok=True)
        cityjson.write(path, doc)
        errors, _ = cityjson.check(doc)
        return errors

    def reference_date(self) -> str:
        """The heights' last change, not the build's clock: a rebuild of unchanged input
        writes the same bytes, so the catalogue does not see an update."""
        heights = read_metadata(self.settings.published_dir, str(self.params.heights))
        return heights.modified[:10] if heights else now_iso()[:10]

    def write_glb(self, key: str, blocks: gpd.GeoDataFrame,
                  lod2: list[tuple[str, list[list[Surface]]] | None], staging: Path
                  ) -> TileEntry:
        """The tile's GLB: every building's triangles in the tile's east-north-up frame, its
        LoD2 solid where it has one, else its LoD1 block."""
        vertices, normals, ids = [], [], []
        for n, (row, roof) in enumerate(zip(blocks.itertuples(), lod2, strict=True)):
            solids = roof[1] if roof else [
                prism(part, float(row.ground_m), float(row.roof_m))
                for part in shapely.get_parts(row.geometry)]
            for faces in solids:
                v, nv = mesh(faces)
                vertices.append(v)
                normals.append(nv)
                ids.append(np.full(len(v), n))
        utm = np.concatenate(vertices)
        frame = self.tile_frame(key, float(blocks["ground_m"].median()))
        globe = _globe(self.crs)
        local = frame.to_local(globe.to_ecef(utm))
        # the normals turn with the frame: UTM grid north is not true north (−1.7° here)
        turned = frame.to_local(globe.to_ecef(utm + np.concatenate(normals))) - local
        turned /= np.linalg.norm(turned, axis=1, keepdims=True)  # UTM's scale is not 1
        uri = f"tiles/{key}.glb"
        path = staging / "3dtiles" / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        table = {"building_id": blocks["building_id"].to_numpy(object),
                 "ground_m": blocks["ground_m"].to_numpy(float),
                 "roof_m": blocks["roof_m"].to_numpy(float)}
        if any(lod2):
            table["roof_type"] = np.array([r[0] if r else "lod1" for r in lod2], dtype=object)
        write_glb(path, [Part(to_gltf_axes(local), to_gltf_axes(turned), BUILDING_COLOUR,
                              feature_ids=np.concatenate(ids))], table)
        low, high = utm.min(axis=0), utm.max(axis=0)
        return TileEntry(uri, frame.transform(), box_volume(local), (*low, *high))

    def finish(self, results: list[TileOutput], staging: Path) -> BuildResult:
        broken = [f"tile {r.key}: {e}" for r in results for e in r.errors]
        if broken:
            raise PipelineError(f"{self.dataset.id}: invalid CityJSON, not published: "
                                + "; ".join(broken[:5]))
        frames = [r.rows for r in results if not r.rows.empty]
        if not frames:
            raise PipelineError(f"{self.dataset.id}: no footprint in any tile of "
                                f"{self.params.terrain!r}")
        layer = pd.concat(frames, ignore_index=True)
        layer = order_like_schema(gpd.GeoDataFrame(layer, geometry="geometry", crs=self.crs),
                                  self.dataset)
        paths = {fmt: WRITERS[fmt](layer, staging, self.dataset.id)
                 for fmt in self.dataset.outputs}
        if "gpkg" in paths:
            index_ids(paths["gpkg"], self.dataset.id, self.dataset.schema.id_field)
        files = [file_record(p, f) for f, p in paths.items()]
        for r in results:
            if r.cityjson:
                record = file_record(staging / r.cityjson, "cityjson")
                record.path, record.unit = r.cityjson, r.key
                files.append(record)
        files.append(self.tileset(results, staging, "buildings: LoD2 where a roof model "
                                  "exists, else the LoD1 block"))
        blocks = int(np.isfinite(layer["roof_m"]).sum())
        lod2 = sum(r.lod2 for r in results)
        meta = self.metadata(files, len(layer), [float(v) for v in layer.total_bounds])
        result = BuildResult(self.dataset.id, meta, self.headline(
            results, f"{blocks} LoD1 blocks ({lod2} also LoD2) of {len(layer)} footprints"))
        result.warnings.append(f"3D Tiles heights: DHHN2016 via the {_globe(self.crs).geoid}")
        if blocks < len(layer):
            result.warnings.append(f"{len(layer) - blocks} footprint(s) without a measured "
                                   "roof height: attributes only, not in the 3D models")
        return result


class Trees3dParams(Params):
    """``trees``: the conflated trees (measured height and crown, cadastre girth);
    ``terrain``: the DTM they stand on; ``trunk_radius_m``: where no girth is recorded."""

    trees: OutputRef = OutputRef("trees")
    terrain: OutputRef = OutputRef("terrain_dtm")
    trunk_radius_m: float = Field(default=0.15, gt=0, le=3)
    geometric_error_m: float = Field(default=TILE_SIZE, gt=0)


def tree_sizes(trees: pd.DataFrame, default_radius: float) -> pd.DataFrame:
    """Height, crown radii and trunk radius per tree: the laser scan's measurement where the
    tree was found in it, the cadastre's otherwise.

    The crown is an ellipsoid as wide as the measured crown, half as tall as the tree at
    most (a broad crown on a short tree is flat), its top at the tree's height; the trunk
    (radius from the girth) reaches into the crown's centre.
    """
    height = trees["lidar_height_m"].astype(float).fillna(trees["height_m"].astype(float))
    crown = trees["lidar_crown_diameter_m"].astype(float).fillna(
        trees["crown_diameter_m"].astype(float))
    radius = crown / 2
    vertical = np.minimum(radius, height / 4)
    girth = trees["trunk_girth_cm"].astype(float) / 100
    trunk = (girth / (2 * np.pi)).fillna(default_radius).clip(0.05, 1.5)
    return pd.DataFrame({"height": height, "crown_radius": radius, "crown_vertical": vertical,
                         "trunk_radius": trunk, "trunk_height": height - vertical})


class Trees3dPipeline(City3dPipeline):
    """The trees as instanced glTF in 3D Tiles 1.1: one trunk and one crown mesh per tile."""

    Params = Trees3dParams

    def build(self, unit: WorkUnit, staging: Path) -> TileOutput:
        setup = self.setup()
        clock = time.perf_counter()
        square = self.square(unit.key)
        name = str(self.params.trees)
        folder = self.context.published(self.dataset, name)
        trees = pyogrio.read_dataframe(folder / f"{name}.gpkg", bbox=square)
        x, y = trees.geometry.x.to_numpy(), trees.geometry.y.to_numpy()
        trees = trees[(x >= square[0]) & (x < square[2]) & (y >= square[1]) & (y < square[3])]
        sizes = tree_sizes(trees, float(self.params.trunk_radius_m))
        ok = (np.isfinite(sizes["height"]) & np.isfinite(sizes["crown_radius"])).to_numpy()
        trees, sizes = trees[ok], sizes[ok]
        if trees.empty:
            return TileOutput(unit.key, trees, None)
        x, y = trees.geometry.x.to_numpy(), trees.geometry.y.to_numpy()
        ground = sample_terrain(self.mosaic(), x, y)
        ground = np.where(np.isfinite(ground), ground, np.nanmedian(ground))
        entry = self.write_glb(unit.key, np.column_stack([x, y, ground]), sizes, staging)
        out = trees[["tree_id", "geometry"]].assign(ground_m=np.round(ground, 2))
        return TileOutput(unit.key, out, entry,
                          seconds={"setup": setup, "trees": time.perf_counter() - clock})

    def write_glb(self, key: str, base: np.ndarray, sizes: pd.DataFrame,
                  staging: Path) -> TileEntry:
        frame = self.tile_frame(key, float(np.median(base[:, 2])))
        globe = _globe(self.crs)
        feet = to_gltf_axes(frame.to_local(globe.to_ecef(base)))
        trunk_r, trunk_h = sizes["trunk_radius"].to_numpy(), sizes["trunk_height"].to_numpy()
        crown_r, crown_v = sizes["crown_radius"].to_numpy(), sizes["crown_vertical"].to_numpy()
        crown_centre = feet + np.column_stack([np.zeros(len(feet)),
                                               sizes["height"].to_numpy() - crown_v,
                                               np.zeros(len(feet))])
        cyl, sph = unit_cylinder(), unit_sphere()
        parts = [
            Part(cyl[0], cyl[1], TRUNK_COLOUR, indices=cyl[2],
                 instances=(feet, np.column_stack([trunk_r, trunk_h, trunk_r]))),
            Part(sph[0], sph[1], CROWN_COLOUR, indices=sph[2],
                 instances=(crown_centre, np.column_stack([crown_r, crown_v, crown_r]))),
        ]
        uri = f"tiles/{key}.glb"
        path = staging / "3dtiles" / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        write_glb(path, parts)
        # the box holds every crown: feet minus the crown radius to top plus the radius
        top = base + np.column_stack([np.zeros((len(base), 2)), sizes["height"].to_numpy()])
        spread = crown_r[:, None] * np.array([1.0, 1.0, 0.0])
        utm = np.vstack([base - spread, base + spread, top - spread, top + spread])
        local = frame.to_local(globe.to_ecef(utm))
        low, high = utm.min(axis=0), utm.max(axis=0)
        return TileEntry(uri, frame.transform(), box_volume(local), (*low, *high))

    def finish(self, results: list[TileOutput], staging: Path) -> BuildResult:
        files = [self.tileset(results, staging, "trees: trunk and crown, instanced")]
        count = sum(len(r.rows) for r in results)
        bounds = [min(r.entry.utm_bounds[0] for r in results if r.entry),
                  min(r.entry.utm_bounds[1] for r in results if r.entry),
                  max(r.entry.utm_bounds[3] for r in results if r.entry),
                  max(r.entry.utm_bounds[4] for r in results if r.entry)]
        meta = self.metadata(files, count, bounds)
        result = BuildResult(self.dataset.id, meta, self.headline(results, f"{count} trees"))
        result.warnings.append(f"3D Tiles heights: DHHN2016 via the {_globe(self.crs).geoid}")
        return result
