"""Reading NRW LiDAR tiles (LAS/LAZ) with laspy + lazrs.

NRW's "3D-Messdaten" tiles carry no CRS record (the real tile in ``../shared/data`` has none), so
the CRS comes from the registry and a tile that *does* declare a different one is refused. PDAL
is not installable on the project's machines; laspy with the lazrs backend decodes LAZ on all
cores, and reading only the fields a product needs (XYZ and classification for terrain models)
is the fastest path measured here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np
from pyproj import CRS

from geoportal.core.errors import CRSMismatchError, SourceFormatError

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


@dataclass(frozen=True)
class TileInfo:
    """What the header says about a tile, read without decoding a single point."""

    path: Path
    point_count: int
    point_format: int
    version: str
    bounds: tuple[float, float, float, float, float, float]
    crs: CRS
    tile_origin: tuple[int, int] | None


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


def tile_origin(path: Path) -> tuple[int, int] | None:
    """The (E, N) kilometre corner encoded in an NRW tile name, or None for other names."""
    match = TILE_NAME.search(path.name)
    return (int(match["e"]), int(match["n"])) if match else None


def read_info(path: Path, crs: str | CRS) -> TileInfo:
    """Read a tile's header; the registry's ``crs`` applies unless the file declares another."""
    expected = CRS.from_user_input(crs)
    try:
        with laspy.open(path) as reader:
            header = reader.header
            declared = header.parse_crs()
    except (laspy.LaspyException, OSError, ValueError) as exc:
        raise SourceFormatError(f"{path}: not a readable LAS/LAZ file: {exc}") from None
    if declared is not None and not declared.equals(expected, ignore_axis_order=True):
        # Compound CRS (UTM + DHHN2016 heights) is fine when its horizontal part matches.
        horizontal = declared.sub_crs_list[0] if declared.is_compound else declared
        if not horizontal.equals(expected, ignore_axis_order=True):
            raise CRSMismatchError(
                f"{path}: the tile declares {declared.name}, the registry says {expected.name}"
            )
    mins, maxs = header.mins, header.maxs
    return TileInfo(
        path=path,
        point_count=int(header.point_count),
        point_format=int(header.point_format.id),
        version=str(header.version),
        bounds=(mins[0], mins[1], mins[2], maxs[0], maxs[1], maxs[2]),
        crs=expected,
        tile_origin=tile_origin(path),
    )


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
        selection = (laspy.DecompressionSelection.all() if all_fields
                     else laspy.DecompressionSelection.base())
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
