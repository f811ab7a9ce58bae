"""Points of interest: each layer is one YAML file, builds from the sample city, and copes with
an empty delivery (a district without a library still gets a valid, empty layer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from testkit import make_settings

from geoportal.app.providers.geopackage import GeoPackageProvider
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import build_all

# dataset id → (raw file, geometry type published)
POI_LAYERS = {
    "schools": ("poi/schulen.geojson", "Point"),
    "libraries": ("poi/bibliotheken.csv", "Point"),
    "adult_education": ("poi/volkshochschule.csv", "Point"),
    "sports_sites": ("poi/sportstaetten.geojson", "Point"),
    "green_spaces": ("poi/gruenflaechen.gpkg", "MultiPolygon"),
    "monuments": ("poi/denkmaeler.csv", "Point"),
    "hiking_trails": ("poi/wanderwege.geojson", "MultiLineString"),
    "development_plans": ("poi/bebauungsplaene.gpkg", "MultiPolygon"),
}


def raw_rows(path: Path) -> int:
    if path.suffix == ".csv":
        return len(path.read_text(encoding="utf-8").splitlines()) - 1
    return int(pyogrio.read_info(path)["features"])


@pytest.mark.parametrize("dataset_id", sorted(POI_LAYERS))
def test_every_poi_layer_is_published_from_the_sample(portal: Settings, sample_raw: Path,
                                                      dataset_id: str) -> None:
    raw, geometry_type = POI_LAYERS[dataset_id]
    folder = portal.published_dir / dataset_id
    layer = gpd.read_file(folder / f"{dataset_id}.gpkg")
    assert len(layer) == raw_rows(sample_raw / raw) > 0
    assert set(layer.geom_type) == {geometry_type}
    assert layer.crs.to_epsg() == 25832
    dataset = load_registry(PROJECT_ROOT / "datasets")[dataset_id]
    assert list(layer.columns[:-1]) == [p.name for p in dataset.schema.properties]
    assert all(p.title.en for p in dataset.schema.properties), "every property has an English title"
    ids = layer[dataset.schema.id_field]
    assert ids.notna().all() and ids.is_unique
    geojson = json.loads((folder / f"{dataset_id}.geojson").read_text(encoding="utf-8"))
    assert len(geojson["features"]) == len(layer)


def test_development_plans_link_their_document(portal: Settings, sample_raw: Path) -> None:
    raw = gpd.read_file(sample_raw / "poi" / "bebauungsplaene.gpkg")
    plans = gpd.read_file(portal.published_dir / "development_plans" / "development_plans.gpkg")
    by_number = plans.set_index("plan_number")
    for _, row in raw.iterrows():
        assert by_number.loc[row["plannummer"], "document_url"] == row["dokument"]
        assert by_number.loc[row["plannummer"]].geometry.area == pytest.approx(
            row.geometry.area, rel=1e-9)


def test_generated_ids_survive_a_new_delivery(tmp_path: Path, sample_raw: Path) -> None:
    """Inserting a monument at the top of the list must not renumber the others."""
    settings = make_settings(tmp_path)
    (settings.raw_dir / "poi").mkdir(parents=True)
    source = sample_raw / "poi" / "denkmaeler.csv"
    target = settings.raw_dir / "poi" / "denkmaeler.csv"
    shutil.copy(source, target)
    first = _build_one(settings, "monuments")
    header, *rows = source.read_text(encoding="utf-8").splitlines()
    new = 'Neues Denkmal,A 999,"Markt 1, 40878 Ratingen",1600,Fachwerkhaus,350500.0,5685500.0'
    target.write_text("\n".join([header, new, *rows]) + "\n", encoding="utf-8")
    second = _build_one(settings, "monuments")
    assert len(second) == len(first) + 1
    kept = second[second["name"] != "Neues Denkmal"].set_index("name")["monument_id"]
    assert kept.to_dict() == first.set_index("name")["monument_id"].to_dict()


def _build_one(settings: Settings, dataset_id: str) -> gpd.GeoDataFrame:
    summary = build_all(load_registry(PROJECT_ROOT / "datasets"), settings, [dataset_id],
                        echo=lambda _: None)
    assert summary.ok, summary.lines()
    return gpd.read_file(settings.published_dir / dataset_id / f"{dataset_id}.gpkg")


def test_an_empty_delivery_publishes_an_empty_layer(tmp_path: Path, sample_raw: Path) -> None:
    """A district without schools, libraries or parks: valid empty layers the API can serve."""
    settings = make_settings(tmp_path)
    poi = settings.raw_dir / "poi"
    shutil.copytree(sample_raw / "poi", poi)
    (poi / "schulen.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    header = (poi / "bibliotheken.csv").read_text(encoding="utf-8").splitlines()[0]
    (poi / "bibliotheken.csv").write_text(header + "\n", encoding="utf-8")
    green = gpd.read_file(poi / "gruenflaechen.gpkg").iloc[:0]
    (poi / "gruenflaechen.gpkg").unlink()
    green.to_file(poi / "gruenflaechen.gpkg", layer="gruenflaechen")
    ids = ["schools", "libraries", "green_spaces"]
    registry = load_registry(PROJECT_ROOT / "datasets")
    summary = build_all(registry, settings, ids, echo=lambda _: None)
    assert summary.ok, summary.lines()
    for dataset_id in ids:
        folder = settings.published_dir / dataset_id
        metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        assert metadata["feature_count"] == 0 and metadata["bbox_wgs84"] is None
        assert json.loads((folder / f"{dataset_id}.geojson").read_text())["features"] == []
        csv_header = (folder / f"{dataset_id}.csv").read_text(encoding="utf-8").strip()
        assert csv_header.split(",")[0] == registry[dataset_id].schema.id_field
        provider = GeoPackageProvider({
            "name": "GeoPackage", "type": "feature", "data": str(folder / f"{dataset_id}.gpkg"),
            "id_field": registry[dataset_id].schema.id_field})
        answer = provider.query(limit=10, bbox=[6.7, 51.2, 7.0, 51.4])
        assert answer["features"] == [] and answer["numberMatched"] == 0
        assert registry[dataset_id].schema.id_field in provider.get_fields()


def test_a_new_line_layer_takes_one_yaml_file_and_no_code(tmp_path: Path) -> None:
    """A cycle-route GeoJSON in UTM (as municipal exports often are) becomes a layer."""
    settings = make_settings(tmp_path)
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / "datasets", datasets)
    routes = settings.raw_dir / "poi" / "radrouten.geojson"
    routes.parent.mkdir(parents=True)
    routes.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"routen_nr": "R1", "bez": "Angerroute", "km": "4.5"},
         "geometry": {"type": "LineString",
                      "coordinates": [[350000, 5685000], [351000, 5685500]]}},
        {"type": "Feature", "properties": {"routen_nr": "R2", "bez": "Ringroute", "km": "x"},
         "geometry": {"type": "MultiLineString",
                      "coordinates": [[[350100, 5685100], [350200, 5685200]]]}},
    ]}), encoding="utf-8")
    (datasets / "cycle_routes.yml").write_text("""
