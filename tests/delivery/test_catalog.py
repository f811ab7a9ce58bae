"""Delivery matrix of the catalogue (issue 16): a DCAT-AP.de file in, a verdict out.

* ``geoportal catalog validate FILE`` on the official DCAT-AP.de examples (shared data), on broken
  files and on the catalogue the portal writes itself: the exit code, the profile it checked
  against and the results named in the right section (official shapes / project rules / not
  checkable offline).
* Office and linked-data file types (XLSX, XLS, DOC, ...) are no false violations any more.
* The registry's new facts (issued, temporal, maintainer, originator, languages) and the facts
  the build knows (byteSize, checksum) appear in DCAT and CKAN and pass the official shapes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rdflib import RDF, XSD, Graph, Literal, URIRef
from testkit.catalog import BASE_URL, build_layer

from catalog import vocab
from catalog.ckan import CkanTarget, package_dict
from catalog.cli import catalog
from catalog.dcat import dataset_graph
from catalog.errors import CatalogMappingError
from catalog.model import describe
from catalog.static import write_static_catalog
from catalog.validate import validate_graph
from catalog.vocab import DCAT, DCATDE, DCT, FOAF, GEODCATAP, SPDX
from geoportal.core.errors import RegistryError
from geoportal.core.publish import read_metadata
from geoportal.core.registry import Theme, load_registry
from geoportal.core.settings import PROJECT_ROOT

EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"


@pytest.fixture(scope="module")
def examples(request) -> Path:
    """The official DCAT-AP.de examples (GovDataOfficial/DCAT-AP.de), read-only in shared data."""
    return request.getfixturevalue("shared_data") / "dcat-ap-de"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(catalog, ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str) -> tuple[int, dict]:
    code, out, _err = run(*args, "--json")
    return code, json.loads(out)


# --- the official examples -------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "v2.0/examples/RDF-TURTLE/dcat_ap_de-RefImp_TTL_ADVANCED.ttl",
    "v2.0/examples/RDF-XML/dcat_ap_de-RefImp_RDF_ADVANCED.rdf",
    "v2.0/examples/RDF-JSONLD/dcat_ap_de-RefImp_JSONLD_ADVANCED.jsonld",
])
def test_official_2_0_reference_example_is_valid_in_every_serialisation(examples, name):
    code, report = run_json(str(examples / name))
    assert code == 0 and report["valid"]
    assert report["profile"] == "2.0" and "politicalGeocodingURI" in report["profile_reason"]
    assert report["datasets"] == 2 and report["triples"] == 119
    assert report["official"]["violations"] == [] and report["project"]["violations"] == []
    # the one SOLL rule the example breaks: dct:hasPart names a catalogue that is not in the file
    [warning] = report["official"]["warnings"]
    assert warning["path"] == "dcterms:hasPart" or warning["path"].endswith("hasPart")
    assert warning["value"] == "http://transparenz.hamburg.de/"
    # Hamburg's state key is in a code list of which only Ratingen's keys ship: not a violation
    assert {v["value"] or v["focus"] for v in report["unverified"]} == {
        "http://dcat-ap.de/def/politicalGeocoding/stateKey/02"}


def test_official_simple_example_is_valid_as_2_0_and_breaks_3_0_on_the_literal_email(examples):
    path = str(examples / "v2.0/examples/RDF-TURTLE/dcat_ap_de-RefImp_TTL_SIMPLE.ttl")
    code, report = run_json(path, "--profile", "2.0")
    assert code == 0
    assert report["official"] == {"violations": [], "warnings": []}
    # nothing in the file tells its version: 3.0, the current one, is checked, where
    # vcard:hasEmail must be a mailto: IRI, not the literal the 2.0 example uses
    code, out, _ = run(path)
    assert code == 1
    assert "DCAT-AP.de 3.0 (default: no version-specific term found)" in out
    assert "vcard:hasEmail MUSS eine IRI sein" in out and "thomas.meister@example.com" in out


def test_official_3_0_example_is_valid_with_its_deprecation_warnings(examples):
    code, report = run_json(str(examples / "v3.0/examples/Dataset-und-Distribution.ttl"))
    assert code == 0
    assert report["profile"] == "3.0" and "applicableLegislation" in report["profile_reason"]
    warnings = {w["message"] for w in report["official"]["warnings"]}
    assert "Deprecated: dcatde:maintainer soll nicht mehr verwendet werden." in warnings
    # access-right, availability, publisher type: EU/ADMS lists not shipped -> reported apart
    unverified = {v["focus"] for v in report["unverified"]}
    assert "http://publications.europa.eu/resource/authority/access-right/PUBLIC" in unverified


def test_official_3_0_series_example_breaks_official_and_project_rules_apart(examples):
    path = str(examples / "v3.0/examples/DatasetSeries.ttl")
    code, report = run_json(path)
    assert code == 1 and report["profile"] == "3.0"
    assert report["datasets"] == 3
    official = report["official"]["violations"]
    assert len(official) == 3 and all("dcterms:publisher" in v["message"] for v in official)
    project = report["project"]["violations"]
    assert len(project) == 3 and all(v["path"] == "dcat:contactPoint" for v in project)
    # the official reading alone still fails on the publisher, and shows no project section
    code, out, _ = run(path, "--rules", "official")
    assert code == 1 and "Project rules" not in out and "Official DCAT-AP.de 3.0" in out


def test_official_3_0_service_example_has_a_syntax_error_named_by_line(examples):
    path = examples / "v3.0/examples/DataService.ttl"
    code, out, err = run(str(path))
    assert code == 2 and out == ""
    # line 12 lacks the '.' after the skos prefix; the parser stops on line 13
    assert err.strip() == (f"error: {path}:13: not valid Turtle: "
                           "expected '.' or '}' or ']' at end of statement")


# --- broken and unnamed files ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("bad.jsonld", '{\n "@id": "http://x/a",\n "http://purl.org/dc/terms/title": "x",,\n}\n',
     ":3: not valid JSON-LD: Expecting property name enclosed in double quotes"),
    ("bad.rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
     'syntax-ns#">\n<rdf:Description rdf:about="http://x/a">\n</rdf:RDF>\n',
     ":4: not valid RDF/XML: mismatched tag"),
    ("catalogue", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
     'syntax-ns#">\n<rdf:Description rdf:about="http://x/a">\n</rdf:RDF>\n',
     ":4: not valid RDF/XML: mismatched tag"),  # no extension: sniffed as RDF/XML
    ("bad.ttl", "@prefix dct: <http://purl.org/dc/terms/> .\n\n<http://x/a> dct:title 'x'\n"
     "<http://x/b> dct:title 'y' .\n", ":4: not valid Turtle"),
])
def test_a_broken_file_is_one_line_naming_file_and_line_exit_2(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, out, err = run(str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {path}{expected}")


def test_a_missing_file_is_refused_with_exit_2(tmp_path):
    code, _out, err = run(str(tmp_path / "nope.ttl"))
    assert code == 2 and "nope.ttl: cannot read the file: No such file or directory" in err


def test_a_file_without_extension_is_sniffed_as_json_ld(examples, tmp_path):
    source = examples / "v2.0/examples/RDF-JSONLD/dcat_ap_de-RefImp_JSONLD_SIMPLE.jsonld"
    path = tmp_path / "harvested"
    shutil.copy(source, path)
    code, report = run_json(str(path), "--profile", "2.0")
    assert code == 0 and report["format"] == "JSON-LD" and report["triples"] == 21


# --- file types ------------------------------------------------------------------------------


def _with_format(examples: Path, tmp_path: Path, code: str) -> Path:
    """The official simple 2.0 example with its distribution's dct:format set to ``code``."""
    graph = Graph().parse(examples / "v2.0/examples/RDF-TURTLE/dcat_ap_de-RefImp_TTL_SIMPLE.ttl")
    [dist] = graph.subjects(RDF.type, DCAT.Distribution)
    graph.set((dist, DCT["format"], URIRef(EU_FILE_TYPE + code)))
    path = tmp_path / f"with-{code}.ttl"
    graph.serialize(path, format="turtle")
    return path


