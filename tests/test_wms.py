"""WMS 1.3.0 and WMTS 1.0.0 (geoportal/app/ows) as GIS clients use them, on the real server.

The server under gunicorn (``tests/conftest.py``'s ``server``) answers ``/wms``, ``/wmts`` and
``/ows`` itself (MapProxy in front of MapServer). Checked as a user would notice:

- the capabilities documents are valid against the OGC schemas (offline, the XSDs MapProxy
  ships) and offer every map layer of the registry;
- GetMap draws the orthophoto and the hillshade as the published COGs hold them, in EPSG:25832,
  EPSG:3857 and EPSG:4326 with WMS 1.3.0's latitude-first axis order; WMTS tiles in both tile
  matrix sets too, and Web Mercator tiles like the OGC API tiles of the same square;
- GetFeatureInfo on vector layers answers the clicked feature's attributes (JSON, HTML, GML),
  and nothing else: no field outside the schema, no personal field;
- OWSLib and GDAL (Debian gdal-bin: ``WMS:`` and ``WMTS:`` drivers) read both services.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import morecantile
import numpy as np
import pyogrio
import pytest
import rasterio
import requests
from lxml import etree
from testkit import missing
from testkit.ogc import (
    SLD_110,
    WMS_130,
    WMTS_100,
    decode_rgba,
    expected_image,
    mean_difference,
    schema_errors,
)

from geoportal.core.privacy import is_personal_field
from geoportal.core.publish import read_metadata
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

REGISTRY = load_registry(PROJECT_ROOT / "datasets")
#: The map layers: raster tiles, or features with a geometry (terrain coverages are data).
MAP_LAYERS = {d.id for d in REGISTRY
              if d.serve.tiles == "raster" or (d.serve.features and d.schema_ is not None)}
VECTOR_CLICKS = ("parcels", "trees", "public_toilets", "commercial_spaces")
RASTERS = {"orthophoto": "mosaic.vrt", "hillshade": "hillshade.vrt"}
#: The AdV's WMTS tile matrix set DE_EPSG_25832_ADV: top left corner, level-0 pixel size.
ADV_ORIGIN = (-46133.17, 6301219.54)
ADV_RES0 = 4891.969810251271
MERCATOR = morecantile.tms.get("WebMercatorQuad")
WMS_NS = {"wms": "http://www.opengis.net/wms"}
#: How far a served image may differ from the COG drawn by rasterio (mean over the image, in
#: 8-bit levels): resampling and JPEG differ a little; a shift, flip or swapped axis is 10-20.
CLOSE = 2.5
TIMEOUT = 60


@pytest.fixture(autouse=True)
def mapserver(request: pytest.FixtureRequest) -> None:
    """The live tests need Debian's mapserver-bin (scripts/install-system-deps.sh)."""
    if "server" in request.fixturenames and shutil.which("mapserv") is None:
        missing("mapserv (Debian mapserver-bin) is not installed; scripts/install-system-deps.sh")


def mosaic(portal: Settings, layer: str) -> Path:
    return portal.published_dir / layer / RASTERS[layer]


def centre(portal: Settings, layer: str) -> tuple[float, float]:
    """The middle of a built layer in EPSG:25832."""
    metadata = read_metadata(portal.published_dir, layer)
    assert metadata is not None and metadata.bbox_native
    x0, y0, x1, y1 = metadata.bbox_native
    return (x0 + x1) / 2, (y0 + y1) / 2


def to_crs(crs: str, x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:25832", crs, always_xy=True).transform(x, y)


def getmap(server: str, layer: str, crs: str, bbox: tuple[float, ...], size: int = 100,
           fmt: str = "image/png") -> np.ndarray:
    """A WMS 1.3.0 GetMap; ``bbox`` in the CRS's own axis order, as the standard says."""
    answer = requests.get(f"{server}/wms", timeout=TIMEOUT, params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer,
        "STYLES": "", "CRS": crs, "BBOX": ",".join(f"{v:.8f}" for v in bbox),
        "WIDTH": size, "HEIGHT": size, "FORMAT": fmt})
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["Content-Type"].startswith(fmt), answer.text[:500]
    return decode_rgba(answer.content)


