"""What GIS clients other than our web map need from pygeoapi's answers (docs/clients.md).

Tried as people use them (GDAL's OGC API driver, OWSLib, plain HTTP), pygeoapi 0.24's Tiles and
Coverages answers failed in ways the web map never noticed; each fix here is the standard's own
form of the answer, wrapped around pygeoapi's API functions like the rest of
:mod:`geoportal.app.pygeoapi_patches`:

- **A tile asked for without a format** (no ``f=``) was a 400 "Invalid format requested", and
  ``Accept: */*`` on the vector tiles too: the format is now negotiated on ``Accept`` among the
  layer's formats (the configured one first), the layer's default when nothing there matches;
  an explicit ``f=`` the layer cannot give is a 400 naming those it can (a vector tile was sent
  for ``f=png``).
- **Map tiles** were linked with the relation ``…/tilesets-raster``, which the OGC relation
  register does not have: GDAL found no tiles at all ("API TILES not available"). Map tiles are
  ``…/tilesets-map``, as their tilesets' ``dataType: map`` says.
- **The tile matrix set** came only in the TMS 2.0 encoding; GDAL ≤ 3.6 (Debian 12) parses the
  1.0 encoding and took the document for a file name ("Invalid tiling matrix set name"). The 2.0
  document now also carries the 1.0 members (``identifier``, ``supportedCRS``, and per matrix
  ``identifier`` and ``topLeftCorner``); readers of 2.0 ignore them.
- **A tileset** did not say which zooms exist (``tileMatrixSetLimits``), so a client assumed all
  25 and GDAL failed on zoom 24's size. The limits list each zoom of the layer with the whole
  matrix: GDAL ≤ 3.6 sizes a raster strip by the matrix height and garbles the georeference when
  the rows are limited; the collection's extent says where the data is.
- **A coverage** did not describe its grid: GDAL laid a 1 km² DTM out as 1.5 million × 0.9 million
  cells of 1e-8°. The collection now links its CIS JSON domain set and range type
  (``/coverage/domainset``, ``/coverage/rangetype``, served by :mod:`geoportal.app.wsgi`) and
  states ``storageCrs`` and its extent there (``storageCrsBbox``), as OGC API Common Part 2
  and Coverages ask.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from pygeoapi.plugin import load_plugin
from pygeoapi.provider import filter_providers_by_type
from pygeoapi.util import to_json

from geoportal.core import formats
from geoportal.core.formats import Format

OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0"
#: pygeoapi names a collection's tilesets after its provider's ``tile_type``; ours is "raster".
RENAMED_RELS = {f"{OGC_REL}/tilesets-raster": f"{OGC_REL}/tilesets-map"}
Answer = tuple[dict, int, Any]


# ---------------------------------------------------------------------------------------------
# Tiles: the format of a tile asked for without f=


def tile_formats(provider: Mapping[str, Any]) -> list[Format]:
    """The formats a tile provider answers in, its configured (default) one first."""
    from geoportal.app.providers.rastertiles import OUR_NAMES
    from pipelines.imagery.webtiles import ENCODINGS

    default = formats.by_pygeoapi_name(str(provider["format"]["name"]))
    if provider.get("name") in OUR_NAMES:
        return [default, *(formats.get(f) for f in ENCODINGS if f != default.name)]
    return [default]


def format_words(fmt: Format) -> set[str]:
    """The ``f=`` values that mean a format: its name, pygeoapi's word, its file extension."""
    return {w.lower() for w in (fmt.name, fmt.pygeoapi_format, fmt.extension.lstrip("."))
            if w}


def accepted_media_ranges(accept: str | None) -> list[str]:
    """The media ranges of an ``Accept`` header, most preferred first (RFC 9110 §12.5.1: by
    ``q``, then in the order given), without those it refuses (``q=0``)."""
    ranked = []
    for position, part in enumerate((accept or "").split(",")):
        media_range, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_range and quality > 0:
            ranked.append((-quality, position, media_range.lower()))
    return [media_range for *_, media_range in sorted(ranked)]


