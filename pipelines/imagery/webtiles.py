"""Web map tiles (WebMercatorQuad) from the orthophoto mosaic: rendered on demand, or pre-rendered.

Every tile is read from the *mosaic* VRT, never from a single delivered tile, so a web tile that
straddles two 1 km tiles is one read across both: no seam. Low zooms are pre-rendered into one
PMTiles archive bottom-up: each task renders a small block of tiles at the archive's deepest zoom
with rio-tiler and builds the zooms above it by averaging 2×2 children, which is why it is much
faster than gdal2tiles (which warps every tile of every zoom from the source). Deep zooms are
rendered on request by the tile provider and cached on disk.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import morecantile
import numpy as np
import rasterio
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from pydantic import AfterValidator
from rio_tiler.errors import NoOverviewWarning, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.utils import render

from geoportal.core.registry import RasterTiles
from pipelines.imagery.encoders import CACHE_MB

TMS = morecantile.tms.get("WebMercatorQuad")
TILE = 256
BACKGROUND = 255  # JPEG has no transparency: outside the city is white, never black
EQUATOR_M_PER_PX = 2 * math.pi * 6378137.0 / TILE

# The mosaic VRT has no overviews of its own, but every read through it uses its sources' (the
# COGs') overviews; rio-tiler's warning about it would only fill the server log.
warnings.filterwarnings("ignore", category=NoOverviewWarning)

Pixels = tuple[np.ndarray, np.ndarray]  # (bands × 256 × 256 uint8, 256 × 256 mask 0/255)


def native_zoom(resolution_m: float, lat: float) -> int:
    """The first zoom whose ground pixel is at least as fine as the source's."""
    ground = EQUATOR_M_PER_PX * math.cos(math.radians(lat))
    return max(0, math.ceil(math.log2(ground / resolution_m)))


def photo(data: np.ndarray, mask: np.ndarray) -> Pixels:
    """Bands already in 0–255 (orthophoto RGB or CIR, hillshade grey): shown as they are."""
    return np.asarray(data, dtype=np.uint8), mask


# A sequential green ramp (ColorBrewer "Greens", light = low), by height above ground in metres.
CANOPY_MIN_M = 2.0  # below: lawns, hedges, cars; left transparent so the base map shows
CANOPY_STOPS = ((2.0, (199, 233, 192)), (8.0, (116, 196, 118)), (15.0, (49, 163, 84)),
                (25.0, (0, 109, 44)), (40.0, (0, 68, 27)))


def canopy(data: np.ndarray, mask: np.ndarray) -> Pixels:
    """Heights above ground as a green ramp; transparent below ``CANOPY_MIN_M`` and at nodata."""
    height = np.asarray(data[0], dtype=np.float32)
    keep = (mask > 0) & np.isfinite(height) & (height >= CANOPY_MIN_M)
    stops = np.array([h for h, _ in CANOPY_STOPS], np.float32)
    rgb = np.stack([np.interp(height, stops, [c[k] for _, c in CANOPY_STOPS])
                    for k in range(3)]).round().astype(np.uint8)
    return rgb, np.where(keep, 255, 0).astype(np.uint8)


# Heavy-rain water depth in the classes of the NRW hazard maps (m; ColorBrewer "Blues", light =
# shallow): 0.05–0.1, 0.1–0.3, 0.3–0.5, 0.5–1.0, over 1 m. Below the first bound transparent.
WATER_DEPTH_CLASSES = ((0.05, (198, 219, 239)), (0.1, (158, 202, 225)), (0.3, (107, 174, 214)),
                       (0.5, (33, 113, 181)), (1.0, (8, 48, 107)))
# Heavy-rain flow velocity in the classes of the NRW hazard maps (m/s; ColorBrewer "YlOrRd"):
# 0.2–0.5, 0.5–1.0, 1.0–2.0, over 2 m/s; slower water is drawn transparent.
FLOW_VELOCITY_CLASSES = ((0.2, (254, 217, 118)), (0.5, (253, 141, 60)), (1.0, (227, 26, 28)),
                         (2.0, (128, 0, 38)))
#: The classed styles: unit and classes (lower bound, colour), for the tiles and the legend.
CLASSED: dict[str, tuple[str, tuple[tuple[float, tuple[int, int, int]], ...]]] = {
    "water_depth": ("m", WATER_DEPTH_CLASSES), "flow_velocity": ("m/s", FLOW_VELOCITY_CLASSES)}


