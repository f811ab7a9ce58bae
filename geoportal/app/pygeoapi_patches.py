"""Measured hot spots in pygeoapi's request path, fixed without changing its answers.

pygeoapi 0.24 transforms every ``bbox`` from the request CRS to the storage CRS with
``pygeoapi.crs.transform_bbox``, which builds a new pyproj Transformer and calls
``CRS.to_epsg()`` — a search of the PROJ database taking about 20 ms — on *every* request, even
when both CRSs are CRS84 (our provider's case). That was 80 % of a bbox request
(``bench/bench_features.py``). The replacement returns the box unchanged for identical CRS URIs
and caches the EPSG lookup and the transformer otherwise; the arithmetic is pygeoapi's own.

A ``limit`` over the maximum is refused (``on_exceed: error``) with a message that names both.

A tile index beyond the tile matrix set (zoom 30) is "no such tile" (404) for every tile provider,
not an IndexError (500); a malformed coverage ``bbox`` is a 400, not pygeoapi's 500 with the same
message; a tile matrix set a collection does not offer is a 404 on every tiles endpoint (it
was a 500, a 204 or another set's metadata); a client error is logged as one line, without a
traceback, at WARNING (an ERROR is a server fault), an unknown ``f=`` too. A query body (CQL2
JSON) that is not UTF-8 is a 400, not pygeoapi's UnboundLocalError (a 500); an unknown
``/TileMatrixSets/{id}`` is a 404 that lists the known ones, not a 400; a ``subset`` that is not
``axis(low:high),...`` says so (pygeoapi answered "'NoneType' object has no attribute 'group'").

A coverage request's scaling (``scale-factor``, ``scale-axes``, ``scale-size``, GDAL's
``scaleSize``) reaches the provider, which pygeoapi does not pass it to. An ``Accept`` or
``Accept-Language`` header that refuses a type with ``q=0`` no longer fails the request with a
ZeroDivisionError (a 500): the refused choice is left out. What other GIS clients need of the
Tiles and Coverages answers is in :mod:`geoportal.app.interop`, installed from here.

Every HTML page is rendered from the portal's templates (``server.templates``): pygeoapi's
``/TileMatrixSets`` pages passed the whole config as the template settings, so they fell back to
the stock templates (Bootstrap from a CDN) whatever the config said.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import ChainMap
from collections.abc import Callable
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import pyproj
from pygeoapi import api as pygeoapi_api
from pygeoapi import crs as pygeoapi_crs
from pygeoapi import util as pygeoapi_util
from pygeoapi.api import coverages as pygeoapi_coverages
from pygeoapi.api import itemtypes as pygeoapi_itemtypes
from pygeoapi.api import tiles as pygeoapi_tiles
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider import filter_providers_by_type
from pygeoapi.provider.tile import BaseTileProvider
from pygeoapi.util import get_typed_value

from geoportal.app.providers.coverage import REQUESTED_SCALING
from geoportal.app.providers.coverage_grid import SCALING_PARAMETERS


@lru_cache(maxsize=64)
def _plan(from_crs: str, to_crs: str, always_xy: bool) -> tuple[pyproj.Transformer, bool]:
    source, target = pygeoapi_crs.get_crs(from_crs), pygeoapi_crs.get_crs(to_crs)
    return pyproj.Transformer.from_crs(source, target, always_xy), target.to_epsg() == 3857


def transform_bbox(bbox: list, from_crs: str | pyproj.CRS, to_crs: str | pyproj.CRS,
                   always_xy: bool = False) -> list:
    """Drop-in for :func:`pygeoapi.crs.transform_bbox` with an identity shortcut and caching."""
    if not (isinstance(from_crs, str) and isinstance(to_crs, str)):
        return _original(bbox, from_crs, to_crs, always_xy)
    _asked.last = None
    if from_crs == to_crs:
        return list(bbox)
    transformer, web_mercator = _plan(from_crs, to_crs, always_xy)
    if web_mercator:
        bbox = [bbox[0], max(-85.0511, bbox[1]), bbox[2], min(85.0511, bbox[3])]
    n_dims = len(bbox) // 2
    result = list(transformer.transform(*bbox[:n_dims]) + transformer.transform(*bbox[n_dims:]))
    _asked.last = (list(bbox), from_crs, always_xy, result)
    return result


_asked = threading.local()


def asked_bbox(transformed: list) -> tuple[list, str, bool] | None:
    """The box, its CRS and axis flag as the client sent them, if ``transformed`` came from them.

    pygeoapi hands a provider only the two transformed corners; a provider that can query with
    the exact shape of the requested box (a lon/lat rectangle is no rectangle in UTM) looks the
    original up here. Per thread, and only for the very box it was given: anything else is None.
    """
    last = getattr(_asked, "last", None)
    if last is None or list(transformed) != last[3]:
        return None
    return last[0], last[1], last[2]


_original = pygeoapi_crs.transform_bbox


def evaluate_limit(requested: Any, server_limits: dict, collection_limits: dict) -> int:
    """Drop-in for :func:`pygeoapi.api.evaluate_limit` whose refusal names limit and maximum.

    With ``on_exceed: error`` pygeoapi answers a too-large ``limit`` with a 400
    (``InvalidParameterValue``) saying only "Limit of 500 exceeded"; the client is better
    served by hearing which parameter, which value and what to do instead. Every other case
    (default, throttling, non-integer and non-positive limits) is pygeoapi's own.
    """
    limits = ChainMap(collection_limits, server_limits)
    maximum = limits.get("max_items", 10)
    if requested is not None and limits.get("on_exceed", "throttle") == "error":
        value = requested if isinstance(requested, int) else get_typed_value(requested)
        if isinstance(value, int) and value > maximum:
            raise ValueError(f"limit={value} is over the maximum of {maximum} items per page: "
                             f"ask for at most limit={maximum} and follow the 'next' links")
    return _original_limit(requested, server_limits, collection_limits)


_original_limit = pygeoapi_api.evaluate_limit


def is_in_limits(self: BaseTileProvider, tilematrixset: Any, z: Any, x: Any, y: Any) -> bool:
    """Drop-in for :meth:`BaseTileProvider.is_in_limits` that is False, not an IndexError, for a
    zoom the tile matrix set does not have (and for negative indices, which Python would wrap)."""
    try:
        z, x, y = int(z), int(x), int(y)
    except (TypeError, ValueError):
        return False
    if not (0 <= z < len(tilematrixset.tileMatrices) and x >= 0 and y >= 0):
        return False
    return _original_in_limits(self, tilematrixset, z, x, y)


_original_in_limits = BaseTileProvider.is_in_limits


def _client_error(api: Any, request: Any, status: HTTPStatus, code: str,
                  message: str) -> tuple[dict, int, Any]:
    """pygeoapi's exception answer (JSON, or HTML when asked) for a request we refuse."""
    headers = request.get_response_headers(**api.api_headers)
    return api.get_exception(status, headers, request.format, code, message)


