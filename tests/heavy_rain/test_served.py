"""The heavy-rain layers of the tiny sample city: built with the portal, served by pygeoapi."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import requests
from rasterio.io import MemoryFile

from geoportal.core.settings import Settings

SCENARIOS = ("rare", "exceptional", "extreme")


def published(portal: Settings, dataset: str, suffix: str) -> str:
    return str(portal.published_dir / dataset / f"{dataset}{suffix}")


def test_sample_city_sinks_hold_more_water_the_heavier_the_rain(portal: Settings) -> None:
    sinks = gpd.read_file(published(portal, "heavy_rain_sinks", ".gpkg"))
    assert len(sinks) >= 1 and sinks.crs.to_epsg() == 25832
    assert (sinks.volume_m3 > 0).all() and (sinks.catchment_area_m2 >= sinks.area_m2).all()
    depths = sinks[[f"depth_{s}_m" for s in SCENARIOS]].to_numpy()
    assert (np.diff(depths, axis=1) >= -1e-9).all()        # 40 ≤ 45 ≤ 90 mm
    assert (depths <= sinks.max_depth_m.to_numpy()[:, None] + 1e-3).all()  # never over the rim
    paths = gpd.read_file(published(portal, "heavy_rain_flow_paths", ".gpkg"))
    assert len(paths) > 0 and (paths.upstream_area_m2 >= 10000).all()


def test_sample_city_depth_rasters_match_the_sinks(portal: Settings) -> None:
    sinks = gpd.read_file(published(portal, "heavy_rain_sinks", ".gpkg"))
    with rasterio.open(published(portal, "heavy_rain_sink_depth", ".vrt")) as src:
        sink_depth = src.read(1, masked=True)
        cell = src.res[0] * src.res[1]
    assert float(sink_depth.sum()) * cell == pytest.approx(sinks.volume_m3.sum(), rel=1e-3)
    with rasterio.open(published(portal, "heavy_rain_depth_extreme", ".vrt")) as src:
        extreme = src.read(1, masked=True)
    assert (extreme <= sink_depth + 1e-4).all() and float(extreme.max()) > 0
    meta = json.loads((portal.published_dir / "heavy_rain_depth_extreme" /
                       "metadata.json").read_text())
    assert any("not a 2-D surface-flow model" in w for w in meta["warnings"])


def test_sinks_and_flow_paths_are_served_as_features(server: str) -> None:
    for collection, field in (("heavy_rain_sinks", "volume_m3"),
                              ("heavy_rain_flow_paths", "upstream_area_m2")):
        response = requests.get(f"{server}/collections/{collection}/items?f=json&limit=5",
                                timeout=60)
        assert response.status_code == 200, response.text[:300]
        features = response.json()["features"]
        assert features and all(f["properties"][field] > 0 for f in features)
    one = requests.get(f"{server}/collections/heavy_rain_sinks/items/S00001?f=json", timeout=60)
    assert one.status_code == 200 and one.json()["properties"]["sink_id"] == "S00001"


def test_water_depth_is_served_as_a_coverage(server: str, portal: Settings) -> None:
    with rasterio.open(published(portal, "heavy_rain_depth_extreme", ".vrt")) as src:
        left, bottom, right, top = src.bounds
        whole = src.read(1)
    url = (f"{server}/collections/heavy_rain_depth_extreme/coverage"
           f"?subset=x({left:.0f}:{right:.0f}),y({bottom:.0f}:{top:.0f})&f=GTiff")
    response = requests.get(url, timeout=60)
    assert response.status_code == 200, response.text[:300]
    with MemoryFile(response.content) as mem, mem.open() as served:
        assert served.crs.to_epsg() == 25832
        assert np.allclose(served.read(1), whole)


def tile_pixel(server: str, dataset: str, x: float, y: float,
               zoom: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The served map tile (RGBA) around the point (x, y) in EPSG:25832, and its pixel there."""
    import io

    import morecantile
    from PIL import Image
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(x, y)
    quad = morecantile.tms.get("WebMercatorQuad")
    tile = quad.tile(lon, lat, zoom)
    response = requests.get(f"{server}/collections/{dataset}/tiles/WebMercatorQuad/"
                            f"{tile.z}/{tile.y}/{tile.x}?f=png", timeout=60)
    assert response.status_code == 200, response.text[:300]
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))
    west, south, east, north = quad.xy_bounds(tile)
    mx, my = quad.xy(lon, lat)
    px = min(255, int((mx - west) / (east - west) * 256))
    py = min(255, int((north - my) / (north - south) * 256))
    return image, tuple(int(v) for v in image[py, px])


def test_water_depth_map_tile_shows_the_deepest_water_in_the_darkest_class(
        server: str, portal: Settings) -> None:


    with rasterio.open(published(portal, "heavy_rain_depth_extreme", ".vrt")) as src:
        depth = src.read(1, masked=True)
        row, col = np.unravel_index(int(depth.argmax()), depth.shape)
        x, y = src.xy(row, col)
    image, (r, g, b, a) = tile_pixel(server, "heavy_rain_depth_extreme", x, y, 17)
    assert a == 255 and b > r and b > g  # blue where the water stands
    assert (image[..., 3] == 0).any()    # and transparent where it is dry