# ---------------------------------------------------------------------------------------------
# Capabilities


def test_wms_capabilities_are_valid_and_offer_every_map_layer(server: str) -> None:
    answer = requests.get(f"{server}/wms", timeout=TIMEOUT, params={
        "SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"})
    assert answer.status_code == 200
    assert schema_errors(answer.content, WMS_130, SLD_110) == []
    doc = etree.fromstring(answer.content)
    names = {n.text for n in doc.iterfind(".//wms:Layer/wms:Name", WMS_NS)}
    assert names >= MAP_LAYERS, MAP_LAYERS - names
    layer = doc.find(".//wms:Layer[wms:Name='parcels']", WMS_NS)
    assert layer is not None and layer.get("queryable") == "1"
    assert layer.findtext("wms:Title", namespaces=WMS_NS) == \
        next(d for d in REGISTRY if d.id == "parcels").title.de
    crss = {c.text for c in doc.iterfind(".//wms:Capability/wms:Layer/wms:CRS", WMS_NS)}
    assert {"EPSG:25832", "EPSG:3857", "EPSG:4326", "CRS:84"} <= crss
    formats = {f.text for f in doc.iterfind(".//wms:GetFeatureInfo/wms:Format", WMS_NS)}
    assert {"application/json", "text/html", "text/xml"} <= formats


@pytest.mark.parametrize("path", ["/wmts/1.0.0/WMTSCapabilities.xml",
                                  "/ows?SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0",
                                  "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"])
def test_wmts_capabilities_are_valid_with_both_tile_matrix_sets(server: str, path: str) -> None:
    answer = requests.get(server + path, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert schema_errors(answer.content, WMTS_100) == []
    ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
    doc = etree.fromstring(answer.content)
    layers = {n.text for n in doc.iterfind("w:Contents/w:Layer/ows:Identifier", ns)}
    assert layers >= MAP_LAYERS, MAP_LAYERS - layers
    sets = {n.text for n in doc.iterfind("w:Contents/w:TileMatrixSet/ows:Identifier", ns)}
    assert {"WebMercatorQuad", "DE_EPSG_25832_ADV"} <= sets


# ---------------------------------------------------------------------------------------------
# GetMap and GetTile against the COGs


@pytest.mark.parametrize("layer", sorted(RASTERS))
@pytest.mark.parametrize("crs", ["EPSG:25832", "EPSG:3857", "EPSG:4326"])
def test_getmap_draws_the_cog(server: str, portal: Settings, layer: str, crs: str) -> None:
    """A 100 px image of a 200 m square at the layer's middle is the COG there; upside down or
    with lon/lat swapped (EPSG:4326 in WMS 1.3.0 is latitude first) it would not be."""
    x, y = centre(portal, layer)
    lo, hi = to_crs(crs, x - 100, y - 100), to_crs(crs, x + 100, y + 100)
    xy_box = (lo[0], lo[1], hi[0], hi[1])
    wms_box = (lo[1], lo[0], hi[1], hi[0]) if crs == "EPSG:4326" else xy_box
    served = getmap(server, layer, crs, wms_box)
    expected = expected_image(mosaic(portal, layer), crs, xy_box, 100, 100)
    assert mean_difference(served, expected) < CLOSE
    if expected.std() > 5:  # a flat hillshade looks the same upside down
        assert mean_difference(served[::-1], expected) > 2 * CLOSE
    # one pixel at a known coordinate: the middle of the image is the COG's value there
    with rasterio.open(mosaic(portal, layer)) as src:
        value = next(src.sample([(x, y)]))
    assert np.abs(served[49:51, 49:51, :len(value[:3])].mean(axis=(0, 1)) - value[:3]).max() < 12


def test_wms_image_is_transparent_outside_the_data_when_asked(server: str,
                                                             portal: Settings) -> None:
    x, y = centre(portal, "orthophoto")
    answer = requests.get(f"{server}/wms", timeout=TIMEOUT, params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "orthophoto",
        "STYLES": "", "CRS": "EPSG:25832", "BBOX": f"{x + 5000},{y},{x + 5200},{y + 200}",
        "WIDTH": 50, "HEIGHT": 50, "FORMAT": "image/png", "TRANSPARENT": "TRUE"})
    assert answer.status_code == 200
    assert decode_rgba(answer.content)[..., 3].max() == 0


