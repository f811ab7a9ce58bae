"""LiDAR products from a two-tile sample: terrain without holes, trees on the tile edge found
once and whole, building heights, incremental rebuilds, bad tiles, the same result on Dask."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import laspy
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from testkit.lidar import LIDAR_IDS, build, settings_for

from geoportal.app.sample.truth import complete_sample_truth
from geoportal.core.publish import read_metadata, sha256_file
from pipelines.lidar.score import match, score


@pytest.fixture(scope="module")
def built(two_tiles: Path, tmp_path_factory: pytest.TempPathFactory):
    settings = settings_for(tmp_path_factory.mktemp("lidar"), two_tiles)
    summary, log = build(settings, LIDAR_IDS)
    assert summary.ok, log
    return settings, log


def ground_z_range(path: Path) -> tuple[float, float]:
    las = laspy.read(path)
    z = np.asarray(las.z)[np.isin(np.asarray(las.classification), (2, 9))]  # ground, water
    return float(z.min()), float(z.max())


def test_terrain_tiles_are_cogs_without_holes_within_ground_range(built, two_tiles) -> None:
    settings, log = built
    assert "2/2" in log and "points/s" in log and "ETA" in log
    folder = settings.published_dir / "terrain_dtm"
    for key in ("350_5685", "351_5685"):
        low, high = ground_z_range(two_tiles / "lidar" / f"3dm_32_{key}_1_nw.laz")
        with rasterio.open(folder / "tiles" / f"terrain_dtm_{key}.tif") as src:
            assert src.crs.to_epsg() == 25832 and src.nodata is not None
            assert src.res == (0.5, 0.5) and src.overviews(1), "a COG has overviews"
            dtm = src.read(1)
        assert not (dtm == src.nodata).any() and np.isfinite(dtm).all()
        assert low - 0.01 <= dtm.min() and dtm.max() <= high + 0.01
    with rasterio.open(folder / "terrain_dtm.vrt") as mosaic:
        assert mosaic.bounds == (350000.0, 5685000.0, 352000.0, 5686000.0)
        edge = mosaic.read(1, window=((0, 2000), (1995, 2005)))
    assert np.abs(np.diff(edge, axis=1)).max() < 1.0, "no step in the terrain at the tile edge"


def test_published_rasters_are_valid_cogs_with_their_true_digests(built) -> None:
    settings, _ = built
    for dataset in ("terrain_dtm", "canopy_height", "hillshade"):
        for record in read_metadata(settings.published_dir, dataset).files:
            path = settings.published_dir / dataset / record.path
            valid, errors, _ = cog_validate(str(path), quiet=True)
            assert valid, (path, errors)
            assert record.sha256 == sha256_file(path), path


def test_canopy_is_surface_minus_terrain(built) -> None:
    settings, _ = built
    pub = settings.published_dir
    read = {name: rasterio.open(pub / name / f"{name}.vrt").read(1)
            for name in ("terrain_dtm", "surface_dsm", "canopy_height")}
    np.testing.assert_allclose(read["canopy_height"],
                               read["surface_dsm"] - read["terrain_dtm"], atol=0.01)
    assert (read["canopy_height"] >= 0).all()
    shade = rasterio.open(pub / "hillshade" / "hillshade.vrt").read(1)
    assert shade.min() >= 1 and shade.std() > 3


def test_tree_on_tile_edge_is_found_once_and_whole(built, two_tiles) -> None:
    settings, _ = built
    trees = gpd.read_file(settings.published_dir / "trees_lidar" / "trees_lidar.gpkg")
    crowns = gpd.read_file(settings.published_dir / "trees_lidar" / "trees_lidar_crowns.gpkg")
    truth = gpd.read_file(two_tiles / "truth" / "trees.gpkg")
    crosses = abs(truth.geometry.x - 351000) < truth.crown_diameter_m / 2
    on_edge = truth[crosses & (truth.height_m > 8)]
    assert len(on_edge), "the sample has trees whose crowns cross the tile edge"
    xy = np.column_stack([trees.geometry.x, trees.geometry.y])
    found = 0
    for _, tree in on_edge.iterrows():
        near = np.hypot(xy[:, 0] - tree.geometry.x, xy[:, 1] - tree.geometry.y)
        assert (near < tree.crown_diameter_m / 3).sum() <= 1, "one crown, one detection"
        if near.min() < 3:
            found += 1
            crown = crowns[crowns.tree_id == trees.tree_id.iloc[int(near.argmin())]].iloc[0]
            xmin, _, xmax, _ = crown.geometry.bounds
            # The sample generator draws each tile's crowns only inside the tile (its points
            # stop at the edge), so the crown must reach the edge, not be cut short of it.
            assert xmin <= 351000.5 and xmax >= 350999.5, "the crown reaches the tile edge"
    assert found >= len(on_edge) * 0.6


def test_tree_detection_scores_against_ground_truth(built, two_tiles) -> None:
    settings, _ = built
    trees = gpd.read_file(settings.published_dir / "trees_lidar" / "trees_lidar.gpkg")
    truth = gpd.read_file(two_tiles / "truth" / "trees.gpkg")
    result = score(trees, truth)
    print(json.dumps(result.as_dict(), indent=1))
    assert result.free_standing.recall > 0.7 and result.free_standing.precision > 0.6
    assert result.height_rmse_m < 2.0


def test_tree_detection_meets_the_issue_targets_against_complete_truth(built, two_tiles) -> None:
    """Issue #3: F1 >= 0.9 for free-standing trees, height RMSE <= 0.5 m (3 points/m² here;
    the city's clouds have 15). Scored where the truth is complete (score.complete_sample_truth)."""
    settings, _ = built
    trees = gpd.read_file(settings.published_dir / "trees_lidar" / "trees_lidar.gpkg")
    truth, area = complete_sample_truth(two_tiles)
    result = score(trees, truth, area=area)
    print(json.dumps(result.as_dict(), indent=1))
    assert result.free_standing.f1 >= 0.9
    assert result.closed_canopy.precision >= 0.9 and result.closed_canopy.recall >= 0.5
    assert result.height_rmse_m <= 0.5
    assert abs(result.crown_diameter_bias_m) <= 1.0


