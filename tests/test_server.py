"""The served portal, queried over HTTP like a browser, a developer and a desktop GIS would.

The server is the real thing (pygeoapi under gunicorn, started in a session fixture) serving the
layers built from the generated sample city. Expected answers are computed independently from the
published GeoPackage with geopandas, never taken from the server itself.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import requests
import shapely

from geoportal.core.publish import read_metadata
from geoportal.core.settings import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]
HTML = {"Accept": "text/html"}
FEATURES_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def published(portal: Settings, dataset_id: str) -> gpd.GeoDataFrame:
    return gpd.read_file(portal.published_dir / dataset_id / f"{dataset_id}.gpkg")


def central_bbox(layer: gpd.GeoDataFrame) -> list[float]:
    """A lon/lat box over the middle of a layer: some features inside, some outside."""
    minx, miny, maxx, maxy = layer.to_crs("EPSG:4326").total_bounds
    dx, dy = (maxx - minx) / 4, (maxy - miny) / 4
    return [minx + dx, miny + dy, maxx - dx, maxy - dy]


def expected_ids(layer: gpd.GeoDataFrame, bbox: list[float], id_field: str) -> set[str]:
    box = gpd.GeoSeries([shapely.box(*bbox)], crs="EPSG:4326").to_crs(layer.crs).iloc[0]
    return set(layer.loc[layer.intersects(box), id_field].astype(str))


def get_json(url: str, **params: object) -> dict:
    response = requests.get(url, params={"f": "json", **params}, timeout=30)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return response.json()


def test_landing_page_lists_every_layer_in_german_and_english(server: str,
                                                              portal: Settings) -> None:
    from geoportal.core.registry import load_registry

    registry = load_registry(portal.datasets_dir)
    german = requests.get(f"{server}/", headers=HTML, timeout=30)
    english = requests.get(f"{server}/", params={"lang": "en"}, headers=HTML, timeout=30)
    assert german.status_code == english.status_code == 200
    assert '<html lang="de">' in german.text and '<html lang="en">' in english.text
    catalogue = requests.get(f"{server}/downloads/catalog.ttl", timeout=30).text
    for d in registry:
        if not (d.serve.features or d.serve.tiles or d.serve.coverage):
            assert f"/downloads/{d.id}/" in catalogue  # download only (COPC): in the catalogue
            continue
        assert d.title.de in german.text and d.title.get("en") in english.text
        items_link = f'href="{server}/collections/{d.id}/items?f=html"'
        if d.serve.coverage:
            assert f'href="{server}/collections/{d.id}?f=json">Rasterdaten' in german.text
        if d.serve.tiles:
            assert f'href="{server}/collections/{d.id}/tiles?f=json"' in german.text
        if not d.serve.features:  # rasters: a coverage or tiles, no items, no CSV
            assert items_link not in german.text, f"{d.id} offers items it does not have"
            continue
        assert items_link in german.text
        assert f"{server}/downloads/{d.id}/{d.id}.csv" in german.text
    assert "cdn" not in german.text.lower(), "the portal runs offline: no CDN assets"


def test_collections_openapi_and_conformance(server: str) -> None:
    collections = {c["id"] for c in get_json(f"{server}/collections")["collections"]}
    assert {"trees", "public_toilets"} <= collections
    openapi = get_json(f"{server}/openapi")
    assert "/collections/trees/items" in openapi["paths"]
    assert "/collections/public_toilets/items/{featureId}" in openapi["paths"]
    assert FEATURES_CORE in get_json(f"{server}/conformance")["conformsTo"]


@pytest.mark.parametrize("dataset_id, id_field", [("trees", "tree_id"),
                                                  ("parcels", "parcel_id")])
def test_bbox_returns_exactly_the_intersecting_features(server: str, portal: Settings,
                                                        dataset_id: str, id_field: str) -> None:
    layer = published(portal, dataset_id)
    bbox = central_bbox(layer)
    expected = expected_ids(layer, bbox, id_field)
    assert 0 < len(expected) < len(layer), "the test box must cut the layer"
    page = get_json(f"{server}/collections/{dataset_id}/items",
                    bbox=",".join(map(str, bbox)), limit=10000)
    assert page["numberMatched"] == len(expected)
    assert {str(f["id"]) for f in page["features"]} == expected


def test_paging_a_bbox_yields_every_feature_exactly_once(server: str, portal: Settings) -> None:
    layer = published(portal, "trees")
    bbox = central_bbox(layer)
    expected = expected_ids(layer, bbox, "tree_id")
    seen: list[str] = []
    url: str | None = f"{server}/collections/trees/items?f=json&limit=7&bbox=" + \
        ",".join(map(str, bbox))
    while url:
        page = requests.get(url, timeout=30).json()
        seen += [str(f["id"]) for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        assert len(seen) <= len(expected) + 7, "paging does not end"
    assert len(seen) == len(set(seen)), "a feature appeared on two pages"
    assert set(seen) == expected


def test_single_item_matches_the_published_row(server: str, portal: Settings) -> None:
    layer = published(portal, "trees").set_index("tree_id")
    tree_id = str(layer.index[len(layer) // 2])
    feature = get_json(f"{server}/collections/trees/items/{tree_id}")
    row = layer.loc[tree_id]
    assert feature["id"] == tree_id
    assert feature["properties"]["species_de"] == row["species_de"]
    lon, lat = feature["geometry"]["coordinates"]
    point = gpd.GeoSeries([row.geometry], crs=layer.crs).to_crs("EPSG:4326").iloc[0]
    assert (lon, lat) == pytest.approx((point.x, point.y), abs=1e-7)


def test_output_in_the_city_crs_returns_stored_coordinates(server: str, portal: Settings) -> None:
    layer = published(portal, "public_toilets").set_index("toilet_id")
    toilet_id = str(layer.index[0])
    feature = get_json(f"{server}/collections/public_toilets/items/{toilet_id}",
                       crs="http://www.opengis.net/def/crs/EPSG/0/25832")
    x, y = feature["geometry"]["coordinates"]
    assert (x, y) == pytest.approx((layer.loc[toilet_id].geometry.x,
                                    layer.loc[toilet_id].geometry.y), abs=0.001)


def test_csv_and_geojson_output(server: str, portal: Settings) -> None:
    response = requests.get(f"{server}/collections/trees/items",
                            params={"f": "csv", "limit": 25}, timeout=30)
    assert response.status_code == 200 and "csv" in response.headers["Content-Type"]
    table = pd.read_csv(io.StringIO(response.text))
    assert len(table) == 25 and "species_botanical" in table.columns
    assert "eigentuemer" not in response.text.lower()
    collection = get_json(f"{server}/collections/public_toilets/items", limit=1000)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(published(portal, "public_toilets"))


@pytest.mark.parametrize("params, fragment", [
    ({"limit": "abc"}, "limit"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"sortby": "no_such_field"}, "sortby"),
])
def test_bad_parameters_get_a_400_that_says_why(server: str, params: dict,
                                                fragment: str) -> None:
    response = requests.get(f"{server}/collections/trees/items",
                            params={"f": "json", **params}, timeout=30)
    assert response.status_code == 400, response.text[:300]
    assert fragment in response.json()["description"].lower()


def test_unknown_item_and_collection_are_404(server: str) -> None:
    assert requests.get(f"{server}/collections/trees/items/nope?f=json", timeout=30) \
        .status_code == 404
    assert requests.get(f"{server}/collections/nope/items?f=json", timeout=30).status_code == 404


def test_downloads_are_the_published_files(server: str, portal: Settings) -> None:
    metadata = read_metadata(portal.published_dir, "trees")
    assert metadata is not None
    for record in metadata.files:
        response = requests.get(f"{server}/downloads/trees/{record.path}", timeout=30)
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == record.sha256


def test_downloads_never_serve_the_versions_store_builds_or_temporary_files(
        server: str, portal: Settings) -> None:
    """Only the published link is a download: not the version folders behind it (a build in
    progress or killed lies there), nor a writer's hidden temporary file."""
    from geoportal.core.publish import BUILDING, VERSIONS

    served = (portal.published_dir / "trees").resolve()
    record = read_metadata(portal.published_dir, "trees").files[0]  # type: ignore[union-attr]
    building = served.parent / f"{BUILDING}20261207T000000-1-abcdefgh"
    building.mkdir(exist_ok=True)
    (building / record.path).write_text("half a build")
    temporary = served / f".{record.path}.tmp-1-0123456789ab.csv"
    temporary.write_text("half a file")
    try:
        for path in (f"{VERSIONS}/trees/{served.name}/{record.path}",
                     f"{VERSIONS}/trees/{building.name}/{record.path}",
                     f"trees/{temporary.name}"):
            response = requests.get(f"{server}/downloads/{path}", timeout=30)
            assert response.status_code == 404, path
        assert requests.get(f"{server}/downloads/trees/{record.path}",
                            timeout=30).status_code == 200
    finally:
        temporary.unlink()
        shutil.rmtree(building)


