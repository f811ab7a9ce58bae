"""Individual trees from the canopy height model: tops, heights, crowns.

The method follows lidR's ``lmf`` + ``dalponte2016``: tree tops are local maxima of a lightly
smoothed canopy model under a window that grows with the height (tall trees have wide crowns,
so a small window would split one crown into several tops); crowns grow from the tops by a
watershed on the inverted canopy, limited to cells at least ``crown_fraction`` of the top's
height. NRW clouds carry no vegetation or building class, so roofs are told apart by the
building footprints (ALKIS) and, where a building is missing from them, by the pulses: a
laser pulse into a crown returns several echoes, a roof gives one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
from scipy import ndimage
from skimage.segmentation import watershed

from pipelines.lidar.grid import GridSpec, check_non_negative


@dataclass(frozen=True)
class TreeParams:
    """Detection parameters; part of a tile's fingerprint, so changing one rebuilds the trees."""

    min_height: float = 2.0
    smooth_sigma_m: float = 0.5
    window_base_m: float = 2.5
    window_per_m: float = 0.08
    window_max_m: float = 10.0
    crown_fraction: float = 0.45
    min_multi_return_share: float = 0.08
    evidence_radius_m: float = 2.0
    # A footprint rasterises by cell centres, so the cells along a roof's edge keep the roof's
    # height outside the mask: a "top" there (and the true top it suppresses next to it) was the
    # main height error. Tops closer than this to a footprint are not taken.
    building_margin_m: float = 1.0
    # Sparse clouds leave "pits" in crowns (a cell whose highest return went deep into the crown
    # or to the ground) that split crowns and shrink them; a grey closing of this radius fills
    # them before tops and crowns are found. Heights still come from the unfilled model.
    pit_fill_m: float = 1.0

    def __post_init__(self) -> None:
        check_non_negative(self)


@dataclass
class DetectedTrees:
    """Trees whose top lies in the tile core, as columns (map coordinates, metres)."""

    x: np.ndarray
    y: np.ndarray
    height: np.ndarray
    crown_diameter: np.ndarray
    multi_return_share: np.ndarray
    crowns: list[shapely.Geometry]

    def __len__(self) -> int:
        return len(self.x)


def disk(radius_cells: float) -> np.ndarray:
    r = int(np.floor(radius_cells))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy) <= radius_cells * radius_cells + 1e-9


def local_maxima(chm: np.ndarray, resolution: float, p: TreeParams) -> np.ndarray:
    """Tops: cells equal to the maximum in their height-dependent circular window."""
    tops = np.zeros(chm.shape, dtype=bool)
    diameters = np.clip(p.window_base_m + p.window_per_m * chm, p.window_base_m, p.window_max_m)
    # Discretise the window into a few sizes: one maximum filter per size, not per cell.
    steps = np.arange(p.window_base_m, p.window_max_m + 1e-9, 1.0)
    band = np.clip(np.searchsorted(steps, diameters, side="right") - 1, 0, len(steps) - 1)
    tall_enough = chm >= p.min_height
    for i, diameter in enumerate(steps):
        in_band = tall_enough & (band == i)
        if not in_band.any():
            continue
        # A square window is separable (two 1-D passes): several times faster than a disk.
        cells = max(3, round(diameter / resolution) | 1)
        peak = ndimage.maximum_filter(chm, size=cells, mode="nearest")
        tops |= in_band & (chm >= peak)
    return _one_per_plateau(tops, chm)


def _one_per_plateau(tops: np.ndarray, chm: np.ndarray) -> np.ndarray:
    """Adjacent equal maxima (a flat crown top) become a single top at their highest cell."""
    labels, count = ndimage.label(tops, structure=np.ones((3, 3)))
    if count == 0:
        return tops
    flat = np.flatnonzero(labels)
    ids = labels.ravel()[flat]
    order = np.lexsort((-chm.ravel()[flat], ids))  # per plateau, the highest cell first
    _, first = np.unique(ids[order], return_index=True)
    single = np.zeros_like(tops)
    single.ravel()[flat[order[first]]] = True
    return single