def test_match_is_one_to_one_and_within_distance() -> None:
    a = np.array([[0, 0], [1, 0], [10, 10]], dtype=float)
    b = np.array([[0.9, 0], [0.2, 0], [30, 30]], dtype=float)
    pairs = sorted(match(a, b, 2.0))
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 0)]


def test_building_heights_match_the_roofs(built, two_tiles) -> None:
    settings, _ = built
    heights = gpd.read_file(settings.published_dir / "building_heights" /
                            "building_heights.gpkg")
    alkis = gpd.read_file(two_tiles / "alkis" / "gebaeude.gpkg")
    assert len(heights) == len(alkis) and heights.building_id.is_unique
    truth = gpd.read_file(two_tiles / "truth" / "buildings.gpkg")
    joined = gpd.sjoin(heights.set_geometry(heights.representative_point()), truth,
                       predicate="within")
    error = (joined.height_p95_m - joined.ridge_height_m).abs()
    assert error.median() < 0.6


def test_rebuild_skips_unchanged_tiles_and_resumes(built, two_tiles, tmp_path) -> None:
    settings, _ = built
    summary, _ = build(settings, ["terrain_dtm"])
    assert summary.built[0].headline.startswith("unchanged since")  # nothing planned
    # A run killed after one tile: only that tile's cache entry exists; the rerun reuses it.
    fresh = settings_for(tmp_path / "resume", two_tiles)
    from geoportal.core.registry import load_registry
    from geoportal.core.settings import PROJECT_ROOT
    from pipelines.base import PipelineContext
    from pipelines.lidar.pipeline import LidarRasterPipeline
    registry = load_registry(PROJECT_ROOT / "datasets")
    pipeline = LidarRasterPipeline(registry["terrain_dtm"], PipelineContext(registry, fresh))
    pipeline.build(pipeline.plan()[0], tmp_path)
    summary, _ = build(fresh, ["terrain_dtm"])
    assert summary.ok and "1 tile(s) unchanged, reused" in summary.built[0].headline


def shared_cache(built, base: Path) -> None:
    """Reuse the module build's tile cache: only tiles whose inputs differ are recomputed."""
    (base / "cache").mkdir(parents=True)
    (base / "cache" / "lidar").symlink_to(built[0].data_dir / "cache" / "lidar")