def classed(classes: tuple[tuple[float, tuple[int, int, int]], ...]) -> Callable[
        [np.ndarray, np.ndarray], Pixels]:
    """A style drawing values in ``classes`` (no interpolation between them: a class is a
    class); below the first bound transparent."""
    bounds = np.array([d for d, _ in classes], np.float32)
    colours = np.array([(0, 0, 0)] + [c for _, c in classes], np.uint8)

    def draw(data: np.ndarray, mask: np.ndarray) -> Pixels:
        value = np.asarray(data[0], dtype=np.float32)
        k = np.digitize(np.nan_to_num(value, nan=-1.0), bounds)  # 0: below the first class
        rgb = np.moveaxis(colours[k], -1, 0)
        return np.ascontiguousarray(rgb), np.where((mask > 0) & (k > 0), 255, 0).astype(np.uint8)

    return draw


water_depth = classed(WATER_DEPTH_CLASSES)
flow_velocity = classed(FLOW_VELOCITY_CLASSES)


def legend_classes(style: str) -> list[dict[str, object]] | None:
    """The legend of a classed style: per class its colour and its range as a label."""
    if style not in CLASSED:
        return None
    unit, classes = CLASSED[style]
    out = []
    for i, (low, rgb) in enumerate(classes):
        high = classes[i + 1][0] if i + 1 < len(classes) else None
        de = f"{low:g}–{high:g} {unit}" if high is not None else f"über {low:g} {unit}"
        en = f"{low:g}–{high:g} {unit}" if high is not None else f"over {low:g} {unit}"
        out.append({"label": {"de": de.replace(".", ","), "en": en},
                    "colour": "#{:02x}{:02x}{:02x}".format(*rgb), "value": low})
    return out


@functools.cache
def transparent(fmt: str = "png") -> bytes:
    """A tile with nothing drawn: what a classed map (a hazard map) shows where no class
    applies. Dry land is an answer, not a missing tile: a 404 would be an error in the map."""
    empty = np.zeros((3, TILE, TILE), np.uint8)
    return encode((empty, np.zeros((TILE, TILE), np.uint8)), fmt=fmt)


# Terrarium (the terrain encoding of Mapzen's open elevation tiles; MapLibre's raster-dem
# ``encoding: "terrarium"``): height = R·256 + G + B/256 − 32768 m, so steps of 1/256 m (4 mm),
# finer than Mapbox terrain-RGB's 0.1 m: a 0.5 m DTM keeps its centimetres.
TERRARIUM_OFFSET_M = 32768.0
TERRARIUM_STEP_M = 1 / 256


def terrarium(data: np.ndarray, mask: np.ndarray) -> Pixels:
    """Heights as Terrarium RGB, opaque everywhere.

    A terrain renderer reads only the colour: a transparent nodata pixel would decode as
    −32768 m, a cliff at the edge of the data. Where the tile has no data it carries the mean
    height of the rest of the tile instead (flat, near the ground around it).
    """
    height = np.asarray(data[0], dtype=np.float64)
    valid = (mask > 0) & np.isfinite(height)
    if not valid.any():
        return np.zeros((3, *height.shape), np.uint8), np.zeros(height.shape, np.uint8)
    filled = np.where(valid, height, height[valid].mean())
    steps = np.round((filled + TERRARIUM_OFFSET_M) / TERRARIUM_STEP_M).astype(np.int64)
    steps = np.clip(steps, 0, 2**24 - 1)
    rgb = np.stack([steps >> 16, (steps >> 8) & 255, steps & 255]).astype(np.uint8)
    return rgb, np.full(height.shape, 255, np.uint8)


def decode_terrarium(rgb: np.ndarray) -> np.ndarray:
    """Heights (m) of Terrarium pixels (bands × rows × cols), as a terrain renderer reads them."""
    r, g, b = (rgb[k].astype(np.float64) for k in range(3))
    return r * 256 + g + b / 256 - TERRARIUM_OFFSET_M


#: How a mosaic's values become tile colours (``options.style`` of the tile provider).
STYLES: dict[str, Callable[[np.ndarray, np.ndarray], Pixels]] = {
    "photo": photo, "grey": photo, "canopy": canopy, "water_depth": water_depth,
    "terrarium": terrarium, "flow_velocity": flow_velocity}
#: Styles whose colours encode heights (a terrain source, raster-dem), by MapLibre's name of the
#: encoding; their tiles must be lossless (PNG).
ELEVATION_ENCODINGS: dict[str, str] = {"terrarium": "terrarium"}


def known_style(tiles: RasterTiles) -> RasterTiles:
    """A pipeline's ``tiles`` checked when the registry loads: a style this module renders (the
    core cannot know the styles, which live with their colour code here)."""
    if tiles.style not in STYLES:
        raise ValueError(f"style: expected one of {sorted(STYLES)}, got {tiles.style!r}")
    if tiles.style in ELEVATION_ENCODINGS and tiles.format != "png":
        raise ValueError(f"style {tiles.style!r} encodes heights in the colours: format must be "
                         f"png (lossless), not {tiles.format!r}")
    return tiles


