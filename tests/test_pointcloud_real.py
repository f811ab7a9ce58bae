"""The LiDAR reader against the real NRW tile (3D-Messdaten, near Kleve) in ../shared/data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from geoportal.core.errors import CRSMismatchError, SourceFormatError
from pipelines.pointcloud import CrsRule, read_info, read_points, tile_origin

TILE = "nrw-lidar-3dm/3dm_32_291_5744_1_nw_subset.laz"
# Class counts published with the file (../shared/data/README.md).
NRW_COUNTS = {1: 357_843, 2: 3_107_301, 9: 3_867, 17: 1_288, 18: 74, 20: 92_939, 26: 6_805}


@pytest.fixture(scope="module")
def tile(shared_data: Path) -> Path:
    return shared_data / TILE


def test_header_without_crs_takes_the_registry_crs(tile: Path) -> None:
    info = read_info(tile, "EPSG:25832")
    assert info.point_count == sum(NRW_COUNTS.values())
    assert info.crs.to_epsg() == 25832
    assert info.tile_origin == (291, 5744)
    xmin, ymin, zmin, xmax, ymax, zmax = info.bounds
    assert xmin >= 291_000 and xmax < 292_000 and ymin >= 5_744_000 and ymax < 5_745_000
    assert zmin == pytest.approx(8.44) and zmax == pytest.approx(87.51)


def test_points_and_nrw_classes(tile: Path) -> None:
    points = read_points(tile, returns=True)
    classes, counts = np.unique(points.classification, return_counts=True)
    assert dict(zip(classes.tolist(), counts.tolist(), strict=True)) == NRW_COUNTS
    ground = points.z[points.classification == 2]
    assert 8 < np.median(ground) < 40  # the Lower Rhine plain near Kleve
    assert points.number_of_returns is not None and points.number_of_returns.max() >= 2


def test_truncated_tile_is_reported_with_its_name(tile: Path, tmp_path: Path) -> None:
    broken = tmp_path / "3dm_32_350_5685_1_nw.laz"
    data = tile.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(SourceFormatError, match=r"3dm_32_350_5685_1_nw\.laz"):
        read_points(broken)


def test_garbage_is_not_a_tile(tmp_path: Path) -> None:
    junk = tmp_path / "3dm_32_350_5685_1_nw.laz"
    junk.write_bytes(b"this is not a point cloud" * 10)
    with pytest.raises(SourceFormatError, match="not a readable LAS/LAZ"):
        read_info(junk, "EPSG:25832")


def test_a_tile_declaring_another_crs_is_read_in_it(tile: Path, tmp_path: Path) -> None:
    """A declared CRS is the file's (reprojected to the registry's), not overruled by it; the
    registry's applies only to files without a record (tests/delivery/test_lidar.py builds)."""
    import laspy
    from pyproj import CRS, Transformer

    las = laspy.read(tile)
    las = laspy.LasData(laspy.LasHeader(point_format=las.header.point_format,
                                        version=las.header.version), points=las.points[:1000])
    las.header.add_crs(CRS.from_epsg(25833))
    target = tmp_path / "3dm_32_291_5744_1_nw.laz"
    las.write(target)
    info = read_info(target, "EPSG:25832")
    assert info.declared is not None and info.declared.to_epsg() == 25833
    cloud = CrsRule("EPSG:25832").resolve(target, info.declared)
    assert cloud.origin == "header" and cloud.reproject
    assert any("reprojected from EPSG:25833" in n for n in cloud.notes)
    points = read_points(target)
    moved = cloud.to_target(points)
    expected = Transformer.from_crs(25833, 25832, always_xy=True).transform(points.x, points.y)
    assert np.abs(moved.x - expected[0]).max() <= 0.0005  # the 1 mm grid of reprojected points
    assert np.abs(moved.y - expected[1]).max() <= 0.0005
    assert moved.x.min() > 600_000  # 291 km in zone 33 is east of zone 32's meridian
    with pytest.raises(CRSMismatchError, match=r"geocentric CRS EPSG:4978"):
        CrsRule("EPSG:25832").resolve(target, CRS.from_epsg(4978))
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_tile_names() -> None:
    assert tile_origin(Path("3dm_32_350_5685_1_nw.laz")) == (350, 5685)
    assert tile_origin(Path("cloud.laz")) is None


def test_a_las14_tile_decodes_its_heights_and_classes(tile: Path, tmp_path: Path) -> None:
    """LAS 1.4 (formats 6-10, COPC) compresses fields in layers: the raster pass must decode
    the height and class layers, not only x/y (they read as zeros)."""
    import laspy

    las = laspy.read(tile)
    small = laspy.LasData(las.header, points=las.points[::500].copy())
    target = tmp_path / "cloud14.laz"
    laspy.convert(small, point_format_id=6, file_version="1.4").write(target)
    points = read_points(target, returns=True)
    full = laspy.read(target)
    np.testing.assert_array_equal(points.z, full.z)
    np.testing.assert_array_equal(points.classification, full.classification)
    assert 8 < np.median(points.z) < 40 and set(np.unique(points.classification)) >= {1, 2}