@pytest.mark.parametrize("code", ["XLSX", "XLS", "DOC", "DOCX", "ODS", "TXT", "RDF_TURTLE"])
def test_office_and_linked_data_file_types_are_no_violation(examples, tmp_path, code):
    exit_code, report = run_json(str(_with_format(examples, tmp_path, code)), "--profile", "2.0")
    assert exit_code == 0
    assert report["official"]["violations"] == [] and report["unverified"] == []


def test_an_unknown_file_type_is_not_checkable_offline_but_a_theme_typo_is_a_violation(
    examples, tmp_path
):
    path = _with_format(examples, tmp_path, "XLSXX")
    exit_code, report = run_json(str(path), "--profile", "2.0")
    assert exit_code == 0 and report["official"]["violations"] == []
    assert {v["focus"] for v in report["unverified"]} == {EU_FILE_TYPE + "XLSXX"}
    # the data-theme list ships complete: a code outside it is a proven violation
    graph = Graph().parse(path)
    [dataset] = graph.subjects(RDF.type, DCAT.Dataset)
    graph.add((dataset, DCAT.theme, URIRef(vocab.EU_THEME + "ENVIRONMENT")))
    graph.serialize(path, format="turtle")
    exit_code, out, _ = run(str(path), "--profile", "2.0")
    assert exit_code == 1 and "dcat:theme" in out and "data-theme/ENVIRONMENT" in out


