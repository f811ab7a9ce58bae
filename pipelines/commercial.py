"""The commercial-space finder: free office and commercial space, with its accessibility.

Each offer of the economic development office is published as the vector pipeline reads it, plus,
computed here on the road network (:mod:`pipelines.network`), for every kind of target named in
the registry (airport, motorway junction, S-Bahn station, bus stop):

- ``<target>_name`` (and further named attributes, e.g. the junction's motorways),
- ``<target>_network_distance_m`` and ``<target>_travel_time_min`` along the roads,
- ``<target>_straight_line_distance_m``, to the same target, labelled as straight line;

and, for every kind of amenity, ``<amenity>_within_walk``: how many lie within the walking
distance along walkable roads. Offers the network cannot reach get empty values and a report entry.

Targets are read with the project's own readers (``reference/`` files described like a registry
source). An amenity is a registry dataset (``dataset: schools``, read from its raw source, so the
result does not depend on the order in which layers are built), a target (``target: bus_stop``),
or a raw file described like a source, optionally narrowed to one kind of row
(``where: {kategorie: restaurant}``): one list of restaurants, cafés and shops gives a count per
kind.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pydantic import Field, PositiveFloat, model_validator

from geoportal.core.errors import RegistryError
from geoportal.core.registry import DatasetRef, Source, Strict
from pipelines.conform import STORAGE_CRS, conform, to_storage_crs
from pipelines.network import Nearest, RoadNetwork
from pipelines.readers import RowFilterError, read_source
from pipelines.rejects import RejectsReport
from pipelines.vector import VectorParams, VectorPipeline

DEFAULT_WALK_M = 800.0
DEFAULT_MAX_SNAP_M = 500.0
TARGET_SUFFIXES = ("name", "network_distance_m", "travel_time_min", "straight_line_distance_m")


class Target(Source):
    """A kind of destination (airport, junction, station, stop): a raw file described like a
    dataset's ``source``, plus which column names each one (``name``) and which further
    columns to publish (``also``: published suffix → column)."""

    name: str = "name"
    also: dict[str, str] = Field(default_factory=dict)


class Amenity(Strict):
    """What is counted within walking distance: a registry dataset (``dataset``, read from its
    raw source), a target (``target``), or a raw file described inline like a ``source``,
    optionally narrowed to some rows like any source (``where: {column: value or [values]}``,
    :func:`pipelines.readers.apply_row_filter`)."""

    dataset: DatasetRef | None = None
    target: str | None = None
    source: Source | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline_source(cls, data: Any) -> Any:
        """``{path: ..., geometry: ...}`` written inline is the ``source``."""
        if isinstance(data, dict) and "path" in data:
            own = {k: v for k, v in data.items() if k in ("dataset", "target")}
            rest = {k: v for k, v in data.items() if k not in own}
            return {**own, "source": rest}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Amenity:
        given = [k for k in ("dataset", "target", "source") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("expected exactly one of 'dataset', 'target' or a source 'path'"
                             + (f", got {given}" if given else ""))
        return self


class CommercialParams(VectorParams):
    """The road network, the walking distance and snap limit, the targets and amenities."""

    network: str = "reference/strassennetz.gpkg"
    walking_distance_m: PositiveFloat = DEFAULT_WALK_M
    max_snap_m: PositiveFloat = DEFAULT_MAX_SNAP_M
    targets: dict[str, Target] = Field(default_factory=dict)
    amenities: dict[str, Amenity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_targets(self) -> CommercialParams:
        """An amenity counted at a target names one of ``targets`` (checked when the registry
        loads, like every other parameter mistake)."""
        for key, amenity in self.amenities.items():
            if amenity.target is not None and amenity.target not in self.targets:
                raise ValueError(f"amenities.{key}: unknown target {amenity.target!r}; "
                                 f"known: {sorted(self.targets)}")
        return self


class CommercialPipeline(VectorPipeline):
    """Offers read and conformed like any point layer, then measured on the road network."""

    Params = CommercialParams

    def derive(self, layer: gpd.GeoDataFrame, report: RejectsReport) -> gpd.GeoDataFrame:
        targets: dict[str, Target] = self.params.targets
        amenities: dict[str, Amenity] = self.params.amenities
        self._check_schema(targets, amenities)
        network = RoadNetwork(self._network())
        origins = shapely.get_coordinates(layer.geometry.values).reshape(-1, 2)
        ids = layer[self.dataset.schema.id_field].to_numpy()
        max_snap = float(self.params.max_snap_m)
        out = layer.copy()
        points: dict[str, tuple[np.ndarray, gpd.GeoDataFrame]] = {}
        for key, target in targets.items():
            table = self._read_points(target, key)
            xy = shapely.get_coordinates(table.geometry.values).reshape(-1, 2)
            points[key] = (xy, table)
            found = network.nearest(origins, xy, max_snap)
            _put_target(out, key, found, table, target)
            for offer in ids[found.target < 0]:
                report.add(0, "nulled", f"no route to a {key.replace('_', ' ')} (offer more than "
                           f"{max_snap:g} m from the road network, or no connection)",
                           self.dataset.schema.id_field, offer)
        walk = float(self.params.walking_distance_m)
        for key, amenity in amenities.items():
            xy = (points[amenity.target][0] if amenity.target is not None
                  else self._amenity_points(key, amenity))
            out[f"{key}_within_walk"] = pd.array(network.count_within(origins, xy, walk),
                                                 dtype="Int64")
        return out

    # -- inputs ------------------------------------------------------------------------------

    def _network(self) -> gpd.GeoDataFrame:
        path = self.settings.raw_dir / self.params.network
        if not path.exists():
            raise self._error(f"pipeline.params.network: road network {path} not found")
        return pyogrio.read_dataframe(path).to_crs(STORAGE_CRS)

    def _read_points(self, source: Source, key: str) -> gpd.GeoDataFrame:
        report = RejectsReport(f"{self.dataset.id}:{key}", source.path)
        table = read_source(source, self.settings.raw_dir, report)
        keep = np.array([g is not None for g in table.geometry], dtype=bool)
        frame = table.frame[keep].reset_index(drop=True)
        geometry = to_storage_crs(np.asarray(table.geometry[keep], dtype=object), table.crs,
                                  source, self.dataset.id, report)
        return gpd.GeoDataFrame(frame, geometry=shapely.point_on_surface(geometry.values),
                                crs=STORAGE_CRS)

    def _amenity_points(self, key: str, amenity: Amenity) -> np.ndarray:
        if amenity.dataset is not None:
            return self._dataset_points(amenity.dataset)
        assert amenity.source is not None  # one of the three, checked by Amenity
        try:
            table = self._read_points(amenity.source, key)
        except RowFilterError as exc:
            raise self._error(f"pipeline.params.amenities.{key}.where: {exc}") from None
        return shapely.get_coordinates(table.geometry.values).reshape(-1, 2)

    def _dataset_points(self, dataset_id: str) -> np.ndarray:
        dataset = self.context.registry[dataset_id]
        report = RejectsReport(dataset.id, dataset.source.path)
        table = read_source(dataset.source, self.settings.raw_dir, report)
        layer = conform(table, dataset, report)
        return shapely.get_coordinates(shapely.point_on_surface(layer.geometry.values))

    # -- checks ------------------------------------------------------------------------------

    def _check_schema(self, targets: dict[str, Target], amenities: dict[str, Amenity]) -> None:
        """The schema lists exactly the computed properties, so each has titles and a type."""
        produced = {f"{key}_{suffix}" for key, target in targets.items()
                    for suffix in (*TARGET_SUFFIXES, *target.also)}
        produced |= {f"{key}_within_walk" for key in amenities}
        declared = {p.name for p in self.dataset.schema.properties if p.computed}
        if produced != declared:
            raise self._error(
                f"schema: computed properties do not match the pipeline's results; missing "
                f"{sorted(produced - declared)}, not produced {sorted(declared - produced)}")

    def _error(self, problem: str) -> RegistryError:
        return RegistryError(self.dataset.path or self.dataset.id, [problem])


def _put_target(out: gpd.GeoDataFrame, key: str, found: Nearest, table: gpd.GeoDataFrame,
                target: Target) -> None:
    reached = found.target >= 0
    pick = np.where(reached, found.target, 0)

    def attribute(column: str) -> pd.Series:
        if column not in table.columns or len(table) == 0:
            return pd.Series([None] * len(out), dtype=object, index=out.index)
        values = np.asarray(table[column], dtype=object)[pick]
        return pd.Series(np.where(reached, values, None), dtype=object, index=out.index)

    out[f"{key}_name"] = attribute(target.name)
    for name, column in target.also.items():
        out[f"{key}_{name}"] = attribute(column)
    out[f"{key}_network_distance_m"] = pd.array(np.round(found.network_m), dtype="Float64")
    out[f"{key}_travel_time_min"] = pd.array(np.round(found.minutes, 1), dtype="Float64")
    out[f"{key}_straight_line_distance_m"] = pd.array(np.round(found.straight_m),
                                                      dtype="Float64")
