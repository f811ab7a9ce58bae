"""Render ``pygeoapi-config.yml`` from the registry.

The file is committed (a reviewer sees what the server will offer) and a test fails when it drifts
from the registry. It contains no machine paths: data locations and the public URL are written as
pygeoapi environment references (``${GEOPORTAL_PUBLISHED_DIR:-var/published}``) that the server
process resolves, so the same file serves a laptop, CI and production.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from geoportal.app.pages import PAGES
from geoportal.core import formats
from geoportal.core.registry import Dataset, License, Registry

HEADER = (
    "# GENERATED from datasets/*.yml by `geoportal config` — do not edit by hand.\n"
    "# Edit the dataset descriptions in datasets/ and run `geoportal config` again;\n"
    "# tests/test_pygeoapi_config.py fails when this file and the registry disagree.\n"
)
PUBLISHED = "${GEOPORTAL_PUBLISHED_DIR:-var/published}"
URL = "${GEOPORTAL_URL:-http://127.0.0.1:5000}"
HOME = "${GEOPORTAL_HOME:-.}"
TILES = "${GEOPORTAL_TILES_DIR:-tiles}"
DATA = "${GEOPORTAL_DATA_DIR:-var}"
#: The OGC API Records collection of every dataset's metadata (written at start-up by
#: geoportal.app.server.prepare, from the same records as the DCAT-AP.de and CSW catalogues).
CATALOGUE = "catalogue"
CATALOGUE_FILE = "catalogue.tinydb.json"
BASEMAP = "orthophoto"  # the raster tile collection behind every map of pygeoapi's HTML pages
OUTPUT_CRS = [
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/25832",
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
]
#: The tile matrix sets every tiled layer is offered in (a fresh list per provider: YAML would
#: write a shared one as an anchor).
TILE_MATRIX_SETS = ("WebMercatorQuad",)
# Ratingen's municipal area in WGS84, the default extent of every collection.
CITY_BBOX = [6.77, 51.25, 6.96, 51.36]


def render_config(registry: Registry) -> dict[str, Any]:
    """The pygeoapi configuration as a dict, resources in registry order."""
    first = next(iter(registry), None)
    resources = {d.id: _resource(d) for d in registry
                 if d.serve.features or d.serve.tiles or d.serve.coverage}
    return {
        "server": _server(),
        "logging": {"level": "ERROR"},
        "metadata": _metadata(first),
        "resources": {**resources, CATALOGUE: _catalogue_resource()},
    }


def render_text(registry: Registry) -> str:
    return HEADER + yaml.safe_dump(render_config(registry), sort_keys=False, allow_unicode=True,
                                   width=100)


def write_config(registry: Registry, path: Path) -> bool:
    """Write the rendered config; return True when the file changed."""
    text = render_text(registry)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def _server() -> dict[str, Any]:
    return {
        "bind": {"host": "127.0.0.1", "port": 5000},
        "url": URL,
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "gzip": False,
        "languages": ["de-DE", "en-US"],
        "cors": True,
        "pretty_print": False,
        # a limit over the maximum is a 400 naming both (geoportal/app/pygeoapi_patches.py), not a
        # silently shorter page: a client that asked for everything learns it did not get it
        "limits": {"default_items": 100, "max_items": 10000, "on_exceed": "error"},
        # Only pygeoapi's stock HTML pages drew this Leaflet map; the portal replaces them all
        # (geoportal/app/templates/), but pygeoapi's config schema requires the setting. It names
        # the portal's own orthophoto tiles, so nothing here points at an external server.
        "map": {"url": f"{URL}/collections/{BASEMAP}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
                       "?f=jpeg",
                "attribution": "Stadt Ratingen, Geobasis NRW"},
        "templates": {"path": f"{HOME}/geoportal/app/templates"},
    }


def _metadata(first: Dataset | None) -> dict[str, Any]:
    publisher = first.publisher if first else None
    contact = first.contact if first else None
    return {
        "identification": {
            "title": {"de": "Geoportal Ratingen", "en": "Ratingen geoportal"},
            "description": {
                "de": "Offene Geodaten der Stadt Ratingen als OGC API",
                "en": "Open geodata of the City of Ratingen as OGC API",
            },
            "keywords": {"de": ["Geodaten", "Ratingen", "Open Data"],
                         "en": ["geodata", "Ratingen", "open data"]},
            "keywords_type": "theme",
            "terms_of_service": License.DL_BY_DE_2_0.page,
            "url": publisher.url if publisher else "https://www.ratingen.de",
        },
        "license": {"name": dict(License.DL_BY_DE_2_0.title),
                    "url": License.DL_BY_DE_2_0.page},
        "provider": {"name": publisher.name if publisher else "Stadt Ratingen",
                     "url": publisher.url if publisher else "https://www.ratingen.de"},
        "contact": {
            "name": contact.name if contact else "Stadt Ratingen",
            "email": contact.email if contact and contact.email else "",
            "url": contact.url if contact and contact.url else "",
            "role": "pointOfContact",
        },
        # the portal's own pages, linked from the map page (templates/landing_page.html)
        "pages": [{"slug": p.slug, "title_de": p.title["de"], "title_en": p.title["en"]}
                  for p in PAGES],  # not {de, en}: pygeoapi would pick one language itself
    }


def _feature_provider(d: Dataset) -> dict[str, Any] | None:
    """OGC API Features from the published GeoPackage."""
    if not d.serve.features:
        return None
    provider: dict[str, Any] = {
        "type": "feature",
        "name": "geoportal.app.providers.geopackage.GeoPackageProvider",
        "data": f"{PUBLISHED}/{d.id}/{d.id}.gpkg",
        "id_field": d.schema.id_field,
        "crs": OUTPUT_CRS,
        # stated (it is the default) so that pygeoapi moves CQL2 geometry literals from
        # filter-crs into it and names it; the provider converts to the file's CRS exactly
        "storage_crs": OUTPUT_CRS[0],
    }
    if d.schema.title_field:
        provider["title_field"] = d.schema.title_field
    return provider


def _vector_tiles_provider(d: Dataset) -> dict[str, Any] | None:
    """OGC API Tiles from the tippecanoe tile folder (``tiles/<id>`` → the published version)."""
    if d.serve.tiles != "vector":
        return None
    zoom = d.pipeline.params.vector_tiles()
    return {
        "type": "tile",
        "name": "MVT-tippecanoe",
        "data": f"{TILES}/{d.id}",
        "options": {"zoom": {"min": zoom.minzoom, "max": zoom.maxzoom},
                    "schemes": list(TILE_MATRIX_SETS)},
        "format": formats.get("mvt").pygeoapi_block(),
    }


def _raster_tiles_provider(d: Dataset) -> dict[str, Any] | None:
    """OGC API Tiles (map tiles) from a raster build: PMTiles archive (if any) + rendered zooms.

    The pipeline kind's parameters say how (:meth:`Params.raster_tiles`): style (photo, grey,
    canopy), format (jpeg, png), zoom range and quality.
    """
    if d.serve.tiles != "raster":
        return None
    tiles = d.pipeline.params.raster_tiles()
    return {
        "type": "tile",
        "name": "geoportal.app.providers.rastertiles.RasterTileProvider",
        "data": f"{PUBLISHED}/{d.id}",
        "options": {"zoom": {"min": tiles.min_zoom, "max": tiles.max_zoom},
                    "schemes": list(TILE_MATRIX_SETS),
                    "cache_dir": f"{TILES}/{d.id}",
                    "style": tiles.style,
                    "quality": tiles.quality},
        "format": formats.get(tiles.format).pygeoapi_block(),
    }


def _coverage_provider(d: Dataset) -> dict[str, Any] | None:
    """OGC API Coverages from the published mosaic (a VRT of the tile COGs) via rasterio.

    pygeoapi's rasterio provider takes a single file; ours checks ``subset``, ``bbox`` and
    ``bbox-crs`` first and cuts a ``bbox`` in the native CRS (pygeoapi's own gave a 500 for a
    ``bbox-crs`` URI, see stack-facts). It is the collection's default provider: pygeoapi
    describes a collection by its default alone, and a relief with map tiles too (hillshade,
    canopy height) was described as tiles only — no coverage link, so OWSLib and GDAL did not
    see the coverage. Its tiles are linked whatever the default.
    """
    if not d.serve.coverage:
        return None
    return {
        "type": "coverage",
        "default": True,
        "name": "geoportal.app.providers.coverage.CoverageProvider",
        "data": f"{PUBLISHED}/{d.id}/{d.id}.vrt",
        "format": formats.get("tif").pygeoapi_block(),
    }


# One function per kind of OGC API a layer may offer (features, tiles, coverage); each returns
# a pygeoapi provider definition or None. Add a kind by adding a function here.
PROVIDER_RENDERERS: list[Callable[[Dataset], dict[str, Any] | None]] = [_feature_provider,
                                                                       _vector_tiles_provider,
                                                                       _raster_tiles_provider,
                                                                       _coverage_provider]


def _resource(d: Dataset) -> dict[str, Any]:
    providers = [p for render in PROVIDER_RENDERERS if (p := render(d)) is not None]
    return {
        "type": "collection",
        "title": {"de": d.title.de, "en": d.title.get("en")},
        "description": {"de": d.description.de, "en": d.description.get("en")},
        "keywords": {"de": d.keywords.de, "en": d.keywords.en or d.keywords.de},
        "links": _links(d),
        "extents": {"spatial": {"bbox": CITY_BBOX,
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": providers,
    }


def _catalogue_resource() -> dict[str, Any]:
    """OGC API Records: one record per dataset of the registry (pygeoapi's TinyDB catalogue)."""
    return {
        "type": "collection",
        "title": {"de": "Katalog der Datensätze", "en": "Catalogue of the datasets"},
        "description": {
            "de": "Metadaten aller Datensätze des Geoportals (OGC API Records); dieselben "
                  "Einträge als ISO 19139 unter /csw und als DCAT-AP.de unter "
                  "/downloads/catalog.ttl",
            "en": "Metadata of every dataset of the geoportal (OGC API Records); the same "
                  "entries as ISO 19139 at /csw and as DCAT-AP.de at /downloads/catalog.ttl"},
        "keywords": {"de": ["Metadaten", "Katalog"], "en": ["metadata", "catalogue"]},
        "links": [{"type": "application/xml", "rel": "alternate",
                   "title": "CSW 2.0.2 (ISO 19139)",
                   "href": f"{URL}/csw?service=CSW&version=2.0.2&request=GetCapabilities",
                   "hreflang": "de"}],
        "extents": {"spatial": {"bbox": CITY_BBOX,
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": [{"type": "record",
                       "name": "geoportal.app.providers.records.RecordsProvider",
                       "data": f"{DATA}/{CATALOGUE_FILE}", "id_field": "id",
                       "time_field": "updated", "title_field": "title"}],
    }


def _links(d: Dataset) -> list[dict[str, str]]:
    links = [{
        "type": "text/html",
        "rel": "license",
        # the name people know it by (German, as the licence text it links; pygeoapi's schema
        # wants one string here), the dataset page names it in the reader's language
        "title": d.license.title["de"],
        "href": d.license.page,
        "hreflang": "de",
    }]
    for fmt in map(formats.get, d.outputs):
        if fmt.download_title is None:  # tiles are served, rasters downloaded per tile
            continue
        links.append({
            "type": fmt.media_type,
            "rel": "enclosure",
            "title": f"Download {fmt.download_title}",
            "href": f"{URL}/downloads/{d.id}/{d.id}{fmt.extension}",
            "hreflang": "de",
        })
    return links

