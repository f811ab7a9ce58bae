"""The geocoder's index search (issue 21.3): umlaut/ß folding, "Str.", typos, house numbers,
ranking address and street before POIs."""

from __future__ import annotations

from geoportal.app.geocoder import Entry, fold, search

ENTRIES = [
    Entry("street", "Werdener Straße", "streets", None, 6.85, 51.30),
    Entry("street", "Werdener Weg", "streets", None, 6.86, 51.30),
    Entry("street", "Düsseldorfer Straße", "streets", None, 6.84, 51.29),
    Entry("address", "Werdener Straße 12", "buildings", "b12", 6.851, 51.301),
    Entry("address", "Werdener Straße 120", "buildings", "b120", 6.852, 51.302),
    Entry("address", "Düsseldorfer Straße 12", "buildings", "d12", 6.841, 51.291),
    Entry("poi", "Rathaus Ratingen", "public_buildings", "r1", 6.85, 51.297),
    Entry("poi", "Werdener Straße Grundschule", "schools", "s1", 6.853, 51.303),
]


def titles(groups: dict, kind: str) -> list[str]:
    return [h.entry.title for h in groups.get(kind, [])]


def test_a_house_number_finds_that_address_only_and_first() -> None:
    groups = search(ENTRIES, "Werdener Straße 12")
    assert next(iter(groups)) == "address"
    assert titles(groups, "address") == ["Werdener Straße 12"]  # not 120, not Düsseldorfer
    assert titles(groups, "street")[0] == "Werdener Straße"


def test_abbreviation_umlaut_and_sharp_s_are_folded() -> None:
    assert fold("Werdener Str. 12") == fold("werdener strasse 12") == "werdener strasse 12"
    assert titles(search(ENTRIES, "werdener str."), "street")[0] == "Werdener Straße"
    assert titles(search(ENTRIES, "Duesseldorfer Strasse"), "street") == ["Düsseldorfer Straße"]


def test_typos_still_find_the_street() -> None:
    assert titles(search(ENTRIES, "Werdner Strase"), "street")[0] == "Werdener Straße"
    assert titles(search(ENTRIES, "Werdner Strase 12"), "address") == ["Werdener Straße 12"]


def test_streets_rank_before_pois_and_exact_before_prefix() -> None:
    groups = search(ENTRIES, "Werdener")
    assert list(groups) == ["street", "poi"]
    assert titles(groups, "street") == ["Werdener Straße", "Werdener Weg"]
    assert titles(search(ENTRIES, "rathaus"), "poi") == ["Rathaus Ratingen"]


def test_nothing_for_a_name_that_is_not_there() -> None:
    assert search(ENTRIES, "Zugspitze") == {}
    assert search(ENTRIES, "w") == {}


def test_a_typo_match_gives_way_to_a_name_spelt_as_typed() -> None:
    entries = [*ENTRIES, Entry("street", "Dresdener Straße", "streets", None, 6.8, 51.3)]
    assert titles(search(entries, "Werdener Str."), "street") == ["Werdener Straße"]
    assert "Dresdener Straße" in titles(search(entries, "Dresdner Strase"), "street")
