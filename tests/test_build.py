"""Building layers: bad input is explained, good input still publishes, nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from testkit import make_settings
from testkit.raw import GOOD_TOILETS, GOOD_TREES, write_toilets, write_trees

from geoportal.core.publish import LayerMetadata, read_metadata
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.base import BuildResult
from pipelines.build import BuildSummary, build_all


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = make_settings(tmp_path)
    write_toilets(s.raw_dir, GOOD_TOILETS)
    write_trees(s.raw_dir, GOOD_TREES)
    return s


def cadastre_only(folder: Path) -> Path:
    """The registry with the tree cadastre as a plain vector layer: these tests are about
    reading and publishing a delivered table; its LiDAR conflation (which refuses to publish
    without the detected trees) is tests/lidar/test_conflation.py's."""
    if not folder.exists():
        shutil.copytree(PROJECT_ROOT / "datasets", folder)
        trees = folder / "trees.yml"
        data = yaml.safe_load(trees.read_text(encoding="utf-8"))
        # Two of the five test rows are broken on purpose (the rejects report's tests): allow
        # them, the 5 % default would refuse the delivery (tests/delivery/test_vector.py).
        data["pipeline"] = {"kind": "vector", "params": {"max_rejected_pct": 50}}
        trees.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def build(settings: Settings, ids: list[str] | None = None, datasets: Path | None = None):
    registry = load_registry(datasets or cadastre_only(settings.data_dir / "datasets"))
    lines: list[str] = []
    summary = build_all(registry, settings, ids, echo=lines.append)
    return summary, "\n".join(lines)


FIRST_LAYERS = ["public_toilets", "trees"]


def test_good_input_publishes_every_format(settings: Settings) -> None:
    summary, log = build(settings, FIRST_LAYERS)
    assert summary.ok, log
    trees = gpd.read_file(settings.published_dir / "trees" / "trees.gpkg")
    assert sorted(trees["tree_id"]) == ["B1", "B2", "B5"]
    assert trees.crs.to_epsg() == 25832
    b1 = trees.set_index("tree_id").loc["B1"]
    assert b1["species_de"] == "Winter-Linde" and b1["street"] == "Düsseldorfer Straße"
    assert b1["crown_diameter_m"] == pytest.approx(8.5)
    assert b1.geometry.x == pytest.approx(350123.45)
    toilets = gpd.read_file(settings.published_dir / "public_toilets" / "public_toilets.geojson")
    by_id = toilets.set_index("toilet_id")
    assert bool(by_id.loc["WC1", "accessible"]) is True
    assert bool(by_id.loc["WC2", "accessible"]) is False
    assert by_id.loc["WC2", "fee"] == "0,50 €"
    assert by_id.loc["WC1"].geometry.x == pytest.approx(6.849)  # lon/lat order, WGS84
    assert "summary" not in log and "built 2 dataset(s), 0 failed" in log


def test_unreadable_rows_go_to_the_rejects_report(settings: Settings) -> None:
    build(settings, ["trees"])
    folder = settings.published_dir / "trees"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["rows_read"] == 5 and report["rows_published"] == 3
    assert report["by_reason"] == {
        "rejected: coordinate missing": 1,
        "rejected: coordinate not a number": 1,
        "nulled: below the minimum 1700": 1,
    }
    rejects = (folder / "rejects.csv").read_text(encoding="utf-8")
    assert "350300,5x" in rejects and ",Rechtswert," in rejects
    metadata = read_metadata(settings.published_dir, "trees")
    assert metadata is not None and metadata.rejected_count == 2


def test_missing_source_fails_that_layer_only(settings: Settings) -> None:
    (settings.raw_dir / "poi" / "oeffentliche_toiletten.csv").unlink()
    summary, _ = build(settings, FIRST_LAYERS)
    assert not summary.ok
    assert "oeffentliche_toiletten.csv" in summary.failed["public_toilets"]
    assert "not found" in summary.failed["public_toilets"]
    assert [r.dataset_id for r in summary.built] == ["trees"]


def test_wrong_encoding_is_explained(settings: Settings) -> None:
    write_trees(settings.raw_dir, GOOD_TREES, encoding="utf-16")
    summary, _ = build(settings, ["trees"])
    message = summary.failed["trees"]
    assert "baumkataster_ratingen.csv" in message and "cp1252" in message


