"""Roof planes from the 0.5 m surface model, and each roof point's horizon in the same model.

Most roofs get their planes from a roof model fitted to the footprint
(:mod:`pipelines.solar.roofmodel`); region growing here is the fallback for the roofs no model
fits ("complex"). Segmentation is region growing on the DSM's local planes: each cell inside
a footprint (one cell in from its edge, and higher than ``min_height_m`` above the terrain,
so ground and garden cells of a loose footprint stay out) gets the normal of the plane fitted
to its 3 × 3 neighbourhood and that fit's residual. Cells on a ridge, a hip, a chimney or a
tree crown are not planar there and are left out; neighbouring cells of the same footprint
whose normals differ by less than ``max_angle_deg`` join one region. Each region of at least
``min_plane_m2`` becomes a roof plane, fitted again by least squares over all its cells.

The horizon of a point is the highest elevation angle of the surface model seen from it in
each of K azimuth sectors, marched outwards to ``max_distance_m``: the DSM holds terrain,
buildings and trees alike, so all three shade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class Segmentation:
    """Roof planes of one raster window: a label raster and one row per plane."""

    labels: np.ndarray  # 0 = no plane, else plane number (1-based) per cell
    building: np.ndarray  # per plane: the footprint's index
    tilt: np.ndarray  # per plane, degrees
    azimuth: np.ndarray  # per plane, degrees clockwise from north the plane faces
    coef: np.ndarray  # per plane: z = a·x + b·y + c in map metres (x east, y north)
    rms: np.ndarray  # per plane: residual of the fit, metres
    cells: np.ndarray  # per plane: number of cells


def local_planes(dsm: np.ndarray, res: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope components dz/dx, dz/dy (x east, y north) and the residual (m) of the plane fitted
    to each cell's 3 × 3 neighbourhood (an orthogonal basis makes each a filter)."""
    x_kernel = np.array([[-1, 0, 1]] * 3, float)
    sum_xz = ndimage.correlate(dsm, x_kernel, mode="nearest")
    sum_yz = ndimage.correlate(dsm, -x_kernel.T, mode="nearest")  # rows run southwards
    mean = ndimage.uniform_filter(dsm, 3, mode="nearest")
    squares = ndimage.uniform_filter(dsm * dsm, 3, mode="nearest") * 9
    residual = squares - 9 * mean**2 - (sum_xz**2 + sum_yz**2) / 6
    return sum_xz / (6 * res), sum_yz / (6 * res), np.sqrt(np.clip(residual, 0, None) / 9)


def segment(dsm: np.ndarray, ndsm: np.ndarray, footprints: np.ndarray, res: float,
            origin: tuple[float, float], *, min_height_m: float = 2.0,
            planarity_m: float = 0.06, max_angle_deg: float = 8.0,
            min_plane_m2: float = 4.0) -> Segmentation:
    """Roof planes of the footprints (``footprints``: 1-based footprint index per cell, 0 out).

    ``origin``: the map coordinates of the window's upper-left corner.
    """
    inside = footprints > 0
    same = ndimage.minimum_filter(footprints, 3, mode="constant") == \
        ndimage.maximum_filter(footprints, 3, mode="constant")
    dzdx, dzdy, residual = local_planes(dsm, res)
    valid = inside & same & (ndsm > min_height_m) & (residual < planarity_m) & np.isfinite(dsm)
    normal = np.stack([-dzdx, -dzdy, np.ones_like(dzdx)])
    normal /= np.linalg.norm(normal, axis=0)
    cos_limit = np.cos(np.radians(max_angle_deg))
    index = np.arange(dsm.size).reshape(dsm.shape)
    rows, cols = [], []
    for a, b in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                 ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        join = valid[a] & valid[b] & (footprints[a] == footprints[b]) & \
            ((normal[(slice(None), *a)] * normal[(slice(None), *b)]).sum(0) > cos_limit)
        rows.append(index[a][join])
        cols.append(index[b][join])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(len(r), bool), (r, c)), shape=(dsm.size, dsm.size))
    _, component = connected_components(graph, directed=False)
    component = np.where(valid.ravel(), component, -1)
    return _planes(component.reshape(dsm.shape), dsm, footprints, res, origin,
                   int(np.ceil(min_plane_m2 / res**2)))


