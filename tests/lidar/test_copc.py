"""COPC downloads: written by our octree + copclib, checked with an independent reader (laspy)."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
from testkit import missing
from testkit.lidar import build, settings_for

from geoportal.core.publish import sha256_file
from pipelines.lidar.copc import build_octree, write_copc

NRW_TILE = "nrw-lidar-3dm/3dm_32_291_5744_1_nw_subset.laz"
FIELDS = ["intensity", "classification", "return_number", "number_of_returns", "gps_time",
          "point_source_id", "user_data", "synthetic", "key_point", "withheld",
          "scan_direction_flag", "edge_of_flight_line"]


def _scan_degrees(points: laspy.ScaleAwarePointRecord) -> np.ndarray:
    """Scan angle in whole degrees: legacy formats store degrees, LAS 1.4 units of 0.006°."""
    if "scan_angle_rank" in points.array.dtype.names:
        return np.asarray(points.array["scan_angle_rank"], dtype=np.int16)
    return np.round(points.array["scan_angle"] * 0.006).astype(np.int16)


def _sorted(points: laspy.ScaleAwarePointRecord, fields: list[str]) -> dict[str, np.ndarray]:
    """Fields of ``points`` in a canonical order (by integer X, Y, Z and the fields themselves)."""
    cols = {n: np.asarray(points[n]) for n in ["X", "Y", "Z", *fields]}
    cols["scan_angle_degrees"] = _scan_degrees(points)
    order = np.lexsort([cols[n] for n in reversed(list(cols))])
    return {n: c[order] for n, c in cols.items()}


def assert_same_cloud(source: Path, copc: Path) -> None:
    """Every source point once in the COPC file, with its coordinates and attributes."""
    src = laspy.read(source)
    with laspy.CopcReader.open(str(copc)) as reader:
        assert reader.header.point_format.id in (6, 7, 8)
        out = reader.query()
        assert len(out) == len(src.points) == reader.header.point_count
        returns = np.bincount(np.asarray(src.return_number), minlength=16)[1:16]
        assert list(laspy.open(copc).header.number_of_points_by_return) == list(returns)
        fields = [n for n in FIELDS if n in src.point_format.dimension_names]
        a, b = _sorted(src.points, fields), _sorted(out, fields)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        # A bbox query returns exactly the source points inside it.
        lo, hi = np.asarray(reader.header.mins), np.asarray(reader.header.maxs)
        mins = np.array([lo[0] + 100.0, lo[1] + 150.0, lo[2]])
        maxs = np.array([lo[0] + 420.0, lo[1] + 380.0, hi[2]])
        box = reader.query(bounds=laspy.copc.Bounds(mins=mins, maxs=maxs))
        scales, offsets = reader.header.scales, reader.header.offsets
        imin = np.round((mins - offsets) / scales)
        imax = np.round((maxs - offsets) / scales)
        inside = np.ones(len(src.points), bool)
        for axis, name in enumerate("XYZ"):
            values = np.asarray(src.points[name])
            inside &= (imin[axis] <= values) & (values <= imax[axis])
        assert 0 < len(box) == int(inside.sum()) < len(out)
        # Coarser levels of detail hold fewer points: what a viewer fetches when zoomed out.
        coarse, fine = reader.query(resolution=5.0), reader.query(resolution=0.5)
        assert 0 < len(coarse) < len(fine) <= len(out)


def test_octree_puts_every_point_in_one_node_inside_its_cube() -> None:
    rng = np.random.default_rng(1)
    xyz = rng.uniform([0, 0, 0], [1000, 1000, 40], (50_000, 3))
    tree = build_octree(xyz.T, grid=16, leaf_max=2_000)
    assert np.array_equal(np.sort(tree.order), np.arange(len(xyz)))
    assert max(k[0] for k in tree.keys) >= 2
    origin = tree.center - tree.halfsize
    keys = set(tree.keys)
    for i, (d, x, y, z) in enumerate(tree.keys):
        size = 2 * tree.halfsize / 2 ** d
        pts = xyz[tree.node(i)]
        assert (pts >= origin + size * np.array([x, y, z]) - 1e-6).all()
        assert (pts <= origin + size * np.array([x + 1, y + 1, z + 1]) + 1e-6).all()
        if d:  # the hierarchy is connected: every node's parent exists
            assert (d - 1, x // 2, y // 2, z // 2) in keys


def test_octree_levels_of_detail_keep_the_first_point_per_cell_in_file_order() -> None:
    """The root keeps one point per cell of its grid (the first in the file), a node's points
    stay in file order, and a node over ``leaf_max`` passes the others to its children."""
    rng = np.random.default_rng(7)
    xyz = rng.uniform([0, 0, 0], [100, 100, 10], (20_000, 3))
    tree = build_octree(xyz.T, grid=8, leaf_max=500)
    root = tree.node(tree.keys.index((0, 0, 0, 0)))
    assert np.all(np.diff(root) > 0), "file order within the node"
    origin, size = tree.center - tree.halfsize, 2 * tree.halfsize / 8
    cells = np.floor((xyz - origin) / size).astype(int)
    flat = (cells[:, 0] * 8 + cells[:, 1]) * 8 + cells[:, 2]
    _, first = np.unique(flat, return_index=True)
    assert np.array_equal(np.sort(root), np.sort(first))
    assert all(np.all(np.diff(tree.node(i)) > 0) for i in range(len(tree.keys)))
    for i, (depth, *_) in enumerate(tree.keys):
        points = tree.node(i)
        if len(points) > 500:  # not a leaf: one point per cell of its grid
            cell = np.floor((xyz[points] - origin) / (size / 2 ** depth)).astype(np.int64)
            assert len(np.unique(cell, axis=0)) == len(points)


def test_sample_tile_as_copc_keeps_every_point(sample_raw, tmp_path) -> None:
    source = sorted((sample_raw / "lidar").glob("*.laz"))[0]
    out = tmp_path / "tile.copc.laz"
    write_copc(source, out, "EPSG:25832")
    assert_same_cloud(source, out)


def test_real_nrw_tile_as_copc_carries_the_registry_crs(shared_data: Path, tmp_path) -> None:
    source = shared_data / NRW_TILE
    if not source.exists():
        missing(f"{source} not found")
    assert laspy.open(source).header.parse_crs() is None  # the delivery has no CRS
    out = tmp_path / "nrw.copc.laz"
    write_copc(source, out, "EPSG:25832")
    assert_same_cloud(source, out)
    with laspy.open(out) as reader:
        assert reader.header.parse_crs().to_epsg() == 25832
        rgb = laspy.read(source)
        assert reader.header.point_format.id == 7  # RGB kept (format 2 → 7)
    copc = laspy.read(out)
    assert np.array_equal(np.sort(copc.red), np.sort(rgb.red))


def test_point_cloud_dataset_publishes_copc_per_tile_and_reuses_them(sample_raw,
                                                                     tmp_path) -> None:
    settings = settings_for(tmp_path / "portal", sample_raw)
    summary, log = build(settings, ["point_cloud"])
    assert summary.ok, log
    meta = json.loads((settings.published_dir / "point_cloud" / "metadata.json").read_text())
    tiles = sorted((sample_raw / "lidar").glob("*.laz"))
    assert len(meta["files"]) == len(tiles)
    record = meta["files"][0]
    assert record["format"] == "laz" and record["path"].endswith(".copc.laz")
    assert_same_cloud(tiles[0], settings.published_dir / "point_cloud" / record["path"])
    (settings.published_dir / "point_cloud" / ".inputs_key").unlink()  # as if built before it
    again, log = build(settings, ["point_cloud"])
    assert again.ok and f"{len(tiles)} tile(s) unchanged, reused" in again.built[0].headline, log


def test_terrain_build_writes_the_copc_files_from_the_same_decode(sample_raw,
                                                                  tmp_path) -> None:
    """A tile is decoded once per run: the terrain build leaves every COPC file in the cache,
    so the point_cloud dataset built after it decodes nothing and still publishes exact
    copies of the source clouds."""
    settings = settings_for(tmp_path / "portal", sample_raw)
    summary, log = build(settings, ["terrain_dtm"])
    assert summary.ok, log
    tiles = sorted((sample_raw / "lidar").glob("*.laz"))
    assert len(list((settings.data_dir / "cache" / "lidar" / "copc").rglob("*.copc.laz"))) \
        == len(tiles)
    again, log = build(settings, ["point_cloud"])
    assert again.ok and f"{len(tiles)} tile(s) unchanged, reused" in again.built[0].headline, log
    meta = json.loads((settings.published_dir / "point_cloud" / "metadata.json").read_text())
    for record, tile in zip(meta["files"], tiles, strict=True):
        path = settings.published_dir / "point_cloud" / record["path"]
        assert_same_cloud(tile, path)
        # the workers hashed the files they wrote; the catalogue's digest is the file's
        assert record["sha256"] == sha256_file(path) and record["bytes"] == path.stat().st_size


def test_corrupt_tile_is_reported_with_its_name_and_nothing_published(sample_raw,
                                                                       tmp_path) -> None:
    from pipelines.lidar.copc import ensure_copc
    from pipelines.lidar.tiles import Tile
    from pipelines.pointcloud import CrsRule

    source = sorted((sample_raw / "lidar").glob("*.laz"))[0]
    broken = tmp_path / "raw" / source.name
    broken.parent.mkdir()
    broken.write_bytes(source.read_bytes()[:5000])  # truncated download
    outcome = ensure_copc(Tile(broken, 350, 5685), CrsRule("EPSG:25832"), tmp_path / "cache")
    assert outcome.error and source.name in outcome.error and outcome.path is None
    assert not list((tmp_path / "cache").rglob("*.copc.laz"))
