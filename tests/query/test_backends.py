"""The same CQL2 queries over HTTP against the embedded back end (GeoPackage) and PostGIS.

Every query runs as CQL2 text (GET ``filter=``) and, where written both ways, as standard CQL2
JSON (POST ``application/query-cql-json``), against ``/collections/<id>`` (GeoPackage) and
``/collections/<id>_pg`` (pygeoapi's PostgreSQL provider on a PostGIS copy of the same file).
The answers must agree: the same ids over all pages, no page repeating a feature, the same
``numberMatched``, and for sorted queries the same order.
"""

from __future__ import annotations

import json

import pyproj
import pytest
import requests
import shapely
from testkit import FINDER_MATCHES

pytestmark = [pytest.mark.slow, pytest.mark.server]

TO_LONLAT = pyproj.Transformer.from_crs(25832, "OGC:CRS84", always_xy=True)


def lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: __import__("numpy").column_stack(
        TO_LONLAT.transform(c[:, 0], c[:, 1])))


# a pentagon and a point inside the tiny district (UTM 350000-351000 / 5685000-5686000)
AREA = lonlat(shapely.Polygon([(350100, 5685100), (350700, 5685050), (350900, 5685600),
                               (350500, 5685900), (350150, 5685500)]))
SPOT = lonlat(shapely.Point(350500, 5685500))
BOX = [*lonlat(shapely.Point(350200, 5685200)).coords[0], *lonlat(shapely.Point(350600,
                                                                               5685700)).coords[0]]

QUERIES: list[tuple[str, str, str | None]] = [
    ("parcels", "official_area_m2 BETWEEN 500 AND 2000", None),
    ("parcels", "flur IN (29, 37) AND official_area_m2 > 800", "-official_area_m2"),
    ("parcels", "area_deviates = true OR number_denominator IS NOT NULL", "flur"),
    ("parcels", "location LIKE 'Mozart%' AND NOT (official_area_m2 < 600)", None),
    ("parcels", "updated >= '2024-06-01'", "updated"),  # published as TEXT
    ("parcels", f"S_INTERSECTS(geometry, {AREA.wkt})", None),
    ("parcels", f"S_WITHIN(geometry, {AREA.wkt}) AND official_area_m2 < 1000", "-flur"),
    ("parcels", f"S_CONTAINS(geometry, {SPOT.wkt})", None),
    ("parcels", f"S_DISJOINT(geometry, {AREA.wkt}) AND flur = 38", None),
    ("parcels", "S_INTERSECTS(geometry, BBOX({}, {}, {}, {}))".format(*BOX), "location"),
    ("trees", "species_de = 'Winter-Linde' AND height_m >= 16", "-planting_year"),
    ("trees", "CASEI(street) LIKE casei('%STRASSE') OR planting_year < 1950", None),
    ("trees", f"S_INTERSECTS(geometry, {AREA.wkt}) AND species_de IS NOT NULL", "height_m"),
    ("trees", "planting_year IS NULL OR species_botanical IS NULL", None),
    ("public_toilets", "accessible = true", "name"),
    # the finder, as the economic development office asks it (wider distances than the issue's
    # example, which selects nothing in the tiny district; that one is tested below)
    ("commercial_spaces", "area_m2 BETWEEN 500 AND 2000 AND zoning IN ('GE', 'GI') AND "
     "motorway_junction_network_distance_m <= 3000 AND sbahn_station_network_distance_m <= 2500",
     "price_eur_m2"),
]

#: The issue's example: 500-2000 m², industrial zoning (GI), at most 3 km to a motorway junction
#: and 1 km to an S-Bahn station, along the road network, cheapest first.
FINDER_EXAMPLE = ("area_m2 BETWEEN 500 AND 2000 AND zoning = 'GI' AND "
                  "motorway_junction_network_distance_m <= 3000 AND "
                  "sbahn_station_network_distance_m <= 1000")

