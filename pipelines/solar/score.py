"""Scoring the fitted roofs against known ones: type accuracy, ridge height and slope errors.

The truth is any frame with a footprint per building and the columns ``roof_type``,
``ridge_height_m`` (above ground), ``slope_deg`` and ``ridge_azimuth_deg`` (NaN where none);
the sample city's generator writes one (:func:`geoportal.app.sample.truth.roof_truth`). A true
building without any roof plane found counts as a wrong type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import geopandas as gpd
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RoofScore:
    """How well the roofs were found (errors over the buildings whose type is right)."""

    buildings: int
    found: int
    type_accuracy: float
    ridge_rmse_m: float
    ridge_rmse_all_m: float  # over every building found, whatever its type
    slope_rmse_deg: float
    ridge_azimuth_rmse_deg: float
    confusion: dict[str, dict[str, int]]

    def as_dict(self) -> dict:
        return asdict(self)


def per_building(planes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per building of a roof-plane layer: its roof columns and a point inside it."""
    first = planes.drop_duplicates("building_id").set_index("building_id")
    inside = planes.dissolve("building_id").geometry.representative_point()
    columns = ["roof_type", "ridge_height_m", "roof_slope_deg", "ridge_azimuth_deg"]
    return gpd.GeoDataFrame(first[columns], geometry=inside.reindex(first.index),
                            crs=planes.crs).reset_index()


def score_roofs(planes: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> RoofScore:
    """Compare a roof-plane layer's buildings with the true roofs whose footprint holds them."""
    mine = per_building(planes).rename(columns=lambda c: c if c == "geometry" else f"{c}_found")
    found = gpd.sjoin(mine, truth[["geometry"]].reset_index(names="truth_index"),
                      predicate="within", how="inner")
    found = found.drop_duplicates("truth_index").set_index("truth_index")
    pairs = truth.join(found[[c for c in mine.columns if c != "geometry"]])
    right = pairs["roof_type"] == pairs["roof_type_found"]
    ridge = (pairs["ridge_height_m_found"] - pairs["ridge_height_m"])[right]
    slope = (pairs["roof_slope_deg_found"] - pairs["slope_deg"])[right]
    turn = ((pairs["ridge_azimuth_deg_found"] - pairs["ridge_azimuth_deg"] + 90) % 180 - 90)
    confusion = pd.crosstab(pairs["roof_type"], pairs["roof_type_found"].fillna("none"))
    return RoofScore(
        buildings=len(truth), found=int(pairs["roof_type_found"].notna().sum()),
        type_accuracy=float(right.mean()), ridge_rmse_m=_rmse(ridge),
        ridge_rmse_all_m=_rmse(pairs["ridge_height_m_found"] - pairs["ridge_height_m"]),
        slope_rmse_deg=_rmse(slope), ridge_azimuth_rmse_deg=_rmse(turn[right]),
        confusion={k: {c: int(n) for c, n in row.items() if n}
                   for k, row in confusion.to_dict("index").items()})


def _rmse(errors: pd.Series) -> float:
    values = errors.dropna().to_numpy(float)
    return float(np.sqrt(np.mean(values**2))) if len(values) else float("nan")


def score_by_type(planes: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> dict[str, RoofScore]:
    """:func:`score_roofs` over the true roofs of each type: how well each shape is found."""
    return {kind: score_roofs(planes, truth[truth["roof_type"] == kind])
            for kind in sorted(truth["roof_type"].unique())}
