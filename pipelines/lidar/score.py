"""Scoring detected trees against ground truth, and the one-to-one matching both it and the
cadastre conflation use; scoring a terrain model against a known one (:func:`score_terrain`).

Matching is a linear assignment (Hungarian method) on the distance matrix, solved per local
cluster: points are grouped by connected components of the "within max distance" graph, so a
city with 100 000 trees becomes many small problems instead of one 100 000² matrix.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from pipelines.lidar.grid import NOISE_CLASSES, GridSpec, bin_points, fill_gaps, lookup
from pipelines.lidar.ground import SmrfParams, smrf_ground
from pipelines.pointcloud import Points

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


#: Terrain under this slope (degrees) is "open ground" when nothing stands on it; steeper
#: terrain up to 30° is scored per class (the targets of issue 16: 0.3 m and 0.5 m RMSE).
OPEN_SLOPE_DEG = 10.0
SLOPE_CLASSES = ((10.0, 20.0), (20.0, 30.0))


@dataclass(frozen=True)
class TerrainScore:
    """RMSE (m) of a terrain model against the true one: on open ground under
    :data:`OPEN_SLOPE_DEG` and per slope class of :data:`SLOPE_CLASSES` (keys "10-20", …),
    with the cells each covers (a class without cells has NaN)."""

    open_rmse_m: float
    open_cells: int
    slope_rmse_m: dict[str, float]
    slope_cells: dict[str, int]

    @property
    def worst_slope_rmse_m(self) -> float:
        """The largest RMSE of the slope classes that have cells."""
        return max((v for v in self.slope_rmse_m.values() if np.isfinite(v)), default=np.nan)

    def as_dict(self) -> dict:
        return asdict(self)


def ground_cells(points: Points, ground: np.ndarray, spec: GridSpec) -> np.ndarray:
    """The mean height of the points flagged ``ground`` per cell of ``spec`` (NaN where a cell
    has none), as the tile pass bins them."""
    classes = np.where(ground, 2, 1).astype(np.uint8)
    return bin_points(replace(points, classification=classes), spec, (2,)).grids["ground"]


def terrain_model(points: Points, ground: np.ndarray, spec: GridSpec) -> np.ndarray:
    """The terrain model the tile pass makes from the points flagged ``ground``: their cells
    (:func:`ground_cells`), gaps filled as the DTM's (:func:`.grid.fill_gaps`)."""
    return fill_gaps(ground_cells(points, ground, spec))


def slope_degrees(terrain: np.ndarray, resolution: float) -> np.ndarray:
    dy, dx = np.gradient(terrain, resolution)
    return np.degrees(np.arctan(np.hypot(dx, dy)))


def score_terrain(dtm: np.ndarray, truth: np.ndarray, resolution: float,
                  scored: np.ndarray) -> TerrainScore:
    """Score ``dtm`` against ``truth`` (same grid, ``resolution`` m) over the ``scored`` cells
    — where the true ground is known and nothing stands on it — binned by the true slope.

    Cells under buildings and crowns are left to the caller's ``scored``: both models fill
    them the same way, so they measure the gap filling, not the ground found.
    """
    slope = slope_degrees(truth, resolution)
    diff = (dtm - truth).astype(np.float64)
    scored = scored & np.isfinite(diff)

    def rmse(cells: np.ndarray) -> float:
        return round(float(np.sqrt(np.mean(diff[cells] ** 2))), 3) if cells.any() else np.nan

    open_ = scored & (slope < OPEN_SLOPE_DEG)
    classes = {f"{lo:g}-{hi:g}": scored & (slope >= lo) & (slope < hi)
               for lo, hi in SLOPE_CLASSES}
    return TerrainScore(rmse(open_), int(open_.sum()),
                        {k: rmse(m) for k, m in classes.items()},
                        {k: int(m.sum()) for k, m in classes.items()})


@dataclass(frozen=True)
class GroundFilterScore:
    """The built-in ground filter on one cloud: its terrain model against the true one, the
    share of the points it calls ground that are (precision) and of the ground it finds
    (recall), and its run time (s)."""

    terrain: TerrainScore
    precision: float
    recall: float
    points: int
    seconds: float


def score_ground_filter(points: Points, is_ground: np.ndarray, truth: np.ndarray,
                        scored: np.ndarray, spec: GridSpec, params: SmrfParams
                        ) -> GroundFilterScore:
    """Run SMRF on ``points`` with their classes hidden (every point class 1 but noise) over
    the frame of ``spec``, and score its terrain model on the grid of ``spec`` against
    ``truth`` over the ``scored`` cells (:func:`score_terrain`); ``is_ground`` says which
    points are ground in truth."""
    noise = lookup(NOISE_CLASSES)[points.classification]
    hidden = replace(points, classification=np.where(noise, points.classification, 1)
                     .astype(np.uint8))
    filter_spec = GridSpec.for_tile((spec.x0, spec.y_top - spec.size * spec.resolution),
                                    spec.size * spec.resolution, params.cell_m)
    clock = time.perf_counter()
    found = smrf_ground(hidden, filter_spec, params)
    seconds = time.perf_counter() - clock
    hit = int((found & is_ground).sum())
    terrain = score_terrain(terrain_model(points, found, spec), truth, spec.resolution, scored)
    return GroundFilterScore(terrain, round(hit / max(int(found.sum()), 1), 4),
                             round(hit / max(int(is_ground.sum()), 1), 4), len(points),
                             round(seconds, 2))
