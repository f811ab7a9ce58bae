"""The orthophoto as OGC API Tiles through the real server (gunicorn + pygeoapi), as base map."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml
from pyproj import Transformer

from geoportal.settings import Settings
from pipelines.imagery.webtiles import TMS

from .test_webtiles import decode

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
    assert tilejson["minzoom"] == 10 and tilejson["maxzoom"] == 21


@pytest.mark.parametrize(("z", "f"), [(12, "jpeg"), (13, "png"), (15, "jpeg"), (18, "png")])
def test_tiles_from_the_archive_and_rendered_on_demand(server: str, z: int, f: str) -> None:
    url, _ = tile_url(server, "orthophoto", z, f)
    status, content_type, body = get(url)
    assert status == 200 and content_type == "image/jpeg"
    pixels = decode(body)
    assert pixels.std() > 5  # a photo, not a blank tile


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


def test_pygeoapi_html_map_uses_the_orthophoto(server: str, portal: Settings) -> None:
    runtime = yaml.safe_load(Path(portal.data_dir / "pygeoapi-runtime.yml").read_text())
    template = runtime["server"]["map"]["url"]
    assert template.startswith(server)
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(*CENTRE)
    t = TMS.tile(lon, lat, 17)
    status, content_type, body = get(template.format(z=t.z, x=t.x, y=t.y))
    assert status == 200 and content_type == "image/jpeg" and decode(body).std() > 5
    _, _, page = get(f"{server}/collections/trees?f=html")
    assert "/collections/orthophoto/tiles/WebMercatorQuad/" in page.decode()
