"""Imagery deliveries that differ from the sample: the right product or a clear refusal.

Each variant is an input a city may really receive and what it must give: a single several-km²
orthophoto in the next UTM zone (4 bands, 5 m pixels) published as the kilometre tiles of
EPSG:25832 with its pixels where they belong and its bands in their roles; band roles from the
YAML or from the file; NRW tiles with zone-prefixed eastings (EPSG:4647); and the refusals —
a band the file does not have, NIR asked of an RGB file, a geocentric raster, a raster without
CRS — each one line naming the file and what was expected, with the `geoportal build` exit code.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from click.testing import CliRunner
from pyproj import Transformer
from rasterio.enums import ColorInterp, Resampling
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from testkit import make_settings

from geoportal.app.cli import main
from geoportal.core.geometry import transform_bounds
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import build_all
from pipelines.imagery.pipeline import MOSAIC
from pipelines.imagery.sources import split_delivery

# A 3 × 2 km flight block over Ratingen's centre, delivered in UTM zone 31 (EPSG:25831), where
# Ratingen lies at E ~768 km: 600 × 400 pixels of 5 m, bands red, green, blue, near infrared.
SCENE_CRS = "EPSG:25831"
SCENE_X0, SCENE_TOP, SCENE_RES = 768000.0, 5692000.0, 5.0
SCENE_W, SCENE_H = 600, 400
YEAR = 2024
TO_31 = Transformer.from_crs("EPSG:25832", SCENE_CRS, always_xy=True)


def pattern(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The four bands at ground coordinates of the scene's CRS: red rises to the east, green to
    the north, blue is a 250 m checker (40/200), NIR the mirror of red. Each band is different,
    so a swapped band or a misplaced pixel shows."""
    red = (x - SCENE_X0) / (SCENE_W * SCENE_RES) * 200 + 20
    green = (y - (SCENE_TOP - SCENE_H * SCENE_RES)) / (SCENE_H * SCENE_RES) * 200 + 20
    blue = np.where((np.floor(x / 250) + np.floor(y / 250)) % 2 == 0, 40, 200)
    return np.stack([red, green, blue, 255 - red]).round().astype(np.uint8)


def write_scene(path: Path, crs: str | None = SCENE_CRS, count: int = 4,
                order: tuple[int, ...] = (0, 1, 2, 3),
                colorinterp: tuple[ColorInterp, ...] | None = None,
                x0: float = SCENE_X0, top: float = SCENE_TOP) -> Path:
    """The scene as a tiled GeoTIFF; ``order`` picks which pattern band goes in each file band."""
    cols, rows = np.meshgrid(np.arange(SCENE_W), np.arange(SCENE_H))
    bands = pattern(x0 + (cols + 0.5) * SCENE_RES, top - (rows + 0.5) * SCENE_RES)
    profile: dict[str, Any] = {
        "driver": "GTiff", "dtype": "uint8", "width": SCENE_W, "height": SCENE_H,
        "count": count, "transform": from_origin(x0, top, SCENE_RES, SCENE_RES),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    if crs is not None:
        profile["crs"] = crs
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands[list(order[:count])])
        if colorinterp:
            dst.colorinterp = colorinterp
    return path


PRODUCTS = ("orthophoto", "orthophoto_cir", "orthophoto_nir")


def registry_with(tmp_path: Path, products: tuple[str, ...] = PRODUCTS, **params: Any) -> Path:
    """The delivered datasets with the orthophoto products' ``pipeline.params`` edited."""
    folder = tmp_path / "datasets"
    if not folder.exists():
        shutil.copytree(PROJECT_ROOT / "datasets", folder)
    for name in products:
        path = folder / f"{name}.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["pipeline"]["params"].update(params)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, workers=1)


def build(settings: Settings, ids: list[str], datasets: Path | None = None):
    registry = load_registry(datasets or registry_with(settings.data_dir))
    lines: list[str] = []
    return build_all(registry, settings, ids, echo=lines.append), lines


def at(mosaic: rasterio.DatasetReader, x: float, y: float) -> tuple[np.ndarray, int]:
    """The published pixel at a ground point of EPSG:25832 and its mask value."""
    row, col = mosaic.index(x, y)
    window = ((row, row + 1), (col, col + 1))
    return mosaic.read(window=window)[:, 0, 0].astype(int), int(
        mosaic.dataset_mask(window=window)[0, 0])