#: The ``tiles`` of a pipeline's params: the core's model with a style rendered here.
StyledTiles = Annotated[RasterTiles, AfterValidator(known_style)]


#: The tile encodings :func:`encode` writes (``f=`` of OGC API Tiles); their media types and file
#: extensions are in :mod:`geoportal.core.formats`.
ENCODINGS = ("jpeg", "png")


def read_tile(reader: Reader, z: int, x: int, y: int, style: str = "photo") -> Pixels | None:
    """The styled pixels of one web tile and its validity mask; None when nothing is to show."""
    # heights are warped bilinearly (rio-tiler's default is nearest): a terrain of stairs of
    # the source cells would show as terraces in the 3D view and misplace heights by half a cell
    warp = {"reproject_method": "bilinear"} if style in ELEVATION_ENCODINGS else {}
    try:
        img = reader.tile(x, y, z, tilesize=TILE, resampling_method="bilinear", **warp)
    except TileOutsideBounds:
        return None
    mask = np.where(img.mask > 0, 255, 0).astype(np.uint8)  # float masks are ±max, not 0/255
    if not mask.any():
        return None
    data, mask = STYLES[style](np.asarray(img.data), mask)
    return (data, mask) if mask.any() else None


def encode(pixels: Pixels, quality: int = 85, fmt: str = "jpeg") -> bytes:
    """JPEG or PNG bytes of a tile.

    JPEG has no transparency: pixels outside the mosaic are painted with the white background.
    PNG keeps them transparent (an alpha band from the mask), for overlays such as the canopy.
    """
    data, mask = pixels
    if fmt == "png":
        return bytes(render(data, mask=mask, img_format="PNG"))
    filled = np.where(mask[None, :, :] > 0, data, BACKGROUND).astype(np.uint8)
    return bytes(render(filled, img_format="JPEG", quality=quality))


def render_tile(mosaic: Path | Reader, z: int, x: int, y: int, quality: int = 85,
                style: str = "photo", fmt: str = "jpeg") -> bytes | None:
    """Render one web tile from the mosaic (a path or an open reader); None when empty."""
    if isinstance(mosaic, Reader):
        pixels = read_tile(mosaic, z, x, y, style)
    else:
        with Reader(str(mosaic), tms=TMS) as reader:
            pixels = read_tile(reader, z, x, y, style)
    return None if pixels is None else encode(pixels, quality, fmt)


