"""Render catalogue records as OGC API Records (GeoJSON record items).

pygeoapi serves them as the ``catalogue`` collection (``/collections/catalogue/items``) from a
TinyDB file written at start-up (:func:`geoportal.app.server.prepare`). Each item is the same
:class:`~catalog.model.Record` as the DCAT-AP.de and ISO 19139 outputs, in the record model of
OGC API - Records - Part 1 (``properties``: type, title, description, keywords, themes,
language, contacts, license, updated; ``links``: the OGC APIs and the downloads).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from catalog.model import Distribution, Record
from geoportal.core.publish import atomic_write_text
from geoportal.core.registry import Organisation

RECORD_CONFORMANCE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"


def _contact(org: Organisation, role: str) -> dict[str, Any]:
    """An organisation as a record contact (no person's name)."""
    contact: dict[str, Any] = {"organization": org.name, "roles": [role]}
    if org.email:
        contact["emails"] = [{"value": org.email}]
    if org.url:
        contact["links"] = [{"href": org.url, "rel": "about", "type": "text/html"}]
    if org.address:
        contact["addresses"] = [{"deliveryPoint": [org.address.split(",")[0].strip()],
                                 "country": "Deutschland"}]
    return contact


def _link(distribution: Distribution) -> dict[str, Any]:
    return {"href": distribution.download_url or distribution.access_url,
            "rel": "enclosure" if distribution.download_url else "item",
            "type": distribution.media_type, "title": distribution.title_de}


def _geometry(bbox: tuple[float, float, float, float] | None) -> dict[str, Any] | None:
    if bbox is None:
        return None
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def record_item(record: Record) -> dict[str, Any]:
    """One OGC API Records item (GeoJSON Feature) for a dataset."""
    dataset = record.dataset
    properties: dict[str, Any] = {
        "type": "dataset",
        "title": dataset.title.de,
        "description": dataset.description.de,
        "keywords": [*dataset.keywords.de, *dataset.keywords.en],
        "themes": [{"concepts": [{"id": record.theme_uri}],
                    "scheme": "http://publications.europa.eu/resource/authority/data-theme"}],
        "language": {"code": dataset.language[0].value},
        "languages": [{"code": lang.value} for lang in dataset.language],
        "contacts": [_contact(dataset.contact, "pointOfContact"),
                     _contact(dataset.publisher, "publisher")],
        "license": dataset.license.value,
        "rights": dataset.license.title["de"],
        "updateFrequency": dataset.update_frequency.value,
        "formats": sorted({d.format_label for d in record.distributions}),
        "externalIds": [{"scheme": "default", "value": record.uri}],
    }
    if record.modified:
        properties["updated"] = record.modified
    if dataset.issued:
        properties["created"] = dataset.issued.isoformat()
    if record.crs:
        code = record.crs.split(":")[-1]
        properties["crs"] = [f"http://www.opengis.net/def/crs/EPSG/0/{code}"]
    # TinyDBCatalogue's full-text field for q=…: titles, descriptions and keywords, both languages
    properties["_metadata-anytext"] = " ".join([
        dataset.title.de, dataset.title.en or "", dataset.description.de,
        dataset.description.en or "", *properties["keywords"]])
    links = [{"href": record.landing_page, "rel": "describedby", "type": "text/html",
              "title": dataset.title.de},
             {"href": dataset.license.page, "rel": "license", "type": "text/html",
              "title": dataset.license.title["de"]},
             *(_link(d) for d in record.distributions)]
    return {"id": dataset.id, "type": "Feature", "conformsTo": [RECORD_CONFORMANCE],
            "geometry": _geometry(record.bbox_wgs84), "properties": properties, "links": links}


def write_tinydb(records: Iterable[Record], path: Path) -> int:
    """The items as a TinyDB file (pygeoapi's ``TinyDBCatalogue`` provider), replaced atomically."""
    items = [record_item(r) for r in records]
    table = {str(n): item for n, item in enumerate(items, start=1)}
    atomic_write_text(path, json.dumps({"_default": table}, ensure_ascii=False))
    return len(items)
