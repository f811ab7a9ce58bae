"""Finding and checking the orthophoto files the city receives.

NRW delivers one file per 1 km tile, named ``dop10rgbi_32_<E>_<N>_1_nw_<YYYY>.jp2`` (RGB + near
infrared); older or converted deliveries come as GeoTIFF and sometimes RGB only. A tile is checked
*before* it is converted, so a bad delivery is reported with the reason (wrong CRS, wrong pixel
size, not covering its kilometre square, truncated) instead of silently poisoning the mosaic.

Any other raster in the delivery is a *scene* (one orthophoto of any extent, pixel size, band
count and CRS): :mod:`pipelines.imagery.scenes` cuts it into the same kilometre squares, so from
there on it takes the tiles' path. Which delivered band is red, green, blue or near infrared is
:func:`band_indexes`' to say, from the YAML or from the file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import rasterio
from pyproj import CRS
from pyproj.exceptions import ProjError
from rasterio.errors import RasterioError
from rasterio.windows import Window

from geoportal.core.errors import CRSMismatchError, SourceError, SourceFormatError
from geoportal.core.geometry import transform_bounds
from pipelines.tiles import SourceTile

#: What a delivered band shows; ``pipeline.params.bands`` may name them instead of numbering.
Role = Literal["red", "green", "blue", "nir"]
ROLES: tuple[Role, ...] = ("red", "green", "blue", "nir")
#: The band order NRW's file names promise (``dop10rgbi_…``: red, green, blue, near infrared).
NAME_ROLES: dict[str, dict[str, int]] = {"rgbi": {"red": 1, "green": 2, "blue": 3, "nir": 4},
                                         "rgb": {"red": 1, "green": 2, "blue": 3}}
#: The files looked at in a delivery folder (anything else, e.g. ``.aux.xml``, is not a raster).
RASTER_SUFFIXES = (".jp2", ".tif", ".tiff")

# dop10rgbi_32_350_5685_1_nw_2025.jp2: product, UTM zone 32, the tile's lower-left km, year.
DOP_NAME = re.compile(
    r"^dop10(?P<bands>rgbi|rgb)_32_(?P<e>\d{3})_(?P<n>\d{4})_1_nw_(?P<year>\d{4})"
    r"\.(?P<ext>jp2|tif|tiff)$",
    re.I,
)


@dataclass(frozen=True)
class ScenePart:
    """A scene as a square's worker reads it: the file, its CRS, the bands the product takes."""

    path: Path
    crs_wkt: str
    bands: tuple[int, ...]


@dataclass(frozen=True)
class OrthoTile(SourceTile):
    """One kilometre square of the product and the delivered file(s) it is made from.

    An NRW tile is known from its name only: a square may come for several years, and as RGB or
    RGB + near infrared. A square cut from scenes (``bands == "scene"``) lists them in
    ``scenes`` (``path`` is the first): it is warped from them into the grid, not copied.
    """

    year: int
    bands: str
    scenes: tuple[ScenePart, ...] = ()

    @property
    def key(self) -> str:
        """The tile's identity in the mosaic: one file per kilometre square and year."""
        return f"32_{self.e_km}_{self.n_km}_1_nw_{self.year}"

    def sort_key(self) -> tuple[int, int, int, str, Path]:
        """Mosaic order: by square (west to east, then south to north), year, bands."""
        return self.e_km, self.n_km, self.year, self.bands, self.path


def square_of(key: str) -> str:
    """``e_n`` (kilometres) of a tile key ``32_<e>_<n>_1_nw_<year>``."""
    _, e_km, n_km, *_ = key.split("_")
    return f"{e_km}_{n_km}"


@dataclass(frozen=True)
class TileCheck:
    """What the header says about a tile that passed the checks."""

    tile: OrthoTile
    width: int
    height: int
    count: int
    resolution: float
    #: The delivered bands the product takes, in output order (roles resolved).
    bands: tuple[int, ...] = ()
    #: The tile is in another CRS that puts it on its square (EPSG:4647's zone-prefixed
    #: eastings): it is warped into the grid like a scene instead of copied.
    warp: bool = False


