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
from pydantic import ValidationError

from geoportal.core.errors import RegistryError
from geoportal.core.registry import Source, load_registry
from pipelines.conform import STORAGE_CRS, conform
from pipelines.network import Nearest, RoadNetwork
from pipelines.readers import read_source
from pipelines.rejects import RejectsReport
from pipelines.vector import VectorPipeline

DEFAULT_WALK_M = 800.0
DEFAULT_MAX_SNAP_M = 500.0
TARGET_SUFFIXES = ("name", "network_distance_m", "travel_time_min", "straight_line_distance_m")


class CommercialPipeline(VectorPipeline):
    """Offers read and conformed like any point layer, then measured on the road network."""

    def derive(self, layer: gpd.GeoDataFrame, report: RejectsReport) -> gpd.GeoDataFrame:
        targets = self._targets()
        amenities = self.params.get("amenities", {})
        self._check_schema(targets, amenities)
        network = RoadNetwork(self._network())
        origins = shapely.get_coordinates(layer.geometry.values).reshape(-1, 2)
        ids = layer[self.dataset.schema.id_field].to_numpy()
        max_snap = float(self.params.get("max_snap_m", DEFAULT_MAX_SNAP_M))
        out = layer.copy()
        points: dict[str, tuple[np.ndarray, gpd.GeoDataFrame]] = {}
        for key, spec in targets.items():
            table = self._read_points(spec["source"], key)
            xy = shapely.get_coordinates(table.geometry.values).reshape(-1, 2)
            points[key] = (xy, table)
            found = network.nearest(origins, xy, max_snap)
            _put_target(out, key, found, table, spec)
            for offer in ids[found.target < 0]:
                report.add(0, "nulled", f"no route to a {key.replace('_', ' ')} (offer more than "
                           f"{max_snap:g} m from the road network, or no connection)",
                           self.dataset.schema.id_field, offer)
        walk = float(self.params.get("walking_distance_m", DEFAULT_WALK_M))
        for key, spec in amenities.items():
            xy = points[spec["target"]][0] if "target" in spec else self._amenity_points(key, spec)
            out[f"{key}_within_walk"] = pd.array(network.count_within(origins, xy, walk),
                                                 dtype="Int64")
        return out

    # -- inputs ------------------------------------------------------------------------------

    def _targets(self) -> dict[str, dict[str, Any]]:
        targets = {}
        for key, raw in self.params.get("targets", {}).items():
            spec = dict(raw)
            name = spec.pop("name", "name")
            also = spec.pop("also", {})
            source = self._source(spec, f"pipeline.params.targets.{key}")
            targets[key] = {"source": source, "name": name, "also": also}
        return targets

    def _source(self, spec: dict[str, Any], where: str) -> Source:
        """A raw input described inline in the params, checked like a dataset's ``source``."""
        try:
            return Source.model_validate(spec)
        except ValidationError as exc:
            raise self._error(f"{where}: {exc.errors()[0]['msg']}") from None

    def _network(self) -> gpd.GeoDataFrame:
        path = self.settings.raw_dir / self.params.get("network", "reference/strassennetz.gpkg")
        if not path.exists():
            raise self._error(f"pipeline.params.network: road network {path} not found")
        return pyogrio.read_dataframe(path).to_crs(STORAGE_CRS)

    def _read_points(self, source: Source, key: str) -> gpd.GeoDataFrame:
        report = RejectsReport(f"{self.dataset.id}:{key}", source.path)
        table = read_source(source, self.settings.raw_dir, report)
        keep = np.array([g is not None for g in table.geometry], dtype=bool)
        frame = table.frame[keep].reset_index(drop=True)
        geometry = gpd.GeoSeries(list(table.geometry[keep]), crs=table.crs).to_crs(STORAGE_CRS)
        return gpd.GeoDataFrame(frame, geometry=shapely.point_on_surface(geometry.values),
                                crs=STORAGE_CRS)

    def _amenity_points(self, key: str, spec: dict[str, Any]) -> np.ndarray:
        if "dataset" in spec:
            return self._dataset_points(spec["dataset"])
        spec = dict(spec)
        where = spec.pop("where", {})
        source = self._source(spec, f"pipeline.params.amenities.{key}")
        table = self._read_points(source, key)
        keep = np.ones(len(table), dtype=bool)
        for column, wanted in where.items():
            if column not in table.columns:
                raise self._error(f"pipeline.params.amenities.{key}.where: {source.path} has no "
                                  f"column {column!r}; it has {sorted(table.columns)}")
            allowed = {str(v) for v in (wanted if isinstance(wanted, list) else [wanted])}
            keep &= table[column].astype(str).isin(allowed).to_numpy()
        return shapely.get_coordinates(table.geometry.values[keep]).reshape(-1, 2)

    def _dataset_points(self, dataset_id: str) -> np.ndarray:
        registry = load_registry(self.settings.datasets_dir)
        dataset = registry[dataset_id]
        report = RejectsReport(dataset.id, dataset.source.path)
        table = read_source(dataset.source, self.settings.raw_dir, report)
        layer = conform(table, dataset, report)
        return shapely.get_coordinates(shapely.point_on_surface(layer.geometry.values))

    # -- checks ------------------------------------------------------------------------------

    def _check_schema(self, targets: dict[str, dict[str, Any]],
                      amenities: dict[str, Any]) -> None:
        """The schema lists exactly the computed properties, so each has titles and a type."""
        produced = {f"{key}_{suffix}" for key, spec in targets.items()
                    for suffix in (*TARGET_SUFFIXES, *spec["also"])}
        produced |= {f"{key}_within_walk" for key in amenities}
        for key, spec in amenities.items():
            if "target" in spec and spec["target"] not in targets:
                raise self._error(f"pipeline.params.amenities.{key}: unknown target "
                                  f"{spec['target']!r}; known: {sorted(targets)}")
        declared = {p.name for p in self.dataset.schema.properties if p.computed}
        if produced != declared:
            raise self._error(
                f"schema: computed properties do not match the pipeline's results; missing "
                f"{sorted(produced - declared)}, not produced {sorted(declared - produced)}")

    def _error(self, problem: str) -> RegistryError:
        return RegistryError(self.dataset.path or self.dataset.id, [problem])


def _put_target(out: gpd.GeoDataFrame, key: str, found: Nearest, table: gpd.GeoDataFrame,
                spec: dict[str, Any]) -> None:
    reached = found.target >= 0
    pick = np.where(reached, found.target, 0)

    def attribute(column: str) -> pd.Series:
        if column not in table.columns or len(table) == 0:
            return pd.Series([None] * len(out), dtype=object, index=out.index)
        values = np.asarray(table[column], dtype=object)[pick]
        return pd.Series(np.where(reached, values, None), dtype=object, index=out.index)

    out[f"{key}_name"] = attribute(spec["name"])
    for name, column in spec["also"].items():
        out[f"{key}_{name}"] = attribute(column)
    out[f"{key}_network_distance_m"] = pd.array(np.round(found.network_m), dtype="Float64")
    out[f"{key}_travel_time_min"] = pd.array(np.round(found.minutes, 1), dtype="Float64")
    out[f"{key}_straight_line_distance_m"] = pd.array(np.round(found.straight_m),
                                                      dtype="Float64")