def negotiate(accept: str | None, offered: list[Format]) -> Format:
    """The first offered format the client accepts, in its order of preference; the default
    (first offered) when it accepts none of them — a client that sent no usable ``Accept``
    still gets the tile rather than a 406."""
    for media_range in accepted_media_ranges(accept):
        kind, _, sub = media_range.partition("/")
        for fmt in offered:
            their_kind, _, their_sub = fmt.plain_media_type.partition("/")
            if kind in ("*", their_kind) and sub in ("*", their_sub):
                return fmt
    return offered[0]


def negotiated_tile_format(function: Callable[..., Answer]) -> Callable[..., Answer]:
    """Wrap pygeoapi's tile endpoint: no ``f=`` → the format negotiated on ``Accept``; an
    ``f=`` the layer has no such format for → a 400 that names the ones it has."""

    @functools.wraps(function)
    def wrapped(api: Any, request: Any, dataset: str | None = None, *args: Any,
                **kwargs: Any) -> Answer:
        resource = api.config["resources"].get(dataset or "") or {}
        provider = filter_providers_by_type(resource.get("providers", []), "tile")
        if not provider:
            return function(api, request, dataset, *args, **kwargs)
        offered = tile_formats(provider)
        asked = str(request.params.get("f") or "").strip().lower()
        if asked and not any(asked in format_words(fmt) for fmt in offered):
            headers = request.get_response_headers(**api.api_headers)
            headers, status, content = api.get_exception(
                HTTPStatus.BAD_REQUEST, headers, "json", "InvalidParameterValue",
                f"f={asked}: {'map' if offered[0].media_type.startswith('image/') else 'vector'}"
                " tiles come as " + " or ".join(f"f={fmt.name}" for fmt in offered))
            headers["Content-Type"] = "application/json"
            return headers, status, content
        if asked:
            return function(api, request, dataset, *args, **kwargs)
        chosen = negotiate(request.headers.get("Accept") or request.headers.get("accept"),
                           offered)
        request._format = chosen.pygeoapi_format  # what pygeoapi reads as the asked format
        headers, status, content = function(api, request, dataset, *args, **kwargs)
        headers["Vary"] = "Accept"
        return headers, status, content

    return wrapped


# ---------------------------------------------------------------------------------------------
# Tiles: the tile matrix set and the tilesets


def with_tms1_members(tms: dict[str, Any]) -> dict[str, Any]:
    """A TMS 2.0 document that GDAL ≤ 3.6 also reads: the 1.0 names of its members added."""
    matrices = tms.get("tileMatrices") or []
    tms = {**tms, "identifier": tms.get("id"), "supportedCRS": tms.get("crs")}
    if matrices and "boundingBox" not in tms:
        first = matrices[0]
        (x0, y1), size = first["pointOfOrigin"], first["cellSize"]
        width = first["matrixWidth"] * first["tileWidth"] * size
        height = first["matrixHeight"] * first["tileHeight"] * size
        tms["boundingBox"] = {"crs": tms.get("crs"), "lowerLeft": [x0, y1 - height],
                              "upperRight": [x0 + width, y1]}
    tms["tileMatrices"] = [{**m, "identifier": m["id"], "topLeftCorner": m["pointOfOrigin"]}
                           if m.get("cornerOfOrigin", "topLeft") == "topLeft" else m
                           for m in matrices]
    return tms


def readable_by_tms1_clients(function: Callable[..., Answer]) -> Callable[..., Answer]:
    """Wrap ``/TileMatrixSets/{id}``: its JSON with the TMS 1.0 member names too."""

    @functools.wraps(function)
    def wrapped(api: Any, request: Any, *args: Any, **kwargs: Any) -> Answer:
        headers, status, content = function(api, request, *args, **kwargs)
        document = _json_object(status, content)
        if document is not None and "tileMatrices" in document:
            content = to_json(with_tms1_members(document), api.pretty_print)
        return headers, status, content

    return wrapped


def tile_matrix_set_limits(zooms: range) -> list[dict[str, Any]]:
    """``tileMatrixSetLimits`` of WebMercatorQuad for the zooms a layer has, each whole."""
    return [{"tileMatrix": str(z), "minTileRow": 0, "maxTileRow": 2 ** z - 1,
             "minTileCol": 0, "maxTileCol": 2 ** z - 1} for z in zooms]


