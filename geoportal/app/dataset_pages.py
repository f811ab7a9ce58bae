"""What a dataset's own page shows beyond pygeoapi's collection document.

The "Katalog" link of every layer on the map opens ``/collections/<id>``, rendered from
``templates/collections/collection.html``. pygeoapi hands that template the collection document
(title, description, keywords, the licence and download links, extent, CRSs) and its runtime
config. What only the build and the registry know — when the data last changed, how many
features it has, every published file with its size, how often it is updated, its DCAT-AP.de
identifier, how to show it on the map, the attributes' titles — :func:`portal_facts` puts into
the runtime config's resource under ``portal`` (:func:`geoportal.app.server.prepare`).
pygeoapi ignores keys it does not know and, as for titles, picks the request's language from
every ``{de, en}`` in it, so the templates receive plain text.

The catalogue entries are links of the collection (``rel=describedby``), next to the downloads
(``rel=enclosure``): a client reading the JSON finds them as the page's reader does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from catalog.ckan import package_name
from catalog.model import dataset_uri
from catalog.static import JSONLD_FILE, TURTLE_FILE
from geoportal.core import formats
from geoportal.core.errors import UnknownFormatError
from geoportal.core.publish import LayerMetadata
from geoportal.core.registry import Dataset
from geoportal.core.settings import Settings

#: Dates on the pages are the city's calendar days.
LOCAL_TIME = ZoneInfo("Europe/Berlin")
MONTHS = {
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
DESCRIBEDBY = "describedby"


def long_date(timestamp: str, lang: str) -> str:
    """``2026-12-07T07:04:45+00:00`` as a person writes the day: "7. Dezember 2026" in German,
    "7 December 2026" in English (the legal pages' form), in Ratingen's time zone."""
    day = datetime.fromisoformat(timestamp).astimezone(LOCAL_TIME).date()
    month = MONTHS[lang][day.month - 1]
    return f"{day.day}. {month} {day.year}" if lang == "de" else f"{day.day} {month} {day.year}"


def portal_facts(d: Dataset, metadata: LayerMetadata | None, settings: Settings,
                 map_link: str | None) -> dict[str, Any]:
    """The ``portal`` block of one served resource (see the module docstring)."""
    facts: dict[str, Any] = {
        "license": {"id": d.license.value, "url": d.license.page, "name": dict(d.license.title)},
        "attribution": d.attribution,
        "frequency": dict(d.update_frequency.title),
        "dcat_id": dataset_uri(settings.url, d.id),
        "map": map_link,
        "fields": [_field(p) for p in d.schema.properties] if d.schema_ is not None else [],
        "files": [],
    }
    if metadata is None:
        return facts
    facts.update({
        "modified": metadata.modified,
        "modified_text": {lang: long_date(metadata.modified, lang) for lang in MONTHS},
        "feature_count": metadata.feature_count if d.serve.features else None,
        "crs_native": metadata.crs_native,
        "bbox_native": metadata.bbox_native,
        "bbox_wgs84": metadata.bbox_wgs84,
        "files": [_file(d, f.path, f.format, f.bytes, settings) for f in metadata.files],
    })
    return facts


def _field(p: Any) -> dict[str, Any]:
    """An attribute's title, type, unit and the German words for its codes (as the map's
    popups show them)."""
    return {"name": p.name, "title": p.title.model_dump(), "type": p.type, "unit": p.unit,
            "values": p.values}


def _file(d: Dataset, path: str, fmt: str, size: int, settings: Settings) -> dict[str, Any]:
    try:
        kind = formats.get(fmt)
        label = kind.download_title or kind.title
    except UnknownFormatError:
        label = fmt.upper()
    return {"name": path.rsplit("/", 1)[-1], "href": f"{settings.url}/downloads/{d.id}/{path}",
            "format": label, "bytes": size}


def ckan_dataset_url(d: Dataset, ckan_url: str | None) -> str | None:
    """The dataset's page in the open-data catalogue (CKAN), when one is configured."""
    return f"{ckan_url.rstrip('/')}/dataset/{package_name(d.id)}" if ckan_url else None


def catalogue_links(d: Dataset, settings: Settings) -> list[dict[str, Any]]:
    """The collection's links to its catalogue entries: the CKAN dataset (when a CKAN is
    configured) and the static DCAT-AP.de catalogue (when it has been written: no dead link)."""
    links = []
    ckan = ckan_dataset_url(d, settings.ckan_url)
    if ckan:
        links.append({"type": "text/html", "rel": DESCRIBEDBY, "href": ckan,
                      "title": {"de": "Eintrag im Open-Data-Katalog (CKAN)",
                                "en": "Entry in the open data catalogue (CKAN)"}})
    for name, media_type, label in ((TURTLE_FILE, "text/turtle", "Turtle"),
                                    (JSONLD_FILE, "application/ld+json", "JSON-LD")):
        if (settings.published_dir / name).is_file():
            links.append({"type": media_type, "rel": DESCRIBEDBY,
                          "href": f"{settings.url}/downloads/{name}",
                          "title": {"de": f"Metadatenkatalog DCAT-AP.de ({label})",
                                    "en": f"Metadata catalogue DCAT-AP.de ({label})"}})
    return links
