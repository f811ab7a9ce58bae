"""The WSGI application gunicorn serves: pygeoapi, plus the published files under /downloads.

pygeoapi reads ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` when its Flask module is imported,
which :func:`geoportal.app.server.prepare` sets up; importing this module elsewhere is a mistake.
"""

from __future__ import annotations

import gzip
import json
import mimetypes
import os
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from pygeoapi.flask_app import APP, CONFIG
from werkzeug.exceptions import NotFound, RequestedRangeNotSatisfiable
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.security import safe_join
from werkzeug.utils import send_file

from geoportal.app import pygeoapi_patches
from geoportal.app.csw import csw_app
from geoportal.app.geocoder import INDEX_FILE, search_server
from geoportal.app.glyphs import GLYPH_DIR, glyph_server
from geoportal.app.ows import MAPPROXY_FILE, MAPSERVER_CONFIG, ows_dir, with_ows
from geoportal.app.ows.answers import client_errors
from geoportal.app.pages import page_routes
from geoportal.app.providers.coverage import crs_label
from geoportal.app.webmap import web_roots
from geoportal.core import formats
from geoportal.core.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TEXT_TYPES = ("text/html", "text/csv")


def declare_utf8(app: WSGIApp) -> WSGIApp:
    """Add ``charset=utf-8`` to text responses that lack it.

    pygeoapi writes HTML and CSV in UTF-8 but sends a bare ``text/html``; clients that follow
    HTTP's old default (ISO-8859-1), ``requests`` among them, would garble every umlaut.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            fixed = [(k, f"{v}; charset=utf-8")
                     if k.lower() == "content-type" and v.startswith(TEXT_TYPES)
                     and "charset" not in v else (k, v) for k, v in headers]
            return start_response(status, fixed, *exc)

        return app(environ, start)

    return wrapped


def german_by_default(app: WSGIApp) -> WSGIApp:
    """Render every HTML page in German unless ``?lang=`` asks otherwise.

    The portal is German first whatever the browser prefers (a permalink or a dataset page's
    address shows every reader the same page); pygeoapi would follow ``Accept-Language`` and
    render an English page for an English browser while the map's own code speaks German. JSON
    answers keep following ``Accept-Language``: that is a client's explicit choice.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if not re.search(r"(^|&)lang=", query) and _wants_html(environ, query):
            environ = {**environ, "HTTP_ACCEPT_LANGUAGE": "de"}
        return app(environ, start_response)

    return wrapped


def _wants_html(environ: dict[str, Any], query: str) -> bool:
    """The map page, ``f=html``, or no ``f`` from a client that accepts HTML (a browser)."""
    if environ.get("PATH_INFO", "") in ("", "/") or re.search(r"(^|&)f=html(&|$)", query):
        return True
    return not re.search(r"(^|&)f=", query) and "text/html" in environ.get("HTTP_ACCEPT", "")


WHOLE_COVERAGE = re.compile(r"^/collections/(?P<collection>[^/]+)/coverage/?$")
COVERAGE_DESCRIPTION = re.compile(
    r"^/collections/(?P<collection>[^/]+)/coverage/(?P<part>domainset|rangetype)/?$")
#: A coverage request that names its size (``scale-size``…) may leave out subset and bbox.
SCALED = re.compile(r"(^|&)(scale-factor|scale-axes|scale-size|scaleSize)=")
ITEMS_PATH = re.compile(r"^/collections/[^/]+/items(?:/(?P<item>[^/]+))?/?$")


