"""Behaviour of the sample-city generator on the one-tile "tiny" district at low density."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geoportal.app.sample import DISTRICTS, SampleSpec, generate

TINY = {"lidar_density": 2.0, "ortho_resolution": 1.0}
TILE = (350, 5685)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    calls = []
    manifest = generate(SampleSpec(tiles=DISTRICTS["tiny"], **TINY), out,
                        progress=lambda *a: calls.append(a))
    manifest["_progress"] = calls
    return out, manifest


@pytest.fixture(scope="module")
def tiny_again(tmp_path_factory) -> dict:
    return generate(SampleSpec(tiles=DISTRICTS["tiny"], **TINY), tmp_path_factory.mktemp("again"))


def test_spec_validation_names_the_parameter():
    for kwargs, word in (({"tiles": [(350, 1)]}, "tiles"), ({"lidar_density": 0}, "lidar_density"),
                         ({"ortho_resolution": 0.3}, "ortho_resolution"),
                         ({"ortho_bands": "cmyk"}, "ortho_bands"), ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=word):
            SampleSpec(**kwargs)


def test_same_spec_gives_identical_bytes(tiny, tiny_again):
    _, m1 = tiny
    hashes1 = {k: v["sha256"] for k, v in m1["files"].items()}
    hashes2 = {k: v["sha256"] for k, v in tiny_again["files"].items()}
    assert hashes1 == hashes2
    assert any(k.endswith(".laz") for k in hashes1) and any(k.endswith(".tif") for k in hashes1)


def test_progress_and_manifest(tiny):
    out, m = tiny
    assert ("tiles", 1, 1) in m["_progress"]
    assert m["total_points"] > 0.5 * 2.0 * 1e6
    assert (out / "manifest.json").exists()


def test_tile_is_independent_of_extent(tiny, tmp_path):
    out, m = tiny
    m2 = generate(SampleSpec(tiles=[TILE, (351, 5685)], **TINY), tmp_path)
    name = "lidar/3dm_32_350_5685_1_nw.laz"
    assert m["files"][name]["sha256"] == m2["files"][name]["sha256"]
    dop = "dop/dop10rgb_32_350_5685_1_nw_2025.tif"
    assert m["files"][dop]["sha256"] == m2["files"][dop]["sha256"]
    t1 = gpd.read_file(out / "truth/trees.gpkg")
    t2 = gpd.read_file(tmp_path / "truth/trees.gpkg")
    in_tile = (t2.x >= 350000) & (t2.x < 351000) & (t2.y >= 5685000) & (t2.y < 5686000)
    own = t2[t2.tree_id // 1_000_000 == 350 * 10000 + 5685]
    assert len(t1) == len(own) and in_tile.sum() > 0
    pd.testing.assert_frame_equal(t1.drop(columns="geometry").reset_index(drop=True),
                                  own.drop(columns="geometry").reset_index(drop=True))


def test_las_format_facts(tiny):
    out, _ = tiny
    las = laspy.read(out / "lidar/3dm_32_350_5685_1_nw.laz")
    assert las.header.point_format.id == 1 and str(las.header.version) == "1.2"
    assert np.allclose(las.header.scales, 0.01)
    assert las.header.parse_crs() is None
    assert not any("Projection" in str(type(v)) or v.record_id in (2111, 2112, 34735)
                   for v in las.header.vlrs)
    cls = np.unique(np.asarray(las.classification))
    assert set(cls.tolist()) <= {1, 2, 9, 18, 20}
    assert {1, 2, 20} <= set(cls.tolist())
    z = np.asarray(las.z)
    ground = np.asarray(las.classification) == 2
    assert 35 < np.median(z[ground]) < 120
    nr = np.asarray(las.number_of_returns)
    rn = np.asarray(las.return_number)
    assert (rn <= nr).all() and (nr > 1).any()


def _grid_index(x, y, x0, y0, res=1.0):
    return ((y0 + 1000 - y) // res).astype(int), ((x - x0) // res).astype(int)


def test_trees_give_multiple_returns_and_roofs_single(tiny):
    out, _ = tiny
    las = laspy.read(out / "lidar/3dm_32_350_5685_1_nw.laz")
    x, y = np.asarray(las.x), np.asarray(las.y)
    nr = np.asarray(las.number_of_returns)
    trees = gpd.read_file(out / "truth/trees.gpkg")
    big = trees[trees.crown_diameter_m > 6]
    near_stem = big.geometry.buffer(1.5).union_all()
    import shapely

    pts = shapely.points(x, y)
    in_crown = shapely.contains(near_stem, pts)
    assert in_crown.sum() > 50
    assert (nr[in_crown] > 1).mean() > 0.4
    b = gpd.read_file(out / "truth/buildings.gpkg")
    roofs = b.geometry.buffer(-1.0).union_all()
    # crowns of trees owned by neighbouring cells may overhang roofs near the tile edge
    interior = (x > 350030) & (x < 350970) & (y > 5685030) & (y < 5685970)
    on_roof = interior & shapely.contains(roofs, pts) & ~shapely.contains(
        trees.geometry.buffer(trees.crown_diameter_m / 2 + 1).union_all(), pts)
    assert on_roof.sum() > 100
    # street trees of edges owned by a neighbouring cell are not in this tile's truth file
    assert (nr[on_roof] == 1).mean() > 0.99
    assert (np.asarray(las.classification)[on_roof] == 20).mean() > 0.99
    # roof heights are 3–25 m above the ground height of the building
    zr = np.asarray(las.z)[on_roof & (np.asarray(las.classification) != 18)]
    assert zr.min() > b.ground_height_m.min() + 2.5


def test_parcels_raw_file(tiny):
    out, _ = tiny
    info = pyogrio.read_info(out / "alkis/flurstuecke.gpkg", layer="flurstueck")
    fields = set(info["fields"])
    for f in ("oid", "aktualit", "idflurst", "flaeche", "flstkennz", "land", "landschl",
              "gemarkung", "gemaschl", "flur", "flurschl", "flstnrzae", "flstnrnen",
              "regbezirk", "regbezschl", "kreis", "kreisschl", "gemeinde", "gmdschl",
              "abwrecht", "lagebeztxt", "tntxt", "eigentuemer", "eigentuemer_anschrift",
              "eigentuemer_geburtsdatum"):
        assert f in fields, f
    p = gpd.read_file(out / "alkis/flurstuecke.gpkg", layer="flurstueck")
    assert p.crs.to_epsg() == 25832
    k = p.flstkennz
    assert k.str.len().eq(20).all()
    assert k.str.match(r"^05\d{4}\d{3}\d{5}(\d{4}|____)__$").all()
    assert k.is_unique
    assert (p.gmdschl == "05158028").all()
    assert p.eigentuemer.notna().all()
    # parcels tile the ground: no significant overlaps
    assert p.geometry.area.sum() == pytest.approx(p.geometry.union_all().area, rel=1e-3)
    ratio = p.flaeche / p.geometry.area
    assert (abs(ratio - 1) < 0.01).mean() > 0.95


def test_cadastre_csv_needs_german_reader_settings(tiny):
    out, _ = tiny
    path = out / "baumkataster/baumkataster_ratingen.csv"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    df = pd.read_csv(path, sep=";", encoding="cp1252", decimal=",")
    assert "Kronendurchmesser (m)" in df.columns
    assert df["Kronendurchmesser (m)"].dtype.kind == "f"
    assert df["Straße"].notna().all()
    good = pd.to_numeric(df["Rechtswert"], errors="coerce")
    assert good.between(349_000, 352_000).mean() > 0.95
    naive = pd.read_csv(path, sep=",", encoding="latin-1")
    assert len(naive.columns) < 5


def test_ortho_green_where_trees_are(tiny):
    out, _ = tiny
    trees = gpd.read_file(out / "truth/trees.gpkg")
    b = gpd.read_file(out / "truth/buildings.gpkg")
    with rasterio.open(out / "dop/dop10rgb_32_350_5685_1_nw_2025.tif") as src:
        assert src.crs.to_epsg() == 25832 and src.count == 3
        assert src.transform.c == 350000 and src.transform.f == 5686000
        img = src.read().astype(int)
        big = trees[(trees.crown_diameter_m > 5) & (trees.x > 350002) & (trees.x < 350998)
                    & (trees.y > 5685002) & (trees.y < 5685998)]
        rows, cols = rasterio.transform.rowcol(src.transform, big.x.to_numpy(),
                                               big.y.to_numpy())
    rows, cols = np.asarray(rows), np.asarray(cols)
    r, g, bl = (img[i][rows, cols] for i in range(3))
    assert len(big) > 20
    assert ((g > r) & (g > bl)).mean() > 0.9
    with rasterio.open(out / "dop/dop10rgb_32_350_5685_1_nw_2025.tif") as src:
        c = b.geometry.centroid
        rows, cols = rasterio.transform.rowcol(src.transform, c.x.to_numpy(), c.y.to_numpy())
    inside = (np.array(rows) >= 0) & (np.array(rows) < 1000) & (np.array(cols) >= 0) & (
        np.array(cols) < 1000)
    rr, cc = np.array(rows)[inside], np.array(cols)[inside]
    green_roof = (img[1][rr, cc] > img[0][rr, cc] + 10) & (img[1][rr, cc] > img[2][rr, cc] + 10)
    assert green_roof.mean() < 0.3  # roofs are mostly roofs, not crowns


def test_network_is_one_component(tiny):
    out, _ = tiny
    net = gpd.read_file(out / "reference/strassennetz.gpkg")
    assert {"motorway", "primary", "residential"} <= set(net.strassenklasse)
    coords = np.array([[ln.coords[0], ln.coords[-1]] for ln in net.geometry])
    ends = coords.reshape(-1, 2)
    uniq, inv = np.unique(np.round(ends, 3), axis=0, return_inverse=True)
    inv = inv.ravel()
    a, b = inv[0::2], inv[1::2]
    g = coo_matrix((np.ones(a.size), (a, b)), shape=(len(uniq), len(uniq)))
    n, _ = connected_components(g, directed=False)
    assert n == 1


def test_commercial_offers_reference_real_parcels(tiny):
    out, _ = tiny
    g = pd.read_csv(out / "gewerbeflaechen/freie_gewerbeflaechen.csv", dtype={"flstkennz": str})
    p = gpd.read_file(out / "alkis/flurstuecke.gpkg")
    assert len(g) > 0
    assert g.flstkennz.isin(p.flstkennz).all()
    assert set(g.planungsrecht) <= {"GE", "GI", "MI", "MK", "SO"}