def _planes(component: np.ndarray, dsm: np.ndarray, footprints: np.ndarray, res: float,
            origin: tuple[float, float], min_cells: int) -> Segmentation:
    """Keep the regions of at least ``min_cells`` and fit each one's plane (least squares)."""
    core = interior(component)
    counts = np.bincount(component[core], minlength=int(component.max()) + 1)
    keep = np.flatnonzero(counts >= min_cells)
    relabel = np.zeros(len(counts) + 1, np.int32)
    relabel[keep] = np.arange(1, len(keep) + 1)
    labels = np.where(component >= 0, relabel[np.clip(component, 0, None)], 0).astype(np.int32)
    n = len(keep)
    row, col = np.nonzero(labels)
    lab = labels[row, col] - 1
    x = origin[0] + (col + 0.5) * res
    y = origin[1] - (row + 0.5) * res
    z = dsm[row, col]
    # centre per plane for a well-conditioned fit
    cells = np.bincount(lab, minlength=n).astype(float)
    mx, my, mz = (np.bincount(lab, v, n) / cells for v in (x, y, z))
    dx, dy, dz = x - mx[lab], y - my[lab], z - mz[lab]
    sxx, sxy, syy = (np.bincount(lab, v, n) for v in (dx * dx, dx * dy, dy * dy))
    sxz, syz = np.bincount(lab, dx * dz, n), np.bincount(lab, dy * dz, n)
    det = sxx * syy - sxy**2
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    a = (sxz * syy - syz * sxy) / det
    b = (syz * sxx - sxz * sxy) / det
    c = mz - a * mx - b * my
    fitted = a[lab] * x + b[lab] * y + c[lab]
    rms = np.sqrt(np.bincount(lab, (z - fitted) ** 2, n) / cells)
    tilt = np.degrees(np.arctan(np.hypot(a, b)))
    azimuth = np.degrees(np.arctan2(-a, -b)) % 360  # the downhill direction the plane faces
    building = np.zeros(n, np.int64)
    building[lab] = footprints[row, col] - 1
    return Segmentation(labels, building, tilt, azimuth, np.stack([a, b, c], 1), rms,
                        cells.astype(int))


def interior(labels: np.ndarray) -> np.ndarray:
    """Cells whose four neighbours carry the same label (≥ 0): a region less its edge cells.

    Counting a region's size on its interior drops the two-cell strips along a ridge, and
    the solar estimate uses interior cells only: modules keep a setback from a plane's edge.
    """
    core = labels >= 0
    core[[0, -1], :] = False
    core[:, [0, -1]] = False
    for shifted in (labels[:-2, 1:-1], labels[2:, 1:-1], labels[1:-1, :-2], labels[1:-1, 2:]):
        core[1:-1, 1:-1] &= shifted == labels[1:-1, 1:-1]
    return core


def horizon(dsm: np.ndarray, res: float, rows: np.ndarray, cols: np.ndarray, z: np.ndarray,
            sectors: int, max_distance_m: float, growth: float = 1.05,
            chunk: int = 2048) -> np.ndarray:
    """Horizon elevation (degrees, ≥ 0) per point and sector (the first centred on north).

    From each point (a cell centre), rays march outwards from one cell to ``max_distance_m``
    in steps that grow by ``growth``; cells outside the window or without a value do not
    shade. The rays' cell offsets are the same for every point, so they are rounded once and
    each point's ray is a gather from the surface padded with -inf (no bounds checks).
    """
    steps = [res * 1.5]
    while steps[-1] * growth + res * 0.5 <= max_distance_m:
        steps.append(steps[-1] * growth + res * 0.5)
    dist = np.asarray(steps, np.float32)
    az = np.radians(np.arange(sectors) * 360 / sectors)
    d_col = np.rint(np.sin(az)[:, None] * dist[None, :] / res).astype(np.int64)  # east
    d_row = np.rint(-np.cos(az)[:, None] * dist[None, :] / res).astype(np.int64)  # north: up
    pad = int(max(np.abs(d_col).max(), np.abs(d_row).max())) + 1
    surface = np.pad(np.where(np.isfinite(dsm), dsm, -np.inf).astype(np.float32), pad,
                     constant_values=-np.inf)
    width = surface.shape[1]
    offsets = d_row * width + d_col  # sectors × steps
    flat = surface.ravel()
    start = (np.asarray(rows, np.int64) + pad) * width + np.asarray(cols, np.int64) + pad
    out = np.zeros((len(start), sectors))
    for first in range(0, len(start), chunk):
        sl = slice(first, first + chunk)
        seen = flat[start[sl, None, None] + offsets[None]]
        tangent = (seen - np.asarray(z[sl], np.float32)[:, None, None]) / dist
        out[sl] = np.degrees(np.arctan(np.clip(tangent.max(axis=2), 0, None)))
    return out


def from_facets(labels: np.ndarray, building: np.ndarray, coef: np.ndarray,
                rms: np.ndarray) -> Segmentation:
    """A segmentation from known planes (``coef``: a, b, c per plane; ``labels`` 1-based)."""
    a, b = coef[:, 0], coef[:, 1]
    return Segmentation(labels, building.astype(np.int64),
                        np.degrees(np.arctan(np.hypot(a, b))),
                        np.degrees(np.arctan2(-a, -b)) % 360, coef, rms,
                        np.bincount(labels.ravel(), minlength=len(coef) + 1)[1:])


def merge(first: Segmentation, second: Segmentation) -> Segmentation:
    """Both segmentations' planes in one (their cells do not overlap)."""
    n = len(first.tilt)
    labels = np.where(second.labels > 0, second.labels + n, first.labels).astype(np.int32)
    return Segmentation(labels, *(np.concatenate([getattr(first, f), getattr(second, f)])
                                  for f in ("building", "tilt", "azimuth", "coef", "rms",
                                            "cells")))
