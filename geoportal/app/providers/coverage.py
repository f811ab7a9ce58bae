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

A window is read here, not by pygeoapi's ``rasterio.mask``: without scaling, the answer is the
data's own cells the window touches, cut to the data (pygeoapi labelled its CoverageJSON grid
with the window asked for: ``bbox=-180,-90,180,90`` answered 1 km of terrain as a grid from
x = -15,855,081 to 16,855,081), so its GeoTIFF lies exactly on the data's grid and its
CoverageJSON axes are the cell centres. ``scale-size`` (and GDAL's ``scaleSize``) answers exactly
the window asked for at that size, no-data beyond the edge; ``scale-factor``/``scale-axes``
divide the cells (averaged). The coverage describes its grid as CIS JSON
(:meth:`CoverageProvider.domain_set`, :meth:`~CoverageProvider.range_type`; the arithmetic is in
:mod:`geoportal.app.providers.coverage_grid`). A window of more than
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
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from pygeoapi.provider.rasterio_ import RasterioProvider
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.windows import from_bounds

from geoportal.app.providers.coverage_grid import (
    Grid,
    Scaling,
    crs_uri,
    domain_set,
    native_grid,
    parse_scaling,
    range_type,
    scaled_grid,
)
from geoportal.app.providers.errors import translate_errors
from geoportal.core.errors import InvalidQueryError
from geoportal.core.geometry import transform_bounds

#: ``bbox-crs`` as the standard writes it (a URI), as a code, or as pygeoapi's default number.
EPSG_URI = re.compile(r"^(?:https?://www\.opengis\.net/def/crs/EPSG/0/|EPSG:)(\d+)$", re.I)
#: The most cells one coverage request may cut (2000 × 2000: 1 km² of the 0.5 m terrain).
MAX_CELLS = 4_000_000
CRS84_URIS = {"http://www.opengis.net/def/crs/OGC/1.3/CRS84",
              "https://www.opengis.net/def/crs/OGC/1.3/CRS84", "CRS84", "OGC:CRS84"}


#: The scaling parameters (``scale-size`` …) of the request being answered, as given: pygeoapi
#: hands a provider only ``subset``, ``bbox`` and ``properties``, so the coverage endpoint's
#: wrapper (:mod:`geoportal.app.pygeoapi_patches`) passes them here.
REQUESTED_SCALING: ContextVar[Mapping[str, str] | None] = ContextVar("coverage_scaling",
                                                                     default=None)
#: The most cells of the data one scaled answer may be computed from (16 × MAX_CELLS: 4 km ×
#: 4 km of the 0.5 m terrain, read through the tile COGs' overviews).
MAX_SCALED_SOURCE_CELLS = 16 * MAX_CELLS


@translate_errors
class CoverageProvider(RasterioProvider):
    """OGC API Coverages from one raster file; spatial subsets must name a part of it."""

    def query(self, properties: list | None = None, subsets: dict | None = None,
              bbox: list | None = None, bbox_crs: int | str = 4326, format_: str = "json",
              **kwargs: Any) -> Any:
        subsets = dict(subsets or {})
        self._check_spatial_subset(subsets)
        x, y = self._spatial_axes()
        scaling = parse_scaling(REQUESTED_SCALING.get() or {}, (x, y))
        window = None
        if x in subsets:
            window = (subsets[x][0], subsets[y][0], subsets[x][1], subsets[y][1])
        if bbox:
            if window is not None or y in subsets:
                raise InvalidQueryError("bbox and a subset of x/y exclude each other: give one")
            window = self._native_bbox(bbox, bbox_crs)
        if window is None and scaling is None:
            return super().query(properties=properties or [], subsets=subsets, bbox=[],
                                 bbox_crs=bbox_crs, format_=format_, **kwargs)
        grid = self._answer_grid(window or tuple(self._data.bounds), scaling)
        bands = [int(b) for b in properties] if properties else list(self._data.indexes)
        values = self._read(grid, bands)
        if format_ == "json":
            return self._coverage_json(grid, bands, values)
        return self._geotiff(grid, values)

    def data_grid(self) -> Grid:
        """The whole coverage's grid."""
        return Grid(self._data.transform, self._data.width, self._data.height)

    def domain_set(self) -> dict[str, Any]:
        """The coverage's grid as a CIS JSON domain set (``/coverage/domainset``)."""
        return domain_set(self.data_grid(), self._spatial_axes(), self.native_crs_uri(),
                          self._unit())

    def range_type(self) -> dict[str, Any]:
        """The coverage's bands as a CIS JSON range type (``/coverage/rangetype``)."""
        units = self._data.units
        return range_type([(str(i), dtype, self._data.nodata, units[i - 1] or None)
                           for i, dtype in zip(self._data.indexes, self._data.dtypes,
                                               strict=True)])

    def _get_coverage_properties(self) -> dict[str, Any]:
        """pygeoapi's properties, with the CRS as the OGC URI of its EPSG code (pygeoapi wrote
        ``.../def/crs/OGC/1.3/25832``, which names no CRS)."""
        properties = super()._get_coverage_properties()
        if self._data.crs is not None and self._data.crs.is_projected:
            properties["bbox_crs"] = self.native_crs_uri() or properties["bbox_crs"]
        return properties

    def native_crs_uri(self) -> str:
        """The URI of the coverage's CRS (its storage CRS), CRS84 when it has no EPSG code."""
        code = self._data.crs.to_epsg() if self._data.crs is not None else None
        return crs_uri(code) or "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

    def _answer_grid(self, window: tuple[float, float, float, float],
                     scaling: Scaling | None) -> Grid:
        """The grid the answer is read into: the data's cells in the window, or the scaled
        grid; a 400 when it has more cells than one request may."""
        data = self.data_grid()
        native = native_grid(window, data)
        if scaling is None:
            self._refuse_if_too_large(native, MAX_CELLS)
            return native
        grid = scaled_grid(window, data, scaling)
        self._refuse_if_too_large(grid, MAX_CELLS)
        self._refuse_if_too_large(native, MAX_SCALED_SOURCE_CELLS)
        return grid

    def _refuse_if_too_large(self, grid: Grid, limit: int) -> None:
        if grid.cells <= limit:
            return
        x, y = self._spatial_axes()
        x0, y0, x1, y1 = grid.bounds
        res_x, res_y = self._data.res
        side = math.isqrt(limit)
        raise InvalidQueryError(
            f"the window {x}({_number(x0)}:{_number(x1)}),{y}({_number(y0)}:{_number(y1)}) "
            f"has {grid.cells:,} cells; at most {limit:,} per request (e.g. "
            f"{_number(res_x * side)} × {_number(res_y * side)} {self._unit()}): ask for "
            "smaller windows, or download the tile COGs under /downloads")

    def _read(self, grid: Grid, bands: list[int]) -> np.ndarray:
        """The bands' cells on ``grid``: the data's own cells where the grid is the data's,
        averaged where it is coarser, no-data beyond the data's edge."""
        window = from_bounds(*grid.bounds, transform=self._data.transform)
        left, bottom, right, top = self._data.bounds
        x0, y0, x1, y1 = grid.bounds
        coarser = grid.transform.a > self._data.res[0] * (1 + 1e-9)
        return self._data.read(
            bands, window=window, out_shape=(len(bands), grid.height, grid.width),
            boundless=x0 < left or y0 < bottom or x1 > right or y1 > top,
            fill_value=self._data.nodata if self._data.nodata is not None else 0,
            resampling=Resampling.average if coarser else Resampling.nearest)

    def _geotiff(self, grid: Grid, values: np.ndarray) -> bytes:
        """A GeoTIFF of the cells, georeferenced with the answer's grid."""
        profile = {"driver": "GTiff", "width": grid.width, "height": grid.height,
                   "count": values.shape[0], "dtype": values.dtype.name, "crs": self._data.crs,
                   "transform": grid.transform, "nodata": self._data.nodata,
                   "compress": "deflate"}
        with MemoryFile() as memfile:
            with memfile.open(**profile) as dest:
                dest.write(values)
            return memfile.read()

    def _coverage_json(self, grid: Grid, bands: list[int], values: np.ndarray) -> dict:
        """CoverageJSON of the cells: axes at the cell centres, one parameter and one range per
        band (keyed by its number, as ``properties=`` names it), no-data as null."""
        (x0, x1), (y0, y1) = grid.centres()
        coverage: dict[str, Any] = {
            "type": "Coverage",
            "domain": {"type": "Domain", "domainType": "Grid",
                       "axes": {"x": {"start": x0, "stop": x1, "num": grid.width},
                                "y": {"start": y0, "stop": y1, "num": grid.height}},
                       "referencing": [{"coordinates": ["x", "y"], "system": {
                           "type": self._coverage_properties["crs_type"],
                           "id": self.native_crs_uri()}}]},
            "parameters": {}, "ranges": {}}
        for band, cells in zip(bands, values, strict=True):
            key = str(band)
            title = self.fields.get(key, {}).get("title") or f"band {band}"
            coverage["parameters"][key] = {"type": "Parameter", "description": {"en": title},
                                           "observedProperty": {"label": {"en": title}}}
            missing = ~np.isfinite(cells) if cells.dtype.kind == "f" else np.zeros(cells.shape,
                                                                                  bool)
            if self._data.nodata is not None:
                missing |= cells == self._data.nodata
            coverage["ranges"][key] = {
                "type": "NdArray", "dataType": "float" if cells.dtype.kind == "f" else "integer",
                "axisNames": ["y", "x"], "shape": [grid.height, grid.width],
                "values": np.where(missing, None, cells).ravel().tolist()}
        return coverage

    def _spatial_axes(self) -> tuple[str, str]:
        return (self._coverage_properties["x_axis_label"],
                self._coverage_properties["y_axis_label"])

    def _native_bbox(self, bbox: list, bbox_crs: int | str
                     ) -> tuple[float, float, float, float]:
        """The box in the data's CRS, or a 400 saying what is wrong."""
        if len(bbox) != 4:
            raise InvalidQueryError(f"bbox has {len(bbox)} numbers; a coverage is 2D: give "
                                    "minx,miny,maxx,maxy")
        if not all(math.isfinite(v) for v in bbox) or bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
            raise InvalidQueryError(f"bbox {','.join(map(_number, bbox))} is empty: give "
                                    "minx,miny,maxx,maxy with min smaller than max")
        native = pyproj.CRS.from_user_input(self._data.crs.to_wkt())
        code = native.to_epsg()
        source = _bbox_crs(bbox_crs, code)
        if code is None:
            raise InvalidQueryError("this coverage's CRS has no EPSG code: cut it with "
                                    f"subset={self._extent()} instead of bbox")
        try:
            box = transform_bounds(tuple(bbox), source, native)
        except pyproj.exceptions.ProjError as err:
            raise InvalidQueryError(f"bbox cannot be transformed to {native.name}: {err}") from err
        left, bottom, right, top = self._data.bounds
        if not all(map(math.isfinite, box)) or box[2] <= left or box[0] >= right or \
                box[3] <= bottom or box[1] >= top:
            raise InvalidQueryError(f"bbox {','.join(map(_number, bbox))} lies outside the "
                                    f"coverage, which is {self._extent()} ({self._data.crs})")
        return box

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
