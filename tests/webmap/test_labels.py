"""The city map's labels (issue 21.1): street names and house numbers from our own tiles, with
glyphs the portal renders itself, in a real Chromium. Screenshots: test-artifacts/webmap/labels-*.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest
from testkit.webmap import assert_clean, open_page, shot

from geoportal.core.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]


def busiest_street(portal: Settings) -> tuple[str, float, float]:
    """The street most buildings have their address in: its name and the middle of its
    longest segment in WGS84 (there, at zoom 17, its name and house numbers must show)."""
    streets = gpd.read_file(portal.published_dir / "streets" / "streets.gpkg")
    buildings = gpd.read_file(portal.published_dir / "buildings" / "buildings.gpkg")
    counts = {n: buildings["address"].str.startswith(f"{n} ").sum()
              for n in streets["name"].dropna().unique()}
    streets = streets[streets["name"] == max(counts, key=counts.__getitem__)]
    segment = streets.loc[streets.length.idxmax()]
    middle = gpd.GeoSeries([segment.geometry.interpolate(0.5, normalized=True)],
                           crs=streets.crs).to_crs("EPSG:4326").iloc[0]
    return str(segment["name"]), middle.x, middle.y


def rendered(page: Any, layer: str, field: str) -> list[str]:
    return page.evaluate(
        f"[...new Set(window.geoportal.map.queryRenderedFeatures({{layers: ['{layer}']}})"
        f".map((f) => f.layer.layout['text-field'] ? String(f.properties['{field}']) : ''))]")


def test_street_names_and_house_numbers_are_drawn_with_local_glyphs(
        browser: Any, server: str, portal: Settings) -> None:
    name, lon, lat = busiest_street(portal)
    page, log = open_page(browser)
    glyphs: list[tuple[str, int]] = []
    page.on("response", lambda r: glyphs.append((r.url, r.status))
            if "/fonts/" in r.url or (r.url.endswith(".pbf") and "/tiles/" not in r.url) else None)
    page.goto(f"{server}/#map=17.00/{lat:.5f}/{lon:.5f}&base=map")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.wait_for_function(
        "window.geoportal.map.queryRenderedFeatures({layers: ['base-map-street-labels']}).length",
        timeout=30_000)
    page.wait_for_function("window.geoportal.map.loaded()", timeout=30_000)
    shot(page, "labels-01-street-z17")
    assert name in rendered(page, "base-map-street-labels", "name")
    assert glyphs and all(url.startswith(f"{server}/assets/fonts/") and status == 200
                          for url, status in glyphs), glyphs
    numbers = page.evaluate(
        "window.geoportal.map.queryRenderedFeatures({layers: ['base-map-house-numbers']})"
        ".map((f) => f.properties.address)")
    assert numbers, "no house number drawn at zoom 17"
    assert_clean(log)
    page.context.close()


def test_glyph_ranges_are_served_for_any_range(server: str) -> None:
    import requests

    latin = requests.get(f"{server}/assets/fonts/DejaVu%20Sans/0-255.pbf", timeout=10)
    assert latin.status_code == 200 and len(latin.content) > 10_000  # ä, ö, ü, ß and the rest
    cjk = requests.get(f"{server}/assets/fonts/DejaVu%20Sans/19968-20223.pbf", timeout=10)
    assert cjk.status_code == 200 and b"DejaVu Sans" in cjk.content  # empty, not a 404
    assert requests.get(f"{server}/assets/fonts/Comic%20Sans/0-255.pbf",
                        timeout=10).status_code == 404
