"""The citizens' web map at "/" in a real browser (Debian's headless Chromium via Playwright).

Every step is photographed to test-artifacts/webmap/map-*.png. Expected values come from the
published files (geopandas) or the registry, never from the page itself.
"""

from __future__ import annotations

import re
from typing import Any

import geopandas as gpd
import pytest
import shapely
from testkit.webmap import assert_clean, open_page, shot

from geoportal.core.publish import read_metadata
from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]
#: The page's own code and styles may transfer at most this much before map tiles (issue #7).
BUDGET_BYTES = 1_000_000


def load(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def wait_loaded(page: Any, layer_id: str) -> None:
    page.wait_for_function(f"window.geoportal.layers.status.get('{layer_id}') === 'ok'",
                           timeout=30_000)
    page.wait_for_timeout(300)  # the frame that draws the new data


def idle(page: Any) -> None:
    page.wait_for_function("window.geoportal.map.loaded() && !window.geoportal.map.isMoving()",
                           timeout=30_000)


def published(portal: Settings, dataset_id: str) -> gpd.GeoDataFrame:
    return gpd.read_file(portal.published_dir / dataset_id / f"{dataset_id}.gpkg")


def test_page_loads_with_its_own_base_map_and_no_errors(browser: Any, server: str) -> None:
    page, log = open_page(browser)
    requests_made: list[str] = []
    page_bytes: dict[str, int] = {}
    page.on("request", lambda r: requests_made.append(r.url))
    page.on("response", lambda r: page_bytes.__setitem__(r.url, int(
        r.headers.get("content-length") or len(r.body()))) if "/tiles/" not in r.url
        and r.url.startswith(server) else None)
    load(page, f"{server}/")
    idle(page)
    shot(page, "map-01-loaded")
    weight = sum(page_bytes.values())
    print(f"page weight before tiles: {weight / 1e3:.0f} kB in {len(page_bytes)} responses; "
          f"map ready after {page.evaluate('document.body.dataset.readyMs')} ms")
    assert weight < BUDGET_BYTES, page_bytes
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("region", name="Karte von Ratingen").count() >= 1
    assert page.locator("#base-maps input[value=map]").is_checked()
    assert any("/collections/streets/tiles/" in u for u in requests_made), "city map not drawn"
    outside = [u for u in requests_made  # blob: is MapLibre's web worker, made by the page
               if not u.startswith((server, "data:", f"blob:{server}"))]
    assert not outside, f"the map must not reach outside the portal: {outside}"
    groups = page.locator("#layer-tree details:not(.layer-more) > summary").all_inner_texts()
    assert groups[:2] == ["Alltag", "Bildung"] and groups[-1] == "Gelände"
    assert_clean(log)
    page.context.close()


def test_switch_a_layer_on_and_click_a_tree(browser: Any, server: str,
                                            portal: Settings) -> None:
    page, log = open_page(browser)
    load(page, f"{server}/")
    page.get_by_label("Stadtbäume", exact=True).check()
    wait_loaded(page, "trees")
    idle(page)
    shot(page, "map-02-trees-on")
    trees = published(portal, "trees").set_index("tree_id")
    shown = page.evaluate("window.geoportal.layers.features('trees').length")
    assert 0 < shown <= len(trees)
    # a tree the laser scan found, if the conflation has run; else any tree
    found = trees[trees["lidar_status"] == "found"] if "lidar_status" in trees else trees.iloc[:0]
    tree_id = str((found if len(found) else trees).index[0])
    tree = trees.loc[tree_id]
    lonlat = gpd.GeoSeries([tree.geometry], crs=trees.crs).to_crs("EPSG:4326").iloc[0]
    page.evaluate(f"window.geoportal.map.jumpTo({{center: [{lonlat.x}, {lonlat.y}], zoom: 18}})")
    wait_loaded(page, "trees")
    idle(page)
    box = page.locator("#map canvas").bounding_box()
    xy = page.evaluate(f"window.geoportal.map.project([{lonlat.x}, {lonlat.y}])")
    page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
    popup = page.locator(".maplibregl-popup")
    popup.wait_for(timeout=10_000)
    shot(page, "map-03-tree-popup")
    text = popup.inner_text()
    assert tree["species_de"] in text and tree["species_botanical"] in text
    assert str(int(tree["planting_year"])) in text
    assert "Baum-ID" in text and tree_id in text
    verdict = popup.locator("[data-verdict]").get_attribute("data-verdict")
    if "lidar_status" in trees and tree["lidar_status"] == "found":
        height = f"{tree['lidar_height_m']:.1f}".replace(".", ",").removesuffix(",0")
        assert height in text, f"LiDAR height {height} missing in {text!r}"
        assert verdict in ("agree", "differ")
        assert ("stimmen überein" in text) == (verdict == "agree")
    else:
        assert verdict == "none" and "keine LiDAR-Daten" in text
    page.keyboard.press("Escape")  # was ignored: only the × closed a popup
    assert popup.count() == 0
    assert_clean(log)
    page.context.close()


def test_permalink_restores_view_base_and_layers(browser: Any, server: str) -> None:
    page, log = open_page(browser)
    url = f"{server}/#map=16.50/51.30100/6.85500&base=orthophoto&layers=trees,public_toilets"
    load(page, url)
    wait_loaded(page, "public_toilets")
    idle(page)
    shot(page, "map-04-permalink")
    view = page.evaluate("(() => { const m = window.geoportal.map, c = m.getCenter();"
                         " return [m.getZoom(), c.lat, c.lng]; })()")
    assert view == pytest.approx([16.5, 51.301, 6.855], abs=1e-4)
    assert page.locator("#layer-trees").is_checked()
    assert page.locator("#layer-public_toilets").is_checked()
    assert not page.locator("#layer-schools").is_checked()
    assert page.locator("#base-maps input[value=orthophoto]").is_checked()
    # the address follows the map: switch a layer off and move, then reload
    page.locator("#layer-trees").uncheck()
    page.evaluate("window.geoportal.map.jumpTo({center: [6.852, 51.3], zoom: 17})")
    idle(page)
    assert re.search(r"map=17\.00/51\.30000/6\.85200.*layers=public_toilets$", page.url), page.url
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    wait_loaded(page, "public_toilets")
    assert not page.locator("#layer-trees").is_checked()
    assert page.evaluate("window.geoportal.map.getZoom()") == pytest.approx(17)
    assert_clean(log)
    page.context.close()


def test_table_view_is_reachable_by_keyboard_alone(browser: Any, server: str,
                                                   portal: Settings) -> None:
    page, log = open_page(browser)
    load(page, f"{server}/#map=15.50/51.30100/6.85500&layers=")
    idle(page)
    target = page.get_by_role("button", name="Tabelle: Stadtbäume")
    for _ in range(300):  # Tab through the page until the trees' table button has the focus
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the trees' table button cannot be reached with Tab")
    shot(page, "map-05-focus-on-table-button")
    outline = target.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focused button shows no focus outline"
    page.keyboard.press("Enter")
    table = page.locator("#table-view table[data-layer=trees]")
    table.wait_for(timeout=15_000)
    shot(page, "map-06-table")
    assert page.evaluate("document.activeElement.id") == "table-view"
    bounds = page.evaluate("(() => { const b = window.geoportal.map.getBounds();"
                           " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")
    trees = published(portal, "trees").to_crs("EPSG:4326")
    expected = int(trees.intersects(shapely.box(*bounds)).sum())
    assert table.locator("tbody tr").count() == min(expected, 1000)
    headers = table.locator("thead th").all_inner_texts()
    registry = load_registry(portal.datasets_dir)
    assert "Stammumfang (cm)" in headers
    assert len(headers) == 1 + len(registry["trees"].schema.properties)
    page.keyboard.press("Tab")  # the close button, then the first row's button
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.dataset.row")
    assert focused == "0"
    page.keyboard.press("Enter")
    page.locator(".maplibregl-popup").wait_for(timeout=10_000)
    page.wait_for_timeout(400)  # the popup's own pan into view, if any
    idle(page)
    shot(page, "map-07-row-shown-on-map")
    # the popup is drawn above the table, not behind it (it was centred on the whole map)
    popup_box = page.locator(".maplibregl-popup-content").bounding_box()
    table_box = page.locator("#table-view").bounding_box()
    assert popup_box["y"] + popup_box["height"] <= table_box["y"] + 1, (popup_box, table_box)
    page.locator("#table-view").focus()
    page.keyboard.press("Escape")
    assert page.locator("#table-view").is_hidden()
    assert target.evaluate("el => el === document.activeElement"), "focus not given back"
    assert_clean(log)
    page.context.close()


def test_english_switch(browser: Any, server: str) -> None:
    page, log = open_page(browser)
    load(page, f"{server}/#map=15.00/51.30100/6.85500&layers=trees")
    wait_loaded(page, "trees")
    page.get_by_role("link", name="Switch to English").click()
    page.wait_for_selector("body[data-ready=true]")
    wait_loaded(page, "trees")
    idle(page)
    shot(page, "map-08-english")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "layers=trees" in page.url, "the view survives the language switch"
    assert page.get_by_role("region", name="Map of Ratingen").count() >= 1
    assert page.locator("#panel-heading").inner_text() == "Layers"
    groups = page.locator("#layer-tree details:not(.layer-more) > summary").all_inner_texts()
    assert "Environment" in groups
    assert page.get_by_label("City trees", exact=True).is_checked()
    assert page.get_by_role("button", name="Search").is_visible()
    assert_clean(log)
    page.context.close()


def test_search_by_address_finds_a_toilet_and_shows_it(browser: Any, server: str,
                                                      portal: Settings) -> None:
    toilets = published(portal, "public_toilets")
    street = str(toilets["address"].iloc[0]).split(",")[0]
    page, log = open_page(browser)
    load(page, f"{server}/")
    search_for(page, street[:-3].lower())  # lower case, the end cut off: still found
    shot(page, "map-09-search")
    assert any(str(toilets["name"].iloc[0]) in t
               for t in group(page, "public_toilets").all_inner_texts())
    assert any(street in t for t in group(page, "streets").all_inner_texts()), \
        "streets are searched too"
    group(page, "public_toilets").first.click()
    page.locator(".maplibregl-popup").wait_for(timeout=10_000)
    assert street in page.locator(".maplibregl-popup").inner_text()
    assert page.locator("#layer-public_toilets").is_checked(), "a hit's layer is switched on"
    assert_clean(log)
    page.context.close()


def test_a_parcel_is_found_by_flur_and_number_and_shown(browser: Any, server: str,
                                                         portal: Settings) -> None:
    """The Flurstückssuche: "Flur 37 Flurstück 5" as the surveying office writes it lists
    that parcel under "Flurstücke"; choosing it switches the parcels on and opens its card."""
    parcels = published(portal, "parcels")
    parcel = parcels[parcels["number_denominator"].isna()].iloc[0]
    page, log = open_page(browser)
    load(page, f"{server}/")
    headings = search_for(page, f"Flur {parcel['flur']} Flurstück {parcel['number_numerator']}")
    assert headings[0] == "parcels", headings
    assert page.locator("#search-list [data-kind=parcel]").inner_text().startswith("Flurstücke")
    first = group(page, "parcels").first
    assert first.inner_text().split("\n")[0] == (
        f"{parcel['cadastral_district']}, Flur {parcel['flur']}, "
        f"Flurstück {parcel['number_numerator']}")
    first.click()
    page.locator(".maplibregl-popup").wait_for(timeout=10_000)
    assert parcel["parcel_id"] in page.locator(".maplibregl-popup").inner_text()
    assert page.locator("#layer-parcels").is_checked(), "a hit's layer is switched on"
    assert_clean(log)
    page.context.close()


def group(page: Any, layer_id: str) -> Any:
    """The options listed under one layer's heading in the search box's suggestions."""
    return page.locator(f"#search-list [role=group]:has([data-layer={layer_id}]) [role=option]")


def heading(page: Any, layer_id: str) -> str:
    return page.locator(f"#search-list [data-layer={layer_id}]").first.inner_text()


def search_for(page: Any, term: str) -> list[str]:
    """Type as a user does and wait for the suggestions; the layers of the groups, in order."""
    box = page.get_by_role("combobox", name="Suche nach Name oder Adresse")
    box.fill(term)  # its input event marks the status busy until the answer is shown
    page.wait_for_function(
        "!document.querySelector('#search-status').dataset.busy", timeout=15_000)
    return page.locator("#search-list [role=group] > [data-layer]").evaluate_all(
        "hs => hs.map(h => h.dataset.layer)")


def test_search_reads_abbreviations_umlauts_house_numbers_and_botanical_names(
        browser: Any, server: str, portal: Settings) -> None:
    """Issue 21, item 3: "Werdener Str." found nothing, a street came 11th after buildings and
    parcels, "Tilia" found nothing, and "Linde" showed 4 of 491 without saying so."""
    streets = published(portal, "streets")
    name = next(n for n in streets["name"].dropna() if n.endswith(" Straße"))
    page, log = open_page(browser)
    load(page, f"{server}/")
    headings = search_for(page, name.removesuffix("aße") + ".")  # "Werdener Str."
    assert headings[0] == "streets", headings
    assert group(page, "streets").first.inner_text().split("\n")[0] == name
    # a house number: the building comes first, named by its address
    buildings = published(portal, "buildings")
    address = buildings["address"].dropna().iloc[0]
    search_for(page, address)
    assert group(page, "buildings").first.inner_text().split("\n")[0] == address
    # botanical genus, with the count of the whole city
    trees = published(portal, "trees")
    genus = trees["species_botanical"].dropna().str.split().str[0].value_counts().index[0]
    expected = int(trees["species_botanical"].fillna("").str.startswith(f"{genus} ").sum())
    search_for(page, genus)
    assert f"{expected} Bäume" in group(page, "trees").first.inner_text()
    # lower case with an umlaut
    toilets = published(portal, "public_toilets")
    first = toilets["name"].iloc[0]
    search_for(page, first.lower())
    assert first in " ".join(group(page, "public_toilets").all_inner_texts())
    shot(page, "map-14-search-grouped")
    assert_clean(log)
    page.context.close()


def test_phone_layout_and_near_me(browser: Any, server: str, portal: Settings) -> None:
    trees = published(portal, "trees").to_crs("EPSG:4326")
    here = trees.geometry.iloc[len(trees) // 2]
    page, log = open_page(browser, viewport=(390, 844), is_mobile=True, has_touch=True,
                          geolocation={"latitude": here.y, "longitude": here.x},
                          permissions=["geolocation"])
    load(page, f"{server}/")
    idle(page)
    shot(page, "map-10-phone")
    toggle = page.locator("#panel-toggle")
    assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
    assert page.locator("#layer-panel").is_hidden(), "on a phone the map comes first"
    map_box = page.locator("#map").bounding_box()
    assert map_box["width"] == pytest.approx(390, abs=2) and map_box["height"] > 500
    toggle.click()
    assert page.locator("#layer-panel").is_visible()
    page.get_by_label("Stadtbäume", exact=True).check()
    shot(page, "map-11-phone-panel")
    # the table opened from the drawer comes in front (it opened behind the drawer)
    page.get_by_role("button", name="Tabelle: Stadtbäume").click()
    page.locator("#table-view table").wait_for(timeout=15_000)
    assert page.locator("#layer-panel").is_hidden()
    box = page.locator("#table-view").bounding_box()
    on_top = page.evaluate(f"document.elementFromPoint({box['x'] + box['width'] / 2}, "
                           f"{box['y'] + box['height'] / 2}).closest('#table-view') !== null")
    assert on_top, "the table is covered"
    page.get_by_role("button", name="Tabelle schließen").click()
    assert page.locator("#layer-panel").is_visible(), "closing the table goes back to the drawer"
    toggle.click()
    wait_loaded(page, "trees")
    page.get_by_role("button", name="In meiner Nähe").click()
    page.wait_for_function("window.geoportal.map.getZoom() >= 16"
                           " && !window.geoportal.map.isMoving()",
                           timeout=15_000)
    idle(page)
    shot(page, "map-12-phone-near-me")
    centre = page.evaluate("(() => { const c = window.geoportal.map.getCenter();"
                           " return [c.lng, c.lat]; })()")
    assert centre == pytest.approx([here.x, here.y], abs=1e-5)
    assert page.get_by_role("img", name="Ihr Standort").count() == 1
    assert_clean(log)
    page.context.close()


def test_a_phone_on_its_side_gets_the_phone_layout(browser: Any, server: str) -> None:
    """844 × 390 is wider than the phone breakpoint; the side panel left a 500 px map strip."""
    page, log = open_page(browser, viewport=(844, 390), is_mobile=True, has_touch=True)
    load(page, f"{server}/")
    idle(page)
    shot(page, "map-13-phone-landscape")
    assert page.locator("#panel-toggle").is_visible()
    assert page.locator("#layer-panel").is_hidden(), "the map comes first"
    assert page.locator("#map").bounding_box()["width"] == pytest.approx(844, abs=2)
    assert_clean(log)
    page.context.close()


def test_the_map_leads_to_the_commercial_space_finder(browser: Any, server: str) -> None:
    """Citizens' page → economic-development page, in the language the reader chose."""
    page, log = open_page(browser)
    load(page, f"{server}/?lang=en")
    page.get_by_role("link", name="Commercial space finder for businesses").click()
    page.wait_for_url(f"{server}/economy*")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    shot(page, "map-13-to-economy")
    assert_clean(log)
    page.context.close()


@pytest.mark.parametrize("base", ["orthophoto", "hillshade"])
def test_a_wide_view_asks_for_no_tiles_outside_the_data(browser: Any, server: str,
                                                        base: str) -> None:
    """Zoomed out beyond the built area, raster tiles are only requested where data is."""
    page, log = open_page(browser)
    load(page, f"{server}/#map=12/51.31/6.86&base={base}&layers=canopy_height,parcels")
    idle(page)
    page.wait_for_timeout(500)
    shot(page, f"map-14-wide-{base}")
    assert_clean(log)
    page.context.close()


def card_text(page: Any, layer_id: str, properties: dict, lang: str = "de") -> str:
    """The popup text the page writes for a feature with these published values."""
    return page.evaluate(
        """async ([id, props, lang]) => {
            const i18n = await import('./assets/i18n.js');
            const popup = await import('./assets/popup.js');
            i18n.setLang(lang);
            const box = document.createElement('div');
            box.innerHTML = popup.featureHtml(window.geoportal.manifest.layers[id], props);
            return box.textContent;
        }""", [layer_id, properties, lang])


def as_json(row: Any) -> dict:
    return {k: (None if v is None or v != v else v.item() if hasattr(v, "item") else str(v))
            for k, v in row.drop(labels="geometry").items()}


def test_popups_write_dates_hours_codes_and_counts_as_readers_expect(browser: Any, server: str,
                                                                     portal: Settings) -> None:
    """Item 8 of issue 21: no "1 Objekte", no raw "Mo-Fr 10:00-18:00", no key "1.000", no ISO
    date on the German page. Values are the published rows'; the page formats them."""
    page, log = open_page(browser)
    load(page, server)
    offers = published(portal, "commercial_spaces")
    offer = offers[offers["available_from"].notna()].iloc[0]
    day = str(offer["available_from"])[:10]
    year, month, date = day.split("-")
    german = card_text(page, "commercial_spaces", as_json(offer))
    assert f"{date}.{month}.{year}" in german and day not in german
    english = card_text(page, "commercial_spaces", as_json(offer), "en")
    assert f"{int(date)} " in english and year in english and day not in english
    libraries = published(portal, "libraries")
    weekly = libraries[libraries["opening_hours"] == "Mo-Fr 10:00-18:00; Sa 10:00-14:00"]
    assert len(weekly), libraries["opening_hours"].tolist()
    text = card_text(page, "libraries", as_json(weekly.iloc[0]))
    assert "Mo–Fr 10:00–18:00 Uhr; Sa 10:00–14:00 Uhr" in text and "Mo-Fr" not in text
    text = card_text(page, "libraries", as_json(weekly.iloc[0]), "en")
    assert "Mon–Fri 10:00–18:00; Sat 10:00–14:00" in text
    toilets = published(portal, "public_toilets")
    always = toilets[toilets["opening_hours"] == "24/7"]
    assert "rund um die Uhr" in card_text(page, "public_toilets", as_json(always.iloc[0]))
    parcels = published(portal, "parcels")
    parcel = parcels.iloc[0]
    key = int(parcel["cadastral_district_key"])
    assert key >= 1000  # a Gemarkung key has four or six digits
    text = card_text(page, "parcels", as_json(parcel))
    assert str(key) in text and f"{key:,}".replace(",", ".") not in text
    counts = page.evaluate("""async () => {
        const i18n = await import('./assets/i18n.js');
        i18n.setLang('de');
        return [i18n.t('layers.count', {n: 1}), i18n.t('layers.count', {n: 2})];
    }""")
    assert counts == ["1 Objekt", "2 Objekte"]
    assert_clean(log)
    page.context.close()


def test_the_map_is_few_tab_presses_away_and_downloads_still_one_click(
        browser: Any, server: str, portal: Settings) -> None:
    """Six stops per layer made the map 124 Tab presses away; the catalogue and download links
    now fold into one "Info und Download" per layer (three stops per layer)."""
    page, log = open_page(browser)
    load(page, f"{server}/")
    idle(page)
    layer_items = page.locator("[data-layer-item]").count()
    presses = 0
    while not page.evaluate("document.activeElement.classList.contains('maplibregl-canvas')"):
        assert presses < 400, "the map cannot be reached with Tab"
        page.keyboard.press("Tab")
        presses += 1
    assert presses <= 3 * layer_items + 20, (presses, layer_items)
    # the trees' downloads: one click on the folded entry, then the published files
    page.get_by_label("Info und Download: Stadtbäume").click()
    metadata = read_metadata(portal.published_dir, "trees")
    links = page.locator("[data-layer-item=trees] .layer-more a[download]")
    assert links.count() >= 1 and links.first.is_visible()
    names = {href.rsplit("/", 1)[-1] for href in links.evaluate_all("els => els.map(e => e.href)")}
    assert names <= {f.path for f in metadata.files}, names  # type: ignore[union-attr]
    assert_clean(log)
    page.context.close()


def test_a_misspelt_address_is_found_first_and_shown(browser: Any, server: str,
                                                     portal: Settings) -> None:
    """Issue 21, item 3: the search box asks the geocoder too, so "Werdner Strase 12" (two
    typos) finds Werdener Straße 12 first, and choosing it opens that building."""
    buildings = published(portal, "buildings")
    address = next(a for a in buildings["address"].dropna()
                   if re.fullmatch(r"\w{6,}er Straße \d+", a))
    street, number = address.rsplit(" ", 1)
    typo = street.replace("ener ", "ner ", 1).replace("Straße", "Strase") + f" {number}"
    assert typo != address
    page, log = open_page(browser)
    load(page, f"{server}/")
    headings = search_for(page, typo)
    assert headings[0] == "buildings", headings
    assert heading(page, "buildings").startswith("Adressen")
    first = group(page, "buildings").first
    assert first.inner_text().split("\n")[0] == address
    first.click()
    page.locator(".maplibregl-popup").wait_for(timeout=10_000)
    assert address in page.locator(".maplibregl-popup").inner_text()
    assert_clean(log)
    page.context.close()
