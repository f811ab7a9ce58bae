"""The catalogue as SDI harvesters read it: CSW 2.0.2 with ISO 19139 (pycsw at ``/csw``) and
OGC API Records (``/collections/catalogue``), from the same registry as DCAT-AP.de.

A harvester (the GDI-DE's, geoportal.de's) opens the CSW with OWSLib-like requests: capabilities,
GetRecords with a filter, GetRecordById in ISO 19139. The server is real (gunicorn), over three
vector layers built from the tiny sample city in a copy of ``datasets/``, so that the last test
can change a title in a YAML file and rebuild as an editor would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from lxml import etree
from owslib import fes
from owslib.csw import CatalogueServiceWeb
from testkit import free_port, make_settings

from catalog import iso
from catalog.model import describe
from geoportal.app.csw import capabilities_schema
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.server]
DATASETS = ("public_toilets", "schools", "libraries")
GMD = "http://www.isotc211.org/2005/gmd"
NS = {"gmd": GMD, "gco": iso.GCO, "gmx": iso.GMX, "csw": "http://www.opengis.net/cat/csw/2.0.2"}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory, sample_raw: Path
              ) -> Iterator[Settings]:
    """Three layers built into a temporary folder, with their own copy of the registry, served."""
    from catalog.static import write_static_catalog
    from geoportal.app.server import start, stop
    from pipelines.build import build_all

    base = tmp_path_factory.mktemp("catalogue")
    (base / "raw").symlink_to(sample_raw)
    registry_dir = base / "datasets"
    registry_dir.mkdir()
    for name in ("_portal.yml", "_pages", *(f"{d}.yml" for d in DATASETS)):
        source = PROJECT_ROOT / "datasets" / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, registry_dir / name)
    port = free_port()
    env = make_settings(base, f"http://127.0.0.1:{port}").as_env()
    settings = Settings.from_env({**env, "GEOPORTAL_DATASETS_DIR": str(registry_dir)})
    registry = load_registry(settings.datasets_dir)
    assert build_all(registry, settings, echo=lambda _: None).ok
    write_static_catalog(registry, settings.published_dir, settings.url)
    proc: subprocess.Popen[bytes] = start(settings, "127.0.0.1", port, workers=2,
                                          log=base / "server.log")
    try:
        yield settings
    finally:
        stop(proc)


def _csw(settings: Settings) -> CatalogueServiceWeb:
    return CatalogueServiceWeb(f"{settings.url}/csw", version="2.0.2", timeout=30)


def _record_id(settings: Settings, dataset_id: str) -> str:
    return f"{settings.url}/datasets/{dataset_id}"


def test_every_registry_dataset_is_a_valid_iso_19139_record() -> None:
    """All 25 registry entries, built or not, validate against the ISO 19139 schemas (offline),
    and the validator does refuse a record without its mandatory contact."""
    registry = load_registry(PROJECT_ROOT / "datasets")
    for dataset in registry:
        record = iso.iso_record(describe(dataset, None, "http://127.0.0.1:5000"))
        assert iso.validate(record) == [], dataset.id
    broken = iso.iso_record(describe(registry["schools"], None, "http://127.0.0.1:5000"))
    broken.remove(broken.find("gmd:contact", NS))
    assert any("contact" in error for error in iso.validate(broken))


def test_an_iso_record_says_what_a_harvester_needs() -> None:
    """Title, abstract, keywords with the INSPIRE theme, CRS, licence, the publisher from
    ``_portal.yml`` (an organisation, no person), links, update frequency."""
    registry = load_registry(PROJECT_ROOT / "datasets")
    dtm = registry["terrain_dtm"]
    root = iso.iso_record(describe(dtm, None, "https://geoportal.ratingen.de"))
    text = etree.tostring(root, encoding="unicode")
    ident = root.find("gmd:identificationInfo/gmd:MD_DataIdentification", NS)
    assert ident.findtext("gmd:citation/gmd:CI_Citation/gmd:title/gco:CharacterString",
                          namespaces=NS) == dtm.title.de
    assert ident.findtext("gmd:abstract/gco:CharacterString", namespaces=NS) == \
        dtm.description.de
    keywords = [k.text for k in ident.iterfind(".//gmd:keyword/*", NS)]
    assert set(dtm.keywords.de) <= set(keywords) and "Höhe" in keywords
    assert ident.find(".//gmd:thesaurusName//gmx:Anchor", NS).text.startswith("GEMET")
    assert "http://www.opengis.net/def/crs/EPSG/0/25832" in text
    constraints = [c.text for c in ident.iterfind(".//gmd:otherConstraints/*", NS)]
    licence = json.loads(next(c for c in constraints if c.startswith("{")))  # GDI-DE's form
    assert licence["id"] == {"dl-de/by-2-0": "dl-by-de/2.0",
                             "dl-de/zero-2-0": "dl-zero-de/2.0"}[dtm.license.value]
    assert licence["url"] == dtm.license.page and dtm.license.title["de"] in constraints
    organisations = {o.text for o in root.iterfind(".//gmd:organisationName/*", NS)}
    assert organisations == {dtm.publisher.name, dtm.contact.name}
    assert root.find(".//gmd:individualName", NS) is None
    urls = {u.text for u in root.iterfind(".//gmd:onLine//gmd:URL", NS)}
    assert "https://geoportal.ratingen.de/collections/terrain_dtm/coverage" in urls
    assert ident.find(".//gmd:MD_MaintenanceFrequencyCode", NS).get("codeListValue") == \
        iso.MAINTENANCE[dtm.update_frequency]


def test_capabilities_are_valid_csw_2_0_2(catalogue: Settings) -> None:
    response = requests.get(f"{catalogue.url}/csw", params={
        "service": "CSW", "version": "2.0.2", "request": "GetCapabilities"}, timeout=30)
    assert response.status_code == 200
    document = etree.fromstring(response.content)
    schema = etree.XMLSchema(etree.parse(str(capabilities_schema())))
    assert schema.validate(document), schema.error_log
    assert f"{catalogue.url}/csw" in response.text  # operations point at the public address
    assert "Stadt Ratingen" in response.text


def test_a_harvester_finds_and_fetches_iso_records(catalogue: Settings) -> None:
    """OWSLib as a harvester uses it: GetRecords with a filter and paging, then GetRecordById
    in ISO 19139, whose document validates against the ISO schemas."""
    csw = _csw(catalogue)
    assert "GetRecordById" in [op.name for op in csw.operations]
    csw.getrecords2(constraints=[fes.PropertyIsLike("csw:AnyText", "%Schule%")],
                    esn="brief", maxrecords=10)
    assert list(csw.records) == [_record_id(catalogue, "schools")]
    csw.getrecords2(esn="brief", maxrecords=2)
    assert csw.results["matches"] == len(DATASETS) and csw.results["returned"] == 2
    seen = set(csw.records)
    csw.getrecords2(esn="brief", maxrecords=2, startposition=csw.results["nextrecord"])
    assert seen | set(csw.records) == {_record_id(catalogue, d) for d in DATASETS}

    csw.getrecordbyid([_record_id(catalogue, "schools")], outputschema=GMD)
    record = csw.records[_record_id(catalogue, "schools")]
    assert record.identification[0].title == "Schulen"
    assert record.contact[0].email == "geodaten@ratingen.de"
    urls = {o.url for o in record.distribution.online}
    assert f"{catalogue.url}/downloads/schools/schools.gpkg" in urls
    assert requests.head(f"{catalogue.url}/downloads/schools/schools.gpkg",
                         timeout=30).status_code == 200
    document = etree.fromstring(csw.response).find("gmd:MD_Metadata", NS)
    assert iso.validate(document) == []


def test_records_api_lists_every_built_dataset(catalogue: Settings) -> None:
    items = requests.get(f"{catalogue.url}/collections/catalogue/items",
                         params={"f": "json"}, timeout=30).json()
    assert {f["id"] for f in items["features"]} == set(DATASETS)
    found = requests.get(f"{catalogue.url}/collections/catalogue/items",
                         params={"f": "json", "q": "Schule"}, timeout=30).json()
    assert [f["id"] for f in found["features"]] == ["schools"]
    school = requests.get(f"{catalogue.url}/collections/catalogue/items/schools",
                          params={"f": "json"}, timeout=30).json()
    assert school["properties"]["contacts"][0]["emails"] == [{"value": "geodaten@ratingen.de"}]
    assert school["properties"]["license"] == "dl-de/zero-2-0"  # datasets/schools.yml
    assert any(link["href"].endswith("/downloads/schools/schools.csv")
               for link in school["links"])


def test_records_are_found_by_the_day_they_were_updated(catalogue: Settings) -> None:
    """``datetime=<day>`` (an instant) was a 500; it finds the records updated that day."""
    items = requests.get(f"{catalogue.url}/collections/catalogue/items", params={"f": "json"},
                         timeout=30).json()["features"]
    day = items[0]["properties"]["updated"][:10]
    same_day = {f["id"] for f in items if f["properties"]["updated"].startswith(day)}
    for when, expected in ((day, same_day), ("1999-01-01", set())):
        found = requests.get(f"{catalogue.url}/collections/catalogue/items",
                             params={"f": "json", "datetime": when}, timeout=30)
        assert found.status_code == 200, found.text
        assert {f["id"] for f in found.json()["features"]} == expected


def test_a_title_changed_in_the_yaml_shows_in_all_three_catalogues(catalogue: Settings) -> None:
    """An editor changes one title and rebuilds (``geoportal build``): the DCAT-AP.de file, the
    Records API and the CSW say the new title, without restarting the server."""
    from geoportal.app.cli import main

    path = catalogue.datasets_dir / "public_toilets.yml"
    new_title = "Öffentliche WCs (neu)"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "de: Öffentliche Toiletten", f"de: {new_title}", 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["build", "public_toilets"], env=catalogue.as_env())
    assert result.exit_code == 0, result.output

    assert new_title in (catalogue.published_dir / "catalog.ttl").read_text(encoding="utf-8")
    item = requests.get(f"{catalogue.url}/collections/catalogue/items/public_toilets",
                        params={"f": "json"}, timeout=30).json()
    assert item["properties"]["title"] == new_title
    csw = _csw(catalogue)
    csw.getrecordbyid([_record_id(catalogue, "public_toilets")], outputschema=GMD)
    assert csw.records[_record_id(catalogue, "public_toilets")].identification[0].title == \
        new_title


@pytest.mark.parametrize("path, params", [
    ("/collections/catalogue/items", {"f": "json", "q": "("}),
    ("/collections/catalogue/items", {"f": "json", "q": "*["}),
    ("/collections/catalogue/queryables", {"f": "json", "properties": "q",
                                           "profile": "actual-domain"}),
    ("/csw", {"service": "CSW", "request": "Nope"}),
    ("/csw", {"service": "CSW", "version": "2.0.2", "request": "GetRecords",
              "constraintlanguage": "CQL_TEXT", "constraint": "garbage(("}),
])
def test_a_malformed_query_is_answered_not_a_server_error(catalogue: Settings, path: str,
                                                          params: dict[str, str]) -> None:
    """``q=(`` was a regular expression error (500); pycsw's exception report lacked its
    language (500). Now: the records holding the characters literally, or an OWS exception
    report naming the problem."""
    response = requests.get(f"{catalogue.url}{path}", params=params, timeout=30)
    assert response.status_code < 500
    if path == "/csw":
        assert b"ExceptionReport" in response.content
    elif path.endswith("queryables"):
        assert response.status_code == 200
    else:  # "(" stands in some descriptions; "*[" in none
        assert response.json()["numberMatched"] == (0 if params["q"] == "*[" else
                                                     response.json()["numberReturned"])