#: ``subset`` as OGC API Coverages writes it: ``axis(low:high)`` or ``axis(value)``, by commas;
#: a value is a number or a quoted string (``time("2024-01-01T00:00:00Z":"2024-02-01")``).
_SUBSET_VALUE = r'(?:"[^",]*"|[^():,"]*)'
_SUBSET_PART = rf"[A-Za-z_][\w-]*\(\s*{_SUBSET_VALUE}(?::{_SUBSET_VALUE})?\s*\)"
SUBSET_SHAPE = re.compile(rf"^\s*{_SUBSET_PART}(?:\s*,\s*{_SUBSET_PART})*\s*$")


def get_collection_coverage(api: Any, request: Any, dataset: str) -> tuple[dict, int, Any]:
    """Wrapper of :func:`pygeoapi.api.coverages.get_collection_coverage` that answers a malformed
    ``bbox`` with 400 (pygeoapi's own check, which sends it as a 500 with code
    InvalidParameterValue) and a ``subset`` of the wrong shape with a 400 that shows the right
    one."""
    bbox = request.params.get("bbox")
    if bbox is not None:
        try:
            pygeoapi_api.validate_bbox(bbox)
        except ValueError as err:
            return _client_error(api, request, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                                 str(err))
    subset = request.params.get("subset")
    if subset is not None and not SUBSET_SHAPE.match(subset):
        return _client_error(api, request, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                             f"subset {subset!r} is not axis(low:high),axis(low:high), "
                             "e.g. subset=x(350000:350100),y(5685000:5685100)")
    token = REQUESTED_SCALING.set({name: str(request.params[name]) for name in SCALING_PARAMETERS
                                   if name in request.params})
    try:
        return _original_coverage(api, request, dataset)
    finally:
        REQUESTED_SCALING.reset(token)


