"""The geocoder's index (issue 21.3, 21 item 6): places and tree genera from published layers,
and no rebuild at a server start when no layer it reads was published since."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geoportal.app.geocoder import answer, ensure_index, read_index

LAYERS = {
    "places": {"items": "/collections/places/items", "search_fields": ["name"],
               "title_field": "name", "id_field": "place_id"},
    "trees": {"items": "/collections/trees/items", "title_field": "species_de",
              "search_fields": ["species_de", "species_botanical"], "id_field": "tree_id"},
}


def publish(published: Path, layer: str, frame: gpd.GeoDataFrame) -> None:
    folder = published / layer
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_file(folder / f"{layer}.gpkg", driver="GPKG")
    (folder / "metadata.json").write_text("{}", encoding="utf-8")


@pytest.fixture
def published(tmp_path: Path) -> Path:
    out = tmp_path / "published"
    publish(out, "places", gpd.GeoDataFrame(
        {"place_id": ["p1", "p2"], "name": ["Rathaus Ratingen", "Lintorf"],
         "kind": ["Rathaus", "Stadtteil"], "district": ["Ratingen-Mitte", "Lintorf"]},
        geometry=[Point(350400, 5685525), Point(350900, 5689500)], crs=25832))
    species = [("Winter-Linde", "Tilia cordata")] * 3 + [("Sommer-Linde", "Tilia platyphyllos"),
                                                        ("Hänge-Birke", "Betula pendula")]
    publish(out, "trees", gpd.GeoDataFrame(
        {"tree_id": [f"t{k}" for k in range(5)], "species_de": [s[0] for s in species],
         "species_botanical": [s[1] for s in species]},
        geometry=[Point(350000 + 10 * k, 5685000) for k in range(5)], crs=25832))
    return out


def test_places_and_genera_are_found_with_their_count(tmp_path: Path, published: Path) -> None:
    index = tmp_path / "index.json"
    ensure_index(index, published, LAYERS)
    entries = read_index(index)
    place = answer(entries, "rathaus")["groups"][0]
    assert place["kind"] == "place" and place["hits"][0]["detail"] == "Rathaus, Ratingen-Mitte"
    assert answer(entries, "Lintorf")["groups"][0]["hits"][0]["title"] == "Lintorf"
    for query in ("Tilia", "linde", "Sommer-Linde"):
        (genus,) = answer(entries, query)["groups"][0]["hits"]
        assert genus["title"] == "Linde (Tilia)" and genus["count"] == 4, query
    assert "species_botanical = 'Tilia platyphyllos'" in genus["filter"]
    assert answer(entries, "Betula")["groups"][0]["hits"][0]["count"] == 1


def test_the_index_is_rebuilt_only_when_a_layer_it_reads_changed(tmp_path: Path,
                                                                  published: Path) -> None:
    index = tmp_path / "index.json"
    assert ensure_index(index, published, LAYERS) is True
    assert ensure_index(index, published, LAYERS) is False, "nothing changed: no rebuild"
    built = index.stat().st_mtime_ns
    later = built + 5_000_000_000
    os.utime(published / "trees" / "metadata.json", ns=(later, later))  # trees published anew
    assert ensure_index(index, published, LAYERS) is True
    assert ensure_index(index, published, {"places": LAYERS["places"]}) is True, \
        "a layer fewer is another index"
    assert [e.layer for e in read_index(index)] == ["places", "places"]
