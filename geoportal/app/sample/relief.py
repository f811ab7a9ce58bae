"""Unclassified clouds over terrain with relief, and their true ground, for scoring the
built-in ground filter (:mod:`pipelines.lidar.ground`).

The sample city lies on the gentle edge of the Lower Rhine plain: its steepest ground is a few
degrees, which cannot show whether a ground filter keeps a hill. These clouds stand on
analytic terrain of three kinds — ``hills`` (rounded and sharp-crested, flanks up to 30°),
``terraces`` (a hillside cut
into steps) and ``embankment`` (a road embankment and a cutting across a valley) — with
flat-roofed buildings, trees and shrubs on top, so the terrain under every point is known
exactly. Every point comes as class 1 (as an unclassified delivery); the points that are
ground in truth are returned beside the cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np

from geoportal.core.publish import atomic_path
from pipelines.lidar.grid import GridSpec
from pipelines.pointcloud import Points

from .lidar import make_header
from .rng import rng_for

#: The kinds of relief :func:`relief_cloud` makes.
KINDS = ("hills", "terraces", "embankment")
#: What a point hit (:attr:`ReliefCloud.label`).
GROUND_POINT, ROOF_POINT, CROWN_POINT, SHRUB_POINT = 0, 1, 2, 3
Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ReliefCloud:
    """A cloud over ``size`` × ``size`` metres from ``origin`` (the lower-left corner).

    ``ground``: the true terrain height at any (x, y); ``label``: per point what it hit
    (:data:`GROUND_POINT`, :data:`ROOF_POINT`, :data:`CROWN_POINT`, :data:`SHRUB_POINT`);
    ``buildings``: (n, 4) footprints as x0, y0, x1, y1; ``trees`` and ``shrubs``: (n, 3)
    stems as x, y, crown radius.
    """

    points: Points
    origin: tuple[float, float]
    size: float
    ground: Surface
    label: np.ndarray
    buildings: np.ndarray
    trees: np.ndarray
    shrubs: np.ndarray

    @property
    def is_ground(self) -> np.ndarray:
        """Per point, whether it is a ground return."""
        return self.label == GROUND_POINT

    def spec(self, resolution: float) -> GridSpec:
        """The cloud's square as a raster frame of ``resolution`` metres."""
        return GridSpec.for_tile(self.origin, self.size, resolution)

    def truth(self, spec: GridSpec) -> np.ndarray:
        """The true terrain height at the centres of ``spec``'s cells."""
        rows, cols = np.mgrid[0:spec.size, 0:spec.size]
        return self.ground(*spec.centres(rows, cols))

    def open_cells(self, spec: GridSpec, margin: float = 2.0) -> np.ndarray:
        """The cells of ``spec`` more than ``margin`` metres from any building or crown."""
        return ~(self._under(spec, margin, self.buildings, self.trees)
                 | self._under(spec, margin, (), self.shrubs))

    def building_cells(self, spec: GridSpec, inset: float = 2.0) -> np.ndarray:
        """The cells of ``spec`` under a roof, ``inset`` metres inside its walls."""
        return self._under(spec, -inset, self.buildings, ())

    def shrub_cells(self, spec: GridSpec) -> np.ndarray:
        """The cells of ``spec`` under a shrub."""
        return self._under(spec, 0.0, (), self.shrubs)

    def _under(self, spec: GridSpec, grow: float, buildings, stems) -> np.ndarray:
        """Cells whose centre lies under an object grown by ``grow`` metres (window by
        window: a grid-wide test per object is slow at 0.5 m)."""
        centres = (np.arange(spec.size) + 0.5) * spec.resolution
        xs, down = spec.x0 + centres, centres - spec.y_top  # down: -y, ascending by row
        under = np.zeros((spec.size, spec.size), dtype=bool)

        def window(x0, y0, x1, y1):
            return (slice(np.searchsorted(down, -y1), np.searchsorted(down, -y0, "right")),
                    slice(np.searchsorted(xs, x0), np.searchsorted(xs, x1, "right")))

        for x0, y0, x1, y1 in buildings:
            under[window(x0 - grow, y0 - grow, x1 + grow, y1 + grow)] = True
        for tx, ty, r in stems:
            rows, cols = window(tx - r - grow, ty - r - grow, tx + r + grow, ty + r + grow)
            d = np.hypot(xs[cols][None, :] - tx, -down[rows][:, None] - ty)
            under[rows, cols] |= d <= r + grow
        return under


