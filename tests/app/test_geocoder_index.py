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
    "parcels": {"items": "/collections/parcels/items", "title_field": "parcel_id",
                "search_fields": ["parcel_id", "cadastral_district", "location"],
                "id_field": "parcel_id"},
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
    kennzeichen = ["05313403700005______", "053134037000050002__", "053134037000050003__",
                   "05313403700050______", "05313401200005______", "05313503700005______"]
    publish(out, "parcels", gpd.GeoDataFrame(
        {"parcel_id": kennzeichen, "cadastral_district": ["Ratingen"] * 5 + ["Lintorf"],
         "location": ["Werdener Straße 3"] + [None] * 5},
        geometry=[Point(350000 + 30 * k, 5686000).buffer(10) for k in range(6)], crs=25832))
    return out


def parcel_titles(entries: list, query: str) -> list[str]:
    groups = [g for g in answer(entries, query)["groups"] if g["kind"] == "parcel"]
    return [h["title"] for g in groups for h in g["hits"]]


def test_a_parcel_is_found_by_its_designation_or_kennzeichen(tmp_path: Path,
                                                            published: Path) -> None:
    """The Flurstückssuche: "Flur 37 Flurstück 5" as people write it, with or without the
    Gemarkung and the words, with a Nenner; the Kennzeichen and its beginning. A bare number,
    a street with a house number and the Gemarkung's name alone list no parcel."""
    index = tmp_path / "index.json"
    ensure_index(index, published, LAYERS)
    entries = read_index(index)
    first = answer(entries, "Flur 37 Flurstück 5")["groups"][0]
    assert first["kind"] == "parcel" and first["matched"] == 4  # 5, 5/2, 5/3 and Lintorf's
    assert [h["title"] for h in first["hits"]] == [
        "Lintorf, Flur 37, Flurstück 5", "Ratingen, Flur 37, Flurstück 5",
        "Ratingen, Flur 37, Flurstück 5/2", "Ratingen, Flur 37, Flurstück 5/3"], \
        "the parcels without a Nenner first"
    assert first["hits"][1]["feature_id"] == "05313403700005______"
    assert first["hits"][1]["detail"] == "Werdener Straße 3"
    for query in ("Gemarkung Ratingen, Flur 37, Flurstück 5/2", "ratingen 37 5/2",
                  "flur 37 flst. 5 / 2", "053134037000050002__"):
        assert parcel_titles(entries, query) == ["Ratingen, Flur 37, Flurstück 5/2"], query
    assert parcel_titles(entries, "Lintorf Flur 37 5") == ["Lintorf, Flur 37, Flurstück 5"]
    assert parcel_titles(entries, "Flur 12 Flurstück 5") == ["Ratingen, Flur 12, Flurstück 5"]
    assert len(parcel_titles(entries, "053134037")) == 4, "a Kennzeichen's beginning: Flur 37"
    for query in ("5", "37", "Ratingen", "Werdener Straße 3", "Flur 37", "Flur 37 Flurstück 6"):
        assert parcel_titles(entries, query) == [], query


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
    (tmp_path / "index.head.json").unlink()  # cut off between the index and its head
    assert ensure_index(index, published, LAYERS) is True
    built = index.stat().st_mtime_ns
    later = built + 5_000_000_000
    os.utime(published / "trees" / "metadata.json", ns=(later, later))  # trees published anew
    assert ensure_index(index, published, LAYERS) is True
    assert ensure_index(index, published, {"places": LAYERS["places"]}) is True, \
        "a layer fewer is another index"
    assert [e.layer for e in read_index(index)] == ["places", "places"]
    os.utime(published / "parcels" / "metadata.json", ns=(later, later))
    assert ensure_index(index, published, {"places": LAYERS["places"]}) is False, \
        "a layer it does not read changed: no rebuild"
