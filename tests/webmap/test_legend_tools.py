"""Legends, values at a click on a raster, symbols, and the map's tools (issue 21, items 5 and 7),
in Chromium at a desktop (1366 × 800) and a phone (390 × 844). Expected values come from the
registry, the published rasters (rasterio) and pyproj, never from the page."""

from __future__ import annotations

import io
import math
import re
import unicodedata
from typing import Any

import geopandas as gpd
import pytest
import rasterio
from pyproj import Geod, Transformer
from testkit.webmap import (
    assert_clean,
    axe_violations,
    click_at,
    idle,
    load,
    open_page,
    shot,
    wait_loaded,
)

from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]
DESKTOP, PHONE = (1366, 800), (390, 844)
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
GEOD = Geod(ellps="GRS80")


def german(value: float, digits: int) -> str:
    """A number as the German page writes it: 1.234,5."""
    text = f"{value:,.{digits}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return text.rstrip("0").rstrip(",") if "," in text else text


def lonlat_of(portal: Settings, dataset_id: str, row: int = 0) -> tuple[float, float]:
    frame = gpd.read_file(portal.published_dir / dataset_id / f"{dataset_id}.gpkg").to_crs(4326)
    point = frame.geometry.iloc[row]
    return point.x, point.y


def test_class_legends_distinct_symbols_and_toilets_drawn_on_top(browser: Any, server: str,
                                                                  portal: Settings) -> None:
    registry = load_registry(portal.datasets_dir)
    lon, lat = lonlat_of(portal, "public_toilets")
    page, log = open_page(browser, viewport=DESKTOP)
    load(page, f"{server}/#map=17.00/{lat:.5f}/{lon:.5f}"
               "&layers=public_toilets,trees,trees_lidar,trees_not_in_cadastre")
    for layer in ("trees", "trees_lidar", "trees_not_in_cadastre", "public_toilets"):
        wait_loaded(page, layer)
    idle(page)
    shot(page, "legend-01-classes-and-symbols")
    legend = page.locator("[data-legend=trees]")
    assert legend.is_visible()
    assert legend.locator("li").all_inner_texts() == [c.label.de for c in
                                                      registry["trees"].style.classes]
    # one shape per tree layer, not three green dots
    shapes = [page.locator(f"label[for=layer-{i}] svg path").get_attribute("d")
              for i in ("trees", "trees_lidar", "trees_not_in_cadastre", "public_toilets")]
    assert len(set(shapes)) == 4, shapes
    order = page.evaluate("window.geoportal.map.getStyle().layers.map(l => l.id)")
    tops = {i: order.index(f"ov-{i}-symbol") for i in ("trees", "trees_lidar", "public_toilets")}
    assert tops["public_toilets"] > tops["trees"] > tops["trees_lidar"], order
    size = page.evaluate("window.geoportal.map.getImage('sym-public_toilets-0').data.width / 2")
    assert size >= 24  # the toilet sign, in CSS pixels at zoom 16
    assert axe_violations(page) == []
    assert_clean(log)
    page.context.close()


