"""Roof models fitted per footprint: flat, shed, gabled, hipped — or "complex" when none fits.

Region growing on the DSM's local planes needs a smooth surface; a 0.5 m DSM from a few points
per m² is rough at the scale of 3 × 3 cells (edges, chimneys, crowns), so the planes fall
apart. A footprint, however, tells where a roof is and which way it runs, and most roofs are
one of four shapes. So each footprint's DSM cells (one metre in from its walls, where the
DSM is not smeared down the walls) are fitted with every shape along both axes of its
minimum rotated rectangle, in the footprint's own frame (``u`` along one side, ``v`` across):

=========  ================================  ========================================
flat       z = c                             one facet
shed       z = c + a·u + b·v                 one facet
gabled     z = c − s·|v − o|                 two facets, ridge along u (or the same along v)
hipped     z = c − s·max(|v|, |u| − d)        four facets, ridge of length 2d along u (or v)
=========  ================================  ========================================

``o`` (the ridge's offset) and ``d`` (half the ridge length) are searched on a grid; for each
the fit is linear. Fits are robust: cells more than ``max(floor, 3 MAD)`` from the model
(crowns over the roof, chimneys, dormers) are dropped and the fit repeated. The simplest
shape whose residual is within ``tolerance`` of the best wins, so a noisy gabled roof is not
called hipped for a few centimetres; a roof whose best residual stays above ``max_rms_m``, or
that leaves too many cells out, is "complex" (the pipeline then falls back to region growing,
:func:`pipelines.solar.roofs.segment`).

The fitted shape gives ridge height, ridge direction and slope directly, and its facets are
the roof planes of the solar estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import shapely
from scipy import ndimage

ROOF_TYPES = ("flat", "shed", "gabled", "hipped", "complex")


@dataclass(frozen=True)
class Frame:
    """A footprint's own axes: centre, direction of ``u`` (radians from east, counter-
    clockwise) and the half lengths of its minimum rotated rectangle along ``u`` and ``v``."""

    cx: float
    cy: float
    theta: float
    half_u: float
    half_v: float

    def local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates → (u, v)."""
        dx, dy = x - self.cx, y - self.cy
        c, s = np.cos(self.theta), np.sin(self.theta)
        return dx * c + dy * s, -dx * s + dy * c

    def swapped(self) -> Frame:
        """The same rectangle with ``u`` and ``v`` exchanged (u turned by 90°)."""
        return Frame(self.cx, self.cy, self.theta + np.pi / 2, self.half_v, self.half_u)


def frame_of(polygon: shapely.Geometry) -> Frame:
    """The footprint's minimum rotated rectangle as a frame, ``u`` along its longer side."""
    ring = np.asarray(shapely.minimum_rotated_rectangle(polygon).exterior.coords)[:4]
    sides = np.diff(np.vstack([ring, ring[:1]]), axis=0)
    lengths = np.hypot(sides[:, 0], sides[:, 1])
    long_side = sides[int(np.argmax(lengths))]
    cx, cy = ring.mean(axis=0)
    return Frame(float(cx), float(cy), float(np.arctan2(long_side[1], long_side[0])),
                 float(lengths.max() / 2), float(lengths.min() / 2))


