"""The climate theme of the web map (issue 18): heavy-rain layers with a scenario switch, their
classed legends and a building's popup, in Chromium, in German and English. Expected values come
from the registry's model and the published layers, never from the page."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest
import testkit.webmap as wm

from geoportal.core.settings import Settings
from pipelines.imagery.webtiles import legend_classes

pytestmark = [pytest.mark.slow, pytest.mark.server]
WALL = {"de": "Wasser an der Hauswand bis", "en": "Water at the wall up to"}


def wettest_building(portal: Settings, scenario: str) -> tuple[float, float, float]:
    layer = f"heavy_rain_buildings_{scenario}"
    frame = gpd.read_file(portal.published_dir / layer / f"{layer}.gpkg")
    row = frame.loc[frame.max_depth_m.idxmax()]
    point = gpd.GeoSeries([row.geometry.representative_point()], crs=frame.crs).to_crs(4326)[0]
    return point.x, point.y, float(row.max_depth_m)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_scenario_switch_swaps_the_heavy_rain_maps_and_a_building_tells_its_water(
        browser: Any, server: str, portal: Settings, lang: str) -> None:
    lon, lat, depth = wettest_building(portal, "rare")
    page, log = wm.open_page(browser, viewport=(1366, 800))
    wm.load(page, f"{server}/?lang={lang}#map=18.00/{lat:.6f}/{lon:.6f}"
               "&layers=heavy_rain_flood_depth_extreme")
    wm.idle(page)
    group = page.locator("details[data-group=climate]")
    radios = group.locator("input[name=climate-scenario]")
    assert radios.count() == 3
    assert group.locator("input[value=extreme]").is_checked()
    assert page.locator("[data-layer-item=heavy_rain_flood_depth_rare]").is_hidden()
    legend = page.locator("[data-legend=heavy_rain_flood_depth_extreme] li").all_inner_texts()
    labels = [c["label"][lang] for c in legend_classes("water_depth")]
    assert [text.strip() for text in legend] == labels
    wm.shot(page, f"climate-01-extreme-{lang}")

    group.locator("input[value=rare]").check()
    visible = page.evaluate("window.geoportal.layers.visibleIds()")
    assert "heavy_rain_flood_depth_rare" in visible
    assert "heavy_rain_flood_depth_extreme" not in visible
    assert page.locator("[data-layer-item=heavy_rain_flood_depth_extreme]").is_hidden()
    speed = page.locator("[data-legend=heavy_rain_flow_velocity_rare] li").all_inner_texts()
    labels = [c["label"][lang] for c in legend_classes("flow_velocity")]
    assert [text.strip() for text in speed] == labels

    page.locator("#layer-heavy_rain_buildings_rare").check()
    wm.wait_loaded(page, "heavy_rain_buildings_rare")
    wm.idle(page)
    wm.click_at(page, lon, lat)
    card = page.locator(".heavy-rain-card")
    card.wait_for(timeout=10_000)
    wm.shot(page, f"climate-02-building-{lang}")
    assert card.get_attribute("data-scenario") == "rare"
    assert float(card.locator("[data-depth]").get_attribute("data-depth")) == pytest.approx(depth)
    text = card.inner_text()
    shown = f"{depth:.2f}".replace(".", ",") if lang == "de" else f"{depth:.2f}"
    assert WALL[lang] in text and f"{shown} m" in text
    assert ("Seltener Starkregen" if lang == "de" else "Rare heavy rain") in text
    assert wm.axe_violations(page) == []
    wm.assert_clean(log)
    page.context.close()