def json_error(start_response: Callable[..., Any], status: HTTPStatus, code: str,
               description: str, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    """An OGC API exception answer (``code``, ``description``) sent by a middleware itself."""
    body = json.dumps({"code": code, "description": description}).encode()
    start_response(f"{status.value} {status.phrase.upper()}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        *(headers or [])])
    return [body]


def require_subset(app: WSGIApp) -> WSGIApp:
    """Refuse a coverage request without ``subset``/``bbox`` with a 400 that says what to do.

    pygeoapi's rasterio provider would read the whole mosaic into memory: for the city's 0.5 m
    terrain model that is ~400 million cells, enough to take a worker down. The tile COGs are
    the download for whole-area use.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        whole = WHOLE_COVERAGE.match(environ.get("PATH_INFO", ""))
        if whole and not re.search(r"(^|&)(subset|bbox)=", query) and not SCALED.search(query):
            crs = _coverage_crs(whole["collection"]) or "the coverage's own CRS"
            return json_error(start_response, HTTPStatus.BAD_REQUEST, "MissingParameterValue",
                              f"give subset=x(minx:maxx),y(miny:maxy) in {crs} (or bbox); "
                              "the whole coverage is too large to send at once — the tile COGs "
                              "under /downloads are the download for whole areas")
        return app(environ, start_response)

    return wrapped


def coverage_descriptions(app: WSGIApp) -> WSGIApp:
    """``/collections/{id}/coverage/domainset`` and ``/rangetype``: the coverage's grid and
    bands as CIS JSON, where OGC API Coverages puts them and the collection links them.

    pygeoapi 0.24 has neither; GDAL's OGC API driver reads the domain set to lay out the raster
    (without it, a 1 km² DTM was 1.5 million × 0.9 million cells of 1e-8° in EPSG:4326).
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = COVERAGE_DESCRIPTION.match(environ.get("PATH_INFO", ""))
        if not match or environ.get("REQUEST_METHOD", "GET").upper() not in {"GET", "HEAD"}:
            return app(environ, start_response)
        provider = _coverage_provider(match["collection"])
        if provider is None:
            return json_error(start_response, HTTPStatus.NOT_FOUND, "NotFound",
                              f"{match['collection']} is no coverage: its description is at "
                              f"/collections/{match['collection']}")
        document = provider.domain_set() if match["part"] == "domainset" else \
            provider.range_type()
        body = json.dumps(document).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("Access-Control-Allow-Origin", "*")])
        return [body]

    return wrapped


def _coverage_provider(collection: str) -> Any:
    """The collection's coverage provider (pygeoapi's plugin loader, as for its own requests),
    or None when it has none."""
    from pygeoapi.plugin import load_plugin
    from pygeoapi.provider import filter_providers_by_type

    resource = CONFIG.get("resources", {}).get(collection) or {}
    definition = filter_providers_by_type(resource.get("providers", []), "coverage")
    return load_plugin("provider", definition) if definition else None


def strict_query_values(app: WSGIApp) -> WSGIApp:
    """Answer 400 to a ``datetime`` or ``skipGeometry`` value a feature query cannot mean.

    pygeoapi ignores ``datetime`` on collections without a temporal extent and reads any
    ``skipGeometry`` other than true/yes/1/on as false: ``datetime=garbage`` and
    ``skipGeometry=maybe`` answered 200 with every feature, which a client takes as "matched".
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if ITEMS_PATH.match(environ.get("PATH_INFO", "")):
            problem = _query_value_problem(parse_qs(environ.get("QUERY_STRING", "")))
            if problem:
                return json_error(start_response, HTTPStatus.BAD_REQUEST,
                                  "InvalidParameterValue", problem)
        return app(environ, start_response)

    return wrapped


def _query_value_problem(query: dict[str, list[str]]) -> str | None:
    for value in query.get("skipGeometry", []):
        if value.lower() not in {"true", "false"}:
            return f"skipGeometry is true or false, not {value!r}"
    for value in query.get("datetime", []):
        ends = value.split("/")
        if len(ends) > 2 or not all(_is_rfc3339(end) or (len(ends) == 2 and end in {"", ".."})
                                    for end in ends):
            return (f"datetime {value!r} is not an RFC 3339 date-time or interval "
                    f"(e.g. 2024-05-01, 2024-05-01T12:00:00Z, 2024-01-01/.., ../2024-12-31)")
    return None


def _is_rfc3339(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return bool(RFC3339_SHAPE.match(text))


#: What ``datetime.fromisoformat`` also accepts but RFC 3339 does not (``20240501``, weeks).
RFC3339_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
                           r"([Zz]|[+-]\d{2}:\d{2})?)?$")


@lru_cache(maxsize=64)
def _coverage_crs(collection: str) -> str | None:
    """The CRS of a collection's coverage file, named in messages (not a hard-coded one)."""
    resource = CONFIG.get("resources", {}).get(collection, {})
    for provider in resource.get("providers", []):
        if provider.get("type") == "coverage" and provider.get("data"):
            return crs_label(provider["data"])
    return None


