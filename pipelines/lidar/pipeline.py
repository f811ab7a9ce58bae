"""The LiDAR datasets as pipelines: one work unit per 1 km tile, products from the shared cache.

``lidar_raster`` publishes one raster product (``params.product``: dtm, dsm, chm, hillshade) as
per-tile COGs plus a mosaic VRT; ``lidar_trees`` the detected trees; ``building_heights`` roof
heights per ALKIS footprint. All three plan the same tiles and call the same per-tile step, so
whichever is built first decodes the tiles and the others reuse its cache entries.
A tile that fails (corrupt LAZ, no ground points, another CRS) is reported with its reason while
the other tiles complete. A raster product then publishes the good tiles and keeps serving the
failed tile's previous COG (or leaves its square empty on a first build); the run reports the
dataset failed, naming the tile. Trees and building heights, which merge all tiles into one
file, fail as a whole instead, so their previous version stays published.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import Field
from pyproj import CRS

from geoportal.core.errors import PipelineError, RegistryError
from geoportal.core.geometry import transform_bounds
from geoportal.core.publish import (
    FileRecord,
    LayerMetadata,
    cached_digest,
    file_record,
    link_or_copy,
    now_iso,
)
from geoportal.core.registry import RasterTiles, VectorTiles
from pipelines.base import BuildResult, Pipeline, WorkUnit
from pipelines.imagery.webtiles import StyledTiles
from pipelines.lidar.copc import CopcOutcome, copc_path, ensure_copc
from pipelines.lidar.products import (
    LidarOptions,
    LidarParams,
    TileOutcome,
    build_tile,
    products_cached,
    products_key,
)
from pipelines.lidar.raster import write_vrt
from pipelines.lidar.tiles import Tile, discover, fingerprint, flight_period
from pipelines.tiles import TILE_SIZE
from pipelines.vector import link_tiles
from pipelines.writers import WRITERS, index_ids, write_mvt

#: Part of the LiDAR datasets' inputs key beside the tiles' (whose fingerprints carry the
#: tile pass's ALGORITHM_VERSION): raise it when a ``finish`` step publishes differently.
PUBLISH_VERSION = 1


class LidarRasterParams(LidarOptions):
    """A raster dataset also names its ``product`` and how its map tiles are rendered."""

    product: Literal["dtm", "dsm", "chm", "hillshade"] = "dtm"
    tiles: StyledTiles = Field(default_factory=RasterTiles)

    def raster_tiles(self) -> RasterTiles:
        return self.tiles


class LidarPipeline(Pipeline):
    """Shared planning and per-tile building of every LiDAR dataset."""

    Params = LidarOptions

    @property
    def cache(self) -> Path:
        """The tile cache every LiDAR dataset shares (one decode per tile for all products)."""
        return self.context.cache_dir("lidar")

    def lidar_params(self) -> LidarParams:
        return LidarParams.from_options(self.dataset.source.crs, self.params)

    def tiles(self) -> list[Tile]:
        self.check_crs()
        return discover(self.settings.raw_dir, self.dataset.source.path, self.dataset.id,
                        self.lidar_params().layout)

    def check_crs(self) -> None:
        """The products are gridded in metres: the registry's CRS must be projected in metres
        (files in another CRS are reprojected to it)."""
        crs = CRS.from_user_input(self.dataset.source.crs)
        unit = crs.axis_info[0].unit_name if crs.axis_info else "?"
        if not crs.is_projected or crs.axis_info[0].unit_conversion_factor != 1.0:
            raise RegistryError(self.dataset.path or f"datasets/{self.dataset.id}.yml", [
                f"source.crs {self.dataset.source.crs} ({crs.name}, unit {unit}): the LiDAR "
                f"products are gridded in a projected CRS in metres; give one (e.g. the UTM "
                f"zone) and the files' own CRS as pipeline.params.crs_override if they carry "
                f"none"])

    def plan(self) -> list[WorkUnit]:
        params = {"copc": True} if self.copc_published() else {}
        return [WorkUnit(key=t.key, inputs=(t.path,), params=params) for t in self.tiles()]

    def inputs_key(self) -> str:
        """The dataset's definition and every tile's products key (file stamps: no point is
        read), and the COPC files' keys when the tile pass writes them too."""
        tiles, params, raw = self.tiles(), self.lidar_params(), self.settings.raw_dir
        copc = [copc_path(t, params.crs_rule, self.cache).name for t in tiles] \
            if self.copc_published() else []
        return fingerprint(self.dataset.model_dump(mode="json"), PUBLISH_VERSION,
                           [(t.key, products_key(t, tiles, params, raw)) for t in tiles], copc)

    def submission_order(self, units: list[WorkUnit], workers: int) -> list[WorkUnit]:
        """One front of tiles per worker, far apart: the planned (E, N) order cut into
        ``workers`` runs of columns, handed out in turn.

        A tile's products need its eight neighbours binned. In plan order the workers start
        on adjacent tiles and keep meeting on the next column, each waiting while the other
        decodes a tile both need: 222 of 2,694 worker seconds at city scale. Fronts sweeping
        their own columns meet only where one front ends.
        """
        fronts = max(1, min(workers, len(units)))
        size = -(-len(units) // fronts)
        runs = [units[i:i + size] for i in range(0, len(units), size)]
        return [run[i] for i in range(size) for run in runs if i < len(run)]

    def copc_published(self) -> bool:
        """Whether the registry also publishes these tiles as COPC downloads (``lidar_copc``).

        Then the tile pass writes each decoded tile's COPC file from the same records, and the
        ``point_cloud`` dataset only collects them: decoding is paid once for every product.
        """
        rule = self.lidar_params().crs_rule
        return any(d.pipeline.kind == "lidar_copc" and d.source.path == self.dataset.source.path
                   and d.source.crs == self.dataset.source.crs
                   and LidarParams.from_options(d.source.crs, d.pipeline.params).crs_rule == rule
                   for d in self.context.registry)

    @property
    def workers(self) -> int | None:
        """One (in this process) when every tile's products are cached already.

        The datasets built after the first one only look their tiles up; starting a pool of
        fresh processes that import geopandas, rasterio and scikit-image for that cost 3–5 s
        per dataset, a fifth of a six-dataset build on the 4-tile sample.
        """
        tiles, params = self.tiles(), self.lidar_params()
        raw, cache = self.settings.raw_dir, self.cache
        if all(products_cached(t, tiles, params, raw, cache) for t in tiles):
            return 1
        return None

    def build(self, unit: WorkUnit, staging: Path) -> TileOutcome:
        tiles = self.tiles()
        tile = next(t for t in tiles if t.key == unit.key)
        cache, rule = self.cache, self.lidar_params().crs_rule
        copc = (lambda t: copc_path(t, rule, cache)) if unit.params.get("copc") else None
        return build_tile(tile, tiles, self.lidar_params(), self.settings.raw_dir, cache, copc)

    def good(self, results: list[TileOutcome]) -> list[TileOutcome]:
        """The tiles that built; raise when none did (there is nothing new to publish)."""
        good = [r for r in results if not r.error]
        if not good:
            self.check(results)
        return good

    def tile_files(self, results: list[Any], staging: Path, source: Callable[[Any], Path],
                   suffix: str) -> tuple[list[FileRecord], dict[str, str], list[str]]:
        """One published file per tile under ``tiles/``: the good tiles' new files, the failed
        tiles' previous ones (:meth:`Pipeline.keep_previous`). Returns the file records, the
        failed tiles with what became of them, and the keys of the tiles served."""
        folder = staging / "tiles"
        folder.mkdir()
        files, incomplete, served = [], {}, []
        for r in results:
            if r.error:
                kept, incomplete[r.key] = self.keep_previous(r.key, f"tile {r.key}: {r.error}",
                                                             staging)
                files += kept
                served += [r.key] if kept else []
                continue
            cached = source(r)
            path = folder / f"{self.dataset.id}_{r.key}{suffix}"
            link_or_copy(cached, path)
            record = file_record(path, suffix.rsplit(".", 1)[-1], cached_digest(cached))
            record.path, record.unit = str(path.relative_to(staging)), r.key
            files.append(record)
            served.append(r.key)
        return sorted(files, key=lambda f: f.path), incomplete, served

    def check(self, results: list[TileOutcome]) -> list[TileOutcome]:
        """Raise naming every failed tile; the good tiles stay cached for the next run."""
        failed = [r for r in results if r.error]
        if failed:
            reasons = "; ".join(f"tile {r.key}: {r.error}" for r in failed)
            raise PipelineError(f"{len(failed)} of {len(results)} LiDAR tile(s) failed "
                                f"({len(results) - len(failed)} built and cached): {reasons}")
        return results

    def headline(self, results: list[TileOutcome], what: str) -> str:
        reused = sum(r.reused for r in results)
        points = sum(r.points for r in results)
        stages: dict[str, float] = {}
        for r in results:
            for name, seconds in getattr(r, "stage_seconds", {}).items():
                stages[name] = stages.get(name, 0.0) + seconds
        spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in stages.items())
        return (f"{what} from {len(results)} tile(s), {points:,} points "
                f"({reused} tile(s) unchanged, reused)"
                + (f"; worker time: {spent}" if spent else ""))

    def result(self, meta: LayerMetadata, results: list[Any], what: str) -> BuildResult:
        """The build's report: the headline and, once each, what the tiles warned about (a
        header CRS overridden, a reprojection, heights converted, a neighbour left out)."""
        warnings = list(dict.fromkeys(w for r in results for w in getattr(r, "warnings", [])))
        return BuildResult(self.dataset.id, meta, self.headline(results, what),
                           warnings=warnings)

    def metadata(self, files: list, count: int, keys: list[str]) -> LayerMetadata:
        """The layer's record; its extent is that of the tiles ``keys``."""
        tiles = {t.key: t for t in self.tiles()}
        xs = [tiles[k].origin[0] for k in keys]
        ys = [tiles[k].origin[1] for k in keys]
        native = [min(xs), min(ys), max(xs) + TILE_SIZE, max(ys) + TILE_SIZE]
        wgs = transform_bounds(native, self.dataset.source.crs, "EPSG:4326")
        return LayerMetadata(
            id=self.dataset.id, built_at=now_iso(), modified=now_iso(), feature_count=count,
            rejected_count=0, bbox_wgs84=[round(v, 7) for v in wgs], bbox_native=native,
            crs_native=self.dataset.source.crs, source_sha256=None, files=files,
            period=flight_period([tiles[k] for k in keys]))




