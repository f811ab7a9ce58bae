"""GDAL VRT documents, written directly: band views of one file and the city-wide mosaic.

The mosaic is a plain VRT over the per-tile COGs (relative paths, so the published folder can move
as a whole). GDAL exposes the sources' internal overviews through it, which is what lets a web tile
straddling two delivered tiles be read in one request, without a seam. Squares cut from a scene
may not be covered everywhere: their internal mask becomes the VRT's ``MaskBand`` (a file
without a mask reads as all valid), so the web tiles leave those pixels out. Writing the XML
here needs no ``gdalbuildvrt`` and is deterministic: the same tiles always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

COLOR_INTERP = {1: ("Gray",), 3: ("Red", "Green", "Blue"), 4: ("Red", "Green", "Blue", "Undefined")}


@dataclass(frozen=True)
class RasterFacts:
    """Georeferencing of one file, enough to place it in a VRT."""

    path: Path
    width: int
    height: int
    bounds: tuple[float, float, float, float]
    count: int
    block: int = 512
    #: The file has a per-dataset (internal) mask: pixels outside it are not data.
    mask: bool = False


def band_view(facts: RasterFacts, bands: Sequence[int], crs_wkt: str,
              transform: Sequence[float] | None = None) -> str:
    """A VRT showing ``bands`` of one file as Red/Green/Blue (or Gray), e.g. NIR-R-G as CIR.

    ``transform`` (GDAL order) replaces the north-up square grid read from ``facts.bounds``:
    a scene's pixels may be oblong. The file's mask (internal, or from its nodata value) is
    the view's.
    """
    res = (facts.bounds[2] - facts.bounds[0]) / facts.width
    mask = ([_source(facts, "mask,1", facts.width, facts.height, 0, 0, relative=False)]
            if facts.mask else None)
    return _document(facts.width, facts.height, (facts.bounds[0], facts.bounds[3]), res,
                     crs_wkt, len(bands),
                     lambda out: [_source(facts, src_band, facts.width, facts.height, 0, 0,
                                          relative=False)
                                  for src_band in [bands[out - 1]]], mask, transform)


def mosaic(tiles: Sequence[RasterFacts], crs_wkt: str, folder: Path) -> str:
    """A VRT mosaic of same-resolution tiles; source paths are relative to ``folder``."""
    res = (tiles[0].bounds[2] - tiles[0].bounds[0]) / tiles[0].width
    x0 = min(t.bounds[0] for t in tiles)
    y1 = max(t.bounds[3] for t in tiles)
    width = round((max(t.bounds[2] for t in tiles) - x0) / res)
    height = round((y1 - min(t.bounds[1] for t in tiles)) / res)
    count = tiles[0].count

    def sources(band: int | str) -> list[str]:
        out = []
        for t in tiles:
            rel = t.path.relative_to(folder) if t.path.is_relative_to(folder) else t.path
            col, row = round((t.bounds[0] - x0) / res), round((y1 - t.bounds[3]) / res)
            out.append(_source(RasterFacts(rel, t.width, t.height, t.bounds, t.count, t.block),
                               band, t.width, t.height, col, row,
                               relative=not Path(rel).is_absolute()))
        return out

    mask = sources("mask,1") if any(t.mask for t in tiles) else None
    return _document(width, height, (x0, y1), res, crs_wkt, count, sources, mask)


def _document(width: int, height: int, origin: tuple[float, float], res: float, crs_wkt: str,
              count: int, sources: object, mask: list[str] | None = None,
              transform: Sequence[float] | None = None) -> str:
    geo = transform or (origin[0], res, 0.0, origin[1], 0.0, -res)
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
             f"  <SRS>{escape(crs_wkt)}</SRS>",
             f"  <GeoTransform>{', '.join(repr(float(v)) for v in geo)}</GeoTransform>"]
    names = COLOR_INTERP.get(count, ("Undefined",) * count)
    for band in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="Byte" band="{band}">')
        lines.append(f"    <ColorInterp>{names[band - 1]}</ColorInterp>")
        lines.extend(sources(band))  # type: ignore[operator]
        lines.append("  </VRTRasterBand>")
    if mask:
        lines += ["  <MaskBand>", '    <VRTRasterBand dataType="Byte">', *mask,
                  "    </VRTRasterBand>", "  </MaskBand>"]
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"


def _source(facts: RasterFacts, band: int | str, width: int, height: int, col: int, row: int,
            relative: bool) -> str:
    return (
        "    <SimpleSource>"
        f'<SourceFilename relativeToVRT="{int(relative)}">{escape(str(facts.path))}'
        f"</SourceFilename><SourceBand>{band}</SourceBand>"
        f'<SourceProperties RasterXSize="{facts.width}" RasterYSize="{facts.height}" '
        f'DataType="Byte" BlockXSize="{facts.block}" BlockYSize="{facts.block}"/>'
        f'<SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>'
        f'<DstRect xOff="{col}" yOff="{row}" xSize="{width}" ySize="{height}"/>'
        "</SimpleSource>"
    )
