"""What GIS clients need of the Tiles and Coverages answers (geoportal/app/interop.py,
geoportal/app/providers/coverage_grid.py): the rules alone, then against the server."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from affine import Affine
from pygeoapi.models.provider.base import TileMatrixSetEnum
from rasterio.io import MemoryFile

from geoportal.app.interop import accepted_media_ranges, negotiate, with_tms1_members
from geoportal.app.providers.coverage_grid import (
    Grid,
    Scaling,
    native_grid,
    parse_scaling,
    scaled_grid,
)
from geoportal.app.pygeoapi_patches import get_choice_from_headers
from geoportal.core import formats
from geoportal.core.errors import InvalidQueryError

JPEG, PNG, MVT = formats.get("jpeg"), formats.get("png"), formats.get("mvt")
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#: 1 km of 0.5 m cells, as the sample's terrain tile.
DATA = Grid(Affine(0.5, 0, 350_000, 0, -0.5, 5_686_000), 2000, 2000)


@pytest.mark.parametrize("accept, offered, chosen", [
    (None, [JPEG, PNG], JPEG),  # no Accept: the layer's default
    ("*/*", [MVT], MVT),
    ("image/png", [JPEG, PNG], PNG),
    ("image/*", [PNG, JPEG], PNG),
    ("image/png;q=0, */*", [PNG, JPEG], PNG),  # refused, but the default is refused no more
    ("image/png;q=0.5, image/jpeg", [PNG, JPEG], JPEG),  # by preference, not by order
    (BROWSER, [JPEG, PNG], JPEG),
    ("application/json", [MVT], MVT),  # nothing acceptable: the tile anyway, not a 406
])
def test_a_tile_format_is_negotiated_on_accept(accept, offered, chosen) -> None:
    assert negotiate(accept, offered) is chosen


def test_refused_media_ranges_are_left_out() -> None:
    assert accepted_media_ranges("image/png;q=0, image/jpeg;q=0.4, */*;q=0.5") == \
        ["*/*", "image/jpeg"]


def test_a_header_refusing_a_choice_is_no_server_error() -> None:
    """pygeoapi divided by the q value: ``Accept-Language: de;q=0`` was a 500."""
    headers = {"Accept-Language": "de;q=0, en;q=0.5, fr"}
    assert get_choice_from_headers(headers, "accept-language", all=True) == ["fr", "en"]
    assert get_choice_from_headers({"Accept": "text/html;q=0"}, "accept") is None


def test_the_tile_matrix_set_carries_the_names_gdal_3_6_reads() -> None:
    """GDAL ≤ 3.6 parses TMS 1.0: it needs identifier, supportedCRS and boundingBox in the
    document, and per matrix identifier and topLeftCorner; the 2.0 members stay."""
    web = TileMatrixSetEnum.WEBMERCATORQUAD.value
    tms = with_tms1_members({"id": web.tileMatrixSet, "crs": web.crs,
                             "tileMatrices": web.tileMatrices})
    assert (tms["identifier"], tms["supportedCRS"]) == ("WebMercatorQuad", web.crs)
    assert tms["boundingBox"]["lowerLeft"] == pytest.approx([-20037508.3427892] * 2)
    assert tms["boundingBox"]["upperRight"] == pytest.approx([20037508.3427892] * 2)
    for matrix in tms["tileMatrices"]:
        assert matrix["identifier"] == matrix["id"]
        assert matrix["topLeftCorner"] == matrix["pointOfOrigin"]
    assert "pointOfOrigin" in tms["tileMatrices"][0] and tms["crs"] == web.crs


def test_a_window_is_snapped_to_whole_cells_and_cut_to_the_data() -> None:
    grid = native_grid((349_000.0, 5_685_900.2, 350_010.1, 5_686_500.0), DATA)
    assert (grid.width, grid.height) == (21, 200)  # 350000–350010.5, 5685900–5686000
    assert grid.bounds == pytest.approx((350_000, 5_685_900, 350_010.5, 5_686_000))
    assert grid.centres()[0] == pytest.approx((350_000.25, 350_010.25))


def test_a_sized_window_is_exactly_the_window_asked_for() -> None:
    """A tiling client asks for whole blocks, also across the data's edge."""
    window = (350_872.0, 5_685_872.0, 351_000.0 + 64, 5_686_000.0)
    grid = scaled_grid(window, DATA, Scaling(size=(256, 256)))
    assert grid.bounds == pytest.approx(window) and (grid.width, grid.height) == (256, 256)
    halved = scaled_grid((350_000.0, 5_685_000.0, 350_100.0, 5_685_100.0), DATA,
                         Scaling(factors=(2.0, 4.0)))
    assert (halved.width, halved.height, halved.transform.a) == (100, 50, 1.0)


