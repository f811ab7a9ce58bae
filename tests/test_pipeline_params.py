"""Every parameter mistake in a dataset's YAML is one line naming the file, the key path and what
was expected, exit 2, no traceback and nothing built: the registry checks each pipeline kind's
typed parameter model (and the dataset ids in it) when it loads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from geoportal.app.cli import main
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT

# (dataset, edit of pipeline.params, what the one-line message must say)
MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("orthophoto_nir", {"bands": None, "band": [4]},
     "pipeline.params.band: unknown key; did you mean 'bands'?"),
    ("orthophoto", {"bands": [0, 1, 2]}, "pipeline.params.bands: 0 is not a band: expected a "
                                         "band number 1–64 or one of red, green, blue, nir"),
    ("orthophoto_cir", {"bands": ["nir", "rouge", "green"]},
     "pipeline.params.bands: 'rouge' is not a band"),
    ("orthophoto", {"encoder": "turbo"}, "pipeline.params.encoder: expected one of"),
    ("orthophoto", {"min_zoom": 18, "max_zoom": 12},
     "pipeline.params: min_zoom 18 is above max_zoom 12"),
    ("terrain_dtm", {"ground_classes": 2}, "pipeline.params.ground_classes: Input should be a "
                                           "valid tuple (got 2)"),
    ("terrain_dtm", {"smrf": {"windo_m": 18}},
     "pipeline.params.smrf.windo_m: unknown key; did you mean 'window_m'?"),
    ("terrain_dtm", {"ground": "pdal"}, "pipeline.params.ground: Input should be 'classes' or "
                                        "'smrf' (got 'pdal')"),
    ("terrain_dtm", {"smrf": {"window_m": -5}}, "pipeline.params.smrf: expected sizes and "
                                               "factors of 0 or more, got {'window_m': -5.0}"),
    ("trees_lidar", {"trees": {"min_hieght": 2}},
     "pipeline.params.trees.min_hieght: unknown key; did you mean 'min_height'?"),
    ("canopy_height", {"product": "dtmm"}, "pipeline.params.product: Input should be"),
    ("canopy_height", {"tiles": {"style": "neon"}}, "pipeline.params.tiles: style:"),
    ("heavy_rain_depth_rare", {"tiles": {"style": "neon"}},
     "pipeline.params.tiles: style: expected one of"),
    ("point_cloud", {"resolutoin": 1}, "pipeline.params.resolutoin: unknown key; did you mean "
                                       "'resolution'?"),
    ("trees", {"lidar_trees": "trees_lidr"}, "pipeline.params.lidar_trees: 'trees_lidr' is not "
                                             "a dataset of the registry; did you mean "
                                             "'trees_lidar'?"),
    ("trees", {"max_distance_m": 80}, "pipeline.params.max_distance_m: Input should be less "
                                      "than or equal to 50 (got 80)"),
    ("trees_not_in_cadastre", {"conflation": "Trees"}, "pipeline.params.conflation: String "
                                                       "should match pattern"),
    ("parcels", {"area_check": {"tolerance": 3}},
     "pipeline.params.area_check.tolerance: unknown key; did you mean"),
    ("commercial_spaces", {"walking_distance": 800},
     "pipeline.params.walking_distance: unknown key; did you mean 'walking_distance_m'?"),
    ("commercial_spaces", {"amenities": {"x": {"dataset": "schools", "target": "bus_stop"}}},
     "pipeline.params.amenities.x: expected exactly one of"),
    ("commercial_spaces", {"amenities": {"x": {"target": "bus_stopz"}}},
     "unknown target 'bus_stopz'; known: ["),
    ("schools", {"tiles": {"max_zoom": 16}},
     "pipeline.params.tiles.max_zoom: unknown key; did you mean 'maxzoom'?"),
    ("schools", {"tiles": {"minzoom": 17}}, "pipeline.params.tiles: minzoom 17 is "
                                            "above maxzoom 16"),
]


def _edit(folder: Path, dataset_id: str, edit: dict[str, Any]) -> None:
    path = folder / f"{dataset_id}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    params = data["pipeline"].setdefault("params", {})
    for key, value in edit.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(("dataset_id", "edit", "says"), MISTAKES,
                         ids=[f"{m[0]}-{next(iter(m[1]))}" for m in MISTAKES])
@pytest.mark.parametrize("command", [["datasets"], ["build"], ["config", "--check"]])
def test_a_parameter_mistake_is_one_line_with_exit_2(
        tmp_path: Path, dataset_id: str, edit: dict[str, Any], says: str,
        command: list[str]) -> None:
    folder = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / "datasets", folder)
    _edit(folder, dataset_id, edit)
    env = {"GEOPORTAL_DATASETS_DIR": str(folder), "GEOPORTAL_DATA_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(main, command, env=env)
    message = result.output.strip()
    assert result.exit_code == 2, message
    assert len(message.splitlines()) == 1, message
    assert "Traceback" not in message and f"{dataset_id}.yml: " in message
    assert says in message
    assert not (tmp_path / "var" / "published").exists(), "nothing may be built"


def test_the_delivered_registry_is_typed_and_its_references_are_dependencies() -> None:
    registry = load_registry(PROJECT_ROOT / "datasets")
    nir = registry["orthophoto_nir"].pipeline.params
    assert nir.bands == (4,) and nir.raster_tiles().quality == 90
    assert registry["trees"].pipeline.dependencies == ["trees_lidar"]
    assert registry["trees_not_in_cadastre"].pipeline.dependencies == ["trees"]
    # amenities read other datasets' descriptions, not their outputs: checked, not built first
    commercial = registry["commercial_spaces"].pipeline
    assert ("pipeline.params.amenities.schools.dataset", "schools") in commercial.references()
    assert commercial.dependencies == []
