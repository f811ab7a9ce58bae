"""Requests a user can get wrong answer 4xx with a message that says what, never a 500.

Against the real server (pygeoapi under gunicorn, the built sample city), one or more requests per
kind of provider: features (GeoPackage), map tiles (ours), vector tiles (pygeoapi's), coverages.
Each passes through :mod:`geoportal.app.providers.errors` or a fix in
:mod:`geoportal.app.pygeoapi_patches`; before them, the ones marked so below were 500s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from pygeoapi.provider.base import ProviderInvalidQueryError
from rasterio.transform import from_origin

from geoportal.app.providers.coverage import MAX_CELLS, CoverageProvider
from geoportal.core.settings import Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

FEATURES = "/collections/schools/items"
MAP_TILES = "/collections/orthophoto/tiles"
VECTOR_TILES = "/collections/buildings/tiles"
COVERAGE = "/collections/terrain_dtm/coverage"


def answer(server: str, path: str) -> tuple[int, dict]:
    response = requests.get(server + path, timeout=60)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.status_code, response.json()


@pytest.mark.parametrize("path,status,says", [
    (f"{FEATURES}/does-not-exist", 404, "no feature 'does-not-exist'"),
    (f"{FEATURES}?filter=name%20%3D%3D%3D%20", 400, "invalid CQL2 text"),
    (f"{FEATURES}?filter=nope%20%3D%201", 400, "unknown property 'nope' in filter"),
    (f"{FEATURES}?filter=name%20%3D%201", 400, "type mismatch in filter"),
    (f"{FEATURES}?pupils=many", 400, "invalid value 'many' for property 'pupils'"),
    (f"{FEATURES}?bbox=1,2,3", 400, "bbox should be either 4 values"),
    (f"{FEATURES}?bbox=a,b,c,d", 400, "bbox values must be numbers"),
    # were 200s with every feature: pygeoapi ignores both on a collection without time
    (f"{FEATURES}?datetime=garbage", 400, "datetime 'garbage' is not an RFC 3339"),
    (f"{FEATURES}?datetime=2024-01-01/2024-02-01/..", 400, "is not an RFC 3339"),
    (f"{FEATURES}?skipGeometry=maybe", 400, "skipGeometry is true or false, not 'maybe'"),
    # was a 500 (IndexError in pygeoapi's tile limits check)
    (f"{MAP_TILES}/WebMercatorQuad/30/0/0?f=png", 404, "no map tiles at zoom 30"),
    (f"{MAP_TILES}/WebMercatorQuad/abc/0/0?f=png", 404, "zoom, row and column are integers"),
    # was 404 with an empty message, labelled image/jpeg
    (f"{MAP_TILES}/Nope/10/0/0?f=png", 404, "no tile matrix set 'Nope'"),
    (f"{MAP_TILES}/WebMercatorQuad/1/0/0?f=gif", 400, "map tiles come as f=jpeg or f=png"),
    # was a 500 with the right message
    (f"{COVERAGE}?bbox=1,2,3", 400, "bbox should be either 4 values"),
    # were 400s saying "Invalid subset: 'NoneType' object has no attribute 'group'"
    (f"{COVERAGE}?subset=foo", 400, "subset 'foo' is not axis(low:high)"),
    (f"{COVERAGE}?subset=", 400, "subset '' is not axis(low:high)"),
    (f"{COVERAGE}?subset=x(", 400, "subset 'x(' is not axis(low:high)"),
    # were 500s: six numbers unpacked into four, a box beside the data, bbox-crs not a number
    (f"{COVERAGE}?bbox=1,2,3,4,5,6", 400, "a coverage is 2D"),
    (f"{COVERAGE}?bbox=0,0,1,1", 400, "lies outside the coverage"),
    (f"{COVERAGE}?bbox=0,0,0,0", 400, "is empty"),
    (f"{COVERAGE}?bbox=6.86,51.30,6.87,51.31&bbox-crs=EPSG:99999", 400, "is not a known CRS"),
    (f"{COVERAGE}?bbox=6.86,51.30,6.87,51.31&bbox-crs=nonsense", 400, "expected a CRS URI"),
    # an unknown tile matrix set: was a 500 (vector tiles), 200 (map tiles), 204 (a vector tile)
    (f"{VECTOR_TILES}/NoSuchTMS", 404, "no tile matrix set 'NoSuchTMS'"),
    (f"{MAP_TILES}/NoSuchTMS", 404, "no tile matrix set 'NoSuchTMS'"),
    (f"{VECTOR_TILES}/NoSuchTMS/15/1/1?f=mvt", 404, "no tile matrix set 'NoSuchTMS'"),
    # was a 400 "could not find this tilematrixset"
    ("/TileMatrixSets/NoSuchTMS", 404, "no tile matrix set 'NoSuchTMS': this server defines"),
])
def test_a_bad_request_is_a_client_error_with_a_message(server: str, path: str, status: int,
                                                        says: str) -> None:
    got, body = answer(server, path)
    assert (got, body["code"] in {"InvalidParameterValue", "NotFound"}) == (status, True), body
    assert says in body["description"]


def test_vector_tiles_beyond_the_tile_matrix_set_are_not_found(server: str) -> None:
    """pygeoapi's tippecanoe provider: was a 500 (IndexError); its own plain "Tile not found"."""
    response = requests.get(f"{server}{VECTOR_TILES}/WebMercatorQuad/30/0/0?f=mvt", timeout=60)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Tile not found"


