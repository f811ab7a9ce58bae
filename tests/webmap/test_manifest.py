"""The web-map manifest is the registry seen by the map: every expectation comes from the YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from testkit import make_settings

from geoportal.app.pygeoapi_config import render_config
from geoportal.app.webmap import GROUPS, build_manifest, map_link
from geoportal.app.webmap3d import elevation_encoding
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings

REGISTRY = load_registry(PROJECT_ROOT / "datasets")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The manifest for every dataset of the registry, as if all were built."""
    settings = make_settings(tmp_path_factory.mktemp("webmap"))
    return build_manifest(REGISTRY, render_config(REGISTRY)["resources"], settings)


def test_groups_follow_the_issue_order_and_hold_every_overlay_once(manifest: dict) -> None:
    order = [g["id"] for g in manifest["groups"]]
    assert order == [str(t) for t in GROUPS if str(t) in order]
    assert order[:2] == ["everyday", "education"] and order[-2:] == ["cadastre", "terrain"]
    in_tree = [lid for g in manifest["groups"] for lid in g["layers"]]
    assert len(in_tree) == len(set(in_tree)), "a layer appears twice in the tree"
    served = {d.id for d in REGISTRY if d.serve.features or d.serve.tiles or d.serve.coverage}
    base_only = {"orthophoto", "streets"}  # drawn as base maps, not as overlays
    assert set(in_tree) == served - base_only
    assert set(manifest["layers"]) == served
    assert "trees" in next(g for g in manifest["groups"] if g["id"] == "environment")["layers"]
    assert "canopy_height" in next(g for g in manifest["groups"]
                                   if g["id"] == "environment")["layers"]


def test_titles_fields_and_units_come_from_the_registry(manifest: dict) -> None:
    for d in REGISTRY:
        if d.id not in manifest["layers"]:
            continue
        layer = manifest["layers"][d.id]
        assert layer["title"] == {"de": d.title.de, "en": d.title.en}
        if d.schema_ is None:
            assert "fields" not in layer
            continue
        assert [f["name"] for f in layer["fields"]] == [p.name for p in d.schema.properties]
        for field, prop in zip(layer["fields"], d.schema.properties, strict=True):
            assert field["title"]["de"] == prop.title.de
            assert field.get("unit") == prop.unit
        assert layer["id_field"] == d.schema.id_field


def test_each_layer_is_drawn_the_way_it_is_served(manifest: dict) -> None:
    for d in REGISTRY:
        draw = manifest["layers"].get(d.id, {}).get("draw")
        if d.serve.tiles == "vector":
            assert draw["kind"] == "vector" and draw["tiles"].endswith("?f=mvt")
        elif d.serve.features:
            assert draw["kind"] == "features"
            assert manifest["layers"][d.id]["items"] == f"/collections/{d.id}/items"
        elif d.serve.tiles == "raster" and elevation_encoding(d):
            terrain = manifest["layers"][d.id]["terrain"]  # heights: the 3D view's terrain
            assert draw is None and terrain["tiles"].endswith("?f=png")
            assert manifest["view3d"]["terrain"]["dataset"] == d.id
        elif d.serve.tiles == "raster":
            assert draw["kind"] == "raster"
            assert "/tiles/WebMercatorQuad/{z}/{y}/{x}" in draw["tiles"]
        elif d.id in manifest["layers"]:
            assert draw is None, f"{d.id} is only a coverage: nothing to draw"


def test_downloads_and_catalogue_links(manifest: dict) -> None:
    for d in REGISTRY:
        if not d.serve.features:
            continue
        layer = manifest["layers"][d.id]
        hrefs = {x["href"] for x in layer["downloads"]}
        for fmt in ("csv", "geojson", "gpkg"):
            if fmt in d.outputs:
                assert f"/downloads/{d.id}/{d.id}.{fmt}" in hrefs
        assert layer["catalogue"] == f"/collections/{d.id}"


