"""CQL2 filters on the GeoPackage provider, called as pygeoapi calls it.

Each filter goes through the same steps as in the server: our parse functions (installed into
pygeoapi), pygeoapi's ``modify_pygeofilter`` with ``filter-crs`` and the configured storage CRS,
then ``provider.query(filterq=...)``. Expected answers come from pandas/geopandas on the data
frame the fixture file was written from, never from the provider.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import shapely
from pygeoapi.crs import modify_pygeofilter
from pygeoapi.provider.base import ProviderInvalidQueryError
from testkit import CRS84_URI, EPSG_25832
from testkit.providers import all_pages, make

from geoportal.app.providers import cql2

TO_UTM = pyproj.Transformer.from_crs("OGC:CRS84", 25832, always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs(25832, "OGC:CRS84", always_xy=True)


def query(provider, text=None, body=None, filter_crs=CRS84_URI, **kw):
    tree = cql2.parse_text(text) if text is not None else cql2.parse_json(json.dumps(body))
    tree = modify_pygeofilter(tree, filter_crs_uri=filter_crs, storage_crs_uri=CRS84_URI)
    return provider.query(filterq=tree, **kw)


def ids_of(provider, text=None, body=None, **kw) -> tuple[set[str], int]:
    """Every id over all pages (asserting there are no duplicates) and numberMatched."""
    tree = cql2.parse_text(text) if text is not None else cql2.parse_json(json.dumps(body))
    tree = modify_pygeofilter(tree, filter_crs_uri=CRS84_URI, storage_crs_uri=CRS84_URI)
    ids = all_pages(provider, 37, filterq=tree, **kw)
    assert len(ids) == len(set(ids)), "a page repeated a feature"
    return set(ids), provider.query(filterq=tree, resulttype="hits")["numberMatched"]


DAY = pd.Timestamp("2024-06-30")
ATTRIBUTE_CASES = [
    ("kind = 3", lambda d: d.kind == 3),
    ("kind <> 3 AND value > 12.5", lambda d: (d.kind != 3) & (d.value > 12.5)),
    ("value BETWEEN 8 AND 9.5", lambda d: d.value.between(8, 9.5)),
    ("value NOT BETWEEN 8 AND 9.5", lambda d: d.value.notna() & ~d.value.between(8, 9.5)),
    ("kind IN (1, 4, 5)", lambda d: d.kind.isin([1, 4, 5])),
    ("kind NOT IN (1, 4, 5) OR flag = true", lambda d: ~d.kind.isin([1, 4, 5]) | d.flag),
    ("value IS NULL", lambda d: d.value.isna()),
    ("value IS NOT NULL AND NOT (kind < 2)", lambda d: d.value.notna() & (d.kind >= 2)),
    ("name LIKE 'Ö%'", lambda d: d.name.str.startswith("Ö")),
    ("name LIKE 'schule'", lambda d: d.name == "schule"),  # case-sensitive, like PostgreSQL
    ("name LIKE '50\\%\\_%'", lambda d: d.name.str.startswith("50%_")),
    ("name LIKE 'Stra_e 5'", lambda d: d.name == "Straße 5"),
    ("CASEI(name) = casei('SCHULE')", lambda d: d.name.str.lower() == "schule"),
    ("CASEI(name) LIKE casei('ärzte%')", lambda d: d.name.str.lower().str.startswith("ärzte")),
    # the fixture's day column is TEXT (GDAL writes Python dates from an object column so)
    ("day > '2024-06-30'", lambda d: pd.to_datetime(d.day) > DAY),
    ("day <= '2024-06-30' AND flag = false", lambda d: (pd.to_datetime(d.day) <= DAY) & ~d.flag),
]


@pytest.mark.parametrize(("text", "mask"), ATTRIBUTE_CASES, ids=[c[0] for c in ATTRIBUTE_CASES])
def test_attribute_filters_match_pandas(points, text, mask):
    path, gdf = points
    expected = set(gdf.loc[mask(gdf), "objekt_id"])
    assert expected, "a case that selects nothing proves little"
    assert ids_of(make(path), text) == (expected, len(expected))


JSON_CASES = [
    ({"op": "=", "args": [{"property": "kind"}, 3]}, "kind = 3"),
    ({"op": "between", "args": [{"property": "value"}, 8, 9.5]}, "value BETWEEN 8 AND 9.5"),
    ({"op": "in", "args": [{"property": "kind"}, [1, 4, 5]]}, "kind IN (1, 4, 5)"),
    ({"op": "isNull", "args": [{"property": "value"}]}, "value IS NULL"),
    ({"op": "like", "args": [{"property": "name"}, "Ö%"]}, "name LIKE 'Ö%'"),
    ({"op": "and", "args": [{"op": "not", "args": [{"op": "<", "args": [{"property": "kind"}, 2]}]},
                            {"op": "=", "args": [{"property": "flag"}, True]}]},
     "NOT (kind < 2) AND flag = true"),
]


@pytest.mark.parametrize(("body", "text"), JSON_CASES, ids=[c[1] for c in JSON_CASES])
def test_standard_cql2_json_means_the_same_as_text(points, body, text):
    provider = make(points[0])
    assert ids_of(provider, body=body) == ids_of(provider, text)


# -- spatial ----------------------------------------------------------------------------------

#: A UTM triangle inside the points' area; its vertices are given in lon/lat to the filter.
TRIANGLE_UTM = shapely.Polygon([(350300, 5685300), (351700, 5685500), (350900, 5686700)])


def triangle_lonlat() -> shapely.Polygon:
    lon, lat = TO_LONLAT.transform(*TRIANGLE_UTM.exterior.xy)
    return shapely.Polygon(zip(lon, lat, strict=True))


def test_s_intersects_polygon_matches_geopandas(points, polygons):
    for path, gdf, id_field in [(*points, "objekt_id"), (*polygons, "code")]:
        expected = set(gdf.loc[gdf.intersects(TRIANGLE_UTM), id_field])
        provider = make(path, id_field=id_field)
        text = f"S_INTERSECTS(geometry, {triangle_lonlat().wkt})"
        assert ids_of(provider, text) == (expected, len(expected))


def test_within_contains_disjoint_on_polygons(polygons):
    path, gdf = polygons
    provider = make(path, id_field="code")
    tri = triangle_lonlat().wkt
    within = set(gdf.loc[gdf.within(TRIANGLE_UTM), "code"])
    partly = set(gdf.loc[gdf.intersects(TRIANGLE_UTM), "code"]) - within
    assert within and partly, "the triangle must cut some squares and hold others whole"
    assert ids_of(provider, f"S_WITHIN(geometry, {tri})") == (within, len(within))
    disjoint = set(gdf["code"]) - within - partly
    assert ids_of(provider, f"S_DISJOINT(geometry, {tri})") == (disjoint, len(disjoint))
    # a point inside one square: exactly that square contains it, whichever operand comes first
    square = gdf.iloc[200]
    x, y = square.geometry.centroid.coords[0]
    lon, lat = TO_LONLAT.transform(x, y)
    assert ids_of(provider, f"S_CONTAINS(geometry, POINT({lon} {lat}))")[0] == {square.code}
    assert ids_of(provider, f"S_WITHIN(POINT({lon} {lat}), geometry)")[0] == {square.code}


def test_bbox_literal_is_a_lon_lat_box_like_the_bbox_parameter(points, bbox):
    provider = make(points[0])
    by_parameter = {f["id"] for f in provider.query(bbox=bbox, limit=10_000)["features"]}
    text = "S_INTERSECTS(geometry, BBOX({}, {}, {}, {}))".format(*bbox)
    assert ids_of(provider, text)[0] == by_parameter
    body = {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": bbox}]}
    assert ids_of(provider, body=body)[0] == by_parameter


def test_filter_crs_utm_gives_the_same_answer(points):
    provider = make(points[0])
    expected = ids_of(provider, f"S_INTERSECTS(geometry, {triangle_lonlat().wkt})")[0]
    tree = cql2.parse_text(f"S_INTERSECTS(geometry, {TRIANGLE_UTM.wkt})")
    tree = modify_pygeofilter(tree, filter_crs_uri=EPSG_25832, storage_crs_uri=CRS84_URI)
    got = {f["id"] for f in provider.query(filterq=tree, limit=10_000)["features"]}
    assert got == expected


def test_spatial_and_attributes_nest_with_or_and_not(points):
    path, gdf = points
    inside = gdf.intersects(TRIANGLE_UTM)
    text = f"NOT S_INTERSECTS(geometry, {triangle_lonlat().wkt}) AND (kind = 2 OR flag = true)"
    expected = set(gdf.loc[~inside & ((gdf.kind == 2) | gdf.flag), "objekt_id"])
    assert ids_of(make(path), text) == (expected, len(expected))


def test_filter_with_sortby_and_bbox_pages_exactly(points, bbox):
    path, gdf = points
    provider = make(path)
    sortby = [{"property": "kind", "order": "-"}]
    ids = all_pages(provider, 19, filterq=cql2.parse_text("value > 9"), sortby=sortby, bbox=bbox)
    assert len(ids) == len(set(ids))
    box = gpd.GeoSeries([shapely.box(*bbox)], crs="OGC:CRS84").segmentize(1e-5).to_crs(25832)
    expected = set(gdf.loc[(gdf.value > 9) & gdf.intersects(box.iloc[0]), "objekt_id"])
    assert set(ids) == expected
    kinds = [gdf.set_index("objekt_id").kind[i] for i in ids]
    assert kinds == sorted(kinds, reverse=True)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nope = 3", "unknown property 'nope'"),
        ("kind = 'drei'", "type mismatch"),
        ("name > 5", "type mismatch"),
        ("flag = 1", "type mismatch"),
        ("kind LIKE '1%'", "LIKE needs a text property"),
        ("day > DATE('2024-06-30')", "type mismatch"),  # day is a text column here
        ("day > DATE('2024-13-45')", "invalid CQL2 text"),
        ("kind = ", "invalid CQL2 text"),
        ("ACCENTI(name) = 'a'", "unsupported function ACCENTI()"),
        ("S_INTERSECTS(kind, POINT(6.8 51.3))", "geometry"),
        ("day T_AFTER DATE('2024-01-01')", "unsupported"),
    ],
)
def test_bad_filters_are_client_errors_that_say_why(points, text, says):
    with pytest.raises(ProviderInvalidQueryError) as err:
        query(make(points[0]), text)
    assert says in err.value.user_msg


def test_bad_json_filters_say_why(points):
    provider = make(points[0])
    for body, says in [
        ({"op": "=", "args": [{"property": "nope"}, 1]}, "unknown property 'nope'"),
        ({"op": "="}, "missing member 'args'"),
        ({"op": "frobnicate", "args": []}, "invalid CQL2 JSON"),
    ]:
        with pytest.raises(ProviderInvalidQueryError) as err:
            query(provider, body=body)
        assert says in err.value.user_msg


def test_bbox_out_of_range_is_a_client_error(points):
    with pytest.raises(ProviderInvalidQueryError, match="out of range"):
        make(points[0]).query(bbox=[6.8, 51.2, 6.9, 95.0])


def test_like_translation_keeps_glob_characters_literal():
    assert cql2.like_to_glob("a*b?[c]%_\\%") == "a[*]b[?][[]c]*?%"