def test_a_finger_hits_a_toilet_beside_it_on_a_phone(browser: Any, server: str,
                                                    portal: Settings) -> None:
    lon, lat = lonlat_of(portal, "public_toilets")
    page, log = open_page(browser, viewport=PHONE, has_touch=True, is_mobile=True)
    load(page, f"{server}/#map=17.00/{lat:.5f}/{lon:.5f}&layers=public_toilets,trees")
    wait_loaded(page, "public_toilets")
    idle(page)
    click_at(page, lon, lat, dx=18, dy=-12)  # a finger 20 px beside the sign: a 44 px target
    popup = page.locator(".maplibregl-popup")
    popup.wait_for(timeout=10_000)
    shot(page, "legend-02-phone-toilet")
    assert popup.get_attribute("data-layer") == "public_toilets"
    assert axe_violations(page) == []
    assert_clean(log)
    page.context.close()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_raster_scales_and_the_terrain_height_at_a_click(browser: Any, server: str,
                                                         portal: Settings, lang: str) -> None:
    with rasterio.open(portal.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as dtm:
        x, y = (dtm.bounds.left + dtm.bounds.right) / 2, (dtm.bounds.bottom + dtm.bounds.top) / 2
        low, high = float(dtm.read(1, masked=True).min()), float(dtm.read(1, masked=True).max())
    lon, lat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True).transform(x, y)
    page, log = open_page(browser, viewport=DESKTOP)
    load(page, f"{server}/?lang={lang}#map=17.00/{lat:.5f}/{lon:.5f}&base=hillshade"
               "&layers=canopy_height")
    idle(page)
    canopy = page.locator("[data-legend=canopy_height]").inner_text()
    assert ("2 m" in canopy and "40 m" in canopy) and ("Höhe über Gelände" if lang == "de"
                                                       else "Height above ground") in canopy
    terrain = page.locator("[data-legend=terrain_dtm]").inner_text()
    digits = (lambda v: german(v, 1)) if lang == "de" else (lambda v: f"{v:.1f}".removesuffix(".0"))
    # the data's own range, from the smallest overview (within a decimetre of the full grid)
    found = [float(v.replace(".", "").replace(",", ".")) if lang == "de" else float(v)
             for v in re.findall(r"(-?[\d.,]+) m", terrain)]
    assert found[0] == pytest.approx(low, abs=0.5) and found[1] == pytest.approx(high, abs=0.5)
    cir = page.locator("[data-legend=orthophoto_cir]")
    assert cir.locator("li").count() == 3
    click_at(page, lon, lat)
    popup = page.locator(".value-card")
    popup.wait_for(timeout=10_000)
    shot(page, f"legend-03-terrain-height-{lang}")
    cell = popup.locator("tr[data-dataset=terrain_dtm] td")
    # the clicked point (a whole screen pixel, ~0.4 m) in UTM, as pyproj has it
    at = [float(v) for v in popup.get_attribute("data-utm").split()]
    assert at == pytest.approx([x, y], abs=1.0)
    with rasterio.open(portal.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as dtm:
        height = float(next(dtm.sample([tuple(at)]))[0])
    assert float(cell.get_attribute("data-value")) == pytest.approx(height, abs=0.01)
    assert digits(round(height, 1)) in cell.inner_text()
    title = "Wert an dieser Stelle" if lang == "de" else "Value at this point"
    assert title in popup.inner_text()
    assert popup.locator("tr[data-dataset=canopy_height]").count() == 1  # the overlay's too
    assert axe_violations(page) == []
    assert_clean(log)
    page.context.close()


@pytest.mark.parametrize("image", ["orthophoto_cir", "orthophoto"])
def test_the_aerial_image_legends_match_the_image(server: str, portal: Settings,
                                                 image: str) -> None:
    """The vegetation swatch (the first class) is the colour of the tiles where the trees stand:
    red in the CIR image, green in the true-colour one (the old legend showed green for both)."""
    import numpy as np
    import requests
    from PIL import Image

    registry = load_registry(portal.datasets_dir)
    swatches = {c.label.de: np.array([int(c.colour[i:i + 2], 16) for i in (1, 3, 5)])
                for c in registry[image].style.classes}
    vegetation = registry[image].style.classes[0].label.de
    trees = gpd.read_file(portal.published_dir / "trees" / "trees.gpkg").to_crs(4326)
    nearest, seen = [], []
    for point in trees.geometry.iloc[:20]:
        n = 2 ** 18  # the tile at zoom 18 and the point's pixel in it (Web Mercator)
        fx = (point.x + 180) / 360 * n
        fy = (1 - math.asinh(math.tan(math.radians(point.y))) / math.pi) / 2 * n
        answer = requests.get(f"{server}/collections/{image}/tiles/WebMercatorQuad/"
                              f"18/{int(fy)}/{int(fx)}?f=jpeg", timeout=30)
        assert answer.status_code == 200, (answer.url, answer.text[:200])
        tile = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB"), float)
        col, row = int((fx % 1) * tile.shape[1]), int((fy % 1) * tile.shape[0])
        pixel = tile[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2].reshape(-1, 3).mean(0)
        seen.append(pixel)
        nearest.append(min(swatches, key=lambda k: np.linalg.norm(swatches[k] - pixel)))
    assert nearest.count(vegetation) >= len(nearest) * 0.6, (nearest, np.mean(seen, axis=0))


def measure(page: Any, tool: str, points: list[tuple[float, float]]) -> str:
    """Switch a measuring tool on, click the points on the map, read the result line."""
    page.locator(f"#tool-{tool}").click()
    for lon, lat in points:
        click_at(page, lon, lat)
    return page.locator("#tool-result").inner_text()


def open_tools(page: Any) -> None:
    if page.locator("#tools").get_attribute("open") is None:
        page.locator("#tools summary").click()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_measure_mark_share_coordinates_and_copy_link(browser: Any, server: str,
                                                      viewport: tuple[int, int]) -> None:
    page, log = open_page(browser, viewport=viewport, permissions=["clipboard-read",
                                                                   "clipboard-write"])
    load(page, f"{server}/#map=16.00/51.30100/6.85500&layers=")
    idle(page)
    open_tools(page)
    if viewport == PHONE:  # every tool a finger can hit: 44 × 44 px (WCAG 2.5.5)
        for control in page.locator(".tools summary, .tool-buttons button, "
                                    ".tool-buttons select").all():
            box = control.bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, control.inner_text()
    # a distance and an area on the ellipsoid, in German numbers, as pyproj measures them
    # below the map's centre: on a phone the open tool panel covers the upper part
    a, b, c = (6.8540, 51.3005), (6.8560, 51.3002), (6.8550, 51.2993)
    text = measure(page, "distance", [a, b])
    clicked = page.evaluate("window.geoportal.tools.points")
    metres = GEOD.line_length(*zip(*clicked, strict=True))
    assert text == f"Strecke: {german(metres, 1)} m", (text, metres)
    page.locator("#tool-distance").click()  # off again: the drawing goes
    text = measure(page, "area", [a, b, c])
    ring = page.evaluate("window.geoportal.tools.points")
    square_metres = abs(GEOD.polygon_area_perimeter(*zip(*ring, strict=True))[0])
    number, unit = re.search(r"Fläche: ([\d.,]+) (m²|ha)", text).groups()
    shown = float(number.replace(".", "").replace(",", ".")) * (10_000 if unit == "ha" else 1)
    assert shown == pytest.approx(square_metres, abs=1 if unit == "m²" else 50), text
    shot(page, f"tools-01-area-{'phone' if viewport == PHONE else 'desktop'}")
    page.locator("#tool-area").click()
    # the coordinates of the map's centre, in UTM 32N and WGS84
    centre = page.evaluate("window.geoportal.map.getCenter().toArray()")
    east, north = TO_UTM.transform(*centre)
    coords = page.locator("#coords").inner_text()
    assert f"{german(round(east), 0)} E, {german(round(north), 0)} N" in coords, (coords, east)
    assert f"{centre[1]:.5f}".replace(".", ",") in coords
    # mark a place: it is in the permalink, and the link opens with it
    page.locator("#tool-mark").click()
    click_at(page, *b)
    page.wait_for_function("location.hash.includes('&mark=')")
    link = page.evaluate("location.href")
    assert re.search(r"&mark=51\.300\d\d/6\.856\d\d$", link), link
    page.locator("#tool-copy").click()
    page.wait_for_function("document.querySelector('#tool-result').textContent === 'Link kopiert'")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert axe_violations(page) == []
    assert_clean(log)
    page.context.close()
    page, log = open_page(browser, viewport=viewport)
    load(page, link)
    mark = page.locator("[data-mark]")
    assert mark.count() == 1 and mark.get_attribute("aria-label") == "Markierter Ort"
    shown = page.evaluate("window.geoportal.tools.mark()")
    assert shown == pytest.approx(list(b), abs=2e-5)
    assert_clean(log)
    page.context.close()


def test_the_printed_map_has_its_scale_legend_and_sources(browser: Any, server: str,
                                                         portal: Settings) -> None:
    from pypdf import PdfReader

    registry = load_registry(portal.datasets_dir)
    page, log = open_page(browser, viewport=DESKTOP)
    load(page, f"{server}/#map=16.00/51.30100/6.85500&base=orthophoto&layers=trees,canopy_height")
    wait_loaded(page, "trees")
    idle(page)
    page.locator("#print-scale").select_option("2500")
    page.evaluate("window.geoportal.tools.preparePrint(2500)")
    page.wait_for_selector("#print-sheet img.print-map", state="attached")
    # the printed map is at 1:2500: its width on paper (CSS px at 96 dpi) against the ground
    bounds = page.evaluate("(() => { const b = window.geoportal.map.getBounds(), c = b.getCenter();"
                           " return [b.getWest(), b.getEast(), c.lat]; })()")
    ground = GEOD.inv(bounds[0], bounds[2], bounds[1], bounds[2])[2]
    paper = page.evaluate("window.geoportal.map.getCanvas().clientWidth") * 0.0254 / 96
    assert ground / paper == pytest.approx(2500, rel=0.01)
    pdf = page.pdf(format="A4")
    (shot(page, "tools-02-print-prepared").parent / "tools-03-print.pdf").write_bytes(pdf)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))  # "ﬂ" ligatures
    assert "Maßstab 1:2.500" in text and "Legende" in text
    classes = [c.label.de for c in registry["trees"].style.classes]
    for label in [registry["trees"].title.de, *classes, "Höhe über Gelände"]:
        assert label in text, (label, text)
    assert "Geobasis NRW" in text  # the aerial image's attribution
    assert "Geoportal Ratingen" in text and "UTM 32N" in text
    assert_clean(log)
    page.context.close()
