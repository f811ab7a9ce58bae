"""Reading NRW LiDAR tiles (LAS/LAZ) with laspy + lazrs.

NRW's "3D-Messdaten" tiles carry no CRS record (the real tile in ``../shared/data`` has none), so
the CRS comes from the registry; a file that declares one is read in it (:class:`CrsRule`:
reprojected to the registry's CRS, heights in feet converted to metres, geographic and
geocentric CRSs refused), unless the YAML overrides a wrong record. PDAL
is not installable on the project's machines; laspy with the lazrs backend decodes LAZ on all
cores, and reading only the fields a product needs (XYZ and classification for terrain models)
is the fastest path measured here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import laspy
import numpy as np
from pyproj import CRS, Transformer

from geoportal.core.crs import plan_for_box
from geoportal.core.errors import CRSMismatchError, SourceFormatError, TransformationError

#: The LAS 1.4 layers the raster products read. ``DecompressionSelection.base()`` is x/y and
#: returns only: heights and classes of a LAS 1.4 (or COPC) delivery came out as zeros.
GRID_FIELDS = (laspy.DecompressionSelection.XY_RETURNS_CHANNEL | laspy.DecompressionSelection.Z
               | laspy.DecompressionSelection.CLASSIFICATION)

# NRW tile names: 3dm_32_<E km>_<N km>_1_nw.laz (the 1 km tile's lower-left corner).
TILE_NAME = re.compile(r"3dm_32_(?P<e>\d{3})_(?P<n>\d{4})_1_nw", re.I)

NRW_CLASSES = {
    1: "unclassified",
    2: "ground",
    9: "water",
    17: "bridge",
    18: "noise",
    20: "last return, not ground",
    26: "synthetic ground",
}


#: Length units a delivery may give its heights in (``pipeline.params.vertical_unit``), in metres.
LENGTH_UNITS = {"metre": 1.0, "foot": 0.3048, "us-foot": 1200 / 3937}
#: The grid of coordinates after a reprojection: 1 mm, finer than any airborne survey.
QUANTUM_M = 0.001


@dataclass(frozen=True)
class TileInfo:
    """What the header says about a tile, read without decoding a single point.

    ``declared`` is the CRS record of the file (None when it has none, as NRW's tiles);
    ``crs`` the registry's, which applies to a file without a record.
    """

    path: Path
    point_count: int
    point_format: int
    version: str
    bounds: tuple[float, float, float, float, float, float]
    crs: CRS
    tile_origin: tuple[int, int] | None
    declared: CRS | None = None


@dataclass
class Points:
    """The decoded points of one tile as stored: integer coordinates with their scale and
    offset (a view into the decoded records, no copy), NRW class codes, return numbers.

    The metre coordinates ``x``, ``y``, ``z`` are computed on access; the tile pass itself
    never needs them as arrays (three float copies of a city tile are 350 MB).
    """

    X: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    classification: np.ndarray
    return_number: np.ndarray | None = None
    number_of_returns: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    @property
    def x(self) -> np.ndarray:
        return self.X * self.scale[0] + self.offset[0]

    @property
    def y(self) -> np.ndarray:
        return self.Y * self.scale[1] + self.offset[1]

    @property
    def z(self) -> np.ndarray:
        return self.Z * self.scale[2] + self.offset[2]


def tile_origin(path: Path, pattern: re.Pattern[str] | str = TILE_NAME) -> tuple[int, int] | None:
    """The (E, N) kilometre corner encoded in a tile name (named groups ``e`` and ``n`` of
    ``pattern``, NRW's by default), or None for other names."""
    match = re.search(pattern, path.name)
    return (int(match["e"]), int(match["n"])) if match else None


@lru_cache(maxsize=4096)
def _header(path: Path, stamp: str) -> tuple[int, int, str, tuple[float, ...], str | None]:
    """The header fields of ``path`` (``stamp``: its size and mtime, so a replaced file is
    read again); cached because tile discovery and every tile's unit ask for them."""
    del stamp
    try:
        with laspy.open(path) as reader:
            header = reader.header
            declared = header.parse_crs()
    except (laspy.LaspyException, OSError, ValueError) as exc:
        raise SourceFormatError(f"{path}: not a readable LAS/LAZ file: {exc}") from None
    mins, maxs = header.mins, header.maxs
    bounds = tuple(float(v) for v in (mins[0], mins[1], mins[2], maxs[0], maxs[1], maxs[2]))
    return (int(header.point_count), int(header.point_format.id), str(header.version), bounds,
            declared.to_wkt() if declared is not None else None)


def read_info(path: Path, crs: str | CRS) -> TileInfo:
    """Read a tile's header; ``crs`` (the registry's) applies when the file declares none.

    Whether a declared CRS is usable, and how the coordinates become the registry's, is
    :meth:`CrsRule.resolve`'s decision.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise SourceFormatError(f"{path}: not a readable LAS/LAZ file: {exc}") from None
    count, fmt, version, bounds, wkt = _header(path, f"{st.st_size}:{st.st_mtime_ns}")
    return TileInfo(
        path=path, point_count=count, point_format=fmt, version=version,
        bounds=bounds,  # type: ignore[arg-type]
        crs=CRS.from_user_input(crs), tile_origin=tile_origin(path),
        declared=CRS.from_wkt(wkt) if wkt else None,
    )


def _unit(crs: CRS) -> tuple[str, float]:
    """The name and metres of the first axis' unit of ``crs``."""
    axis = crs.axis_info[0]
    return axis.unit_name, float(axis.unit_conversion_factor)


@dataclass(frozen=True)
class CloudCRS:
    """How one file's coordinates become the products': the CRS it is read in (and where
    that came from), whether x/y are reprojected and the factor turning heights into metres.
    ``notes`` say what was done, for the build's warnings."""

    crs: CRS
    origin: Literal["header", "override", "registry"]
    target: CRS
    z_to_m: float = 1.0
    reproject: bool = False
    notes: tuple[str, ...] = ()

    @property
    def horizontal(self) -> CRS:
        return self.crs.sub_crs_list[0] if self.crs.is_compound else self.crs

    def to_target(self, points: Points) -> Points:
        """``points`` in the target CRS with heights in metres.

        A height unit alone changes the z scale and offset (exact, no copy); a reprojection
        transforms x/y with pyproj and stores them again as integers on a 1 mm grid.
        """
        scale, offset = points.scale.copy(), points.offset.copy()
        scale[2] *= self.z_to_m
        offset[2] *= self.z_to_m
        if not self.reproject:
            return replace(points, scale=scale, offset=offset)
        px, py = points.x, points.y
        box = (float(px.min()), float(py.min()), float(px.max()), float(py.max()))
        x, y = self.transformer(box).transform(px, py)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise CRSMismatchError(f"points cannot be reprojected from {self.horizontal.name} "
                                   f"to {self.target.name} (outside the projection's area?)")
        coords = []
        for i, values in enumerate((x, y)):
            offset[i], scale[i] = math.floor(float(values.min())), QUANTUM_M
            coords.append(np.round((values - offset[i]) / QUANTUM_M).astype(np.int64))
        if max(int(c.max()) for c in coords) >= 2**31:
            raise CRSMismatchError("the reprojected points span more than 2,000 km")
        return replace(points, X=coords[0].astype(np.int32), Y=coords[1].astype(np.int32),
                       scale=scale, offset=offset)

    def to_target_bounds(self, bounds: tuple[float, float, float, float]
                         ) -> tuple[float, float, float, float]:
        """A box of the file (its header's x/y extent) in the target CRS."""
        if not self.reproject:
            return bounds
        return self.transformer(bounds).transform_bounds(*bounds, densify_pts=21)

    def transformer(self, bounds: tuple[float, float, float, float]) -> Transformer:
        """The most accurate transformation PROJ can run for a cloud inside ``bounds`` (x/y of
        the file's CRS); refused where a grid it needs is missing or only a ballpark exists
        (the same rule as for vector sources, :mod:`geoportal.core.crs`)."""
        plan = plan_for_box(self.horizontal, self.target, bounds)
        if plan.shortfall is not None:
            raise TransformationError(f"{self.horizontal.name} to {self.target.name}: "
                                      f"{plan.shortfall}")
        return plan.transformer


@dataclass(frozen=True)
class CrsRule:
    """How a dataset reads the CRS of its files: ``target`` is the registry's (``source.crs``,
    the products' CRS and the CRS of files without a record); ``override`` replaces whatever
    the files declare (``pipeline.params.crs_override``, for a wrong header record);
    ``vertical_unit`` says what the heights are measured in when the CRS does not."""

    target: str
    override: str | None = None
    vertical_unit: str | None = None

    def resolve(self, path: Path, declared: CRS | None) -> CloudCRS:
        """The file's :class:`CloudCRS`; refuses (``CRSMismatchError`` naming the file and the
        CRS) what cannot be gridded in metres: geographic and geocentric CRSs, a unit that is
        no length, heights of unknown unit under feet.

        Cached: discovery and every tile's unit ask, and naming a CRS without an EPSG code
        (a database search) costs a tenth of a second.
        """
        return _resolve(self, path, declared.to_wkt() if declared is not None else None)

    def _resolve(self, path: Path, declared: CRS | None) -> CloudCRS:
        target = CRS.from_user_input(self.target)
        notes: list[str] = []
        if self.override is not None:
            crs, origin = CRS.from_user_input(self.override), "override"
            if declared is not None and not declared.equals(crs, ignore_axis_order=True):
                notes.append(f"{path.name}: the header declares {_label(declared)}; read as "
                             f"{_label(crs)} (pipeline.params.crs_override)")
        elif declared is not None:
            crs, origin = declared, "header"
        else:
            crs, origin = target, "registry"
        cloud = CloudCRS(crs, origin, target)  # type: ignore[arg-type]
        horizontal = cloud.horizontal
        hint = ("if the header is wrong, give the files' real CRS as pipeline.params."
                "crs_override in the dataset's YAML")
        if horizontal.is_geocentric:
            raise CRSMismatchError(
                f"{path}: declares the geocentric CRS {_label(horizontal)} (Earth-centred x/y/z): "
                f"points are gridded in a projected CRS only; {hint}")
        if horizontal.is_geographic:
            raise CRSMismatchError(
                f"{path}: declares the geographic CRS {_label(horizontal)} (degrees): points are "
                f"gridded in a projected CRS only; reproject the delivery (e.g. to "
                f"{_label(target)}), or, {hint}")
        if not horizontal.is_projected:
            raise CRSMismatchError(f"{path}: declares {_label(horizontal)}, not a projected "
                                   f"CRS; {hint}")
        unit, metres = _unit(horizontal)
        reproject = not horizontal.equals(target, ignore_axis_order=True)
        if reproject:
            notes.append(f"{path.name}: reprojected from {_label(horizontal)} "
                         f"(unit: {unit}) to {_label(target)}")
        z_to_m = self._z_to_m(path, crs, unit, metres)
        if z_to_m != 1.0:
            notes.append(f"{path.name}: heights converted to metres (x {z_to_m:.10g})")
        return replace(cloud, z_to_m=z_to_m, reproject=reproject, notes=tuple(notes))

    def _z_to_m(self, path: Path, crs: CRS, unit: str, metres: float) -> float:
        if self.vertical_unit is not None:
            return LENGTH_UNITS[self.vertical_unit]
        if crs.is_compound and len(crs.sub_crs_list) > 1:
            return _unit(crs.sub_crs_list[1])[1]
        if metres == 1.0:
            return 1.0
        raise CRSMismatchError(
            f"{path}: x/y are in {unit} ({_label(crs)}) and the CRS names no vertical unit; "
            f"say what the heights are in with pipeline.params.vertical_unit "
            f"({', '.join(LENGTH_UNITS)})")


@lru_cache(maxsize=1024)
def _resolve(rule: CrsRule, path: Path, declared: str | None) -> CloudCRS:
    return rule._resolve(path, CRS.from_wkt(declared) if declared else None)


def _label(crs: CRS) -> str:
    """A CRS as a person recognises it: ``EPSG:4978 (WGS 84)``, or its name."""
    code = crs.to_epsg(min_confidence=90)
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def read_las(path: Path, all_fields: bool = True) -> laspy.LasData:
    """Decode the point records of one tile: all fields, or (``all_fields=False``) only those
    the raster products need.

    One full decode feeds every per-tile product (the binned grids and the COPC download), so a
    tile is decoded once per run. Without COPC, LAS 1.4 tiles (formats 6-10, layered
    compression) decode ~40 % faster when only XYZ, returns and class are selected; older
    formats compress whole points and decode at the same speed either way. A truncated or
    corrupt file raises :class:`SourceFormatError` naming the file.
    """
    try:
        # Single-threaded lazrs: the tiles are decoded in parallel by processes already, and
        # lazrs' parallel backend (a rayon thread pool) deadlocks in a worker forked from a
        # parent that has used it (seen in the test suite once the sample LAZ was compressed).
        selection = laspy.DecompressionSelection.all() if all_fields else GRID_FIELDS
        with laspy.open(path, decompression_selection=selection,
                        laz_backend=laspy.LazBackend.Lazrs) as reader:
            las = reader.read()
    except (laspy.LaspyException, OSError, ValueError, RuntimeError) as exc:
        raise SourceFormatError(f"{path}: cannot decode the points (truncated or corrupt? "
                                f"{exc})") from None
    expected = int(las.header.point_count)
    if len(las.points) != expected:
        raise SourceFormatError(f"{path}: the header promises {expected} points, the file holds "
                                f"{len(las.points)} (truncated?)")
    return las


def points_from_las(las: laspy.LasData, returns: bool = False) -> Points:
    """The fields the raster products need, as arrays over the decoded records."""
    record = las.points.array
    points = Points(
        X=record["X"], Y=record["Y"], Z=record["Z"],
        scale=np.asarray(las.header.scales, dtype=np.float64),
        offset=np.asarray(las.header.offsets, dtype=np.float64),
        classification=np.asarray(las.classification, dtype=np.uint8),
    )
    if returns:
        points.return_number = np.asarray(las.return_number, dtype=np.uint8)
        points.number_of_returns = np.asarray(las.number_of_returns, dtype=np.uint8)
    return points


def read_points(path: Path, returns: bool = False) -> Points:
    """Decode XYZ and classification (and return numbers if asked) of one tile."""
    return points_from_las(read_las(path, all_fields=False), returns)
