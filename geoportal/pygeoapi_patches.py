"""Measured hot spots in pygeoapi's request path, fixed without changing its answers.

pygeoapi 0.24 transforms every ``bbox`` from the request CRS to the storage CRS with
``pygeoapi.crs.transform_bbox``, which builds a new pyproj Transformer and calls
``CRS.to_epsg()`` — a search of the PROJ database taking about 20 ms — on *every* request, even
when both CRSs are CRS84 (our provider's case). That was 80 % of a bbox request
(``bench/bench_features.py``). The replacement returns the box unchanged for identical CRS URIs
and caches the EPSG lookup and the transformer otherwise; the arithmetic is pygeoapi's own.
"""

from __future__ import annotations

from functools import lru_cache

import pyproj
from pygeoapi import crs as pygeoapi_crs


@lru_cache(maxsize=64)
def _plan(from_crs: str, to_crs: str, always_xy: bool) -> tuple[pyproj.Transformer, bool]:
    source, target = pygeoapi_crs.get_crs(from_crs), pygeoapi_crs.get_crs(to_crs)
    return pyproj.Transformer.from_crs(source, target, always_xy), target.to_epsg() == 3857


def transform_bbox(bbox: list, from_crs: str | pyproj.CRS, to_crs: str | pyproj.CRS,
                   always_xy: bool = False) -> list:
    """Drop-in for :func:`pygeoapi.crs.transform_bbox` with an identity shortcut and caching."""
    if not (isinstance(from_crs, str) and isinstance(to_crs, str)):
        return _original(bbox, from_crs, to_crs, always_xy)
    if from_crs == to_crs:
        return list(bbox)
    transformer, web_mercator = _plan(from_crs, to_crs, always_xy)
    if web_mercator:
        bbox = [bbox[0], max(-85.0511, bbox[1]), bbox[2], min(85.0511, bbox[3])]
    n_dims = len(bbox) // 2
    return list(transformer.transform(*bbox[:n_dims]) + transformer.transform(*bbox[n_dims:]))


_original = pygeoapi_crs.transform_bbox


def apply() -> None:
    """Install the replacements where pygeoapi's API modules imported the originals."""
    from pygeoapi.api import itemtypes, maps

    for module in (pygeoapi_crs, itemtypes, maps):
        module.transform_bbox = transform_bbox  # type: ignore[attr-defined]
    # CQL2: standard CQL2 JSON, bbox literals, parse errors that say what is wrong
    from geoportal.providers import cql2

    cql2.install()