def test_wmts_tiles_are_the_cog_in_both_tile_matrix_sets(server: str, portal: Settings) -> None:
    x, y = centre(portal, "orthophoto")
    level = 14  # 0.30 m pixels, 76 m tiles
    res = ADV_RES0 / 2 ** level
    col = math.floor((x - ADV_ORIGIN[0]) / (256 * res))
    row = math.floor((ADV_ORIGIN[1] - y) / (256 * res))
    tile = requests.get(f"{server}/wmts/orthophoto/DE_EPSG_25832_ADV/{level:02d}/{col}/{row}.jpeg",
                        timeout=TIMEOUT)
    assert tile.status_code == 200 and tile.headers["Content-Type"] == "image/jpeg"
    left, top = ADV_ORIGIN[0] + col * 256 * res, ADV_ORIGIN[1] - row * 256 * res
    box = (left, top - 256 * res, left + 256 * res, top)
    expected = expected_image(mosaic(portal, "orthophoto"), "EPSG:25832", box, 256, 256)
    assert mean_difference(decode_rgba(tile.content), expected) < 2 * CLOSE

    lon, lat = to_crs("EPSG:4326", x, y)
    t = MERCATOR.tile(lon, lat, 16)
    wmts = requests.get(f"{server}/wmts/orthophoto/WebMercatorQuad/{t.z}/{t.x}/{t.y}.jpeg",
                        timeout=TIMEOUT)
    ogcapi = requests.get(f"{server}/collections/orthophoto/tiles/WebMercatorQuad/"
                          f"{t.z}/{t.y}/{t.x}?f=jpeg", timeout=TIMEOUT)
    assert wmts.status_code == ogcapi.status_code == 200
    b = MERCATOR.xy_bounds(t)
    expected = expected_image(mosaic(portal, "orthophoto"), "EPSG:3857",
                              (b.left, b.bottom, b.right, b.top), 256, 256)
    assert mean_difference(decode_rgba(wmts.content), expected) < 2 * CLOSE
    same = mean_difference(decode_rgba(wmts.content), decode_rgba(ogcapi.content)[..., :3])
    assert same < 2 * CLOSE, "the WMTS tile and the OGC API tile of one square differ"


def stored_tile(portal: Settings, layer: str, z: int, x: int, y: int) -> Path:
    """Where MapProxy keeps a Web Mercator WMTS tile (its ``tc`` layout, 3-digit groups)."""
    def groups(n: int) -> str:
        return f"{n // 1_000_000:03d}/{n // 1000 % 1000:03d}/{n % 1000:03d}"

    return (portal.tiles_dir / "_ows" / f"{layer}_tiles_EPSG3857" / f"{z:02d}" / groups(x)
            / f"{groups(y)}.jpeg")


def test_a_stored_wmts_tile_older_than_the_published_layer_is_drawn_again(
        server: str, portal: Settings) -> None:
    """WMTS tiles are stored; one older than the layer's published version (a rebuild) is drawn
    again from the new files, a current one is served from the store."""
    x, y = centre(portal, "orthophoto")
    t = MERCATOR.tile(*to_crs("EPSG:4326", x, y), 17)
    url = f"{server}/wmts/orthophoto/WebMercatorQuad/{t.z}/{t.x}/{t.y}.jpeg"
    first = requests.get(url, timeout=TIMEOUT)
    assert first.status_code == 200
    stored = stored_tile(portal, "orthophoto", t.z, t.x, t.y)
    assert stored.is_file()
    black = _black_jpeg()
    stored.write_bytes(black)  # now: current, so the store answers
    assert requests.get(url, timeout=TIMEOUT).content == black
    published = (portal.published_dir / "orthophoto" / "metadata.json").stat().st_mtime
    os.utime(stored, (published - 60, published - 60))  # drawn before the version was published
    again = requests.get(url, timeout=TIMEOUT)
    assert again.content != black
    assert mean_difference(decode_rgba(again.content), decode_rgba(first.content)[..., :3]) < 1