class LidarRasterPipeline(LidarPipeline):
    """One raster product as per-tile COGs and a mosaic VRT (``<id>.vrt``)."""

    Params = LidarRasterParams

    def finish(self, results: list[TileOutcome], staging: Path) -> BuildResult:
        product = self.params.product
        good = self.good(results)
        files, incomplete, served = self.tile_files(
            results, staging, lambda r: Path(r.folder) / f"{product}.tif", ".tif")
        # The mosaic VRT is the served index (OGC API Coverages), not a download of its own:
        # the catalogue lists the tile COGs, which the VRT references.
        write_vrt(staging / f"{self.dataset.id}.vrt", [staging / f.path for f in files],
                  self.dataset.source.crs)
        meta = self.metadata(files, len(files), served)
        result = self.result(meta, good, f"{product} mosaic")
        result.incomplete = incomplete
        return result


def _collect(results: list[TileOutcome], name: str) -> gpd.GeoDataFrame:
    frames = [gpd.read_parquet(Path(r.folder) / name) for r in results]
    frames = [f for f in frames if not f.empty] or frames[:1]
    return pd.concat(frames, ignore_index=True) if frames else gpd.GeoDataFrame()


class LidarTreesPipeline(LidarPipeline):
    """Detected trees as points (height, crown diameter) plus their crown polygons."""

    def finish(self, results: list[TileOutcome], staging: Path) -> BuildResult:
        self.check(results)
        trees = trees_layer(_collect(results, "trees.parquet"))
        crowns = trees.set_geometry(gpd.GeoSeries.from_wkb(trees.pop("crown"), crs=trees.crs))
        points = trees.drop(columns=["crown"], errors="ignore")
        paths = {fmt: WRITERS[fmt](points, staging, self.dataset.id)
                 for fmt in self.dataset.outputs}
        if "gpkg" in paths:
            index_ids(paths["gpkg"], self.dataset.id, self.dataset.schema.id_field)
        crowns_path = WRITERS["gpkg"](crowns[["tree_id", "height_m", "crown_diameter_m",
                                              "geometry"]], staging, f"{self.dataset.id}_crowns")
        files = [file_record(p, f) for f, p in paths.items()] + [file_record(crowns_path, "gpkg")]
        meta = self.metadata(files, len(points), [r.key for r in results])
        return self.result(meta, results, f"{len(points)} trees")