def halve(pixels: Pixels) -> Pixels:
    """Half the size in each direction, averaging only valid pixels (no grey fringe at edges)."""
    data, mask = pixels
    quads = [(slice(None), slice(r, None, 2), slice(c, None, 2)) for r in (0, 1) for c in (0, 1)]
    if mask.all():  # the common case inside the city: plain 2×2 mean in integers
        total = sum(data[q].astype(np.uint16) for q in quads)
        return ((total + 2) >> 2).astype(np.uint8), np.full(total.shape[1:], 255, np.uint8)
    valid = [(mask[q[1:]] > 0) for q in quads]
    total = sum(data[q].astype(np.uint16) * v for q, v in zip(quads, valid, strict=True))
    weight = sum(v.astype(np.uint16) for v in valid)
    out = np.where(weight > 0, (total + weight // 2) // np.maximum(weight, 1), 0)
    return out.astype(np.uint8), np.where(weight > 0, 255, 0).astype(np.uint8)


def downsample(children: list[Pixels | None]) -> Pixels | None:
    """The parent tile of four children (NW, NE, SW, SE), averaging valid pixels only."""
    if all(c is None for c in children):
        return None
    bands = next(c for c in children if c is not None)[0].shape[0]
    data = np.zeros((bands, 2 * TILE, 2 * TILE), np.float32)
    mask = np.zeros((2 * TILE, 2 * TILE), np.uint8)
    for k, child in enumerate(children):
        if child is None:
            continue
        r, c = divmod(k, 2)
        rows, cols = slice(r * TILE, (r + 1) * TILE), slice(c * TILE, (c + 1) * TILE)
        data[:, rows, cols] = child[0]
        mask[rows, cols] = child[1]
    return halve((data, mask))


@dataclass(frozen=True)
class BlockTask:
    """Render the tiles under one tile at ``top`` zoom, down to ``bottom`` zoom."""

    mosaic: str
    top: morecantile.Tile
    bottom: int
    quality: int = 85


def render_block(task: BlockTask) -> tuple[list[tuple[int, bytes]], Pixels | None]:
    """All tiles of a block as (PMTiles tile id, JPEG) and the top tile's pixels for the parent.

    The whole block is read at the deepest zoom in *one* warped read (2048 × 2048 px for an
    8 × 8 block), then cut into tiles and halved level by level: far fewer reads than one per
    tile, and the levels above never touch the source again.
    """
    out: list[tuple[int, bytes]] = []
    span = 2 ** (task.bottom - task.top.z)
    # a long-lived pool worker would otherwise fill GDAL's default cache (5 % of the RAM)
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB * 2**20), Reader(task.mosaic, tms=TMS) as reader:
        try:
            img = reader.part(tuple(TMS.xy_bounds(task.top)), dst_crs=TMS.crs,
                              bounds_crs=TMS.crs, width=TILE * span, height=TILE * span,
                              resampling_method="bilinear")
        except TileOutsideBounds:
            return out, None
    level: Pixels = (np.asarray(img.data, dtype=np.uint8), img.mask.astype(np.uint8))
    for z in range(task.bottom, task.top.z - 1, -1):
        n = 2 ** (z - task.top.z)
        x0, y0 = task.top.x * n, task.top.y * n
        for r in range(n):
            for c in range(n):
                rows, cols = slice(r * TILE, (r + 1) * TILE), slice(c * TILE, (c + 1) * TILE)
                mask = level[1][rows, cols]
                if mask.any():
                    out.append((zxy_to_tileid(z, x0 + c, y0 + r),
                                encode((level[0][:, rows, cols], mask), task.quality)))
        if z > task.top.z:
            level = halve(level)
    return out, (level if level[1].any() else None)


def prerender(mosaic: Path, out: Path, min_zoom: int, max_zoom: int,
              executor: Executor | None = None, quality: int = 85,
              progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Pre-render zooms ``min_zoom``–``max_zoom`` into one PMTiles archive; return tile counts.

    Memory stays bounded whatever the city's size: each block task holds one 8 × 8 block, the
    encoded tiles go straight to the PMTiles writer (which spools them to a temporary file and
    keeps only the directory), and only one small pixel tile per block is kept for the zooms
    above the blocks.
    """
    with Reader(str(mosaic), tms=TMS) as reader:
        bounds = reader.get_geographic_bounds(TMS.rasterio_geographic_crs)
    split = max(min_zoom, max_zoom - 3)  # blocks of at most 8×8 deepest tiles: bounded memory
    blocks = list(TMS.tiles(*bounds, zooms=[split]))
    tasks = [BlockTask(str(mosaic), t, max_zoom, quality) for t in blocks]
    results = executor.map(render_block, tasks) if executor else map(render_block, tasks)
    counts: dict[int, int] = {}
    with open(out, "wb") as fh:
        writer = Writer(fh)

        def add(tile_id: int, data: bytes) -> None:
            writer.write_tile(tile_id, data)
            z = _zoom_of(tile_id)
            counts[z] = counts.get(z, 0) + 1

        level: dict[tuple[int, int], Pixels] = {}
        for n, (task, (encoded, top)) in enumerate(zip(tasks, results, strict=True), 1):
            for tile_id, data in encoded:
                add(tile_id, data)
            if top is not None:
                level[(task.top.x, task.top.y)] = top
            if progress:
                progress(n, len(tasks))
        for z in range(split - 1, min_zoom - 1, -1):
            level = _parents(level, z, quality, add)
        if not counts:
            raise ValueError(f"{out.name}: no web tiles intersect the mosaic")
        writer.finalize(_header(bounds, min_zoom),
                        {"name": out.stem, "format": "jpg", "quality": quality})
    return {str(z): counts[z] for z in sorted(counts)}


def _parents(level: dict[tuple[int, int], Pixels], z: int, quality: int,
             add: Callable[[int, bytes], None]) -> dict[tuple[int, int], Pixels]:
    parents: dict[tuple[int, int], Pixels] = {}
    for px, py in sorted({(x // 2, y // 2) for x, y in level}):
        kids = [level.get((2 * px + dx, 2 * py + dy)) for dy in (0, 1) for dx in (0, 1)]
        pixels = downsample(kids)
        if pixels is not None:
            parents[(px, py)] = pixels
            add(zxy_to_tileid(z, px, py), encode(pixels, quality))
    return parents


def _zoom_of(tile_id: int) -> int:
    z, acc = 0, 0
    while acc + 4**z <= tile_id:
        acc += 4**z
        z += 1
    return z


def _header(bounds: tuple[float, float, float, float], min_zoom: int) -> dict[str, int]:
    """The PMTiles header fields the writer does not derive from the tiles themselves."""
    w, s, e, n = bounds
    return {"tile_type": TileType.JPEG, "tile_compression": Compression.NONE,
            "min_lon_e7": int(w * 1e7), "min_lat_e7": int(s * 1e7),
            "max_lon_e7": int(e * 1e7), "max_lat_e7": int(n * 1e7),
            "center_zoom": min_zoom, "center_lon_e7": int((w + e) / 2 * 1e7),
            "center_lat_e7": int((s + n) / 2 * 1e7)}
