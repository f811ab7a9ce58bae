"""The static catalogue files are complete, parseable, and leave out refused datasets."""

from __future__ import annotations

import dataclasses
import json

import pytest
from rdflib import RDF, Graph
from testkit.catalog import BASE_URL

from catalog import static
from catalog.errors import CatalogMappingError
from catalog.vocab import DCAT


def test_writes_turtle_and_jsonld_for_the_whole_registry(registry, published):
    result = static.write_static_catalog(registry, published, BASE_URL)
    assert [p.name for p in result.paths] == ["catalog.ttl", "catalog.jsonld"]
    files = ((published / "catalog.ttl", "turtle"), (published / "catalog.jsonld", "json-ld"))
    for path, fmt in files:
        graph = Graph().parse(path, format=fmt)
        assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == len(registry)
    assert json.loads((published / "catalog.jsonld").read_text())["@context"]["dcat"]
    assert not [p for p in published.iterdir() if p.name.startswith(".catalog")]  # no temp files


def test_a_dataset_refused_by_validation_is_left_out(registry, published, monkeypatch):
    original = static.describe_all

    def broken(*args, **kwargs):
        return [
            dataclasses.replace(r, license_uri="https://example.org/own-licence")
            if r.id == "trees" else r
            for r in original(*args, **kwargs)
        ]

    monkeypatch.setattr(static, "describe_all", broken)
    result = static.write_static_catalog(registry, published, BASE_URL)
    assert result.report.refused == ["trees"]
    text = (published / "catalog.ttl").read_text()
    assert "/datasets/public_toilets>" in text and "/datasets/trees>" not in text


def test_empty_registry_writes_nothing(tmp_path):
    with pytest.raises(CatalogMappingError):
        from catalog.dcat import catalog_graph
        catalog_graph([], BASE_URL)
    result = static.write_static_catalog([], tmp_path, BASE_URL)
    assert result.paths == [] and not (tmp_path / "catalog.ttl").exists()


def test_a_dataset_never_built_is_left_out(registry, published):
    """Its download and API links would not answer: a harvester would list a dead dataset."""
    import shutil

    shutil.rmtree(published / "trees")
    result = static.write_static_catalog(registry, published, BASE_URL)
    assert result.not_built == ["trees"]
    graph = Graph().parse(published / "catalog.ttl", format="turtle")
    uris = {str(t) for t in graph.objects(None, DCAT.landingPage)} | \
        {str(s) for s in graph.subjects(RDF.type, DCAT.Dataset)}
    assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == len(registry) - 1
    assert not [t for t in uris if t.rstrip("/").endswith("/trees")]
