"""The query side of OGC API Features as a client sees it: queryables, CQL2 JSON by POST, and
400s with an OGC exception — never a 500 — for every kind of bad input."""

from __future__ import annotations

import json

import pyproj
import pytest
import requests
from testkit import MAX_ITEMS

pytestmark = [pytest.mark.slow, pytest.mark.server]

CQL_JSON = {"Content-Type": "application/query-cql-json"}


def items(server: str, layer: str = "parcels", **params: object) -> requests.Response:
    return requests.get(f"{server}/collections/{layer}/items", params={"f": "json", **params},
                        timeout=30)


def test_queryables_list_the_properties_with_types(server):
    r = requests.get(f"{server}/collections/parcels/queryables", params={"f": "json"}, timeout=30)
    assert r.status_code == 200
    props = r.json()["properties"]
    assert props["flur"]["type"] == "integer"
    assert props["official_area_m2"]["type"] == "number"
    assert props["area_deviates"]["type"] == "boolean"
    assert props["location"]["type"] == "string"
    assert props["geometry"]["format"] == "geometry-any"


def test_cql2_json_by_post_equals_the_text_filter(server):
    body = {"op": "and", "args": [
        {"op": "between", "args": [{"property": "official_area_m2"}, 500, 2000]},
        {"op": "in", "args": [{"property": "flur"}, [29, 37]]}]}
    posted = requests.post(f"{server}/collections/parcels/items", params={"limit": 1000},
                           data=json.dumps(body), headers=CQL_JSON, timeout=30)
    text = items(server, filter="official_area_m2 BETWEEN 500 AND 2000 AND flur IN (29, 37)",
                 limit=1000)
    assert posted.status_code == text.status_code == 200
    got = {f["id"] for f in posted.json()["features"]}
    assert got == {f["id"] for f in text.json()["features"]}
    assert 0 < len(got) == posted.json()["numberMatched"]
    for f in posted.json()["features"]:
        assert 500 <= f["properties"]["official_area_m2"] <= 2000
        assert f["properties"]["flur"] in (29, 37)


def test_filter_crs_in_utm_matches_crs84(server):
    to_utm = pyproj.Transformer.from_crs("OGC:CRS84", 25832, always_xy=True)
    lon, lat = (6.8466, 51.2964)
    d = 0.004
    ring84 = [(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)]
    ring = [to_utm.transform(*p) for p in ring84]
    wkt = lambda pts: "POLYGON((" + ", ".join(f"{a} {b}" for a, b in [*pts, pts[0]]) + "))"  # noqa: E731
    a = items(server, filter=f"S_INTERSECTS(geometry, {wkt(ring84)})", limit=2000)
    b = items(server, filter=f"S_INTERSECTS(geometry, {wkt(ring)})", limit=2000,
              **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/25832"})
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert {f["id"] for f in a.json()["features"]} == {f["id"] for f in b.json()["features"]}
    assert a.json()["numberMatched"] > 0


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"filter": "flur = "}, "invalid CQL2 text"),
        ({"filter": "nope = 3"}, "unknown property 'nope'"),
        ({"filter": "flur = 'neun'"}, "type mismatch"),
        ({"filter": "location > 5"}, "type mismatch"),
        ({"filter": "flur LIKE '3%'"}, "LIKE needs a text property"),
        ({"filter": "S_INTERSECTS(flur, POINT(6.8 51.3))"}, "geometry"),
        ({"filter": "flur = 3", "filter-crs": "EPSG:nope"}, ""),
        ({"filter": "flur = 3", "filter-lang": "sql"}, ""),
        ({"bbox": "6.8,51.2,6.9,95"}, "out of range"),
        ({"bbox": "6.8,51.2,6.9"}, "bbox"),
        ({"bbox": "200,51.2,201,51.3"}, "out of range"),
        ({"sortby": "nope"}, "sortby"),
        ({"limit": 0}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "viele"}, "limit"),
        ({"limit": 10_001}, "limit=10001 is over the maximum of 10000"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_input_is_a_400_with_an_ogc_exception(server, params, says):
    r = items(server, **params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] and body["description"]
    assert says in body["description"]


def test_bad_cql2_json_is_a_400(server):
    for data in ["{not json", json.dumps({"op": "="}),
                 json.dumps({"op": "=", "args": [{"property": "nope"}, 1]})]:
        r = requests.post(f"{server}/collections/parcels/items", data=data, headers=CQL_JSON,
                          timeout=30)
        assert r.status_code == 400, r.text
        assert "CQL2 JSON" in r.json()["description"] or "nope" in r.json()["description"]


def test_limit_over_the_maximum_is_a_400_naming_limit_and_maximum(dual_server):
    """A client that asks for more than the server's maximum page is told so, on both back
    ends, instead of silently getting a shorter page; the maximum itself still works."""

    for layer in ("parcels", "parcels_pg"):
        r = items(dual_server, layer, limit=MAX_ITEMS * 10, skipGeometry="true")
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["code"] == "InvalidParameterValue"
        assert f"limit={MAX_ITEMS * 10}" in body["description"]
        assert f"maximum of {MAX_ITEMS}" in body["description"]
        posted = requests.post(f"{dual_server}/collections/{layer}/items",
                               params={"limit": MAX_ITEMS + 1}, headers=CQL_JSON, timeout=30,
                               data=json.dumps({"op": ">", "args": [{"property": "flur"}, 0]}))
        assert posted.status_code == 400, posted.text
        assert f"maximum of {MAX_ITEMS}" in posted.json()["description"]
        r = items(dual_server, layer, limit=MAX_ITEMS, skipGeometry="true")
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["numberMatched"] > MAX_ITEMS
        assert page["numberReturned"] == MAX_ITEMS
        assert any(link["rel"] == "next" for link in page["links"])