JSON_QUERIES: list[tuple[str, dict]] = [
    ("parcels", {"op": "and", "args": [
        {"op": "between", "args": [{"property": "official_area_m2"}, 500, 2000]},
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        json.loads(shapely.to_geojson(AREA))]}]}),
    ("parcels", {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": BOX}]}),
    ("trees", {"op": "in", "args": [{"property": "species_de"}, ["Winter-Linde", "Spitz-Ahorn"]]}),
    ("trees", {"op": "like", "args": [{"property": "street"}, "%straße"]}),
]


def fetch_all(url: str, params: dict, body: dict | None = None, limit: int = 97) -> tuple:
    """All pages of a query: (ids in order, numberMatched), asserting pages do not overlap."""
    ids: list[str] = []
    matched = None
    offset = 0
    while True:
        query = {**params, "limit": limit, "offset": offset, "f": "json", "skipGeometry": "true"}
        if body is None:
            r = requests.get(url, params=query, timeout=60)
        else:
            r = requests.post(url, params=query, data=json.dumps(body), timeout=60,
                              headers={"Content-Type": "application/query-cql-json"})
        assert r.status_code == 200, r.text
        page = r.json()
        matched = page["numberMatched"] if matched is None else matched
        assert page["numberMatched"] == matched
        ids += [str(f["id"]) for f in page["features"]]
        if len(page["features"]) < limit:
            break
        offset += limit
    assert len(ids) == len(set(ids)), "pages repeated a feature"
    return ids, matched


@pytest.mark.parametrize(("layer", "text", "sortby"), QUERIES, ids=[q[1][:60] for q in QUERIES])
def test_text_queries_agree(dual_server, layer, text, sortby):
    params = {"filter": text, **({"sortby": sortby} if sortby else {})}
    embedded = fetch_all(f"{dual_server}/collections/{layer}/items", params)
    postgis = fetch_all(f"{dual_server}/collections/{layer}_pg/items", params)
    assert embedded[1] > 0, "a query that matches nothing proves little"
    assert embedded[1] == postgis[1] == len(embedded[0])
    if sortby:
        assert embedded[0] == postgis[0]
    else:
        assert set(embedded[0]) == set(postgis[0])


@pytest.mark.parametrize(("layer", "body"), JSON_QUERIES, ids=[q[0] for q in JSON_QUERIES])
def test_json_queries_agree(dual_server, layer, body):
    embedded = fetch_all(f"{dual_server}/collections/{layer}/items", {}, body)
    postgis = fetch_all(f"{dual_server}/collections/{layer}_pg/items", {}, body)
    assert embedded[1] > 0
    assert embedded[1] == postgis[1]
    assert set(embedded[0]) == set(postgis[0])


@pytest.mark.parametrize("layer", ["parcels", "trees"])
def test_plain_bbox_agrees(dual_server, layer):
    """``bbox=`` in lon/lat selects the same features on both back ends, also along the edges
    where the lon/lat box and the rectangle of its transformed corners differ."""
    params = {"bbox": ",".join(f"{v:.6f}" for v in BOX)}
    embedded = fetch_all(f"{dual_server}/collections/{layer}/items", params)
    postgis = fetch_all(f"{dual_server}/collections/{layer}_pg/items", params)
    assert embedded[1] > 0
    assert set(embedded[0]) == set(postgis[0])
    assert embedded[1] == postgis[1]


def test_bad_filters_are_400_on_both_back_ends(dual_server):
    for suffix in ("", "_pg"):
        url = f"{dual_server}/collections/parcels{suffix}/items"
        for text, says in [("nope = 1", "unknown property 'nope'"),
                           ("flur = 'neun'", "type mismatch"),
                           ("flur = ", "invalid CQL2 text")]:
            r = requests.get(url, params={"filter": text, "f": "json"}, timeout=30)
            assert r.status_code == 400, (suffix, text, r.text)
            assert says in r.json()["description"]


def test_the_issues_finder_example_agrees_and_is_exact(dual_server):
    params = {"filter": FINDER_EXAMPLE, "sortby": "price_eur_m2"}
    embedded = fetch_all(f"{dual_server}/collections/commercial_spaces/items", params)
    postgis = fetch_all(f"{dual_server}/collections/commercial_spaces_pg/items", params)
    assert embedded == postgis
    everything = requests.get(f"{dual_server}/collections/commercial_spaces/items", timeout=60,
                              params={"f": "json", "limit": 500, "skipGeometry": "true"}).json()
    expected = {
        f["id"] for f in everything["features"]
        if 500 <= f["properties"]["area_m2"] <= 2000 and f["properties"]["zoning"] == "GI"
        and f["properties"]["motorway_junction_network_distance_m"] <= 3000
        and f["properties"]["sbahn_station_network_distance_m"] <= 1000
    }
    assert set(embedded[0]) == expected == set(FINDER_MATCHES)  # planted in the sample
    assert embedded[0] == ["GF-9002", "GF-9001"]  # cheapest first: 6.20 €/m², then 195 €/m²
