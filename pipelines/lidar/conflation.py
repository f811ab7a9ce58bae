"""The tree cadastre conflated with the trees detected in the laser scan (issue #3).

Each cadastre tree is matched one-to-one to a detected tree top within ``max_distance_m`` (a
linear assignment on the distances, :func:`pipelines.lidar.score.match`, the same matcher the
detection is scored with), and gains the measured height and crown diameter. A cadastre tree
inside the scanned tiles without a partner is flagged ``not_found`` — felled since the cadastre
was last updated, or recorded at the wrong place — and listed in the layer's report; one outside
the scanned tiles keeps empty LiDAR fields (not surveyed is not "not found"). Detected trees that
no cadastre tree claimed are the separate dataset ``trees_not_in_cadastre``.

Both datasets read the *published* ``trees_lidar`` layer (a typed :class:`OutputRef`
parameter, so a build runs the detection first, and refuses to publish without it); the
matching parameters live once, in ``datasets/trees.yml``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import Field

from geoportal.core.errors import RegistryError, SourceError
from geoportal.core.publish import read_metadata
from geoportal.core.registry import OutputRef
from pipelines.base import BuildResult, WorkUnit
from pipelines.conform import STORAGE_CRS, conform, order_like_schema
from pipelines.lidar.products import LidarParams
from pipelines.lidar.score import match
from pipelines.lidar.tiles import Tile, discover, file_stamp, fingerprint, flight_dates
from pipelines.readers import read_source
from pipelines.rejects import RejectsReport
from pipelines.vector import VectorParams, VectorPipeline

DEFAULT_MAX_DISTANCE_M = 3.0
#: Part of the conflation's inputs key: raise it when a code change alters the published
#: layer, or a no-change rebuild keeps the layer the old code made.
CONFLATION_VERSION = 1
FOUND, NOT_FOUND = "found", "not_found"
LIDAR_FIELDS = ("lidar_status", "lidar_year", "lidar_height_m", "lidar_crown_diameter_m",
                "lidar_distance_m", "lidar_tree_id")


@dataclass
class LidarTrees:
    """The published detected trees, the scanned area and the flight year."""

    trees: gpd.GeoDataFrame
    coverage: shapely.Geometry
    year: int | None


@dataclass
class Conflation:
    """The cadastre with its LiDAR fields, and the detected trees no cadastre tree claimed."""

    cadastre: gpd.GeoDataFrame
    unmatched: gpd.GeoDataFrame
    year: int | None
    max_distance: float

    def counts(self) -> Counter:
        return Counter(self.cadastre["lidar_status"].fillna("outside the scan"))


def conflate(cadastre: gpd.GeoDataFrame, lidar: LidarTrees, max_distance: float) -> Conflation:
    """Match one-to-one within ``max_distance`` and add the ``lidar_*`` fields to the cadastre."""
    c_xy = shapely.get_coordinates(cadastre.geometry.values).reshape(-1, 2)
    trees = lidar.trees
    l_xy = shapely.get_coordinates(trees.geometry.values).reshape(-1, 2)
    pairs = match(c_xy, l_xy, max_distance)
    ci = np.array([p[0] for p in pairs], dtype=int)
    li = np.array([p[1] for p in pairs], dtype=int)
    dist = np.array([p[2] for p in pairs], dtype=float)
    scanned = shapely.contains_xy(lidar.coverage, c_xy[:, 0], c_xy[:, 1]) if len(c_xy) else \
        np.zeros(0, bool)

    n = len(cadastre)
    status = np.where(scanned, NOT_FOUND, None).astype(object)
    status[ci] = FOUND
    out = cadastre.copy()
    out["lidar_status"] = pd.array(status, dtype="string")
    out["lidar_year"] = pd.array([lidar.year if s is not None else None for s in status],
                                 dtype="Int64")
    out["lidar_height_m"] = _at(n, ci, trees["height_m"].to_numpy(float)[li], 2)
    out["lidar_crown_diameter_m"] = _at(n, ci, trees["crown_diameter_m"].to_numpy(float)[li], 2)
    out["lidar_distance_m"] = _at(n, ci, dist, 2)
    tree_ids = np.full(n, None, dtype=object)
    tree_ids[ci] = trees["tree_id"].to_numpy()[li]
    out["lidar_tree_id"] = pd.array(tree_ids, dtype="string")

    claimed = np.zeros(len(trees), bool)
    claimed[li] = True
    unmatched = trees.loc[~claimed, ["tree_id", "height_m", "crown_diameter_m", "geometry"]]
    unmatched = unmatched.reset_index(drop=True)
    unmatched["lidar_year"] = pd.array([lidar.year] * len(unmatched), dtype="Int64")
    return Conflation(out, unmatched, lidar.year, max_distance)


def _at(n: int, index: np.ndarray, values: np.ndarray, digits: int) -> pd.arrays.FloatingArray:
    """A nullable float column with ``values`` at ``index`` and empty elsewhere."""
    column = np.full(n, np.nan)
    column[index] = np.round(values, digits)
    return pd.array(np.where(np.isnan(column), None, column), dtype="Float64")


def flight_year(tiles: list[Tile]) -> int | None:
    """The year most tiles were flown."""
    years = [d.year for d in flight_dates(tiles)]
    return Counter(years).most_common(1)[0][0] if years else None


def coverage(tiles: list[Tile]) -> shapely.Geometry:
    """The scanned area: the union of the 1 km tile squares."""
    squares = [shapely.box(*t.bounds) for t in tiles]
    return shapely.union_all(squares) if squares else shapely.Polygon()


class ConflationParams(VectorParams):
    """``lidar_trees``: the detected trees' dataset; ``max_distance_m``: how far a cadastre
    tree's partner may lie; ``lidar_year``: the flight year (default: the LAS headers')."""

    lidar_trees: OutputRef = OutputRef("trees_lidar")
    max_distance_m: float = Field(default=DEFAULT_MAX_DISTANCE_M, gt=0, le=50)
    lidar_year: int | None = Field(default=None, ge=1990, le=2100)


class TreeConflationPipeline(VectorPipeline):
    """The cadastre read like any point layer, then conflated with the published LiDAR trees.

    Without a published ``lidar_trees`` layer the build refuses (a cadastre published with
    empty LiDAR fields would look like "no tree measured"); ``geoportal build trees`` builds
    the detection first, since the parameter is a dependency.
    """

    Params = ConflationParams

    def derive(self, layer: gpd.GeoDataFrame, report: RejectsReport) -> gpd.GeoDataFrame:
        self._check_schema()
        result = conflate(layer, self.lidar_trees(), self.max_distance)
        self._report(result, report)
        return result.cadastre

    def finish(self, results: list[tuple[gpd.GeoDataFrame, RejectsReport]],
               staging: Path) -> BuildResult:
        result = super().finish(results, staging)
        status = results[0][0]["lidar_status"]
        result.headline += (f"; LiDAR: {int((status == FOUND).sum())} found, "
                            f"{int((status == NOT_FOUND).sum())} not found")
        return result

    def inputs_key(self) -> str | None:
        """The cadastre's file stamp, the published detected trees' files (their digests) and
        the scan's tile stamps (its extent and flight year), with the dataset's definition;
        None while the detected trees are not published (the build then says so)."""
        lidar_dataset = self.context.registry[self.lidar_id]
        published = read_metadata(self.settings.published_dir, lidar_dataset.id)
        if published is None:
            return None
        try:
            tiles = discover(self.settings.raw_dir, lidar_dataset.source.path, lidar_dataset.id,
                             LidarParams.from_options(lidar_dataset.source.crs,
                                                      lidar_dataset.pipeline.params).layout)
        except SourceError:
            tiles = []
        return fingerprint(self.dataset.model_dump(mode="json"), file_stamp(self.source_file),
                           published.content_key(), [file_stamp(t.path) for t in tiles],
                           CONFLATION_VERSION)

    def conflation(self) -> Conflation:
        """Read and conform the cadastre and conflate it (for ``trees_not_in_cadastre``)."""
        report = RejectsReport(self.dataset.id, self.dataset.source.path)
        layer = conform(read_source(self.dataset.source, self.settings.raw_dir, report),
                        self.dataset, report)
        return conflate(layer, self.lidar_trees(), self.max_distance)

    @property
    def lidar_id(self) -> str:
        return str(self.params.lidar_trees)

    @property
    def max_distance(self) -> float:
        return float(self.params.max_distance_m)

    def lidar_trees(self) -> LidarTrees:
        """The published detected trees with their scan's extent and year."""
        lidar_dataset = self.context.registry[self.lidar_id]
        folder = self.context.published(self.dataset, lidar_dataset.id)
        trees = gpd.read_file(folder / f"{lidar_dataset.id}.gpkg").to_crs(STORAGE_CRS)
        try:
            layout = LidarParams.from_options(lidar_dataset.source.crs,
                                              lidar_dataset.pipeline.params).layout
            tiles = discover(self.settings.raw_dir, lidar_dataset.source.path, lidar_dataset.id,
                             layout)
        except SourceError:  # the raw tiles moved away: the detected trees still tell the extent
            tiles = []
        area = coverage(tiles) if tiles else shapely.box(*trees.total_bounds)
        year = self.params.lidar_year or (flight_year(tiles) if tiles else None)
        return LidarTrees(trees, area, int(year) if year else None)

    def _check_schema(self) -> None:
        names = {p.name for p in self.dataset.schema.properties}
        missing = [n for n in LIDAR_FIELDS if n not in names]
        if missing:
            raise RegistryError(self.dataset.path or self.dataset.id, [
                f"schema: the tree conflation needs the computed properties {missing}"])

    def _report(self, result: Conflation, report: RejectsReport) -> None:
        """Every cadastre tree not found in the scan, by id, in the layer's report."""
        id_field = self.dataset.schema.id_field
        lost = result.cadastre[result.cadastre["lidar_status"] == NOT_FOUND]
        year = result.year if result.year is not None else "?"
        for tree_id in lost[id_field]:
            report.add(0, "flagged", f"not found in LiDAR {year}: no detected tree within "
                       f"{result.max_distance:g} m", id_field, tree_id)