@pytest.fixture(scope="module")
def extent(portal: Settings) -> tuple[float, float, float, float]:
    with rasterio.open(portal.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as src:
        return tuple(src.bounds)


def test_coverage_subsets_that_name_no_part_of_the_data_are_client_errors(server, extent) -> None:
    left, bottom, right, top = extent
    mid_x, mid_y = (left + right) / 2, (bottom + top) / 2
    for subset, says in [
        # was a 500: rasterio's "Input shapes do not overlap raster"
        (f"x({mid_x + 100:.0f}:{mid_x:.0f}),y({mid_y:.0f}:{mid_y + 100:.0f})", "is empty"),
        ("x(0:10),y(0:10)", "lies outside the coverage"),
        # was a 200 with the *whole* coverage: a subset of one axis was ignored
        ("x(a:b)", "subset needs both x and y"),
        # was a 500 (IndexError): a single value per axis
        (f"x({mid_x:.0f}),y({mid_y:.0f})", "needs two numbers low:high"),
    ]:
        status, body = answer(server, f"{COVERAGE}?subset={subset}")
        assert (status, body["code"]) == (400, "InvalidParameterValue"), (subset, body)
        assert says in body["description"], subset
        assert f"x({left:.12g}:{right:.12g})" in body["description"] or "empty" in says


def test_a_valid_coverage_subset_still_answers(server, extent) -> None:
    left, bottom, _, _ = extent
    subset = f"x({left:.0f}:{left + 50:.0f}),y({bottom:.0f}:{bottom + 50:.0f})"
    response = requests.get(f"{server}{COVERAGE}?subset={subset}&f=json", timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["type"] == "Coverage"


@pytest.mark.parametrize("mistake, logged", [
    ("/no-such-feature-for-the-log", "no-such-feature-for-the-log'"),  # a provider's 404
    ("?bbox=1,2,three-for-the-log,4", "bbox values must be numbers"),  # pygeoapi's own 400
    ("?f=nope-for-the-log", "Invalid format requested: nope-for-the-log"),  # was an ERROR
])
def test_client_errors_are_logged_as_one_warning_line(server: str, portal: Settings,
                                                      mistake: str, logged: str) -> None:
    """A client's mistake is a WARNING (an ERROR is for the operator) and has no traceback."""
    requests.get(f"{server}{FEATURES}{mistake}", timeout=60)
    log = (portal.data_dir / "server.log").read_text(encoding="utf-8", errors="replace")
    mentions = [i for i, text in enumerate(log.splitlines()) if logged in text]
    assert mentions, log[-2000:]
    assert not any("ERROR" in log.splitlines()[i] for i in mentions), log[-2000:]
    line = next(i for i in mentions if "WARNING" in log.splitlines()[i])
    # logging writes a record and its traceback in one write: what follows the line is all there
    following = log.splitlines()[line + 1:line + 2]  # empty when the record is the last one
    assert not any("Traceback" in text for text in following), following


def test_a_coverage_bbox_in_crs84_is_cut_in_the_data_crs(server, extent) -> None:
    """The box given as the standard writes it (a CRS URI, lon/lat) answers the grid in EPSG:25832
    (was a 500: pygeoapi's provider only took an EPSG number)."""
    from pyproj import Transformer

    left, bottom, _, _ = extent
    to_lonlat = Transformer.from_crs("EPSG:25832", "OGC:CRS84", always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_lonlat.transform([left + 100, left + 200],
                                                     [bottom + 100, bottom + 200])
    response = requests.get(f"{server}{COVERAGE}", timeout=60, params={
        "bbox": f"{lon0},{lat0},{lon1},{lat1}", "f": "json",
        "bbox-crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"})
    assert response.status_code == 200, response.text[:300]
    x_axis = response.json()["domain"]["axes"]["x"]
    assert left + 99 < x_axis["start"] < x_axis["stop"] < left + 201, x_axis


def test_writes_to_a_collection_are_not_offered(server: str) -> None:
    """POST, PUT, DELETE on features: 405 with the methods offered (POST without a body type was
    a 500); a POST with a CQL2 JSON filter is a query and still answers."""
    for method, path in [("POST", FEATURES), ("PUT", f"{FEATURES}/1"),
                         ("DELETE", f"{FEATURES}/1")]:
        response = requests.request(method, server + path, timeout=60)
        assert response.status_code == 405, (method, response.text[:200])
        assert "GET" in response.headers["Allow"]
        assert "read-only" in response.json()["description"]
    query = requests.post(f"{server}{FEATURES}?f=json", timeout=60,
                          headers={"Content-Type": "application/query-cql-json"},
                          data='{"op": "=", "args": [{"property": "name"}, "no such school"]}')
    assert query.status_code == 200, query.text[:300]
    assert query.json()["features"] == []


@pytest.mark.parametrize("query", ["datetime=2024-05-01", "datetime=2024-01-01T00:00:00Z/..",
                                   "datetime=../2024-12-31", "skipGeometry=true"])
def test_valid_datetime_and_skip_geometry_still_answer(server: str, query: str) -> None:
    response = requests.get(f"{server}{FEATURES}?{query}&f=json&limit=2", timeout=60)
    assert response.status_code == 200, response.text[:300]
    features = response.json()["features"]
    assert features, response.json()
    assert (features[0]["geometry"] is None) == query.startswith("skipGeometry")


@pytest.mark.parametrize("query, matches, returns", [
    # were 500s: SQLite's "Python int too large to convert to SQLite INTEGER"
    ("offset=99999999999999999999", "all", "none"),  # a page past the end: empty
    ("offset=99999999999999999999&bbox=6,51,7,52", "all", "none"),
    ("offset=9223372036854775808&sortby=name", "all", "none"),
    ("pupils=99999999999999999999", "none", "none"),
    ("filter=pupils%20%3D%2099999999999999999999", "none", "none"),
    ("filter=pupils%20IN%20(99999999999999999999)", "none", "none"),
    ("filter=pupils%20%3C%2099999999999999999999", "all", "all"),
])
def test_integers_beyond_64_bits_are_compared_not_a_server_error(server: str, query: str,
                                                                 matches: str, returns: str
                                                                 ) -> None:
    every = requests.get(f"{server}{FEATURES}?f=json", timeout=60).json()["numberMatched"]
    response = requests.get(f"{server}{FEATURES}?{query}&f=json", timeout=60)
    assert response.status_code == 200, response.text[:300]
    page = response.json()
    count = {"all": every, "none": 0}
    assert (page["numberMatched"], len(page["features"])) == (count[matches], count[returns])
    assert 0 < every <= 100  # one default page holds them all


@pytest.mark.parametrize("subset", [
    # each killed a worker (SIGSEGV, an empty reply) every time, in the probing run
    "x(a:b),y(c:d)", "x(nan:nan),y(nan:nan)", "x(inf:inf),y(-inf:inf)",
    "x(-1e12:1e12),y(-1e12:1e12)", "x(1e308:1e309),y(0:1)",
    # one axis only: bypassed the size guard, 287 MB of JSON
    "x(350000:350100)",
])
def test_a_degenerate_subset_never_reaches_native_code(server: str, subset: str) -> None:
    """Answered with a message (a 400), or the window cut to the data (a 200 with a grid);
    never a 5xx or a dead worker (the next request still answers)."""
    response = requests.get(f"{server}{COVERAGE}", params={"subset": subset, "f": "json"},
                            timeout=60)
    assert response.status_code in (200, 400), (subset, response.text[:300])
    body = response.json()
    if response.status_code == 400:
        assert body["code"] == "InvalidParameterValue" and body["description"], body
    else:
        axes = body["domain"]["axes"]
        assert axes["x"]["num"] * axes["y"]["num"] <= 4_000_000, axes
    assert requests.get(f"{server}{FEATURES}?f=json&limit=1", timeout=60).status_code == 200


def test_a_query_body_that_is_not_utf8_is_a_client_error(server: str) -> None:
    """Was a 500: pygeoapi's decode failed inside its own error handler (UnboundLocalError)."""
    response = requests.post(f"{server}{FEATURES}", data=b"\xff\xd5{", timeout=60,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert "not UTF-8" in response.json()["description"]


def test_a_coverage_window_reaching_beyond_the_data_is_cut_to_it(server, extent) -> None:
    """The CoverageJSON grid is where its values are: it was labelled with the window asked
    for (bbox=-180,-90,180,90 gave 1 km of terrain a grid 32,000 km wide). Its axes are the
    cell centres, as CoverageJSON defines them (they were the window's edges)."""
    left, bottom, _, _ = extent
    for params in [{"subset": f"x({left - 1000:.0f}:{left + 50:.0f}),"
                              f"y({bottom - 1000:.0f}:{bottom + 50:.0f})"},
                   {"bbox": f"{left - 1000:.0f},{bottom - 1000:.0f},{left + 50:.0f},"
                            f"{bottom + 50:.0f}",
                    "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/25832"}]:
        response = requests.get(f"{server}{COVERAGE}", params={**params, "f": "json"},
                                timeout=60)
        assert response.status_code == 200, response.text[:300]
        axes = response.json()["domain"]["axes"]
        assert (axes["x"]["start"], axes["x"]["stop"], axes["x"]["num"]) == \
            pytest.approx((left + 0.25, left + 49.75, 100)), (params, axes)
        assert (axes["y"]["start"], axes["y"]["stop"]) == \
            pytest.approx((bottom + 49.75, bottom + 0.25))


def test_a_coverage_window_of_too_many_cells_is_refused(tmp_path: Path) -> None:
    """A whole-world bbox cut the whole mosaic: on the city's 0.5 m terrain 400 million cells,
    more than a worker's memory. The sample's coverages are smaller than the limit, so the
    provider is given a raster just over it."""
    path = tmp_path / "big.tif"
    side = int(np.sqrt(MAX_CELLS)) + 1
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=1,
                       dtype="uint8", crs="EPSG:25832", compress="deflate",
                       transform=from_origin(350_000, 5_686_000, 0.5, 0.5)) as dst:
        dst.write(np.zeros((1, side, side), dtype="uint8"))
    provider = CoverageProvider({"name": "CoverageProvider", "type": "coverage",
                                 "data": str(path),
                                 "format": {"name": "GTiff", "mimetype": "image/tiff"}})
    far = {"x": [0, 10_000_000], "y": [0, 10_000_000]}
    with pytest.raises(ProviderInvalidQueryError, match=f"at most {MAX_CELLS:,} per request"):
        provider.query(subsets=far, format_="json")
    with pytest.raises(ProviderInvalidQueryError, match=r"download the tile COGs"):
        provider.query(bbox=[-180, -80, 180, 84], format_="json")
    cut = provider.query(subsets={"x": [350_000, 350_100], "y": [5_685_900, 5_686_000]},
                         format_="json")
    assert cut["domain"]["axes"]["x"]["num"] == 200


@pytest.mark.parametrize("path", [
    f"{MAP_TILES}/WebMercatorQuad/25/0/0?f=png", f"{MAP_TILES}/WebMercatorQuad/-1/-1/-1?f=png",
    f"{MAP_TILES}/WebMercatorQuad/10/99999/99999?f=png",
    f"{VECTOR_TILES}/WebMercatorQuad/25/0/0?f=mvt",
    f"{VECTOR_TILES}/WebMercatorQuad/-1/-1/-1?f=mvt",
])
def test_tile_indices_outside_the_matrix_set_are_not_found(server: str, path: str) -> None:
    """Zoom 25 was a 500, indices -1 a 204 (an empty tile): neither tile exists."""
    response = requests.get(server + path, timeout=60)
    assert response.status_code in (400, 404), (path, response.status_code, response.text[:200])
    assert response.text, path
