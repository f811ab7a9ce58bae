"""Scenes: orthophotos of any extent, pixel size, band count and CRS, cut into the 1 km grid.

A city may receive one big GeoTIFF (a flight block of several km², 5 m pixels, in the next UTM
zone) instead of NRW's kilometre tiles. Rather than a second product path, each scene is cut
*here* into the kilometre squares of the dataset's CRS (``source.crs``) at the product's pixel
size, and every square then takes the tiles' path: one work unit, one cached COG, one entry in
the mosaic, the same web tiles.

Only headers are read while planning. A square is warped from its scene(s) by
:func:`cut_square` through a :class:`rasterio.vrt.WarpedVRT`, a stripe of rows at a time, so the
memory a worker needs is bounded by the square's width, never by the scene's size. Pixels a
square does not get from any scene (the edges of a scene in another zone are not on the grid)
are masked in the COG, not painted black.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.windows import Window

from geoportal.core.errors import SourceError, SourceFormatError
from pipelines.imagery.encoders import has_mask
from pipelines.imagery.sources import OrthoTile, ScenePart, band_indexes, usable_crs
from pipelines.imagery.vrt import RasterFacts, band_view
from pipelines.tiles import TILE_SIZE

#: Rows warped at once, and the cut's block height, so each block is written once. Measured on
#: a full 10 cm square (10000² px × 4 bands, 400 MB of pixels) warped from a 24 km² scene: the
#: cut adds ~100 MB to the worker's peak RSS with 128 rows and a 32 MB cache (~250 MB with 512
#: rows and 128 MB), and is no slower.
STRIPE_ROWS = 128
#: GDAL's block cache while cutting, in bytes: it only has to hold a stripe's source blocks.
CACHE_BYTES = 32 * 2**20
# A year in a file name that is not part of a longer number: ortho_2024_block3.tif
YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


@dataclass(frozen=True)
class Scene:
    """What a scene's header says, checked: where it is, which bands, which year."""

    part: ScenePart
    #: The corners of its grid in its own CRS (a rotated grid's too), clockwise from top left.
    corners: tuple[tuple[float, float], ...]
    resolution: float  # metres per pixel in the dataset's CRS
    year: int
    #: What was assumed or converted to use it (for the build's warnings).
    notes: tuple[str, ...] = ()


def read_scene(path: Path, crs: str, declared: str | None, bands: Sequence[int | str],
               roles: Mapping[str, int] | None, year: int | None) -> Scene:
    """Open a scene's header and check what the product needs from it.

    ``crs`` is the dataset's (the grid's), ``declared`` the CRS the YAML gives for scenes
    (``pipeline.params.scene_crs``), assumed only for a file without one. The year:
    ``pipeline.params.year``, else a four-digit year in the file name, else the file's TIFF
    date tag; else refused.
    """
    try:
        with rasterio.open(path) as src:
            own = usable_crs(path.name, src.crs, declared)
            if any(d != "uint8" for d in src.dtypes):
                raise SourceFormatError(f"{path.name}: bands are {src.dtypes[0]}; an orthophoto "
                                        "must be 8-bit (uint8) per band")
            indexes = band_indexes(path.name, bands, src.count,
                                   [c.name for c in src.colorinterp], src.descriptions, roles)
            resolution = _resolution(src, own, CRS.from_user_input(crs))
            found_year = year or _year(path.name, src.tags().get("TIFFTAG_DATETIME", ""))
            corners = tuple(src.transform * xy for xy in
                            ((0, 0), (src.width, 0), (src.width, src.height), (0, src.height)))
            notes = _notes(path.name, src.crs is None, own, CRS.from_user_input(crs),
                           found_year if year is None and not YEAR_IN_NAME.search(path.name)
                           else None)
    except (RasterioError, OSError) as exc:
        raise SourceFormatError(f"{path.name}: not a readable raster: {exc}") from None
    if found_year is None:
        raise SourceFormatError(f"{path.name}: no year in the file name or its TIFF date tag; "
                                "give the flight year as pipeline.params.year")
    return Scene(ScenePart(path, own.to_wkt(), indexes), corners, resolution, found_year, notes)


def _notes(name: str, crs_assumed: bool, own: CRS, grid: CRS, year_from_tag: int | None
           ) -> tuple[str, ...]:
    """What the build says it did with a scene: a user can see none of it in the pixels."""
    notes = []
    if crs_assumed:
        notes.append(f"{name}: no CRS in the file; read as {own.name} "
                     f"(pipeline.params.scene_crs)")
    if not own.equals(grid):
        notes.append(f"{name}: reprojected from {own.name} to {grid.name} (bilinear)")
    if year_from_tag is not None:
        notes.append(f"{name}: flight year {year_from_tag} taken from its TIFF date tag")
    return tuple(notes)