@pytest.mark.parametrize("params, says", [
    ({"scale-factor": "0"}, "not a positive number"),
    ({"scale-factor": "2", "scale-size": "x(10)"}, "exclude each other"),
    ({"scale-size": "Lat(10),Long(10)"}, "axes are x and y"),
    ({"scale-size": "x(ten)"}, "not a number of cells"),
    ({"scale-axes": "x:2"}, "axis(number)"),
])
def test_a_malformed_scaling_is_refused_with_the_right_form(params, says) -> None:
    with pytest.raises(InvalidQueryError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_scaling(params, ("x", "y"))


def test_gdal_s_draft_spelling_of_scale_size_is_understood() -> None:
    assert parse_scaling({"scaleSize": "x(256),y(128)"}, ("x", "y")) == \
        Scaling(size=(256, 128))


# ---------------------------------------------------------------------------------------------
# Against the server


@pytest.mark.server
def test_an_explicit_tile_format_the_layer_lacks_is_a_400(server: str) -> None:
    """A vector tile was sent, labelled as one, for f=png."""
    answer = requests.get(f"{server}/collections/parcels/tiles/WebMercatorQuad/15/0/0?f=png",
                          timeout=30)
    assert answer.status_code == 400 and "f=mvt" in answer.json()["description"]


@pytest.mark.server
def test_map_tiles_come_in_the_format_accept_asks_for(server: str) -> None:
    import morecantile

    tile = morecantile.tms.get("WebMercatorQuad").tile(6.855, 51.301, 15)
    url = f"{server}/collections/orthophoto/tiles/WebMercatorQuad/15/{tile.y}/{tile.x}"
    png = requests.get(url, headers={"Accept": "image/png"}, timeout=30)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG") and png.headers["Vary"] == "Accept"
    default = requests.get(url, headers={"Accept": BROWSER}, timeout=30)
    assert default.headers["Content-Type"] == "image/jpeg"


@pytest.mark.server
def test_a_refused_language_is_no_server_error(server: str) -> None:
    answer = requests.get(f"{server}/collections", timeout=30,
                          headers={"Accept-Language": "de;q=0, en", "Accept": "text/html;q=0"})
    assert answer.status_code == 200


@pytest.mark.server
def test_a_sized_coverage_block_across_the_edge_is_the_block_asked_for(server: str) -> None:
    """GDAL asks for 256 × 256 blocks; the last ones reach beyond the data (no-data there)."""
    answer = requests.get(f"{server}/collections/terrain_dtm/coverage", timeout=60, params={
        "f": "GTiff", "subset": "x(350872:351000),y(5685000:5685128)",
        "scale-size": "x(512),y(256)"})  # twice as wide as the data has cells: 0.25 m
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as cut:
        assert cut.shape == (256, 512) and cut.transform.a == pytest.approx(0.25)
        assert (cut.transform.c, cut.transform.f) == (350_872, 5_685_128)
        assert cut.crs.to_epsg() == 25832 and np.isfinite(cut.read(1)).all()
    beyond = requests.get(f"{server}/collections/terrain_dtm/coverage", timeout=60, params={
        "f": "GTiff", "subset": "x(350900:351028),y(5685000:5685128)",
        "scaleSize": "x(256),y(256)"})
    with MemoryFile(beyond.content) as mem, mem.open() as cut:
        cells = cut.read(1)
        assert (cells[:, -56:] == cut.nodata).all() and (cells[:, :200] != cut.nodata).all()
    wrong = requests.get(f"{server}/collections/terrain_dtm/coverage", timeout=60, params={
        "subset": "x(350900:351000),y(5685000:5685100)", "scale-factor": "-1"})
    assert wrong.status_code == 400 and "positive number" in wrong.json()["description"]


@pytest.mark.server
def test_the_domain_set_is_only_a_coverage_s(server: str) -> None:
    grid = requests.get(f"{server}/collections/terrain_dtm/coverage/domainset", timeout=30)
    assert grid.json()["generalGrid"]["srsName"].endswith("/EPSG/0/25832")
    none = requests.get(f"{server}/collections/trees/coverage/domainset", timeout=30)
    assert none.status_code == 404 and "no coverage" in none.json()["description"]
