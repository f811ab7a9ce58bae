"""The one table of file formats: extension, media type, titles, EU and CKAN codes, GDAL and
pygeoapi names.

The server (download links, ``/downloads`` media types, provider ``format`` blocks), the
pipelines (``metadata.json`` file records), the tile providers, the catalogue (DCAT-AP.de,
CKAN) and the web map all read their facts about a format here, so that a GeoPackage is the same
media type in the catalogue as in the HTTP header of its download. The EU file-type *codes* live
here; the vocabulary IRIs they join stay in ``catalog/vocab.py``.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from geoportal.core.errors import UnknownFormatError


@dataclass(frozen=True)
class Format:
    """Every fact the portal states about one format, keyed by its ``name`` (the word the
    registry's ``outputs`` and ``metadata.json``'s ``format`` use)."""

    name: str
    extension: str  # with the dot, as files of this format are named on disk (".gpkg")
    media_type: str  # with parameters where the portal states them (the COG profile)
    title: str  # short name a person reads (the web map's download buttons)
    #: Title of the server's download link (with the CRS the portal writes the file in);
    #: None: pygeoapi links no such file (rasters and point clouds come per tile).
    download_title: str | None = None
    eu_code: str | None = None  # EU file-type authority table; None: the catalogue has none
    ckan_label: str | None = None  # CKAN's resource format (and DCAT's label); None: the title
    gdal_driver: str | None = None  # GDAL/OGR driver short name (``ogr2ogr -f``, rasterio)
    pygeoapi_format: str | None = None  # ``format.name`` of a pygeoapi provider serving it
    #: The ``format.mimetype`` pygeoapi is given, where its own word differs from ``media_type``.
    pygeoapi_media_type: str | None = None
    served_only: bool = False  # served through OGC API (tiles), never offered as a file

    @property
    def catalogue_label(self) -> str:
        """The format's name in the catalogue (CKAN's resource format, DCAT titles)."""
        return self.ckan_label or self.title

    @property
    def plain_media_type(self) -> str:
        """The media type without parameters: what registries (IANA, DCAT) and headers key on."""
        return self.media_type.split(";", 1)[0].strip()

    def pygeoapi_block(self) -> dict[str, str]:
        """The ``format`` block of a pygeoapi provider definition serving this format."""
        if self.pygeoapi_format is None:
            raise UnknownFormatError(f"format {self.name!r} has no pygeoapi format name; "
                                     "add it to geoportal/core/formats.py")
        return {"name": self.pygeoapi_format,
                "mimetype": self.pygeoapi_media_type or self.plain_media_type}


FORMATS: dict[str, Format] = {f.name: f for f in (
    # Vector downloads, written by the pipelines (GeoJSON in WGS84, as RFC 7946 demands).
    Format("gpkg", ".gpkg", "application/geopackage+sqlite3", "GeoPackage",
           download_title="GeoPackage (EPSG:25832)", eu_code="GPKG", gdal_driver="GPKG"),
    Format("csv", ".csv", "text/csv", "CSV",
           download_title="CSV", eu_code="CSV", gdal_driver="CSV"),
    Format("geojson", ".geojson", "application/geo+json", "GeoJSON",
           download_title="GeoJSON (WGS84)", eu_code="GEOJSON", gdal_driver="GeoJSON"),
    Format("parquet", ".parquet", "application/vnd.apache.parquet", "GeoParquet",
           download_title="GeoParquet (EPSG:25832)", eu_code="PARQUET", ckan_label="Parquet",
           gdal_driver="Parquet"),
    # Rasters and point clouds, published per tile (listed in metadata.json, not linked by
    # pygeoapi). Every published GeoTIFF is a COG; pygeoapi's rasterio provider answers
    # coverages with its own word for the type, which the rendered config has always carried.
    Format("tif", ".tif", "image/tiff; application=geotiff; profile=cloud-optimized", "GeoTIFF",
           eu_code="GEOTIFF", gdal_driver="COG",
           pygeoapi_format="GTiff", pygeoapi_media_type="application/x-geotiff"),
    Format("cog", ".tif", "image/tiff; application=geotiff; profile=cloud-optimized",
           "Cloud Optimized GeoTIFF", eu_code="GEOTIFF", gdal_driver="COG"),
    Format("laz", ".laz", "application/vnd.laszip", "LAZ", eu_code="LAZ"),
    # The registry's word for point clouds; the LiDAR build records its COPC tiles as "laz".
    Format("copc", ".copc.laz", "application/vnd.laszip", "COPC"),
    Format("json", ".json", "application/json", "JSON", eu_code="JSON"),
    # The 3D city (pipelines/city3d): CityJSON per tile, a 3D Tiles tileset (JSON, whose glTF
    # content is served beside it but is one distribution with it). The EU file-type list
    # has no CityJSON or 3D Tiles code; both are JSON files.
    Format("cityjson", ".city.json", "application/city+json", "CityJSON 2.0", eu_code="JSON"),
    Format("3dtiles", ".json", "application/json", "3D Tiles 1.1", eu_code="JSON"),
    Format("glb", ".glb", "model/gltf-binary", "glTF (GLB)"),
    # Map tiles (OGC API Tiles, ``f=jpeg|png|mvt``) and the archive of pre-rendered ones.
    Format("jpeg", ".jpg", "image/jpeg", "JPEG", eu_code="JPEG", gdal_driver="JPEG",
           pygeoapi_format="jpeg", served_only=True),
    Format("png", ".png", "image/png", "PNG", eu_code="PNG", gdal_driver="PNG",
           pygeoapi_format="png", served_only=True),
    Format("mvt", ".pbf", "application/vnd.mapbox-vector-tile", "Mapbox Vector Tiles",
           gdal_driver="MVT", pygeoapi_format="pbf", served_only=True),
    Format("pmtiles", ".pmtiles", "application/vnd.pmtiles", "PMTiles", gdal_driver="PMTiles",
           served_only=True),
    # The catalogue's own files under /downloads (catalog.ttl, catalog.jsonld).
    Format("ttl", ".ttl", "text/turtle", "Turtle"),
    Format("jsonld", ".jsonld", "application/ld+json", "JSON-LD"),
)}


def get(name: str) -> Format:
    """The format called ``name`` (case-insensitive, as registry files are written by hand)."""
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise UnknownFormatError(f"unknown file format {name!r}; add it to "
                                 f"geoportal/core/formats.py (known: {', '.join(FORMATS)})"
                                 ) from None


def by_pygeoapi_name(name: str) -> Format:
    """The format a pygeoapi provider's ``format.name`` stands for (``pbf`` → ``mvt``)."""
    for fmt in FORMATS.values():
        if fmt.pygeoapi_format is not None and fmt.pygeoapi_format.lower() == name.lower():
            return fmt
    known = ", ".join(sorted(f.pygeoapi_format for f in FORMATS.values() if f.pygeoapi_format))
    raise UnknownFormatError(f"no file format with the pygeoapi name {name!r}; add it to "
                             f"geoportal/core/formats.py (known: {known})")


def by_extension(extension: str) -> Format:
    """The format of files ending in ``extension`` (``".gpkg"`` or ``"gpkg"``); for ``.tif``
    the plain GeoTIFF entry, which comes before its COG alias."""
    wanted = "." + extension.lower().lstrip(".")
    for fmt in FORMATS.values():
        if fmt.extension == wanted:
            return fmt
    known = ", ".join(sorted({f.extension for f in FORMATS.values()}))
    raise UnknownFormatError(f"no file format with the extension {wanted!r}; add it to "
                             f"geoportal/core/formats.py (known: {known})")


def files() -> list[Format]:
    """The formats offered as files (downloads), not only served through an API."""
    return [f for f in FORMATS.values() if not f.served_only]


def register_mimetypes() -> None:
    """Teach :mod:`mimetypes` the files of this table: a file server guessing a type from the
    suffix (``/downloads``) then answers what ``metadata.json`` and the catalogue state, whatever
    the machine's own list (``/etc/mime.types``) lacks or says otherwise."""
    for fmt in files():
        mimetypes.add_type(fmt.plain_media_type, fmt.extension)
