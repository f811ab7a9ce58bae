"""Finding and checking the orthophoto tiles the city receives (NRW DOP10, JPEG 2000 or GeoTIFF).

NRW delivers one file per 1 km tile, named ``dop10rgbi_32_<E>_<N>_1_nw_<YYYY>.jp2`` (RGB + near
infrared); older or converted deliveries come as GeoTIFF and sometimes RGB only. A tile is checked
*before* it is converted, so a bad delivery is reported with the reason (wrong CRS, wrong pixel
size, not covering its kilometre square, truncated) instead of silently poisoning the mosaic.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import rasterio
from pyproj import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window

from geoportal.core.errors import CRSMismatchError, SourceError, SourceFormatError
from pipelines.tiles import SourceTile

# dop10rgbi_32_350_5685_1_nw_2025.jp2: product, UTM zone 32, the tile's lower-left km, year.
DOP_NAME = re.compile(
    r"^dop10(?P<bands>rgbi|rgb)_32_(?P<e>\d{3})_(?P<n>\d{4})_1_nw_(?P<year>\d{4})"
    r"\.(?P<ext>jp2|tif|tiff)$",
    re.I,
)


@dataclass(frozen=True)
class OrthoTile(SourceTile):
    """One delivered orthophoto tile, known from its name only: a square may come for several
    years, and as RGB or RGB + near infrared."""

    year: int
    bands: str

    @property
    def key(self) -> str:
        """The tile's identity in the mosaic: one file per kilometre square and year."""
        return f"32_{self.e_km}_{self.n_km}_1_nw_{self.year}"

    def sort_key(self) -> tuple[int, int, int, str, Path]:
        """Mosaic order: by square (west to east, then south to north), year, bands."""
        return self.e_km, self.n_km, self.year, self.bands, self.path


@dataclass(frozen=True)
class TileCheck:
    """What the header says about a tile that passed the checks."""

    tile: OrthoTile
    width: int
    height: int
    count: int
    resolution: float


def find_tiles(folder: Path, prefer: str = "jp2") -> list[OrthoTile]:
    """Every DOP tile in ``folder``; where a tile comes as both JP2 and GeoTIFF, take ``prefer``.

    RGBI is preferred over RGB for the same square, since it carries everything RGB does.
    """
    if not folder.is_dir():
        raise SourceError(f"{folder}: expected a folder of orthophoto tiles "
                          "(dop10rgbi_32_<E>_<N>_1_nw_<YYYY>.jp2 or .tif)")
    chosen: dict[tuple[int, int, int], OrthoTile] = {}
    for path in sorted(folder.iterdir()):
        match = DOP_NAME.match(path.name)
        if not match:
            continue
        tile = OrthoTile(path, int(match["e"]), int(match["n"]), year=int(match["year"]),
                         bands=match["bands"].lower())
        slot = (tile.e_km, tile.n_km, tile.year)
        if slot not in chosen or _rank(tile, prefer) < _rank(chosen[slot], prefer):
            chosen[slot] = tile
    if not chosen:
        raise SourceError(f"{folder}: no orthophoto tiles named like "
                          "dop10rgbi_32_<E>_<N>_1_nw_<YYYY>.jp2 (or .tif) found")
    return sorted(chosen.values(), key=OrthoTile.sort_key)


def _rank(tile: OrthoTile, prefer: str) -> tuple[int, int]:
    suffix = tile.path.suffix.lower().lstrip(".").replace("tiff", "tif")
    return (0 if tile.bands == "rgbi" else 1, 0 if suffix == prefer else 1)


def check_tile(tile: OrthoTile, crs: str, min_bands: int,
               resolution: float | None = None) -> TileCheck:
    """Open a tile and check CRS, band count, extent, pixel size and that its end is readable."""
    try:
        with rasterio.open(tile.path) as src:
            declared = src.crs
            res_x, res_y = src.res
            check = TileCheck(tile, src.width, src.height, src.count, float(res_x))
            bounds = tuple(src.bounds)
            # A truncated file opens fine; reading its last block is what fails.
            src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
    except (RasterioError, OSError) as exc:
        raise SourceFormatError(f"{tile.path.name}: not a readable raster (corrupt or "
                                f"truncated?): {exc}") from None
    expected = CRS.from_user_input(crs)
    if declared is None or not CRS.from_user_input(declared).equals(expected,
                                                                    ignore_axis_order=True):
        got = declared.to_string() if declared else "none"
        raise CRSMismatchError(f"{tile.path.name}: CRS is {got}, expected {crs}")
    if check.count < min_bands:
        raise SourceFormatError(f"{tile.path.name}: has {check.count} band(s), this product "
                                f"needs {min_bands} (RGB+NIR deliveries are dop10rgbi_*)")
    if abs(res_x - abs(res_y)) > 1e-9:
        raise SourceFormatError(f"{tile.path.name}: pixels are not square ({res_x} × {res_y})")
    if resolution is not None and abs(res_x - resolution) > 1e-9:
        raise SourceFormatError(f"{tile.path.name}: pixel size {res_x:g} m, "
                                f"expected {resolution:g} m")
    half = res_x / 2
    if any(abs(a - b) > half for a, b in zip(bounds, tile.bounds, strict=True)):
        raise SourceFormatError(
            f"{tile.path.name}: covers {_fmt(bounds)}, expected its kilometre square "
            f"{_fmt(tile.bounds)} (from the file name)")
    return check


def common_resolution(checks: list[TileCheck]) -> float:
    """The pixel size most tiles share: the odd ones out are the ones to report."""
    return Counter(c.resolution for c in checks).most_common(1)[0][0]


def _fmt(bounds: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in bounds) + ")"
