"""WMS 1.3.0 and WMTS 1.0.0 for the map layers: MapProxy in front of MapServer, from the registry.

Most German municipal GIS users and the GDI-DE still open maps as WMS/WMTS. Rather than a
hand-written service, two servers made for it run inside the same gunicorn app as pygeoapi:

- **MapProxy** (PyPI) answers the OGC requests — WMS 1.3.0/1.1.1 GetCapabilities, GetMap,
  GetFeatureInfo, and WMTS 1.0.0 (KVP and RESTful) in Web Mercator and the AdV's EPSG:25832
  tile matrix set — with the capabilities documents, CRS axis orders and tile grids done right;
- **MapServer** (Debian ``mapserver-bin``, run by MapProxy as a CGI process per request) draws
  the published files themselves: the raster mosaics (orthophoto, hillshade, canopy height) and
  the GeoPackages of the vector layers, and finds the features at a GetFeatureInfo click.

Both configurations are rendered at server start (:func:`geoportal.app.server.prepare`) from
the registry, the runtime pygeoapi config (built layers only) and the web map's manifest (the
legend colours and legends), so a new dataset appears in the WMS by its YAML alone:
:mod:`.layers` (which layers, from what), :mod:`.mapfile`, :mod:`.mapproxy`, :mod:`.legends`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from geoportal.app.ows.layers import map_layers
from geoportal.app.ows.legends import write_legends
from geoportal.app.ows.mapfile import html_templates, render_mapfile, render_mapserver_config
from geoportal.app.ows.mapproxy import render_mapproxy
from geoportal.core.publish import atomic_write_text
from geoportal.core.registry import Registry, load_portal
from geoportal.core.settings import Settings

OWS_DIR = "ows"
MAPPROXY_FILE = "mapproxy.yaml"
MAPFILE = "mapserver.map"
MAPSERVER_CONFIG = "mapserver.conf"
LEGENDS_DIR = "legends"
#: The URL paths the WSGI app hands to MapProxy (``/ows`` takes either service as KVP).
PATHS = ("/wms", "/wmts", "/ows")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
UNAVAILABLE = (b"WMS/WMTS are not available: MapServer (Debian mapserver-bin) is not installed "
               b"on this server; scripts/install-system-deps.sh installs it")


def mapserver_binary() -> str | None:
    """Debian's ``mapserv`` (package mapserver-bin), or None where it is not installed."""
    return shutil.which("mapserv")


def ows_dir(settings: Settings) -> Path:
    return settings.data_dir / OWS_DIR


def write_ows_config(settings: Settings, registry: Registry, resources: dict[str, Any],
                     manifest: dict[str, Any]) -> Path | None:
    """Write MapServer's mapfile and MapProxy's configuration; return the latter's path, or None
    (and remove an old one) when MapServer is not installed, so the WMS says so instead of
    failing on every request."""
    folder = ows_dir(settings)
    config = folder / MAPPROXY_FILE
    binary = mapserver_binary()
    if binary is None:
        config.unlink(missing_ok=True)
        return None
    colours = {rid: layer["colour"] for rid, layer in manifest["layers"].items()}
    layers = map_layers(registry, resources, colours, settings)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in html_templates(layers).items():
        atomic_write_text(folder / name, text)
    atomic_write_text(folder / MAPFILE, render_mapfile(layers))
    atomic_write_text(folder / MAPSERVER_CONFIG, render_mapserver_config(folder / MAPFILE))
    legends = write_legends(folder / LEGENDS_DIR, manifest)
    document = render_mapproxy(layers, load_portal(settings.datasets_dir), binary,
                               folder / MAPFILE, folder, settings.tiles_dir / "_ows", legends)
    atomic_write_text(config, document)
    return config


def with_ows(app: WSGIApp, ows: WSGIApp | None) -> WSGIApp:
    """Hand :data:`PATHS` to MapProxy with the path unchanged (they are its own routes), or
    answer them with a 503 that names the missing package when MapServer is not installed."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not any(path == p or path.startswith(p + "/") for p in PATHS):
            return app(environ, start_response)
        if path.rstrip("/") == "/wmts" and environ.get("QUERY_STRING"):
            # KVP at the RESTful root, as clients pasting ".../wmts" ask: MapProxy's /ows
            environ = {**environ, "PATH_INFO": "/ows"}
        if ows is None:
            start_response("503 SERVICE UNAVAILABLE", [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(UNAVAILABLE)))])
            return [UNAVAILABLE]
        return ows(environ, start_response)

    return wrapped
