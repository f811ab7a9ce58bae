"""The web map's manifest: which layers the citizens' map shows, and how, from the registry.

The map page (``web/src/``) holds no dataset facts. At server start
(:func:`geoportal.app.server.prepare`) this module writes ``webmap.json`` from the registry and the
runtime pygeoapi config (only layers that are built and served appear): base maps, the layer
tree grouped by theme, titles and field titles in German and English with units, how each layer
is drawn, legend colours, and the catalogue and download links. A new dataset therefore appears
on the map by its YAML alone.

How a layer is drawn follows from how it is served:

- features (points, lines, areas): GeoJSON from ``/collections/<id>/items`` for the map view;
- vector tiles (``serve.tiles: vector``, e.g. parcels): MVT from OGC API Tiles;
- raster tiles (``serve.tiles: raster``): PNG/JPEG from OGC API Tiles;
- coverages only (terrain models): not drawable, listed with their downloads and API link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from geoportal.app import climate
from geoportal.app.webmap3d import elevation_encoding, view3d
from geoportal.core import formats
from geoportal.core.errors import UnknownFormatError
from geoportal.core.publish import atomic_write_text, read_metadata
from geoportal.core.registry import Dataset, Registry, Theme
from geoportal.core.settings import Settings
from pipelines.imagery.webtiles import CANOPY_STOPS, CLASSED, legend_classes

MANIFEST_FILE = "webmap.json"
MANIFEST_VERSION = 1
TILE_PATH = "/collections/{id}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f={format}"

# The layer tree's groups, in the order of issue #7. Themes that are no group of the tree
# (imagery, mobility) feed the base maps instead.
GROUPS: dict[str, dict[str, str]] = {
    Theme.EVERYDAY: {"de": "Alltag", "en": "Everyday"},
    Theme.EDUCATION: {"de": "Bildung", "en": "Education"},
    Theme.LEISURE: {"de": "Freizeit", "en": "Leisure"},
    Theme.ENVIRONMENT: {"de": "Umwelt", "en": "Environment"},
    climate.GROUP: climate.TITLE,  # the heavy-rain layers, with a scenario switch
    Theme.ECONOMY: {"de": "Wirtschaft", "en": "Economy"},
    Theme.CADASTRE: {"de": "Kataster", "en": "Cadastre"},
    Theme.TERRAIN: {"de": "Gelände", "en": "Terrain"},
}
# Layers that describe vegetation are shown under "environment" whatever their data theme
# (the canopy height model is a terrain product by how it is made, a green layer by what it shows).
GROUP_OF_LAYER: dict[str, Theme] = {"canopy_height": Theme.ENVIRONMENT,
                                    "transport_hubs": Theme.ECONOMY}
# Layers that reach far beyond the mapped district (the airport, the motorway junctions): the
# map does not open on their extent.
BEYOND_DISTRICT = {"transport_hubs"}

# The base maps: an id, its titles and the datasets it is drawn from (only built ones count).
# "map" is the simple city map from our own vector tiles of streets and building footprints.
BASE_MAPS: list[dict[str, Any]] = [
    {"id": "map", "title": {"de": "Stadtplan", "en": "City map"},
     "vector": {"streets": "streets", "buildings": "buildings"},
     # district and place names, drawn from the layer's GeoJSON (a few dozen points)
     "features": {"places": "places"}},
    {"id": "orthophoto", "title": {"de": "Luftbild", "en": "Aerial image"}, "raster": "orthophoto"},
    {"id": "hillshade", "title": {"de": "Relief", "en": "Relief"}, "raster": "hillshade"},
]
STREET_CLASS_FIELD = "road_class"

# Legend colours per group, handed out in registry order within a group; colour-blind safe-ish
# and readable on both the city map and the aerial image.
PALETTES: dict[str, list[str]] = {
    Theme.EVERYDAY: ["#7b2cbf", "#c2185b"],
    Theme.EDUCATION: ["#1565c0", "#00838f", "#3949ab"],
    Theme.LEISURE: ["#2e7d32", "#e65100", "#6d4c41", "#ad1457"],
    Theme.ENVIRONMENT: ["#1b5e20", "#558b2f", "#00695c", "#827717"],
    Theme.ECONOMY: ["#d84315", "#4527a0"],
    Theme.CADASTRE: ["#37474f", "#8d6e63", "#455a64"],
    Theme.TERRAIN: ["#5d4037", "#795548", "#8d6e63", "#a1887f"],
}
# Attributes that hold a name or an address: the search looks in these and in the title field.
SEARCH_FIELDS = ("name", "address", "street", "location", "title", "species_de",
                 "species_botanical")


def build_manifest(registry: Registry, resources: dict[str, dict[str, Any]],
                   settings: Settings) -> dict[str, Any]:
    """The manifest for the layers in ``resources`` (the runtime pygeoapi config's resources)."""
    served = {rid: res for rid, res in resources.items() if res.get("type") == "collection"}
    base_ids = {ds for b in BASE_MAPS for ds in _base_datasets(b)}
    layers: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {theme: [] for theme in GROUPS}
    for d in registry:
        if d.id not in served:
            continue
        group = climate.GROUP if climate.is_climate(d) else GROUP_OF_LAYER.get(d.id, d.theme)
        in_tree = group in GROUPS or d.id not in base_ids  # the streets are a base map only
        members = groups.setdefault(group, []) if in_tree else []
        layers[d.id] = layer_entry(d, served[d.id], _colour(group, len(members)))
        layers[d.id]["legend"] = legend(d, layers[d.id], settings)
        value = value_query(registry[d.style.value_from] if d.style.value_from else d,
                            served, settings)
        if value:
            layers[d.id]["value"] = value
        layers[d.id]["group"] = str(group) if in_tree else None
        if in_tree:
            members.append(d.id)
    return {
        "version": MANIFEST_VERSION,
        "title": {"de": "Geoportal Ratingen", "en": "Ratingen geoportal"},
        "bbox": _overall_bbox(served, settings),
        "base": [b for b in (base_entry(b, registry, served) for b in BASE_MAPS) if b],
        "groups": [{"id": str(theme),
                    "title": GROUPS.get(theme, {"de": str(theme), "en": str(theme)}),
                    "layers": ids} for theme, ids in groups.items() if ids],
        "layers": layers,
        "view3d": view3d(registry, served, settings, layers),
        "climate": climate.annotate(registry, layers),
    }


def _base_datasets(base: dict[str, Any]) -> list[str]:
    return [*base.get("vector", {}).values(), *base.get("features", {}).values(),
            *([base["raster"]] if "raster" in base else [])]


def _colour(group: str, index: int) -> str:
    palette = PALETTES.get(group, ["#455a64"])
    return palette[index % len(palette)]


def layer_entry(d: Dataset, resource: dict[str, Any], colour: str) -> dict[str, Any]:
    """One layer of the tree: titles, drawing, fields, legend colour, links."""
    entry: dict[str, Any] = {
        "id": d.id,
        "title": d.title.model_dump(),
        "description": d.description.model_dump(),
        "colour": d.style.colour or colour,
        "draw": _drawing(d, resource),
        "items": f"/collections/{d.id}/items" if _has(resource, "feature") else None,
        "api": f"/collections/{d.id}",
        "catalogue": catalogue_link(d),
        "downloads": _downloads(d, resource),
        "attribution": d.attribution,
    }
    if entry["draw"] and elevation_encoding(d):  # heights in colours: the 3D view's terrain
        entry["terrain"], entry["draw"] = entry["draw"], None
    if d.schema_ is not None:
        schema = d.schema
        entry.update({
            "geometry": schema.geometry,
            "id_field": schema.id_field,
            "title_field": schema.title_field,
            "search_fields": search_fields(schema),
            "fields": [_field(p) for p in schema.properties],
        })
    return entry


# The hillshade's tiles show the mosaic's grey values as they are (style "grey"): light slopes
# face the light from the north-west.
HILLSHADE_STOPS = ((0.0, "#1e1e1e"), (1.0, "#ffffff"))
CANOPY_LABEL = {"de": "Höhe über Gelände", "en": "Height above ground"}
HEIGHT_LABEL = {"de": "Höhe über Meer (NHN)", "en": "Height above sea level (NHN)"}
HILLSHADE_LABELS = {"low": {"de": "Schattenhang", "en": "slope in shadow"},
                    "high": {"de": "Hang zum Licht (Nordwest)",
                             "en": "slope facing the light (north-west)"}}


def legend(d: Dataset, entry: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The layer's legend, from the same facts that draw it: the dataset's ``style`` (symbols,
    classes, image colours), the tile renderer's colour ramp, the data's own value range."""
    style = d.style
    classes = [{"label": c.label.model_dump(), "colour": c.colour, "value": c.value}
               for c in style.classes]
    draw = entry.get("draw") or {}
    params = d.pipeline.params
    tiles = params.raster_tiles() if hasattr(params, "raster_tiles") else None
    if draw.get("kind") == "raster" and tiles is not None and tiles.style == "canopy":
        return {"kind": "ramp", "label": CANOPY_LABEL, "unit": "m",
                "stops": [[h, "#{:02x}{:02x}{:02x}".format(*rgb)] for h, rgb in CANOPY_STOPS]}
    if draw.get("kind") == "raster" and tiles is not None and legend_classes(tiles.style):
        return {"kind": "swatches", "classes": legend_classes(tiles.style)}
    if draw.get("kind") == "raster" and tiles is not None and tiles.style == "grey":
        return {"kind": "shade", "stops": [list(s) for s in HILLSHADE_STOPS],
                "labels": HILLSHADE_LABELS}
    if classes and d.schema_ is None:
        return {"kind": "swatches", "classes": classes}
    if d.schema_ is None:  # a coverage only: its value range, as heights
        facts = _raster_facts(settings, d.id)
        found = {"kind": "range", "label": HEIGHT_LABEL, "unit": "m",
                 "stops": [[0, "#2b6f39"], [0.5, "#e8d58a"], [1, "#8a5a2b"]]}
        if facts and facts.get("range"):
            found["range"] = facts["range"]
        return found
    geometry = d.schema.geometry
    if "Point" in geometry:
        return {"kind": "symbols", "symbol": style.symbol, "size": style.size,
                "order": style.order, "field": style.field,
                "classes": classes or [{"label": d.title.model_dump(), "colour": entry["colour"],
                                        "value": None}]}
    found = {"kind": "line" if "Line" in geometry else "area", "colour": entry["colour"]}
    if classes and style.field:  # areas coloured by an attribute (the roof planes' suitability)
        found.update(field=style.field, classes=classes)
    return found


def value_query(d: Dataset, served: dict[str, dict[str, Any]],
                settings: Settings) -> dict[str, Any] | None:
    """Where a click on the layer reads its value: the coverage, its CRS and cell size (a point
    query is a one-cell ``subset``), the extent it may ask for (outside it the answer is 400)."""
    if d.id not in served or not _has(served[d.id], "coverage"):
        return None
    facts = _raster_facts(settings, d.id)
    if facts is None:
        return None
    return {"dataset": d.id, "coverage": f"/collections/{d.id}/coverage",
            "title": d.title.model_dump(),
            "unit": _unit(d), **facts}


def _unit(d: Dataset) -> str:
    """The unit of a coverage's values: a classed style's own (m/s for velocities), else m."""
    params = d.pipeline.params
    tiles = params.raster_tiles() if hasattr(params, "raster_tiles") else None
    return CLASSED[tiles.style][0] if tiles is not None and tiles.style in CLASSED else "m"


def _raster_facts(settings: Settings, dataset_id: str) -> dict[str, Any] | None:
    """CRS, cell size, extent and value range of a published mosaic, None before it is built.

    The range comes from the smallest overview (a few thousand cells, milliseconds): the legend
    shows the data's heights, not a made-up scale."""
    path = settings.published_dir / dataset_id / f"{dataset_id}.vrt"
    if not path.is_file():
        return None
    with rasterio.open(path) as src:
        factor = (src.overviews(1) or [1])[-1]
        data = src.read(1, masked=True, out_shape=(max(1, src.height // factor),
                                                   max(1, src.width // factor)))
        values = np.ma.compressed(data)
        values = values[np.isfinite(values)]
        facts: dict[str, Any] = {"crs": f"EPSG:{src.crs.to_epsg()}", "cell": float(src.res[0]),
                                 "extent": [float(v) for v in src.bounds]}
        if values.size:
            facts["range"] = [round(float(values.min()), 1), round(float(values.max()), 1)]
    return facts


def search_fields(schema: Any) -> list[str]:
    """The text attributes holding a name or an address (the title field first)."""
    text = [p.name for p in schema.properties if p.type == "string"]
    wanted = [schema.title_field, *(n for n in text if n in SEARCH_FIELDS)]
    return list(dict.fromkeys(n for n in wanted if n in text))


def _field(p: Any) -> dict[str, Any]:
    field: dict[str, Any] = {"name": p.name, "title": p.title.model_dump(), "type": p.type}
    if p.unit:
        field["unit"] = p.unit
    if p.values:
        field["values"] = p.values
    return field


def _has(resource: dict[str, Any], kind: str) -> bool:
    return any(p.get("type") == kind for p in resource.get("providers", []))


def _drawing(d: Dataset, resource: dict[str, Any]) -> dict[str, Any] | None:
    """How the map draws the layer, from the providers the server actually has for it."""
    providers = {p.get("type"): p for p in resource.get("providers", [])}
    tile = providers.get("tile")
    if tile and d.serve.tiles == "vector":
        return {"kind": "vector", "source_layer": d.id, **_tile_facts(d, resource, tile, "mvt")}
    if "feature" in providers:
        return {"kind": "features", "limit": d.serve.limit_max}
    if tile and d.serve.tiles == "raster":
        fmt = tile.get("format", {}).get("name", "png")
        return {"kind": "raster", **_tile_facts(d, resource, tile, fmt)}
    return None


def _tile_facts(d: Dataset, resource: dict[str, Any], provider: dict[str, Any],
                fmt: str) -> dict[str, Any]:
    """Tile URL template, zoom range and the data's extent.

    The extent becomes the MapLibre source's ``bounds``: the map then never asks for tiles
    outside the data, which the server rightly answers with 404s (failed requests in the page).
    """
    zoom = provider.get("options", {}).get("zoom", {})
    facts = {"tiles": TILE_PATH.format(id=d.id, format=fmt),
             "minzoom": int(zoom.get("min", 0)), "maxzoom": int(zoom.get("max", 18))}
    bbox = resource.get("extents", {}).get("spatial", {}).get("bbox")
    if bbox and len(bbox) == 4:
        facts["bounds"] = [float(v) for v in bbox]
    return facts


def _downloads(d: Dataset, resource: dict[str, Any]) -> list[dict[str, str]]:
    """The dataset's files under /downloads (CSV, GeoJSON, GeoPackage, ...), as the server links
    them; paths are made root-relative so the page works under any host name."""
    links = []
    for link in resource.get("links", []):
        if link.get("rel") != "enclosure":
            continue
        href = str(link["href"])
        path = href[href.index("/downloads/"):] if "/downloads/" in href else href
        links.append({"format": _download_label(path.rsplit(".", 1)[-1]), "href": path,
                      "type": str(link.get("type", ""))})
    return links


def _download_label(extension: str) -> str:
    """The button text of a download: the format's title, or the bare extension for a link the
    formats table does not know (a hand-edited server config may add one)."""
    try:
        return formats.by_extension(extension).title
    except UnknownFormatError:
        return extension.upper()


def catalogue_link(d: Dataset) -> str:
    """The dataset's page (``/collections/<id>``, the DCAT ``landingPage`` of the catalogue):
    licence, last update, downloads, APIs, and from there its CKAN entry
    (:mod:`geoportal.app.dataset_pages`)."""
    return f"/collections/{d.id}"


def map_link(manifest: dict[str, Any], layer_id: str) -> str | None:
    """The map's permalink showing the layer (``/#layers=<id>``), or the base map drawn from it
    (``/#base=orthophoto``); None for a layer the map cannot draw (a terrain model)."""
    layer = manifest["layers"].get(layer_id)
    if layer and layer.get("draw") and layer.get("group"):
        return f"/#layers={layer_id}"
    for base in manifest["base"]:
        if layer_id in _base_datasets(next(b for b in BASE_MAPS if b["id"] == base["id"])):
            return f"/#base={base['id']}"
    return None


def base_entry(base: dict[str, Any], registry: Registry,
               served: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A base map if its datasets are served (the city map needs at least the streets)."""
    entry: dict[str, Any] = {"id": base["id"], "title": base["title"]}
    if "raster" in base:
        rid = base["raster"]
        tile = _tile_provider(served.get(rid))
        if tile is None:
            return None
        d = registry[rid]
        fmt = tile.get("format", {}).get("name", "png")
        return {**entry, "kind": "raster", "attribution": d.attribution or "",
                **_tile_facts(d, served[rid], tile, fmt)}
    sources = {}
    for role, rid in base["vector"].items():
        tile = _tile_provider(served.get(rid))
        if tile is not None:
            d = registry[rid]
            sources[role] = {"source_layer": rid, **_tile_facts(d, served[rid], tile, "mvt")}
            if role == "streets":
                sources[role]["class_field"] = STREET_CLASS_FIELD
    if "streets" not in sources:
        return None
    for role, rid in base.get("features", {}).items():
        if _has(served.get(rid, {}), "feature"):
            limit = registry[rid].serve.limit_max
            sources[role] = {"kind": "geojson",
                             "data": f"/collections/{rid}/items?f=json&limit={limit}"}
    return {**entry, "kind": "vector", "sources": sources}


def _tile_provider(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    return next((p for p in resource.get("providers", []) if p.get("type") == "tile"), None)


def _overall_bbox(served: dict[str, dict[str, Any]], settings: Settings) -> list[float]:
    """The union of the built layers' extents (WGS84): where the map opens."""
    boxes = []
    base_ids = {ds for b in BASE_MAPS for ds in _base_datasets(b)}
    for rid in served:
        if rid in base_ids | BEYOND_DISTRICT:  # the street network reaches beyond the district
            continue
        metadata = read_metadata(settings.published_dir, rid)
        if metadata and metadata.bbox_wgs84:
            boxes.append(metadata.bbox_wgs84)
    if not boxes:
        return [6.77, 51.25, 6.96, 51.36]  # Ratingen
    return [min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes)]


def write_manifest(registry: Registry, resources: dict[str, dict[str, Any]],
                   settings: Settings) -> dict[str, Any]:
    """Write ``<data_dir>/webmap.json`` atomically (the server sends it as
    /assets/webmap.json) and return the manifest."""
    manifest = build_manifest(registry, resources, settings)
    atomic_write_text(settings.data_dir / MANIFEST_FILE,
                      json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


def web_roots(home: Path) -> dict[str, Path]:
    """Where the web pages' files live: ``web/src`` (ours) and the npm-installed libraries,
    MapLibre GL JS (the maps), Swagger UI (``/openapi?f=html``), and for the point-cloud view
    deck.gl, copc (bundled by ``npm run vendor``) and laz-perf's WebAssembly."""
    modules = home / "web" / "node_modules"
    return {"": home / "web" / "src",
            "vendor/maplibre-gl": modules / "maplibre-gl" / "dist",
            "vendor/swagger-ui": modules / "swagger-ui-dist",
            "vendor/deck.gl": modules / "deck.gl",
            "vendor/copc": modules / ".vendor",
            "vendor/laz-perf": modules / "laz-perf" / "lib" / "web"}


def missing_web_libraries(home: Path) -> list[Path]:
    """The npm-installed libraries that are not there: without them the map and the API's HTML
    page stay blank in the browser while every request still answers, so ``serve`` says so."""
    return [path for path in web_roots(home).values() if not path.is_dir()]
