"""Scoring detected trees against ground truth, and the one-to-one matching both it and the
cadastre conflation use.

Matching is a linear assignment (Hungarian method) on the distance matrix, solved per local
cluster: points are grouped by connected components of the "within max distance" graph, so a
city with 100 000 trees becomes many small problems instead of one 100 000² matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

_FAR = 1e9


def match(a: np.ndarray, b: np.ndarray, max_distance: float) -> list[tuple[int, int, float]]:
    """One-to-one pairs (i in a, j in b, distance) minimising the total distance, each pair
    closer than ``max_distance``. ``a`` and ``b`` are (n, 2) coordinate arrays."""
    if len(a) == 0 or len(b) == 0:
        return []
    pairs = cKDTree(a).sparse_distance_matrix(cKDTree(b), max_distance, output_type="coo_matrix")
    if pairs.nnz == 0:
        return []
    n = len(a)
    graph = _bipartite(pairs.row, pairs.col + n, n + len(b))
    _, component = connected_components(graph, directed=False)
    out: list[tuple[int, int, float]] = []
    comp_of_pair = component[pairs.row]
    for c in np.unique(comp_of_pair):
        sel = comp_of_pair == c
        rows, cols, dist = pairs.row[sel], pairs.col[sel], pairs.data[sel]
        ua, ia = np.unique(rows, return_inverse=True)
        ub, ib = np.unique(cols, return_inverse=True)
        cost = np.full((len(ua), len(ub)), _FAR)
        cost[ia, ib] = dist
        r, k = linear_sum_assignment(cost)
        ok = cost[r, k] < _FAR
        out += [(int(ua[i]), int(ub[j]), float(cost[i, j])) for i, j in zip(r[ok], k[ok],
                                                                           strict=True)]
    return out


def _bipartite(rows: np.ndarray, cols: np.ndarray, size: int):
    from scipy.sparse import coo_matrix
    return coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size)).tocsr()


@dataclass
class GroupScore:
    truth: int
    detected: int
    matched: int
    precision: float
    recall: float
    f1: float


@dataclass
class TreeScore:
    free_standing: GroupScore
    closed_canopy: GroupScore
    height_rmse_m: float
    height_bias_m: float
    crown_diameter_mae_m: float
    crown_diameter_bias_m: float
    matched: int

    def as_dict(self) -> dict:
        return asdict(self)


def score(detected, truth, max_distance: float = 3.0, area=None) -> TreeScore:
    """Precision/recall/F1 per group, height RMSE and crown diameter error of matched trees.

    ``detected`` and ``truth`` are GeoDataFrames of points with ``height_m`` and
    ``crown_diameter_m``; ``truth`` has ``free_standing``. A detection counts towards the group
    of the truth tree it matched, or — if unmatched — of the nearest truth tree.
    ``area`` (a polygon) limits both to where the truth is complete: the sample generator's
    truth lists the trees of its own cells only, so near the edge of a sample the scan shows
    neighbouring cells' trees that no truth row describes, and truth trees stand outside the scan.
    """
    if area is not None:
        detected = detected[detected.within(area)]
        truth = truth[truth.within(area)]
    d_xy = np.column_stack([detected.geometry.x, detected.geometry.y])
    t_xy = np.column_stack([truth.geometry.x, truth.geometry.y])
    pairs = match(t_xy, d_xy, max_distance)
    free = truth["free_standing"].to_numpy(bool)
    det_group = free[cKDTree(t_xy).query(d_xy)[1]] if len(t_xy) and len(d_xy) else \
        np.zeros(len(d_xy), bool)
    ti = np.array([p[0] for p in pairs], dtype=int)
    di = np.array([p[1] for p in pairs], dtype=int)
    det_group[di] = free[ti]
    groups = {}
    for name, flag in (("free_standing", True), ("closed_canopy", False)):
        n_truth = int((free == flag).sum())
        n_det = int((det_group == flag).sum())
        m = int((free[ti] == flag).sum())
        p = m / n_det if n_det else 0.0
        r = m / n_truth if n_truth else 0.0
        groups[name] = GroupScore(n_truth, n_det, m, round(p, 3), round(r, 3),
                                  round(2 * p * r / (p + r), 3) if p + r else 0.0)
    dh = detected["height_m"].to_numpy()[di] - truth["height_m"].to_numpy()[ti]
    dc = detected["crown_diameter_m"].to_numpy()[di] - truth["crown_diameter_m"].to_numpy()[ti]
    return TreeScore(
        groups["free_standing"], groups["closed_canopy"],
        height_rmse_m=round(float(np.sqrt(np.mean(dh ** 2))), 3) if len(dh) else float("nan"),
        height_bias_m=round(float(np.mean(dh)), 3) if len(dh) else float("nan"),
        crown_diameter_mae_m=round(float(np.mean(np.abs(dc))), 3) if len(dc) else float("nan"),
        crown_diameter_bias_m=round(float(np.mean(dc)), 3) if len(dc) else float("nan"),
        matched=len(pairs),
    )
