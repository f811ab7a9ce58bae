"""Which layers the WMS/WMTS offer and what each is drawn from, read from the registry.

A map layer is a built dataset that the web map can draw: raster tiles (``serve.tiles:
raster``: the mosaic VRT over the published COGs) or features with a geometry (the published
GeoPackage). Coverage-only terrain models are data, not maps, and stay with OGC API Coverages.
Feature info shows the schema's properties only (never a personal field, even if a file had one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import rasterio

from geoportal.core.privacy import is_personal_field
from geoportal.core.publish import METADATA_FILE, read_metadata
from geoportal.core.registry import Dataset, Registry
from geoportal.core.settings import Settings

Kind = Literal["raster", "point", "line", "polygon"]
#: Registry geometry types → how MapServer draws them.
GEOMETRY_KINDS: dict[str, Kind] = {
    "Point": "point", "MultiPoint": "point", "LineString": "line",
    "MultiLineString": "line", "Polygon": "polygon", "MultiPolygon": "polygon"}
#: Grown around a layer's extent: a single point (one adult education centre) has no area,
#: which MapProxy's coverage cannot take, and symbols reach beyond their point.
EXTENT_MARGIN_M = 25.0


@dataclass(frozen=True)
class MapLayer:
    """One layer of the WMS and WMTS."""

    id: str
    title: str
    abstract: str
    keywords: tuple[str, ...]
    attribution: str | None
    kind: Kind
    #: The mosaic VRT of a raster, the GeoPackage of a vector layer.
    data: Path
    #: The published ``metadata.json`` (through the layer's link): written last by a build, so
    #: its time says when the served version was published.
    metadata: Path
    #: EPSG:25832 extent of the built layer (grown by :data:`EXTENT_MARGIN_M`), if known.
    bbox: tuple[float, float, float, float] | None
    colour: str = "#455a64"
    #: Raster: ``photo`` / ``grey`` (values as they are) or ``canopy`` (the green ramp).
    style: str = "photo"
    bands: int = 1
    #: Raster: the tile encoding of its OGC API Tiles (JPEG for photos, PNG for overlays).
    image_format: str = "image/png"
    #: Vector: the GeoPackage table, its id field and the fields a click shows, as
    #: (name, German title with unit) pairs.
    table: str | None = None
    id_field: str | None = None
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def queryable(self) -> bool:
        return self.kind != "raster"


def map_layers(registry: Registry, resources: dict[str, Any], colours: dict[str, str],
               settings: Settings) -> list[MapLayer]:
    """The map layers among the served ``resources`` (runtime pygeoapi config), registry order."""
    layers = []
    for dataset in registry:
        resource = resources.get(dataset.id)
        if resource is None:
            continue
        layer = _layer(dataset, resource, colours.get(dataset.id, "#455a64"), settings)
        if layer is not None:
            layers.append(layer)
    return layers


def _layer(d: Dataset, resource: dict[str, Any], colour: str,
           settings: Settings) -> MapLayer | None:
    providers = {p.get("type"): p for p in resource.get("providers", [])}
    metadata = read_metadata(settings.published_dir, d.id)
    bbox = _grown(metadata.bbox_native) if metadata and metadata.bbox_native \
        and metadata.crs_native == "EPSG:25832" else None
    common = {"id": d.id, "title": d.title.de, "abstract": d.description.de,
              "keywords": tuple(d.keywords.de), "attribution": d.attribution, "bbox": bbox,
              "colour": colour, "metadata": settings.published_dir / d.id / METADATA_FILE}
    tile = providers.get("tile")
    if d.serve.tiles == "raster" and tile:
        mosaic = _mosaic(Path(tile["data"]), tile.get("options", {}), d.id)
        if mosaic is None:
            return None
        with rasterio.open(mosaic) as src:
            bands = src.count
        return MapLayer(**common, kind="raster", data=mosaic,
                        style=str(tile.get("options", {}).get("style", "photo")), bands=bands,
                        image_format=str(tile.get("format", {}).get("mimetype", "image/png")))
    feature = providers.get("feature")
    data = Path(str(feature.get("data", ""))) if feature else None
    if d.schema_ is None or data is None or data.suffix != ".gpkg":
        return None  # PostGIS-backed layers are not drawn here (yet)
    schema = d.schema
    fields = tuple((p.name, p.title.de + (f" ({p.unit})" if p.unit else ""))
                   for p in schema.properties if not is_personal_field(p.name))
    return MapLayer(**common, kind=GEOMETRY_KINDS[schema.geometry], data=data,
                    table=str(feature.get("table") or d.id), id_field=schema.id_field,
                    fields=fields)


def _mosaic(folder: Path, options: dict[str, Any], dataset_id: str) -> Path | None:
    """The mosaic the raster tile provider renders from: ``options.mosaic``, ``mosaic.vrt`` or
    ``<id>.vrt`` in the published folder (through its symlink, so a rebuild is seen at once)."""
    named = options.get("mosaic")
    candidates = [folder / str(named)] if named else [folder / "mosaic.vrt",
                                                      folder / f"{dataset_id}.vrt"]
    return next((path for path in candidates if path.exists()), None)


def _grown(bbox: list[float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in bbox)
    m = EXTENT_MARGIN_M
    return (x0 - m, y0 - m, x1 + m, y1 + m)
