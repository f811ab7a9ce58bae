"""pygeoapi tile provider for raster map tiles: a PMTiles archive plus on-demand rendering.

pygeoapi's core serves only vector tiles. This provider, written in its plugin style
(:class:`pygeoapi.provider.tile.BaseTileProvider`), serves a raster mosaic as OGC API Tiles in
WebMercatorQuad: an orthophoto product built by ``pipelines/imagery``, or a LiDAR raster
(hillshade, canopy height) built by ``pipelines/lidar``:

- zooms held in the published ``tiles.pmtiles``, when the build wrote one (the orthophoto: the
  whole city down to a few zooms above native resolution), are answered straight from the
  memory-mapped archive;
- every other zoom is rendered from the published mosaic (``mosaic.vrt`` or ``<id>.vrt`` over
  the per-tile COGs) with rio-tiler and cached on disk under
  ``options.cache_dir/<version>/z/x/y.<ext>``.
  The cache is keyed by the published version, so a rebuild never serves stale tiles.

``options.style`` says how values become colours (``photo``/``grey``: bands as they are,
``canopy``: heights as a green ramp, transparent below 2 m; ``terrarium``: the terrain's heights
encoded in the colours, a raster-dem source for a 3D map, PNG only). The default format (``jpeg`` or
``png``, PNG with transparency outside the data) is the provider's ``format.name``; a request may
ask for the other with ``f=``. pygeoapi 0.24 hands every provider its configured format whatever
``f`` says (``f=png`` answered JPEG bytes as ``image/jpeg``), so :func:`install` wraps its tile
endpoint to pass the requested format on and to label the answer with its real media type.

pygeoapi instantiates a provider per request, so the open archive and mosaic readers are kept per
process, keyed by the published version folder.

The same URL template (``.../tiles/WebMercatorQuad/{z}/{y}/{x}?f=jpeg``) works as an XYZ source for
Leaflet, OpenLayers or MapLibre.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from http import HTTPStatus
from pathlib import Path
from typing import Any

from pmtiles.reader import MmapSource
from pmtiles.reader import Reader as PMTilesReader
from pmtiles.tile import TileType
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import ProviderConnectionError
from pygeoapi.provider.tile import BaseTileProvider, ProviderTileNotFoundError
from rio_tiler.io import Reader

from geoportal.app.providers.errors import translate_errors
from geoportal.core import formats
from geoportal.core.errors import InvalidQueryError, ItemNotFoundError
from geoportal.core.publish import atomic_write_bytes
from pipelines.imagery.pipeline import ARCHIVE, MOSAIC
from pipelines.imagery.webtiles import (
    CLASSED,
    ELEVATION_ENCODINGS,
    ENCODINGS,
    STYLES,
    TMS,
    render_tile,
    transparent,
)

LOGGER = logging.getLogger(__name__)
SCHEME = TileMatrixSetEnum.WEBMERCATORQUAD.value
ARCHIVE_FORMATS = {TileType.JPEG: "jpeg", TileType.PNG: "png"}

_LOCK = threading.Lock()
#: The tile format the current request asked for (set by the wrapper :func:`install` adds).
_REQUESTED: ContextVar[str | None] = ContextVar("requested_tile_format", default=None)
#: ``f=`` values a request may use: the encoding's name or its file extension (``f=jpg``).
FORMAT_ALIASES = {alias: fmt for fmt in ENCODINGS
                  for alias in (fmt, formats.get(fmt).extension.lstrip("."))}
OUR_NAMES = {"geoportal.app.providers.rastertiles.RasterTileProvider", "RasterTiles"}
_OPEN: dict[Path, tuple[Path, PMTilesReader | None, Any, Reader]] = {}


def _open_version(folder: Path, version: Path, mosaic: Path
                  ) -> tuple[PMTilesReader | None, Reader]:
    """The archive (if any) and mosaic of a dataset's published version, opened once per process.

    Keyed by the dataset's folder, so a newly published version replaces only its own readers.
    """
    with _LOCK:
        held = _OPEN.get(folder)
        if held is None or held[0] != version:
            if held is not None:
                held[3].close()
                if held[2] is not None:
                    held[2].close()
            archive, fh = None, None
            if (version / ARCHIVE).exists():
                fh = open(version / ARCHIVE, "rb")  # noqa: SIM115 - kept open with its mmap
                archive = PMTilesReader(MmapSource(fh))
            held = _OPEN[folder] = (version, archive, fh, Reader(str(mosaic), tms=TMS))
        return held[1], held[3]


@translate_errors
class RasterTileProvider(BaseTileProvider):
    """OGC API Tiles for a raster product: pre-rendered low zooms (if built), rendered the rest."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.tile_type = "raster"
        self.folder = Path(self.data)
        self.cache_dir = Path(self.options.get("cache_dir") or self.folder / ".tilecache")
        self.quality = int(self.options.get("quality", 85))
        self.style = str(self.options.get("style", "photo"))
        if self.style not in STYLES:
            raise ProviderConnectionError(f"{self.folder.name}: options.style {self.style!r}, "
                                          f"expected one of {sorted(STYLES)}")
        if self.format_type not in ENCODINGS:
            raise ProviderConnectionError(f"{self.folder.name}: format.name "
                                          f"{self.format_type!r}, expected one of "
                                          f"{sorted(ENCODINGS)}")
        self._service_url = ""

    def __repr__(self) -> str:
        return f"<RasterTileProvider> {self.data}"

    def get_layer(self) -> str:
        return self.folder.name

    def get_fields(self) -> dict[str, Any]:
        return {}

    def get_tiling_schemes(self) -> list[Any]:
        return [SCHEME]

    def get_tiles_service(self, baseurl: str | None = None, servicepath: str | None = None,
                          dirpath: str | None = None, tile_type: str | None = None
                          ) -> dict[str, Any]:
        self._service_url = servicepath or ""
        tileset = self._service_url.split("/{tileMatrix}")[0]
        return {"links": [
            {"type": "application/json", "rel": "self",
             "title": "This collection as map tilesets", "href": f"{tileset}?f=json"},
            {"type": self.mimetype, "rel": "item",
             "title": "This collection as map tiles", "href": self._service_url},
        ]}

    def get_tiles(self, layer: str | None = None, tileset: str | None = None,
                  z: int | None = None, y: int | None = None, x: int | None = None,
                  format_: str | None = None) -> bytes:
        if tileset != SCHEME.tileMatrixSet:
            raise ItemNotFoundError(f"no tile matrix set {tileset!r}: map tiles come in "
                                    f"{SCHEME.tileMatrixSet}")
        z, y, x = self._tile_index(z, y, x)
        fmt = _REQUESTED.get() or self.format_type
        if self.style in ELEVATION_ENCODINGS and fmt != "png":
            raise InvalidQueryError(f"f={fmt}: this layer's tiles encode heights in their "
                                    "colours and come as f=png only (lossless)")
        version, mosaic_path = self._version()
        archive, mosaic = _open_version(self.folder, version, mosaic_path)
        header = archive.header() if archive is not None else None
        if header and z <= header["max_zoom"] and fmt == ARCHIVE_FORMATS.get(header["tile_type"]):
            data = archive.get(z, x, y)  # type: ignore[union-attr]
        else:  # deeper than the archive, or another format than it holds
            data = self._rendered(version, mosaic, z, x, y, fmt)
        if not data and self.style in CLASSED and fmt == "png":
            data = transparent(fmt)  # a classed map: no class here (dry), not "no tile"
        if not data:
            raise ProviderTileNotFoundError()
        return data

    def _tile_index(self, z: Any, y: Any, x: Any) -> tuple[int, int, int]:
        """The tile's zoom, row and column as numbers, refused with a message when no tile can
        be there (pygeoapi's own check fails with an IndexError beyond the tile matrix set)."""
        low, high = self.options["zoom"]["min"], self.options["zoom"]["max"]
        try:
            z, y, x = int(z), int(y), int(x)
        except (TypeError, ValueError) as err:
            raise ItemNotFoundError(f"tile {z}/{y}/{x}: zoom, row and column are integers") \
                from err
        if not low <= z <= high:
            raise ItemNotFoundError(f"no map tiles at zoom {z}: this layer has zooms "
                                    f"{low} to {high}")
        size = 2 ** z
        if not (0 <= y < size and 0 <= x < size):
            raise ItemNotFoundError(f"tile {z}/{y}/{x}: row and column at zoom {z} lie in "
                                    f"0 to {size - 1}")
        return z, y, x

    def _version(self) -> tuple[Path, Path]:
        """The published version folder and its mosaic (``mosaic.vrt``, else ``<id>.vrt``)."""
        version = self.folder.resolve()
        named = self.options.get("mosaic")
        for name in ([named] if named else [MOSAIC, f"{self.folder.name}.vrt"]):
            if (version / name).exists():
                return version, version / name
        raise ProviderConnectionError(f"{self.folder.name}: no published mosaic")

    def _rendered(self, version: Path, mosaic: Reader, z: int, x: int, y: int,
                  fmt: str) -> bytes | None:
        """A tile from the disk cache, or rendered from the mosaic and cached."""
        name = f"{y}{formats.get(fmt).extension}"
        path = self.cache_dir / version.name / str(z) / str(x) / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        data = render_tile(mosaic, z, x, y, self.quality, self.style, fmt)
        if data is None:
            return None
        atomic_write_bytes(path, data)  # two workers rendering the same tile: whole files
        return data

    def get_metadata(self, dataset: str, server_url: str, layer: str | None = None,
                     tileset: str | None = None, metadata_format: str | None = None,
                     title: str | None = None, description: str | None = None,
                     keywords: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        url = (f"{server_url}/collections/{dataset}/tiles/{SCHEME.tileMatrixSet}"
               "/{tileMatrix}/{tileRow}/{tileCol}?f=" + self.format_type)
        zoom = self.options["zoom"]
        if (metadata_format or "").lower() == "tilejson":
            version, mosaic = self._version()
            bounds = _open_version(self.folder, version, mosaic)[1].get_geographic_bounds(
                TMS.rasterio_geographic_crs)
            return {"tilejson": "3.0.0", "name": dataset, "description": description,
                    "tiles": [url.replace("{tileMatrix}", "{z}").replace("{tileRow}", "{y}")
                              .replace("{tileCol}", "{x}")],
                    "minzoom": zoom["min"], "maxzoom": zoom["max"], "bounds": list(bounds),
                    "scheme": "xyz"}
        return {
            "title": title, "description": description, "keywords": keywords or [],
            "dataType": "map", "crs": SCHEME.crs, "tileMatrixSetURI": SCHEME.tileMatrixSetURI,
            "links": [
                {"href": f"{server_url}/TileMatrixSets/{SCHEME.tileMatrixSet}",
                 "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                 "type": "application/json",
                 "title": f"{SCHEME.tileMatrixSet} tile matrix set definition"},
                {"href": url, "rel": "item", "type": self.mimetype,
                 "title": f"{SCHEME.tileMatrixSet} map tiles for {dataset}"},
            ],
        }


def install() -> None:
    """Make pygeoapi's tile endpoint honour ``f=jpeg|png`` for the collections of this provider.

    For any other collection, or without ``f``, pygeoapi answers as before. An ``f`` this
    provider cannot encode is a 400 that names the formats it can. An error answer of any tile
    collection is labelled as what it is (JSON, or pygeoapi's plain "Tile not found"), not as
    the tile format pygeoapi put in the headers first.
    """
    from pygeoapi.api import tiles as tiles_api
    from pygeoapi.provider import filter_providers_by_type

    original = tiles_api.get_collection_tiles_data
    if getattr(original, "_geoportal", False):
        return

    def get_collection_tiles_data(api: Any, request: Any, dataset: str | None = None,
                                  *args: Any, **kwargs: Any) -> tuple[dict, int, Any]:
        resource = api.config["resources"].get(dataset) or {}
        provider = filter_providers_by_type(resource.get("providers", []), "tile") or {}
        asked = (request.format or "").strip().lower()
        if not asked or provider.get("name") not in OUR_NAMES:
            return _labelled(*original(api, request, dataset, *args, **kwargs))
        if asked not in FORMAT_ALIASES:
            headers = request.get_response_headers(**api.api_headers)
            return api.get_exception(
                HTTPStatus.BAD_REQUEST, headers, "json", "InvalidParameterValue",
                f"f={asked}: map tiles come as f=jpeg or f=png")
        fmt = FORMAT_ALIASES[asked]
        token = _REQUESTED.set(fmt)
        try:
            headers, status, content = original(api, request, dataset, *args, **kwargs)
        finally:
            _REQUESTED.reset(token)
        if status == HTTPStatus.OK:
            headers["Content-Type"] = formats.get(fmt).media_type
        return _labelled(headers, status, content)

    get_collection_tiles_data._geoportal = True  # type: ignore[attr-defined]
    tiles_api.get_collection_tiles_data = get_collection_tiles_data


def _labelled(headers: dict, status: int, content: Any) -> tuple[dict, int, Any]:
    """A tile endpoint's error answer with the media type of its body."""
    if status != HTTPStatus.OK and isinstance(content, str) and \
            not headers.get("Content-Type", "").startswith("text/html"):
        json_body = content.lstrip().startswith("{")
        headers["Content-Type"] = "application/json" if json_body else "text/plain; charset=utf-8"
    return headers, status, content
