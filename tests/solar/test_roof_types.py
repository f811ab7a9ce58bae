"""All five roof types (issue 19.1): the generator's opt-in roofs (hipped, shed, stepped)
scored against its truth, and the default sample left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from testkit import free_port, make_settings
from testkit.lidar import build

from geoportal.app.sample import DISTRICTS, SampleSpec, generate
from geoportal.app.sample.truth import roof_truth
from pipelines.solar.score import score_by_type, score_roofs


@pytest.fixture(scope="module")
def all_roofs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sample (as the session's ``sample_raw``) with every roof type: its raw
    folder, and ``roof_solar`` built from it beside."""
    base = tmp_path_factory.mktemp("all_roofs")
    generate(SampleSpec(tiles=DISTRICTS["tiny"], seed=42, lidar_density=2.0,
                        ortho_resolution=2.0, roofs="all"), base / "raw")
    summary, log = build(make_settings(base, f"http://127.0.0.1:{free_port()}"),
                         ["roof_solar"])
    assert summary.ok, log
    return base


def test_the_opt_in_roofs_change_only_the_roofs(all_roofs: Path, sample_raw: Path):
    default = json.loads((sample_raw / "manifest.json").read_text())
    mine = json.loads((all_roofs / "raw" / "manifest.json").read_text())
    assert "roofs" not in default["spec"] and mine["spec"]["roofs"] == "all"
    same = {name for name, f in default["files"].items()
            if mine["files"].get(name, {}).get("sha256") == f["sha256"]}
    # footprints, trees, parcels and addresses are the default ones; the scan and the
    # images show the new roofs
    assert {"alkis/gebaeude.gpkg", "alkis/flurstuecke.gpkg",
            "baumkataster/baumkataster_ratingen.csv"} <= same
    assert not any(name.startswith("lidar/") for name in same)


def test_all_five_roof_types_are_found_with_their_ridge_and_slope(all_roofs: Path):
    truth = roof_truth(all_roofs / "raw")
    truth = truth[truth["in_alkis"]]
    assert set(truth["roof_type"]) == {"flat", "shed", "gabled", "hipped", "complex"}
    planes = gpd.read_file(all_roofs / "published" / "roof_solar" / "roof_solar.gpkg")
    score = score_roofs(planes, truth)
    assert score.found >= 0.95 * score.buildings, score
    assert score.type_accuracy >= 0.9, score.confusion
    assert score.ridge_rmse_m <= 0.3 and score.slope_rmse_deg <= 3.0, score
    by_type = score_by_type(planes, truth)
    for kind in ("flat", "shed", "gabled", "hipped"):  # a dozen hipped roofs and more each
        assert by_type[kind].type_accuracy >= 0.9, (kind, by_type[kind].confusion)
        assert by_type[kind].ridge_rmse_m <= 0.3, (kind, by_type[kind])
        assert by_type[kind].slope_rmse_deg <= 3.0, (kind, by_type[kind])
    # the stepped halls (9 in the tiny sample) are mostly complex, never gabled or hipped
    assert by_type["complex"].type_accuracy >= 0.7, by_type["complex"].confusion
    assert set(by_type["complex"].confusion["complex"]) <= {"complex", "shed", "flat"}