def trees_layer(raw: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Published columns of detected trees, with an id stable across runs (the top, to 0.1 m)."""
    out = raw.copy()
    out.insert(0, "tree_id", [f"L{x * 10:.0f}_{y * 10:.0f}" for x, y in zip(out.x, out.y,
                                                                             strict=True)])
    return out.drop(columns=["x", "y"]).reset_index(drop=True)


class BuildingHeightsParams(LidarOptions):
    """``tiles``: the zoom range of the vector tiles, when ``outputs`` lists ``mvt`` (the web
    map's 3D view extrudes the footprints by their measured height from them)."""

    tiles: VectorTiles = Field(default_factory=lambda: VectorTiles(minzoom=13, maxzoom=16))

    def vector_tiles(self) -> VectorTiles:
        return self.tiles


class BuildingHeightsPipeline(LidarPipeline):
    """Roof height above terrain (95th percentile and maximum of DSM − DTM) per footprint."""

    Params = BuildingHeightsParams

    def finish(self, results: list[TileOutcome], staging: Path) -> BuildResult:
        self.check(results)
        houses = _collect(results, "buildings.parquet")
        keep = [c for c in ("oid", "funktion", "height_p95_m", "height_max_m") if c in houses]
        layer = houses[[*keep, "geometry"]].rename(columns={"oid": "building_id"})
        # ALKIS object ids are not unique in every delivery (the sample repeats them): the
        # footprint's inner point, to the metre, makes the id unique and stable.
        inner = layer.geometry.representative_point()
        layer["building_id"] = [f"{o}_{x:.0f}_{y:.0f}" for o, x, y in
                                zip(layer["building_id"], inner.x, inner.y, strict=True)]
        layer = layer.drop_duplicates("building_id").reset_index(drop=True)
        layer["height_p95_m"] = layer["height_p95_m"].astype(float)
        paths = {fmt: WRITERS[fmt](layer, staging, self.dataset.id)
                 for fmt in self.dataset.outputs if fmt in WRITERS}
        if "gpkg" in paths:
            index_ids(paths["gpkg"], self.dataset.id, self.dataset.schema.id_field)
        if "mvt" in self.dataset.outputs:  # tippecanoe reads the RFC 7946 download
            zoom = self.params.vector_tiles()
            write_mvt(layer, staging, self.dataset.id, zoom.minzoom, zoom.maxzoom,
                      paths.get("geojson"))
            link_tiles(self.settings.tiles_dir, self.settings.published_dir, self.dataset.id)
        files = [file_record(p, f) for f, p in paths.items()]
        measured = int(np.isfinite(layer["height_p95_m"]).sum())
        meta = self.metadata(files, len(layer), [r.key for r in results])
        return self.result(meta, results, f"{measured} building heights")


class CopcPipeline(LidarPipeline):
    """Each delivered LAZ tile as a COPC download (``tiles/<id>_<E>_<N>.copc.laz``)."""

    def plan(self) -> list[WorkUnit]:
        return [WorkUnit(key=t.key, inputs=(t.path,)) for t in self.tiles()]

    def inputs_key(self) -> str:
        """The dataset's definition and every tile's COPC key (file stamps, the writer)."""
        rule, cache = self.lidar_params().crs_rule, self.cache
        return fingerprint(self.dataset.model_dump(mode="json"), PUBLISH_VERSION,
                           [copc_path(t, rule, cache).name for t in self.tiles()])

    @property
    def workers(self) -> int | None:
        """In-process when the tile pass of an earlier LiDAR dataset wrote every COPC file."""
        rule, cache = self.lidar_params().crs_rule, self.cache
        return 1 if all(copc_path(t, rule, cache).exists() for t in self.tiles()) else None

    def build(self, unit: Any, staging: Path) -> CopcOutcome:
        tile = next(t for t in self.tiles() if t.key == unit.key)
        return ensure_copc(tile, self.lidar_params().crs_rule, self.cache)

    def finish(self, results: list[CopcOutcome], staging: Path) -> BuildResult:
        good = self.good(results)  # type: ignore[arg-type]
        files, incomplete, served = self.tile_files(results, staging,
                                                    lambda r: Path(str(r.path)), ".copc.laz")
        meta = self.metadata(files, len(files), served)
        result = self.result(meta, good, "COPC files")
        result.incomplete = incomplete
        return result
