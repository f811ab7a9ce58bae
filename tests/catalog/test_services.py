"""Every OGC API a layer is served through is in the catalogue as a DCAT data service."""

from __future__ import annotations

from testkit.catalog import BASE_URL

from catalog.model import describe_all
from catalog.validate import validate_records


def test_tiles_and_coverages_are_described_as_data_services(registry, published) -> None:
    records = {r.id: r for r in describe_all(registry, published, BASE_URL)}
    services = {rid: {d.key: d for d in r.distributions if d.service} for rid, r in
                records.items()}
    assert services["terrain_dtm"]["ogcapi-coverages"].access_url == \
        f"{BASE_URL}/collections/terrain_dtm/coverage"
    assert services["orthophoto"]["ogcapi-tiles"].access_url == \
        f"{BASE_URL}/collections/orthophoto/tiles"
    assert set(services["trees"]) == {"ogcapi-features"}
    # map tiles are described in the format a client receives: JPEG photos, PNG overlays
    assert services["orthophoto"]["ogcapi-tiles"].media_type == "image/jpeg"
    assert services["canopy_height"]["ogcapi-tiles"].media_type == "image/png"
    assert services["canopy_height"]["ogcapi-tiles"].format_uri.endswith("/file-type/PNG")
    for rid, dataset in ((d.id, d) for d in registry):
        assert (("ogcapi-features" in services[rid]) == dataset.serve.features), rid
    report = validate_records(list(records.values()), BASE_URL)
    assert not report.violations, report.violations[:3]