def read_only_collections(app: WSGIApp) -> WSGIApp:
    """Answer writes to features with 405 and the methods a collection does offer.

    No collection is editable (the registry publishes; clients read). pygeoapi routes POST, PUT
    and DELETE to its transactions anyway: a POST without a body type ends in a view returning
    None (a 500), the others in 400 "Collection is not editable". A POST with a CQL2 JSON body
    is a query and goes through.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        match = ITEMS_PATH.match(environ.get("PATH_INFO", ""))
        if match and method not in {"GET", "HEAD", "OPTIONS"}:
            one_item = match.group("item") is not None
            content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip()
            if one_item or method != "POST" or content_type in {"", "application/geo+json"}:
                allow = "GET, HEAD, OPTIONS" if one_item else "GET, HEAD, OPTIONS, POST"
                return json_error(
                    start_response, HTTPStatus.METHOD_NOT_ALLOWED, "OperationNotSupported",
                    f"{method} is not offered: the collections are read-only"
                    + ("" if one_item else "; POST takes a CQL2 JSON filter "
                       "(Content-Type: application/query-cql-json)"), [("Allow", allow)])
        return app(environ, start_response)

    return wrapped


def downloads(root: Path) -> WSGIApp:
    """The published files, with HTTP range requests and conditional GETs.

    Range requests are what make a Cloud Optimised GeoTIFF useful over HTTP: rasterio (GDAL's
    /vsicurl/) reads the header and then only the internal tiles of the window it needs; the
    web map's point-cloud view reads a COPC file node by node the same way.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        relative = environ.get("PATH_INFO", "").lstrip("/")
        path = safe_join(str(root), relative)
        # hidden names are the versions store, builds in progress and temporary files
        if path is None or _hidden(relative) or not Path(path).is_file():
            return NotFound()(environ, start_response)
        return _ranged_file(path, environ, start_response, 300)

    return app


def _ranged_file(path: str, environ: dict[str, Any], start_response: Callable[..., Any],
                 max_age: int, headers: dict[str, str] | None = None) -> Iterable[bytes]:
    """werkzeug's ``send_file`` (206 for a range, conditional GETs), with a range it cannot
    serve answered as 416 and ``Content-Range: bytes */<size>``: werkzeug raises that as an
    exception, which reached gunicorn as a 500."""
    try:
        response = send_file(path, environ, conditional=True, max_age=max_age or None)
    except RequestedRangeNotSatisfiable as refused:
        return refused(environ, start_response)
    if not max_age:
        response.headers["Cache-Control"] = "no-cache"
    response.headers.update(headers or {})
    return response(environ, start_response)


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


COMPRESSIBLE = (".js", ".css", ".json", ".html", ".svg")