def _black_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (256, 256)).save(out, "JPEG")
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# GetFeatureInfo


def a_feature(portal: Settings, layer: str) -> tuple[dict[str, object], tuple[float, float]]:
    """A feature of the published layer and a point on it (EPSG:25832)."""
    frame = pyogrio.read_dataframe(portal.published_dir / layer / f"{layer}.gpkg", max_features=40)
    row = frame.iloc[len(frame) // 2]
    point = row.geometry.representative_point()
    return row.drop("geometry").to_dict(), (point.x, point.y)


def getfeatureinfo(server: str, layer: str, x: float, y: float, info_format: str,
                   crs: str = "EPSG:25832") -> requests.Response:
    """A click in the middle pixel of a 101 px image of a 101 m square around (x, y)."""
    lo, hi = to_crs(crs, x - 50.5, y - 50.5), to_crs(crs, x + 50.5, y + 50.5)
    box = (lo[1], lo[0], hi[1], hi[0]) if crs == "EPSG:4326" else (lo[0], lo[1], hi[0], hi[1])
    return requests.get(f"{server}/wms", timeout=TIMEOUT, params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": layer,
        "QUERY_LAYERS": layer, "STYLES": "", "CRS": crs, "FORMAT": "image/png",
        "BBOX": ",".join(f"{v:.8f}" for v in box), "WIDTH": 101, "HEIGHT": 101,
        "I": 50, "J": 50, "INFO_FORMAT": info_format, "FEATURE_COUNT": 1})


@pytest.mark.parametrize("layer", VECTOR_CLICKS)
def test_getfeatureinfo_answers_the_clicked_features_attributes(server: str, portal: Settings,
                                                                layer: str) -> None:
    dataset = next(d for d in REGISTRY if d.id == layer)
    schema = dataset.schema
    attributes, (x, y) = a_feature(portal, layer)
    answer = getfeatureinfo(server, layer, x, y, "application/json")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(
        "application/json"), answer.text[:300]
    features = answer.json()["features"]
    ids = [f["properties"][schema.id_field] for f in features]
    assert attributes[schema.id_field] in ids, (attributes[schema.id_field], ids)
    for feature in features:
        names = set(feature["properties"])
        assert names <= {p.name for p in schema.properties}, "a field outside the schema"
        assert not [n for n in names if is_personal_field(n)]
    html = getfeatureinfo(server, layer, x, y, "text/html")
    assert html.headers["Content-Type"].startswith("text/html")
    assert str(attributes[schema.id_field]) in html.text
    assert schema.properties[0].title.de in html.text  # the field's German title, not its name


def test_getfeatureinfo_in_wgs84_is_latitude_first(server: str, portal: Settings) -> None:
    attributes, (x, y) = a_feature(portal, "parcels")
    answer = getfeatureinfo(server, "parcels", x, y, "text/xml", crs="EPSG:4326")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    assert str(attributes["parcel_id"]) in answer.text


def test_no_featureinfo_on_a_photo(server: str, portal: Settings) -> None:
    x, y = centre(portal, "orthophoto")
    answer = getfeatureinfo(server, "orthophoto", x, y, "application/json")
    assert "ServiceException" in answer.text and "orthophoto" in answer.text


# ---------------------------------------------------------------------------------------------
# OWSLib and GDAL


