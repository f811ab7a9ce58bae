"""Sync to a real CKAN 2.12 with ckanext-dcat, and read the DCAT back from CKAN."""

from __future__ import annotations

import pytest
import requests
from ckanapi import RemoteCKAN
from rdflib import Graph, URIRef
from testkit.catalog import BASE_URL

from catalog.ckan import CkanTarget, package_name, sync
from catalog.model import describe_all
from catalog.vocab import DCAT, DCT, VCARD
from geoportal.core.registry import Text

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture
def target(ckan, run_id) -> CkanTarget:
    return CkanTarget(
        url=ckan["CKAN_URL"], token=ckan["CKAN_API_TOKEN"], org=f"ratingen-{run_id}",
        prefix=f"t{run_id}",
    )


def _ttl(target: CkanTarget, dataset_id: str) -> Graph:
    name = package_name(dataset_id, target.prefix)
    response = requests.get(f"{target.url}/dataset/{name}.ttl", timeout=30)
    response.raise_for_status()
    # CKAN sends text/turtle without a charset; Turtle is UTF-8 by definition
    return Graph().parse(data=response.content.decode("utf-8"), format="turtle")


def test_first_run_creates_and_ckan_exposes_the_dcat_fields(target, registry, published):
    records = describe_all(registry, published, BASE_URL)
    report = sync(records, target)
    assert report.ok and sorted(report.by_action("create")) == sorted(d.id for d in registry)

    trees = registry["trees"]
    graph = _ttl(target, "trees")
    node = next(graph.subjects(DCT.identifier, None))
    assert str(graph.value(node, DCT.title)) == trees.title.de
    assert str(graph.value(node, DCT.description)) == trees.description.de
    assert {str(k) for k in graph.objects(node, DCAT.keyword)} >= set(trees.keywords.de)
    assert graph.value(node, DCAT.theme) == URIRef(
        "http://publications.europa.eu/resource/authority/data-theme/ENVI"
    )
    assert str(graph.value(node, DCT.modified)).startswith("2026-11-20T08:00:00")
    contact = graph.value(node, DCAT.contactPoint)
    assert graph.value(contact, VCARD.hasEmail) == URIRef(f"mailto:{trees.contact.email}")
    dists = list(graph.objects(node, DCAT.distribution))
    by_url = {str(graph.value(d, DCAT.accessURL)): d for d in dists}
    trees_record = next(r for r in records if r.id == "trees")
    expected = {d.access_url: d for d in trees_record.distributions}
    assert set(by_url) == set(expected)
    for url, dist in by_url.items():
        assert graph.value(dist, DCT.license) == URIRef(
            "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
        )
        assert graph.value(dist, DCT["format"]) == URIRef(expected[url].format_uri)
    api = by_url[f"{BASE_URL}/collections/trees"]
    service = graph.value(api, DCAT.accessService)
    assert graph.value(service, DCAT.endpointURL) == URIRef(BASE_URL)


def test_no_change_run_makes_zero_writes(target, registry, published):
    records = describe_all(registry, published, BASE_URL)
    sync(records, target)
    report = sync(records, target)
    assert report.write_calls == 0
    assert sorted(report.by_action("unchanged")) == sorted(d.id for d in registry)


def test_change_updates_in_place_and_removal_deletes(target, registry, published):
    records = describe_all(registry, published, BASE_URL)
    sync(records, target)
    api = RemoteCKAN(target.url, apikey=target.token)
    before = api.action.package_show(id=package_name("trees", target.prefix))

    trees = registry["trees"]
    renamed = trees.model_copy(update={"title": Text(de="Stadtbäume 2026", en="City trees")})
    others = [d for d in registry if d.id != "trees"]
    changed = describe_all([renamed, *others], published, BASE_URL)
    dry = sync(changed, target, dry_run=True)
    assert [(c.action, c.dataset_id) for c in dry.changes if c.action == "update"] == [
        ("update", "trees")
    ]
    assert "title" in next(c for c in dry.changes if c.action == "update").fields
    assert dry.write_calls == 0

    report = sync(changed, target)
    assert report.by_action("update") == ["trees"] and report.write_calls == 1
    after = api.action.package_show(id=before["id"])
    assert after["title"] == "Stadtbäume 2026"
    assert {r["id"] for r in after["resources"]} == {r["id"] for r in before["resources"]}

    report = sync([r for r in changed if r.id != "trees"], target)
    assert report.by_action("delete") == ["trees"]
    assert api.action.package_show(id=before["id"])["state"] == "deleted"


def test_packages_of_others_in_the_same_org_are_never_touched(target, registry, published):
    records = describe_all(registry, published, BASE_URL)
    sync(records, target)
    api = RemoteCKAN(target.url, apikey=target.token)
    foreign = api.action.package_create(
        name=f"{target.prefix}-someone-else", title="Not ours", owner_org=target.org,
        extras=[{"key": "geoportal_registry_id", "value": "ghost"}],  # no publisher marker
    )
    squatter_name = package_name("new_layer", target.prefix)
    api.action.package_create(name=squatter_name, title="Squatter", owner_org=target.org)

    report = sync(records, target)  # 'ghost' is not in the registry: still not deleted
    assert report.by_action("delete") == []
    assert api.action.package_show(id=foreign["id"])["state"] == "active"

    new_layer = registry["trees"].model_copy(update={"id": "new_layer"})
    report = sync([*records, *describe_all([new_layer], published, BASE_URL)], target)
    assert [e.dataset_id for e in report.errors] == ["new_layer"]
    assert "does not own" in str(report.errors[0])
    assert api.action.package_show(id=squatter_name)["title"] == "Squatter"


def test_a_heavy_rain_map_states_the_flight_of_its_terrain_in_ckan(target, registry, published):
    import dataclasses

    from catalog.model import describe
    from geoportal.core.publish import read_metadata

    meta = dataclasses.replace(read_metadata(published, "heavy_rain_sink_depth"),
                               period=["2025-04-15", "2025-04-16"])
    assert sync([describe(registry["heavy_rain_sink_depth"], meta, BASE_URL)], target).ok
    graph = _ttl(target, "heavy_rain_sink_depth")
    node = next(graph.subjects(DCT.identifier, None))
    period = graph.value(node, DCT.temporal)
    dates = sorted(str(o)[:10] for _, o in graph.predicate_objects(period) if str(o)[:2] == "20")
    assert dates == ["2025-04-15", "2025-04-16"]  # start and end (dcat: or schema:startDate)
