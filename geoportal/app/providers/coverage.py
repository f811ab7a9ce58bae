"""pygeoapi's rasterio coverage provider, with ``subset`` checked before rasterio sees it.

:class:`pygeoapi.provider.rasterio_.RasterioProvider` (0.24) trusts the parsed subset: a range
given backwards (``x(350100:350000)``) or lying beside the data ends in rasterio's "Input shapes
do not overlap raster" as a 500; a single value (``x(350000)``) in an IndexError; a subset of one
axis only (``x(a:b)``) is silently ignored and the *whole* mosaic is read and sent, which is what
:func:`geoportal.app.wsgi.require_subset` exists to prevent. Here each of those is a 400 that says
what a valid subset is, with the coverage's own extent. The same for ``bbox``: six numbers (the
provider unpacks four: a 500), a box beside the data (rasterio's error as a 500), and a
``bbox-crs`` given as the URI the standard asks for (the provider only takes an EPSG number: a
500). The box is transformed into the data's CRS here with its edges densified, so the provider
cuts the grid in native coordinates; lon/lat order as pygeoapi reads every ``bbox``.

A window reaching beyond the data is clipped to it: the provider reads only the intersection but
labelled its CoverageJSON grid with the window asked for (``bbox=-180,-90,180,90`` answered 1 km
of terrain as a grid from x = -15,855,081 to 16,855,081). A window of more than
:data:`MAX_CELLS` cells is a 400: a 2000 × 2000 CoverageJSON already takes a worker from 200 to
500 MB for 5 s, and ``bbox=-180,-90,180,90`` on the city's 0.5 m terrain (400 million cells)
would take it down, which :func:`geoportal.app.wsgi.require_subset` alone does not prevent.

Configuration: as pygeoapi's ``rasterio`` provider::

    name: geoportal.app.providers.coverage.CoverageProvider
    type: coverage
    data: /srv/published/terrain_dtm/terrain_dtm.vrt
    format: {name: GTiff, mimetype: application/x-geotiff}
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pyproj
import rasterio
from pygeoapi.provider.rasterio_ import RasterioProvider
from rasterio.errors import RasterioError

from geoportal.app.providers.errors import translate_errors
from geoportal.core.errors import InvalidQueryError
from geoportal.core.geometry import transform_bounds

#: ``bbox-crs`` as the standard writes it (a URI), as a code, or as pygeoapi's default number.
EPSG_URI = re.compile(r"^(?:https?://www\.opengis\.net/def/crs/EPSG/0/|EPSG:)(\d+)$", re.I)
#: The most cells one coverage request may cut (2000 × 2000: 1 km² of the 0.5 m terrain).
MAX_CELLS = 4_000_000
CRS84_URIS = {"http://www.opengis.net/def/crs/OGC/1.3/CRS84",
              "https://www.opengis.net/def/crs/OGC/1.3/CRS84", "CRS84", "OGC:CRS84"}


@translate_errors
class CoverageProvider(RasterioProvider):
    """OGC API Coverages from one raster file; spatial subsets must name a part of it."""

    def query(self, properties: list | None = None, subsets: dict | None = None,
              bbox: list | None = None, bbox_crs: int | str = 4326, **kwargs: Any) -> Any:
        subsets = dict(subsets or {})
        self._check_spatial_subset(subsets)
        x, y = self._spatial_axes()
        if x in subsets:
            (x0, x1), (y0, y1) = self._clipped((subsets[x][0], subsets[y][0],
                                                subsets[x][1], subsets[y][1]))
            subsets[x], subsets[y] = [x0, x1], [y0, y1]
        if bbox:
            if any(axis in subsets for axis in self._spatial_axes()):
                raise InvalidQueryError("bbox and a subset of x/y exclude each other: give one")
            bbox, bbox_crs = self._native_bbox(bbox, bbox_crs)
        return super().query(properties=properties or [], subsets=subsets, bbox=bbox or [],
                             bbox_crs=bbox_crs, **kwargs)

    def _spatial_axes(self) -> tuple[str, str]:
        return (self._coverage_properties["x_axis_label"],
                self._coverage_properties["y_axis_label"])

    def _native_bbox(self, bbox: list, bbox_crs: int | str) -> tuple[list[float], int]:
        """The box in the data's CRS (EPSG number and bounds), or a 400 saying what is wrong."""
        if len(bbox) != 4:
            raise InvalidQueryError(f"bbox has {len(bbox)} numbers; a coverage is 2D: give "
                                    "minx,miny,maxx,maxy")
        if not all(math.isfinite(v) for v in bbox) or bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
            raise InvalidQueryError(f"bbox {','.join(map(_number, bbox))} is empty: give "
                                    "minx,miny,maxx,maxy with min smaller than max")
        native = pyproj.CRS.from_user_input(self._data.crs.to_wkt())
        code = native.to_epsg()
        source = _bbox_crs(bbox_crs, code)
        if code is None:  # the provider needs an EPSG number; keep its own reprojection
            return list(bbox), source.to_epsg() or 4326
        try:
            box = transform_bounds(tuple(bbox), source, native)
        except pyproj.exceptions.ProjError as err:
            raise InvalidQueryError(f"bbox cannot be transformed to {native.name}: {err}") from err
        left, bottom, right, top = self._data.bounds
        if not all(map(math.isfinite, box)) or box[2] <= left or box[0] >= right or \
                box[3] <= bottom or box[1] >= top:
            raise InvalidQueryError(f"bbox {','.join(map(_number, bbox))} lies outside the "
                                    f"coverage, which is {self._extent()} ({self._data.crs})")
        (x0, x1), (y0, y1) = self._clipped(box)
        return [x0, y0, x1, y1], code

    def _clipped(self, box: tuple[float, float, float, float] | list[float]
                 ) -> tuple[tuple[float, float], tuple[float, float]]:
        """A window (minx, miny, maxx, maxy) in the data's CRS cut to the data, as (x0, x1),
        (y0, y1); a 400 if it has more than :data:`MAX_CELLS` cells."""
        left, bottom, right, top = self._data.bounds
        x0, x1 = max(box[0], left), min(box[2], right)
        y0, y1 = max(box[1], bottom), min(box[3], top)
        res_x, res_y = self._data.res
        cells = math.ceil((x1 - x0) / res_x) * math.ceil((y1 - y0) / res_y)
        if cells > MAX_CELLS:
            x, y, side = *self._spatial_axes(), math.isqrt(MAX_CELLS)
            raise InvalidQueryError(
                f"the window {x}({_number(x0)}:{_number(x1)}),{y}({_number(y0)}:{_number(y1)}) "
                f"has {cells:,} cells; at most {MAX_CELLS:,} per request (e.g. "
                f"{_number(res_x * side)} × {_number(res_y * side)} {self._unit()}): ask for "
                "smaller windows, or download the tile COGs under /downloads")
        return (x0, x1), (y0, y1)

    def _unit(self) -> str:
        """The data CRS's horizontal unit as written in messages (``m`` for metres)."""
        unit = pyproj.CRS.from_user_input(self._data.crs.to_wkt()).axis_info[0].unit_name
        return "m" if unit == "metre" else unit

    def _extent(self) -> str:
        """The whole coverage as a subset expression, e.g. ``x(350000:352000),y(…:…)``."""
        x, y = self._spatial_axes()
        left, bottom, right, top = self._data.bounds
        return f"{x}({_number(left)}:{_number(right)}),{y}({_number(bottom)}:{_number(top)})"

    def _check_spatial_subset(self, subsets: dict[str, list]) -> None:
        """Both horizontal axes as ``low:high`` numbers that overlap the data, or neither."""
        x, y = self._spatial_axes()
        left, bottom, right, top = self._data.bounds
        extent = self._extent()
        given = [axis for axis in (x, y) if axis in subsets]
        if not given:
            return
        if len(given) == 1:
            raise InvalidQueryError(f"subset needs both {x} and {y} as ranges, "
                                    f"e.g. subset={extent} (the whole coverage)")
        for axis in (x, y):
            values = subsets[axis]
            numbers = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
            if len(values) != 2 or len(numbers) != 2:
                raise InvalidQueryError(f"subset {axis}(...) needs two numbers low:high, got "
                                        f"{':'.join(map(str, values))!r}; the coverage is "
                                        f"{extent}")
            if numbers[0] >= numbers[1]:
                low, high = map(_number, numbers)
                raise InvalidQueryError(f"subset {axis}({low}:{high}) is empty: give "
                                        "low:high with low smaller than high")
        (x0, x1), (y0, y1) = subsets[x], subsets[y]
        if x1 <= left or x0 >= right or y1 <= bottom or y0 >= top:
            asked = f"{x}({_number(x0)}:{_number(x1)}),{y}({_number(y0)}:{_number(y1)})"
            raise InvalidQueryError(f"subset {asked} lies outside the coverage, which is "
                                    f"{extent} ({self._data.crs})")