def find_files(raw_dir: Path, pattern: str) -> list[Path]:
    """The delivered rasters: ``source.path`` is a folder, one file or a glob (``dop/*.tif``).

    Hidden files (a writer's temporary names) and non-raster files are not deliveries.
    """
    where = raw_dir / pattern
    if any(c in pattern for c in "*?["):
        paths = sorted(raw_dir.glob(pattern))
    elif where.is_dir():
        paths = sorted(where.iterdir())
    elif where.is_file():
        paths = [where]
    else:
        raise SourceError(f"{where}: expected a folder of orthophoto tiles "
                          "(dop10rgbi_32_<E>_<N>_1_nw_<YYYY>.jp2 or .tif), an orthophoto file "
                          "or a glob such as dop/*.tif")
    found = [p for p in paths if p.is_file() and not p.name.startswith(".")
             and p.suffix.lower() in RASTER_SUFFIXES]
    if not found:
        raise SourceError(f"{where}: no orthophoto files (.jp2, .tif) found")
    return found


def split_delivery(paths: Sequence[Path], prefer: str = "jp2"
                   ) -> tuple[list[OrthoTile], list[Path]]:
    """NRW-named tiles and the scenes (any other raster).

    Where a tile comes as both JP2 and GeoTIFF, take ``prefer``; RGBI is preferred over RGB
    for the same square and year, since it carries everything RGB does.
    """
    chosen: dict[tuple[int, int, int], OrthoTile] = {}
    scenes: list[Path] = []
    for path in paths:
        match = DOP_NAME.match(path.name)
        if not match:
            scenes.append(path)
            continue
        tile = OrthoTile(path, int(match["e"]), int(match["n"]), year=int(match["year"]),
                         bands=match["bands"].lower())
        slot = (tile.e_km, tile.n_km, tile.year)
        if slot not in chosen or _rank(tile, prefer) < _rank(chosen[slot], prefer):
            chosen[slot] = tile
    return sorted(chosen.values(), key=OrthoTile.sort_key), scenes


def _rank(tile: OrthoTile, prefer: str) -> tuple[int, int]:
    suffix = tile.path.suffix.lower().lstrip(".").replace("tiff", "tif")
    return (0 if tile.bands == "rgbi" else 1, 0 if suffix == prefer else 1)


def band_indexes(name: str, bands: Sequence[int | str], count: int,
                 colorinterp: Sequence[str], descriptions: Sequence[str | None],
                 roles: Mapping[str, int] | None = None,
                 name_roles: Mapping[str, int] | None = None) -> tuple[int, ...]:
    """The delivered band numbers of ``pipeline.params.bands``, each checked against the file.

    A number is taken as it is. A role (``nir``) comes from ``pipeline.params.band_roles`` if
    the YAML gives it, else from the file: its colour interpretation (GDAL's Red, Green, Blue,
    NIR), a band description of that name, or the order an NRW file name promises (``rgbi``).
    A band the file does not have is an error naming the file, the band and the count — never
    a silent fall-back to the first three bands.
    """
    found: dict[str, int] = {}
    for k, (interp, text) in enumerate(zip(colorinterp, descriptions, strict=True), 1):
        for role in (interp.lower(), (text or "").strip().lower()):
            if role in ROLES:
                found.setdefault(role, k)
    indexes = []
    for band in bands:
        if isinstance(band, int):
            index, what = band, f"band {band}"
        else:
            index = (roles or {}).get(band) or found.get(band) or (name_roles or {}).get(band)
            if index is None:
                shown = ", ".join(f"{k}: {c}" for k, c in enumerate(colorinterp, 1))
                raise SourceFormatError(
                    f"{name}: no band is marked {band!r} (its {count} band(s) are {shown}); "
                    f"say which one in pipeline.params.band_roles, e.g. {{{band}: {count}}}")
            what = f"band {index} ({band})"
        if index > count:
            need = (" (a near-infrared product needs an RGB+NIR delivery)"
                    if band == "nir" or (count == 3 and index == 4) else "")
            raise SourceFormatError(f"{name}: has {count} band(s); pipeline.params.bands asks "
                                    f"for {what}{need}")
        indexes.append(index)
    return tuple(indexes)


