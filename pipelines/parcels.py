"""Cadastral parcels: the vector pipeline plus a plausibility check of the official area.

ALKIS states each parcel's official area (``flaeche``, whole m², from the survey). A polygon whose
computed area differs much from it points to a digitising or conversion error worth a look by the
surveying office, so every parcel is published with its computed area, the difference in percent
and an ``area_deviates`` flag, and each deviation is listed in the layer's report.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import Field

from geoportal.core.errors import RegistryError
from geoportal.core.registry import Strict
from pipelines.rejects import RejectsReport
from pipelines.vector import VectorParams, VectorPipeline

# Official areas are whole square metres: tiny parcels differ by rounding alone.
DEFAULT_TOLERANCE_PCT = 3.0
DEFAULT_TOLERANCE_M2 = 2.0
COMPUTED = ("computed_area_m2", "area_difference_pct", "area_deviates")


class AreaCheck(Strict):
    """Which property holds the official area, and how far off a parcel may be."""

    official: str = "official_area_m2"
    tolerance_pct: float = Field(default=DEFAULT_TOLERANCE_PCT, ge=0)
    tolerance_m2: float = Field(default=DEFAULT_TOLERANCE_M2, ge=0)


class ParcelsParams(VectorParams):
    area_check: AreaCheck = Field(default_factory=AreaCheck)


class ParcelsPipeline(VectorPipeline):
    """Parcels: read (owner fields never), repair, conform, reproject, check areas, publish."""

    Params = ParcelsParams

    def derive(self, layer: gpd.GeoDataFrame, report: RejectsReport) -> gpd.GeoDataFrame:
        check: AreaCheck = self.params.area_check
        official = check.official
        names = {p.name for p in self.dataset.schema.properties}
        missing = [n for n in (official, *COMPUTED) if n not in names]
        if missing:
            raise RegistryError(self.dataset.path or self.dataset.id,
                                [f"schema: the parcels pipeline needs the properties {missing}"])
        return check_areas(layer, report, self.dataset.schema.id_field, official,
                           check.tolerance_pct, check.tolerance_m2)


def check_areas(layer: gpd.GeoDataFrame, report: RejectsReport, id_field: str, official: str,
                tolerance_pct: float, tolerance_m2: float) -> gpd.GeoDataFrame:
    """Add computed area, difference to the official area in percent, and the deviation flag.

    Deviating means: more than ``tolerance_pct`` percent *and* more than ``tolerance_m2`` off.
    Parcels without an official area get no difference and no flag (unknown, not "fine").
    Report entries name the parcel (line 0: the check runs on published rows, not source lines).
    """
    computed = layer.geometry.area.to_numpy()
    stated = pd.to_numeric(layer[official], errors="coerce").astype(float).to_numpy()
    known = ~np.isnan(stated) & (stated > 0)
    diff = np.full(len(layer), np.nan)
    diff[known] = (computed[known] - stated[known]) / stated[known] * 100.0
    deviates = known & (np.abs(diff) > tolerance_pct) & (np.abs(computed - stated) > tolerance_m2)
    out = layer.copy()
    out["computed_area_m2"] = pd.array(np.round(computed, 1), dtype="Float64")
    out["area_difference_pct"] = pd.array(np.where(known, np.round(diff, 2), np.nan),
                                          dtype="Float64")
    out.loc[~known, "area_difference_pct"] = pd.NA
    out["area_deviates"] = pd.array(np.where(known, deviates, None), dtype="boolean")
    ids = layer[id_field].to_numpy()
    for i in np.flatnonzero(deviates):
        report.add(0, "flagged",
                   f"computed area differs from the official area by more than "
                   f"{tolerance_pct:g} %", id_field,
                   f"{ids[i]}: official {stated[i]:g} m², computed {computed[i]:.1f} m² "
                   f"({diff[i]:+.1f} %)")
    return out
