"""The sample city's districts and places (issue 21.1): only what lies in the generated extent."""

from __future__ import annotations

from geoportal.app.sample import DISTRICTS
from geoportal.app.sample.poi import place_rows, transport_features


def names(tiles: list[tuple[int, int]]) -> dict[str, str]:
    return {row[0]: row[1] for row in place_rows(tiles)}


def test_the_tiny_centre_names_its_own_district_and_places_but_not_lintorf() -> None:
    tiny = names(DISTRICTS["tiny"])
    assert tiny["Ratingen-Mitte"] == "Stadtteil"
    assert tiny["Rathaus Ratingen"] == "Rathaus" and tiny["Marktplatz"] == "Platz"
    assert "Lintorf" not in tiny and "Bahnhof Ratingen Ost" not in tiny


def test_the_whole_city_has_every_district_and_the_station_lies_in_ratingen_ost() -> None:
    rows = {row[0]: row for row in place_rows(DISTRICTS["city"])}
    districts = {name for name, row in rows.items() if row[1] == "Stadtteil"}
    assert {"Ratingen-Mitte", "Ratingen-Ost", "Ratingen-West", "Tiefenbroich", "Lintorf",
            "Breitscheid", "Hösel", "Eggerscheidt", "Homberg", "Schwarzbach"} <= districts
    assert rows["Bahnhof Ratingen Ost"][2] == "Ratingen-Ost"
    assert rows["Lintorfer Markt"][2] == "Lintorf"
    assert place_rows(DISTRICTS["city"]) == place_rows(list(reversed(DISTRICTS["city"])))


def test_the_finder_targets_are_one_list_with_their_kind() -> None:
    kinds = [f["properties"]["art"] for f in transport_features()]
    assert kinds.count("Flughafen") == 1
    assert kinds.count("Autobahnanschluss") >= 9 and kinds.count("S-Bahn-Haltestelle") >= 5