id: cycle_routes
title: {de: Radrouten, en: Cycle routes}
description: {de: Ausgeschilderte Radrouten., en: Signposted cycle routes.}
theme: leisure
keywords: {de: [Radfahren]}
license: dl-de/zero-2-0
update_frequency: annual
source: {path: poi/radrouten.geojson, crs: "EPSG:25832"}
pipeline: {kind: vector}
schema:
  geometry: MultiLineString
  id_field: route
  properties:
    - {name: route, source: routen_nr, required: true, title: {de: Route}}
    - {name: name, source: bez, title: {de: Name}}
    - {name: length_km, source: km, type: number, title: {de: Länge}}
""", encoding="utf-8")
    summary = build_all(load_registry(datasets), settings, ["cycle_routes"], echo=lambda _: None)
    assert summary.ok, summary.lines()
    layer = gpd.read_file(settings.published_dir / "cycle_routes" / "cycle_routes.gpkg")
    assert list(layer["route"]) == ["R1", "R2"]
    assert set(layer.geom_type) == {"MultiLineString"}
    assert layer.geometry.iloc[0].length == pytest.approx(1118.03, abs=0.01)
    report = json.loads((settings.published_dir / "cycle_routes" / "report.json").read_text())
    assert report["by_reason"] == {"nulled: not a valid number": 1}