def test_the_portal_refuses_a_mapping_to_a_code_the_shipped_list_lacks(monkeypatch):
    monkeypatch.setitem(vocab.THEMES, Theme.ENVIRONMENT, "ENVIRONMENT")
    with pytest.raises(CatalogMappingError, match=r"theme 'environment' maps to .*ENVIRONMENT, "
                                                  r"which is not in the code list"):
        vocab.theme_uri(Theme.ENVIRONMENT)
    assert vocab.file_type_uri("gpkg") == EU_FILE_TYPE + "GPKG"  # read from the shipped file
    assert EU_FILE_TYPE + "XLSX" in vocab.concepts(vocab.EU_FILE_TYPE)


# --- the portal's own catalogue ---------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, object]:
    """The real registry, every dataset built into small files, and its static catalogue."""
    root = tmp_path_factory.mktemp("published")
    registry = load_registry(PROJECT_ROOT / "datasets")
    for dataset in registry:
        files = [f for f in dataset.outputs if f not in vocab.SERVED_ONLY]
        build_layer(root, dataset.id, files, "2026-11-20T08:00:00+00:00")
    return root, registry


@pytest.mark.parametrize(("profile", "reason"), [
    ("3.0", "detected: uses geodcatap:"),  # originator (orthophotos) or custodian
    ("2.0", "detected: uses dcatde:politicalGeocodingURI"),
])
def test_the_portals_own_catalogue_validates_clean(built, tmp_path, profile, reason):
    published, registry = built
    out = tmp_path / profile
    shutil.copytree(published, out)
    static = write_static_catalog(registry, out, BASE_URL, profile=profile)
    assert static.report.violations == []
    for path in static.paths:  # catalog.ttl and catalog.jsonld
        code, report = run_json(str(path), "--fail-on", "Warning")
        assert code == 0, report
        assert report["profile"] == profile and report["profile_reason"].startswith(reason)
        assert report["datasets"] == len(registry)
        assert report["official"] == report["project"] == {"violations": [], "warnings": []}
        assert report["unverified"] == []


# --- the new registry fields ------------------------------------------------------------------


