"""Our GeoPackage provider as pygeoapi builds it from a resource, and paging through it."""

from __future__ import annotations

from pathlib import Path

from geoportal.app.providers.geopackage import GeoPackageProvider


def make(path: Path, id_field: str = "objekt_id", **extra: object) -> GeoPackageProvider:
    """The provider as pygeoapi instantiates it from a resource's ``providers`` entry."""
    return GeoPackageProvider(
        {
            "name": "geoportal.app.providers.geopackage.GeoPackageProvider",
            "type": "feature",
            "data": str(path),
            "id_field": id_field,
            **extra,
        }
    )


def all_pages(provider: GeoPackageProvider, limit: int, **query: object) -> list[str]:
    """Every id a client collects by following the pages (duplicates kept: they are the bug)."""
    ids: list[str] = []
    offset = 0
    while True:
        page = provider.query(offset=offset, limit=limit, **query)
        ids += [f["id"] for f in page["features"]]
        if page["numberReturned"] < limit:
            return ids
        offset += limit