def usable_crs(name: str, crs: object | None, declared: str | None = None) -> CRS:
    """The CRS a delivered raster is in: its own, else the one the YAML declares
    (``pipeline.params.scene_crs``); refused if it has neither, if the two contradict, or if
    it is not a map (geocentric X/Y/Z, engineering, vertical): a geocentric raster's "bounds"
    are metres from the Earth's centre, which no reprojection turns into an extent."""
    if crs is None or not str(crs):
        if declared is None:
            raise CRSMismatchError(f"{name}: the file has no CRS; if you know it, give it as "
                                   "pipeline.params.scene_crs (e.g. scene_crs: EPSG:25832)")
        return CRS.from_user_input(declared)
    found = CRS.from_user_input(crs)
    if found.is_geocentric or not (found.is_projected or found.is_geographic):
        kind = "geocentric CRS" if found.is_geocentric else found.type_name
        raise CRSMismatchError(f"{name}: CRS is {_name(found)}, a {kind}; an orthophoto must "
                               "be in a projected CRS (e.g. EPSG:25832, ETRS89 / UTM) or a "
                               "geographic one (EPSG:4258)")
    if declared is not None and not found.equals(CRS.from_user_input(declared),
                                                 ignore_axis_order=True):
        raise CRSMismatchError(f"{name}: CRS is {_name(found)}, but pipeline.params.scene_crs "
                               f"says {declared}; remove scene_crs or correct it")
    return found


def _name(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def check_tile(tile: OrthoTile, crs: str, bands: Sequence[int | str],
               resolution: float | None = None,
               roles: Mapping[str, int] | None = None) -> TileCheck:
    """Open a tile and check CRS, bands, extent, pixel size and that its end is readable.

    A tile in another CRS is accepted when, reprojected, it covers its kilometre square (the
    same UTM zone with zone-prefixed eastings, EPSG:4647): it is then warped, not copied.
    """
    try:
        with rasterio.open(tile.path) as src:
            declared = src.crs
            res_x, res_y = src.res
            indexes = band_indexes(tile.path.name, bands, src.count,
                                   [c.name for c in src.colorinterp], src.descriptions,
                                   roles, NAME_ROLES.get(tile.bands))
            check = TileCheck(tile, src.width, src.height, src.count, float(res_x), indexes)
            bounds = tuple(src.bounds)
            # A truncated file opens fine; reading its last block is what fails.
            src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
    except (RasterioError, OSError) as exc:
        raise SourceFormatError(f"{tile.path.name}: not a readable raster (corrupt or "
                                f"truncated?): {exc}") from None
    expected = CRS.from_user_input(crs)
    if declared is None or not CRS.from_user_input(declared).equals(expected,
                                                                    ignore_axis_order=True):
        got = declared.to_string() if declared else "none"
        moved = _on_its_square(tile, declared, bounds, expected, res_x)
        if moved is None:
            raise CRSMismatchError(f"{tile.path.name}: CRS is {got}, expected {crs} (or a CRS "
                                   "in which the file covers the kilometre square its name "
                                   "gives, such as EPSG:4647)")
        return TileCheck(tile, check.width, check.height, check.count, moved, indexes,
                         warp=True)
    if abs(res_x - abs(res_y)) > 1e-9:
        raise SourceFormatError(f"{tile.path.name}: pixels are not square ({res_x} × {res_y})")
    if resolution is not None and abs(res_x - resolution) > 1e-9:
        raise SourceFormatError(f"{tile.path.name}: pixel size {res_x:g} m, "
                                f"expected {resolution:g} m")
    half = res_x / 2
    if any(abs(a - b) > half for a, b in zip(bounds, tile.bounds, strict=True)):
        raise SourceFormatError(
            f"{tile.path.name}: covers {_fmt(bounds)}, expected its kilometre square "
            f"{_fmt(tile.bounds)} (from the file name)")
    return check


def _on_its_square(tile: OrthoTile, declared: object | None, bounds: tuple[float, ...],
                   expected: CRS, res: float) -> float | None:
    """The pixel size in ``expected`` if the file, reprojected, lies on its named square."""
    if declared is None:
        return None
    found = CRS.from_user_input(declared)
    if found.is_geocentric or not found.is_projected:
        return None
    try:
        moved = transform_bounds(bounds, found, expected)  # type: ignore[arg-type]
    except ProjError:  # no transformation between them: not on its square
        return None
    size = (moved[2] - moved[0]) * res / max(bounds[2] - bounds[0], 1e-9)
    if any(abs(a - b) > size / 2 for a, b in zip(moved, tile.bounds, strict=True)):
        return None
    return size


def common_resolution(checks: list[TileCheck]) -> float:
    """The pixel size most tiles share: the odd ones out are the ones to report."""
    return Counter(c.resolution for c in checks).most_common(1)[0][0]


def _fmt(bounds: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in bounds) + ")"