def test_owslib_reads_the_wms_and_the_wmts(server: str, portal: Settings) -> None:
    from owslib.wms import WebMapService
    from owslib.wmts import WebMapTileService

    wms = WebMapService(f"{server}/wms", version="1.3.0", timeout=TIMEOUT)
    assert set(wms.contents) >= MAP_LAYERS
    assert "EPSG:25832" in wms["orthophoto"].crsOptions
    x, y = centre(portal, "orthophoto")
    box = (x - 100, y - 100, x + 100, y + 100)
    image = wms.getmap(layers=["orthophoto"], styles=[""], srs="EPSG:25832", bbox=box,
                       size=(100, 100), format="image/png")
    expected = expected_image(mosaic(portal, "orthophoto"), "EPSG:25832", box, 100, 100)
    assert mean_difference(decode_rgba(image.read()), expected) < CLOSE

    wmts = WebMapTileService(f"{server}/wmts/1.0.0/WMTSCapabilities.xml", timeout=TIMEOUT)
    assert {"WebMercatorQuad", "DE_EPSG_25832_ADV"} <= set(wmts.tilematrixsets)
    lon, lat = to_crs("EPSG:4326", x, y)
    t = MERCATOR.tile(lon, lat, 16)
    tile = wmts.gettile(layer="orthophoto", tilematrixset="WebMercatorQuad", tilematrix="16",
                        row=t.y, column=t.x, format="image/jpeg")
    b = MERCATOR.xy_bounds(t)
    expected = expected_image(mosaic(portal, "orthophoto"), "EPSG:3857",
                              (b.left, b.bottom, b.right, b.top), 256, 256)
    assert mean_difference(decode_rgba(tile.read()), expected) < 2 * CLOSE


def gdal(command: list[str], portal: Settings) -> str:
    """A Debian GDAL command (its WMS cache goes into the test's data folder)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=portal.data_dir, env={**os.environ, "GDAL_HTTP_TIMEOUT": "30"})
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("service", ["WMS", "WMTS"])
def test_gdal_reads_the_orthophoto(server: str, portal: Settings, gdal_tools: str,
                                   service: str, tmp_path: Path) -> None:
    """gdal_translate cuts a 200 m window at 2 m from the service, as QGIS does through GDAL;
    the GeoTIFF is the COG's window (a WMS GetMap URL in EPSG:25832, the AdV WMTS grid)."""
    x, y = centre(portal, "orthophoto")
    x0, y0 = x - 100, y - 100
    if service == "WMS":
        source = (f"WMS:{server}/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap"
                  f"&LAYERS=orthophoto&CRS=EPSG:25832&BBOX=349000,5684000,352000,5687000"
                  f"&FORMAT=image/png")
        listing = gdal(["gdalinfo", f"WMS:{server}/wms?SERVICE=WMS&VERSION=1.3.0"
                        "&REQUEST=GetCapabilities"], portal)
        assert "LAYERS=parcels" in listing and "LAYERS=orthophoto" in listing
    else:
        source = (f"WMTS:{server}/wmts/1.0.0/WMTSCapabilities.xml,layer=orthophoto,"
                  "tilematrixset=DE_EPSG_25832_ADV")
        info = json.loads(gdal(["gdalinfo", "-json", source], portal))
        assert "25832" in json.dumps(info["coordinateSystem"])
    out = tmp_path / "window.tif"
    gdal(["gdal_translate", "-q", "-projwin", str(x0), str(y0 + 200), str(x0 + 200), str(y0),
          "-outsize", "100", "100", "-r", "bilinear", source, str(out)], portal)
    with rasterio.open(out) as got:
        assert got.crs.to_epsg() == 25832
        assert got.bounds.left == pytest.approx(x0, abs=2)
        assert got.bounds.top == pytest.approx(y0 + 200, abs=2)
        served = np.moveaxis(got.read(), 0, -1)
    expected = expected_image(mosaic(portal, "orthophoto"), "EPSG:25832",
                              (x0, y0, x0 + 200, y0 + 200), 100, 100)
    # through WMTS, GDAL resamples JPEG tiles of the nearest level (1.19 m) once more
    limit = 2 * CLOSE if service == "WMS" else 3 * CLOSE
    assert mean_difference(served, expected) < limit
    assert mean_difference(served[::-1], expected) > 2 * limit