@dataclass(frozen=True)
class Shape:
    """One candidate: a roof type along a frame, with its grid parameter (offset or half
    ridge length). The height is ``c − s·f(u, v)``; shed roofs use a plane instead."""

    roof_type: str
    frame: Frame
    param: float = 0.0

    def basis(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """f(u, v): how far below the ridge a point lies, per unit of slope."""
        if self.roof_type == "gabled":
            return np.abs(v - self.param)
        if self.roof_type == "hipped":
            return np.maximum(np.abs(v), np.abs(u) - self.param)
        return np.zeros_like(u)

    def near_edge(self, u: np.ndarray, v: np.ndarray, margin: float) -> np.ndarray:
        """Points within ``margin`` of a ridge or hip line, where the DSM rounds the kink."""
        if self.roof_type == "gabled":
            return np.abs(v - self.param) < margin
        if self.roof_type == "hipped":
            return (np.abs(np.abs(v) - (np.abs(u) - self.param)) < margin * np.sqrt(2)) | \
                ((np.abs(v) < margin) & (np.abs(u) <= self.param + margin))
        return np.zeros(u.shape, bool)

    def facet(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Facet index per point: 0/1 the sides of the ridge (+v/−v), 2/3 the hips (+u/−u)."""
        side = np.where(v >= (self.param if self.roof_type == "gabled" else 0), 0, 1)
        if self.roof_type == "hipped":
            hip = np.abs(u) - self.param > np.abs(v)
            return np.where(hip, np.where(u >= 0, 2, 3), side)
        if self.roof_type == "gabled":
            return side
        return np.zeros(u.shape, int)


@dataclass(frozen=True)
class Facet:
    """One plane of a fitted roof, in map metres: z = a·x + b·y + c."""

    a: float
    b: float
    c: float

    @property
    def tilt_deg(self) -> float:
        return float(np.degrees(np.arctan(np.hypot(self.a, self.b))))

    @property
    def azimuth_deg(self) -> float:
        """The downhill direction the plane faces, clockwise from north."""
        return float(np.degrees(np.arctan2(-self.a, -self.b)) % 360)


@dataclass(frozen=True)
class RoofFit:
    """A footprint's roof: its type, heights (elevations, m), ridge direction and slope."""

    roof_type: str
    ridge_z: float
    eave_z: float
    ridge_azimuth_deg: float  # 0–180, clockwise from north; NaN for flat and complex roofs
    slope_deg: float
    rms_m: float
    inlier_share: float
    shape: Shape | None = None
    coef: tuple[float, ...] = ()  # (c, s) or, for shed roofs, (c, a, b)

    def facets(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[Facet]]:
        """Facet index of each map point, and each facet's plane (none for complex roofs)."""
        if self.shape is None:
            return np.full(x.shape, -1), []
        frame = self.shape.frame
        u, v = frame.local(x, y)
        index = self.shape.facet(u, v)
        if self.roof_type == "shed":
            c, gu, gv = self.coef
            return index, [_to_map(frame, gu, gv, c)]
        c, s = self.coef
        gradients = [(0.0, -s), (0.0, s), (-s, 0.0), (s, 0.0)]
        # a gabled roof's sides meet at v = o; a hipped roof's at v = 0, its hips at |u| = d
        side = s * self.shape.param if self.roof_type == "gabled" else 0.0
        offsets = [side, -side, s * self.shape.param, s * self.shape.param]
        count = {"flat": 1, "gabled": 2, "hipped": 4}[self.roof_type]
        if self.roof_type == "flat":
            return index, [_to_map(frame, 0.0, 0.0, c)]
        return index, [_to_map(frame, gu, gv, c + o)
                       for (gu, gv), o in zip(gradients[:count], offsets[:count], strict=True)]


def _to_map(frame: Frame, gu: float, gv: float, z0: float) -> Facet:
    """The plane z = z0 + gu·u + gv·v of a frame in map coordinates."""
    cos, sin = np.cos(frame.theta), np.sin(frame.theta)
    a, b = gu * cos - gv * sin, gu * sin + gv * cos
    return Facet(float(a), float(b), float(z0 - a * frame.cx - b * frame.cy))


@dataclass(frozen=True)
class FitRules:
    """How a model is chosen (defaults tuned on the sample city, docs/solar.md)."""

    step_m: float = 0.25  # grid step of the ridge offset
    hip_step_m: float = 0.5  # grid step of the half ridge length of hipped roofs
    max_cells: int = 600  # the shapes are compared on at most this many cells (evenly picked)
    floor_m: float = 0.2  # a cell within this of the model is never an outlier
    kink_m: float = 0.75  # cells this near a ridge or hip line are left out of the last fit
    wall_m: float = 1.5  # ... and cells this near the walls (of the footprint's rectangle)
    cap_m: float = 0.5  # an outlier adds at most this to a shape's score
    tolerance: float = 1.15  # a simpler shape wins when its residual ≤ best × this + 2 cm
    max_rms_m: float = 0.45  # above this the roof is complex (the DSM's noise is ~0.2 m)
    min_inliers: float = 0.55  # share of cells the chosen model must keep
    flat_deg: float = 5.0  # a fitted slope below this is a flat roof
    iterations: int = 5  # rounds of the robust fits (a plane's, a single fit, gets twice as many)


def fit_roof(x: np.ndarray, y: np.ndarray, z: np.ndarray, frame: Frame,
             rules: FitRules = FitRules()) -> RoofFit:
    """The roof model of a footprint from its DSM cells (map x, y; elevation z)."""
    if len(z) < 12:
        return _complex(z)
    if len(z) > rules.max_cells:
        pick = np.linspace(0, len(z) - 1, rules.max_cells).astype(int)
        x, y, z = x[pick], y[pick], z[pick]
    candidates = [Shape("flat", frame)]
    for f in (frame, frame.swapped()):
        reach = int(0.3 * f.half_v / rules.step_m)
        for o in rules.step_m * np.arange(-reach, reach + 1):
            candidates.append(Shape("gabled", f, float(o)))
        for d in np.arange(0.0, max(f.half_u - rules.hip_step_m, 0.0), rules.hip_step_m):
            candidates.append(Shape("hipped", f, float(d)))
    local = {f.theta: f.local(x, y) for f in (frame, frame.swapped())}
    basis = np.stack([s.basis(*local[s.frame.theta]) for s in candidates])
    coef, rms, share = _robust_lines(basis, z, rules)
    shed = _robust_plane(*frame.local(x, y), z, rules)
    fit = _choose(candidates, coef, rms, share, shed, frame, z, rules)
    return _refit(fit, x, y, z, rules) if fit.roof_type in ("gabled", "hipped") else fit


def _refit(fit: RoofFit, x: np.ndarray, y: np.ndarray, z: np.ndarray,
           rules: FitRules) -> RoofFit:
    """The chosen shape fitted again without the cells along its ridge and hips and near its
    eaves: the DSM rounds a roof's kinks and edges off (a cell there mixes both sides), which
    would pull the ridge down by a few decimetres on steep roofs and steepen the slope."""
    shape = fit.shape
    u, v = shape.frame.local(x, y)
    f = shape.frame
    inner = (np.abs(u) < f.half_u - rules.wall_m) & (np.abs(v) < f.half_v - rules.wall_m)
    away = ~shape.near_edge(u, v, rules.kink_m) & inner
    if away.sum() < 12:
        return fit
    coef, _, _ = _robust_lines(shape.basis(u[away], v[away])[None], z[away], rules)
    c, s = coef[0]
    eave = c - s * (f.half_v - abs(shape.param) if shape.roof_type == "gabled" else f.half_v)
    return replace(fit, ridge_z=float(c), eave_z=float(eave), coef=(float(c), float(s)),
                   slope_deg=float(np.degrees(np.arctan(abs(s)))))


def _robust_lines(basis: np.ndarray, z: np.ndarray, rules: FitRules
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust fits z = c − s·basis, one per row of ``basis`` at once: (c, s), score, inliers.

    The outlier limit comes from the median residual over *all* cells (robust to fewer than
    half being crowns or chimneys), so it does not shrink from one round to the next.
    """
    keep = np.ones(basis.shape, bool)
    for _ in range(rules.iterations):
        n = np.maximum(keep.sum(1), 1)
        mf = (basis * keep).sum(1) / n
        mz = (z * keep).sum(1) / n
        df = (basis - mf[:, None]) * keep
        var = (df * df).sum(1)
        slope = np.where(var > 1e-9, -(df * (z - mz[:, None])).sum(1) / np.maximum(var, 1e-9),
                         0.0)
        c = mz + slope * mf
        resid = z - (c[:, None] - slope[:, None] * basis)
        keep = np.abs(resid) <= _limit(resid, rules)[:, None]
    return np.stack([c, slope], 1), _score(resid, rules), keep.mean(1)


def _limit(resid: np.ndarray, rules: FitRules) -> np.ndarray:
    """The outlier limit per fit (last axis: cells): 3 robust sigmas, at least the floor."""
    return np.maximum(rules.floor_m, 3 * 1.4826 * np.median(np.abs(resid), axis=-1))


def _score(resid: np.ndarray, rules: FitRules) -> np.ndarray:
    """Root mean square of the residuals capped at ``cap_m``: comparable across shapes
    because every shape is judged on all cells, outliers counting at most the cap."""
    return np.sqrt(np.mean(np.minimum(resid**2, rules.cap_m**2), axis=-1))


def _robust_plane(u: np.ndarray, v: np.ndarray, z: np.ndarray, rules: FitRules
                  ) -> tuple[np.ndarray, float, float]:
    """Robust plane z = c + a·u + b·v: (c, a, b), score, share of inliers."""
    design = np.column_stack([np.ones_like(u), u, v])
    keep = np.ones(len(z), bool)
    for _ in range(2 * rules.iterations):
        coef = np.linalg.lstsq(design[keep], z[keep], rcond=None)[0]
        resid = z - design @ coef
        keep = np.abs(resid) <= _limit(resid, rules)
        if keep.sum() < 3:
            keep = np.ones(len(z), bool)
    return coef, float(_score(resid, rules)), float(keep.mean())


def _choose(candidates: list[Shape], coef: np.ndarray, rms: np.ndarray, share: np.ndarray,
            shed: tuple[np.ndarray, float, float], frame: Frame, z: np.ndarray,
            rules: FitRules) -> RoofFit:
    """The simplest shape within ``tolerance`` of the best, or complex."""
    kinds = np.array([s.roof_type for s in candidates])
    best: dict[str, tuple[float, float, int]] = {}
    for kind in ("flat", "gabled", "hipped"):
        rows = np.flatnonzero(kinds == kind)
        i = int(rows[np.argmin(rms[rows])])
        best[kind] = (float(rms[i]), float(share[i]), i)
    best["shed"] = (shed[1], shed[2], -1)
    lowest = min(r for r, _, _ in best.values())
    for kind in ("flat", "shed", "gabled", "hipped"):
        r, keep, i = best[kind]
        if r <= lowest * rules.tolerance + 0.02:
            break
    if r > rules.max_rms_m or keep < rules.min_inliers:
        return _complex(z, r, keep)
    if kind == "shed":
        return _shed_fit(shed, frame, rules)
    c, s = coef[i]
    shape = candidates[i]
    slope = float(np.degrees(np.arctan(abs(s))))
    if kind == "flat" or slope < rules.flat_deg or s < 0:
        c_flat = coef[best["flat"][2]][0]
        return RoofFit("flat", float(c_flat), float(c_flat), np.nan, 0.0, best["flat"][0],
                       best["flat"][1], Shape("flat", frame), (float(c_flat), 0.0))
    f = shape.frame
    eave = c - s * (f.half_v - abs(shape.param) if kind == "gabled" else f.half_v)
    return RoofFit(kind, float(c), float(eave), _axis_azimuth(f.theta), slope, r, keep, shape,
                   (float(c), float(s)))


def _shed_fit(shed: tuple[np.ndarray, float, float], frame: Frame, rules: FitRules
              ) -> RoofFit:
    """A one-plane roof: ridge is its high edge, eave its low edge (at the rectangle's walls)."""
    (c, gu, gv), r, keep = shed
    corners = np.array([(1, 1), (1, -1), (-1, 1), (-1, -1)]) * (frame.half_u, frame.half_v)
    z = c + gu * corners[:, 0] + gv * corners[:, 1]
    slope = float(np.degrees(np.arctan(np.hypot(gu, gv))))
    if slope < rules.flat_deg:
        return RoofFit("flat", float(np.median(z)), float(np.median(z)), np.nan, 0.0, r, keep,
                       Shape("flat", frame), (float(np.median(z)), 0.0))
    downhill = np.arctan2(-gv, -gu) + frame.theta  # direction in the map, from east
    return RoofFit("shed", float(z.max()), float(z.min()), _axis_azimuth(downhill + np.pi / 2),
                   slope, r, keep, Shape("shed", frame), (float(c), float(gu), float(gv)))


def _axis_azimuth(theta: float) -> float:
    """A line's direction (radians from east, counter-clockwise) as 0–180° from north."""
    return float((90.0 - np.degrees(theta)) % 180.0)


def _complex(z: np.ndarray, rms: float = np.nan, share: float = 0.0) -> RoofFit:
    """No model fits: the ridge is the 95th percentile of the cells, the eave unknown."""
    top = float(np.percentile(z, 95)) if len(z) else np.nan
    return RoofFit("complex", top, np.nan, np.nan, np.nan, rms, share)


@dataclass(frozen=True)
class Roofs:
    """The fitted roofs of a raster window: per footprint (index into the footprints list)
    its fit and its ground elevation (m)."""

    fits: dict[int, RoofFit]
    ground: dict[int, float]


def fit_footprints(dsm: np.ndarray, dtm: np.ndarray, footprints: np.ndarray,
                   polygons: list[shapely.Geometry], res: float, origin: tuple[float, float],
                   min_height_m: float, rules: FitRules = FitRules()) -> Roofs:
    """Fit every footprint of the window (``footprints``: 1-based index per cell, 0 = none).

    A footprint's cells one metre in from its edge (two erosions at 0.5 m) and at least
    ``min_height_m`` above the terrain (so a garden inside a loose footprint stays out) are
    fitted; its ground is the median terrain under the whole footprint.
    """
    fits, ground = {}, {}
    erode = max(1, round(1.0 / res))
    for index, window in enumerate(ndimage.find_objects(footprints)):
        if window is None:
            continue
        mine = footprints[window] == index + 1
        core = ndimage.binary_erosion(np.pad(mine, 1), iterations=erode)[1:-1, 1:-1]
        surface, terrain = dsm[window], dtm[window]
        core &= np.isfinite(surface) & (surface - terrain > min_height_m)
        rows, cols = np.nonzero(core)
        x = origin[0] + (cols + window[1].start + 0.5) * res
        y = origin[1] - (rows + window[0].start + 0.5) * res
        fits[index] = fit_roof(x, y, surface[core], frame_of(polygons[index]), rules)
        ground[index] = float(np.nanmedian(terrain[mine])) if np.isfinite(terrain[mine]).any() \
            else np.nan
    return Roofs(fits, ground)


def facet_labels(roofs: Roofs, footprints: np.ndarray, res: float,
                 origin: tuple[float, float], min_cells: int
                 ) -> tuple[np.ndarray, list[tuple[int, Facet]]]:
    """A raster of facet numbers (1-based, 0 = none) over the footprints' cells and, per
    number, (footprint index, plane); facets under ``min_cells`` cells are left out."""
    labels = np.zeros(footprints.shape, np.int32)
    planes: list[tuple[int, Facet]] = []
    for index, window in enumerate(ndimage.find_objects(footprints)):
        fit = roofs.fits.get(index)
        if window is None or fit is None or fit.shape is None:
            continue
        rows, cols = np.nonzero(footprints[window] == index + 1)
        x = origin[0] + (cols + window[1].start + 0.5) * res
        y = origin[1] - (rows + window[0].start + 0.5) * res
        which, facets = fit.facets(x, y)
        counts = np.bincount(which, minlength=len(facets))
        numbers = np.zeros(len(facets), np.int32)
        for k, facet in enumerate(facets):
            if counts[k] >= min_cells:
                planes.append((index, facet))
                numbers[k] = len(planes)
        labels[rows + window[0].start, cols + window[1].start] = numbers[which]
    return labels, planes


# --- the roof models as a file: what the 3D city (LoD2) reads -----------------------------

#: The published file of the fitted roof models beside the roof planes (``roof_solar``).
ROOF_MODELS = "roof_models.json"
MODEL_TYPES = ("flat", "shed", "gabled", "hipped")


def model_planes(fit: RoofFit) -> list[list[float]]:
    """All facet planes ``[a, b, c]`` (z = a·x + b·y + c, map metres, elevations) of a fitted
    roof, also those too small to be a solar plane; empty for a complex roof.

    For the four model types the roof is the lower envelope of its planes — a gabled roof
    c − s·|v − o| is the smaller of its two sides, a hipped one the smallest of four — so a
    reader rebuilds the roof over any footprint from the planes alone."""
    if fit.roof_type not in MODEL_TYPES:
        return []
    _, facets = fit.facets(np.zeros(0), np.zeros(0))
    return [[f.a, f.b, f.c] for f in facets]


def models_json(rows: dict[str, dict]) -> dict:
    """The file's content: per building id its ``roof_type``, ``ground_z_m``, ``planes`` and
    a point ``inside`` its footprint (layers with other ids for the same footprints, such as
    ``building_heights``, find their building's roof by it)."""
    return {"about": "roof models per building: the roof is the lower envelope of 'planes' "
                     "(z = a*x + b*y + c, EPSG:25832 metres, heights DHHN2016); 'inside' is "
                     "a point inside the footprint",
            "buildings": rows}