def test_dynamic_maps_are_published_per_scenario_with_their_water_balance(
        portal: Settings) -> None:
    depths = []
    for scenario in SCENARIOS:
        with rasterio.open(published(portal, f"heavy_rain_flood_depth_{scenario}", ".vrt")) as s:
            depth = s.read(1, masked=True)
            assert s.crs.to_epsg() == 25832 and s.res == (5.0, 5.0)
        with rasterio.open(published(portal, f"heavy_rain_flow_velocity_{scenario}",
                                     ".vrt")) as src:
            speed = src.read(1, masked=True)
        assert float(depth.max()) > 0.05 and 0 < float(speed.max()) < 10
        assert ((speed > 0) <= (depth > dynamic_h_velocity())).all()  # no speed without water
        depths.append(float(depth.sum()))
        meta = json.loads((portal.published_dir / f"heavy_rain_flood_depth_{scenario}" /
                           "metadata.json").read_text())
        assert any("2-D surface-flow simulation" in w for w in meta["warnings"])
        assert any(w.startswith("Terrain: terrain_dtm captured 20") for w in meta["warnings"])
    assert depths[0] <= depths[1] <= depths[2]  # 40 ≤ 45 ≤ 90 mm: more water everywhere


def dynamic_h_velocity() -> float:
    from pipelines.heavy_rain.dynamic import H_VELOCITY

    return H_VELOCITY - 1e-6


def test_velocity_map_tile_draws_the_fastest_water_in_a_velocity_colour(
        server: str, portal: Settings) -> None:


    from pipelines.imagery.webtiles import FLOW_VELOCITY_CLASSES

    dataset = "heavy_rain_flow_velocity_extreme"
    with rasterio.open(published(portal, dataset, ".vrt")) as src:
        speed = src.read(1, masked=True)
        row, col = np.unravel_index(int(speed.argmax()), speed.shape)
        x, y = src.xy(row, col)
        fastest = float(speed.max())
    _, pixel = tile_pixel(server, dataset, x, y, 16)
    expected = [c for bound, c in FLOW_VELOCITY_CLASSES if bound <= fastest][-1]
    assert pixel[:3] == expected and pixel[3] == 255
    manifest = requests.get(f"{server}/assets/webmap.json", timeout=60)
    assert manifest.status_code == 200
    legend = manifest.json()["layers"][dataset]["legend"]
    assert legend["kind"] == "swatches"
    assert [c["colour"] for c in legend["classes"]] == [
        "#{:02x}{:02x}{:02x}".format(*c) for _, c in FLOW_VELOCITY_CLASSES]


def wall_depths(portal: Settings, scenario: str) -> dict[str, float]:
    """Per published building the deepest cell of the max-depth raster whose centre lies in
    the ring one cell wide outside its footprint: computed here building by building."""
    from rasterio.features import geometry_mask

    with rasterio.open(published(portal, f"heavy_rain_flood_depth_{scenario}", ".vrt")) as src:
        depth = src.read(1, masked=True).filled(0)
        transform, cell = src.transform, src.res[0]
    houses = gpd.read_file(published(portal, "buildings", ".gpkg"))
    found = {}
    for building_id, footprint in zip(houses.building_id, houses.geometry, strict=True):
        ring = footprint.buffer(cell).difference(footprint)
        inside = ~geometry_mask([ring], depth.shape, transform)
        found[building_id] = float(depth[inside].max()) if inside.any() else 0.0
    return found


def test_cql2_finds_exactly_the_buildings_the_depth_raster_floods_at_the_wall(
        server: str, portal: Settings) -> None:
    expected = wall_depths(portal, "extreme")
    layer = "heavy_rain_buildings_extreme"
    for threshold in (0.5, 0.1):
        response = requests.get(f"{server}/collections/{layer}/items", timeout=60, params={
            "f": "json", "filter": f"max_depth_m > {threshold}", "filter-lang": "cql2-text",
            "limit": 5000})
        assert response.status_code == 200, response.text[:300]
        served = {f["properties"]["building_id"] for f in response.json()["features"]}
        assert served == {b for b, d in expected.items() if round(d, 2) > threshold}
    assert served  # the sample's extreme rain puts more than 0.1 m at some walls
    streets = requests.get(f"{server}/collections/heavy_rain_streets_extreme/items", timeout=60,
                           params={"f": "json", "filter": "flooded_length_m > 0", "limit": 50})
    assert streets.status_code == 200, streets.text[:300]
    assert all(0 < f["properties"]["flooded_length_m"] <= f["properties"]["length_m"]
               for f in streets.json()["features"])
    assert streets.json()["features"]


def test_the_catalogue_dates_each_heavy_rain_map_by_the_flight_of_its_terrain(
        portal: Settings) -> None:
    import laspy
    from rdflib import URIRef

    from catalog.dcat import dataset_graph
    from catalog.model import describe
    from catalog.vocab import DCAT, DCT
    from geoportal.core.publish import read_metadata
    from geoportal.core.registry import load_registry

    flown = []
    for laz in sorted((portal.raw_dir / "lidar").glob("*.laz")):
        with laspy.open(laz) as reader:
            flown.append(reader.header.creation_date.isoformat())
    terrain = read_metadata(portal.published_dir, "terrain_dtm")
    assert terrain is not None and terrain.period == [min(flown), max(flown)]
    registry = load_registry(portal.datasets_dir)
    for dataset in ("heavy_rain_sinks", "heavy_rain_sink_depth", "heavy_rain_depth_extreme",
                    "heavy_rain_flood_depth_rare"):
        meta = read_metadata(portal.published_dir, dataset)
        assert meta is not None and meta.period == terrain.period
        record = describe(registry[dataset], meta, portal.url)
        graph = dataset_graph(record)
        period = graph.value(URIRef(record.uri), DCT.temporal)
        assert str(graph.value(period, DCAT.startDate)) == min(flown)
        assert str(graph.value(period, DCAT.endDate)) == max(flown)
