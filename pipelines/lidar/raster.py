"""Writing tile rasters as Cloud Optimised GeoTIFFs and the city-wide mosaic as a VRT.

The mosaic is a GDAL VRT with paths relative to itself, so a published version folder can be
moved or served from another root; pygeoapi's rasterio provider opens it like a single file.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from pyproj import CRS
from rasterio.enums import Resampling

from geoportal.core.publish import atomic_path
from pipelines.lidar.grid import GridSpec

FLOAT_NODATA = -9999.0
DTYPES = {np.dtype("float32"): "Float32", np.dtype("uint8"): "Byte"}


def overview_factors(width: int, height: int, blocksize: int) -> list[int]:
    """Overview levels as GDAL's COG driver picks them: halve until a block holds the image."""
    factors, factor = [], 1
    while max(width, height) / factor > blocksize:
        factor *= 2
        factors.append(factor)
    return factors


def write_cog(path: Path, data: np.ndarray, spec: GridSpec, crs: str,
              nodata: float | int | None, blocksize: int = 512) -> Path:
    """One band as a ZSTD-compressed COG (fastest to write) with overviews, written atomically.

    Overviews are built uncompressed in memory and copied with the image in COG order
    (``COPY_SRC_OVERVIEWS``): GDAL's COG driver writes its overviews to a compressed temporary
    file first and recompresses them, which made each tile's four COGs 1.7× slower to write.
    The files are the same valid COGs (tests check them with rio-cogeo). NaN cells of a float
    grid are written as ``nodata``.
    """
    is_float = data.dtype.kind == "f"
    if is_float and nodata is not None:
        data = np.where(np.isnan(data), np.asarray(nodata, data.dtype), data)
    memory = {"driver": "MEM", "width": data.shape[1], "height": data.shape[0], "count": 1,
              "dtype": data.dtype.name, "crs": crs, "transform": spec.transform(),
              "nodata": nodata}
    with atomic_path(path) as tmp, rasterio.open(f"/vsimem/{path.name}", "w", **memory) as mem:
        mem.write(data, 1)
        mem.build_overviews(overview_factors(*data.shape[::-1], blocksize),
                            Resampling.average if is_float else Resampling.nearest)
        rasterio.shutil.copy(mem, tmp, driver="GTiff", TILED="YES", BLOCKXSIZE=blocksize,
                             BLOCKYSIZE=blocksize, COMPRESS="ZSTD", ZSTD_LEVEL=1,
                             PREDICTOR=3 if is_float else 2, COPY_SRC_OVERVIEWS="YES",
                             NUM_THREADS=1)
    return path


def write_vrt(path: Path, tiles: list[Path], crs: str) -> Path:
    """A mosaic VRT of equally sized, aligned single-band tiles (paths relative to the VRT)."""
    if not tiles:
        raise ValueError("a mosaic needs at least one tile")
    frames = []
    for tile in tiles:
        with rasterio.open(tile) as src:
            frames.append((tile, src.bounds, src.res[0], src.width, src.height,
                           src.dtypes[0], src.nodata, src.block_shapes[0]))
    res = frames[0][2]
    left = min(f[1].left for f in frames)
    top = max(f[1].top for f in frames)
    right = max(f[1].right for f in frames)
    bottom = min(f[1].bottom for f in frames)
    width, height = round((right - left) / res), round((top - bottom) / res)
    dtype = DTYPES[np.dtype(frames[0][5])]
    nodata = frames[0][6]
    wkt = escape(CRS.from_user_input(crs).to_wkt())
    sources = []
    for tile, bounds, _, w, h, _, _, (bh, bw) in frames:
        x_off = round((bounds.left - left) / res)
        y_off = round((top - bounds.top) / res)
        rel = os.path.relpath(tile, path.parent)
        sources.append(
            f'    <ComplexSource>\n'
            f'      <SourceFilename relativeToVRT="1">{escape(rel)}</SourceFilename>\n'
            f'      <SourceBand>1</SourceBand>\n'
            f'      <SourceProperties RasterXSize="{w}" RasterYSize="{h}" DataType="{dtype}" '
            f'BlockXSize="{bw}" BlockYSize="{bh}"/>\n'
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>\n'
            f'      <DstRect xOff="{x_off}" yOff="{y_off}" xSize="{w}" ySize="{h}"/>\n'
            + (f'      <NODATA>{nodata:g}</NODATA>\n' if nodata is not None else "")
            + '    </ComplexSource>\n')
    nodata_xml = f"    <NoDataValue>{nodata:g}</NoDataValue>\n" if nodata is not None else ""
    text = (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n'
        f'  <SRS dataAxisToSRSAxisMapping="1,2">{wkt}</SRS>\n'
        f'  <GeoTransform>{left!r}, {res!r}, 0.0, {top!r}, 0.0, {-res!r}</GeoTransform>\n'
        f'  <VRTRasterBand dataType="{dtype}" band="1">\n{nodata_xml}'
        + "".join(sources)
        + '  </VRTRasterBand>\n</VRTDataset>\n')
    path.write_text(text, encoding="utf-8")
    return path
