"""The command line's exit codes, as a script or a CI job calling ``geoportal`` sees them:
0 done, 1 a dataset failed (the others built), 2 a mistake in what was asked (nothing built)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from testkit import make_settings
from testkit.raw import GOOD_TOILETS, write_toilets

from geoportal.app.cli import main
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT

REGISTRY = load_registry(PROJECT_ROOT / "datasets")


def run(tmp_path: Path, *args: str):
    return CliRunner().invoke(main, list(args), env=make_settings(tmp_path / "var").as_env())


def test_datasets_lists_the_registry(tmp_path: Path) -> None:
    result = run(tmp_path, "datasets")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"{len(REGISTRY)} datasets in ")
    assert {line.split()[0] for line in lines[:-1]} == {d.id for d in REGISTRY}


def test_an_unknown_dataset_is_exit_2_and_nothing_is_built(tmp_path: Path) -> None:
    result = run(tmp_path, "build", "public_toilets", "no_such_layer")
    assert result.exit_code == 2, result.output
    assert "no_such_layer" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "var" / "published" / "public_toilets").exists()


def test_a_dataset_without_its_source_fails_alone_with_exit_1(tmp_path: Path) -> None:
    write_toilets(tmp_path / "var" / "raw", GOOD_TOILETS)
    result = run(tmp_path, "build", "public_toilets", "schools")
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if "FAILED" in line]
    assert failed and all("schools" in line and "not found" in line for line in failed)
    assert "  FAILED  schools: " in result.output  # the summary line
    published = tmp_path / "var" / "published"
    assert (published / "public_toilets" / "metadata.json").exists()
    assert not (published / "schools").exists()


def test_a_good_build_is_exit_0(tmp_path: Path) -> None:
    write_toilets(tmp_path / "var" / "raw", GOOD_TOILETS)
    result = run(tmp_path, "build", "public_toilets")
    assert result.exit_code == 0, result.output
    assert "  ok      public_toilets: 3 of 3 rows published" in result.output


def test_a_sample_district_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    result = run(tmp_path, "sample", "--district", "atlantis")
    assert result.exit_code == 2
    assert "'atlantis' is not one of 'tiny', 'default', 'city'" in result.output
    assert not (tmp_path / "var" / "raw").exists()
