"""pygeoapi's rasterio coverage provider, with ``subset`` checked before rasterio sees it.

:class:`pygeoapi.provider.rasterio_.RasterioProvider` (0.24) trusts the parsed subset: a range
given backwards (``x(350100:350000)``) or lying beside the data ends in rasterio's "Input shapes
do not overlap raster" as a 500; a single value (``x(350000)``) in an IndexError; a subset of one
axis only (``x(a:b)``) is silently ignored and the *whole* mosaic is read and sent, which is what
:func:`geoportal.app.wsgi.require_subset` exists to prevent. Here each of those is a 400 that says
what a valid subset is, with the coverage's own extent.

Configuration: as pygeoapi's ``rasterio`` provider::

    name: geoportal.app.providers.coverage.CoverageProvider
    type: coverage
    data: /srv/published/terrain_dtm/terrain_dtm.vrt
    format: {name: GTiff, mimetype: application/x-geotiff}
"""

from __future__ import annotations

import math
from typing import Any

from pygeoapi.provider.rasterio_ import RasterioProvider

from geoportal.app.providers.errors import translate_errors
from geoportal.core.errors import InvalidQueryError


@translate_errors
class CoverageProvider(RasterioProvider):
    """OGC API Coverages from one raster file; spatial subsets must name a part of it."""

    def query(self, properties: list | None = None, subsets: dict | None = None,
              bbox: list | None = None, **kwargs: Any) -> Any:
        subsets = subsets or {}
        self._check_spatial_subset(subsets)
        return super().query(properties=properties or [], subsets=subsets, bbox=bbox, **kwargs)

    def _check_spatial_subset(self, subsets: dict[str, list]) -> None:
        """Both horizontal axes as ``low:high`` numbers that overlap the data, or neither."""
        x, y = self._coverage_properties["x_axis_label"], self._coverage_properties["y_axis_label"]
        left, bottom, right, top = self._data.bounds
        extent = f"{x}({_number(left)}:{_number(right)}),{y}({_number(bottom)}:{_number(top)})"
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


def _number(value: float) -> str:
    """A coordinate as a person writes it: 5686000, 350000.5 (not 5.686e+06)."""
    return f"{value:.12g}"
