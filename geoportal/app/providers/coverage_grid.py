"""The grid of a coverage answer, and how a coverage describes its own grid.

A client that reads a coverage window by window (GDAL's OGC API driver, QGIS through it) needs
two things from the server: a description of the whole grid — CRS, extent, cell size, cells — to
lay out its raster (the CIS JSON *domain set*, ``/collections/{id}/coverage/domainset``, and the
*range type* with the band's data type), and answers whose georeference is exactly the window it
asked for at the size it asked for (``scale-size``), blocks at the data's edge included. Without a
domain set, GDAL took the collection's lon/lat extent with a made-up cell of 1e-8°: a DTM of
1 km² at 0.5 m became 1.5 million × 0.9 million pixels labelled EPSG:4326.

This module is the arithmetic (no I/O): the windows in cells, the scaling parameters of OGC API
Coverages (``scale-factor``, ``scale-axes``, ``scale-size``, and ``scaleSize``, the draft's
spelling GDAL ≤ 3.8 sends), and the CIS JSON documents. The provider
(:mod:`geoportal.app.providers.coverage`) reads the cells.

Cell edges: a domain set's ``lowerBound``/``upperBound`` are the outer edges of the grid, as
GDAL reads them (it sizes the raster as ``(upper - lower) / resolution``). CoverageJSON's axes are
the coordinates of the cell centres, as that format defines them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from affine import Affine

from geoportal.core.errors import InvalidQueryError

#: The scaling parameters a coverage request may carry, one of them at a time.
SCALING_PARAMETERS = ("scale-factor", "scale-axes", "scale-size", "scaleSize")
#: ``axis(number)`` items of ``scale-axes`` and ``scale-size``, separated by commas.
_AXIS_VALUE = re.compile(r"\s*([A-Za-z_][\w-]*)\(\s*([^()\s]+)\s*\)\s*")
#: Snapping tolerance in cells: a window edge this close to a cell edge is on it.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Scaling:
    """What a request asked the grid to become: factors per axis (x, y; 2 = half the cells),
    or a size in cells per axis (None for an axis it leaves as it is)."""

    factors: tuple[float, float] | None = None
    size: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class Grid:
    """An answer's grid: where its cells are and how many."""

    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return (left, top + self.height * self.transform.e,
                left + self.width * self.transform.a, top)

    @property
    def cells(self) -> int:
        return self.width * self.height

    def centres(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(first, last) cell-centre coordinate along x (west to east) and y (north to south)."""
        t = self.transform
        return ((t.c + t.a / 2, t.c + (self.width - 0.5) * t.a),
                (t.f + t.e / 2, t.f + (self.height - 0.5) * t.e))


def parse_scaling(params: Mapping[str, str], axes: tuple[str, str]) -> Scaling | None:
    """The scaling a request asks for, or None; a 400 that shows the right form otherwise."""
    given = [name for name in SCALING_PARAMETERS if params.get(name) not in (None, "")]
    if not given:
        return None
    if len(given) > 1:
        raise InvalidQueryError(f"{' and '.join(given)} exclude each other: give one")
    name, value = given[0], str(params[given[0]])
    if name == "scale-factor":
        factor = _positive(value, name, axes)
        return Scaling(factors=(factor, factor))
    values = _per_axis(value, name, axes)
    if name == "scale-axes":
        return Scaling(factors=(_positive(values.get(axes[0], "1"), name, axes),
                                _positive(values.get(axes[1], "1"), name, axes)))
    return Scaling(size=(_cells(values.get(axes[0]), name, axes),
                         _cells(values.get(axes[1]), name, axes)))


def _per_axis(value: str, name: str, axes: tuple[str, str]) -> dict[str, str]:
    example = f"{name}={axes[0]}({'256' if 'size' in name.lower() else '2'}),{axes[1]}(…)"
    parts = value.split(",")
    matches = [_AXIS_VALUE.fullmatch(part) for part in parts]
    if not all(matches):
        raise InvalidQueryError(f"{name}={value!r} is not axis(number),axis(number), e.g. "
                                f"{example}")
    found = {m.group(1): m.group(2) for m in matches if m}
    unknown = sorted(set(found) - set(axes))
    if unknown:
        raise InvalidQueryError(f"{name} names {', '.join(unknown)}; this coverage's axes are "
                                f"{axes[0]} and {axes[1]}")
    return found


def _positive(text: str, name: str, axes: tuple[str, str]) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise InvalidQueryError(f"{name}: {text!r} is not a positive number (2 halves the cells "
                                f"along {axes[0]} and {axes[1]})")
    return number


def _cells(text: str | None, name: str, axes: tuple[str, str]) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidQueryError(f"{name}: {text!r} is not a number of cells (1 or more), e.g. "
                                f"{name}={axes[0]}(256),{axes[1]}(256)")
    return int(text)


def native_grid(window: tuple[float, float, float, float], data: Grid) -> Grid:
    """The data's own cells a window covers (edges snapped outwards to whole cells), cut to
    the data: every answer without scaling lies on the data's grid."""
    t = data.transform
    x0, y0, x1, y1 = window
    col0 = max(0, math.floor((x0 - t.c) / t.a + _EPSILON))
    col1 = min(data.width, math.ceil((x1 - t.c) / t.a - _EPSILON))
    row0 = max(0, math.floor((y1 - t.f) / t.e + _EPSILON))
    row1 = min(data.height, math.ceil((y0 - t.f) / t.e - _EPSILON))
    return Grid(t @ Affine.translation(col0, row0), max(col1 - col0, 1), max(row1 - row0, 1))


def scaled_grid(window: tuple[float, float, float, float], data: Grid,
                scaling: Scaling) -> Grid:
    """The grid of a scaled answer.

    With a size (``scale-size``) the answer covers exactly the window asked for, also where it
    reaches beyond the data (filled with no-data): a tiling client asks for whole blocks at the
    edge and places what comes back by the window it asked for. With factors the data's cells
    in the window are divided by them.
    """
    if scaling.size is not None:
        x0, y0, x1, y1 = window
        width = scaling.size[0] or max(1, round((x1 - x0) / data.transform.a))
        height = scaling.size[1] or max(1, round((y1 - y0) / -data.transform.e))
        return Grid(Affine((x1 - x0) / width, 0, x0, 0, -(y1 - y0) / height, y1), width, height)
    native = native_grid(window, data)
    fx, fy = scaling.factors or (1.0, 1.0)
    width, height = max(1, round(native.width / fx)), max(1, round(native.height / fy))
    left, bottom, right, top = native.bounds
    return Grid(Affine((right - left) / width, 0, left, 0, -(top - bottom) / height, top),
                width, height)


def crs_uri(epsg: int | None) -> str | None:
    """The OGC URI of an EPSG CRS (``http://www.opengis.net/def/crs/EPSG/0/25832``)."""
    return f"http://www.opengis.net/def/crs/EPSG/0/{epsg}" if epsg else None


def domain_set(grid: Grid, axes: tuple[str, str], crs: str, unit: str) -> dict:
    """The CIS 1.1 JSON domain set of a grid: its CRS, axes with their outer edges and cell
    size, and the index limits (0 … cells − 1)."""
    left, bottom, right, top = grid.bounds
    spatial = [(axes[0], left, right, grid.transform.a), (axes[1], bottom, top, -grid.transform.e)]
    return {
        "type": "DomainSet",
        "generalGrid": {
            "type": "GeneralGridCoverage",
            "srsName": crs,
            "axisLabels": list(axes),
            "axis": [{"type": "RegularAxis", "axisLabel": label, "lowerBound": low,
                      "upperBound": high, "uomLabel": unit, "resolution": res}
                     for label, low, high, res in spatial],
            "gridLimits": {
                "type": "GridLimits",
                "srsName": "http://www.opengis.net/def/crs/OGC/0/Index2D",
                "axisLabels": ["i", "j"],
                "axis": [{"type": "IndexAxis", "axisLabel": "i", "lowerBound": 0,
                          "upperBound": grid.width - 1},
                         {"type": "IndexAxis", "axisLabel": "j", "lowerBound": 0,
                          "upperBound": grid.height - 1}],
            },
        },
    }


#: numpy dtype → the OGC data type it is (http://www.opengis.net/def/dataType/OGC/0/...).
OGC_DATA_TYPES = {"uint8": "unsignedByte", "int8": "signedByte", "uint16": "unsignedShort",
                  "int16": "signedShort", "uint32": "unsignedInt", "int32": "signedInt",
                  "float32": "float32", "float64": "float64"}


def range_type(bands: list[tuple[str, str, float | None, str | None]]) -> dict:
    """The CIS 1.1 JSON range type: per band (name, numpy dtype, no-data value, unit) a
    quantity with its data type, unit and the value that means "no data"."""
    fields = []
    for name, dtype, nodata, unit in bands:
        field: dict = {"type": "Quantity", "name": name,
                       "definition": "http://www.opengis.net/def/dataType/OGC/0/"
                                     + OGC_DATA_TYPES.get(dtype, dtype)}
        if unit:
            field["uom"] = {"type": "UnitReference", "code": unit}
        if nodata is not None and math.isfinite(nodata):
            field["nilValues"] = [{"reason": "http://www.opengis.net/def/nil/OGC/0/missing",
                                   "value": nodata}]
        fields.append(field)
    return {"type": "DataRecord", "field": fields}
