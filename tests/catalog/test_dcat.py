"""The DCAT-AP.de graph says what a harvester needs, in the vocabularies it understands."""

from __future__ import annotations

import dataclasses

import pytest
from rdflib import RDF, XSD, URIRef
from testkit.catalog import BASE_URL

from catalog import vocab
from catalog.dcat import catalog_graph, dataset_graph
from catalog.errors import CatalogMappingError
from catalog.model import describe, describe_all
from catalog.vocab import DCAT, DCATDE, DCT, SPDX, VCARD
from geoportal.core.publish import read_metadata
from geoportal.core.registry import Frequency, Theme


def _dataset(graph, dataset_id):
    return URIRef(f"{BASE_URL}/datasets/{dataset_id}")


def test_every_registry_dataset_is_in_the_catalogue(registry, published):
    graph = catalog_graph(describe_all(registry, published, BASE_URL), BASE_URL)
    catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
    assert len(catalogs) == 1
    listed = set(graph.objects(catalogs[0], DCAT.dataset))
    assert listed == {_dataset(graph, d.id) for d in registry}


def test_titles_licences_and_attribution_follow_the_registry(registry, published):
    trees, toilets = registry["trees"], registry["public_toilets"]
    graph = catalog_graph(describe_all([trees, toilets], published, BASE_URL), BASE_URL)
    node = _dataset(graph, "trees")
    titles = {(str(t), t.language) for t in graph.objects(node, DCT.title)}
    assert titles == {(trees.title.de, "de"), (trees.title.en, "en")}
    for dataset_id, licence in (
        ("trees", "http://dcat-ap.de/def/licenses/dl-by-de/2.0"),
        ("public_toilets", "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"),
    ):
        for dist in graph.objects(_dataset(graph, dataset_id), DCAT.distribution):
            assert graph.value(dist, DCT.license) == URIRef(licence)
            attribution = graph.value(dist, DCATDE.licenseAttributionByText)
            # only "Namensnennung" needs an attribution text
            assert (attribution is not None) == (dataset_id == "trees")


