"""LoD2 buildings: a footprint, its floor height and its fitted roof planes as a closed solid.

The roof models come from ``roof_solar`` (:data:`pipelines.solar.roofmodel.ROOF_MODELS`):
per building the planes of its flat, shed, gabled or hipped roof, whose lower envelope is the
roof (a gabled roof is the lower of its two sides). So the roof over any footprint — also an
L-shaped one the model's rectangle only encloses — is the footprint cut into the regions where
each plane is the lowest, each region a roof face on its plane. Walls run from the floor up to
that roof along every edge of the outline (and of each courtyard); the roof profile along an
edge is concave (a minimum of linear functions), so every wall is a convex polygon.

Faces computed one by one meet at points a float apart; the points are snapped together
(:data:`SNAP_M`) and every point that lies on another face's edge is put into that edge, so
each edge is shared by exactly two faces, as a closed solid needs. A roof that reaches below
the floor (a model extrapolated too far, a floor on a slope above the eave) or a solid that
does not close is refused: the building keeps its LoD1 block only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from pipelines.city3d.solids import GROUND, ROOF, WALL, Surface, clean_polygon

#: Points of different faces this close are one point (the CityJSON grid is 1 mm).
SNAP_M = 0.003
#: The roof must stay this far above the floor everywhere.
MIN_WALL_M = 0.1
MIN_FACE_M2 = 1e-4


@dataclass(frozen=True)
class RoofModel:
    """A building's fitted roof: its type and planes (k, 3), z = a·x + b·y + c."""

    roof_type: str
    planes: np.ndarray

    def z(self, xy: np.ndarray) -> np.ndarray:
        """The roof's elevation over map points (n, 2): the lowest plane there."""
        return (xy @ self.planes[:, :2].T + self.planes[:, 2]).min(axis=1)


def read_models(path: Path) -> tuple[np.ndarray, list[RoofModel]]:
    """The roof models of a published ``roof_models.json``: a point inside each one's
    footprint (n, 2) and the models."""
    rows = [r for r in json.loads(path.read_text(encoding="utf-8"))["buildings"].values()
            if r["planes"]]
    points = np.array([r["inside"] for r in rows], float).reshape(-1, 2)
    return points, [RoofModel(r["roof_type"], np.asarray(r["planes"], float).reshape(-1, 3))
                    for r in rows]


def match_models(footprints: np.ndarray, points: np.ndarray, models: list[RoofModel]
                 ) -> list[RoofModel | None]:
    """Each footprint's roof model: the one whose inner point it holds (the roof layer keys
    the cadastre's footprints by another id than the heights do; the footprints are the
    same). A footprint holding none, or several, gets none."""
    found: list[RoofModel | None] = [None] * len(footprints)
    if not len(models):
        return found
    tree = shapely.STRtree(shapely.points(points))
    pairs = tree.query(footprints, predicate="contains")
    counts = np.bincount(pairs[0], minlength=len(footprints))
    for f, m in zip(*pairs, strict=True):
        if counts[f] == 1:
            found[int(f)] = models[int(m)]
    return found


def _halfplane(diff: np.ndarray, bounds: tuple[float, ...]) -> shapely.Geometry | None:
    """The region a·x + b·y + c ≤ 0 over ``bounds`` as a polygon (None: all of it)."""
    a, b, c = diff
    x0, y0, x1, y1 = bounds
    corners = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]])
    values = corners @ diff[:2] + c
    if (values <= 0).all():
        return None
    if (values > 0).all():
        return shapely.Polygon()
    normal = np.array([a, b]) / np.hypot(a, b)
    centre = corners.mean(axis=0)
    foot = centre - (centre @ diff[:2] + c) / np.hypot(a, b) * normal
    along = np.array([-normal[1], normal[0]])
    reach = 2 * np.hypot(x1 - x0, y1 - y0) + 10
    return shapely.Polygon([foot + reach * along, foot - reach * along,
                            foot - reach * (along + 2 * normal),
                            foot + reach * (along - 2 * normal)])


def roof_regions(polygon: shapely.Polygon, planes: np.ndarray
                 ) -> list[tuple[int, shapely.Polygon]]:
    """The parts of ``polygon`` where each plane is the lowest: (plane index, polygon)."""
    regions = []
    bounds = polygon.bounds
    for k in range(len(planes)):
        region: shapely.Geometry = polygon
        for j in range(len(planes)):
            diff = planes[k] - planes[j]
            if j == k:
                continue
            if np.hypot(diff[0], diff[1]) < 1e-9:  # parallel: all or nothing
                if diff[2] > 1e-9 or (abs(diff[2]) <= 1e-9 and k > j):
                    region = shapely.Polygon()
                continue
            half = _halfplane(diff, bounds)
            if half is not None:
                region = shapely.intersection(region, half)
            if region.is_empty:
                break
        for part in shapely.get_parts(region):
            if isinstance(part, shapely.Polygon) and part.area > MIN_FACE_M2:
                regions.append((k, part))
    return regions


