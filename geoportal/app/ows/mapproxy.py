"""MapProxy's configuration: the WMS and WMTS services over MapServer, one layer per map layer.

Each layer has one MapServer source, which WMS GetMap asks directly for the requested box and
CRS (MapServer reprojects from the files, so a WMS image is drawn, not resampled from tiles),
and one tile "cache" for WMTS in two tile matrix sets: ``WebMercatorQuad`` (EPSG:3857, web maps)
and the AdV's ``DE_EPSG_25832_ADV`` (EPSG:25832, the German SDI's WMTS grid). WMTS tiles are
stored under ``<tiles_dir>/_ows`` (one MapServer run draws a 4 × 4 block of them): a rebuild
publishes a new version behind the same path, and every stored tile older than the layer's
published ``metadata.json`` is drawn again (``refresh_before: mtime``), so a new version shows
without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from geoportal.app.ows.layers import MapLayer
from geoportal.app.ows.mapfile import MAX_IMAGE_PX, SERVED_CRS
from geoportal.core.registry import Portal

#: The AdV's WMTS tile matrix set for Germany in EPSG:25832 (GDI-DE, "DE_EPSG_25832_ADV"):
#: top left corner and the resolution of level 0, halved per level.
ADV_ORIGIN = (-46133.17, 6301219.54)
ADV_RES0 = 4891.969810251271
ADV_LEVELS = 18
TILE_PX = 256
#: WMTS tiles drawn by one MapServer run (per side), and the pixels drawn around that block
#: and cut off, so symbols at its edge are whole.
META_TILES = 4
META_BUFFER_PX = 16
#: Where WMTS clients fetch a layer's legend: the WMS GetLegendGraphic on ``/ows``.
LEGEND_URL = ("{base_url}/ows?service=WMS&amp;request=GetLegendGraphic&amp;version=1.3.0"
              "&amp;format=image%2Fpng&amp;sld_version=1.1.0&amp;layer={layer_name}")


def render_mapproxy(layers: list[MapLayer], portal: Portal, binary: str, mapfile: Path,
                    working_dir: Path, cache_dir: Path,
                    legends: dict[str, Path] | None = None) -> str:
    config = mapproxy_config(layers, portal, binary, mapfile, working_dir, cache_dir, legends)
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def mapproxy_config(layers: list[MapLayer], portal: Portal, binary: str, mapfile: Path,
                    working_dir: Path, cache_dir: Path,
                    legends: dict[str, Path] | None = None) -> dict[str, Any]:
    """The whole MapProxy configuration; ``legends`` are the layers' legend PNGs
    (:mod:`.legends`), answered by GetLegendGraphic and listed in both capabilities."""
    legends = legends or {}
    return {
        "globals": {
            "mapserver": {"binary": binary, "working_dir": str(working_dir)},
            "cache": {"base_dir": str(cache_dir), "lock_dir": str(cache_dir / "locks"),
                      "tile_lock_dir": str(cache_dir / "tile_locks")},
            # full colour PNGs: a 256-colour palette would change an orthophoto's pixels
            "image": {"resampling_method": "bilinear", "paletted": False,
                      "formats": {"image/jpeg": {"encoding_options": {"jpeg_quality": 85}}}},
            "http": {"access_control_allow_origin": "*"},
        },
        "services": _services(layers, portal),
        "grids": _grids(),
        "sources": {f"{x.id}_renderer": _source(x, mapfile) for x in layers},
        "caches": {f"{x.id}_tiles": _cache(x) for x in layers},
        "layers": [_layer(x, legends.get(x.id)) for x in layers],
    }


def _services(layers: list[MapLayer], portal: Portal) -> dict[str, Any]:
    titles = ", ".join(x.title for x in layers)
    md = {
        "title": "Geoportal Ratingen",
        "abstract": f"Karten der Stadt Ratingen als WMS und WMTS: {titles}. Dieselben Daten "
                    "als OGC API und zum Download unter /collections.",
        "online_resource": portal.contact.url or portal.publisher.url or "",
        "contact": {"organization": portal.publisher.name, "person": portal.contact.name,
                    "position": "pointOfContact", "email": portal.contact.email or "",
                    "city": "Ratingen", "country": "Deutschland"},
        "fees": "keine",
        # MapProxy puts this text into the XML as it is: no markup characters
        "access_constraints": "Es gelten die Lizenzen der einzelnen Ebenen, "
                              "genannt auf der Seite jeder Ebene unter /collections.",
        "keyword_list": [{"keywords": ["Geodaten", "Ratingen", "Open Data", "WMS", "WMTS"]}],
    }
    return {
        "wms": {"versions": ["1.3.0", "1.1.1"], "srs": [*SERVED_CRS, "CRS:84"],
                "bbox_srs": ["EPSG:25832", "EPSG:4326", "EPSG:3857"],
                "image_formats": ["image/png", "image/jpeg"],
                "featureinfo_types": ["html", "json", "xml", "text"],
                "max_output_pixels": [MAX_IMAGE_PX, MAX_IMAGE_PX],
                "on_source_errors": "raise", "strict": True, "md": md},
        "wmts": {"restful": True, "kvp": True, "md": md},
    }


def _grids() -> dict[str, Any]:
    x0, y1 = ADV_ORIGIN
    span = ADV_RES0 * TILE_PX
    return {
        "DE_EPSG_25832_ADV": {
            "srs": "EPSG:25832", "bbox": [x0, y1 - span, x0 + span, y1],
            "bbox_srs": "EPSG:25832", "origin": "nw", "tile_size": [TILE_PX, TILE_PX],
            "res": [ADV_RES0 / 2 ** level for level in range(ADV_LEVELS)]},
        "WebMercatorQuad": {"base": "GLOBAL_WEBMERCATOR"},
    }


def _source(layer: MapLayer, mapfile: Path) -> dict[str, Any]:
    source: dict[str, Any] = {
        "type": "mapserver",
        "req": {"layers": layer.id, "map": str(mapfile), "transparent": True},
        "supported_srs": list(SERVED_CRS),
        "supported_formats": ["image/png", "image/jpeg"],
        "wms_opts": {"version": "1.1.1", "featureinfo": layer.queryable},
    }
    if layer.bbox:
        source["coverage"] = {"bbox": list(layer.bbox), "srs": "EPSG:25832"}
    return source


def _cache(layer: MapLayer) -> dict[str, Any]:
    return {"sources": [f"{layer.id}_renderer"], "grids": ["WebMercatorQuad", "DE_EPSG_25832_ADV"],
            "format": layer.image_format, "request_format": "image/png",
            "meta_size": [META_TILES, META_TILES], "meta_buffer": META_BUFFER_PX,
            "refresh_before": {"mtime": str(layer.metadata)}}


def _layer(layer: MapLayer, legend: Path | None) -> dict[str, Any]:
    md: dict[str, Any] = {"abstract": layer.abstract,
                          "keyword_list": [{"keywords": list(layer.keywords)}]}
    if layer.attribution:
        md["attribution"] = {"title": layer.attribution}
    found: dict[str, Any] = {"name": layer.id, "title": layer.title, "md": md,
                             "sources": [f"{layer.id}_renderer"],
                             "tile_sources": [f"{layer.id}_tiles"]}
    if legend is not None:
        found["legendurl"] = legend.resolve().as_uri()
        # MapProxy's default WMTS LegendURL points at a /service route this server lacks
        found["wmts_kvp_legendurl"] = found["wmts_rest_legendurl"] = LEGEND_URL
    return found
