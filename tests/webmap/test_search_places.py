"""Issue 21, the rest of items 1 and 3 and the finder's targets, in Chromium: district and
place names on the city map, tree genera with all their trees, the search box as a WAI-ARIA
1.2 combobox that sends the raw text to the one folding (the server's), the finder's map with
the airport, junctions and S-Bahn stations, and the screenshots of docs/webmap.md
(test-artifacts/webmap/issue21-*.png). axe-core reports no WCAG 2.2 A/AA violation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import geopandas as gpd
import pytest
from testkit.webmap import assert_clean, axe_violations, idle, load, open_page, shot

from geoportal.core.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]
BOX = "Suche nach Name oder Adresse"
PHONE = {"viewport": (390, 844), "is_mobile": True, "has_touch": True}


def published(portal: Settings, layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(portal.published_dir / layer / f"{layer}.gpkg")


def type_into_box(page: Any, text: str) -> Any:
    """Type as a person does, key by key, without pressing Enter; the box."""
    box = page.get_by_role("combobox", name=BOX)
    box.click()
    box.press_sequentially(text, delay=40)
    page.wait_for_function("!document.querySelector('#search-status').dataset.busy",
                           timeout=15_000)
    return box


def rendered(page: Any, layer: str) -> set[str]:
    return set(page.evaluate(
        f"window.geoportal.map.queryRenderedFeatures({{layers: ['{layer}']}})"
        ".map((f) => f.properties.name)"))


def test_district_and_place_names_are_drawn_on_the_city_map(browser: Any, server: str,
                                                            portal: Settings) -> None:
    places = published(portal, "places").to_crs("EPSG:4326")
    district = places[places["kind"] == "Stadtteil"].iloc[0]
    townhall = places[places["name"] == "Rathaus Ratingen"].iloc[0]
    page, log = open_page(browser)
    page.goto(f"{server}/#map=13.50/{district.geometry.y:.5f}/{district.geometry.x:.5f}&base=map")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.wait_for_function("window.geoportal.map.queryRenderedFeatures("
                           "{layers: ['base-map-district-labels']}).length", timeout=30_000)
    assert district["name"] in rendered(page, "base-map-district-labels")
    assert not rendered(page, "base-map-place-labels"), "places only from zoom 14"
    page.evaluate(f"window.geoportal.map.jumpTo({{center: [{townhall.geometry.x}, "
                  f"{townhall.geometry.y}], zoom: 16.5}})")
    page.wait_for_function("window.geoportal.map.queryRenderedFeatures("
                           "{layers: ['base-map-place-labels']}).length", timeout=30_000)
    idle(page)
    assert {"Rathaus Ratingen", "Marktplatz"} <= rendered(page, "base-map-place-labels")
    shot(page, "issue21-01-place-names")
    assert_clean(log)
    page.context.close()


def test_the_box_is_a_combobox_with_grouped_counted_suggestions_while_typing(
        browser: Any, server: str) -> None:
    page, log = open_page(browser)
    load(page, f"{server}/")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.startswith(server) else None)
    box = type_into_box(page, "Rathaus")
    listbox = page.locator(f"#{box.get_attribute('aria-controls')}")
    assert box.get_attribute("aria-expanded") == "true" and listbox.get_attribute("role") \
        == "listbox", "suggestions come without Enter"
    group = listbox.locator("[role=group]").first
    label = page.locator(f"#{group.get_attribute('aria-labelledby')}").inner_text()
    assert label.startswith("Stadtteile und Orte") and label.split()[-1].isdigit(), label
    options = listbox.locator("[role=option]")
    assert "Rathaus Ratingen" in options.first.inner_text()
    shot(page, "issue21-02-combobox")
    assert axe_violations(page) == []
    page.keyboard.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    assert options.first.get_attribute("aria-selected") == "true"
    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false" and listbox.is_hidden()
    assert box.get_attribute("aria-activedescendant") is None
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.locator(".maplibregl-popup").wait_for(timeout=10_000)
    assert "Rathaus Ratingen" in page.locator(".maplibregl-popup").inner_text()
    # the text went to the geocoder as typed, debounced: fewer requests than keys
    searched = [parse_qs(urlparse(u).query)["q"][0] for u in asked if "/search?" in u]
    assert searched and searched[-1] == "Rathaus" and len(searched) < len("Rathaus")
    assert_clean(log)
    page.context.close()


def test_one_folding_the_box_sends_the_raw_text_and_asks_no_layer_itself(
        browser: Any, server: str, portal: Settings) -> None:
    """The server's fold alone reads "str." and umlauts: the page sends what was typed, and
    no spelling variants as CQL2 filters to the layers (search.js had its own spellings())."""
    street = next(n for n in published(portal, "streets")["name"].dropna()
                  if n.endswith("straße"))
    typed = street.removesuffix("straße").lower() + "str."
    page, log = open_page(browser)
    load(page, f"{server}/")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    type_into_box(page, typed)
    assert page.locator("#search-list [role=option]").first.inner_text().split("\n")[0] == street
    assert not [u for u in asked if "filter=" in u], "no layer searched by the page itself"
    assert parse_qs(urlparse([u for u in asked if "/search?" in u][-1]).query)["q"] == [typed]
    source = (portal.root / "web" / "src" / "search.js").read_text(encoding="utf-8")
    assert "spellings" not in source and "toLowerCase" not in source
    assert_clean(log)
    page.context.close()


@pytest.mark.parametrize("typed", ["Tilia", "linde", "Betula"])
def test_a_genus_finds_all_its_trees_and_shows_them(browser: Any, server: str,
                                                    portal: Settings, typed: str) -> None:
    trees = published(portal, "trees")
    genus = {"Tilia": "Tilia", "linde": "Tilia", "Betula": "Betula"}[typed]
    ids = set(trees.loc[trees["species_botanical"].fillna("").str.startswith(f"{genus} "),
                        "tree_id"])
    assert len(ids) > 4
    page, log = open_page(browser)
    load(page, f"{server}/")
    type_into_box(page, typed)
    option = page.locator("#search-list [role=group]:has([data-kind=species]) [role=option]")
    assert f"({genus})" in option.first.inner_text()
    assert f"{len(ids)} Bäume" in option.first.inner_text()
    option.first.click()
    page.wait_for_function("window.geoportal.layers.status.get('trees') === 'ok'",
                           timeout=30_000)
    idle(page)
    page.wait_for_function("window.geoportal.layers.status.get('trees') === 'ok'",
                           timeout=30_000)
    shown = set(page.evaluate("window.geoportal.layers.features('trees')"
                              ".map((f) => f.properties.tree_id)"))
    assert shown == ids, "every tree of the genus, and only those"
    note = page.locator(".search-filter")
    assert str(len(ids)) in note.inner_text()
    if typed == "Tilia":
        shot(page, "issue21-03-genus-filter")
    note.get_by_role("button").click()
    page.wait_for_function(f"window.geoportal.layers.features('trees').length > {len(ids)}",
                           timeout=30_000)
    assert_clean(log)
    page.context.close()


def test_the_finder_marks_airport_junctions_and_stations_with_a_legend(
        browser: Any, server: str, portal: Settings) -> None:
    hubs = published(portal, "transport_hubs")
    page, log = open_page(browser)
    page.goto(f"{server}/wirtschaft")
    page.wait_for_selector("#map[data-targets=shown]", timeout=30_000)
    legend = page.get_by_role("list", name="Legende").inner_text()
    for kind in ("Flughafen", "Autobahnanschluss", "S-Bahn-Haltestelle"):
        assert kind in legend
    kinds = page.evaluate("""async () => {
        const r = await fetch('/collections/transport_hubs/items?f=json&limit=1000');
        return (await r.json()).features.map((f) => f.properties.kind); }""")
    assert sorted(kinds) == sorted(hubs["kind"])
    assert {"Flughafen", "Autobahnanschluss", "S-Bahn-Haltestelle"} == set(kinds)
    on_map = page.evaluate("window.economyPage.map.targets()")
    assert sorted(on_map) == sorted(hubs["name"]), "every target is on the finder's map"
    assert axe_violations(page) == []
    assert_clean(log)
    page.context.close()


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_screenshots_of_both_pages(browser: Any, server: str, portal: Settings,
                                   device: str) -> None:
    """The pictures of docs/webmap.md, from this server: the map with place names and the
    open suggestions, the finder with its targets; on a phone (390 px) and on a desktop."""
    options = PHONE if device == "phone" else {"viewport": (1366, 800)}
    page, log = open_page(browser, **options)
    townhall = published(portal, "places").to_crs("EPSG:4326").set_index("name").loc[
        "Rathaus Ratingen"].geometry
    load(page, f"{server}/#map=16.00/{townhall.y:.5f}/{townhall.x:.5f}&base=map")
    idle(page)
    type_into_box(page, "Lin")
    shot(page, f"issue21-map-{device}")
    page.goto(f"{server}/wirtschaft?zoning=GI")
    page.wait_for_selector("#map[data-targets=shown]", timeout=30_000)
    page.evaluate("window.economyPage.map.map.jumpTo({zoom: 13})")  # the targets around
    page.wait_for_timeout(1500)
    page.locator("#map").scroll_into_view_if_needed()
    shot(page, f"issue21-finder-{device}")
    assert axe_violations(page) == []
    assert_clean(log)
    page.context.close()
