"""SHACL validation against the shipped DCAT-AP.de shapes: good records pass, bad ones are named."""

from __future__ import annotations

import dataclasses

import pytest
from rdflib import URIRef
from testkit.catalog import BASE_URL

from catalog.dcat import catalog_graph
from catalog.errors import CatalogValidationError
from catalog.model import describe_all
from catalog.validate import SHAPES_DIR, validate_graph, validate_records
from catalog.vocab import DCAT


@pytest.mark.parametrize("profile", ["3.0", "2.0"])
def test_every_registry_dataset_validates(registry, published, profile):
    records = describe_all(registry, published, BASE_URL)
    report = validate_records(records, BASE_URL, profile=profile)
    assert report.violations == []
    assert [r.id for r in report.valid] == [d.id for d in registry]


def test_unbuilt_datasets_validate_too(registry):
    report = validate_records(describe_all(registry, None, BASE_URL), BASE_URL)
    assert report.violations == []


def test_missing_contact_is_refused_naming_dataset_and_property(registry, published):
    graph = catalog_graph(describe_all(registry, published, BASE_URL), BASE_URL)
    graph.remove((URIRef(f"{BASE_URL}/datasets/trees"), DCAT.contactPoint, None))
    violations = validate_graph(graph)
    assert {v.dataset_id for v in violations} == {"trees"}
    assert any(v.path == "dcat:contactPoint" and "contactPoint" in v.message for v in violations)
    with pytest.raises(CatalogValidationError, match=r"trees: dcat:contactPoint"):
        raise CatalogValidationError(violations)


def test_wrong_licence_refuses_that_dataset_only(registry, published):
    records = describe_all(registry, published, BASE_URL)
    broken = [
        dataclasses.replace(r, license_uri="https://creativecommons.org/licenses/by/4.0/")
        if r.id == "trees" else r
        for r in records
    ]
    report = validate_records(broken, BASE_URL)
    assert report.refused == ["trees"]
    assert [r.id for r in report.valid] == [d.id for d in registry if d.id != "trees"]
    paths = {v.path for v in report.violations}
    assert "dcat:distribution/dct:license/skos:inScheme" in paths
    with pytest.raises(CatalogValidationError) as info:
        report.raise_for_violations()
    assert "trees" in str(info.value) and "dct:license" in str(info.value)


def test_official_reading_treats_a_foreign_licence_as_a_warning_only(registry, published):
    records = describe_all(registry, published, BASE_URL)
    broken = [dataclasses.replace(r, license_uri="https://example.org/licence") for r in records]
    assert validate_records(broken, BASE_URL, fail_on="Violation").violations == []
    assert validate_records(broken, BASE_URL, fail_on="Warning").violations != []


def test_a_theme_outside_the_eu_list_is_a_violation(registry, published):
    records = describe_all(registry, published, BASE_URL)
    typo = "http://publications.europa.eu/resource/authority/data-theme/ENVIRONMENT"
    broken = [dataclasses.replace(r, theme_uri=typo) if r.id == "trees" else r for r in records]
    report = validate_records(broken, BASE_URL, fail_on="Violation")
    assert report.refused == ["trees"]
    assert any(v.path == "dcat:theme/skos:inScheme" for v in report.violations)


def test_shapes_and_their_licence_ship_with_the_package():
    assert (SHAPES_DIR / "LICENSE_CC-BY-4.0.txt").exists()
    readme = (SHAPES_DIR / "README.md").read_text(encoding="utf-8")
    assert "GovDataOfficial/DCAT-AP.de-SHACL-Validation" in readme
