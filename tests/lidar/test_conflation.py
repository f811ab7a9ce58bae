"""The tree cadastre conflated with the LiDAR trees (issue #3): matching rules on hand-made
points, the build order and a missing LiDAR layer, and the tiny sample city against the
generator's truth, served through the API."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import pytest
import requests
import shapely
from testkit import make_settings
from testkit.raw import GOOD_TREES, write_trees

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import build_all
from pipelines.lidar.conflation import LidarTrees, conflate

TILE = shapely.box(350000, 5685000, 351000, 5686000)


def cadastre(*points: tuple[str, float, float]) -> gpd.GeoDataFrame:
    ids, xs, ys = zip(*points, strict=True)
    return gpd.GeoDataFrame({"tree_id": list(ids)}, geometry=gpd.points_from_xy(xs, ys),
                            crs="EPSG:25832")


def lidar(*points: tuple[str, float, float, float, float]) -> LidarTrees:
    ids, xs, ys, h, c = zip(*points, strict=True)
    trees = gpd.GeoDataFrame({"tree_id": list(ids), "height_m": list(h),
                              "crown_diameter_m": list(c)},
                             geometry=gpd.points_from_xy(xs, ys), crs="EPSG:25832")
    return LidarTrees(trees, TILE, 2025)


def by_id(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.set_index("tree_id")


def test_a_cadastre_tree_next_to_a_detected_tree_gains_its_height_and_crown() -> None:
    result = conflate(cadastre(("B1", 350100.0, 5685100.0)),
                      lidar(("L1", 350101.2, 5685100.9, 17.4, 9.1)), 3.0)
    b1 = by_id(result.cadastre).loc["B1"]
    assert b1["lidar_status"] == "found" and b1["lidar_year"] == 2025
    assert b1["lidar_height_m"] == pytest.approx(17.4)
    assert b1["lidar_crown_diameter_m"] == pytest.approx(9.1)
    assert b1["lidar_distance_m"] == pytest.approx(1.5)
    assert b1["lidar_tree_id"] == "L1"
    assert result.unmatched.empty


def test_a_cadastre_tree_without_lidar_tree_is_not_found_and_one_outside_the_scan_unknown(
) -> None:
    result = conflate(cadastre(("B1", 350100.0, 5685100.0), ("B2", 349990.0, 5685100.0)),
                      lidar(("L1", 350104.0, 5685100.0, 17.4, 9.1)), 3.0)
    trees = by_id(result.cadastre)
    assert trees.loc["B1", "lidar_status"] == "not_found"
    assert trees.loc["B1", "lidar_year"] == 2025
    assert trees.loc["B1", ["lidar_height_m", "lidar_distance_m"]].isna().all()
    assert trees.loc["B2", ["lidar_status", "lidar_year"]].isna().all(), "outside the tile"
    assert list(result.unmatched["tree_id"]) == ["L1"], "4 m away is beyond the 3 m limit"


def test_a_lidar_tree_without_cadastre_entry_is_not_in_the_cadastre() -> None:
    result = conflate(cadastre(("B1", 350100.0, 5685100.0)),
                      lidar(("L1", 350100.5, 5685100.0, 12.0, 6.0),
                            ("L2", 350300.0, 5685300.0, 21.0, 11.0)), 3.0)
    unmatched = by_id(result.unmatched)
    assert list(unmatched.index) == ["L2"]
    assert unmatched.loc["L2", "height_m"] == 21.0 and unmatched.loc["L2", "lidar_year"] == 2025


def test_matching_is_one_to_one_and_minimises_the_distance() -> None:
    # B1 is nearest to L1, but B2 has only L1 in reach: the assignment gives L1 to B2 when B1
    # can take L2; with a single detected tree only the nearer cadastre tree gets it.
    two_near_one = conflate(cadastre(("B1", 350100.0, 5685100.0), ("B2", 350101.0, 5685100.0)),
                            lidar(("L1", 350100.8, 5685100.0, 15.0, 8.0)), 3.0)
    status = by_id(two_near_one.cadastre)["lidar_status"]
    assert dict(status) == {"B1": "not_found", "B2": "found"}
    chain = conflate(cadastre(("B1", 350100.0, 5685100.0), ("B2", 350102.5, 5685100.0)),
                     lidar(("L1", 350101.0, 5685100.0, 15.0, 8.0),
                           ("L2", 350098.5, 5685100.0, 14.0, 7.0)), 3.0)
    got = by_id(chain.cadastre)["lidar_tree_id"]
    assert dict(got) == {"B1": "L2", "B2": "L1"}
    assert chain.unmatched.empty


def test_the_conflation_is_built_after_the_detection_it_reads() -> None:
    registry = load_registry(PROJECT_ROOT / "datasets")
    order = [d.id for d in registry.select(["trees_not_in_cadastre", "trees", "trees_lidar"])]
    assert order == ["trees_lidar", "trees", "trees_not_in_cadastre"]
    everything = [d.id for d in registry.select(None)]
    assert everything.index("trees_lidar") < everything.index("trees")


def test_building_the_cadastre_alone_builds_its_detection_first_or_refuses(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_trees(settings.raw_dir, GOOD_TREES)  # an empty data folder but for the cadastre
    said: list[str] = []
    summary = build_all(load_registry(PROJECT_ROOT / "datasets"), settings, ["trees"],
                        echo=said.append)
    assert any("trees_lidar (lidar_trees, needed by trees)" in line for line in said), said
    assert "no LiDAR tiles" in summary.failed["trees_lidar"]
    assert "depends on ['trees_lidar']" in summary.failed["trees"]
    assert not (settings.published_dir / "trees").exists(), "never published without its input"


def test_a_failed_detection_keeps_the_conflation_from_reading_a_stale_layer(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_trees(settings.raw_dir, GOOD_TREES)  # no LiDAR tiles at all: trees_lidar fails
    summary = build_all(load_registry(PROJECT_ROOT / "datasets"), settings,
                        ["trees", "trees_lidar"], echo=lambda _: None)
    assert "no LiDAR tiles" in summary.failed["trees_lidar"]
    assert "depends on ['trees_lidar']" in summary.failed["trees"]


# --- the tiny sample city, against the generator's truth --------------------------------------


def published(portal: Settings, dataset_id: str) -> gpd.GeoDataFrame:
    return gpd.read_file(portal.published_dir / dataset_id / f"{dataset_id}.gpkg")


def flown_in(raw: Path) -> int:
    """The flight year the delivered LAS headers state (what ``lasinfo`` shows a user)."""
    years = set()
    for path in sorted((raw / "lidar").glob("*.laz")):
        with laspy.open(path) as reader:
            years.add(reader.header.creation_date.year)
    assert len(years) == 1, years
    return years.pop()


@pytest.mark.slow
def test_sample_cadastre_matches_the_truth(portal: Settings) -> None:
    trees = published(portal, "trees")
    detected = published(portal, "trees_lidar")
    extra = published(portal, "trees_not_in_cadastre")
    truth = gpd.read_file(portal.raw_dir / "truth" / "trees.gpkg")
    standing = truth[truth["in_cadastre"]].set_index(
        truth.loc[truth["in_cadastre"], "cadastre_id"].astype(str))

    scanned = trees[trees["lidar_status"].notna()]
    assert set(scanned["lidar_status"]) == {"found", "not_found"}
    assert (scanned["lidar_year"] == flown_in(portal.raw_dir)).all()
    alive = scanned["tree_id"].isin(standing.index)
    felled = scanned[~alive]
    assert len(felled) >= 5, "the sample's cadastre lists trees felled since"
    assert (felled["lidar_status"] == "not_found").all(), "a felled tree is never found"
    found = scanned[scanned["lidar_status"] == "found"]
    assert found["tree_id"].isin(standing.index).all()
    recall = len(found) / alive.sum()
    assert recall >= 0.75, f"only {recall:.0%} of the standing cadastre trees found"
    # found trees carry the truth's height (the cadastre's own height is years old)
    truth_h = standing.loc[found["tree_id"], "height_m"].to_numpy()
    rmse = float(np.sqrt(np.mean((found["lidar_height_m"].to_numpy() - truth_h) ** 2)))
    assert rmse < 2.0, rmse
    assert (found["lidar_distance_m"] <= 3.0).all()

    # every detected tree is either claimed by exactly one cadastre tree or in the extra layer
    claimed = found["lidar_tree_id"]
    assert claimed.is_unique
    assert set(claimed).isdisjoint(extra["tree_id"])
    assert set(claimed) | set(extra["tree_id"]) == set(detected["tree_id"])
    # most detected trees without a cadastre entry stand where the truth has an unlisted tree
    unlisted = truth[~truth["in_cadastre"]]
    d = extra.geometry.apply(lambda p: unlisted.distance(p).min())
    assert len(unlisted) and (d < 3.0).sum() >= 0.5 * len(unlisted)


@pytest.mark.slow
@pytest.mark.server
def test_conflated_fields_are_served(server: str, portal: Settings) -> None:
    trees = published(portal, "trees")
    one = trees[trees["lidar_status"] == "found"].iloc[0]
    r = requests.get(f"{server}/collections/trees/items/{one['tree_id']}",
                     params={"f": "json"}, timeout=30)
    r.raise_for_status()
    props = r.json()["properties"]
    assert props["lidar_status"] == "found" and props["lidar_year"] == flown_in(portal.raw_dir)
    assert props["lidar_height_m"] == pytest.approx(one["lidar_height_m"])
    assert props["lidar_crown_diameter_m"] == pytest.approx(one["lidar_crown_diameter_m"])
    assert props["lidar_distance_m"] == pytest.approx(one["lidar_distance_m"])
    lost = requests.get(f"{server}/collections/trees/items",
                        params={"f": "json", "lidar_status": "not_found", "limit": 1000},
                        timeout=30).json()
    expected = int((trees["lidar_status"] == "not_found").sum())
    assert lost["numberMatched"] == expected > 0
    extra = requests.get(f"{server}/collections/trees_not_in_cadastre/items",
                         params={"f": "json", "limit": 1}, timeout=30).json()
    assert extra["numberMatched"] == len(published(portal, "trees_not_in_cadastre"))
    assert set(extra["features"][0]["properties"]) >= {"tree_id", "height_m",
                                                      "crown_diameter_m", "lidar_year"}


def test_an_unknown_dependency_is_a_registry_error(tmp_path: Path) -> None:
    from geoportal.core.errors import RegistryError

    folder = tmp_path / "datasets"
    folder.mkdir()
    shutil.copy(PROJECT_ROOT / "datasets" / "_portal.yml", folder)
    text = (PROJECT_ROOT / "datasets" / "trees.yml").read_text(encoding="utf-8")
    (folder / "trees.yml").write_text(text.replace("lidar_trees: trees_lidar",
                                                   "lidar_trees: trees_lidars"), "utf-8")
    with pytest.raises(RegistryError, match=r"lidar_trees: 'trees_lidars' is not a dataset"):
        load_registry(folder)