def test_with_a_ckan_configured_the_catalogue_link_still_opens_the_dataset_page(
        tmp_path: Path) -> None:
    """The map's "Katalog" leads to the portal's own page of the dataset; that page (its
    collection's links) names the CKAN entry, so a reader of either finds it."""
    from catalog.ckan import package_name
    from geoportal.app.dataset_pages import catalogue_links

    settings = Settings.from_env({**make_settings(tmp_path).as_env(),
                                  "CKAN_URL": "http://127.0.0.1:5005/"})
    manifest = build_manifest(REGISTRY, render_config(REGISTRY)["resources"], settings)
    assert manifest["layers"]["trees"]["catalogue"] == "/collections/trees"
    links = catalogue_links(REGISTRY["trees"], settings)
    assert [link["href"] for link in links if link["type"] == "text/html"] == [
        f"http://127.0.0.1:5005/dataset/{package_name('trees')}"]
    assert not catalogue_links(REGISTRY["trees"], make_settings(tmp_path)), (
        "no CKAN and no catalog.ttl written yet: no link that would not answer")


def test_each_dataset_page_links_the_map_view_that_shows_it(manifest: dict) -> None:
    assert map_link(manifest, "trees") == "/#layers=trees"
    assert map_link(manifest, "orthophoto") == "/#base=orthophoto"  # a base map only
    assert map_link(manifest, "streets") == "/#base=map"
    assert map_link(manifest, "terrain_dtm") is None  # a coverage: nothing to draw


def test_base_maps_come_from_our_own_tiles(manifest: dict) -> None:
    bases = {b["id"]: b for b in manifest["base"]}
    assert bases["map"]["sources"]["streets"]["tiles"].startswith("/collections/streets/tiles/")
    assert bases["map"]["sources"]["buildings"]["tiles"].startswith("/collections/buildings/")
    assert bases["orthophoto"]["tiles"].endswith("?f=jpeg")
    if REGISTRY["hillshade"].serve.tiles == "raster":
        assert bases["hillshade"]["tiles"].startswith("/collections/hillshade/tiles/")
    every_url = str(manifest)
    assert "http://" not in every_url and "https://" not in every_url, "no external URLs"


def test_a_layer_that_is_not_built_is_not_on_the_map(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path)
    resources = render_config(REGISTRY)["resources"]
    del resources["streets"], resources["trees"]
    manifest = build_manifest(REGISTRY, resources, settings)
    assert "trees" not in manifest["layers"]
    assert "map" not in {b["id"] for b in manifest["base"]}, "no streets, no city map"


@pytest.mark.server
@pytest.mark.slow
def test_the_server_sends_the_manifest_of_its_built_layers(server: str, portal: Settings) -> None:
    response = requests.get(f"{server}/assets/webmap.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    served = response.json()
    built = {d.id for d in REGISTRY if (portal.published_dir / d.id).exists()
             and (d.serve.features or d.serve.tiles or d.serve.coverage)}
    assert set(served["layers"]) == built
    west, south, east, north = served["bbox"]
    assert west < east and south < north


def test_legends_read_the_yaml_styles_and_the_tile_renderers_ramp(manifest: dict) -> None:
    from pipelines.imagery.webtiles import CANOPY_STOPS

    for d in REGISTRY:
        layer = manifest["layers"].get(d.id)
        if not layer or not d.style.classes:
            continue
        assert [(c["colour"], c["value"], c["label"]["de"]) for c in layer["legend"]["classes"]] \
            == [(c.colour, c.value, c.label.de) for c in d.style.classes], d.id
    symbols = {i: manifest["layers"][i]["legend"]["symbol"]
               for i in ("trees", "trees_lidar", "trees_not_in_cadastre", "public_toilets")}
    assert len(set(symbols.values())) == 4, symbols
    ramp = manifest["layers"]["canopy_height"]["legend"]
    assert [s[0] for s in ramp["stops"]] == [h for h, _ in CANOPY_STOPS] and ramp["unit"] == "m"
    assert manifest["layers"]["hillshade"]["legend"]["kind"] == "shade"