def test_gdal_oapif_driver_reads_the_collection(server: str, portal: Settings, ogrinfo: str,
                                                tmp_path: Path) -> None:
    """A desktop GIS reads us through GDAL: every tree arrives, at the right place."""
    target = tmp_path / "trees.geojson"
    subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{server}/collections/trees",
                    "-oo", "PAGE_SIZE=1000"], check=True, capture_output=True, timeout=120)
    read = gpd.read_file(target)
    layer = published(portal, "trees")
    assert len(read) == len(layer)
    assert set(read["tree_id"].astype(str)) == set(layer["tree_id"].astype(str))
    info = subprocess.run([ogrinfo, "-ro", "-so", "-al", f"OAPIF:{server}/collections/trees"],
                          check=True, capture_output=True, text=True, timeout=120).stdout
    assert f"Feature Count: {len(layer)}" in info


def test_owslib_reads_the_collection(server: str, portal: Settings) -> None:
    from owslib.ogcapi.features import Features

    api = Features(server)
    assert "trees" in [c["id"] for c in api.collections()["collections"]]
    layer = published(portal, "trees")
    bbox = central_bbox(layer)
    items = api.collection_items("trees", bbox=bbox, limit=10000)
    assert {str(f["id"]) for f in items["features"]} == expected_ids(layer, bbox, "tree_id")
    assert json.dumps(items).count('"Feature"') == len(items["features"])