def _resolution(src: rasterio.DatasetReader, own: CRS, grid: CRS) -> float:
    """The scene's pixel size in the grid's metres (its own when both are metric maps)."""
    if own.is_projected and own.axis_info[0].unit_name == "metre":
        t = src.transform  # a rotated grid's pixel is as long as its edge vectors
        return float(min(math.hypot(t.a, t.d), math.hypot(t.b, t.e)))
    transform, _, _ = calculate_default_transform(own, grid, src.width, src.height,
                                                  *src.bounds)
    return float(abs(transform.a))


def _year(name: str, datetime_tag: str) -> int | None:
    match = YEAR_IN_NAME.search(name) or YEAR_IN_NAME.match(datetime_tag.strip())
    return int(match.group(1)) if match else None


def squares(scene: Scene, crs: str) -> list[tuple[int, int]]:
    """The kilometre squares (lower-left km) of the grid the scene's footprint overlaps."""
    to_grid = Transformer.from_crs(CRS.from_wkt(scene.part.crs_wkt), crs, always_xy=True)
    outline = shapely.Polygon(scene.corners)
    ring = shapely.segmentize(outline, outline.length / 256)  # edges bend in another CRS
    xs, ys = to_grid.transform(*np.asarray(ring.exterior.coords).T)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise SourceError(f"{scene.part.path.name}: its extent cannot be placed in {crs}")
    footprint = shapely.Polygon(zip(xs, ys, strict=True))
    size = TILE_SIZE
    found = []
    for e in range(int(np.floor(xs.min() / size)), int(np.ceil(xs.max() / size))):
        for n in range(int(np.floor(ys.min() / size)), int(np.ceil(ys.max() / size))):
            cell = shapely.box(e * size, n * size, (e + 1) * size, (n + 1) * size)
            if footprint.intersection(cell).area > scene.resolution ** 2:
                found.append((e, n))
    return found


def scene_tiles(scenes: Sequence[Scene], crs: str) -> list[OrthoTile]:
    """One square per kilometre and year, listing every scene that reaches into it."""
    by_slot: dict[tuple[int, int, int], list[ScenePart]] = {}
    for scene in scenes:
        for e, n in squares(scene, crs):
            by_slot.setdefault((e, n, scene.year), []).append(scene.part)
    return [OrthoTile(parts[0].path, e, n, year=year, bands="scene", scenes=tuple(parts))
            for (e, n, year), parts in sorted(by_slot.items())]


def square_size(resolution: float) -> int:
    """Pixels along a square's edge: the pixel size is adjusted to divide the kilometre."""
    if not resolution > 0:
        raise ValueError(f"pixel size {resolution!r}: expected a positive number of metres")
    return max(1, round(TILE_SIZE / resolution))


def cut_square(tile: OrthoTile, crs: str, resolution: float, dst: Path) -> float:
    """Warp the square from its scenes into a GeoTIFF at ``dst``; return the covered fraction.

    The first scene that has a pixel gives it. The output has the product's bands in order and
    an internal mask where no scene reaches, which the COG and the mosaic keep.
    """
    size = square_size(resolution)
    x0, y0 = tile.origin
    transform = from_origin(x0, y0 + TILE_SIZE, TILE_SIZE / size, TILE_SIZE / size)
    count = len(tile.scenes[0].bands)
    profile = {"driver": "GTiff", "dtype": "uint8", "width": size, "height": size,
               "count": count, "crs": crs, "transform": transform, "tiled": True,
               "blockxsize": STRIPE_ROWS, "blockysize": STRIPE_ROWS, "compress": "deflate",
               "interleave": "pixel"}
    covered = 0
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_TIFF_INTERNAL_MASK=True), \
            contextlib.ExitStack() as stack:
        out = stack.enter_context(rasterio.open(dst, "w", **profile))
        views = [stack.enter_context(WarpedVRT(
            stack.enter_context(rasterio.open(_bands_of(part))), crs=crs, transform=transform,
            width=size, height=size, resampling=Resampling.bilinear, add_alpha=True))
            for part in tile.scenes]
        for r0 in range(0, size, STRIPE_ROWS):
            window = Window(0, r0, size, min(STRIPE_ROWS, size - r0))
            data = np.zeros((count, int(window.height), size), np.uint8)
            mask = np.zeros((int(window.height), size), bool)
            for view in views:
                got = view.read(window=window)  # the product's bands, then the alpha
                take = (got[-1] > 0) & ~mask
                data[:, take] = got[:-1][:, take]
                mask |= take
            out.write(data, window=window)
            out.write_mask(np.where(mask, 255, 0).astype(np.uint8), window=window)
            covered += int(mask.sum())
    return covered / size**2


def _bands_of(part: ScenePart) -> str:
    """The scene as a VRT of the product's bands only, in its CRS (the YAML's, for a file
    without one), its mask kept. A fourth band GDAL calls "alpha" (as it names any 4-band
    GeoTIFF's last) is NIR here, not transparency: the view has no alpha of its own."""
    with rasterio.open(part.path) as src:
        facts = RasterFacts(part.path.resolve(), src.width, src.height, tuple(src.bounds),
                            src.count, src.block_shapes[0][1],
                            src.nodata is not None or has_mask(src))
        return band_view(facts, part.bands, part.crs_wkt, src.transform.to_gdal())
