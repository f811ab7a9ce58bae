"""The roof solar potential as a user meets it: Features with CQL2, vector tiles, the map's
legend and popup facts in German and English, a DCAT-AP.de catalogue entry (issue 19.4)."""

from __future__ import annotations

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import requests
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from catalog.static import write_static_catalog
from geoportal.app.webmap import build_manifest
from geoportal.core.registry import load_registry


def items(server: str, **params) -> dict:
    response = requests.get(f"{server}/collections/roof_solar/items",
                            params={"f": "json", "limit": 1000, **params}, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response.json()


def test_a_cql2_filter_finds_exactly_the_roofs_above_a_yield(solar_server, roof_planes):
    found = items(solar_server, filter="yield_kwh > 5000 AND orientation = 'south'")
    expected = roof_planes[(roof_planes["yield_kwh"] > 5000)
                           & (roof_planes["orientation"] == "south")]
    assert len(expected) > 0
    assert sorted(f["id"] for f in found["features"]) == sorted(expected["roof_plane_id"])
    one = found["features"][0]["properties"]
    assert one["roof_type"] in {"flat", "shed", "gabled", "hipped", "complex"}
    assert one["kwp"] > 0 and one["irradiation_kwh_m2"] > 800


def test_roof_planes_are_served_as_vector_tiles(solar_server, roof_planes):
    plane = roof_planes[roof_planes["suitable_area_m2"] > 20].iloc[0]
    centre = gpd.GeoSeries([plane.geometry.representative_point()], crs=roof_planes.crs
                           ).to_crs("EPSG:4326").iloc[0]
    tile = morecantile.tms.get("WebMercatorQuad").tile(centre.x, centre.y, 16)
    response = requests.get(f"{solar_server}/collections/roof_solar/tiles/WebMercatorQuad/"
                            f"{tile.z}/{tile.y}/{tile.x}", params={"f": "mvt"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    features = mapbox_vector_tile.decode(response.content)["roof_solar"]["features"]
    mine = [f["properties"] for f in features
            if f["properties"]["roof_plane_id"] == plane["roof_plane_id"]]
    assert mine and mine[0]["suitability"] == plane["suitability"]


def test_the_map_colours_planes_by_suitability_with_a_bilingual_legend(solar_built):
    registry = load_registry(solar_built.datasets_dir)
    resources = {"roof_solar": {"type": "collection", "providers": [
        {"type": "feature"}, {"type": "tile", "name": "MVT-tippecanoe",
                              "options": {"zoom": {"min": 13, "max": 16}}}]}}
    layer = build_manifest(registry, resources, solar_built)["layers"]["roof_solar"]
    legend = layer["legend"]
    assert (legend["kind"], legend["field"]) == ("area", "suitability")
    assert [c["value"] for c in legend["classes"]] == ["very good", "good", "limited", None]
    assert legend["classes"][0]["label"]["de"].startswith("sehr gut geeignet")
    assert legend["classes"][0]["label"]["en"].startswith("very good")
    fields = {f["name"]: f for f in layer["fields"]}
    # popups: German labels of the codes, titles in both languages
    assert fields["suitability"]["values"]["very good"] == "sehr gut geeignet"
    assert fields["orientation"]["values"]["south-west"] == "Südwest"
    assert fields["roof_type"]["values"]["gabled"] == "Satteldach"
    assert fields["yield_kwh"]["title"] == {"de": "Geschätzter Jahresertrag",
                                            "en": "Estimated yearly yield"}
    assert fields["yield_kwh"]["unit"] == "kWh"


def test_the_layer_is_catalogued_as_dcat_ap_de(solar_built):
    registry = load_registry(solar_built.datasets_dir)
    static = write_static_catalog(registry, solar_built.published_dir, solar_built.url)
    assert static.report.violations == []
    graph = Graph().parse(solar_built.published_dir / "catalog.ttl")
    dataset = next(s for s in graph.subjects(RDF.type, DCAT.Dataset)
                   if str(s).endswith("roof_solar"))
    assert Literal("Solarpotenzial der Dachflächen (Solarkataster)", lang="de") in \
        set(graph.objects(dataset, DCTERMS.title))
    formats = {str(graph.value(d, DCTERMS["format"]))
               for d in graph.objects(dataset, DCAT.distribution)}
    assert any(f.endswith("GPKG") for f in formats), formats
    assert isinstance(dataset, URIRef)