def test_file_distributions_carry_size_checksum_and_vocabulary_iris(registry, published):
    record = describe(registry["trees"], read_metadata(published, "trees"), BASE_URL)
    graph = dataset_graph(record)
    gpkg = URIRef(f"{BASE_URL}/datasets/trees/distributions/gpkg")
    metadata = read_metadata(published, "trees")
    expected = next(f for f in metadata.files if f.format == "gpkg")
    assert graph.value(gpkg, DCAT.downloadURL) == URIRef(
        f"{BASE_URL}/downloads/trees/{expected.path}"
    )
    size = graph.value(gpkg, DCAT.byteSize)
    assert size.datatype == XSD.nonNegativeInteger and int(size) == expected.bytes
    checksum = graph.value(gpkg, SPDX.checksum)
    assert str(graph.value(checksum, SPDX.checksumValue)) == expected.sha256
    assert graph.value(checksum, SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
    assert graph.value(gpkg, DCT["format"]) == URIRef(
        "http://publications.europa.eu/resource/authority/file-type/GPKG"
    )
    assert graph.value(gpkg, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/application/geopackage+sqlite3"
    )


def test_the_ogc_api_is_a_distribution_with_a_data_service(registry, published):
    record = describe(registry["trees"], read_metadata(published, "trees"), BASE_URL)
    graph = dataset_graph(record)
    api = URIRef(f"{BASE_URL}/datasets/trees/distributions/ogcapi-features")
    assert graph.value(api, DCAT.accessURL) == URIRef(f"{BASE_URL}/collections/trees")
    service = graph.value(api, DCAT.accessService)
    assert (service, RDF.type, DCAT.DataService) in graph
    assert graph.value(service, DCAT.endpointDescription) == URIRef(f"{BASE_URL}/openapi")
    assert graph.value(service, DCT.conformsTo) == URIRef(vocab.OGC_API_FEATURES)


def test_extent_theme_frequency_contact_and_geocoding(registry, published):
    trees = registry["trees"]
    graph = dataset_graph(describe(trees, read_metadata(published, "trees"), BASE_URL))
    node = _dataset(graph, "trees")
    assert graph.value(node, DCAT.theme) == URIRef(vocab.EU_THEME + "ENVI")
    assert graph.value(node, DCT.accrualPeriodicity) == URIRef(vocab.EU_FREQUENCY + "ANNUAL")
    contact = graph.value(node, DCAT.contactPoint)
    assert graph.value(contact, VCARD.hasEmail) == URIRef(f"mailto:{trees.contact.email}")
    spatial = set(graph.objects(node, DCT.spatial))
    assert URIRef(trees.geocoding.uri) in spatial  # 3.0: the regional key goes into dct:spatial
    bbox = [graph.value(s, DCAT.bbox) for s in spatial if graph.value(s, DCAT.bbox)]
    assert bbox and str(bbox[0]).startswith("POLYGON((6.780000 51.260000")
    assert graph.value(node, DCATDE.politicalGeocodingURI) is None  # deprecated in 3.0
    assert graph.value(node, DCT.modified).toPython().year == 2026


def test_profile_2_0_uses_political_geocoding_uri(registry):
    graph = dataset_graph(describe(registry["trees"], None, BASE_URL), profile="2.0")
    node = _dataset(graph, "trees")
    assert graph.value(node, DCATDE.politicalGeocodingURI) == URIRef(
        registry["trees"].geocoding.uri
    )


def test_unbuilt_dataset_has_distributions_without_size_or_checksum(registry):
    graph = dataset_graph(describe(registry["public_toilets"], None, BASE_URL))
    dists = list(graph.objects(_dataset(graph, "public_toilets"), DCAT.distribution))
    assert len(dists) == len(registry["public_toilets"].outputs) + 1  # + the OGC API
    assert not list(graph.objects(None, DCAT.byteSize))
    assert not list(graph.objects(None, SPDX.checksum))
    assert graph.value(_dataset(graph, "public_toilets"), DCT.modified) is None


def test_every_theme_and_frequency_has_a_mapping():
    assert set(vocab.THEMES) == set(Theme)
    assert set(vocab.FREQUENCIES) == set(Frequency)


def test_unknown_file_format_is_a_clear_error(registry, published):
    metadata = read_metadata(published, "trees")
    odd = dataclasses.replace(metadata.files[0], format="xlsx")
    metadata = dataclasses.replace(metadata, files=[odd])
    with pytest.raises(CatalogMappingError, match="file format 'xlsx'"):
        describe(registry["trees"], metadata, BASE_URL)


def test_temporal_is_the_yaml_period_else_the_one_the_build_learned(registry, published):
    from datetime import date

    from geoportal.core.registry import Period

    meta = dataclasses.replace(read_metadata(published, "heavy_rain_sink_depth"),
                               period=["2025-04-15", "2025-04-16"])

    def period_of(dataset) -> tuple[str, str]:
        record = describe(dataset, meta, BASE_URL)
        graph = dataset_graph(record)
        node = graph.value(URIRef(record.uri), DCT.temporal)
        return str(graph.value(node, DCAT.startDate)), str(graph.value(node, DCAT.endDate))

    assert period_of(registry["heavy_rain_sink_depth"]) == ("2025-04-15", "2025-04-16")
    stated = registry["heavy_rain_sink_depth"].model_copy(
        update={"temporal": Period(start=date(2024, 3, 1), end=date(2024, 3, 2))})
    assert period_of(stated) == ("2024-03-01", "2024-03-02")
    unbuilt = dataset_graph(describe(registry["heavy_rain_sink_depth"], None, BASE_URL))
    assert not list(unbuilt.objects(None, DCT.temporal))