def test_collection_advertises_downloads_with_sizes_and_the_real_extent(server: str,
                                                                        portal: Settings) -> None:
    metadata = read_metadata(portal.published_dir, "trees")
    assert metadata is not None
    collection = get_json(f"{server}/collections/trees")
    enclosures = {link["href"].rsplit("/", 1)[-1]: link for link in collection["links"]
                  if link["rel"] == "enclosure"}
    assert set(enclosures) == {f.path for f in metadata.files}
    for record in metadata.files:
        assert enclosures[record.path]["length"] == record.bytes
    assert enclosures["trees.gpkg"]["type"] == "application/geopackage+sqlite3"
    assert collection["extent"]["spatial"]["bbox"][0] == pytest.approx(metadata.bbox_wgs84)


def test_no_download_reveals_a_server_path(server: str, portal: Settings) -> None:
    """The reports and metadata a citizen can download name inputs as the registry does
    (``baumkataster/…csv``), never where the server keeps them (was: every report.json)."""
    private = [str(portal.raw_dir.resolve()), str(portal.data_dir.resolve()), str(PROJECT_ROOT)]
    texts = list(portal.published_dir.glob("*/report.json")) + \
        list(portal.published_dir.glob("*/metadata.json"))
    assert len(texts) > 20
    for path in texts:
        rel = path.relative_to(portal.published_dir).as_posix()
        body = requests.get(f"{server}/downloads/{rel}", timeout=30).text
        assert not [p for p in private if p in body], rel
    report = requests.get(f"{server}/downloads/trees/report.json", timeout=30).json()
    assert report["source"] == "baumkataster/baumkataster_ratingen.csv"


def test_browsers_on_other_sites_may_call_the_api(server: str) -> None:
    response = requests.get(f"{server}/collections?f=json",
                            headers={"Origin": "https://example.org"}, timeout=30)
    assert response.headers.get("Access-Control-Allow-Origin") in ("*", "https://example.org")