def _bbox_crs(value: int | str, native: int | None = None) -> pyproj.CRS:
    """``bbox-crs`` as a CRS: an EPSG URI or code, CRS84, or pygeoapi's default EPSG number.

    The example a mistake is answered with is the coverage's own CRS (``native``, an EPSG
    number), else CRS84."""
    text = str(value).strip()
    if text in CRS84_URIS:
        return pyproj.CRS.from_epsg(4326)  # read lon/lat like every bbox here
    match = EPSG_URI.match(text) or re.fullmatch(r"(\d+)", text)
    if match is None:
        example = (f"http://www.opengis.net/def/crs/EPSG/0/{native} (the coverage's own)"
                   if native else "http://www.opengis.net/def/crs/OGC/1.3/CRS84")
        raise InvalidQueryError(f"bbox-crs {text!r}: expected a CRS URI such as {example}")
    try:
        return pyproj.CRS.from_epsg(int(match.group(1)))
    except pyproj.exceptions.CRSError as err:
        raise InvalidQueryError(f"bbox-crs {text!r} is not a known CRS") from err


def crs_label(path: str | Path) -> str | None:
    """A raster's CRS as a person writes it (``EPSG:25832``, else its name), for messages;
    None when the file cannot be read or has no CRS."""
    try:
        with rasterio.open(path) as src:
            crs = src.crs
    except (RasterioError, OSError):
        return None
    if crs is None:
        return None
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else pyproj.CRS.from_wkt(crs.to_wkt()).name


def _number(value: float) -> str:
    """A coordinate as a person writes it: 5686000, 350000.5 (not 5.686e+06)."""
    return f"{value:.12g}"