def with_zoom_limits(function: Callable[..., Answer]) -> Callable[..., Answer]:
    """Wrap the tileset endpoint: its JSON states the zooms the layer has."""

    @functools.wraps(function)
    def wrapped(api: Any, request: Any, dataset: str | None = None, *args: Any,
                **kwargs: Any) -> Answer:
        headers, status, content = function(api, request, dataset, *args, **kwargs)
        document = _json_object(status, content)
        resource = api.config["resources"].get(dataset or "") or {}
        provider = filter_providers_by_type(resource.get("providers", []), "tile") or {}
        zoom = provider.get("options", {}).get("zoom")
        if document is not None and "tileMatrixSetURI" in document and zoom and \
                "tileMatrixSetLimits" not in document:
            document["tileMatrixSetLimits"] = tile_matrix_set_limits(
                range(int(zoom["min"]), int(zoom["max"]) + 1))
            content = to_json(document, api.pretty_print)
        return headers, status, content

    return wrapped


def _json_object(status: int, content: Any) -> dict[str, Any] | None:
    """A successful answer's JSON object, or None (HTML, an error, bytes)."""
    if status != HTTPStatus.OK or not isinstance(content, str) or \
            not content.lstrip().startswith("{"):
        return None
    return json.loads(content)


# ---------------------------------------------------------------------------------------------
# The collection description


def described_for_clients(function: Callable[..., dict]) -> Callable[..., dict]:
    """Wrap :func:`pygeoapi.api.collection.gen_collection`: map tilesets under their OGC
    relation, and a coverage's native CRS, extent and domain set / range type links."""

    @functools.wraps(function)
    def wrapped(api: Any, request: Any, dataset: str, *args: Any, **kwargs: Any) -> dict:
        data = function(api, request, dataset, *args, **kwargs)
        for link in data.get("links", []):
            link["rel"] = RENAMED_RELS.get(link.get("rel"), link.get("rel"))
        resource = api.config["resources"][dataset]
        coverage = filter_providers_by_type(resource.get("providers", []), "coverage")
        if coverage:
            describe_coverage(data, load_plugin("provider", coverage),
                              f"{api.get_collections_url()}/{dataset}/coverage")
        return data

    return wrapped


def describe_coverage(data: dict[str, Any], provider: Any, coverage_url: str) -> None:
    """Add to a collection description what a client needs to lay out the coverage's grid."""
    grid, crs = provider.data_grid(), provider.native_crs_uri()
    data["storageCrs"] = crs
    data["crs"] = [crs]
    data.setdefault("extent", {}).setdefault("spatial", {})["storageCrsBbox"] = [
        list(grid.bounds)]
    links = data.setdefault("links", [])
    known = {link.get("href") for link in links}
    for kind, title in (("domainset", "Coverage domain set (its grid) as JSON"),
                        ("rangetype", "Coverage range type (its bands) as JSON")):
        href = f"{coverage_url}/{kind}?f=json"
        if href not in known:
            links.append({"type": "application/json", "rel": f"{OGC_REL}/coverage-{kind}",
                          "title": title, "href": href})


def install() -> None:
    """Wrap pygeoapi's tiles endpoints and its collection description (idempotent)."""
    from pygeoapi import api as pygeoapi_api
    from pygeoapi.api import tiles

    wrappers: list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
        (tiles, "get_collection_tiles_data", negotiated_tile_format),
        (tiles, "tilematrixset", readable_by_tms1_clients),
        (tiles, "get_collection_tiles_metadata", with_zoom_limits),
        (pygeoapi_api, "gen_collection", described_for_clients),
    ]
    for module, name, wrapper in wrappers:
        current = getattr(module, name)
        if wrapper.__name__ in getattr(current, "_interop", ()):
            continue
        wrapped: Any = wrapper(current)
        wrapped._interop = (*getattr(current, "_interop", ()), wrapper.__name__)
        setattr(module, name, wrapped)