def test_a_renamed_column_names_the_yaml_and_the_columns(settings: Settings) -> None:
    path = settings.raw_dir / "baumkataster" / "baumkataster_ratingen.csv"
    text = path.read_bytes().decode("cp1252").replace("Pflanzjahr", "Pflanzdatum")
    path.write_bytes(text.encode("cp1252"))
    summary, _ = build(settings, ["trees"])
    message = summary.failed["trees"]
    assert "['Pflanzjahr']" in message and "datasets/trees.yml" in message
    assert "Pflanzdatum" in message


def test_a_failed_rebuild_keeps_the_published_version(settings: Settings) -> None:
    summary, _ = build(settings, ["trees"])
    assert summary.ok
    before = read_metadata(settings.published_dir, "trees")
    gpkg = (settings.published_dir / "trees" / "trees.gpkg").read_bytes()

    write_trees(settings.raw_dir, ["broken"], encoding="cp1252")
    (settings.raw_dir / "baumkataster" / "baumkataster_ratingen.csv").write_text("x\n")
    summary, _ = build(settings, ["trees"])
    assert not summary.ok

    after = read_metadata(settings.published_dir, "trees")
    assert after == before
    assert (settings.published_dir / "trees" / "trees.gpkg").read_bytes() == gpkg
    leftovers = list((settings.published_dir / ".versions" / "trees").iterdir())
    assert len(leftovers) == 1, "the failed build's staging folder must be removed"


def test_unchanged_rebuild_keeps_modified_date(settings: Settings) -> None:
    build(settings, ["public_toilets"])
    first = read_metadata(settings.published_dir, "public_toilets")
    build(settings, ["public_toilets"])
    second = read_metadata(settings.published_dir, "public_toilets")
    assert first is not None and second is not None
    assert second.built_at >= first.built_at
    assert second.modified == first.modified
    write_toilets(settings.raw_dir, GOOD_TOILETS[:2])
    build(settings, ["public_toilets"])
    third = read_metadata(settings.published_dir, "public_toilets")
    assert third is not None and third.feature_count == 2
    assert third.content_key() != first.content_key()


def test_a_new_point_layer_takes_one_yaml_file_and_no_code(settings: Settings,
                                                           tmp_path: Path) -> None:
    datasets = cadastre_only(tmp_path / "datasets")
    (settings.raw_dir / "poi" / "trinkbrunnen.csv").write_text(
        "nr;standort;rw;hw\n1;Marktplatz;350500,1;5685700,2\n2;Stadtpark;350600,0;5685800,0\n",
        encoding="utf-8")
    (datasets / "drinking_fountains.yml").write_text("""
id: drinking_fountains
title: {de: Trinkbrunnen, en: Drinking fountains}
description: {de: Öffentliche Trinkbrunnen., en: Public drinking fountains.}
theme: everyday
keywords: {de: [Trinkwasser]}
license: dl-de/zero-2-0
update_frequency: annual
source: {path: poi/trinkbrunnen.csv, delimiter: ";", decimal: ",", geometry: {x: rw, y: hw}}
pipeline: {kind: vector}
schema:
  geometry: Point
  id_field: nr
  properties:
    - {name: nr, required: true, title: {de: Nummer}}
    - {name: location, source: standort, title: {de: Standort}}
""", encoding="utf-8")
    summary, log = build(settings, ["drinking_fountains"], datasets)
    assert summary.ok, log
    layer = gpd.read_file(settings.published_dir / "drinking_fountains" /
                          "drinking_fountains.gpkg")
    assert list(layer["location"]) == ["Marktplatz", "Stadtpark"]
    assert layer.geometry.iloc[0].x == pytest.approx(350500.1)


def test_a_summary_says_ok_only_without_warnings_and_lists_each_warning() -> None:
    meta = LayerMetadata(id="x", built_at="", modified="", feature_count=0, rejected_count=0,
                         bbox_wgs84=None, bbox_native=None, crs_native="EPSG:25832",
                         source_sha256=None)
    summary = BuildSummary(built=[
        BuildResult("trees_gk", meta, "3 rows", warnings=["grid missing", "one more"]),
        BuildResult("toilets", meta, "1 row", warnings=["approximate"]),
        BuildResult("schools", meta, "2 rows")])
    assert summary.lines()[1:] == [
        "  ok with 2 warnings trees_gk: 3 rows",
        "    warning: grid missing",
        "    warning: one more",
        "  ok with 1 warning toilets: 1 row",
        "    warning: approximate",
        "  ok      schools: 2 rows",
    ]
