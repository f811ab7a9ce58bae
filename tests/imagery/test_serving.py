"""The orthophoto as OGC API Tiles through the real server (gunicorn + pygeoapi), as base map."""

from __future__ import annotations

import json
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from pyproj import Transformer
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from testkit.imagery import decode

from geoportal.core.settings import Settings
from pipelines.imagery.webtiles import TMS

pytestmark = [pytest.mark.server, pytest.mark.slow]
CENTRE = (350500.0, 5685500.0)  # the tiny sample district's tile
TEMPLATE = "/collections/{cid}/tiles/WebMercatorQuad/{z}/{y}/{x}?f={f}"


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read()


def tile_url(base: str, cid: str, z: int, f: str = "jpeg") -> tuple[str, tuple[int, int, int]]:
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(*CENTRE)
    t = TMS.tile(lon, lat, z)
    return base + TEMPLATE.format(cid=cid, z=z, y=t.y, x=t.x, f=f), (t.z, t.x, t.y)


def test_tileset_is_listed_as_map_tiles(server: str) -> None:
    _, _, body = get(f"{server}/collections/orthophoto/tiles?f=json")
    tilesets = json.loads(body)["tilesets"]
    assert [(t["tileMatrixSetURI"].rsplit("/", 1)[-1], t["dataType"]) for t in tilesets] == [
        ("WebMercatorQuad", "map")]
    _, _, body = get(f"{server}/collections/orthophoto/tiles/WebMercatorQuad/metadata?f=tilejson")
    tilejson = json.loads(body)
    assert tilejson["tiles"][0].endswith("/WebMercatorQuad/{z}/{y}/{x}?f=jpeg")
    # the range a client reads is the web map's (its manifest) and the server's own: tiles at
    # both ends, none beyond them
    manifest = json.loads(get(f"{server}/assets/webmap.json")[2])
    aerial = next(b for b in manifest["base"] if b["id"] == "orthophoto")
    low, high = tilejson["minzoom"], tilejson["maxzoom"]
    assert (low, high) == (aerial["minzoom"], aerial["maxzoom"])
    assert [get(tile_url(server, "orthophoto", z)[0])[0] for z in (low, high)] == [200, 200]
    for z in (low - 1, high + 1):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(tile_url(server, "orthophoto", z)[0])
        assert err.value.code == 404, z


@pytest.mark.parametrize(("z", "f"), [(12, "jpeg"), (13, "png"), (15, "jpeg"), (18, "png")])
def test_tiles_from_the_archive_and_rendered_on_demand(server: str, z: int, f: str) -> None:
    url, _ = tile_url(server, "orthophoto", z, f)
    status, content_type, body = get(url)
    assert status == 200 and content_type == f"image/{f}"
    assert body.startswith(b"\x89PNG" if f == "png" else b"\xff\xd8\xff")  # real PNG / JPEG
    pixels = decode(body)
    assert pixels[:3].std() > 5  # a photo, not a blank tile