# ---------------------------------------------------------------------------------------------
# Legends (GetLegendGraphic)


def legend_colours(png: bytes) -> set[tuple[int, int, int]]:
    rgba = decode_rgba(png)
    opaque = rgba[..., 3] == 255
    return {tuple(int(v) for v in px) for px in rgba[opaque][:, :3]}


def getlegend(server: str, layer: str) -> requests.Response:
    return requests.get(f"{server}/wms", timeout=TIMEOUT, params={
        "SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "VERSION": "1.3.0",
        "FORMAT": "image/png", "SLD_VERSION": "1.1.0", "LAYER": layer})


def test_every_map_layer_lists_a_legend_that_answers(server: str) -> None:
    answer = requests.get(f"{server}/wms", timeout=TIMEOUT, params={
        "SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"})
    doc = etree.fromstring(answer.content)
    xlink = "{http://www.w3.org/1999/xlink}href"
    for name in sorted(MAP_LAYERS):
        layer = doc.find(f".//wms:Layer[wms:Name='{name}']", WMS_NS)
        resource = layer.find("wms:Style/wms:LegendURL/wms:OnlineResource", WMS_NS)
        assert resource is not None, f"{name}: no LegendURL"
        png = requests.get(resource.get(xlink), timeout=TIMEOUT)
        assert png.status_code == 200 and png.headers["Content-Type"] == "image/png", name
        assert len(legend_colours(png.content)) > 2, f"{name}: a blank legend"