@lru_cache(maxsize=64)
def _gzipped(path: str, mtime_ns: int) -> bytes:
    """The file's bytes, gzip-compressed once per version (``mtime_ns`` keys the cache)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=6)


def _send(path: str, environ: dict[str, Any], start_response: Callable[..., Any],
          max_age: int = 300) -> Iterable[bytes]:
    """Send one file: gzip-compressed when the client accepts it and the type compresses well.

    Compressed bytes are made once per file version; uncompressed files go through werkzeug's
    ``send_file`` (conditional GETs and ranges). ``max_age=0`` makes clients revalidate.
    """
    if path.endswith(COMPRESSIBLE) and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
        body = _gzipped(path, Path(path).stat().st_mtime_ns)
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if media_type.startswith(("text/", "application/javascript", "application/json")):
            media_type += "; charset=utf-8"
        cache = f"public, max-age={max_age}" if max_age else "no-cache"
        start_response("200 OK", [("Content-Type", media_type), ("Content-Encoding", "gzip"),
                                  ("Vary", "Accept-Encoding"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", cache)])
        return [body]
    return _ranged_file(path, environ, start_response, max_age, {"Vary": "Accept-Encoding"})


def web_assets(roots: dict[str, Path]) -> WSGIApp:
    """The web map's own code and styles and its npm libraries, gzip-compressed when accepted.

    ``roots`` maps a URL prefix ("" for the app, "vendor/maplibre-gl" for the library) to a
    folder. MapLibre GL JS is 1 MB as shipped and 0.28 MB gzipped: compressing is what keeps
    the page under its 1 MB budget before map tiles.
    """
    prefixes = sorted(roots, key=len, reverse=True)

    def locate(url_path: str) -> str | None:
        url_path = url_path.lstrip("/")
        for prefix in prefixes:
            if prefix and not url_path.startswith(prefix + "/"):
                continue
            rest = url_path[len(prefix) + 1:] if prefix else url_path
            found = safe_join(str(roots[prefix]), rest)
            if found is not None and Path(found).is_file():
                return found
        return None

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = locate(environ.get("PATH_INFO", ""))
        if path is None:
            return NotFound()(environ, start_response)
        return _send(path, environ, start_response)

    return app


def single_file(path: Path) -> WSGIApp:
    """One file at its own mount point, always revalidated: a page (e.g. ``/wirtschaft``) or a
    file written at start-up (the web-map manifest).

    Only the bare path answers: the economy page loads its code with relative URLs
    (``assets/...``), which resolve correctly only from a top-level path, so ``/wirtschaft/``
    is a 404.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != "" or not path.is_file():
            return NotFound()(environ, start_response)
        return _send(str(path), environ, start_response, max_age=0)

    return app


def ows_services(settings: Settings) -> WSGIApp | None:
    """MapProxy's WMS and WMTS (:mod:`geoportal.app.ows`), from the configuration
    :func:`geoportal.app.server.prepare` wrote; None when MapServer is not installed."""
    config = ows_dir(settings) / MAPPROXY_FILE
    if not config.is_file():
        return None
    from mapproxy.wsgiapp import make_wsgi_app

    # MapProxy runs ``mapserv`` with this process's environment: MapServer 8 needs its config
    os.environ["MAPSERVER_CONFIG_FILE"] = str(ows_dir(settings) / MAPSERVER_CONFIG)
    return client_errors(make_wsgi_app(str(config)))


pygeoapi_patches.apply()
formats.register_mimetypes()  # the download server guesses types from suffixes
settings = Settings.from_env()
routes: WSGIApp = DispatcherMiddleware(
    APP.wsgi_app, {"/downloads": downloads(settings.published_dir),
                   # CSW 2.0.2 / ISO 19139 for SDI harvesters (pycsw), written by prepare
                   "/csw": csw_app(settings),
                   "/assets": web_assets(web_roots(settings.root)),
                   # the citizens' map's manifest, written by geoportal.app.server.prepare
                   "/assets/webmap.json": single_file(settings.data_dir / "webmap.json"),
                   # the map labels' glyphs, rendered by geoportal.app.server.prepare
                   "/assets/fonts": glyph_server(settings.data_dir / GLYPH_DIR),
                   # the geocoder over streets, addresses and POIs (issue 21.3)
                   "/search": search_server(settings.data_dir / INDEX_FILE),
                   # the economic-development page: German, and English under its own path
                   "/wirtschaft": single_file(settings.root / "web" / "src" / "economy.html"),
                   "/economy": single_file(settings.root / "web" / "src" / "economy.html"),
                   # legal notice, privacy, accessibility, help: datasets/_pages/
                   **page_routes(settings)}
)
#: What every request passes through, innermost first: each layer is one rule, swappable alone.
LAYERS: tuple[Callable[[WSGIApp], WSGIApp], ...] = (
    require_subset, coverage_descriptions, read_only_collections, strict_query_values,
    german_by_default, declare_utf8)
for layer in LAYERS:
    routes = layer(routes)
routes = with_ows(routes, ows_services(settings))
APP.wsgi_app = routes  # type: ignore[method-assign]
app = APP
