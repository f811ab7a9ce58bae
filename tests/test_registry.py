"""The dataset registry: the real files validate, broken ones are explained precisely."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from geoportal.core.errors import RegistryError
from geoportal.core.registry import License, load_registry
from geoportal.core.settings import PROJECT_ROOT

DATASETS = PROJECT_ROOT / "datasets"


@pytest.fixture
def registry_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "datasets"
    shutil.copytree(DATASETS, folder)
    return folder


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_every_committed_dataset_validates() -> None:
    registry = load_registry(DATASETS)
    assert {"trees", "public_toilets"} <= {d.id for d in registry}
    for d in registry:
        assert d.title.de and d.title.en, d.id
        assert d.publisher.name == "Stadt Ratingen"
        assert d.geocoding.regional_key == "051580028028"
        if d.license is License.DL_BY_DE_2_0:
            assert d.attribution, f"{d.id} needs an attribution text"


def test_malformed_yaml_names_file_and_line(registry_copy: Path) -> None:
    broken = registry_copy / "trees.yml"
    broken.write_text("id: trees\ntitle: {de: Bäume\n  en: x\n", encoding="utf-8")
    with pytest.raises(RegistryError) as err:
        load_registry(registry_copy)
    message = str(err.value)
    assert "trees.yml" in message
    assert "line" in message and "not valid YAML" in message


def test_missing_and_wrong_fields_are_each_named(registry_copy: Path) -> None:
    def change(d: dict) -> None:
        del d["license"]
        d["update_frequency"] = "sometimes"
        d["schema"]["properties"][4]["type"] = "int"

    edit(registry_copy / "trees.yml", change)
    with pytest.raises(RegistryError) as err:
        load_registry(registry_copy)
    message = str(err.value)
    assert "trees.yml" in message
    assert "license: required field is missing" in message
    assert "update_frequency" in message and "'sometimes'" in message
    assert "schema.properties.4.type" in message and "'int'" in message


def test_a_typo_in_a_key_is_reported_not_ignored(registry_copy: Path) -> None:
    edit(registry_copy / "public_toilets.yml", lambda d: d.update(licence="dl-de/by-2-0"))
    with pytest.raises(RegistryError, match=r"licence: unknown key"):
        load_registry(registry_copy)


def test_a_schema_asking_for_owner_data_is_refused(registry_copy: Path) -> None:
    owner = {"name": "owner", "source": "Eigentümer", "title": {"de": "Eigentümer"}}
    edit(registry_copy / "trees.yml", lambda d: d["schema"]["properties"].append(owner))
    with pytest.raises(RegistryError, match="personal data must never be published"):
        load_registry(registry_copy)


def test_id_must_match_file_name(registry_copy: Path) -> None:
    edit(registry_copy / "trees.yml", lambda d: d.update(id="baeume"))
    with pytest.raises(RegistryError, match="expected the file name's stem 'trees'"):
        load_registry(registry_copy)


def test_registry_error_is_a_value_error(registry_copy: Path) -> None:
    (registry_copy / "trees.yml").write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_registry(registry_copy)


def test_csv_source_needs_coordinates(registry_copy: Path) -> None:
    edit(registry_copy / "trees.yml", lambda d: d["source"].pop("geometry"))
    with pytest.raises(RegistryError, match="source: a csv source needs 'geometry'"):
        load_registry(registry_copy)


def test_unknown_crs_is_explained(registry_copy: Path) -> None:
    edit(registry_copy / "trees.yml", lambda d: d["source"].update(crs="EPSG:999999"))
    with pytest.raises(RegistryError, match=r"source.crs: expected a CRS such as 'EPSG:25832'"):
        load_registry(registry_copy)