def test_a_bad_tile_keeps_its_old_output_the_good_one_is_new_and_the_run_fails(
        built, two_tiles, tmp_path) -> None:
    """A re-delivery with one tile truncated: per-tile products (COGs, COPC) publish the good
    tile anew and keep serving the bad tile's previous file; the merged products (trees) keep
    their previous version whole; the run fails naming the tile and why."""
    raw = tmp_path / "raw"
    (raw / "lidar").mkdir(parents=True)
    for tile in (two_tiles / "lidar").iterdir():
        shutil.copy2(tile, raw / "lidar" / tile.name)
    shared_cache(built, tmp_path / "data")
    settings = settings_for(tmp_path / "data", raw)
    ids = ["terrain_dtm", "point_cloud", "trees_lidar"]
    summary, _ = build(settings, ids)
    assert summary.ok
    before = {i: read_metadata(settings.published_dir, i) for i in ids}
    good, bad = (raw / "lidar" / f"3dm_32_{e}_5685_1_nw.laz" for e in (350, 351))
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 3])
    shifted_copy(good, z=1.0)  # the good tile changes too: its new output must be published
    summary, log = build(settings, ids)
    assert set(summary.failed) == set(ids), log
    for dataset_id in ("terrain_dtm", "point_cloud"):
        message = summary.failed[dataset_id]
        assert message.startswith("1 unit(s) failed, the others are published"), message
        assert "351_5685" in message and "truncated" in message
        after = read_metadata(settings.published_dir, dataset_id)
        old = {f.unit: f for f in before[dataset_id].files}  # type: ignore[union-attr]
        new = {f.unit: f for f in after.files}  # type: ignore[union-attr]
        assert set(new) == {"350_5685", "351_5685"}
        assert new["351_5685"] == old["351_5685"]  # the old file, still served
        served = settings.published_dir / dataset_id / new["351_5685"].path
        assert sha256_file(served) == old["351_5685"].sha256
        assert new["350_5685"].sha256 != old["350_5685"].sha256  # the new delivery
        assert list(after.incomplete) == ["351_5685"]  # type: ignore[union-attr]
    with rasterio.open(settings.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as mosaic:
        assert mosaic.width == 2 * mosaic.height  # both squares in the mosaic
    assert read_metadata(settings.published_dir, "trees_lidar") == before["trees_lidar"]
    assert "351_5685" in summary.failed["trees_lidar"]


def shifted_copy(path: Path, z: float) -> None:
    """Rewrite a LAZ tile with every point ``z`` metres higher (a re-flown tile, say)."""
    las = laspy.read(path)
    las.z = las.z + z
    las.write(path)


def _write_tile(path: Path, classes: int, crs: str | None) -> None:
    header = laspy.LasHeader(point_format=1, version="1.2")
    header.offsets, header.scales = [352000.0, 5685000.0, 0.0], [0.01, 0.01, 0.01]
    if crs:
        from pyproj import CRS
        header.add_crs(CRS.from_user_input(crs))
    las = laspy.LasData(header)
    rng = np.random.default_rng(1)
    las.x = 352000 + rng.uniform(0, 1000, 5000)
    las.y = 5685000 + rng.uniform(0, 1000, 5000)
    las.z = rng.uniform(40, 50, 5000)
    las.classification = np.full(5000, classes, dtype=np.uint8)
    las.write(path)


@pytest.mark.parametrize("classes, crs, reason", [
    (1, None, "no ground points"),
    (2, "EPSG:4326", "declares the geographic CRS EPSG:4326"),
])
def test_tile_without_ground_or_in_another_crs_fails_alone(built, two_tiles, tmp_path, classes,
                                                            crs, reason) -> None:
    raw = tmp_path / "raw"
    (raw / "lidar").mkdir(parents=True)
    (raw / "lidar" / "3dm_32_351_5685_1_nw.laz").symlink_to(
        two_tiles / "lidar" / "3dm_32_351_5685_1_nw.laz")
    _write_tile(raw / "lidar" / "3dm_32_352_5685_1_nw.laz", classes, crs)
    shared_cache(built, tmp_path / "data")
    settings = settings_for(tmp_path / "data", raw)
    summary, log = build(settings, ["terrain_dtm"])
    message = summary.failed["terrain_dtm"]
    assert message.startswith("1 unit(s) failed, the others are published"), log
    assert "352_5685" in message and reason in message and "not published" in message
    published = read_metadata(settings.published_dir, "terrain_dtm")
    assert [f.unit for f in published.files] == ["351_5685"]  # type: ignore[union-attr]
    note = published.incomplete["352_5685"]  # type: ignore[union-attr]
    assert note.startswith("tile 352_5685: lidar/3dm_32_352_5685_1_nw.laz"), note  # no server path
    products = settings.data_dir / "cache" / "lidar" / "products"
    assert not (products / "352_5685").exists()


def test_dask_local_cluster_gives_identical_outputs(built, two_tiles, tmp_path) -> None:
    pytest.importorskip("dask.distributed")
    settings, _ = built
    other = settings_for(tmp_path / "dask", two_tiles)
    summary, log = build(other, ["terrain_dtm"], scheduler="local")
    assert summary.ok, log
    mine = {f.path: f.sha256 for f in read_metadata(settings.published_dir,
                                                    "terrain_dtm").files}
    theirs = {f.path: f.sha256 for f in read_metadata(other.published_dir,
                                                      "terrain_dtm").files}
    assert mine == theirs and len(mine) == 2


def test_workers_are_handed_tiles_far_apart() -> None:
    """Two workers on adjacent tiles wait for each other's decode of the tiles both need."""
    from pipelines.base import WorkUnit
    from pipelines.lidar.pipeline import LidarRasterPipeline

    units = [WorkUnit(key=f"{e}_{n}") for e in range(340, 350) for n in range(5680, 5690)]
    pipeline = object.__new__(LidarRasterPipeline)  # the order needs no dataset
    order = pipeline.submission_order(units, 2)
    assert sorted(u.key for u in order) == sorted(u.key for u in units)
    side_by_side = [(order[i], order[i + 1]) for i in range(0, len(order) - 1, 2)]
    e_apart = [abs(int(a.key[:3]) - int(b.key[:3])) for a, b in side_by_side]
    assert min(e_apart) >= 4, e_apart  # never neighbours: each sweeps its own columns
    assert pipeline.submission_order(units, 1) == units