def near(mask: np.ndarray, radius_cells: float) -> np.ndarray:
    """Cells within ``radius_cells`` of ``mask`` (the mask itself included)."""
    if radius_cells <= 0 or not mask.any():
        return mask
    return ndimage.binary_dilation(mask, structure=disk(radius_cells))


def window_share(share: np.ndarray, radius_cells: float, rows: np.ndarray,
                 cols: np.ndarray) -> np.ndarray:
    """Mean of a gappy (NaN) grid over a circular window around each of the cells ``rows``,
    ``cols``: the pulses' evidence around a top (the window is clamped at the grid's edge).

    Only tops need it, so it is summed at a few thousand cells instead of convolving the whole
    buffered tile twice (values and weights).
    """
    dr, dc = np.nonzero(disk(radius_cells))
    r = int(np.floor(radius_cells))
    rr = np.clip(rows[:, None] + (dr - r)[None, :], 0, share.shape[0] - 1)
    cc = np.clip(cols[:, None] + (dc - r)[None, :], 0, share.shape[1] - 1)
    values = share[rr, cc].astype(np.float64)
    valid = ~np.isnan(values)
    total = np.where(valid, values, 0.0).sum(axis=1)
    weight = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, 0.0)


def detect(chm: np.ndarray, multi: np.ndarray, buildings: np.ndarray, spec: GridSpec,
           core: int, p: TreeParams) -> DetectedTrees:
    """Detect trees on a buffered canopy grid; keep those whose top is in the core.

    ``core`` is the buffer width in cells: a top inside the buffer belongs to the neighbouring
    tile, which detects it with its own buffer — so a tree on the tile edge is found once, and
    its crown is delineated whole because the buffer holds its other half.
    """
    r = spec.resolution
    if p.pit_fill_m > 0:
        closed = ndimage.grey_closing(chm, footprint=disk(p.pit_fill_m / r), mode="nearest")
    else:
        closed = chm
    smooth = ndimage.gaussian_filter(closed, sigma=p.smooth_sigma_m / r)
    canopy = (closed >= p.min_height) & ~buildings
    candidates = canopy & ~near(buildings, p.building_margin_m / r)
    tops = local_maxima(np.where(candidates, smooth, 0.0), r, p) & canopy
    rows, cols = np.nonzero(tops)
    evidence = window_share(multi, p.evidence_radius_m / r, rows, cols)
    pulses = evidence >= p.min_multi_return_share
    rows, cols, evidence = rows[pulses], cols[pulses], evidence[pulses]
    markers = np.zeros(chm.shape, dtype=np.int32)
    markers[rows, cols] = np.arange(1, len(rows) + 1)
    labels = watershed(-smooth, markers, mask=canopy)
    top_height = np.zeros(len(rows) + 1, dtype=np.float32)
    # the height from crown cells clear of roofs (a crown may reach over a roof's edge cells)
    np.maximum.at(top_height, labels[candidates], chm[candidates])
    labels[closed < p.crown_fraction * top_height[labels]] = 0
    n = spec.size - core
    inside = (rows >= core) & (rows < n) & (cols >= core) & (cols < n)
    keep_ids = np.nonzero(inside)[0] + 1
    area = np.bincount(labels.ravel(), minlength=len(rows) + 1)[keep_ids] * r * r
    x, y = spec.centres(rows[inside], cols[inside])
    crowns = _crown_polygons(labels, keep_ids, spec)
    return DetectedTrees(
        x=x, y=y,
        height=top_height[keep_ids].astype(np.float64),
        crown_diameter=2.0 * np.sqrt(area / np.pi),
        multi_return_share=evidence[inside],
        crowns=[crowns.get(int(i)) for i in keep_ids],
    )


def _crown_polygons(labels: np.ndarray, keep_ids: np.ndarray,
                    spec: GridSpec) -> dict[int, shapely.Geometry]:
    """Vectorise the kept crowns (cell outlines, one polygon per tree)."""
    wanted = np.isin(labels, keep_ids)
    parts: dict[int, list[shapely.Geometry]] = {}
    shapes = rasterio.features.shapes(labels.astype(np.int32), mask=wanted,
                                      transform=spec.transform())
    for geom, value in shapes:
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    return {k: (v[0] if len(v) == 1 else shapely.union_all(v)) for k, v in parts.items()}
