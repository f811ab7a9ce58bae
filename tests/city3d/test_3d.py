"""The 3D city (issue #19): LoD1 heights, CityJSON 2.0, 3D Tiles 1.1 with glTF, as a client
reads them, from the built sample portal."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import requests
import shapely
from testkit.city3d import Glb, client_ecef, gltf_validator

from geoportal.core.settings import Settings
from pipelines.city3d import cityjson
from pipelines.city3d.tileset import globe_frame


@pytest.fixture(scope="module")
def city(portal: Settings) -> Settings:
    """The built sample portal (the suite builds it once for the served tests; the 3D
    datasets add about 10 s to it)."""
    return portal


def _published(settings: Settings, dataset: str) -> Path:
    return settings.published_dir / dataset


def _tiles(settings: Settings) -> list[str]:
    """The DTM's tiles: the 3D datasets' work units."""
    meta = json.loads((_published(settings, "terrain_dtm") / "metadata.json").read_text())
    return sorted(f["unit"] for f in meta["files"])


def _tileset(settings: Settings, dataset: str) -> dict:
    return json.loads((_published(settings, dataset) / "3dtiles" / "tileset.json").read_text())


def test_every_footprint_gets_its_ground_and_roof_height(city: Settings) -> None:
    blocks = gpd.read_file(_published(city, "buildings_3d") / "buildings_3d.gpkg")
    heights = gpd.read_file(_published(city, "building_heights") / "building_heights.gpkg")
    assert sorted(blocks["building_id"]) == sorted(heights["building_id"])  # once each
    assert (blocks["roof_m"] > blocks["ground_m"]).all()
    # against the generator's truth: its ground height is the terrain at the building
    truth = gpd.read_file(city.raw_dir / "truth" / "buildings.gpkg")
    joined = gpd.sjoin(blocks.set_geometry(blocks.representative_point()),
                       truth[["ground_height_m", "geometry"]], predicate="within")
    assert len(joined) >= 0.95 * len(blocks)
    # the floor is the lowest terrain along the outline: at or below the terrain at the house
    assert (joined["ground_m"] <= joined["ground_height_m"] + 0.05).mean() >= 0.98
    below = joined["ground_height_m"] - joined["ground_m"]
    assert below.median() < 0.3, "the floor sits on the ground, not in a pit"
    merged = joined.merge(heights[["building_id", "height_p95_m"]], on="building_id")
    reference = merged["roof_m"] - merged["height_p95_m"]  # the terrain the roof was measured on
    assert np.abs(reference - merged["ground_height_m"]).median() < 0.05


def test_cityjson_tiles_are_valid_and_a_broken_file_is_refused(city: Settings,
                                                                tmp_path: Path) -> None:
    folder = _published(city, "buildings_3d") / "cityjson"
    files = sorted(folder.glob("*.city.json"))
    assert [f.name for f in files] == [f"buildings_3d_{key}.city.json" for key in _tiles(city)]
    total = 0
    for path in files:
        report = cityjson.validate(path)
        assert report.valid and not report.warnings, (report.validator, report.errors[:3])
        doc = json.loads(path.read_text())
        assert doc["version"] == "2.0" and doc["metadata"]["referenceSystem"].endswith("/25832")
        total += len(doc["CityObjects"])
    blocks = gpd.read_file(_published(city, "buildings_3d") / "buildings_3d.gpkg")
    assert total == int(np.isfinite(blocks["roof_m"]).sum())

    doc = json.loads(files[0].read_text())
    some = next(iter(doc["CityObjects"].values()))["geometry"][0]
    wrong = {
        "a vertex index past the list": lambda d, s: s["boundaries"][0][0][0].__setitem__(
            0, len(d["vertices"]) + 5),
        "an inward-turned solid": lambda d, s: s["boundaries"][0].__setitem__(
            slice(None), [[ring[::-1] for ring in face] for face in s["boundaries"][0]]),
        "the old version": lambda d, s: d.__setitem__("version", "1.1"),
    }
    for what, spoil in wrong.items():
        broken = json.loads(json.dumps(doc))
        geometry = next(iter(broken["CityObjects"].values()))["geometry"][0]
        assert geometry == some
        spoil(broken, geometry)
        target = tmp_path / "broken.city.json"
        target.write_text(json.dumps(broken))
        assert not cityjson.validate(target).valid, what


def test_glb_content_passes_the_khronos_validator(city: Settings) -> None:
    for dataset in ("buildings_3d", "trees_3d"):
        for path in sorted((_published(city, dataset) / "3dtiles" / "tiles").glob("*.glb")):
            issues = gltf_validator(path)
            assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, \
                (path.name, issues["messages"][:5])


def test_tileset_bounds_its_content_and_refines_to_exact_leaves(city: Settings) -> None:
    frame = globe_frame()
    for dataset in ("buildings_3d", "trees_3d"):
        tileset = _tileset(city, dataset)
        assert tileset["asset"]["version"] == "1.1"
        root = tileset["root"]
        assert tileset["geometricError"] == root["geometricError"] > 0
        west, south, east, north, low, high = root["boundingVolume"]["region"]
        assert len(root["children"]) == len(_tiles(city))
        for child in root["children"]:
            assert child["geometricError"] == 0
            glb = Glb(_published(city, dataset) / "3dtiles" / child["content"]["uri"])
            points = np.vstack([glb.positions(m) if dataset == "buildings_3d" else
                                glb.instances(m)[0] for m in range(len(glb.gltf.meshes))])
            local = np.column_stack([points[:, 0], -points[:, 2], points[:, 1]])
            box = np.asarray(child["boundingVolume"]["box"])
            half = np.array([box[3], box[7], box[11]])
            assert (np.abs(local - box[:3]) <= half + 0.01).all(), "content inside its box"
            ecef = client_ecef(points, child["transform"])
            geo = frame.to_geodetic(frame.from_ecef(ecef))
            lon, lat = np.radians(geo[:, 0]), np.radians(geo[:, 1])
            assert ((west <= lon) & (lon <= east) & (south <= lat) & (lat <= north)).all()
            assert ((low - 0.01 <= geo[:, 2]) & (geo[:, 2] <= high + 0.01)).all()


def test_a_building_transformed_back_stands_on_its_footprint_at_its_heights(
        city: Settings) -> None:
    blocks = gpd.read_file(_published(city, "buildings_3d") / "buildings_3d.gpkg")
    blocks = blocks.set_index("building_id")
    frame = globe_frame()
    checked = 0
    for child in _tileset(city, "buildings_3d")["root"]["children"]:
        glb = Glb(_published(city, "buildings_3d") / "3dtiles" / child["content"]["uri"])
        utm = frame.from_ecef(client_ecef(glb.positions().astype(float), child["transform"]))
        ids, table = glb.feature_ids().astype(int), glb.table()
        for n in np.unique(ids)[:: max(1, len(np.unique(ids)) // 25)]:
            block = blocks.loc[table["building_id"][n]]
            mine = utm[ids == n]
            outline = shapely.boundary(block.geometry)
            off = shapely.distance(shapely.points(mine[:, :2]), outline)
            inside = shapely.contains_xy(block.geometry, mine[:, 0], mine[:, 1])
            assert ((off < 0.03) | inside).all()  # roof triangles use the outline's vertices
            if table.get("roof_type", ["lod1"] * (n + 1))[n] == "lod1":
                assert off.max() < 0.03, "every vertex of a block is a footprint vertex"
                levels = np.minimum(np.abs(mine[:, 2] - block.ground_m),
                                    np.abs(mine[:, 2] - block.roof_m))
                assert levels.max() < 0.03
            else:  # LoD2 (tests/city3d/test_lod2.py): on the ground, the roof above it
                assert abs(mine[:, 2].min() - block.ground_m) < 0.03
            assert abs(table["roof_m"][n] - block.roof_m) < 0.01
            checked += 1
    assert checked >= 20


def test_trees_are_instanced_and_stand_on_the_terrain_at_their_height(city: Settings) -> None:
    trees = gpd.read_file(_published(city, "trees") / "trees.gpkg")
    height = trees["lidar_height_m"].fillna(trees["height_m"]).to_numpy()
    xy = shapely.get_coordinates(trees.geometry.values)
    frame = globe_frame()
    dtm = _published(city, "terrain_dtm") / "terrain_dtm.vrt"
    instanced = 0
    for child in _tileset(city, "trees_3d")["root"]["children"]:
        glb = Glb(_published(city, "trees_3d") / "3dtiles" / child["content"]["uri"])
        assert glb.gltf.extensionsRequired == ["EXT_mesh_gpu_instancing"]
        assert len(glb.gltf.meshes) == 2, "one trunk and one crown mesh, whatever the count"
        centre, scale = glb.instances(1)
        top = centre + np.column_stack([np.zeros(len(centre)), scale[:, 1],
                                        np.zeros(len(centre))])
        utm = frame.from_ecef(client_ecef(top.astype(float), child["transform"]))
        nearest = np.argmin(((utm[:, None, :2] - xy[None]) ** 2).sum(axis=2), axis=1)
        assert np.abs(utm[:, :2] - xy[nearest]).max() < 0.03
        with rasterio.open(dtm) as src:
            ground = np.array([v[0] for v in src.sample(xy[nearest])])  # at the tree
        assert np.abs(utm[:, 2] - ground - height[nearest]).max() < 0.05
        instanced += len(centre)
    assert instanced >= 0.9 * np.isfinite(height).sum()


def test_the_3d_downloads_are_served_beside_the_features(server: str) -> None:
    item = requests.get(f"{server}/collections/buildings_3d/items",
                        params={"limit": 1, "f": "json"}, timeout=60).json()["features"][0]
    assert item["properties"]["roof_m"] > item["properties"]["ground_m"]
    base = f"{server}/downloads/buildings_3d"
    tileset = requests.get(f"{base}/3dtiles/tileset.json", timeout=60)
    assert tileset.status_code == 200
    assert tileset.headers["Content-Type"].startswith("application/json")
    uri = tileset.json()["root"]["children"][0]["content"]["uri"]
    glb = requests.get(f"{base}/3dtiles/{uri}", timeout=60)
    assert glb.status_code == 200 and glb.headers["Content-Type"] == "model/gltf-binary"
    head = requests.get(f"{base}/3dtiles/{uri}", headers={"Range": "bytes=0-3"}, timeout=60)
    assert head.status_code == 206 and head.content == b"glTF"
    city = requests.get(f"{base}/cityjson/buildings_3d_350_5685.city.json", timeout=60)
    assert city.status_code == 200 and city.json()["type"] == "CityJSON"
    trees = requests.get(f"{server}/downloads/trees_3d/3dtiles/tileset.json", timeout=60)
    assert trees.status_code == 200 and trees.json()["asset"]["version"] == "1.1"
