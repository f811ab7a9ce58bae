"""The readers against real public files nobody on the team wrote (``../shared/data``)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from testkit.real import PORTAL, dataset_file, reading_shared_data

from geoportal.core.errors import CRSMismatchError
from geoportal.core.registry import load_dataset
from pipelines.build import build_dataset

MUENSTER_ROWS = 2723
MUENSTER_BROKEN_WKT = 145


TREE_SCHEMA = {
    "geometry": "Point",
    "id_field": "tree_id",
    "properties": [
        {"name": "tree_id", "source": "ID", "required": True, "title": {"de": "ID"}},
        {"name": "species", "source": "ref_Baumart", "title": {"de": "Art"}},
        {"name": "planting_year", "source": "Pflanzjahr", "type": "integer",
         "minimum": 1700, "maximum": 2030, "title": {"de": "Pflanzjahr"}},
        {"name": "trunk_diameter_cm", "source": "Stammdurchmesser_akt_cm", "type": "number",
         "title": {"de": "Stammdurchmesser"}},
    ],
}


@pytest.fixture
def muenster_csv(tmp_path: Path, shared_data: Path):
    path = dataset_file(tmp_path, {
        "id": "muenster_trees",
        "source": {"path": "muenster-baumkataster/baumkataster_muenster.csv",
                   "encoding": "latin-1", "delimiter": ";", "decimal": ",",
                   "geometry": {"wkt": "gis_komplex_UTM"}, "crs": "EPSG:25832"},
        "schema": TREE_SCHEMA,
    })
    settings = reading_shared_data(tmp_path, shared_data)
    return load_dataset(path, PORTAL), settings


def test_muenster_csv_latin1_decimal_commas_and_broken_wkt(muenster_csv) -> None:
    dataset, settings = muenster_csv
    result = build_dataset(dataset, settings)
    out = settings.published_dir / dataset.id
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))

    assert report["rows_read"] == MUENSTER_ROWS
    assert report["values_repaired"] == MUENSTER_BROKEN_WKT
    assert report["rows_published"] + report["rows_rejected"] == MUENSTER_ROWS
    assert result.metadata.feature_count == report["rows_published"]

    layer = gpd.read_file(out / "muenster_trees.gpkg")
    assert layer.crs.to_epsg() == 25832
    # Münster lies around E 400-410 km, N 5750-5765 km: the repaired points must land there too.
    minx, miny, maxx, maxy = layer.total_bounds
    assert minx > 395_000 and maxx < 415_000 and miny > 5_745_000 and maxy < 5_770_000
    # Umlauts survive the latin-1 source: a species with one is in the output, readable as UTF-8.
    assert layer["species"].str.contains("ä|ö|ü|ß", regex=True).any()
    # Decimal commas in numbers are read as decimals, not dropped and not multiplied.
    assert 0 < layer["trunk_diameter_cm"].dropna().median() < 200
    # Implausible planting years are emptied and reported, the tree itself is kept.
    years = layer["planting_year"].dropna()
    assert years.between(1700, 2030).all()
    too_old = report["examples"]["nulled: below the minimum 1700"]
    assert {e["value"] for e in too_old} >= {"1522"}
    assert all(e["column"] == "Pflanzjahr" for e in too_old)

    csv = pd.read_csv(out / "muenster_trees.csv")
    assert len(csv) == len(layer) and {"x", "y", "lon", "lat"} <= set(csv.columns)
    # 'POINT (405022,4774) (5756025,874)' (line 2276) is published at the point it meant.
    repaired = csv[((csv.x - 405022.48).abs() < 0.01) & ((csv.y - 5756025.87).abs() < 0.01)]
    assert len(repaired) == 1


@pytest.mark.parametrize("declared, ok", [("EPSG:25832", True), ("EPSG:4326", False)])
def test_muenster_geojson_without_crs_member(tmp_path: Path, shared_data: Path,
                                             declared: str, ok: bool) -> None:
    """The file holds UTM coordinates but no `crs` member; naive readers take it for WGS84."""
    path = dataset_file(tmp_path, {
        "id": "muenster_geojson",
        "source": {"path": "muenster-baumkataster/baumkataster_muenster.geojson", "crs": declared},
        "schema": {"geometry": "Point", "id_field": "tree_id", "properties": [
            {"name": "tree_id", "source": "baumid", "required": True, "title": {"de": "ID"}},
            {"name": "species", "source": "art_dtsch", "title": {"de": "Art"}},
        ]},
    })
    settings = reading_shared_data(tmp_path, shared_data)
    dataset = load_dataset(path, PORTAL)
    if not ok:
        with pytest.raises(CRSMismatchError, match=r"registry's source\.crs is probably wrong"):
            build_dataset(dataset, settings)
        assert not (settings.published_dir / dataset.id).exists()
        return
    build_dataset(dataset, settings)
    geojson = json.loads((settings.published_dir / dataset.id / f"{dataset.id}.geojson")
                         .read_text(encoding="utf-8"))
    lon, lat = geojson["features"][0]["geometry"]["coordinates"]
    assert 7.5 < lon < 7.8 and 51.9 < lat < 52.05  # Münster, in WGS84 as RFC 7946 demands
    # The source has an `eigentuemer` (owner) field: it is never read, so it is in no output.
    for file in (settings.published_dir / dataset.id).iterdir():
        assert "eigentuemer" not in file.read_bytes().decode("utf-8", "replace").lower(), file


def test_alkis_nas_parcel_is_read_with_gdal(tmp_path: Path, shared_data: Path) -> None:
    """A real NAS (AAA model GML) parcel: the official area and the polygon agree."""
    path = dataset_file(tmp_path, {
        "id": "nas_parcels",
        "source": {"path": "nrw-alkis/AX_Flurstueck_duisburg.gml", "layer": "AX_Flurstueck"},
        "schema": {"geometry": "MultiPolygon", "id_field": "parcel_id", "properties": [
            {"name": "parcel_id", "source": "flurstueckskennzeichen", "required": True,
             "title": {"de": "Flurstückskennzeichen"}},
            {"name": "official_area_m2", "source": "amtlicheFlaeche", "type": "number",
             "title": {"de": "Amtliche Fläche"}},
        ]},
    })
    settings = reading_shared_data(tmp_path, shared_data)
    build_dataset(load_dataset(path, PORTAL), settings)
    layer = gpd.read_file(settings.published_dir / "nas_parcels" / "nas_parcels.gpkg")
    assert list(layer["parcel_id"]) == ["05329001100085______"]
    assert layer["official_area_m2"].iloc[0] == 684
    assert layer.geometry.area.iloc[0] == pytest.approx(683.56, abs=0.05)