class _Points:
    """The solid's corner points in the plan, snapped: one index per place."""

    def __init__(self) -> None:
        self.xy = np.zeros((0, 2))

    def index(self, point: np.ndarray) -> int:
        if len(self.xy):
            near = np.flatnonzero(np.hypot(*(self.xy - point).T) < SNAP_M)
            if len(near):
                return int(near[0])
        self.xy = np.vstack([self.xy, point])
        return len(self.xy) - 1

    def ring(self, coords: np.ndarray) -> list[int]:
        """A ring's point indices without repeats (also across its closing edge)."""
        out: list[int] = []
        for p in coords:
            i = self.index(p)
            if not out or out[-1] != i:
                out.append(i)
        while len(out) > 1 and out[0] == out[-1]:
            out.pop()
        return out

    def on_edge(self, i: int, j: int) -> list[int]:
        """The points on the segment from ``i`` to ``j`` (not its ends), in order from ``i``."""
        a, b = self.xy[i], self.xy[j]
        d = b - a
        length = float(d @ d)
        if length == 0:
            return []
        t = (self.xy - a) @ d / length
        off = np.abs((self.xy - a) @ np.array([-d[1], d[0]])) / np.sqrt(length)
        hit = np.flatnonzero((off < SNAP_M) & (t > 0) & (t < 1))
        hit = hit[(hit != i) & (hit != j)]
        return [int(h) for h in hit[np.argsort(t[hit])]]

    def refine(self, ring: list[int]) -> list[int]:
        """The ring with every point lying on one of its edges put into that edge."""
        out: list[int] = []
        for i, j in zip(ring, ring[1:] + ring[:1], strict=True):
            out.append(i)
            out.extend(self.on_edge(i, j))
        return out


def _rings(polygon: shapely.Polygon) -> list[np.ndarray]:
    polygon = clean_polygon(polygon)
    return [np.asarray(polygon.exterior.coords)[:-1, :2],
            *(np.asarray(r.coords)[:-1, :2] for r in polygon.interiors)]


def lod2_solid(polygon: shapely.Polygon, ground: float, model: RoofModel
               ) -> list[Surface] | None:
    """The closed solid of one footprint part: floor, walls, roof faces (each with its
    plane), oriented outwards; None when the roof does not stay above the floor."""
    points = _Points()
    outline = [points.ring(r) for r in _rings(polygon)]
    faces = []
    for k, region in roof_regions(clean_polygon(polygon), model.planes):
        rings = [points.ring(r) for r in _rings(region)]
        if len(rings[0]) >= 3:
            faces.append((k, [r for r in rings if len(r) >= 3]))
    if not faces:
        return None
    roof_z = model.z(points.xy)
    if (roof_z < ground + MIN_WALL_M).any():
        return None
    xy = points.xy

    def lift(ring: list[int], z: np.ndarray | float) -> np.ndarray:
        heights = z[ring] if isinstance(z, np.ndarray) else np.full(len(ring), z)
        return np.column_stack([xy[ring], heights])

    surfaces = [Surface(GROUND, tuple(lift(r[::-1], ground) for r in outline))]
    for ring in outline:
        for i, j in zip(ring, ring[1:] + ring[:1], strict=True):
            top = [j, *points.on_edge(i, j)[::-1], i]
            surfaces.append(Surface(WALL, (np.vstack([lift([i, j], ground),
                                                      lift(top, roof_z)]),)))
    for k, rings in faces:
        plane = tuple(float(v) for v in model.planes[k])
        surfaces.append(Surface(ROOF, tuple(lift(points.refine(r), roof_z) for r in rings),
                                plane))
    return surfaces


def building_solids(footprint: shapely.Geometry, ground: float, model: RoofModel | None
                    ) -> list[list[Surface]] | None:
    """The LoD2 solids of a footprint's parts, or None (no model, or any part refused)."""
    if model is None:
        return None
    solids = []
    for part in shapely.get_parts(footprint):
        solid = lod2_solid(part, ground, model)
        if solid is None or not closed(solid):
            return None
        solids.append(solid)
    return solids


def closed(faces: list[Surface]) -> bool:
    """Every edge of the faces used once in each direction (a watertight shell), by the
    points' millimetre grid as CityJSON stores them."""
    edges: dict[tuple, int] = {}
    for face in faces:
        for ring in face.rings:
            keys = [tuple(np.rint(p * 1000).astype(np.int64)) for p in ring]
            for a, b in zip(keys, keys[1:] + keys[:1], strict=True):
                edges[(a, b)] = edges.get((a, b), 0) + 1
    return all(n == 1 and edges.get((b, a)) == 1 for (a, b), n in edges.items())