_original_coverage = pygeoapi_coverages.get_collection_coverage


def get_collection_items(api: Any, request: Any, dataset: str) -> tuple[dict, int, Any]:
    """Wrapper of :func:`pygeoapi.api.itemtypes.get_collection_items` that answers a query body
    which is not UTF-8 text with 400 (pygeoapi's decode fails inside its own error handler,
    whose log line then names a variable never set: an UnboundLocalError, a 500)."""
    body = request.data
    if body:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as err:
            return _client_error(api, request, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                                 f"the request body is not UTF-8 text (byte {err.start}): a "
                                 "query body is a CQL2 JSON filter")
    return _original_items(api, request, dataset)


_original_items = pygeoapi_itemtypes.get_collection_items


def tilematrixset(api: Any, request: Any, tileMatrixSetId: str) -> tuple[dict, int, Any]:
    """Wrapper of :func:`pygeoapi.api.tiles.tilematrixset`: a set it does not define is "not
    found" (404) with the ones it does, not pygeoapi's 400 "could not find this
    tilematrixset"."""
    known = [e.value.tileMatrixSet for e in TileMatrixSetEnum]
    if tileMatrixSetId not in known:
        return _client_error(api, request, HTTPStatus.NOT_FOUND, "NotFound",
                             f"no tile matrix set {tileMatrixSetId!r}: this server defines "
                             f"{', '.join(known)}")
    return _original_tilematrixset(api, request, tileMatrixSetId)


_original_tilematrixset = pygeoapi_tiles.tilematrixset


