"""Parcels: area plausibility, repairs reported, GeoParquet, vector tiles over OGC API Tiles."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
import shapely
import shapely.affinity
import shapely.geometry
from testkit import make_settings

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import build_all


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Web Mercator tile column and row (XYZ) of a point, the standard slippy-map formula."""
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def parcel(kennz: str, geometry: shapely.Geometry, flaeche: float | None) -> dict:
    return {"flstkennz": kennz, "gemarkung": "Ratingen", "gemaschl": "053134", "flur": 1,
            "flstnrzae": kennz[9:14].lstrip("0"), "flstnrnen": None, "flaeche": flaeche,
            "lagebeztxt": "Markt", "tntxt": "Wohnbaufläche", "aktualit": "2025-01-01",
            "eigentuemer": "Mustermann, Erika", "geometry": geometry}


def square(x: float, y: float, side: float) -> shapely.Polygon:
    return shapely.box(x, y, x + side, y + side)


@pytest.fixture
def hand_made(tmp_path: Path) -> Settings:
    """Six parcels whose area check and repair outcome can be worked out by hand."""
    settings = make_settings(tmp_path)
    bowtie = shapely.Polygon([(350300, 5685300), (350340, 5685340), (350340, 5685300),
                              (350300, 5685340)])  # self-intersecting: 2 triangles of 400 m²
    rows = [
        parcel("05313400100001______", square(350000, 5685000, 20), 400),  # exact
        parcel("05313400100002______", square(350100, 5685000, 20), 440),  # −9.1 % → flagged
        parcel("05313400100003______", square(350200, 5685000, 3.2), 10),   # 10.24 m²: rounding
        parcel("05313400100004______", square(350000, 5685100, 20), None),  # unknown: no flag
        parcel("05313400100005______", square(350100, 5685100, 20), 388),  # +3.1 %, 12 m² → flag
        parcel("05313400100006______", bowtie, 800),                        # repaired, exact
    ]
    path = settings.raw_dir / "alkis" / "flurstuecke.gpkg"
    path.parent.mkdir(parents=True)
    gpd.GeoDataFrame(rows, crs="EPSG:25832").to_file(path, layer="flurstueck")
    return settings


def test_area_check_flags_large_differences_and_reports_them(hand_made: Settings) -> None:
    summary = build_all(load_registry(PROJECT_ROOT / "datasets"), hand_made, ["parcels"],
                        echo=lambda _: None)
    assert summary.ok, summary.lines()
    folder = hand_made.published_dir / "parcels"
    layer = gpd.read_file(folder / "parcels.gpkg").set_index("parcel_id")
    flags = {k[9:14]: None if pd.isna(v) else bool(v) for k, v in layer["area_deviates"].items()}
    assert flags == {"00001": False, "00002": True, "00003": False, "00004": None,
                     "00005": True, "00006": False}
    assert layer["area_difference_pct"].iloc[1] == pytest.approx(-9.09, abs=0.01)
    assert layer["computed_area_m2"].iloc[5] == pytest.approx(800.0)
    assert layer.geometry.is_valid.all()
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    flagged = [k for k in report["by_reason"] if k.startswith("flagged:")]
    assert len(flagged) == 1 and report["by_reason"][flagged[0]] == 2
    assert report["values_repaired"] == 1
    assert any("Self-intersection" in r for r in report["by_reason"])
    examples = " ".join(e["value"] for e in report["examples"][flagged[0]])
    assert "05313400100002______: official 440 m², computed 400.0 m²" in examples