def test_unknown_tile_format_is_a_clear_400(server: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        get(tile_url(server, "orthophoto", 15, "webp")[0])
    assert err.value.code == 400 and b"f=jpeg or f=png" in err.value.read()


def test_deep_tiles_are_cached_on_disk(server: str, portal: Settings) -> None:
    url, (z, x, y) = tile_url(server, "orthophoto", 19)
    first = get(url)[2]
    version = (portal.published_dir / "orthophoto").resolve().name
    cached = portal.tiles_dir / "orthophoto" / version / str(z) / str(x) / f"{y}.jpg"
    assert cached.read_bytes() == first
    assert get(url)[2] == first


def test_outside_the_zoom_range_is_not_found(server: str) -> None:
    url, _ = tile_url(server, "orthophoto", 5)
    with pytest.raises(urllib.error.HTTPError) as err:
        get(url)
    assert err.value.code == 404


def test_colour_infrared_shows_vegetation_red(server: str) -> None:
    rgb = decode(get(tile_url(server, "orthophoto", 16)[0])[2]).astype(float)
    cir = decode(get(tile_url(server, "orthophoto_cir", 16)[0])[2]).astype(float)
    vegetation = rgb[1] > rgb[0] + 10  # green in true colour
    assert vegetation.mean() > 0.1
    assert cir[0][vegetation].mean() > rgb[0][vegetation].mean() + 40
    nir = decode(get(tile_url(server, "orthophoto_nir", 16)[0])[2]).astype(float)
    assert nir.shape[0] == 1  # one grey band, the near infrared alone
    assert np.abs(nir[0] - cir[0]).mean() < 12  # the same NIR the CIR shows as red


def test_pygeoapi_html_map_uses_the_orthophoto(server: str, portal: Settings) -> None:
    runtime = yaml.safe_load(Path(portal.data_dir / "pygeoapi-runtime.yml").read_text())
    template = runtime["server"]["map"]["url"]
    assert template.startswith(server)
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(*CENTRE)
    t = TMS.tile(lon, lat, 17)
    status, content_type, body = get(template.format(z=t.z, x=t.x, y=t.y))
    assert status == 200 and content_type == "image/jpeg" and decode(body).std() > 5
    # the dataset page shows no map of its own (pygeoapi's loaded Leaflet from a CDN): it links
    # to the portal's web map with the layer switched on, over this orthophoto
    _, _, page = get(f"{server}/collections/trees?f=html")
    assert f'href="{server}/#layers=trees"' in page.decode()
    _, _, page = get(f"{server}/collections/orthophoto?f=html")
    assert f'href="{server}/#base=orthophoto"' in page.decode()


def image(body: bytes) -> np.ndarray:
    """A PNG's pixels as rows × columns × bands (grey or RGB, then alpha); checks 256² PNG."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(body) as mem, mem.open() as img:
            assert img.driver == "PNG" and (img.width, img.height) == (256, 256)
            return np.moveaxis(img.read().astype(int), 0, -1)


def test_lidar_products_are_map_tiles_with_png_links(server: str) -> None:
    for cid in ("hillshade", "canopy_height"):
        _, _, body = get(f"{server}/collections/{cid}/tiles?f=json")
        items = [link["href"] for link in json.loads(body)["links"] if link["rel"] == "item"]
        assert items and all(h.endswith("/{tileMatrix}/{tileRow}/{tileCol}?f=png")
                             for h in items), items
        _, _, body = get(f"{server}/collections/{cid}/tiles/WebMercatorQuad/metadata?f=tilejson")
        assert json.loads(body)["tiles"][0].endswith("/{z}/{y}/{x}?f=png")


@pytest.mark.parametrize("z", [13, 16])
def test_hillshade_tiles_are_grey_relief(server: str, z: int) -> None:
    status, content_type, body = get(tile_url(server, "hillshade", z, "png")[0])
    assert status == 200 and content_type == "image/png"
    pixels = image(body)
    assert pixels.shape[-1] == 2  # grey + alpha
    grey, alpha = pixels[..., 0], pixels[..., 1]
    shown = grey[alpha == 255]
    assert shown.size > 500  # the 1 km sample district: ~60² px at z13, all of z16
    assert 60 < shown.mean() < 240 and shown.std() > 1  # lit relief, not black, not one value


@pytest.mark.parametrize("z", [13, 16])
def test_canopy_tiles_are_green_where_vegetation_and_clear_elsewhere(server: str, z: int) -> None:
    status, content_type, body = get(tile_url(server, "canopy_height", z, "png")[0])
    assert status == 200 and content_type == "image/png"
    rgba = image(body)
    assert rgba.shape[-1] == 4
    opaque, clear = rgba[..., 3] == 255, rgba[..., 3] == 0
    assert opaque.mean() > 0.01 and clear.mean() > 0.1  # trees and roofs shown, lawns not
    r, g, b = (rgba[..., k][opaque] for k in range(3))
    assert (g > r).all() and (g > b).all()  # the green ramp
    assert g.std() > 2  # heights differ: more than one colour


@pytest.mark.parametrize("cid", ["hillshade", "canopy_height"])
def test_lidar_tiles_outside_the_city_or_zooms_are_not_found(server: str, cid: str) -> None:
    lon, lat = 6.2, 50.6  # Eifel, 100 km away from the sample district
    t = TMS.tile(lon, lat, 16)
    far = server + TEMPLATE.format(cid=cid, z=16, y=t.y, x=t.x, f="png")
    for url in (far, tile_url(server, cid, 5, "png")[0]):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(url)
        assert err.value.code == 404, url
