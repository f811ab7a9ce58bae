"""``geoportal publish`` as an operator runs it, against a real CKAN: what ``--only``,
``--purge`` and ``--static-only`` promise, and that a dataset refused by validation keeps its
CKAN entry as it was instead of being deleted or half-updated."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import ckanapi
import pytest
from ckanapi import RemoteCKAN
from click.testing import CliRunner, Result
from testkit.catalog import BASE_URL

from catalog import static
from catalog.ckan import package_name
from geoportal.app.cli import main
from geoportal.core.registry import Registry
from geoportal.core.settings import PROJECT_ROOT

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture
def operator(ckan, run_id, published, tmp_path):
    """Runs ``geoportal publish`` with the environment an operator sets, into a fresh org."""
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / "datasets", datasets)
    env = {
        "GEOPORTAL_PUBLISHED_DIR": str(published), "GEOPORTAL_DATASETS_DIR": str(datasets),
        "GEOPORTAL_URL": BASE_URL, "CKAN_URL": ckan["CKAN_URL"],
        "CKAN_API_TOKEN": ckan["CKAN_API_TOKEN"],
    }
    org, prefix = f"ratingen-{run_id}", f"p{run_id}"

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["publish", "--org", org, "--prefix", prefix, *args],
                                  env=env, catch_exceptions=False)

    run.api = RemoteCKAN(ckan["CKAN_URL"], apikey=ckan["CKAN_API_TOKEN"])
    run.org, run.prefix, run.datasets = org, prefix, datasets
    return run


def _states(operator) -> dict[str, str]:
    """package name -> state of every package the test's organisation lists (the active ones:
    CKAN's search leaves deleted packages out)."""
    found = operator.api.action.package_search(fq=f"organization:{operator.org}", rows=1000)
    return {p["name"]: p["state"] for p in found["results"]}


def test_only_publishes_that_dataset_and_never_deletes_the_others(operator, registry: Registry):
    assert operator().exit_code == 0
    names = {package_name(d.id, operator.prefix) for d in registry}
    assert _states(operator) == dict.fromkeys(names, "active")

    # the YAML of another dataset is gone (moved away, say): --only still deletes nothing
    (operator.datasets / "monuments.yml").unlink()
    result = operator("--only", "trees")
    assert result.exit_code == 0, result.output
    assert "CKAN: 0 created, 0 updated, 0 deleted, 1 unchanged" in result.output
    assert _states(operator) == dict.fromkeys(names, "active")

    # without --only the removal is published: a plain delete, which CKAN keeps as 'deleted'
    result = operator()
    assert "1 deleted" in result.output
    gone = package_name("monuments", operator.prefix)
    assert operator.api.action.package_show(id=gone)["state"] == "deleted"


def test_only_with_an_unknown_id_is_refused_naming_it(operator):
    result = CliRunner().invoke(main, ["publish", "--only", "tress"], env={
        "GEOPORTAL_DATASETS_DIR": str(operator.datasets), "CKAN_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2
    assert "--only" in result.output and "tress" in result.output


def test_purge_removes_a_dataset_that_left_the_registry_for_good(operator, registry):
    assert operator().exit_code == 0
    (operator.datasets / "monuments.yml").unlink()
    result = operator("--purge")
    assert result.exit_code == 0, result.output
    gone = package_name("monuments", operator.prefix)
    with pytest.raises(ckanapi.NotFound):
        operator.api.action.package_show(id=gone)
    assert len(_states(operator)) == len(registry) - 1


def test_a_refused_dataset_keeps_its_ckan_entry_as_it_was(operator, monkeypatch):
    assert operator().exit_code == 0
    trees = package_name("trees", operator.prefix)
    before = operator.api.action.package_show(id=trees)
    (operator.datasets / "trees.yml").write_text(
        (operator.datasets / "trees.yml").read_text(encoding="utf-8").replace(
            "title:\n  de: ", "title:\n  de: Neu ", 1), encoding="utf-8")
    # the record is broken after the registry read it: no YAML can carry a licence outside
    # DCAT-AP.de's list (the registry refuses it first), so the fault is injected here
    describe = static.describe_all
    monkeypatch.setattr(static, "describe_all", lambda *a, **k: [
        dataclasses.replace(r, license_uri="https://example.org/own-licence")
        if r.id == "trees" else r for r in describe(*a, **k)])

    result = operator()
    assert result.exit_code == 1
    assert "refused trees" in result.output and "dct:license" in result.output
    after = operator.api.action.package_show(id=trees)
    assert after["state"] == "active"
    assert after["title"] == before["title"] and after["metadata_modified"] == before[
        "metadata_modified"]
    assert "0 deleted" in result.output


def test_static_only_writes_the_files_and_does_not_touch_ckan(operator, published: Path):
    result = operator("--static-only")
    assert result.exit_code == 0, result.output
    assert (published / "catalog.ttl").stat().st_size > 0
    assert (published / "catalog.jsonld").stat().st_size > 0
    with pytest.raises(ckanapi.NotFound):  # not even the organisation was created
        operator.api.action.organization_show(id=operator.org)