def test_geoparquet_matches_the_geopackage(portal: Settings) -> None:
    folder = portal.published_dir / "parcels"
    gpkg = gpd.read_file(folder / "parcels.gpkg").set_index("parcel_id").sort_index()
    parquet = gpd.read_parquet(folder / "parcels.parquet").set_index("parcel_id").sort_index()
    assert parquet.crs.to_epsg() == 25832
    assert list(parquet.index) == list(gpkg.index) and len(parquet) > 100
    assert parquet.geometry.geom_equals_exact(gpkg.geometry, tolerance=1e-6).all()
    pd.testing.assert_series_equal(parquet["official_area_m2"], gpkg["official_area_m2"],
                                   check_dtype=False)
    geo = json.loads(pq.read_schema(folder / "parcels.parquet").metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and "bbox" in geo["columns"]["geometry"]["covering"]
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert "parquet" in {f["format"] for f in metadata["files"]}


@pytest.mark.server
def test_parcels_are_served_as_vector_tiles(server: str, portal: Settings) -> None:
    parcels = gpd.read_file(portal.published_dir / "parcels" / "parcels.gpkg").to_crs(4326)
    some = parcels.iloc[len(parcels) // 2]
    centre = some.geometry.representative_point()
    z = 15
    x, y = lonlat_to_tile(centre.x, centre.y, z)
    url = f"{server}/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"
    response = requests.get(url, params={"f": "mvt"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    tile = mapbox_vector_tile.decode(response.content)
    features = tile["parcels"]["features"]
    ids = {f["properties"]["parcel_id"] for f in features}
    assert some["parcel_id"] in ids
    west, south, east, north = tile_bounds(x, y, z)
    inside = parcels[parcels.intersects(shapely.box(west, south, east, north))]
    margin = (east - west) * 8 / 256  # tippecanoe's tile buffer (5 of 256 units) and rounding
    near = parcels[parcels.intersects(shapely.box(west - margin, south - margin, east + margin,
                                                  north + margin))]
    assert set(inside["parcel_id"]) <= ids <= set(near["parcel_id"])
    assert {"official_area_m2", "area_deviates"} <= set(features[0]["properties"])
    meta = requests.get(f"{server}/collections/parcels/tiles?f=json", timeout=30)
    assert meta.status_code == 200 and "WebMercatorQuad" in meta.text


def tile_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    n = 2 ** z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def test_tiles_are_swapped_with_the_version(hand_made: Settings, sample_raw: Path) -> None:
    """The tile link always shows one complete version: the new one after a rebuild."""
    registry = load_registry(PROJECT_ROOT / "datasets")
    assert build_all(registry, hand_made, ["parcels"], echo=lambda _: None).ok
    link = hand_made.tiles_dir / "parcels"
    first = sorted(p.relative_to(link) for p in link.rglob("*.pbf"))
    first_target = link.resolve()
    shutil.copy(sample_raw / "alkis" / "flurstuecke.gpkg",
                hand_made.raw_dir / "alkis" / "flurstuecke.gpkg")
    assert build_all(registry, hand_made, ["parcels"], echo=lambda _: None).ok
    second = sorted(p.relative_to(link) for p in link.rglob("*.pbf"))
    assert link.is_symlink() and link.resolve() != first_target
    assert len(second) > len(first) > 0
    assert (link / "metadata.json").exists()
    assert first_target.exists(), "the previous version stays for readers mid-request"


def test_no_owner_data_in_geoparquet_or_tiles(portal: Settings, sample_raw: Path) -> None:
    """Compressed outputs are decoded first: a byte search cannot see into zstd or protobuf."""
    raw = gpd.read_file(sample_raw / "alkis" / "flurstuecke.gpkg")
    owners = {str(v) for c in ("eigentuemer", "eigentuemer_anschrift") for v in raw[c].dropna()
              if "," in str(v)}
    assert len(owners) > 10
    folder = portal.published_dir / "parcels"
    table = pq.read_table(folder / "parcels.parquet")
    assert not {n for n in table.column_names if n.startswith("eigentuemer")}
    text = " ".join(str(v) for column in table.drop(["geometry"]).columns
                    for v in column.to_pylist())
    assert not [o for o in owners if o in text]
    tiles = list((portal.tiles_dir / "parcels").rglob("*.pbf"))
    assert tiles
    for path in tiles:
        for layer in mapbox_vector_tile.decode(path.read_bytes()).values():
            for feature in layer["features"]:
                values = " ".join(str(v) for v in feature["properties"].values())
                assert not any(k.startswith("eigentuemer") for k in feature["properties"])
                assert not [o for o in owners if o in values]


WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.mark.server
def test_the_maps_zooms_show_every_parcel_of_the_download(server: str, portal: Settings) -> None:
    """What the web map draws is what a citizen downloads: the tiles the map asks for exist at
    each zoom of the map's own range (its manifest), and at the deepest one every parcel of the
    GeoJSON download is in them with its area and attributes (beyond it the map overzooms)."""
    manifest = requests.get(f"{server}/assets/webmap.json", timeout=30).json()
    layer = manifest["layers"]["parcels"]
    draw = layer["draw"]
    href = next(d["href"] for d in layer["downloads"] if d["href"].endswith(".geojson"))
    response = requests.get(f"{server}{href}", timeout=60)
    assert response.status_code == 200, href
    # the values as the file holds them (a date stays the text a user reads)
    download = gpd.GeoDataFrame.from_features(response.json()["features"], crs="OGC:CRS84")
    download = download.set_index("parcel_id")
    west, south, east, north = download.total_bounds
    for z in range(draw["minzoom"], draw["maxzoom"] + 1):
        centre = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, z)
        assert served_parcels(server, draw, centre), f"no parcels in the map's z{z} tile"
    pieces = [piece for tile in WEB_MERCATOR.tiles(west, south, east, north, [draw["maxzoom"]])
              for piece in served_parcels(server, draw, tile)]
    pieces = gpd.GeoDataFrame(pieces, crs="EPSG:3857")
    attributes_per_parcel = pieces.drop(columns="geometry").groupby("parcel_id")
    assert attributes_per_parcel.nunique().max().max() == 1, "tiles disagree about a parcel"
    tiled = pieces.dissolve("parcel_id").to_crs(25832)
    utm = download.to_crs(25832)
    assert sorted(tiled.index) == sorted(download.index) and len(download) > 100
    tiled = tiled.loc[utm.index]
    # at z16 a tile unit is 9 cm: the drawn outline is within a few of them of the parcel's
    off = tiled.geometry.hausdorff_distance(utm.geometry, align=True)
    assert (off < 0.25).all(), off[off >= 0.25]
    attributes = [c for c in download.columns if c != "geometry"]
    assert {"official_area_m2", "area_deviates", "land_use"} <= set(attributes)
    differing = [(pid, c, row[c], tiled.at[pid, c]) for pid, row in download.iterrows()
                 for c in attributes if not same_value(row[c], tiled.at[pid, c])]
    assert differing == []
    folder = portal.published_dir / "parcels"
    assert not list(folder.glob(".*")), "no scratch files (input, log) left in the version"


def served_parcels(server: str, draw: dict, tile: morecantile.Tile) -> list[dict]:
    """The parcels of one tile as the map requests it (its URL template), in Web Mercator;
    an empty list for a tile the server has none in."""
    path = draw["tiles"].format(z=tile.z, x=tile.x, y=tile.y)
    response = requests.get(f"{server}{path}", timeout=30)
    if response.status_code == 404:
        return []
    assert response.status_code == 200, (path, response.text[:300])
    decoded = mapbox_vector_tile.decode(response.content).get(draw["source_layer"])
    if not decoded:
        return []
    bounds = WEB_MERCATOR.xy_bounds(tile)
    scale_x = (bounds.right - bounds.left) / decoded["extent"]
    scale_y = (bounds.top - bounds.bottom) / decoded["extent"]  # decoded MVT: y grows upwards
    to_mercator = [scale_x, 0.0, 0.0, scale_y, bounds.left, bounds.bottom]
    return [{**f["properties"], "geometry": shapely.affinity.affine_transform(
                shapely.geometry.shape(f["geometry"]), to_mercator).buffer(0)}
            for f in decoded["features"]]


def same_value(downloaded: object, tiled: object) -> bool:
    """Equal as a user reads them: a tile stores numbers as int or float and drops a null
    attribute, so a value missing from the download must be missing from the tile too."""
    if missing(downloaded) or missing(tiled):
        return missing(downloaded) and missing(tiled)
    flags = [isinstance(v, bool | np.bool_) for v in (downloaded, tiled)]
    if any(flags):
        return all(flags) and bool(downloaded) == bool(tiled)
    numbers = int | float | np.integer | np.floating
    if isinstance(downloaded, numbers) and isinstance(tiled, numbers):
        return math.isclose(float(downloaded), float(tiled), rel_tol=1e-9, abs_tol=1e-9)
    return str(downloaded) == str(tiled)


def missing(value: object) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))
