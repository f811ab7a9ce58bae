"""The vector pipeline: a point, line or area layer from one CSV, GeoJSON, GeoPackage, Shapefile or
NAS file, described entirely by its registry entry — adding such a layer takes one YAML file.

A delivery that does not fit its description is refused as a whole rather than published thin:
when more than ``max_rejected_pct`` of its rows (5 % by default; rows the ``source.where``
filter leaves out do not count) are rejected, the build of that dataset fails, the previous
version stays served, and the rejects report is kept under ``<data>/rejects/<id>/`` for the
data owner (until a build of the dataset succeeds). Typically the id the YAML names is not
unique in the delivery (a street number instead of street + tree number), or a column holds
something else than it used to.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import geopandas as gpd
from pydantic import Field

from geoportal.core.errors import PublishError, SourceError, TooManyRejectsError
from geoportal.core.publish import (
    LayerMetadata,
    atomic_write_text,
    file_record,
    now_iso,
    sha256_file,
    swap_link,
)
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

#: Where the rejects report of a refused delivery is kept (under the data folder), since no
#: version folder is published for it.
REFUSED_REPORTS = "rejects"


class VectorParams(Params):
    """``tiles``: the zoom range of the vector tiles, when ``outputs`` lists ``mvt``;
    ``max_rejected_pct``: the share of rows that may be rejected before the build fails."""

    tiles: VectorTiles = Field(default_factory=VectorTiles)
    max_rejected_pct: float = Field(default=5.0, ge=0, le=100)

    def vector_tiles(self) -> VectorTiles:
        return self.tiles


class VectorPipeline(Pipeline):
    """Read → conform to the schema → write every output format, plus the rejects report."""

    Params = VectorParams

    @property
    def source_file(self) -> Path:
        """The raw input on this machine (reports name it as the registry does, relative)."""
        return self.settings.raw_dir / self.dataset.source.path

    def plan(self) -> list[WorkUnit]:
        path = self.source_file
        if not path.exists():
            raise SourceError(
                f"{path}: source file of dataset {self.dataset.id!r} not found "
                f"(datasets/{self.dataset.id}.yml source.path; run `geoportal sample` for the demo)"
            )
        return [WorkUnit(key=self.dataset.id, inputs=(path,))]

    def build(self, unit: WorkUnit, staging: Path) -> tuple[gpd.GeoDataFrame, RejectsReport]:
        report = RejectsReport(self.dataset.id, self.dataset.source.path)
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
        self.check_rejected_share(report)
        paths, tiles = self.write_outputs(layer, staging, self.source_file)
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
            source_sha256=sha256_file(self.source_file),
            files=files,
        )
        return BuildResult(self.dataset.id, metadata, report.headline(),
                           warnings=list(report.warnings))

    def check_rejected_share(self, report: RejectsReport) -> None:
        """Fail the dataset when more rows were rejected than ``max_rejected_pct`` allows,
        keeping its rejects report where the message says (the staging folder goes away)."""
        share = report.rejected_share * 100
        limit = float(self.params.max_rejected_pct)
        folder = self.settings.data_dir / REFUSED_REPORTS / self.dataset.id
        if share <= limit:  # a refusal's report would now describe an older delivery
            shutil.rmtree(folder, ignore_errors=True)
            return
        atomic_write_text(folder / "rejects.csv", report.to_csv())
        atomic_write_text(folder / "report.json", report.to_json())
        reasons = report.summary()["by_reason"]
        worst = max((r for r in reasons if r.startswith("rejected")), key=reasons.get)
        raise TooManyRejectsError(
            f"{share:.1f} % of the {report.rows_read - report.rows_filtered} rows of "
            f"{self.source_file} were rejected ({len(report.rejected_lines)} rows; most often "
            f"{worst!r}: {reasons[worst]}), more than the {limit:g} % allowed "
            f"(pipeline.params.max_rejected_pct in datasets/{self.dataset.id}.yml); nothing "
            f"published, the previous version stays. Rejects report: {folder / 'rejects.csv'}")


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