def test_the_legend_shows_the_classes_the_web_map_draws(server: str) -> None:
    """The trees are coloured by whether the laser scan found them: each class colour of the
    YAML's style is in the WMS legend, as in the web map's."""
    trees = next(d for d in REGISTRY if d.id == "trees")
    colours = legend_colours(getlegend(server, "trees").content)
    for entry in trees.style.classes:
        rgb = tuple(int(entry.colour[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"{entry.label.de} ({entry.colour}) is not in the legend"


def test_the_canopy_legend_is_the_tiles_colour_ramp(server: str) -> None:
    from pipelines.imagery.webtiles import CANOPY_STOPS

    colours = legend_colours(getlegend(server, "canopy_height").content)
    for _, rgb in (CANOPY_STOPS[0], CANOPY_STOPS[-1]):
        assert min(sum(abs(a - b) for a, b in zip(rgb, c, strict=True)) for c in colours) <= 6


def test_wmts_clients_find_the_legend_too(server: str) -> None:
    answer = requests.get(f"{server}/wmts/1.0.0/WMTSCapabilities.xml", timeout=TIMEOUT)
    ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
    doc = etree.fromstring(answer.content)
    layer = doc.find("w:Contents/w:Layer[ows:Identifier='parcels']", ns)
    url = layer.find("w:Style/w:LegendURL", ns).get("{http://www.w3.org/1999/xlink}href")
    png = requests.get(url, timeout=TIMEOUT)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.content == getlegend(server, "parcels").content


# ---------------------------------------------------------------------------------------------
# Without MapServer


def test_without_mapserver_the_services_say_why() -> None:
    """A server without Debian's mapserver-bin serves everything else and answers the OWS paths
    with a 503 that names the package (no stack trace, no 404 that looks like a typo)."""
    from werkzeug.test import Client

    from geoportal.app.ows import with_ows

    def rest(environ: dict, start_response: object) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b"pygeoapi"]

    client = Client(with_ows(rest, None))
    answer = client.get("/wms?SERVICE=WMS&REQUEST=GetCapabilities")
    assert answer.status_code == 503 and b"mapserver-bin" in answer.data
    assert client.get("/collections").data == b"pygeoapi"
    assert client.get("/wmsx").data == b"pygeoapi"



# ---------------------------------------------------------------------------------------------
# Wrong requests


GETMAP = ("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=orthophoto&STYLES=&CRS=EPSG:25832"
          "&WIDTH=100&HEIGHT=100&FORMAT=image/png")
BOX = "&BBOX=350200,5685200,350400,5685400"
CLICK = ("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=parcels&STYLES="
         "&QUERY_LAYERS=parcels&CRS=EPSG:25832&WIDTH=100&HEIGHT=100&FORMAT=image/png&I=5&J=5"
         + BOX)
TILE = "/ows?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=orthophoto&STYLE=default" \
       "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=14&FORMAT=image/jpeg"
WRONG = {
    "bbox with three numbers": GETMAP + "&BBOX=350200,5685200,350400",
    "reversed bbox": GETMAP + "&BBOX=350400,5685200,350200,5685400",
    "bbox not numbers": GETMAP + "&BBOX=a,b,c,d",
    "unknown layer": GETMAP.replace("orthophoto", "nope") + BOX,
    "unknown crs": GETMAP.replace("EPSG:25832", "EPSG:9999") + BOX,
    "image too large": GETMAP.replace("WIDTH=100", "WIDTH=100000") + BOX,
    "negative width": GETMAP.replace("WIDTH=100", "WIDTH=-5") + BOX,
    "unknown format": GETMAP.replace("image/png", "image/gif") + BOX,
    "bad colour": GETMAP + BOX + "&BGCOLOR=zzz",
    "unknown style": GETMAP.replace("STYLES=", "STYLES=foo") + BOX,
    "unknown request": "/wms?SERVICE=WMS&REQUEST=Foo",
    "info on a photo": CLICK.replace("parcels", "orthophoto"),
    "unoffered info format": CLICK + "&INFO_FORMAT=image/png",
    "two info formats": CLICK + "&INFO_FORMAT=application/json&INFO_FORMAT=text/html",
    "click not a number": CLICK.replace("I=5", "I=x") + "&INFO_FORMAT=application/json",
    "tile row not a number": TILE + "&TILEROW=x&TILECOL=1",
    "tile outside the matrix": TILE + "&TILEROW=99999999&TILECOL=1",
    "tile without a column": TILE + "&TILEROW=1",
    "unknown tile matrix set": "/wmts/orthophoto/NOPE/10/0/0.jpeg",
    "negative tile index": "/wmts/orthophoto/WebMercatorQuad/14/-1/5.jpeg",
    "tile index not a number": "/wmts/orthophoto/WebMercatorQuad/14/abc/5.jpeg",
    "tile format the layer lacks": "/wmts/orthophoto/WebMercatorQuad/14/1/5.png",
    "no tile in the path": "/wmts/orthophoto",
}


@pytest.mark.parametrize("path", WRONG.values(), ids=WRONG.keys())
def test_a_wrong_request_is_a_400_that_says_why(server: str, portal: Settings,
                                                path: str) -> None:
    answer = requests.get(server + path, timeout=TIMEOUT)
    assert answer.status_code == 400, answer.text[:300]
    assert "Exception" in answer.text and len(answer.text) < 5000
    for secret in (str(portal.data_dir), str(PROJECT_ROOT), "mapserv", "Traceback"):
        assert secret not in answer.text


def test_a_renderer_failure_is_a_502_without_server_paths() -> None:
    """MapProxy reports a failed MapServer run with its command line; the client gets a 502
    (the request was fine) and no path (a fault the live server cannot be made to have)."""
    from werkzeug.test import Client

    from geoportal.app.ows.answers import client_errors

    def failing(environ: dict, start_response: object) -> list[bytes]:
        start_response("500 INTERNAL SERVER ERROR",  # type: ignore[operator]
                       [("Content-Type", "text/xml")])
        return [b"<ServiceExceptionReport><ServiceException>Could not get any sources:\n"
                b"no image returned from source WMS: http://localhost/?map=/srv/portal/ows/"
                b"mapserver.map&LAYERS=parcels</ServiceException></ServiceExceptionReport>"]

    answer = Client(client_errors(failing)).get("/wms?REQUEST=GetMap")
    assert answer.status_code == 502
    assert b"/srv" not in answer.data and b"renderer failed" in answer.data
