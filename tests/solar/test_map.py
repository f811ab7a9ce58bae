"""The roof planes on the citizens' map in a real Chromium: filled by suitability, the legend's
classes, a popup titled with the class in German and in English (issue 19.4)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest
from testkit.webmap import assert_clean, click_at, idle, load, open_page, shot

from geoportal.core.registry import load_registry

LABEL = {"de": "sehr gut geeignet", "en": "very good"}


@pytest.mark.parametrize("lang", ["de", "en"])
def test_roof_planes_are_filled_by_suitability_with_legend_and_popup(
        browser: Any, solar_server: str, solar_built, roof_planes, lang: str) -> None:
    best = roof_planes[roof_planes["suitability"] == "very good"]
    best = best.loc[[best["area_m2"].idxmax()]]
    spot = gpd.GeoSeries(best.geometry.representative_point(), crs=roof_planes.crs
                         ).to_crs("EPSG:4326").iloc[0]
    page, log = open_page(browser, locale="de-DE" if lang == "de" else "en-GB")
    load(page, f"{solar_server}/?lang={lang}#map=18.00/{spot.y:.6f}/{spot.x:.6f}"
               "&layers=roof_solar")
    idle(page)
    page.wait_for_function("window.geoportal.map.queryRenderedFeatures({layers: "
                           "['ov-roof_solar-fill']}).length > 0", timeout=30_000)
    shot(page, f"solar-01-roof-planes-{lang}")
    fill = page.evaluate("window.geoportal.map.getPaintProperty('ov-roof_solar-fill', "
                         "'fill-color')")
    assert fill[:2] == ["match", ["get", "suitability"]]
    assert fill[2:4] == ["very good", "#d7301f"]
    classes = load_registry(solar_built.datasets_dir)["roof_solar"].style.classes
    legend = page.locator("[data-legend=roof_solar] li").all_inner_texts()
    assert [t.strip() for t in legend] == [getattr(c.label, lang) for c in classes]
    click_at(page, spot.x, spot.y)
    popup = page.locator(".maplibregl-popup")
    popup.wait_for(timeout=10_000)
    shot(page, f"solar-02-popup-{lang}")
    assert popup.locator("h3").inner_text().strip() == LABEL[lang]
    text = popup.inner_text()
    assert ("Geschätzter Jahresertrag" if lang == "de" else "Estimated yearly yield") in text
    assert_clean(log)
    page.context.close()