def inside_points() -> list[tuple[float, float]]:
    """Ground points (EPSG:25832) well inside the scene and away from the checker's edges."""
    to_32 = Transformer.from_crs(SCENE_CRS, "EPSG:25832", always_xy=True)
    points = []
    for gx in np.linspace(SCENE_X0 + 125, SCENE_X0 + SCENE_W * SCENE_RES - 125, 6):
        for gy in np.linspace(SCENE_TOP - SCENE_H * SCENE_RES + 125, SCENE_TOP - 125, 4):
            points.append(to_32.transform(gx, gy))
    return points


def expected(x: float, y: float) -> np.ndarray:
    """What the scene says at a ground point of EPSG:25832 (through the other zone)."""
    x31, y31 = TO_31.transform(x, y)
    return pattern(np.array([x31]), np.array([y31]))[:, 0].astype(int)


# --- a several-km² scene in another UTM zone ------------------------------------------------

def test_a_scene_in_another_zone_is_published_as_kilometre_tiles_with_its_pixels(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    write_scene(settings.raw_dir / "dop" / f"befliegung_{YEAR}_utm31.tif")
    summary, _ = build(settings, ["orthophoto", "orthophoto_cir", "orthophoto_nir"])
    assert summary.ok, summary.failed
    out = settings.published_dir
    cogs = sorted((out / "orthophoto").glob("dop10rgb_32_*.tif"))
    # the 6 km² block, turned by the zones' convergence, reaches into 13 squares of the grid
    assert len(cogs) == 13
    assert all(re.fullmatch(rf"dop10rgb_32_3\d\d_568\d_1_nw_{YEAR}\.tif", c.name) for c in cogs)
    for cog in cogs:
        with rasterio.open(cog) as src:
            assert src.crs.to_epsg() == 25832 and src.res == (5.0, 5.0)
            left, bottom, right, top = src.bounds
            assert left % 1000 == 0 and bottom % 1000 == 0 and right - left == 1000
    with rasterio.open(out / "orthophoto" / MOSAIC) as rgb, \
            rasterio.open(out / "orthophoto_cir" / MOSAIC) as cir, \
            rasterio.open(out / "orthophoto_nir" / MOSAIC) as nir:
        for x, y in inside_points():
            want = expected(x, y)
            got, valid = at(rgb, x, y)
            assert valid == 255 and np.abs(got - want[:3]).max() <= 8, (x, y, got, want)
            got, valid = at(cir, x, y)  # NIR shown as red, then red, green
            assert valid == 255 and np.abs(got - want[[3, 0, 1]]).max() <= 8, (x, y, got, want)
            got, valid = at(nir, x, y)
            assert valid == 255 and abs(got[0] - want[3]) <= 8, (x, y, got, want)
        # a corner of a cut square that the turned block does not reach is masked, not black
        left, bottom, _, top = rgb.bounds
        corners = [(left + 10, top - 10), (left + 10, bottom + 10)]
        assert any(at(rgb, x, y)[1] == 0 for x, y in corners)
    meta = summary.built[0].metadata
    # the extent is the scene's in Ratingen (not zone 31's numbers read as zone 32), grown to
    # the kilometre squares: within ~1 km (0.015°) of the footprint on every side
    scene = transform_bounds((SCENE_X0, SCENE_TOP - SCENE_H * SCENE_RES,
                              SCENE_X0 + SCENE_W * SCENE_RES, SCENE_TOP), SCENE_CRS, "EPSG:4326")
    grown = np.array(meta.bbox_wgs84) - np.array(scene)
    assert (grown[:2] <= 0).all() and (grown[2:] >= 0).all() and np.abs(grown).max() < 0.015
    assert 6.8 < scene[0] < 6.9 and 51.2 < scene[1] < 51.4  # where Ratingen is
    assert meta.crs_native == "EPSG:25832"
    assert "orthophoto: 13 tile(s) (1 scene(s) cut into squares)" in capsys.readouterr().err
    # what was converted is said: the summary's "ok with 1 warning", and the metadata
    assert meta.warnings == [f"befliegung_{YEAR}_utm31.tif: reprojected from ETRS89 / UTM zone "
                             f"31N to ETRS89 / UTM zone 32N (bilinear)"]
    assert any(line.startswith("  ok with 1 warning orthophoto:") for line in summary.lines())


def test_band_roles_come_from_the_yaml(settings: Settings, tmp_path: Path) -> None:
    """A delivery in the order blue, green, red, NIR without colour interpretation."""
    write_scene(settings.raw_dir / "dop" / f"block_{YEAR}.tif", order=(2, 1, 0, 3))
    datasets = registry_with(tmp_path, bands=["red", "green", "blue"],
                             band_roles={"red": 3, "green": 2, "blue": 1, "nir": 4})
    summary, _ = build(settings, ["orthophoto"], datasets)
    assert summary.ok, summary.failed
    with rasterio.open(settings.published_dir / "orthophoto" / MOSAIC) as rgb:
        for x, y in inside_points()[:6]:
            got, _ = at(rgb, x, y)
            assert np.abs(got - expected(x, y)[:3]).max() <= 8


def test_band_roles_come_from_the_files_colour_interpretation(settings: Settings,
                                                              tmp_path: Path) -> None:
    ci = ColorInterp
    write_scene(settings.raw_dir / "dop" / f"block_{YEAR}.tif", order=(3, 2, 1, 0),
                colorinterp=(ci.nir, ci.blue, ci.green, ci.red))
    datasets = registry_with(tmp_path, bands=["nir"])
    summary, _ = build(settings, ["orthophoto_nir"], datasets)
    assert summary.ok, summary.failed
    with rasterio.open(settings.published_dir / "orthophoto_nir" / MOSAIC) as nir:
        for x, y in inside_points()[:6]:
            assert abs(at(nir, x, y)[0][0] - expected(x, y)[3]) <= 8


def test_a_scene_in_lon_lat_is_published_on_the_grid(settings: Settings,
                                                     tmp_path: Path) -> None:
    """The same block delivered in geographic ETRS89 (EPSG:4258, ~5 m in degrees)."""
    utm = write_scene(tmp_path / "utm31.tif")
    lonlat = settings.raw_dir / "dop" / f"block_{YEAR}_etrs89.tif"
    lonlat.parent.mkdir(parents=True)
    with rasterio.open(utm) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4258", src.width, src.height, *src.bounds, resolution=(7e-5, 4.5e-5))
        with rasterio.open(lonlat, "w", driver="GTiff", dtype="uint8", count=4, width=width,
                           height=height, crs="EPSG:4258", transform=transform, nodata=0) as dst:
            for band in range(1, 5):
                reproject(rasterio.band(src, band), rasterio.band(dst, band),
                          resampling=Resampling.bilinear, dst_nodata=0)
    summary, _ = build(settings, ["orthophoto_cir"])
    assert summary.ok, summary.failed
    with rasterio.open(settings.published_dir / "orthophoto_cir" / MOSAIC) as cir:
        assert cir.crs.to_epsg() == 25832 and cir.res[0] == pytest.approx(5, abs=0.5)
        for x, y in inside_points():
            got, valid = at(cir, x, y)
            assert valid == 255 and np.abs(got - expected(x, y)[[3, 0, 1]]).max() <= 10


def test_a_scenes_nodata_is_left_out_and_a_rebuild_reuses_every_square(
        settings: Settings) -> None:
    """An irregular flight block: the western half is nodata (0). Squares only it would fill
    are not published; the others are masked there, not black; the rerun re-cuts nothing."""
    scene = write_scene(settings.raw_dir / "dop" / f"block_{YEAR}.tif")
    with rasterio.open(scene, "r+") as dst:
        data = dst.read()
        data[:, :, : SCENE_W // 2] = 0
        dst.write(data)
        dst.nodata = 0
    summary, _ = build(settings, ["orthophoto"])
    assert summary.ok, summary.failed
    assert summary.built[0].metadata.feature_count == 7  # of the 13 squares the block spans
    to_32 = Transformer.from_crs(SCENE_CRS, "EPSG:25832", always_xy=True)
    with rasterio.open(settings.published_dir / "orthophoto" / MOSAIC) as rgb:
        for x, y in inside_points():
            x31, _ = TO_31.transform(x, y)
            inside = rgb.bounds.left < x < rgb.bounds.right
            if x31 < SCENE_X0 + SCENE_W // 2 * SCENE_RES - 10:  # the nodata half
                assert not inside or at(rgb, x, y)[1] == 0
            elif x31 > SCENE_X0 + SCENE_W // 2 * SCENE_RES + 10:
                assert at(rgb, x, y)[1] == 255
        east, _ = to_32.transform(SCENE_X0 + SCENE_W * SCENE_RES, SCENE_TOP)
        assert rgb.bounds.left > to_32.transform(SCENE_X0, SCENE_TOP)[0] and \
            rgb.bounds.right > east
    again, _ = build(settings, ["orthophoto"])
    assert again.ok and "(7 unchanged" in again.built[0].headline


# --- refusals --------------------------------------------------------------------------------

REFUSALS = [
    # (what is delivered, the products' params, dataset, what the one-line message says)
    ("a band beyond the file", {"count": 4}, {"bands": [5, 1, 2]}, "orthophoto_cir",
     "has 4 band(s); pipeline.params.bands asks for band 5"),
    ("NIR by number from an RGB file", {"count": 3}, {}, "orthophoto_nir",
     "has 3 band(s); pipeline.params.bands asks for band 4 (a near-infrared product needs "
     "an RGB+NIR delivery)"),
    ("NIR by role from an RGB file", {"count": 3}, {"bands": ["nir"]}, "orthophoto_nir",
     "no band is marked 'nir'"),
    ("a geocentric raster", {"crs": "EPSG:4978"}, {}, "orthophoto",
     "a geocentric CRS; an orthophoto must be in a projected CRS"),
    ("a raster without CRS", {"crs": None}, {}, "orthophoto",
     "the file has no CRS; if you know it, give it as pipeline.params.scene_crs"),
    ("a CRS the YAML contradicts", {}, {"scene_crs": "EPSG:25832"}, "orthophoto",
     "CRS is EPSG:25831 (ETRS89 / UTM zone 31N), but pipeline.params.scene_crs says "
     "EPSG:25832"),
]


@pytest.mark.parametrize(("delivered", "params", "dataset_id", "says"),
                         [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_delivery_the_product_cannot_use_is_refused_in_one_line(
        tmp_path: Path, delivered: dict[str, Any], params: dict[str, Any], dataset_id: str,
        says: str) -> None:
    var = tmp_path / "var"
    scene = write_scene(var / "raw" / "dop" / f"block_{YEAR}.tif", **delivered)
    datasets = registry_with(tmp_path, **params)
    env = {"GEOPORTAL_DATASETS_DIR": str(datasets), "GEOPORTAL_DATA_DIR": str(var),
           "GEOPORTAL_RAW_DIR": str(var / "raw"), "GEOPORTAL_HOME": str(PROJECT_ROOT)}
    result = CliRunner().invoke(main, ["build", dataset_id], env=env)
    assert result.exit_code == 1, result.output  # a failed build, not a YAML mistake
    failed = [line for line in result.output.splitlines() if line.startswith("    FAILED: ")]
    assert len(failed) == 1 and "Traceback" not in result.output, result.output
    assert f"FAILED: {scene.name}: " in failed[0] and says in failed[0], failed[0]
    assert f"FAILED  {dataset_id}: {failed[0].split('FAILED: ')[1]}" in result.output
    assert not (var / "published" / dataset_id).exists()


def test_a_raster_without_crs_is_taken_in_the_crs_the_yaml_gives(settings: Settings,
                                                                  tmp_path: Path) -> None:
    write_scene(settings.raw_dir / "dop" / f"block_{YEAR}.tif", crs=None)
    summary, _ = build(settings, ["orthophoto"], registry_with(tmp_path, scene_crs=SCENE_CRS))
    assert summary.ok, summary.failed
    with rasterio.open(settings.published_dir / "orthophoto" / MOSAIC) as rgb:
        x, y = inside_points()[5]
        assert np.abs(at(rgb, x, y)[0] - expected(x, y)[:3]).max() <= 8
    assert f"block_{YEAR}.tif: no CRS in the file; read as ETRS89 / UTM zone 31N " \
           "(pipeline.params.scene_crs)" in summary.built[0].metadata.warnings


def test_a_wrong_band_role_is_refused_when_the_registry_loads(tmp_path: Path) -> None:
    datasets = registry_with(tmp_path, bands=["nir"], band_roles={"red": 1})
    result = CliRunner().invoke(main, ["datasets"],
                                env={"GEOPORTAL_DATASETS_DIR": str(datasets),
                                     "GEOPORTAL_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 2 and "band_roles does not give" in result.output


# --- NRW tiles, as named and in EPSG:4647 ------------------------------------------------------

def test_the_real_nrw_tile_index_parses(shared_data: Path) -> None:
    """The 168 tiles NRW lists for Ratingen: every name is understood, on its own square."""
    index = gpd.read_file(shared_data / "nrw-dop-tileindex" / "ratingen_dop10_tiles.gpkg")
    paths = [Path(location.rsplit("/", 1)[-1]) for location in index["location"]]
    tiles, scenes = split_delivery(paths)
    assert len(index) == 168 and scenes == [] and len(tiles) == 168
    by_name = {t.path.name: t for t in tiles}
    for location, geometry in zip(index["location"], index.geometry, strict=True):
        tile = by_name[location.rsplit("/", 1)[-1]]
        assert tile.bands == "rgbi" and tile.year in (2024, 2025)
        assert tuple(geometry.bounds) == tile.bounds


def test_nrw_tiles_with_zone_prefixed_eastings_are_warped_onto_their_square(
        settings: Settings) -> None:
    """EPSG:4647 (ETRS89 / UTM 32 with the zone in the easting: 32 350 000) is EPSG:25832
    moved by 32 000 km: each tile lands on the kilometre its name gives, pixels unchanged."""
    dop = settings.raw_dir / "dop"
    for e in (350, 351):
        path = dop / f"dop10rgbi_32_{e}_5685_1_nw_{YEAR}.tif"
        write_tile_4647(path, e, 5685)
    summary, _ = build(settings, ["orthophoto"])
    assert summary.ok, summary.failed
    with rasterio.open(settings.published_dir / "orthophoto" / MOSAIC) as rgb:
        assert tuple(rgb.bounds) == (350000.0, 5685000.0, 352000.0, 5686000.0)
        assert rgb.crs.to_epsg() == 25832
        for e in (350, 351):
            with rasterio.open(dop / f"dop10rgbi_32_{e}_5685_1_nw_{YEAR}.tif") as src:
                delivered = src.read([1, 2, 3]).astype(int)
            got = rgb.read(window=rgb.window(e * 1000, 5685000, e * 1000 + 1000, 5686000))
            assert np.abs(got.astype(int) - delivered).mean() < 3


def write_tile_4647(path: Path, e_km: int, n_km: int) -> None:
    """A 1 km, 5 m, RGBI tile of the pattern (as if the block were in zone 32) in EPSG:4647."""
    size = 200
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    x = SCENE_X0 + (e_km - 350) * 1000 + (cols + 0.5) * 5
    y = SCENE_TOP - (rows + 0.5) * 5
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", dtype="uint8", width=size, height=size,
                       count=4, crs="EPSG:4647",
                       transform=from_origin(32_000_000 + e_km * 1000.0, (n_km + 1) * 1000.0,
                                             5, 5)) as dst:
        dst.write(pattern(x, y))


@pytest.mark.parametrize(("where", "value"), [("source", "EPSG:4978"), ("params", "EPSG:4978")])
def test_a_geocentric_crs_in_the_yaml_is_refused_when_the_registry_loads(
        tmp_path: Path, where: str, value: str) -> None:
    """source.crs (any dataset, raster or vector) and scene_crs: one line, exit 2."""
    datasets = registry_with(tmp_path, ("orthophoto",),
                             **({"scene_crs": value} if where == "params" else {}))
    if where == "source":
        path = datasets / "orthophoto.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["source"]["crs"] = value
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["datasets"],
                                env={"GEOPORTAL_DATASETS_DIR": str(datasets),
                                     "GEOPORTAL_DATA_DIR": str(tmp_path / "var")})
    message = result.output.strip()
    assert result.exit_code == 2 and len(message.splitlines()) == 1, message
    assert "orthophoto" in message and "'EPSG:4978' is a Geocentric CRS; expected a projected " \
        "or geographic one" in message


# --- serving: messages name the coverage's own CRS --------------------------------------------

def test_coverage_messages_name_the_datasets_own_crs(tmp_path: Path) -> None:
    from geoportal.app.providers.coverage import _bbox_crs, crs_label
    from geoportal.core.errors import InvalidQueryError

    assert crs_label(write_scene(tmp_path / "zone31.tif")) == "EPSG:25831"
    assert crs_label(tmp_path / "missing.tif") is None
    with pytest.raises(InvalidQueryError, match=r"such as http://www\.opengis\.net/def/crs/"
                                                r"EPSG/0/25831 \(the coverage's own\)"):
        _bbox_crs("nonsense", 25831)


def test_a_scene_without_a_year_is_refused_unless_the_yaml_gives_it(settings: Settings,
                                                                     tmp_path: Path) -> None:
    write_scene(settings.raw_dir / "dop" / "block.tif")
    summary, _ = build(settings, ["orthophoto"])
    assert summary.failed["orthophoto"] == (
        "block.tif: no year in the file name or its TIFF date tag; give the flight year as "
        "pipeline.params.year")
    summary, _ = build(settings, ["orthophoto"], registry_with(tmp_path, year=2023))
    assert summary.ok and summary.built[0].metadata.files[0].path.endswith("_1_nw_2023.tif")


def test_a_scene_and_a_tile_for_the_same_square_are_refused(settings: Settings) -> None:
    write_scene(settings.raw_dir / "dop" / f"block_{YEAR}.tif")
    write_tile_4647(settings.raw_dir / "dop" / f"dop10rgbi_32_351_5686_1_nw_{YEAR}.tif",
                    351, 5686)
    summary, _ = build(settings, ["orthophoto"])
    assert summary.failed["orthophoto"] == (
        f"block_{YEAR}.tif and dop10rgbi_32_351_5686_1_nw_{YEAR}.tif both deliver the square "
        f"351/5686 km of {YEAR}; keep one of them in dop")


NRW_INDEX = "nrw-dop-tileindex/ratingen_dop10_tiles.gpkg"
# one plain colour (R, G, B, NIR) per tile: a tile on the wrong square shows the wrong colour
COLOURS = [(200, 40, 40, 90), (40, 200, 40, 120), (40, 40, 200, 150), (200, 200, 40, 180)]


@pytest.mark.parametrize(("suffix", "crs"), [(".jp2", "EPSG:25832"), (".tif", "EPSG:4647")])
def test_tiles_named_as_the_real_nrw_index_lists_them_land_on_its_squares(
        shared_data: Path, settings: Settings, suffix: str, crs: str) -> None:
    """NRW flew Ratingen's north in 2024 and the rest in 2025: the real index has that seam.
    Four of its tiles across it, named as listed (JPEG 2000 in EPSG:25832 as NRW delivers, or
    GeoTIFF with zone-prefixed eastings), two flight years side by side: each lands on the
    square the index gives it, and the published mosaic is in plain EPSG:25832."""
    index = gpd.read_file(shared_data / NRW_INDEX)
    names = {location.rsplit("/", 1)[-1]: geometry.bounds
             for location, geometry in zip(index["location"], index.geometry, strict=True)}
    years = {name: int(re.search(r"_nw_(\d{4})", name)[1]) for name in names}
    seam = min(b[1] for n, b in names.items() if years[n] == 2024)
    west = min(b[0] for n, b in names.items() if years[n] == 2024 and b[1] == seam)
    chosen = sorted(n for n, b in names.items()
                    if b[0] in (west, west + 1000) and b[1] in (seam - 1000, seam))
    assert len(chosen) == 4 and {years[n] for n in chosen} == {2024, 2025}, chosen
    dop = settings.raw_dir / "dop"
    for name, colour in zip(chosen, COLOURS, strict=True):
        write_plain_tile(dop / Path(name).with_suffix(suffix), names[name], colour, crs)
    summary, _ = build(settings, ["orthophoto"])
    assert summary.ok, summary.failed
    with rasterio.open(settings.published_dir / "orthophoto" / MOSAIC) as rgb:
        assert rgb.crs.to_epsg() == 25832
        assert tuple(rgb.bounds) == (west, seam - 1000.0, west + 2000.0, seam + 1000.0)
        for name, colour in zip(chosen, COLOURS, strict=True):
            x0, y0, x1, y1 = names[name]
            square = rgb.read(window=rgb.window(x0 + 100, y0 + 100, x1 - 100, y1 - 100))
            assert tuple(np.median(square, axis=(1, 2)).astype(int)) == colour[:3], name
    metadata = json.loads((settings.published_dir / "orthophoto" / "metadata.json").read_text())
    units = {f["unit"] for f in metadata["files"] if f.get("unit")}
    # each published square is the unit a failed tile later falls back to (keep_previous)
    assert units == {"_".join(Path(n).stem.split("_")[2:4]) for n in chosen}


def write_plain_tile(path: Path, bounds: tuple[float, ...], colour: tuple[int, ...],
                     crs: str) -> None:
    """A 1 km tile of 10 m pixels in one colour, on ``bounds`` (EPSG:25832), in ``crs``."""
    shift = 32_000_000 if crs == "EPSG:4647" else 0
    driver = "JP2OpenJPEG" if path.suffix == ".jp2" else "GTiff"
    bands = np.array(colour, dtype=np.uint8)[:, None, None] * np.ones((4, 100, 100), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver=driver, dtype="uint8", width=100, height=100, count=4,
                       crs=crs, transform=from_origin(bounds[0] + shift, bounds[3], 10, 10),
                       **({"QUALITY": 100, "REVERSIBLE": "YES"} if driver != "GTiff" else {})
                       ) as dst:
        dst.write(bands)