_DTYPES = {"lidar_status": "string", "lidar_year": "Int64", "lidar_height_m": "Float64",
           "lidar_crown_diameter_m": "Float64", "lidar_distance_m": "Float64",
           "lidar_tree_id": "string"}


class TreesNotInCadastreParams(VectorParams):
    """``conflation``: the tree conflation dataset whose unmatched detections this lists."""

    conflation: OutputRef = OutputRef("trees")


class TreesNotInCadastrePipeline(VectorPipeline):
    """Detected trees that no cadastre tree claimed, from the conflation of ``params.conflation``.

    The matching runs again here with the conflation dataset's own parameters (they live once,
    in its YAML), on the same published inputs, so the two layers always partition the scan.
    """

    Params = TreesNotInCadastreParams

    def source_pipeline(self) -> TreeConflationPipeline:
        dataset = self.context.registry[str(self.params.conflation)]
        if not isinstance(dataset.pipeline.params, ConflationParams):
            raise RegistryError(self.dataset.path or self.dataset.id, [
                f"pipeline.params.conflation: {dataset.id!r} is a "
                f"{dataset.pipeline.kind!r} dataset, expected a tree_conflation one"])
        return TreeConflationPipeline(dataset, self.context)

    def plan(self) -> list[WorkUnit]:
        return self.source_pipeline().plan()

    def inputs_key(self) -> str | None:
        """What the conflation it repeats reads, with this dataset's definition."""
        source = self.source_pipeline().inputs_key()
        return None if source is None else fingerprint(self.dataset.model_dump(mode="json"),
                                                       source)

    @property
    def source_file(self) -> Path:
        return self.source_pipeline().source_file

    def build(self, unit: WorkUnit, staging: Path) -> tuple[gpd.GeoDataFrame, RejectsReport]:
        source = self.source_pipeline()
        report = RejectsReport(self.dataset.id, source.dataset.source.path)
        result = source.conflation()
        unmatched = result.unmatched
        report.rows_read = report.rows_published = len(unmatched)
        return order_like_schema(unmatched, self.dataset), report
