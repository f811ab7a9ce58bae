"""Shortest paths on the city's road network (``reference/strassennetz.gpkg``) with SciPy's
compiled Dijkstra (``scipy.sparse.csgraph``).

The network is a graph whose nodes are the line ends (merged to the centimetre) and whose edges
are the lines: length in metres, travel time at the speed limit, one-way lines in one direction
only. Points (offers, airports, stops) are snapped to their nearest node; the snap leg counts as a
straight line at :data:`ACCESS_SPEED_KMH`, so a network distance is never shorter than the
straight line between the two points.

"Nearest target" questions are answered by *one* multi-source search from all targets at once on
the reversed graph (the distance from every node *to* its nearest target), not one search per
offer: with 500 offers and 4 kinds of target that is 4 searches instead of 2,000.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

ACCESS_SPEED_KMH = 20.0  # the leg from a point to the road: driveway, car park, yard
NODE_PRECISION_M = 0.01


@dataclass(frozen=True)
class Nearest:
    """For each query point: the nearest target (by travel time) and how far it is."""

    target: np.ndarray  # index into the targets, -1 where unreachable
    network_m: np.ndarray  # NaN where unreachable
    minutes: np.ndarray
    straight_m: np.ndarray


class RoadNetwork:
    """A routable graph of the road lines; build once, query many times."""

    def __init__(self, lines: gpd.GeoDataFrame, speed: str = "maxspeed", oneway: str = "oneway",
                 road_class: str = "strassenklasse",
                 not_walkable: tuple[str, ...] = ("motorway",)) -> None:
        geoms = lines.geometry.values
        starts = shapely.get_coordinates(shapely.get_point(geoms, 0))
        ends = shapely.get_coordinates(shapely.get_point(geoms, -1))
        keys = np.round(np.vstack([starts, ends]) / NODE_PRECISION_M).astype(np.int64)
        nodes, inverse = np.unique(keys, axis=0, return_inverse=True)
        self.xy = nodes * NODE_PRECISION_M
        self.tree = cKDTree(self.xy)
        n = len(lines)
        u, v = inverse[:n].ravel(), inverse[n:].ravel()
        length = shapely.length(geoms)
        kmh = np.asarray(lines[speed], dtype=float) if speed in lines else np.full(n, 50.0)
        minutes = length / (np.clip(np.nan_to_num(kmh, nan=50.0), 5.0, None) / 3.6) / 60.0
        one = np.asarray(lines[oneway], dtype=bool) if oneway in lines else np.zeros(n, bool)
        walk = ~np.isin(np.asarray(lines[road_class], dtype=object), not_walkable) \
            if road_class in lines else np.ones(n, bool)
        # Reversed graph (v → u for a line drawn u → v): searches run from the targets.
        src = np.concatenate([v, u[~one]])
        dst = np.concatenate([u, v[~one]])
        self._time_t = _graph(src, dst, np.concatenate([minutes, minutes[~one]]), len(nodes))
        self._length_t = _graph(src, dst, np.concatenate([length, length[~one]]), len(nodes),
                                order=np.concatenate([minutes, minutes[~one]]))
        both_u = np.concatenate([u[walk], v[walk]])
        both_v = np.concatenate([v[walk], u[walk]])
        self._walk = _graph(both_u, both_v, np.concatenate([length[walk], length[walk]]),
                            len(nodes))

    def __len__(self) -> int:
        return len(self.xy)

    def snap(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node and the straight distance to it, for each point."""
        if len(xy) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        distance, node = self.tree.query(np.asarray(xy, dtype=float))
        return node.astype(np.int64), distance

    def nearest(self, origins: np.ndarray, targets: np.ndarray, max_snap_m: float) -> Nearest:
        """The fastest target from each origin; one multi-source search for all origins."""
        m = len(origins)
        result = Nearest(np.full(m, -1), np.full(m, np.nan), np.full(m, np.nan),
                         np.full(m, np.nan))
        if m == 0 or len(targets) == 0:
            return result
        t_node, t_snap = self.snap(targets)
        usable = t_snap <= max_snap_m
        if not usable.any():
            return result
        minutes, pred, source = dijkstra(self._time_t, indices=t_node[usable], min_only=True,
                                         return_predecessors=True)
        o_node, o_snap = self.snap(origins)
        step = self._step_lengths(pred)
        target_of_node = {int(node): int(i) for i, node in
                          reversed(list(zip(np.flatnonzero(usable), t_node[usable],
                                            strict=True)))}
        for k in range(m):
            node = int(o_node[k])
            if o_snap[k] > max_snap_m or not np.isfinite(minutes[node]):
                continue
            target = target_of_node[int(source[node])]
            along = _route_length(pred, step, node)
            legs = o_snap[k] + t_snap[target]
            result.target[k] = target
            result.network_m[k] = along + legs
            result.minutes[k] = minutes[node] + legs / (ACCESS_SPEED_KMH / 3.6) / 60.0
            result.straight_m[k] = float(np.hypot(*(origins[k] - targets[target])))
        return result

    def _step_lengths(self, pred: np.ndarray) -> np.ndarray:
        """Length of the edge from each node to its predecessor on the shortest-path tree."""
        step = np.zeros(len(pred))
        has = np.flatnonzero(pred >= 0)
        if len(has):
            step[has] = np.asarray(self._length_t[pred[has], has]).ravel()
        return step

    def count_within(self, origins: np.ndarray, points: np.ndarray, walk_m: float,
                     chunk: int = 64) -> np.ndarray:
        """How many ``points`` lie within ``walk_m`` along walkable roads of each origin."""
        counts = np.zeros(len(origins), dtype=np.int64)
        if len(origins) == 0 or len(points) == 0:
            return counts
        p_node, p_snap = self.snap(points)
        o_node, o_snap = self.snap(origins)
        for start in range(0, len(origins), chunk):
            rows = slice(start, start + chunk)
            dist = dijkstra(self._walk, indices=o_node[rows], limit=walk_m)
            total = dist[:, p_node] + p_snap[None, :] + o_snap[rows, None]
            counts[rows] = (total <= walk_m).sum(axis=1)
        return counts


def _route_length(pred: np.ndarray, step: np.ndarray, node: int) -> float:
    """Metres from ``node`` to the tree's root (the target), following the predecessors."""
    total = 0.0
    while pred[node] >= 0:
        total += step[node]
        node = int(pred[node])
    return total


def _graph(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int,
           order: np.ndarray | None = None) -> csr_matrix:
    """A sparse graph keeping, of parallel edges, the one lowest in ``order`` (default: weight).

    ``csr_matrix`` would *add up* duplicate entries, turning two parallel roads into one long one.
    """
    rank = weight if order is None else order
    keep = np.lexsort((rank, dst, src))
    src, dst, weight = src[keep], dst[keep], weight[keep]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    # a zero weight would read as "no edge" in a sparse matrix; 1 mm is as good as nothing
    return csr_matrix((np.maximum(weight[first], 1e-3), (src[first], dst[first])), shape=(n, n))
