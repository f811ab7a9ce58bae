"""Terrain tiles (Terrarium PNG, the 3D map's raster-dem): the heights a renderer decodes from a
tile are the DTM's, to the encoding's step of 1/256 m."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rio_tiler.io import Reader
from testkit.imagery import decode

from geoportal.core.registry import RasterTiles
from pipelines.imagery.webtiles import (
    TERRARIUM_STEP_M,
    TMS,
    decode_terrarium,
    known_style,
    render_tile,
)

ORIGIN = (350000.0, 5686000.0)  # north-west corner, EPSG:25832
CELL = 2.0
SIZE = 500  # 1 km (a coarse grid: the plane is the same at any cell size)


SLOPE = float(np.hypot(0.025, 0.015))


def terrain(e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A tilted plane from 48 m to 88 m: bilinear resampling reproduces it exactly, so every
    difference after a warp is the encoding's."""
    return 48.0 + 0.025 * (e - ORIGIN[0]) + 0.015 * (ORIGIN[1] - n)


@pytest.fixture(scope="module")
def dtm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cols, rows = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5)
    heights = terrain(ORIGIN[0] + cols * CELL, ORIGIN[1] - rows * CELL).astype(np.float32)
    path = tmp_path_factory.mktemp("terrain") / "terrain_dtm.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1,
                       dtype="float32", crs="EPSG:25832", nodata=-9999.0, tiled=True,
                       transform=from_origin(*ORIGIN, CELL, CELL)) as dst:
        dst.write(heights, 1)
    return path


def pixel_centres_utm(z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """Easting and northing of each pixel centre of web tile z/x/y."""
    b = TMS.xy_bounds(x, y, z)
    step = (b.right - b.left) / 256
    mx, my = np.meshgrid(b.left + (np.arange(256) + 0.5) * step,
                         b.top - (np.arange(256) + 0.5) * step)
    return Transformer.from_crs(3857, 25832, always_xy=True).transform(mx, my)


@pytest.mark.parametrize("z", [14, 16])
def test_decoded_heights_equal_the_dtm_within_the_encoding_step(dtm: Path, z: int) -> None:
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(350500, 5685500)
    tile = TMS.tile(lon, lat, z)
    png = render_tile(dtm, z, tile.x, tile.y, style="terrarium", fmt="png")
    assert png is not None and png[:4] == b"\x89PNG"
    pixels = decode(png)
    assert (pixels[3] == 255).all(), "a terrain tile is opaque: its colour is its height"
    heights = decode_terrarium(pixels[:3])
    e, n = pixel_centres_utm(z, tile.x, tile.y)
    inside = (e > ORIGIN[0] + 1) & (e < ORIGIN[0] + SIZE * CELL - 1) & \
             (n < ORIGIN[1] - 1) & (n > ORIGIN[1] - SIZE * CELL + 1)
    assert inside.sum() > 5000
    with Reader(str(dtm), tms=TMS) as reader:  # the heights as the tile renderer reads them
        read = reader.tile(tile.x, tile.y, z, tilesize=256, resampling_method="bilinear",
                           reproject_method="bilinear")
    encoding_error = np.abs(heights - read.data[0])[inside]
    # half a step from rounding, plus float32 storage of the DTM (~4 µm at 90 m)
    assert encoding_error.max() <= TERRARIUM_STEP_M / 2 + 1e-4, encoding_error.max()
    # and against the ground truth: the bilinear warp reproduces the plane up to where GDAL's
    # approximate transformer puts a pixel (within 1/8 pixel, times the slope: 2 cm at zoom 14,
    # 6 mm at 16); a nearest-neighbour warp was off by half a cell times the slope (4 cm)
    pixel_m = (TMS.xy_bounds(tile).right - TMS.xy_bounds(tile).left) / 256 * np.cos(
        np.radians(lat))
    error = np.abs(heights - terrain(e, n))[inside]
    assert error.max() <= TERRARIUM_STEP_M / 2 + pixel_m / 8 * SLOPE, (error.max(), pixel_m)


def test_outside_the_dtm_a_tile_carries_ground_height_not_a_cliff(dtm: Path) -> None:
    """A tile on the DTM's edge: where there is no data it holds heights near the ground
    (the tile's mean), never the −32768 m that a transparent black pixel decodes to."""
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(ORIGIN[0], 5685500)
    tile = TMS.tile(lon, lat, 15)
    heights = decode_terrarium(decode(render_tile(dtm, 15, tile.x, tile.y, style="terrarium",
                                                  fmt="png"))[:3])
    assert heights.min() > 40 and heights.max() < 95


def test_height_tiles_must_be_lossless() -> None:
    with pytest.raises(ValueError, match="png"):
        known_style(RasterTiles(style="terrarium", format="jpeg"))
