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
    groups = page.locator("#layer-tree summary").all_inner_texts()
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
    shot(page, "map-07-row-shown-on-map")
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
    assert "Environment" in page.locator("#layer-tree summary").all_inner_texts()
    assert page.get_by_label("City trees", exact=True).is_checked()
    assert page.get_by_role("button", name="Search").is_visible()
    assert_clean(log)
    page.context.close()


def test_search_by_address_finds_a_tree_and_shows_it(browser: Any, server: str,
                                                     portal: Settings) -> None:
    trees = published(portal, "trees")
    # SQLite's lower() folds ASCII only, so a search typed in lower case needs an ASCII stem
    street = next(s for s in trees["street"].dropna().astype(str) if s[:-3].isascii())
    page, log = open_page(browser)
    load(page, f"{server}/")
    page.get_by_label("Suche nach Name oder Adresse").fill(street[:-3].lower())
    page.keyboard.press("Enter")
    results = page.locator("#search-results button")
    results.first.wait_for(timeout=15_000)
    shot(page, "map-09-search")
    texts = results.all_inner_texts()
    assert any(street in t and "Stadtbäume" in t for t in texts), texts
    assert any(street in t and "Straßennetz" in t for t in texts), "streets are searched too"
    page.locator("#search-results button", has_text="Stadtbäume").first.click()
    page.locator(".maplibregl-popup").wait_for(timeout=10_000)
    assert street in page.locator(".maplibregl-popup").inner_text()
    assert page.locator("#layer-trees").is_checked(), "a hit's layer is switched on"
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