def known_tile_matrix_set(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tiles endpoint so a tile matrix set the collection does not offer is a 404.

    pygeoapi hands the name to the provider unchecked: its tippecanoe provider fails on
    ``None.upper()`` (a 500) for the metadata and answers 204 for a tile, and a map tile set
    answers 200 with the metadata of the one it has.
    """
    if getattr(function, "_checks_tile_matrix_set", False):  # apply() may run twice
        return function

    @functools.wraps(function)
    def wrapped(api: Any, request: Any, dataset: str | None = None,
                matrix_id: str | None = None, *args: Any, **kwargs: Any) -> Any:
        schemes = _tile_schemes(api.config["resources"].get(dataset or ""))
        if matrix_id is not None and schemes and matrix_id not in schemes:
            headers = request.get_response_headers(**api.api_headers)
            headers, status, content = api.get_exception(
                HTTPStatus.NOT_FOUND, headers, "json", "NotFound",
                f"no tile matrix set {matrix_id!r}: {dataset} has tiles in {', '.join(schemes)}")
            headers["Content-Type"] = "application/json"
            return headers, status, content
        return function(api, request, dataset, matrix_id, *args, **kwargs)

    wrapped._checks_tile_matrix_set = True  # type: ignore[attr-defined]
    return wrapped


def _tile_schemes(resource: dict[str, Any] | None) -> list[str]:
    """The tile matrix sets a collection's tile provider is configured with (empty if none)."""
    provider = filter_providers_by_type((resource or {}).get("providers", []), "tile") or {}
    return [str(s) for s in provider.get("options", {}).get("schemes", [])]


def get_choice_from_headers(headers: dict, header_name: str, all: bool = False) -> Any:
    """Drop-in for :func:`pygeoapi.util.get_choice_from_headers` that leaves out the choices a
    client refuses (``q=0``; pygeoapi divided by the q value: a ZeroDivisionError, a 500) and
    reads a q value it cannot parse as 1, as pygeoapi does for a missing one."""
    header = pygeoapi_util.get_from_headers(headers=headers, header_name=header_name)
    if header == "":
        return None
    ranked = []
    for position, part in enumerate(header.split(",")):
        match = re.match(r"^([^;]+)(?:;\s*q=([\d.]+))?$", part.strip())
        if not match:
            continue
        value, quality = match.group(1), match.group(2)
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            weight = 1.0
        if 0 < weight <= 1:
            ranked.append((-weight, position, value))
    choices = [value for *_, value in sorted(ranked)]
    if all:
        return choices
    return choices[0] if choices else None

def with_portal_templates(render: Callable[..., str]) -> Callable[..., str]:
    """``render_j2_template`` that falls back to the server's template folder when a caller
    hands template settings without a ``path`` (pygeoapi's tile matrix set pages)."""

    @functools.wraps(render)
    def wrapped(config: dict, tpl_config: Any, template: Any, data: dict,
                locale_: Any = None) -> str:
        if not (isinstance(tpl_config, dict) and "path" in tpl_config):
            tpl_config = config.get("server", {}).get("templates", tpl_config)
        return render(config, tpl_config, template, data, locale_)

    return wrapped


def _install_portal_templates() -> None:
    """Wrap the renderer in every loaded pygeoapi API module (each imported it by name; the
    admin module, which needs an extra package, is loaded only when the admin API is on)."""
    import sys

    for name, module in list(sys.modules.items()):
        render = getattr(module, "render_j2_template", None)
        if name.startswith("pygeoapi.api") and render is not None \
                and not hasattr(render, "__wrapped__"):
            module.render_j2_template = with_portal_templates(render)  # type: ignore[attr-defined]


def apply() -> None:
    """Install the replacements where pygeoapi's API modules imported the originals."""
    from pygeoapi.api import itemtypes, maps

    for module in (pygeoapi_crs, itemtypes, maps):
        module.transform_bbox = transform_bbox  # type: ignore[attr-defined]
    for module in (pygeoapi_util, pygeoapi_api):
        module.get_choice_from_headers = get_choice_from_headers  # type: ignore[attr-defined]
    itemtypes.evaluate_limit = evaluate_limit  # type: ignore[attr-defined]
    BaseTileProvider.is_in_limits = is_in_limits  # type: ignore[method-assign]
    pygeoapi_coverages.get_collection_coverage = get_collection_coverage
    pygeoapi_itemtypes.get_collection_items = get_collection_items
    pygeoapi_tiles.tilematrixset = tilematrixset
    # a GeoportalError's status and message reach the client; its log entry stays one line
    from geoportal.app.providers.errors import (
        logged_as_bad_request,
        logged_by_status,
        quiet_client_errors,
    )

    pygeoapi_api.API.get_exception = logged_by_status(  # type: ignore[method-assign]
        pygeoapi_api.API.get_exception)
    pygeoapi_api.API.get_format_exception = logged_as_bad_request(  # type: ignore[method-assign]
        pygeoapi_api.API.get_format_exception)
    quiet_client_errors()
    # CQL2: standard CQL2 JSON, bbox literals, parse errors that say what is wrong
    from geoportal.app.providers import cql2, rastertiles

    cql2.install()
    # map tiles: f=png or f=jpeg as asked, with the matching media type
    rastertiles.install()
    # what GDAL, OWSLib and plain HTTP need: a tile without f=, map tilesets under their OGC
    # relation, TMS 1.0 names, zoom limits, a coverage's domain set (outside rastertiles' wrapper)
    from geoportal.app import interop

    interop.install()
    # every tiles endpoint: an unknown tile matrix set is a 404 (installed last: checked first)
    from pygeoapi.api import tiles

    for name in ("get_collection_tiles_metadata", "get_collection_tiles_data"):
        setattr(tiles, name, known_tile_matrix_set(getattr(tiles, name)))
    _install_portal_templates()
