"""Coordinate transformations at the accuracy PROJ knows for the area, or a clear refusal.

PROJ chooses the most accurate transformation whose grids it finds. pyproj's wheel brings its own
``proj.db`` but no grids, and it does not look in Debian's ``/usr/share/proj`` (package
proj-data, installed with gdal-bin), where ``BETA2007.gsb`` lies: the AdV's official DHDN →
ETRS89 grid. Without it, Gauss-Krüger coordinates (EPSG:31466/31467) go through a Helmert
transformation and land 1–2 m off, without a word. So, once, when the core is imported:

- the system grid folders are appended to PROJ's search path (pyproj's own data stays first,
  so its ``proj.db`` matches its PROJ library), and
- PROJ's network access stays off: a build never downloads a grid behind the operator's back.

:func:`plan_transformation` then says, for a source CRS and the data's extent, which operation is
used, how accurate it is, and whether a better one exists whose grid is missing (the caller
refuses or warns: :mod:`pipelines.conform`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer, datadir, network
from pyproj.transformer import AreaOfInterest, TransformerGroup

from geoportal.core.errors import TransformationError
from geoportal.core.geometry import transform_bounds

#: Folders holding PROJ grids outside pyproj's wheel (Debian's proj-data).
SYSTEM_GRID_DIRS: tuple[Path, ...] = (Path("/usr/share/proj"),)

_PYPROJ_DATA = datadir.get_data_dir()  # pyproj's own (or $PROJ_DATA), before we add to it


def use_grid_dirs(dirs: Iterable[Path] = SYSTEM_GRID_DIRS) -> list[Path]:
    """Search PROJ grids in pyproj's data folder, then in ``dirs`` (those that exist).

    Called once on import of :mod:`geoportal.core`; calling it again replaces the list (a test
    hides the system grids with ``use_grid_dirs([])``). Returns the folders added.
    """
    network.set_network_enabled(False)
    found = [Path(d) for d in dirs if Path(d).is_dir()]
    datadir.set_data_dir(os.pathsep.join([_PYPROJ_DATA, *map(str, found)]))
    return found


@dataclass(frozen=True)
class Transformation:
    """The operation that will move the data from ``source`` to ``target``, and its quality."""

    source: CRS
    target: CRS
    transformer: Transformer
    #: The accuracy PROJ states for the operation used, in metres (None: not stated).
    accuracy_m: float | None
    #: Why this operation is less accurate than what PROJ knows for the area (None: it is not).
    shortfall: str | None

    @property
    def description(self) -> str:
        return self.transformer.description

    def apply(self, geoms: np.ndarray) -> np.ndarray:
        """Transform every vertex of ``geoms`` (2D or 3D, each geometry keeps its dimension)."""

        def move(coords: np.ndarray) -> np.ndarray:
            moved = self.transformer.transform(*coords.T)
            return np.column_stack(moved)

        return shapely.transform(geoms, move, include_z=None)


def plan_transformation(source: str | CRS, target: str | CRS,
                        lonlat_bounds: tuple[float, float, float, float] | None = None
                        ) -> Transformation:
    """The most accurate transformation PROJ can run for data inside ``lonlat_bounds``.

    ``shortfall`` names what is missing when PROJ knows a better operation for the area than
    the ones it can run (its grid is not installed), or when only a *ballpark* operation exists
    (datum shift ignored: metres to hundreds of metres off).
    """
    src, dst = CRS.from_user_input(source), CRS.from_user_input(target)
    area = AreaOfInterest(*lonlat_bounds) if lonlat_bounds else None
    with warnings.catch_warnings():  # pyproj warns about missing grids; we say it ourselves
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(src, dst, always_xy=True, area_of_interest=area)
    if not group.transformers:
        missing = _missing_grids(group.unavailable_operations)
        raise TransformationError(f"PROJ has no usable transformation from {src.name} to {dst.name}"
                         + (f"; it needs the grid(s) {missing}" if missing else ""))
    chosen = group.transformers[0]
    accuracy = chosen.accuracy if chosen.accuracy is not None and chosen.accuracy >= 0 else None
    return Transformation(src, dst, chosen, accuracy, _shortfall(group, chosen, accuracy))


def plan_for_box(source: str | CRS, target: str | CRS,
                 bounds: tuple[float, float, float, float]) -> Transformation:
    """:func:`plan_transformation` for data inside ``bounds`` given in ``source`` itself (a
    layer's or a point cloud's extent as read), which PROJ's area of interest wants in lon/lat."""
    return plan_transformation(source, target, transform_bounds(bounds, source, "EPSG:4326"))


def _shortfall(group: TransformerGroup, chosen: Transformer,
               accuracy: float | None) -> str | None:
    used = f"{chosen.description!r}" + (f", accuracy {accuracy:g} m" if accuracy else "")
    if "ballpark" in chosen.description.lower():
        return (f"only a ballpark transformation exists ({used}): the datum shift is ignored, "
                f"positions may be metres off")
    if group.best_available:
        return None
    better = [op for op in group.unavailable_operations
              if op.accuracy is not None and op.accuracy >= 0
              and (accuracy is None or op.accuracy < accuracy)]
    if not better:
        return None
    best = min(better, key=lambda op: op.accuracy)
    grids = _missing_grids([best])
    return (f"the accurate transformation ({best.name!r}, accuracy {best.accuracy:g} m) needs "
            f"the grid(s) {grids}, which PROJ does not find in {proj_search_path()}; the one "
            f"available is {used}")


def _missing_grids(operations: Iterable[object]) -> list[str]:
    names: list[str] = []
    for op in operations:
        names += [g.short_name for g in getattr(op, "grids", []) if not g.available]
    return sorted(set(names))


def proj_search_path() -> list[str]:
    """The folders PROJ searches for grids (and ``proj.db``), in order."""
    return datadir.get_data_dir().split(os.pathsep)


use_grid_dirs()
