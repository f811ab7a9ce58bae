"""LiDAR deliveries that differ from the sample: the right product or a clear refusal.

Every variant is made from the real NRW tile (3dm_32_291_5744, every 4th point) and built
through ``build_all`` with the registry's DTM/CHM/hillshade datasets reading ``lidar/*.laz``;
its product is compared with the tile's own product under its NRW name, or its refusal
checked for the file, the count or the CRS it names. Grids at 1 m keep the builds short.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import laspy
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from click.testing import CliRunner
from laspy.vlrs.known import WktCoordinateSystemVlr
from pyproj import CRS
from pyproj.crs import CompoundCRS, ProjectedCRS, VerticalCRS
from pyproj.crs.coordinate_operation import UTMConversion
from pyproj.crs.coordinate_system import Cartesian2DCS, VerticalCS
from pyproj.crs.enums import Cartesian2DCSAxis, VerticalCSAxis
from testkit import make_settings

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import BuildSummary, build_all
from pipelines.lidar.copc import write_copc_las

TILE = "nrw-lidar-3dm/3dm_32_291_5744_1_nw_subset.laz"
NRW_NAME = "3dm_32_291_5744_1_nw.laz"
X0, Y0 = 291_000.0, 5_744_000.0
RESOLUTION = 1.0
GAP_M = 5.0  # max_gap_fill_m, the documented default
RASTERS = ["terrain_dtm", "canopy_height", "hillshade"]
IDS = [*RASTERS, "trees_lidar"]
US_FOOT = 1200 / 3937
NODATA = -9999.0


@pytest.fixture(scope="module")
def cloud(shared_data: Path) -> laspy.LasData:
    """Every 4th point of the real tile (892,530 points, all classes)."""
    return subset(laspy.read(shared_data / TILE), slice(None, None, 4))


def subset(las: laspy.LasData, keep: Any) -> laspy.LasData:
    """A copy of the points ``keep`` selects, in a fresh header (no CRS record)."""
    header = laspy.LasHeader(point_format=las.header.point_format, version=las.header.version)
    header.scales, header.offsets = las.header.scales, las.header.offsets
    out = laspy.LasData(header)
    out.points = laspy.ScaleAwarePointRecord(las.points.array[keep].copy(), header.point_format,
                                             header.scales, header.offsets)
    return out


def write(las: laspy.LasData, path: Path, crs: CRS | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if crs is not None:  # as a WKT record: laspy writes GeoTIFF keys of EPSG codes only
        las.header.vlrs.append(WktCoordinateSystemVlr(crs.to_wkt("WKT1_GDAL")))
    las.update_header()
    las.write(path)
    return path


def datasets(folder: Path, **params: Any) -> Path:
    """The registry's DTM, CHM, hillshade and tree datasets reading ``lidar/*.laz`` at 1 m, with
    ``params`` added to their ``pipeline.params`` (as a city's YAML would)."""
    folder.mkdir(parents=True)
    for name in IDS:
        data = yaml.safe_load((PROJECT_ROOT / "datasets" / f"{name}.yml").read_text("utf-8"))
        data["source"]["path"] = "lidar/*.laz"
        data["pipeline"]["params"].update(resolution=RESOLUTION, footprints=None, **params)
        (folder / f"{name}.yml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    shutil.copy(PROJECT_ROOT / "datasets" / "_portal.yml", folder / "_portal.yml")
    return folder


def build(base: Path, ids: list[str] = IDS, **params: Any
          ) -> tuple[BuildSummary, str, Settings]:
    settings = make_settings(base)
    registry = load_registry(datasets(base / "datasets", **params))
    lines: list[str] = []
    summary = build_all(registry, settings, ids, echo=lines.append)
    return summary, "\n".join(lines), settings


def product(settings: Settings, dataset: str, key: str = "291_5744") -> np.ndarray:
    """A published tile as an array, nodata as NaN (float) or 0 (hillshade)."""
    path = settings.published_dir / dataset / "tiles" / f"{dataset}_{key}.tif"
    with rasterio.open(path) as src:
        data = src.read(1)
        assert src.nodata is not None, f"{path}: no nodata value"
        if data.dtype.kind == "f":
            return np.where(data == src.nodata, np.nan, data)
        return data


def trees(settings: Settings) -> gpd.GeoDataFrame:
    return gpd.read_file(settings.published_dir / "trees_lidar" / "trees_lidar.gpkg")


def failure(summary: BuildSummary, dataset: str = "terrain_dtm") -> str:
    assert not summary.ok and dataset in summary.failed, summary.lines()
    return summary.failed[dataset]


@pytest.fixture(scope="module")
def reference(cloud: laspy.LasData, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, np.ndarray]:
    """The products of the tile under its NRW name, as delivered (no CRS record)."""
    base = tmp_path_factory.mktemp("reference")
    write(subset(cloud, slice(None)), base / "raw" / "lidar" / NRW_NAME)
    summary, log, settings = build(base)
    assert summary.ok, log
    return {**{name: product(settings, name) for name in RASTERS}, "trees": trees(settings)}


def test_the_real_tile_has_no_nodata_inside_its_survey(reference: dict) -> None:
    dtm = reference["terrain_dtm"]
    assert dtm.shape == (1000, 1000)
    assert np.isfinite(dtm).mean() > 0.999  # the NRW tile is surveyed to its edges
    assert 8 < np.nanmedian(dtm) < 40


def test_a_renamed_tile_is_placed_by_its_header(cloud: laspy.LasData, reference: dict,
                                                tmp_path: Path) -> None:
    write(subset(cloud, slice(None)), tmp_path / "raw" / "lidar" / "befliegung_2023_a.laz")
    summary, log, settings = build(tmp_path)
    assert summary.ok, log
    for name in RASTERS:
        np.testing.assert_array_equal(product(settings, name), reference[name])
    assert trees(settings).equals(reference["trees"])


def test_a_cut_is_nodata_beyond_the_gap_distance(cloud: laspy.LasData, reference: dict,
                                                 tmp_path: Path) -> None:
    """A 600 x 400 m cut: its square is nodata farther than max_gap_fill_m from its points;
    away from its edges its products are the uncut tile's."""
    x0, x1, y0, y1 = X0 + 200, X0 + 800, Y0 + 300, Y0 + 700
    inside = ((cloud.x >= x0) & (cloud.x < x1) & (cloud.y >= y0) & (cloud.y < y1))
    write(subset(cloud, np.asarray(inside)), tmp_path / "raw" / "lidar" / "ausschnitt.laz")
    summary, log, settings = build(tmp_path)
    assert summary.ok, log
    cols = X0 + (np.arange(1000) + 0.5) * RESOLUTION
    rows = Y0 + 1000 - (np.arange(1000) + 0.5) * RESOLUTION
    xx, yy = np.meshgrid(cols, rows)
    dx = np.maximum(np.maximum(x0 - xx, xx - x1), 0)
    dy = np.maximum(np.maximum(y0 - yy, yy - y1), 0)
    outside = np.hypot(dx, dy) > GAP_M + RESOLUTION
    core = (xx > x0 + 20) & (xx < x1 - 20) & (yy > y0 + 20) & (yy < y1 - 20)
    for name in ("terrain_dtm", "canopy_height"):
        grid = product(settings, name)
        assert np.isnan(grid[outside]).all(), name
        np.testing.assert_array_equal(grid[core], reference[name][core])
    shade = product(settings, "hillshade")
    assert (shade[outside] == 0).all() and (shade[core] > 0).all()
    assert (shade[core] == reference["hillshade"][core]).all()
    # the served mosaic says nodata there too
    with rasterio.open(settings.published_dir / "terrain_dtm" / "terrain_dtm.vrt") as vrt:
        served = vrt.read(1, masked=True)
        assert vrt.nodata == NODATA and served.mask[outside].all() and not served.mask[core].any()
    # trees only where there are points; in the core the uncut tile's trees
    found, want = trees(settings), reference["trees"]
    assert found.total_bounds[0] >= x0 and found.total_bounds[2] <= x1
    assert found.total_bounds[1] >= y0 and found.total_bounds[3] <= y1
    box = shapely.box(x0 + 20, y0 + 20, x1 - 20, y1 - 20)
    mine, theirs = found[found.within(box)], want[want.within(box)]
    assert len(mine) > 20 and sorted(mine.tree_id) == sorted(theirs.tree_id)


def test_points_outside_the_named_square_are_refused(cloud: laspy.LasData,
                                                     tmp_path: Path) -> None:
    """A delivery's own name pattern says one square; 1,000 points lie 50 m beyond it."""
    las = subset(cloud, slice(None))
    stray = np.arange(0, 1000 * 97, 97)
    xs = np.array(las.x)
    xs[stray] = X0 + 1050.0
    las.x = xs
    write(las, tmp_path / "raw" / "lidar" / "kachel_291_5744.laz")
    summary, _, _ = build(tmp_path, ["terrain_dtm"], tile_name=r"kachel_(?P<e>\d+)_(?P<n>\d+)")
    message = failure(summary)
    assert "kachel_291_5744.laz: 1,000 of 892,530 points lie outside the square" in message
    assert "E 291000-292000, N 5744000-5745000 (from its file name)" in message


def test_a_foreign_tile_renamed_to_an_nrw_name_is_refused(cloud: laspy.LasData,
                                                          tmp_path: Path) -> None:
    write(subset(cloud, slice(None)), tmp_path / "raw" / "lidar" / "3dm_32_292_5744_1_nw.laz")
    message = failure(build(tmp_path, ["terrain_dtm"])[0])
    assert "3dm_32_292_5744_1_nw.laz: 892,530 of 892,530 points lie outside" in message


def test_a_file_spanning_squares_and_two_files_in_one_are_refused(cloud: laspy.LasData,
                                                                  tmp_path: Path) -> None:
    las = subset(cloud, slice(None))
    las.x = np.array(las.x) + 500.0
    write(las, tmp_path / "a" / "raw" / "lidar" / "versetzt.laz")
    message = failure(build(tmp_path / "a", ["terrain_dtm"])[0])
    assert "versetzt.laz: the header's extent E 291500-292500" in message
    assert "spans 2 squares of 1 km" in message and "not split" in message
    for name in ("eins.laz", "zwei.laz"):
        write(subset(cloud, slice(None)), tmp_path / "b" / "raw" / "lidar" / name)
    message = failure(build(tmp_path / "b", ["terrain_dtm"])[0])
    assert "zwei.laz: the square E 291000-292000, N 5744000-5745000" in message
    assert "eins.laz's already" in message


def utm32_us_feet(vertical: bool) -> CRS:
    """ETRS89 / UTM 32N in US survey feet, with DHHN2016 heights in US survey feet."""
    horizontal = ProjectedCRS(UTMConversion(32), name="ETRS89 / UTM zone 32N (ftUS)",
                              geodetic_crs=CRS.from_epsg(4258),
                              cartesian_cs=Cartesian2DCS(Cartesian2DCSAxis.EASTING_NORTHING_US_FT))
    if not vertical:
        return horizontal
    heights = VerticalCRS("DHHN2016 height (ftUS)", datum=CRS.from_epsg(7837).datum,
                          vertical_cs=VerticalCS(VerticalCSAxis.GRAVITY_HEIGHT_US_FT))
    return CompoundCRS("ETRS89 / UTM 32N + DHHN2016 height, US survey feet",
                       [horizontal, heights])


def in_feet(las: laspy.LasData) -> laspy.LasData:
    """The points in US survey feet (x, y, z), at 1/1000 ft."""
    out = laspy.LasData(laspy.LasHeader(point_format=las.header.point_format,
                                        version=las.header.version))
    out.header.scales = np.array([0.001, 0.001, 0.001])
    out.header.offsets = np.array([X0, Y0, 0.0]) / US_FOOT
    out.points = laspy.ScaleAwarePointRecord(las.points.array.copy(), out.header.point_format,
                                             out.header.scales, out.header.offsets)
    out.x, out.y, out.z = (np.array(las.x) / US_FOOT, np.array(las.y) / US_FOOT,
                           np.array(las.z) / US_FOOT)
    return out


def test_a_tile_in_us_feet_is_converted_to_metres(cloud: laspy.LasData, reference: dict,
                                                  tmp_path: Path) -> None:
    write(in_feet(cloud), tmp_path / "raw" / "lidar" / "survey_ftus.laz", utm32_us_feet(True))
    summary, log, settings = build(tmp_path)
    assert summary.ok, log
    assert "reprojected from ETRS89 / UTM zone 32N (ftUS) (unit: US survey foot)" in log
    assert "heights converted to metres (x 0.3048006096)" in log
    dtm, want = product(settings, "terrain_dtm"), reference["terrain_dtm"]
    diff = np.abs(dtm - want)
    # the same heights in metres; a point within 3 mm of a cell edge may change cells
    assert np.nanmedian(diff) < 0.001 and np.nanpercentile(diff, 99) < 0.05
    assert np.isfinite(dtm).sum() == np.isfinite(want).sum()
    # tree heights in metres: the same trees, heights to the centimetre
    found = trees(settings).set_index("tree_id")
    same = found.index.intersection(reference["trees"].tree_id)
    assert len(same) >= 0.95 * len(reference["trees"])
    heights = reference["trees"].set_index("tree_id").loc[same, "height_m"]
    assert np.abs(found.loc[same, "height_m"] - heights).max() < 0.05


def test_heights_of_unknown_unit_under_feet_are_refused_or_given(cloud: laspy.LasData,
                                                                 reference: dict,
                                                                 tmp_path: Path) -> None:
    for case in ("refused", "given"):
        write(in_feet(cloud), tmp_path / case / "raw" / "lidar" / "survey_ftus.laz",
              utm32_us_feet(False))
    message = failure(build(tmp_path / "refused", ["terrain_dtm"])[0])
    assert "survey_ftus.laz: x/y are in US survey foot" in message
    assert "pipeline.params.vertical_unit" in message
    summary, log, settings = build(tmp_path / "given", ["terrain_dtm"], vertical_unit="us-foot")
    assert summary.ok, log
    diff = np.abs(product(settings, "terrain_dtm") - reference["terrain_dtm"])
    assert np.nanmedian(diff) < 0.001 and np.nanpercentile(diff, 99) < 0.05


def test_yaml_mistakes_are_one_line_at_registry_load(tmp_path: Path) -> None:
    from geoportal.core.errors import RegistryError

    with pytest.raises(RegistryError, match=r"tile_name.*named groups \(\?P<e>"):
        load_registry(datasets(tmp_path / "a", tile_name=r"kachel_(\d+)_(\d+)"))
    with pytest.raises(RegistryError, match=r"crs_override.*expected a CRS"):
        load_registry(datasets(tmp_path / "b", crs_override="EPSG:999999"))


def test_a_registry_crs_in_feet_is_refused(cloud: laspy.LasData, tmp_path: Path) -> None:
    write(subset(cloud, slice(None)), tmp_path / "raw" / "lidar" / NRW_NAME)
    folder = datasets(tmp_path / "datasets")
    dtm = folder / "terrain_dtm.yml"
    dtm.write_text(dtm.read_text("utf-8").replace("crs: EPSG:25832", "crs: EPSG:2263"), "utf-8")
    summary = build_all(load_registry(folder), make_settings(tmp_path), ["terrain_dtm"],
                        echo=lambda line: None)
    message = failure(summary)
    assert "source.crs EPSG:2263" in message and "US survey foot" in message
    assert "projected CRS in metres" in message


def geocentric_copc(cloud: laspy.LasData, path: Path) -> Path:
    """A COPC file of the projected points whose CRS record says EPSG:4978 (geocentric)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_copc_las(subset(cloud, slice(None)), path, "EPSG:4978")
    return path


def test_a_geocentric_crs_record_is_refused(cloud: laspy.LasData, tmp_path: Path) -> None:
    geocentric_copc(cloud, tmp_path / "raw" / "lidar" / "wolke.copc.laz")
    message = failure(build(tmp_path, ["terrain_dtm"])[0])
    assert "wolke.copc.laz: declares the geocentric CRS EPSG:4978 (WGS 84)" in message
    assert "crs_override" in message


def test_a_wrong_crs_record_is_overridden_by_the_yaml(cloud: laspy.LasData, reference: dict,
                                                      tmp_path: Path) -> None:
    geocentric_copc(cloud, tmp_path / "raw" / "lidar" / "wolke.copc.laz")
    summary, log, settings = build(tmp_path, ["terrain_dtm"], crs_override="EPSG:25832")
    assert summary.ok, log
    assert ("warning: wolke.copc.laz: the header declares EPSG:4978 (WGS 84); read as "
            "EPSG:25832 (ETRS89 / UTM zone 32N) (pipeline.params.crs_override)") in log
    # the COPC file holds the points in octree order: means per cell differ in the last bit
    np.testing.assert_allclose(product(settings, "terrain_dtm"), reference["terrain_dtm"],
                               atol=1e-4, equal_nan=True)


def test_a_geographic_crs_is_refused_by_the_cli(cloud: laspy.LasData, tmp_path: Path) -> None:
    from geoportal.app.cli import main

    write(subset(cloud, slice(None)), tmp_path / "raw" / "lidar" / NRW_NAME, CRS.from_epsg(4326))
    folder = datasets(tmp_path / "datasets")
    env = {"GEOPORTAL_DATASETS_DIR": str(folder), "GEOPORTAL_DATA_DIR": str(tmp_path),
           "GEOPORTAL_RAW_DIR": str(tmp_path / "raw"), "GEOPORTAL_TILES_DIR": str(tmp_path / "t")}
    result = CliRunner().invoke(main, ["build", "terrain_dtm"], env=env)
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("  FAILED")]
    assert len(failed) == 1, result.output
    assert f"{NRW_NAME}: declares the geographic CRS EPSG:4326 (WGS 84) (degrees)" in failed[0]


# ----------------------------------------------------------------- a cloud in DHDN / Gauss-Krüger


def test_a_gauss_krueger_cloud_is_moved_with_the_grid_or_refused() -> None:
    """The same rule as for vector sources (geoportal.core.crs): the grid-based DHDN → ETRS89
    transformation, or a refusal naming the grid when PROJ cannot find it."""
    from geoportal.core.crs import SYSTEM_GRID_DIRS, use_grid_dirs
    from geoportal.core.errors import TransformationError
    from pipelines.pointcloud import CloudCRS

    cloud = CloudCRS(crs=CRS("EPSG:31466"), origin="header", target=CRS("EPSG:25832"),
                     reproject=True)
    gk_box = (2_561_000.0, 5_682_000.0, 2_562_000.0, 5_683_000.0)  # a km near Ratingen
    assert "de_adv_BETA2007" in cloud.transformer(gk_box).definition
    left, bottom, _, _ = cloud.to_target_bounds(gk_box)
    assert 350_000 < left < 353_000 and 5_680_000 < bottom < 5_684_000
    use_grid_dirs([])
    try:
        with pytest.raises(TransformationError, match=r"de_adv_BETA2007"):
            cloud.to_target_bounds(gk_box)
    finally:
        use_grid_dirs(SYSTEM_GRID_DIRS)