def _registry_with(tmp_path: Path, **extra) -> Path:
    """A registry folder with the portal defaults and public_toilets carrying ``extra``."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    shutil.copy(PROJECT_ROOT / "datasets" / "_portal.yml", folder)
    data = yaml.safe_load((PROJECT_ROOT / "datasets" / "public_toilets.yml").read_text("utf-8"))
    data.update(extra)
    (folder / "public_toilets.yml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return folder


NEW_FACTS = {
    "issued": "2019-03-01",
    "temporal": {"start": "2019-01-01", "end": "2025-12-31"},
    "originator": {"name": "Stadt Ratingen, Amt für Stadtgrün",
                   "url": "https://www.ratingen.de", "email": "gruen@ratingen.de"},
    "language": ["de", "en"],
}


@pytest.fixture
def toilets(tmp_path):
    """public_toilets with the new facts, built: (dataset, its metadata.json)."""
    registry = load_registry(_registry_with(tmp_path, **NEW_FACTS))
    dataset = registry["public_toilets"]
    build_layer(tmp_path / "published", dataset.id, list(dataset.outputs),
                "2026-11-20T08:00:00+00:00")
    return dataset, read_metadata(tmp_path / "published", dataset.id)


def test_new_facts_appear_as_dcat_triples_in_3_0(toilets):
    dataset, metadata = toilets
    graph = dataset_graph(describe(dataset, metadata, BASE_URL), profile="3.0")
    node = URIRef(f"{BASE_URL}/datasets/public_toilets")
    assert graph.value(node, DCT.issued) == Literal("2019-03-01", datatype=XSD.date)
    period = graph.value(node, DCT.temporal)
    assert (period, RDF.type, DCT.PeriodOfTime) in graph
    assert graph.value(period, DCAT.startDate) == Literal("2019-01-01", datatype=XSD.date)
    assert graph.value(period, DCAT.endDate) == Literal("2025-12-31", datatype=XSD.date)
    assert set(graph.objects(node, DCT.language)) == {
        URIRef(vocab.EU_LANGUAGE + "DEU"), URIRef(vocab.EU_LANGUAGE + "ENG")}
    custodian = graph.value(node, GEODCATAP.custodian)  # from _portal.yml
    assert str(graph.value(custodian, FOAF.name)) == dataset.maintainer.name
    originator = graph.value(node, GEODCATAP.originator)
    assert str(graph.value(originator, FOAF.name)) == "Stadt Ratingen, Amt für Stadtgrün"
    assert graph.value(node, DCATDE.maintainer) is None  # deprecated in 3.0
    gpkg = URIRef(f"{BASE_URL}/datasets/public_toilets/distributions/gpkg")
    expected = next(f for f in metadata.files if f.format == "gpkg")
    assert int(graph.value(gpkg, DCAT.byteSize)) == expected.bytes
    checksum = graph.value(gpkg, SPDX.checksum)
    assert str(graph.value(checksum, SPDX.checksumValue)) == expected.sha256
    assert graph.value(gpkg, DCT.issued) == Literal("2019-03-01", datatype=XSD.date)
    assert set(graph.objects(gpkg, DCT.language)) == set(graph.objects(node, DCT.language))
    descriptions = {(str(d), d.language) for d in graph.objects(gpkg, DCT.description)}
    assert descriptions == {
        ("Download public_toilets.gpkg: Öffentliche Toiletten als GeoPackage (EPSG:25832).", "de"),
        ("Download public_toilets.gpkg: Public toilets as GeoPackage (EPSG:25832).", "en"),
    }


@pytest.mark.parametrize("profile", ["3.0", "2.0"])
def test_new_facts_pass_the_official_shapes_without_a_warning(toilets, profile):
    dataset, metadata = toilets
    graph = dataset_graph(describe(dataset, metadata, BASE_URL), profile=profile)
    assert validate_graph(graph, profile=profile, fail_on="Warning", rules="official") == []


def test_2_0_says_maintainer_and_originator_as_dcatde(toilets):
    dataset, metadata = toilets
    graph = dataset_graph(describe(dataset, metadata, BASE_URL), profile="2.0")
    node = URIRef(f"{BASE_URL}/datasets/public_toilets")
    assert str(graph.value(graph.value(node, DCATDE.maintainer), FOAF.name)) == (
        "Stadt Ratingen, Amt für Kataster und Geoinformation")
    assert str(graph.value(graph.value(node, DCATDE.originator), FOAF.name)) == (
        "Stadt Ratingen, Amt für Stadtgrün")


def test_new_facts_travel_to_ckan_under_ckanext_dcat_names(toilets):
    dataset, metadata = toilets
    package = package_dict(describe(dataset, metadata, BASE_URL),
                           CkanTarget(url="http://ckan.invalid", token=None))
    extras = {e["key"]: e["value"] for e in package["extras"]}
    assert extras["issued"] == "2019-03-01"
    assert extras["temporal_start"] == "2019-01-01" and extras["temporal_end"] == "2025-12-31"
    assert json.loads(extras["language"]) == [vocab.EU_LANGUAGE + "DEU",
                                              vocab.EU_LANGUAGE + "ENG"]
    assert extras["originator_name"] == "Stadt Ratingen, Amt für Stadtgrün"
    assert extras["originator_email"] == "gruen@ratingen.de"
    # the maintainer goes into CKAN's core fields (an extra of the same name is refused by CKAN)
    assert package["maintainer"] == "Stadt Ratingen, Amt für Kataster und Geoinformation"
    assert package["maintainer_email"] == "geodaten@ratingen.de"
    assert extras["maintainer_url"] == "https://www.ratingen.de/geoportal"
    assert not {"maintainer", "maintainer_email"} & set(extras)
    assert extras["contact_name"] == dataset.contact.name  # the contact point stays apart
    gpkg = next(r for r in package["resources"] if r["uri"].endswith("/gpkg"))
    expected = next(f for f in metadata.files if f.format == "gpkg")
    assert gpkg["size"] == expected.bytes and gpkg["hash"] == expected.sha256
    assert gpkg["issued"] == "2019-03-01"
    assert json.loads(gpkg["language"]) == json.loads(extras["language"])
    assert gpkg["description"].startswith("Download public_toilets.gpkg: Öffentliche Toiletten")


def test_orthophotos_name_the_state_survey_as_originator():
    registry = load_registry(PROJECT_ROOT / "datasets")
    for dataset_id in ("orthophoto", "orthophoto_cir", "orthophoto_nir"):
        assert registry[dataset_id].originator.name == "Geobasis NRW"
    assert registry["trees"].originator is None  # the city's own survey: no originator claimed


@pytest.mark.parametrize(("extra", "message"), [
    ({"temporal": {"start": "2025-01-01", "end": "2019-01-01"}},
     "temporal: end 2019-01-01 lies before start 2025-01-01"),
    ({"temporal": {}}, "temporal: give start, end or both"),
    ({"language": ["deu"]}, "language"),
    ({"originator": {"name": "X", "email": "not-an-address"}}, "expected an e-mail address"),
])
def test_a_wrong_new_fact_is_refused_when_the_registry_loads(tmp_path, extra, message):
    with pytest.raises(RegistryError) as info:
        load_registry(_registry_with(tmp_path, **extra))
    text = str(info.value)
    assert "public_toilets.yml" in text and message in text


def test_unset_facts_write_no_triples(built):
    published, registry = built
    dataset = registry["public_toilets"]
    assert dataset.temporal is None and dataset.issued is None
    graph = dataset_graph(describe(dataset, read_metadata(published, dataset.id), BASE_URL))
    node = URIRef(f"{BASE_URL}/datasets/public_toilets")
    assert graph.value(node, DCT.temporal) is None and graph.value(node, DCT.issued) is None