def test_downloads_answer_range_requests(server: str, portal: Settings) -> None:
    """Cloud-optimised files are read window by window over HTTP: ranges must work."""
    whole = requests.get(f"{server}/downloads/trees/trees.csv", timeout=30)
    part = requests.get(f"{server}/downloads/trees/trees.csv", headers={"Range": "bytes=10-99"},
                        timeout=30)
    assert part.status_code == 206
    assert part.content == whole.content[10:100]
    assert requests.get(f"{server}/downloads/trees/nope.csv", timeout=30).status_code == 404


TRAVERSALS = ["../{target}", "%2e%2e/{target}", "%2E%2E%2F{target}", "%252e%252e%252f{target}",
              "..%2f{target}", "trees/../../{target}", "trees/..%2f..%2f{target}",
              "..%5c{target}", "/{abs}", "%2f{abs_encoded}", "....//{target}"]


@pytest.mark.parametrize("route, target", [
    ("/downloads/", "canary-for-traversal.txt"),  # a file beside the published folder
    ("/assets/", "../../pyproject.toml"),  # the checkout, two levels above web/src
    ("/assets/vendor/maplibre-gl/", "../../../../pyproject.toml"),
])
def test_no_path_reaches_a_file_outside_the_served_folders(server: str, portal: Settings,
                                                           route: str, target: str) -> None:
    """Raw request lines, sent as written (an HTTP library would normalise ``..`` away before
    the handler sees it): plain, encoded, double-encoded, backslashed and absolute paths."""
    (portal.data_dir / "canary-for-traversal.txt").write_text("CANARY-7f3a", encoding="utf-8")
    host, port = server.removeprefix("http://").split(":")
    for pattern in TRAVERSALS:
        path = route + pattern.format(target=target, abs="etc/passwd",
                                      abs_encoded="etc%2fpasswd")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status in (400, 404), (path, response.status)
        assert b"CANARY-7f3a" not in body and b"[project]" not in body \
            and b"root:x:0:0" not in body, path


def test_a_whole_city_coverage_request_is_refused_with_advice(server: str) -> None:
    """Without a subset pygeoapi would read the whole mosaic into memory."""
    response = requests.get(f"{server}/collections/terrain_dtm/coverage?f=json", timeout=30)
    assert response.status_code == 400
    assert "subset=x(" in response.json()["description"]
    assert "in EPSG:25832 (or bbox)" in response.json()["description"]  # the DTM's own CRS
    cut = requests.get(f"{server}/collections/terrain_dtm/coverage", timeout=60, params={
        "subset": "x(350100:350150),y(5685100:5685150)", "f": "GTiff"})
    assert cut.status_code == 200


def test_the_map_page_is_german_whatever_the_browser_prefers(server: str) -> None:
    """German first: an English-speaking browser gets German unless it asks for ?lang=en."""
    english_browser = {**HTML, "Accept-Language": "en-US,en;q=0.9"}
    page = requests.get(f"{server}/", headers=english_browser, timeout=30)
    assert '<html lang="de">' in page.text and ">English</a>" in page.text
    asked = requests.get(f"{server}/", params={"lang": "en"}, headers=english_browser, timeout=30)
    assert '<html lang="en">' in asked.text and ">Deutsch</a>" in asked.text


def test_every_layer_url_the_start_up_prints_opens(server: str, portal: Settings) -> None:
    """`geoportal serve` prints one URL per layer; rasters have no /items, so theirs differ."""
    import yaml

    from geoportal.app.server import entry_path

    config = yaml.safe_load((portal.data_dir / "pygeoapi-runtime.yml").read_text("utf-8"))
    paths = {rid: entry_path(rid, res) for rid, res in config["resources"].items()}
    assert paths["orthophoto"] == "/collections/orthophoto/tiles"
    assert paths["trees"] == "/collections/trees/items"
    for rid, path in paths.items():
        answer = requests.get(f"{server}{path}", params={"f": "json"}, timeout=60)
        assert answer.status_code == 200, f"{rid}: {path} answered {answer.status_code}"
