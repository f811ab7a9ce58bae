"""Real open-data files of another city (Düsseldorf), onboarded by YAML only.

Nobody on the team prepared these files: a CKAN DataStore answer with zone-prefixed UTM eastings
(EPSG:4647) as text, one with WGS84 coordinates in text columns, and a GeoServer WFS answer. Each
must give the right positions — checked against the coordinates the same record carries in
another system — or a refusal that says what to change.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from pyproj import Geod
from testkit.real import PORTAL, dataset_file, reading_shared_data

from geoportal.core.errors import CRSMismatchError, SourceFormatError
from geoportal.core.registry import load_dataset
from pipelines.build import build_dataset

PARK_AND_RIDE = "duesseldorf-opendata/park_and_rides.json"
GEOD = Geod(ellps="GRS80")

P_AND_R_SCHEMA = {
    "geometry": "Point",
    "id_field": "site_id",
    "properties": [
        {"name": "site_id", "source": "entry_id", "required": True, "title": {"de": "ID"}},
        {"name": "name", "source": "name", "required": True, "title": {"de": "Name"}},
        {"name": "transit", "source": "nahverkehr", "title": {"de": "Nahverkehr"}},
        {"name": "latitude", "source": "latitude", "type": "number", "title": {"de": "Breite"}},
        {"name": "longitude", "source": "longitude", "type": "number", "title": {"de": "Länge"}},
    ],
}


def park_and_ride(folder: Path, path: str, crs: str = "EPSG:4647"):
    return load_dataset(dataset_file(folder, {
        "id": "p_and_r",
        "source": {"path": path, "format": "ckan-datastore", "crs": crs,
                   "geometry": {"x": "ostwert", "y": "nordwert"}},
        "schema": P_AND_R_SCHEMA,
    }), PORTAL)


@pytest.fixture
def whole_answer(tmp_path: Path, shared_data: Path) -> Path:
    """The real answer as a complete save would be: its 10 records, ``total`` 10."""
    answer = json.loads((shared_data / PARK_AND_RIDE).read_text(encoding="utf-8"))
    answer["result"]["total"] = len(answer["result"]["records"])
    raw = tmp_path / "raw"
    (raw / "duesseldorf").mkdir(parents=True)
    (raw / "duesseldorf" / "p_and_r.json").write_text(json.dumps(answer), encoding="utf-8")
    return raw


def test_one_page_of_a_paged_answer_is_refused(tmp_path: Path, shared_data: Path) -> None:
    """The real file is the first page (10 of 35): publishing it would drop 25 sites unseen."""
    settings = reading_shared_data(tmp_path, shared_data)
    with pytest.raises(SourceFormatError, match=r"park_and_rides\.json: holds 10 of 35 records"):
        build_dataset(park_and_ride(tmp_path, PARK_AND_RIDE), settings)
    assert not (settings.published_dir / "p_and_r").exists()


def test_zone_prefixed_eastings_land_where_the_records_say(tmp_path: Path,
                                                          whole_answer: Path) -> None:
    settings = reading_shared_data(tmp_path, whole_answer)
    result = build_dataset(park_and_ride(tmp_path, "duesseldorf/p_and_r.json"), settings)
    assert result.metadata.feature_count == 10

    layer = gpd.read_file(settings.published_dir / "p_and_r" / "p_and_r.gpkg")
    assert layer.crs.to_epsg() == 25832
    # E 32347877 in EPSG:4647 is E 347877 in EPSG:25832 (Rath S).
    rath = layer[layer["name"] == "Rath S"].geometry.iloc[0]
    assert (rath.x, rath.y) == pytest.approx((347877, 5681466), abs=0.01)
    # Every site lies where the record's own WGS84 coordinates put it (to the metre they round to).
    wgs84 = layer.to_crs("EPSG:4326")
    for point, lon, lat in zip(wgs84.geometry, wgs84["longitude"], wgs84["latitude"], strict=True):
        assert GEOD.inv(point.x, point.y, lon, lat)[2] < 1.0


def test_zone_prefixed_eastings_declared_as_plain_utm_name_the_right_crs(
        tmp_path: Path, whole_answer: Path) -> None:
    settings = reading_shared_data(tmp_path, whole_answer)
    dataset = park_and_ride(tmp_path, "duesseldorf/p_and_r.json", crs="EPSG:25832")
    with pytest.raises(CRSMismatchError, match=r"start with the zone number 32 \(32343218\): give "
                                               r"source\.crs 'EPSG:4647'"):
        build_dataset(dataset, settings)


def test_wgs84_text_columns_of_a_datastore_answer(tmp_path: Path, shared_data: Path) -> None:
    answer = json.loads((shared_data / "duesseldorf-opendata/garages.json")
                        .read_text(encoding="utf-8"))
    answer["result"]["total"] = len(answer["result"]["records"])
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "garages.json").write_text(json.dumps(answer), encoding="utf-8")
    settings = reading_shared_data(tmp_path, tmp_path / "raw")
    dataset = load_dataset(dataset_file(tmp_path, {
        "id": "garages",
        "source": {"path": "garages.json", "format": "ckan-datastore", "crs": "EPSG:4326",
                   "geometry": {"x": "longitude", "y": "latitude"}},
        "schema": {"geometry": "Point", "id_field": "garage_id", "properties": [
            {"name": "garage_id", "source": "entry_id", "required": True, "title": {"de": "ID"}},
            {"name": "name", "source": "name", "title": {"de": "Name"}},
        ]},
    }), PORTAL)
    build_dataset(dataset, settings)
    layer = gpd.read_file(settings.published_dir / "garages" / "garages.gpkg")
    first = answer["result"]["records"][0]
    kaufhof = layer[layer["name"] == first["name"]].to_crs("EPSG:4326").geometry.iloc[0]
    assert (kaufhof.x, kaufhof.y) == pytest.approx(
        (float(first["longitude"]), float(first["latitude"])), abs=1e-7)


def test_a_geoserver_wfs_answer(tmp_path: Path, shared_data: Path) -> None:
    """GeoJSON from a WFS: WGS84 by RFC 7946, ids like ``behindertenparkplatz.<uuid>``."""
    source = json.loads((shared_data / "duesseldorf-opendata/disabled_parkings.json")
                        .read_text(encoding="utf-8"))
    settings = reading_shared_data(tmp_path, shared_data)
    dataset = load_dataset(dataset_file(tmp_path, {
        "id": "disabled_parking",
        "source": {"path": "duesseldorf-opendata/disabled_parkings.json", "crs": "EPSG:4326"},
        "schema": {"geometry": "Point", "id_field": "place_id", "properties": [
            {"name": "place_id", "generated": True, "title": {"de": "ID"}},
            {"name": "description", "source": "beschreibung", "title": {"de": "Beschreibung"}},
        ]},
    }), PORTAL)
    result = build_dataset(dataset, settings)
    assert result.metadata.feature_count == len(source["features"])
    layer = gpd.read_file(settings.published_dir / "disabled_parking" / "disabled_parking.gpkg")
    first = source["features"][0]
    same = layer[layer["description"] == first["properties"]["beschreibung"]].to_crs("EPSG:4326")
    lon, lat = first["geometry"]["coordinates"]
    assert any(p.x == pytest.approx(lon, abs=1e-7) and p.y == pytest.approx(lat, abs=1e-7)
               for p in same.geometry)
