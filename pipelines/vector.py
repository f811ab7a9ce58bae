"""The vector pipeline: a point, line or area layer from one CSV, GeoJSON, GeoPackage, Shapefile or
NAS file, described entirely by its registry entry — adding such a layer takes one YAML file.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
from pydantic import Field

from geoportal.core.errors import PublishError, SourceError
from geoportal.core.publish import LayerMetadata, file_record, now_iso, sha256_file, swap_link
from geoportal.core.registry import Params, VectorTiles
from pipelines.base import BuildResult, Pipeline, WorkUnit
from pipelines.conform import STORAGE_CRS, conform, order_like_schema
from pipelines.readers import read_source
from pipelines.rejects import RejectsReport
from pipelines.writers import (
    TILES_FOLDER,
    WRITERS,
    TileJob,
    content_timestamp,
    index_ids,
    start_mvt,
)


class VectorParams(Params):
    """``tiles``: the zoom range of the vector tiles, when ``outputs`` lists ``mvt``."""

    tiles: VectorTiles = Field(default_factory=VectorTiles)

    def vector_tiles(self) -> VectorTiles:
        return self.tiles


class VectorPipeline(Pipeline):
    """Read → conform to the schema → write every output format, plus the rejects report."""

    Params = VectorParams

    def plan(self) -> list[WorkUnit]:
        path = self.settings.raw_dir / self.dataset.source.path
        if not path.exists():
            raise SourceError(
                f"{path}: source file of dataset {self.dataset.id!r} not found "
                f"(datasets/{self.dataset.id}.yml source.path; run `geoportal sample` for the demo)"
            )
        return [WorkUnit(key=self.dataset.id, inputs=(path,))]

    def build(self, unit: WorkUnit, staging: Path) -> tuple[gpd.GeoDataFrame, RejectsReport]:
        report = RejectsReport(self.dataset.id, str(unit.inputs[0]))
        table = read_source(self.dataset.source, self.settings.raw_dir, report)
        layer = self.derive(conform(table, self.dataset, report), report)
        return order_like_schema(layer, self.dataset), report

    def derive(self, layer: gpd.GeoDataFrame, report: RejectsReport) -> gpd.GeoDataFrame:
        """Add the schema's ``computed`` properties; layers with checks or analyses override it."""
        return layer

    def finish(
        self, results: list[tuple[gpd.GeoDataFrame, RejectsReport]], staging: Path
    ) -> BuildResult:
        (layer, report), = results
        paths, tiles = self.write_outputs(layer, staging, Path(report.source))
        if tiles is not None:
            tiles.wait()
            link_tiles(self.settings.tiles_dir, self.settings.published_dir, self.dataset.id)
        files = [file_record(path, fmt) for fmt, path in paths.items()]
        (staging / "rejects.csv").write_text(report.to_csv(), encoding="utf-8")
        (staging / "report.json").write_text(report.to_json(), encoding="utf-8")
        metadata = LayerMetadata(
            id=self.dataset.id,
            built_at=now_iso(),
            modified=now_iso(),
            feature_count=len(layer),
            rejected_count=len(report.rejected_lines),
            bbox_wgs84=_bounds(layer.to_crs("EPSG:4326"), 7),
            bbox_native=_bounds(layer, 2),
            crs_native=STORAGE_CRS,
            source_sha256=sha256_file(Path(report.source)),
            files=files,
        )
        return BuildResult(self.dataset.id, metadata, report.headline())


    def write_outputs(self, layer: gpd.GeoDataFrame, staging: Path, source: Path
                      ) -> tuple[dict[str, Path], TileJob | None]:
        """Write the download formats while tippecanoe builds the vector tiles alongside.

        GeoJSON goes first: tippecanoe reads that file (no extra input to write) and runs in
        its own process while GeoPackage (+ id index), CSV and GeoParquet are written here. Tiles
        live inside the version folder and are reached through ``tiles_dir/<id>``, a fixed link to
        ``published/<id>/tiles`` that follows every atomic swap.
        """
        wanted = [fmt for fmt in self.dataset.outputs if fmt in WRITERS]
        wanted.sort(key=lambda fmt: fmt != "geojson")
        zoom = self.params.tiles
        tiles: TileJob | None = None
        paths: dict[str, Path] = {}
        try:
            with content_timestamp(source):
                for fmt in wanted:
                    if tiles is None and fmt != "geojson":
                        tiles = self._start_tiles(layer, staging, zoom, paths.get("geojson"))
                    paths[fmt] = WRITERS[fmt](layer, staging, self.dataset.id)
                if tiles is None:
                    tiles = self._start_tiles(layer, staging, zoom, paths.get("geojson"))
            if "gpkg" in paths:
                index_ids(paths["gpkg"], self.dataset.id, self.dataset.schema.id_field)
        except BaseException:
            if tiles is not None:
                tiles.cancel()
            raise
        return paths, tiles

    def _start_tiles(self, layer: gpd.GeoDataFrame, staging: Path, zoom: VectorTiles,
                     geojson: Path | None) -> TileJob | None:
        if "mvt" not in self.dataset.outputs:
            return None
        return start_mvt(layer, staging, self.dataset.id, zoom.minzoom, zoom.maxzoom, geojson)


def link_tiles(tiles_dir: Path, published_dir: Path, dataset_id: str) -> Path:
    """Point ``tiles_dir/<id>`` at the published version's tile folder (idempotent, atomic)."""
    link = tiles_dir / dataset_id
    target = published_dir / dataset_id / TILES_FOLDER
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} exists and is not a link to published tiles; remove it")
    swap_link(link, target)
    return link


def _bounds(layer: gpd.GeoDataFrame, digits: int) -> list[float] | None:
    if layer.empty:
        return None
    return [round(float(v), digits) for v in layer.total_bounds]
