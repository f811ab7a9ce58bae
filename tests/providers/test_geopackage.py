"""Tests of the GeoPackage feature provider, called directly as pygeoapi would call it.

Every expected answer is computed independently of the provider: bbox matches with geopandas'
own ``intersects`` against the CRS84 box projected by geopandas/pyproj, coordinates with pyproj.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from pygeoapi.crs import create_crs_transform_spec
from pygeoapi.provider.base import (
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)
from testkit import CRS84_URI, EPSG_3857, EPSG_25832
from testkit.providers import all_pages, make

from geoportal.app.providers.gpkg_geometry import wkb_offset
from geoportal.app.providers.gpkg_sql import converter_for
from geoportal.core.publish import swap_link


def reference_ids(gdf: gpd.GeoDataFrame, bbox: list[float], id_field: str) -> set[str]:
    """What truly intersects the lon/lat box, according to geopandas alone."""
    lonlat_box = gpd.GeoSeries([shapely.box(*bbox)], crs="OGC:CRS84").segmentize(1e-5)
    box_utm = lonlat_box.to_crs(25832).iloc[0]
    return set(gdf.loc[gdf.intersects(box_utm), id_field])





# -- bbox ------------------------------------------------------------------------------------


def test_bbox_points_exact(points, bbox):
    path, gdf = points
    expected = reference_ids(gdf, bbox, "objekt_id")
    result = make(path).query(bbox=bbox, limit=10_000)
    assert {f["id"] for f in result["features"]} == expected
    assert result["numberMatched"] == len(expected) == result["numberReturned"]
    # the same answer in lon/lat space: the points projected with pyproj, inside the box
    lonlat = gdf.to_crs("OGC:CRS84")
    inside = (
        (lonlat.geometry.x >= bbox[0])
        & (lonlat.geometry.x <= bbox[2])
        & (lonlat.geometry.y >= bbox[1])
        & (lonlat.geometry.y <= bbox[3])
    )
    assert set(lonlat.loc[inside, "objekt_id"]) == expected


def test_bbox_polygons_exact_at_the_edges(polygons, bbox):
    path, gdf = polygons
    expected = reference_ids(gdf, bbox, "code")
    result = make(path, id_field="code").query(bbox=bbox, limit=10_000)
    assert {f["id"] for f in result["features"]} == expected
    assert result["numberMatched"] == len(expected)
    # the test is meaningful: the box's UTM bounds (what a naive provider uses) catch more
    bounds = gpd.GeoSeries([shapely.box(*bbox)], crs="OGC:CRS84").to_crs(25832).total_bounds
    widened = set(gdf.loc[gdf.intersects(shapely.box(*bounds)), "code"])
    assert widened > expected


def test_bbox_without_rtree_is_exact_too(points_without_rtree, points, bbox):
    expected = reference_ids(points[1], bbox, "objekt_id")
    result = make(points_without_rtree).query(bbox=bbox, limit=10_000)
    assert {f["id"] for f in result["features"]} == expected
    assert result["numberMatched"] == len(expected)


def test_bbox_outside_and_around_everything(points):
    provider = make(points[0])
    assert provider.query(bbox=[10.0, 50.0, 10.1, 50.1])["numberMatched"] == 0
    world = provider.query(bbox=[-180, -90, 180, 90], resulttype="hits")
    assert world["numberMatched"] == len(points[1])


@pytest.mark.parametrize("limit", [1, 37, 100])
def test_paging_a_bbox_returns_every_feature_once(points, bbox, limit):
    path, gdf = points
    ids = all_pages(make(path), limit, bbox=bbox)
    assert len(ids) == len(set(ids))
    assert set(ids) == reference_ids(gdf, bbox, "objekt_id")


def test_paging_a_sorted_bbox_returns_every_feature_once(points, bbox):
    path, gdf = points
    sortby = [{"property": "kind", "order": "-"}]  # few distinct values: many ties
    ids = all_pages(make(path), 23, bbox=bbox, sortby=sortby)
    assert len(ids) == len(set(ids))
    assert set(ids) == reference_ids(gdf, bbox, "objekt_id")


def test_hits_only(points, bbox):
    path, gdf = points
    result = make(path).query(bbox=bbox, resulttype="hits")
    assert result["features"] == [] and result["numberReturned"] == 0
    assert result["numberMatched"] == len(reference_ids(gdf, bbox, "objekt_id"))
    assert make(path).query(resulttype="hits")["numberMatched"] == len(gdf)


# -- sorting, filters, free text ---------------------------------------------------------------


@pytest.mark.parametrize("order", ["+", "-"])
def test_sortby(points, order):
    result = make(points[0]).query(limit=500, sortby=[{"property": "day", "order": order}])
    days = [f["properties"]["day"] for f in result["features"]]
    assert days == sorted(days, reverse=order == "-")
    # ties are broken by the primary key, ascending: stable pages
    expected = points[1].reset_index().sort_values(["day", "index"], ascending=[order == "+", True])
    expected_ids = [str(v) for v in expected["objekt_id"][:500]]
    assert [f["id"] for f in result["features"]] == expected_ids


def test_property_equality_filters(points):
    gdf = points[1]
    provider = make(points[0])
    result = provider.query(properties=[("kind", "3"), ("flag", "true")], limit=5000)
    expected = set(gdf.loc[(gdf.kind == 3) & gdf.flag, "objekt_id"])
    assert {f["id"] for f in result["features"]} == expected
    assert result["numberMatched"] == len(expected)
    assert all(f["properties"]["flag"] is True for f in result["features"])


def test_q_is_a_case_insensitive_substring(points):
    gdf = points[1]
    provider = make(points[0])

    def ids(q: str) -> set[str]:
        return {f["id"] for f in provider.query(q=q, limit=5000)["features"]}

    assert ids("PARK") == set(gdf.loc[gdf.name == "Parkplatz", "objekt_id"])
    assert ids("öko") == set(gdf.loc[gdf.name == "Öko-Markt", "objekt_id"])
    assert ids("ärzte") == set(gdf.loc[gdf.name == "ÄRZTEHAUS", "objekt_id"])
    assert ids("0%_r") == set(gdf.loc[gdf.name == "50%_Rabatt", "objekt_id"])  # no wildcards
    assert ids("p0001") == {f"P0001{i}" for i in range(10)}
    assert ids("nirgendwo") == set()


def test_select_properties_and_skip_geometry(points):
    feature = make(points[0]).query(limit=1, select_properties=["name"], skip_geometry=True)[
        "features"
    ][0]
    assert feature["geometry"] is None
    assert list(feature["properties"]) == ["name"]
    assert feature["id"] == "P00000"


# -- single features, output --------------------------------------------------------------------


def test_get_by_id(points):
    feature = make(points[0]).get("P00042")
    row = points[1].iloc[42]
    assert feature["id"] == "P00042"
    assert feature["properties"]["name"] == row["name"]
    assert feature["properties"]["kind"] == row["kind"]
    assert "fid" not in feature["properties"] and "geom" not in feature["properties"]


def test_get_missing_id(points):
    with pytest.raises(ProviderItemNotFoundError):
        make(points[0]).get("P99999")


def test_get_by_integer_primary_key(points):
    provider = make(points[0], id_field="fid")
    assert provider.get("1")["properties"]["objekt_id"] == "P00000"
    assert provider.get("1")["properties"]["fid"] == 1
    with pytest.raises(ProviderItemNotFoundError):
        provider.get("not-a-number")


def test_crs84_output_matches_pyproj(points):
    gdf = points[1]
    to_lonlat = pyproj.Transformer.from_crs(25832, "OGC:CRS84", always_xy=True)
    features = make(points[0]).query(limit=50)["features"]
    for feature, geom in zip(features, gdf.geometry[:50], strict=True):
        lon, lat = to_lonlat.transform(geom.x, geom.y)
        assert feature["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-12)


def test_crs_transform_back_to_storage_crs(points, polygons):
    spec = create_crs_transform_spec({"crs": [CRS84_URI, EPSG_25832]}, EPSG_25832)
    features = make(points[0]).query(limit=50, crs_transform_spec=spec)["features"]
    for feature, geom in zip(features, points[1].geometry[:50], strict=True):
        x, y = feature["geometry"]["coordinates"]
        assert abs(x - geom.x) < 1e-6 and abs(y - geom.y) < 1e-6
    polygon = make(polygons[0], id_field="code").get("F0000", crs_transform_spec=spec)
    assert shapely.geometry.shape(polygon["geometry"]).equals_exact(polygons[1].geometry[0], 1e-6)


def test_crs_transform_to_web_mercator(points):
    spec = create_crs_transform_spec({"crs": [CRS84_URI, EPSG_3857]}, EPSG_3857)
    feature = make(points[0]).get("P00007", crs_transform_spec=spec)
    x, y = pyproj.Transformer.from_crs(25832, 3857, always_xy=True).transform(
        points[1].geometry[7].x, points[1].geometry[7].y
    )
    assert feature["geometry"]["coordinates"] == pytest.approx([x, y], abs=1e-3)


def test_nan_becomes_null(points):
    result = make(points[0]).query(limit=100)
    json.dumps(result, allow_nan=False)  # raises on NaN or inf
    assert result["features"][0]["properties"]["value"] is None  # value[::50] = NaN
    column = make(points[0])
    assert column.fields["value"] == {"type": "number"}
    from geoportal.app.providers.gpkg_layer import Column

    convert = converter_for(Column("value", "REAL", {"type": "number"}))
    assert convert(math.nan) is None and convert(math.inf) is None and convert(1.5) == 1.5


def test_fields_and_schema(points):
    provider = make(points[0])
    assert provider.get_fields() == {
        "objekt_id": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "integer"},
        "value": {"type": "number"},
        "flag": {"type": "boolean"},
        "day": {"type": "string"},  # GDAL writes Python dates from an object column as TEXT
    }
    media_type, schema = provider.get_schema()
    assert media_type == "application/geo+json"
    assert schema["properties"]["properties"]["properties"]["kind"] == {"type": "integer"}


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"sortby": [{"property": "nope", "order": "+"}]},
        {"properties": [("nope", "1")]},
        {"properties": [("kind", "drei")]},
        {"select_properties": ["nope"]},
        {"bbox": [7.0, 51.0, 6.0, 52.0]},
        {"bbox": [7.0, 51.0, 8.0]},
        {"offset": -1},
        {"filterq": object()},
    ],
)
def test_invalid_queries_are_provider_errors(points, query):
    with pytest.raises(ProviderInvalidQueryError) as err:
        make(points[0]).query(**query)
    assert err.value.user_msg


def test_missing_file(tmp_path):
    with pytest.raises(ProviderConnectionError, match=re.escape(str(tmp_path / "fehlt.gpkg"))):
        make(tmp_path / "fehlt.gpkg")


def test_corrupt_file(tmp_path):
    path = tmp_path / "kaputt.gpkg"
    path.write_bytes(b"this is not a GeoPackage" * 100)
    with pytest.raises(ProviderConnectionError, match=r"kaputt\.gpkg"):
        make(path)


def test_unknown_id_field_is_a_configuration_error(points):
    with pytest.raises(ProviderConnectionError, match="id_field"):
        make(points[0], id_field="gibts_nicht")


# -- publishing: a symlink swapped between requests ----------------------------------------------


def test_symlink_swap_is_picked_up(tmp_path, points, polygons):
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir(), v2.mkdir()
    shutil.copy(points[0], v1 / "layer.gpkg")
    smaller = points[1].iloc[:10]
    smaller.to_file(v2 / "layer.gpkg", layer="punkte", engine="pyogrio")
    link = tmp_path / "published"
    link.symlink_to(v1)
    provider = make(link / "layer.gpkg")
    assert provider.query(resulttype="hits")["numberMatched"] == len(points[1])

    swap_link(link, v2)  # the publisher's atomic swap
    assert provider.query(resulttype="hits")["numberMatched"] == 10
    assert provider.get("P00003")["id"] == "P00003"
    with pytest.raises(ProviderItemNotFoundError):
        provider.get("P00042")


# -- GeoPackage binary header ------------------------------------------------------------------


@pytest.mark.parametrize(("indicator", "envelope"), [(0, 0), (1, 32), (2, 48), (3, 48), (4, 64)])
def test_header_envelope_sizes(indicator, envelope):
    wkb = shapely.to_wkb(shapely.Point(1, 2))
    for little_endian in (0, 1):
        flags = (indicator << 1) | little_endian
        blob = b"GP" + bytes([0, flags]) + struct.pack("<i", 25832) + bytes(envelope) + wkb
        start = wkb_offset(blob)
        assert start == 8 + envelope
        assert shapely.from_wkb(blob[start:]).equals(shapely.Point(1, 2))


def test_header_empty_and_garbage():
    assert wkb_offset(b"GP\x00\x11" + bytes(4)) is None  # empty flag
    assert wkb_offset(b"GP\x00\x0a" + bytes(4)) is None  # indicator 5: invalid
    assert wkb_offset(b"XX\x00\x01" + bytes(20)) is None
    assert wkb_offset(b"GP") is None


def test_decoding_is_vectorised_over_mixed_blobs():
    from geoportal.app.providers.gpkg_geometry import decode_geometries

    wkb = shapely.to_wkb(shapely.Point(3, 4))
    good = b"GP\x00\x01" + struct.pack("<i", 1) + wkb
    geoms = decode_geometries([good, None, b"GP\x00\x11" + bytes(4), good])
    assert [g is None for g in geoms] == [False, True, True, False]
    assert np.all(shapely.equals(geoms[[0, 3]], shapely.Point(3, 4)))
