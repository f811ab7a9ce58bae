"""Web map tiles across the edge between two delivered tiles: no seam, no hole, no black line."""

from __future__ import annotations

from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from pmtiles.reader import MmapSource
from pmtiles.reader import Reader as PMTiles
from pyproj import Transformer
from rio_tiler.io import Reader
from testkit import RATINGEN_BBOX, make_settings
from testkit.imagery import TILES, YEAR, decode

from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings
from pipelines.build import build_dataset
from pipelines.imagery.pipeline import ARCHIVE, MOSAIC
from pipelines.imagery.webtiles import TMS, read_tile, render_tile

SEAM_E = 351000.0  # where tiles 350 and 351 meet


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, dop_delivery: Path) -> Path:
    base = tmp_path_factory.mktemp("webtiles")
    (base / "raw").symlink_to(dop_delivery)
    settings: Settings = make_settings(base)
    build_dataset(load_registry(settings.datasets_dir)["orthophoto"], settings)
    return settings.published_dir / "orthophoto"


def straddling(z: int, margin: float = 0.2) -> morecantile.Tile:
    """A web tile over the seam, with the seam in its middle part (searched along the seam)."""
    to_wgs84 = Transformer.from_crs(25832, 4326, always_xy=True)
    for northing in np.arange(5685500.0, 5685900.0, 10.0):
        lon, lat = to_wgs84.transform(SEAM_E, northing)
        tile = TMS.tile(lon, lat, z)
        west, _, east, _ = TMS.bounds(tile)
        if margin < (lon - west) / (east - west) < 1 - margin:
            return tile
    raise AssertionError(f"no z{z} tile has the seam in its middle")


def inside(tile: morecantile.Tile, pixels: np.ndarray) -> np.ndarray:
    """The part of a web tile that lies inside the two-tile mosaic (a margin of 2 px)."""
    to_3857 = Transformer.from_crs(25832, 3857, always_xy=True)
    (ll, ul, lr, ur) = [to_3857.transform(e, n) for e, n in
                        ((350000, 5685000), (350000, 5686000), (352000, 5685000),
                         (352000, 5686000))]
    # UTM's grid is rotated against Web Mercator: take the rectangle inside the quadrilateral
    x0, x1 = max(ll[0], ul[0]), min(lr[0], ur[0])
    y0, y1 = max(ll[1], lr[1]), min(ul[1], ur[1])
    b = TMS.xy_bounds(tile)
    px = (b.right - b.left) / 256

    def col(x: float) -> int:
        return int(np.clip((x - b.left) / px, 0, 256))

    def row(y: float) -> int:
        return int(np.clip((b.top - y) / px, 0, 256))

    return pixels[:, row(y1) + 2:row(y0) - 2, col(x0) + 2:col(x1) - 2]


@pytest.fixture(scope="module")
def seamless_reference(tmp_path_factory: pytest.TempPathFactory, dop_delivery: Path) -> Path:
    """Both delivered tiles stitched into one GeoTIFF: what the web tile must look like."""
    paths = [dop_delivery / "dop" / f"dop10rgb_32_{e}_{n}_1_nw_{YEAR}.tif" for e, n in TILES]
    with rasterio.open(paths[0]) as a, rasterio.open(paths[1]) as b:
        data = np.concatenate([a.read(), b.read()], axis=2)
        profile = {**a.profile, "width": data.shape[2], "compress": "deflate"}
    out = tmp_path_factory.mktemp("reference") / "stitched.tif"
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
    return out


def assert_like_reference(tile: morecantile.Tile, jpeg: bytes, reference: Path) -> None:
    """Compared with a tile read from one stitched image, the seam columns are no worse."""
    with Reader(str(reference), tms=TMS) as r:
        expected = inside(tile, np.asarray(read_tile(r, tile.z, tile.x, tile.y)[0], int))
    got = inside(tile, decode(jpeg))
    per_column = np.abs(got - expected).mean(axis=(0, 1))
    assert per_column.max() < 3 * np.median(per_column) + 6, per_column.round(1)


def assert_seamless(pixels: np.ndarray) -> None:
    """No line of background white (nodata) or black anywhere in the covered part."""
    assert pixels.shape[1] > 20 and pixels.shape[2] > 20
    white = (pixels >= 250).all(axis=0)
    black = (pixels <= 5).all(axis=0)
    assert white.mean(axis=0).max() < 0.5, "a white (nodata) line in the tile"
    assert black.mean(axis=0).max() < 0.5, "a black line in the tile"
    assert white.mean() < 0.01 and black.mean() < 0.01


@pytest.mark.parametrize("z", [15, 17, 19])
def test_rendered_tile_over_the_seam_is_seamless(published: Path, seamless_reference: Path,
                                                 z: int) -> None:
    tile = straddling(z)
    jpeg = render_tile(published / MOSAIC, z, tile.x, tile.y)
    assert jpeg is not None and jpeg[:3] == b"\xff\xd8\xff"
    assert_seamless(inside(tile, decode(jpeg)))
    assert_like_reference(tile, jpeg, seamless_reference)


def test_prerendered_tiles_cover_both_source_tiles_without_a_seam(published: Path) -> None:
    with open(published / ARCHIVE, "rb") as fh:
        archive = PMTiles(MmapSource(fh))
        header = archive.header()
        z = header["max_zoom"]
        # zoomed out to the whole city, the aerial image is still there (the city fits in 2 x 2)
        city = list(TMS.tiles(*RATINGEN_BBOX, [header["min_zoom"]]))
        assert len(city) <= 4, f"z{header['min_zoom']} needs {len(city)} tiles for the city"
        tile = straddling(z, margin=0.02)  # a pre-rendered tile is large: the seam is inside
        data = archive.get(z, tile.x, tile.y)
        assert data is not None
        assert_seamless(inside(tile, decode(data)))
        # every zoom from the whole city down is there
        lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(SEAM_E, 5685500)
        for zoom in range(header["min_zoom"], z + 1):
            t = TMS.tile(lon, lat, zoom)
            assert archive.get(zoom, t.x, t.y), f"z{zoom} missing"