def _hills(size: float) -> Surface:
    """Rounded hills (Gaussian, flanks up to 30°), a sharp-crested ridge across the square
    (flanks 29°) and a conical spoil heap (flanks 28°): the crests a ground filter cuts."""
    # (centre x, centre y as fractions of size, height m, sigma m); max slope 0.607 h / sigma
    hills = [(0.30, 0.35, 40.0, 41.0), (0.72, 0.62, 25.0, 60.0), (0.55, 0.20, 15.0, 30.0),
             (0.20, 0.78, 18.0, 36.0)]
    ridge, heap = np.tan(np.radians(29.0)), np.tan(np.radians(28.0))

    def z(x, y):
        rounded = 30.0 + np.zeros(np.broadcast(x, y).shape)
        for cx, cy, h, s in hills:
            rounded = rounded + h * np.exp(-((x - cx * size) ** 2 + (y - cy * size) ** 2)
                                           / (2 * s * s))
        crest = 55.0 - ridge * np.abs(x + y - 1.25 * size) / np.sqrt(2.0) \
            - 0.04 * np.abs(x - y)
        cone = 62.0 - heap * np.hypot(x - 0.78 * size, y - 0.22 * size)
        return np.maximum(np.maximum(rounded, crest), cone)
    return z


def _terraces(size: float) -> Surface:
    """A hillside rising 1 : 10 to the north, cut into terraces: treads 16 m deep, risers 2 m
    high over 4 m (27°), as vineyards and allotments on a slope."""
    rise, tread, riser = 2.0, 16.0, 4.0
    step = tread + riser

    def z(x, y):
        y = np.broadcast_to(y, np.broadcast(x, y).shape)
        k, f = np.divmod(y, step)
        return 20.0 + k * rise + rise * np.clip((f - tread) / riser, 0.0, 1.0) \
            + 0.03 * x
    return z


def _embankment(size: float) -> Surface:
    """A valley (flanks up to 15°) crossed by a road embankment 5 m high (crest 10 m, sides
    1 : 1.5) and a railway cutting 4 m deep (floor 8 m, sides 1 : 1.5), both diagonal."""

    def trapezoid(d, height, half_crest, side):
        return height * np.clip((half_crest + height * side - np.abs(d)) / (height * side),
                                0.0, 1.0)

    def z(x, y):
        u, v = x / size, y / size
        valley = 25.0 + 30.0 * (u - 0.5) ** 2 * 4 + 3.0 * v
        road = (x - y) / np.sqrt(2.0)  # distance from the diagonal through the origin
        rail = (x + y - 1.3 * size) / np.sqrt(2.0)
        return valley + trapezoid(road, 5.0, 5.0, 1.5) - trapezoid(rail, 4.0, 4.0 + 6.0, 1.5)
    return z


_SURFACES = {"hills": _hills, "terraces": _terraces, "embankment": _embankment}


