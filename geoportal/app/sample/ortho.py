"""Digital orthophoto tiles (DOP) rendered from the same top surface as the LiDAR."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rasterio.windows import Window

from geoportal.core.publish import atomic_path

from . import species as sp
from .rng import rng_for
from .surface import ROOF, TREE, TileSurface

# RGB + NIR per land cover code
LC_COLOUR = np.array([
    (122, 102, 78, 95), (104, 136, 70, 190), (186, 170, 120, 135), (110, 142, 80, 185),
    (100, 136, 76, 178), (72, 82, 56, 115), (92, 93, 97, 70), (152, 147, 141, 120),
    (44, 60, 66, 15), (128, 127, 124, 100), (96, 136, 70, 182), (176, 160, 134, 140)], float)
ROOF_COLOUR = np.array([(154, 72, 56, 110), (72, 74, 80, 60), (150, 150, 152, 130),
                        (206, 206, 201, 190), (122, 86, 66, 90)], float)


def ortho_filename(e: int, n: int, year: int, bands: str) -> str:
    return f"dop10{bands}_32_{e}_{n}_1_nw_{year}.tif"


def jp2_filename(e: int, n: int, year: int) -> str:
    """NRW's delivery name: JPEG 2000, always RGB + near infrared."""
    return f"dop10rgbi_32_{e}_{n}_1_nw_{year}.jp2"


def write_tile(surface: TileSurface, path: Path, res: float, bands: str, seed: int,
               stripe_rows: int = 512, jp2_path: Path | None = None) -> None:
    """Write the GeoTIFF tile and, with ``jp2_path``, the same pixels as NRW's RGBI JPEG 2000."""
    size = round(1000.0 / res)
    count = 4 if bands == "rgbi" else 3
    profile = {
        "driver": "GTiff", "dtype": "uint8", "width": size, "height": size, "count": count,
        "crs": "EPSG:25832", "transform": from_origin(surface.x0, surface.y0 + 1000.0, res, res),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
        "interleave": "pixel",
    }
    if count == 3:
        profile["photometric"] = "RGB"
    # JPEG 2000 is written by copying (GDAL's JP2 drivers cannot write window by window), so the
    # four bands go to a temporary GeoTIFF rendered in the same pass.
    rgbi_tmp = jp2_path.with_name(jp2_path.name + ".tmp.tif") if jp2_path else None
    with atomic_path(path) as tmp, contextlib.ExitStack() as stack:
        dst = stack.enter_context(rasterio.open(tmp, "w", **profile))
        rgbi = (stack.enter_context(rasterio.open(rgbi_tmp, "w", **{**profile, "count": 4}))
                if rgbi_tmp else None)
        for r0 in range(0, size, stripe_rows):
            rows = min(stripe_rows, size - r0)
            img = _render(surface, res, r0, rows, size, seed)
            dst.write(np.moveaxis(img[..., :count], -1, 0), window=Window(0, r0, size, rows))
            if rgbi is not None:
                rgbi.write(np.moveaxis(img, -1, 0), window=Window(0, r0, size, rows))
        dst.descriptions = ("red", "green", "blue", "nir")[:count]
        if rgbi is not None:
            rgbi.descriptions = ("red", "green", "blue", "nir")
    if jp2_path is not None and rgbi_tmp is not None:
        _copy_jp2(rgbi_tmp, jp2_path)


def _copy_jp2(tif: Path, jp2: Path) -> None:
    """Lossy JPEG 2000 like NRW's deliveries (deterministic: same pixels, same bytes)."""
    try:
        with atomic_path(jp2) as tmp:
            try:
                rasterio.shutil.copy(tif, tmp, driver="JP2OpenJPEG", QUALITY=50,
                                     REVERSIBLE="NO", RESOLUTIONS=4)
            finally:
                Path(f"{tmp}.aux.xml").unlink(missing_ok=True)
    finally:
        tif.unlink(missing_ok=True)


def _render(s: TileSurface, res: float, r0: int, rows: int, size: int, seed: int) -> np.ndarray:
    cols = np.arange(size)
    rr = np.arange(r0, r0 + rows)
    x = np.broadcast_to(s.x0 + (cols[None, :] + 0.5) * res, (rows, size)).ravel()
    y = np.broadcast_to(s.y0 + 1000.0 - (rr[:, None] + 0.5) * res, (rows, size)).ravel()
    top = s.top(x, y)
    kind = top["kind"]
    rgb = LC_COLOUR[top["lc"]].copy()
    roof = kind == ROOF
    if roof.any():
        b = top["bld"][roof]
        shade = np.where(top["facet"][roof] > 0, 1.12, np.where(top["facet"][roof] < 0, 0.84, 1.0))
        rgb[roof] = ROOF_COLOUR[s.b["colour"][b]] * shade[:, None]
    tree = kind == TREE
    rng = rng_for(seed, "ortho", s.e, s.n, r0)
    if tree.any():
        t = top["tree"][tree]
        rel = top["dist"][tree] / s.t["r"][t]
        light = (0.72 + 0.4 * (1 - rel**2)) * s.t["shade"][t]
        tex = 1.0 + rng.normal(0, 0.12, t.size)
        base = np.column_stack([sp.COLOUR[s.t["species"][t]], np.full(t.size, 215.0)])
        rgb[tree] = base * (light * tex)[:, None]
    rgb += rng.normal(0, 4.0, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8).reshape(rows, size, 4)
