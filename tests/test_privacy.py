"""Owner data of the internal cadastre never reaches any output: files, API answers, catalogue.

The sample city's ALKIS parcels carry (synthetic) owner names, postal addresses and birth dates,
as the internal cadastre does. Every value of those fields is looked for, byte for byte, in every
published file and in the API's answers.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import requests

from geoportal.core.privacy import is_personal_field
from geoportal.core.registry import load_dataset
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.readers import read_source
from pipelines.rejects import RejectsReport

OWNER_FIELDS = ["eigentuemer", "eigentuemer_anschrift", "eigentuemer_geburtsdatum"]


@pytest.fixture(scope="module")
def owner_values(sample_raw: Path) -> set[str]:
    """Every private person's name, address and birth date in the raw cadastre."""
    raw = gpd.read_file(sample_raw / "alkis" / "flurstuecke.gpkg")
    assert set(OWNER_FIELDS) <= set(raw.columns), "the sample must carry owner data to test this"
    private = raw[raw["eigentuemer"].str.contains(",", na=False)]  # "Surname, Given name"
    values = {str(v) for f in OWNER_FIELDS for v in private[f].dropna() if str(v).strip()}
    assert len(values) > 10
    return values


@pytest.mark.parametrize("name", ["eigentuemer", "Eigentümer_Name", "EIGENTUEMER_ANSCHRIFT",
                                  "geburtsdatum", "Vorname", "owner_address"])
def test_owner_field_names_are_recognised(name: str) -> None:
    assert is_personal_field(name)


@pytest.mark.parametrize("name", ["flstkennz", "gemarkung", "lagebeztxt", "flaeche", "name"])
def test_ordinary_fields_are_not_mistaken_for_personal_data(name: str) -> None:
    assert not is_personal_field(name)


def test_owner_fields_are_not_even_read(sample_raw: Path) -> None:
    dataset = load_dataset(PROJECT_ROOT / "datasets" / "parcels.yml",
                           {"publisher": {"name": "x"}, "contact": {"name": "x"},
                            "geocoding": {"level": "x", "uri": "x", "regional_key": "x"}})
    table = read_source(dataset.source, sample_raw, RejectsReport("parcels", "test"))
    assert sorted(table.dropped_personal) == sorted(OWNER_FIELDS)
    assert not set(OWNER_FIELDS) & set(table.frame.columns)


def test_no_published_file_contains_owner_data(portal: Settings, owner_values: set[str]) -> None:
    files = [p for p in portal.published_dir.rglob("*") if p.is_file()]
    assert any(p.name == "parcels.gpkg" for p in files)
    for path in files:
        content = path.read_bytes()
        for field in OWNER_FIELDS:
            assert field.encode() not in content, f"{path} mentions {field}"
        leaked = [v for v in owner_values if v.encode("utf-8") in content]
        assert not leaked, f"{path} contains owner data: {leaked[:3]}"


@pytest.mark.server
def test_no_api_answer_contains_owner_data(server: str, owner_values: set[str]) -> None:
    for fmt in ("json", "csv", "html"):
        response = requests.get(f"{server}/collections/parcels/items",
                                params={"f": fmt, "limit": 10000}, timeout=60)
        assert response.status_code == 200
        leaked = [v for v in owner_values if v in response.text]
        assert not leaked, f"f={fmt} leaks {leaked[:3]}"
    queryables = requests.get(f"{server}/collections/parcels/queryables?f=json", timeout=30)
    assert "eigentuemer" not in queryables.text