def relief_cloud(kind: str, seed: int = 1, size: float = 500.0, density: float = 2.0,
                 origin: tuple[float, float] = (300_000.0, 5_700_000.0)) -> ReliefCloud:
    """An unclassified cloud of ``kind`` (one of :data:`KINDS`) at ``density`` pulses/m².

    Buildings (flat roofs 4–18 m above the highest ground under them, 10–40 m across) stand on
    the terrain as they would on a slope: the roof is level, the walls reach down to the
    ground. Trees are paraboloid crowns (4–7 m radius, 8–25 m high, at least 2 m above the
    ground under them) that half the pulses pass through to the ground (their first return
    then on the crown); shrubs 1–2 m high and 1.5 m in radius stop every pulse.
    """
    if kind not in _SURFACES:
        raise ValueError(f"relief kind {kind!r}: expected one of {', '.join(KINDS)}")
    rng = rng_for(seed, f"relief-{kind}")
    ground = _SURFACES[kind](size)
    n = rng.poisson(density * size * size)
    x = np.sort(rng.uniform(0, size, n))  # sorted: an object's points are a slice
    y = rng.uniform(0, size, n)
    z = ground(x, y)
    label = np.full(n, GROUND_POINT, dtype=np.uint8)

    buildings = _place_buildings(rng, size, 14)
    for bx0, by0, bx1, by1, height in buildings:
        part = slice(*np.searchsorted(x, [bx0, bx1]))
        inside = (y[part] >= by0) & (y[part] <= by1)
        gx, gy = np.meshgrid(np.linspace(bx0, bx1, 9), np.linspace(by0, by1, 9))
        z[part][inside] = ground(gx, gy).max() + height
        label[part][inside] = ROOF_POINT

    trees = _place_trees(rng, size, buildings, 60, 30)
    extra_x, extra_y, extra_z = [], [], []
    for tx, ty, r, h in trees:
        part = slice(*np.searchsorted(x, [tx - r, tx + r]))
        px, py = x[part], y[part]
        d = np.hypot(px - tx, py - ty)
        inside = (d <= r) & (label[part] != ROOF_POINT)
        under = ground(px[inside], py[inside])
        shape = (d[inside] / r) ** 2
        if h > 3:
            base = ground(np.array([tx]), np.array([ty]))[0]
            crown = np.maximum(base + h - 0.6 * h * shape, under + 2.0)
            through = rng.random(int(inside.sum())) < 0.5
        else:
            crown = under + h * (1.0 - 0.8 * shape)
            through = np.zeros(int(inside.sum()), dtype=bool)
        idx = np.flatnonzero(inside) + part.start
        # a pulse through the crown: its first return on the crown, the last on the ground
        extra_x.append(x[idx[through]])
        extra_y.append(y[idx[through]])
        extra_z.append(crown[through])
        stop = idx[~through]
        z[stop] = np.maximum(np.where(label[stop] == GROUND_POINT, -np.inf, z[stop]),
                             crown[~through])
        label[stop] = CROWN_POINT if h > 3 else SHRUB_POINT
    z += rng.normal(0.0, 0.03, n)
    n_extra = sum(len(e) for e in extra_x)
    all_x = np.concatenate([x, *extra_x])
    all_y = np.concatenate([y, *extra_y])
    all_z = np.concatenate([z, *extra_z])
    label = np.concatenate([label, np.full(n_extra, CROWN_POINT, dtype=np.uint8)])
    x0, y0 = origin
    scale = np.array([0.01, 0.01, 0.01])
    offset = np.array([x0, y0, 0.0])
    points = Points(*(np.round(v / s).astype(np.int32)
                      for v, s in zip((all_x, all_y, all_z), scale, strict=True)),
                    scale, offset, np.ones(len(all_x), dtype=np.uint8))
    shifted = buildings[:, :4] + np.array([x0, y0, x0, y0])
    stems = np.column_stack([trees[:, 0] + x0, trees[:, 1] + y0, trees[:, 2]])
    tall = trees[:, 3] > 3
    return ReliefCloud(points, origin, size, lambda px, py: ground(px - x0, py - y0),
                       label, shifted, stems[tall], stems[~tall])


def _place_buildings(rng: np.random.Generator, size: float, count: int) -> np.ndarray:
    """(count, 5): x0, y0, x1, y1, height; footprints apart from each other and the edge."""
    out: list[tuple[float, ...]] = []
    while len(out) < count:
        w, d = rng.uniform(10.0, 40.0, 2)
        bx, by = rng.uniform(20.0, size - 20.0 - w), rng.uniform(20.0, size - 20.0 - d)
        if any(bx < o[2] + 10 and o[0] < bx + w + 10 and by < o[3] + 10 and o[1] < by + d + 10
               for o in out):
            continue
        out.append((bx, by, bx + w, by + d, rng.uniform(4.0, 18.0)))
    return np.array(out)


def _place_trees(rng: np.random.Generator, size: float, buildings: np.ndarray, count: int,
                 shrubs: int) -> np.ndarray:
    """(count + shrubs, 4): x, y, crown radius, height; none over a building."""
    out: list[tuple[float, ...]] = []
    while len(out) < count + shrubs:
        tree = len(out) < count
        r = rng.uniform(4.0, 7.0) if tree else 1.5
        h = rng.uniform(8.0, 25.0) if tree else rng.uniform(1.0, 2.0)
        tx, ty = rng.uniform(10.0, size - 10.0, 2)
        if any(tx > b[0] - r - 2 and tx < b[2] + r + 2 and ty > b[1] - r - 2 and
               ty < b[3] + r + 2 for b in buildings):
            continue
        out.append((tx, ty, r, h))
    return np.array(out)


def write_tile(cloud: ReliefCloud, path: Path, year: int = 2024) -> Path:
    """Write the cloud as an NRW-style LAZ tile (every point class 1, one return each);
    ``path`` should be named for the kilometre square the cloud starts in."""
    e, n = (round(v / 1000.0) for v in cloud.origin)
    header = make_header(e, n, year)
    header.offsets = cloud.points.offset
    las = laspy.LasData(header)
    las.X, las.Y, las.Z = cloud.points.X, cloud.points.Y, cloud.points.Z
    las.classification = cloud.points.classification
    las.return_number = np.ones(len(cloud.points), np.uint8)
    las.number_of_returns = np.ones(len(cloud.points), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        las.write(tmp)
    return path
