"""The vector scene on the global 1 km cell grid.

``cell_scene(seed, year, e, n)`` builds everything a 1 km cell owns: its street edges (start
node in the cell), blocks (lower-left lattice node in the cell) with their parcels, buildings,
trees and land cover, plus street trees along its edges. A cell's content is drawn only from
generators keyed by (seed, stream, e, n, block), so it is identical however many other cells
are generated with it. Renderers (LiDAR, orthophoto) use the 3×3 neighbourhood of a tile,
because crowns, roofs and streets reach across cell edges.

Over 500 lines on purpose: the random streams of one cell are drawn in a fixed order across
streets, blocks, parcels, buildings and trees; kept in one module, a change that would reorder
them (and so change every sample file) is visible in one diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import shapely

from . import geography as geo
from . import network as net
from . import species as sp
from .rng import hash_uniform, rng_for

# block uses beyond the macro uses
PUBLIC, CREEKPARK = 7, 8
USE_NAMES = [*net.USE_NAMES, "public", "creekpark"]

# land cover codes (rendered into LiDAR intensity and orthophoto colours)
LC_FIELD_SOIL, LC_FIELD_CROP, LC_FIELD_STUBBLE, LC_MEADOW, LC_LAWN, LC_FOREST_FLOOR = range(6)
LC_ASPHALT, LC_SIDEWALK, LC_WATER, LC_PAVED, LC_PARK, LC_PATH = range(6, 12)
N_LC = 12

# roof colour classes
ROOF_RED, ROOF_ANTHRACITE, ROOF_GREY, ROOF_WHITE, ROOF_BROWN = range(5)
FLAT, GABLED, HIPPED, SHED, STEPPED = 0, 1, 2, 3, 4
#: The roof model type each roof code should be found as (a stepped flat roof is "complex").
ROOF_NAMES = ("flat", "gabled", "hipped", "shed", "complex")

# ALKIS tatsächliche Nutzung per parcel kind
NUTZUNG = {
    "residential": "Wohnbaufläche", "centre": "Fläche gemischter Nutzung",
    "business": "Industrie- und Gewerbefläche", "public": "Fläche besonderer funktionaler Prägung",
    "park": "Grünanlage", "creekpark": "Grünanlage", "forest": "Wald", "field": "Landwirtschaft",
    "verge": "Landwirtschaft", "street": "Straßenverkehr",
}
FUNCTION_TEXT = {1000: "Wohngebäude", 1100: "Gemischt genutztes Gebäude mit Wohnen",
                 2000: "Gebäude für Wirtschaft oder Gewerbe",
                 3000: "Gebäude für öffentliche Zwecke",
                 3020: "Gebäude für Bildung und Forschung"}


@dataclass
class Columns:
    """A tiny column store: equal-length lists per field, concatenated to numpy at the end."""

    data: dict[str, list] = field(default_factory=dict)

    def add(self, **cols) -> None:
        n = None
        for k, v in cols.items():
            arr = np.atleast_1d(np.asarray(v)) if not isinstance(v, list) else v
            n = len(arr) if n is None else n
            self.data.setdefault(k, []).append(arr)

    def finish(self, schema: dict[str, object]) -> dict[str, np.ndarray]:
        out = {}
        for k, dtype in schema.items():
            parts = self.data.get(k, [])
            if parts:
                out[k] = np.concatenate([np.asarray(p, dtype=dtype) for p in parts])
            else:
                out[k] = np.empty(0, dtype=dtype)
        return out


PARCEL_SCHEMA = {"geometry": object, "kind": object, "street": object, "hnr": np.int64,
                 "block": np.int64, "zaehler": np.int64, "nenner": np.int64, "gem": np.int64,
                 "flur": np.int64, "owner_kind": np.int64}
BUILDING_SCHEMA = {"bid": np.int64, "cx": float, "cy": float, "angle": float, "len_u": float,
                   "len_v": float, "roof": np.int64, "eave": float, "ridge": float,
                   "ground": float, "func": np.int64, "floors": np.int64, "colour": np.int64,
                   "in_alkis": bool, "address": object}
TREE_SCHEMA = {"tid": np.int64, "x": float, "y": float, "h": float, "r": float, "base": float,
               "species": np.int64, "setting": np.int64, "felled": bool, "in_cadastre": bool,
               "cad_id": np.int64, "planted": np.int64, "street": object, "shade": float}
LC_SCHEMA = {"geometry": object, "code": np.int64}


@dataclass
class CellScene:
    e: int
    n: int
    edges: dict[str, np.ndarray]
    parcels: dict[str, np.ndarray]
    buildings: dict[str, np.ndarray]
    trees: dict[str, np.ndarray]
    landcover: dict[str, np.ndarray]
    blocks: list[dict]

    @property
    def code(self) -> int:
        return self.e * 10000 + self.n


def bilinear(c: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Map unit-square parameters to a quad with corners c = [c00, c10, c11, c01] (4, 2)."""
    u = np.asarray(u, dtype=np.float64)[..., None]
    v = np.asarray(v, dtype=np.float64)[..., None]
    return ((1 - u) * (1 - v)) * c[0] + (u * (1 - v)) * c[1] + (u * v) * c[2] + ((1 - u) * v) * c[3]


def quad_polys(c: np.ndarray, u0, u1, v0, v1) -> np.ndarray:
    """Polygons for parameter rectangles [u0,u1]×[v0,v1] inside quad ``c`` (vectorised)."""
    u0, u1, v0, v1 = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (u0, u1, v0, v1)))
    pts = np.stack([bilinear(c, u0, v0), bilinear(c, u1, v0), bilinear(c, u1, v1),
                    bilinear(c, u0, v1)], axis=-2)
    return shapely.polygons(pts)


# ------------------------------------------------------------------------------- blocks

def _cell_blocks(seed: int, e: int, n: int) -> list[dict]:
    """Blocks owned by the cell: lattice rectangles whose sides are streets (or field edges)."""
    gi, gj = np.meshgrid(np.arange(4 * e, 4 * e + 4), np.arange(4 * n, 4 * n + 4), indexing="xy")
    gi, gj = gi.ravel(), gj.ravel()
    use = net.macro_use(gi // 2, gj // 2, seed)
    mode = net.group_mode(gi, gj, seed)
    rects = []
    for g_i, g_j, u, m in zip(gi, gj, use, mode, strict=True):
        i0, j0 = 2 * g_i, 2 * g_j
        if u in (net.RESIDENTIAL, net.CENTRE):
            if m == 0:
                rects += [(i0 + a, j0 + b, 1, 1, u) for b in (0, 1) for a in (0, 1)]
            elif m == 1:
                rects += [(i0, j0, 1, 2, u), (i0 + 1, j0, 1, 2, u)]
            else:
                rects += [(i0, j0, 2, 1, u), (i0, j0 + 1, 2, 1, u)]
        else:
            rects.append((i0, j0, 2, 2, u))
    blocks = []
    for k, (i0, j0, wi, wj, u) in enumerate(rects):
        ii = np.array([i0, i0 + wi, i0 + wi, i0])
        jj = np.array([j0, j0, j0 + wj, j0 + wj])
        x, y = net.node_xy(ii, jj, seed)
        corners = np.column_stack([x, y])
        # sides: bottom, right, top, left -> (i, j, d)
        si = np.array([i0, i0 + wi, i0, i0])
        sj = np.array([j0, j0, j0 + wj, j0])
        sd = np.array([0, 1, 0, 1])
        klass = net.edge_class(si, sj, sd, seed)
        names = net.line_street_name(sd, np.where(sd == 0, sj, si), np.where(sd == 0, si, sj),
                                     klass, seed)
        blocks.append({"k": k, "i0": i0, "j0": j0, "wi": wi, "wj": wj, "use": int(u),
                       "corners": corners, "klass": klass, "names": names,
                       "hw": net.HALF_WIDTH[klass]})
    _override_uses(seed, blocks)
    return blocks


def _override_uses(seed: int, blocks: list[dict]) -> None:
    for b in blocks:
        c = b["corners"]
        samples = np.vstack([c, c.mean(axis=0), bilinear(c, np.array([0.5, 0.5, 0, 1]),
                                                         np.array([0, 1, 0.5, 0.5]))])
        near_creek = geo.creek_distance(samples[:, 0], samples[:, 1]).min() < 45.0
        h = float(hash_uniform(seed, "block-use", b["i0"], b["j0"]))
        u = b["use"]
        if u in net.BUILT and near_creek:
            b["use"] = CREEKPARK
        elif u == net.RESIDENTIAL and b["wi"] * b["wj"] == 1:
            b["use"] = net.PARK if h < 0.07 else PUBLIC if h < 0.14 else u
        elif u == net.CENTRE and b["wi"] * b["wj"] == 1:
            b["use"] = net.PARK if h < 0.06 else PUBLIC if h < 0.16 else u
        elif u == net.BUSINESS:
            b["use"] = net.PARK if h < 0.06 else u
        elif u == net.PARK and near_creek:
            b["use"] = CREEKPARK


def _inner(b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Inner block (inside the street corridors) and its parameter insets (a_b, a_r, a_t, a_l)."""
    c = b["corners"]
    width = 0.5 * (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3]))
    height = 0.5 * (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1]))
    hw = b["hw"]
    a = np.array([hw[0] / height, hw[1] / width, hw[2] / height, hw[3] / width])
    inner = bilinear(c, np.array([a[3], 1 - a[1], 1 - a[1], a[3]]),
                     np.array([a[0], a[0], 1 - a[2], 1 - a[2]]))
    return inner, a


# ------------------------------------------------------------------------------- cells

class _Ctx:
    """Accumulators and id counters for one cell."""

    def __init__(self, seed: int, year: int, e: int, n: int):
        self.seed, self.year, self.e, self.n = seed, year, e, n
        self.roofs = "flat_gabled"
        self.code = e * 10000 + n
        self.parcels = Columns()
        self.buildings = Columns()
        self.trees = Columns()
        self.lc = Columns()
        self.n_buildings = 0
        self.n_trees = 0

    def tree_ids(self, k: int) -> np.ndarray:
        ids = self.code * 1_000_000 + self.n_trees + np.arange(k)
        self.n_trees += k
        return ids

    def building_ids(self, k: int) -> np.ndarray:
        ids = self.code * 100_000 + self.n_buildings + np.arange(k)
        self.n_buildings += k
        return ids


def cell_scene(seed: int, year: int, e: int, n: int, roofs: str = "flat_gabled") -> CellScene:
    """Everything the cell (e, n) owns. Pure function of its arguments."""
    return _cell_scene_cached(seed, year, e, n, roofs)


@lru_cache(maxsize=48)
def _cell_scene_cached(seed: int, year: int, e: int, n: int, roofs: str) -> CellScene:
    ctx = _Ctx(seed, year, e, n)
    ctx.roofs = roofs
    blocks = _cell_blocks(seed, e, n)
    for b in blocks:
        _fill_block(ctx, b)
    edges = net.edges_from(8 * e, 8 * e + 8, 8 * n, 8 * n + 8, seed)
    _street_trees(ctx, edges)
    _street_landcover(ctx, edges)
    trees = ctx.trees.finish(TREE_SCHEMA)
    buildings = ctx.buildings.finish(BUILDING_SCHEMA)
    trees, buildings = _clear_zones(trees, buildings)
    return CellScene(e, n, edges, ctx.parcels.finish(PARCEL_SCHEMA), buildings, trees,
                     ctx.lc.finish(LC_SCHEMA), blocks)


def _clear_zones(trees: dict, buildings: dict) -> tuple[dict, dict]:
    """No trees in the creek or on the motorway; no buildings next to either."""
    def keep(x, y, creek_min, mw_min):
        ok = geo.creek_distance(x, y) > creek_min
        if x.size:
            ok &= ~shapely.dwithin(shapely.points(x, y), net.motorway_union(), mw_min)
        return ok

    kt = keep(trees["x"], trees["y"], geo.CREEK_HALF_WIDTH + 1.5, net.MOTORWAY_HALF_WIDTH + 4)
    kb = keep(buildings["cx"], buildings["cy"], 14.0, net.MOTORWAY_CLEAR)
    return ({k: v[kt] for k, v in trees.items()}, {k: v[kb] for k, v in buildings.items()})


def _fill_block(ctx: _Ctx, b: dict) -> None:
    rng = rng_for(ctx.seed, "block", b["i0"], b["j0"])
    inner, _ = _inner(b)
    _frame_parcels(ctx, b, inner)
    use = b["use"]
    if use in (net.RESIDENTIAL, net.CENTRE, net.BUSINESS):
        _lots(ctx, b, inner, rng)
    elif use == PUBLIC:
        _public(ctx, b, inner, rng)
    elif use in (net.PARK, CREEKPARK):
        _park(ctx, b, inner, rng)
    elif use == net.FOREST:
        _strips(ctx, b, inner, rng, "forest", LC_FOREST_FLOOR)
        _forest(ctx, b, inner, rng)
    else:
        _strips(ctx, b, inner, rng, "field", None)


def _frame_parcels(ctx: _Ctx, b: dict, inner: np.ndarray) -> None:
    """Street parcels: the trapezoids between the block's outline and its inner block."""
    c = b["corners"]
    pieces = [(c[0], c[1], inner[1], inner[0]), (c[1], c[2], inner[2], inner[1]),
              (c[2], c[3], inner[3], inner[2]), (c[3], c[0], inner[0], inner[3])]
    for side, pts in enumerate(pieces):
        if b["hw"][side] <= 0:
            continue
        poly = shapely.Polygon(np.array(pts))
        if poly.area < 1.0:
            continue
        ctx.parcels.add(geometry=[poly], kind=["street"], street=[b["names"][side]], hnr=[0],
                        block=[b["k"]], zaehler=[90 + side], nenner=[0], gem=[-1], flur=[-1],
                        owner_kind=[1])
        ctx.lc.add(geometry=[poly], code=[LC_SIDEWALK])


def _lot_frames(inner: np.ndarray, rng: np.random.Generator, mean_w: float):
    """Lots along the two long sides of the inner block.

    Yields (polygons, front points, front direction t, inward normal nrm, widths, depth, side).
    """
    w_u = np.linalg.norm(inner[1] - inner[0])
    w_v = np.linalg.norm(inner[3] - inner[0])
    along_u = w_u >= w_v
    length = w_u if along_u else w_v
    out = []
    for row in (0, 1):
        k = max(1, round(length / mean_w))
        w = rng.uniform(0.75, 1.25, k)
        cuts = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
        a0, a1 = cuts[:-1], cuts[1:]
        r0, r1 = (0.0, 0.5) if row == 0 else (0.5, 1.0)
        if along_u:
            polys = quad_polys(inner, a0, a1, r0, r1)
            fv = 0.0 if row == 0 else 1.0
            f0, f1 = bilinear(inner, a0, fv), bilinear(inner, a1, fv)
            back = bilinear(inner, 0.5 * (a0 + a1), 0.5)
        else:
            polys = quad_polys(inner, r0, r1, a0, a1)
            fu = 0.0 if row == 0 else 1.0
            f0, f1 = bilinear(inner, fu, a0), bilinear(inner, fu, a1)
            back = bilinear(inner, 0.5, 0.5 * (a0 + a1))
        front = 0.5 * (f0 + f1)
        t = f1 - f0
        widths = np.linalg.norm(t, axis=1)
        t = t / widths[:, None]
        nrm = back - front
        depths = np.linalg.norm(nrm, axis=1)
        nrm = nrm / depths[:, None]
        # which block side the lot faces: bottom(0)/top(2) or left(3)/right(1)
        side = (0 if row == 0 else 2) if along_u else (3 if row == 0 else 1)
        out.append((polys, front, t, nrm, widths, depths, side))
    return out


def _house_numbers(front: np.ndarray, side: int) -> np.ndarray:
    """Numbers increase along the street; odd on one side, even on the other."""
    pos = front[:, 0] if side in (0, 2) else front[:, 1]
    base = np.floor(np.mod(pos, 4000.0) / 18.0).astype(np.int64) + 1
    return 2 * base + (1 if side in (0, 3) else 0) - 1 + (0 if side in (0, 3) else 1)


def _lots(ctx: _Ctx, b: dict, inner: np.ndarray, rng: np.random.Generator) -> None:
    use = b["use"]
    mean_w = {net.RESIDENTIAL: 15.0, net.CENTRE: 12.0, net.BUSINESS: 40.0}[use]
    kind = net.USE_NAMES[use]
    for polys, front, t, nrm, widths, depths, side in _lot_frames(inner, rng, mean_w):
        k = len(polys)
        street = np.full(k, b["names"][side], dtype=object)
        hnr = _house_numbers(front, side)
        ctx.parcels.add(geometry=list(polys), kind=[kind] * k, street=list(street),
                        hnr=hnr, block=np.full(k, b["k"]), zaehler=np.zeros(k, int),
                        nenner=np.zeros(k, int), gem=np.full(k, -1), flur=np.full(k, -1),
                        owner_kind=np.where(use == net.BUSINESS, 2, 0) * np.ones(k, int))
        lc = LC_PAVED if use == net.BUSINESS else LC_LAWN
        ctx.lc.add(geometry=list(polys), code=np.full(k, lc))
        _buildings_on_lots(ctx, use, rng, front, t, nrm, widths, depths, street, hnr)
        if use == net.RESIDENTIAL:
            _garden_trees(ctx, rng, front, t, nrm, widths, depths)


def _buildings_on_lots(ctx, use, rng, front, t, nrm, widths, depths, street, hnr) -> None:
    k = len(widths)
    if use == net.RESIDENTIAL:
        bw = np.minimum(widths - 5.0, rng.uniform(8.0, 13.0, k))
        bd = rng.uniform(9.0, 13.0, k)
        sb = rng.uniform(3.0, 7.0, k)
        lateral = (rng.random(k) - 0.5) * np.maximum(widths - bw - 5.0, 0.0)
        floors = rng.integers(1, 3, k)
        roof = (rng.random(k) < 0.75).astype(int)
        func = np.full(k, 1000)
        colour = rng.choice([ROOF_RED, ROOF_ANTHRACITE, ROOF_BROWN, ROOF_GREY], k,
                            p=[0.45, 0.3, 0.15, 0.1])
    elif use == net.CENTRE:
        bw = widths - 0.3
        bd = rng.uniform(11.0, 16.0, k)
        sb = rng.uniform(0.0, 2.0, k)
        lateral = np.zeros(k)
        floors = rng.integers(3, 7, k)
        roof = (rng.random(k) < 0.5).astype(int)
        func = np.where(rng.random(k) < 0.6, 1100, 1000)
        colour = rng.choice([ROOF_RED, ROOF_ANTHRACITE, ROOF_GREY], k, p=[0.35, 0.4, 0.25])
    else:
        bw = widths * rng.uniform(0.55, 0.8, k)
        bd = depths * rng.uniform(0.45, 0.7, k)
        sb = rng.uniform(8.0, 16.0, k)
        lateral = (rng.random(k) - 0.5) * (widths - bw) * 0.5
        floors = np.where(rng.random(k) < 0.25, rng.integers(3, 6, k), 1)
        roof = np.zeros(k, int)
        func = np.full(k, 2000)
        colour = rng.choice([ROOF_GREY, ROOF_WHITE, ROOF_ANTHRACITE], k, p=[0.5, 0.35, 0.15])
    bd = np.minimum(bd, depths - sb - 4.0)
    ok = (bw >= 6.0) & (bd >= 6.0) & (rng.random(k) < (0.93 if use != net.BUSINESS else 0.85))
    centre = front + t * lateral[:, None] + nrm * (sb + bd / 2)[:, None]
    _add_buildings(ctx, rng, centre[ok], t[ok], bw[ok], bd[ok], roof[ok], floors[ok], func[ok],
                   colour[ok], [f"{s} {h}" for s, h in zip(street[ok], hnr[ok], strict=True)],
                   flat_storey=3.6 if use == net.BUSINESS else 3.0)


def _add_buildings(ctx, rng, centre, t, bw, bd, roof, floors, func, colour, address,
                   flat_storey=3.0) -> None:
    """Buildings as oriented rectangles; gabled ridges mostly parallel to the street."""
    k = len(bw)
    if k == 0:
        return
    angle = np.arctan2(t[:, 1], t[:, 0])
    # gabled: the ridge runs along u; turn 30 % of the houses gable-to-street
    turn = (roof == GABLED) & (rng.random(k) < 0.3)
    angle = np.where(turn, angle + np.pi / 2, angle)
    len_u = np.where(turn, bd, bw)
    len_v = np.where(turn, bw, bd)
    storey = np.where(roof == GABLED, 2.9, flat_storey)
    eave = floors * storey + rng.uniform(0.3, 1.0, k)
    eave = np.where(func == 2000, np.maximum(eave, rng.uniform(7.0, 13.0, k)), eave)
    pitch = np.radians(rng.uniform(30.0, 45.0, k))
    ridge = np.where(roof == GABLED, eave + 0.5 * len_v * np.tan(pitch), eave)
    ridge = np.minimum(ridge, 25.0)
    from .terrain import terrain_height

    ground = terrain_height(centre[:, 0], centre[:, 1], ctx.seed)
    ids = ctx.building_ids(k)
    in_alkis = hash_uniform(ctx.seed, "alkis-missing", ids) >= 0.02
    floors = floors + (roof == GABLED)
    if ctx.roofs == "all":
        roof, ridge = _roof_variants(ctx.seed, ids, roof, eave, ridge, len_u, len_v, func)
    ctx.buildings.add(bid=ids, cx=centre[:, 0], cy=centre[:, 1], angle=angle, len_u=len_u,
                      len_v=len_v, roof=roof, eave=eave, ridge=ridge, ground=ground, func=func,
                      floors=floors, colour=colour, in_alkis=in_alkis,
                      address=list(address))


def _roof_variants(seed: int, ids: np.ndarray, roof: np.ndarray, eave: np.ndarray,
                   ridge: np.ndarray, len_u: np.ndarray, len_v: np.ndarray, func: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The opt-in roofs (``roofs="all"``): a third of the gabled houses long enough for it
    hipped (hips as steep as the sides, so the ridge is len_u − len_v long), half the flat
    houses a shed roof of 8–20° rising across v, and a quarter of the flat halls stepped (the
    half at u > 0 raised by 2.5–4.5 m: no single model fits, "complex").

    Drawn from per-building hashes, not the cell's stream: every other object of the scene
    is the default one, and the positions, eaves and ALKIS records do not change."""
    pick = hash_uniform(seed, "roof-variant", ids)
    size = hash_uniform(seed, "roof-variant-size", ids)
    hipped = (roof == GABLED) & (pick < 0.35) & (len_u >= len_v + 2.0)
    shed = (roof == FLAT) & (func != 2000) & (pick < 0.5)
    stepped = (roof == FLAT) & (func == 2000) & (pick < 0.25)
    roof = np.select([hipped, shed, stepped], [HIPPED, SHED, STEPPED], roof)
    ridge = np.select([shed, stepped],
                      [eave + len_v * np.tan(np.radians(8.0 + 12.0 * size)),
                       eave + 2.5 + 2.0 * size], ridge)
    return roof, np.minimum(ridge, 25.0)


def roof_heights(b: dict[str, np.ndarray], k: np.ndarray, u: np.ndarray, v: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The roof's height above the ground at local (u, v) of buildings ``k``, and its facet
    (+1/−1 the two sides of a ridge or hip, 0 flat) for the orthophoto's shading."""
    roof, eave, ridge = b["roof"][k], b["eave"][k], b["ridge"][k]
    half_u, half_v = b["len_u"][k] / 2, b["len_v"][k] / 2
    rise = ridge - eave
    frac = np.clip(np.abs(v) / half_v, 0, 1)
    hip = np.clip(np.maximum(np.abs(v), np.abs(u) - (half_u - half_v)) / half_v, 0, 1)
    rel = np.select(
        [roof == GABLED, roof == HIPPED, roof == SHED, roof == STEPPED],
        [eave + rise * (1 - frac), eave + rise * (1 - hip),
         eave + rise * np.clip((v + half_v) / (2 * half_v), 0, 1),
         np.where(u > 0, ridge, eave)], eave)
    on_hip = np.abs(u) - (half_u - half_v) > np.abs(v)
    facet = np.select([roof == GABLED, roof == HIPPED, roof == SHED],
                      [np.where(v >= 0, 1, -1),
                       np.where(on_hip, np.where(u >= 0, 1, -1), np.where(v >= 0, 1, -1)),
                       np.ones_like(roof)], 0)
    return rel, facet


def _garden_trees(ctx, rng, front, t, nrm, widths, depths) -> None:
    k = len(widths)
    has = rng.random(k) < 0.45
    count = np.where(has, rng.integers(1, 3, k), 0)
    idx = np.repeat(np.arange(k), count)
    m = idx.size
    if m == 0:
        return
    back = depths[idx] - rng.uniform(3.5, 9.0, m)
    lat = (rng.random(m) - 0.5) * np.maximum(widths[idx] - 4.0, 0.0)
    pos = front[idx] + t[idx] * lat[:, None] + nrm[idx] * back[:, None]
    _add_trees(ctx, rng, pos, sp.GARDEN, rng.integers(8, 60, m), street="")


def _add_trees(ctx, rng, pos, setting, age, street="", species=None, planted=None,
               felled=None, cadastre=False) -> None:
    m = len(pos)
    if m == 0:
        return
    spc = sp.pick_species(rng, setting, m) if species is None else species
    h, r, base = sp.grow(rng, spc, age, setting)
    ids = ctx.tree_ids(m)
    felled = np.zeros(m, bool) if felled is None else felled
    if cadastre:
        in_cad = felled | (hash_uniform(ctx.seed, "cadastre-missing", ids) >= 0.06)
    else:
        in_cad = np.zeros(m, bool)
    cad_id = np.where(in_cad, ((ctx.e % 100) * 100 + ctx.n % 100) * 100_000
                      + (ids % 100_000), -1)
    ctx.trees.add(tid=ids, x=pos[:, 0], y=pos[:, 1], h=h, r=r, base=base, species=spc,
                  setting=np.full(m, setting), felled=felled, in_cadastre=in_cad, cad_id=cad_id,
                  planted=ctx.year - age if planted is None else planted,
                  street=[street] * m if isinstance(street, str) else list(street),
                  shade=rng.uniform(0.85, 1.15, m))


def _public(ctx: _Ctx, b: dict, inner: np.ndarray, rng: np.random.Generator) -> None:
    poly = shapely.Polygon(inner)
    side = int(np.argmax(b["hw"]))
    street = b["names"][side]
    ctx.parcels.add(geometry=[poly], kind=["public"], street=[street],
                    hnr=[1 + 2 * rng.integers(0, 40)],
                    block=[b["k"]], zaehler=[0], nenner=[0], gem=[-1], flur=[-1],
                    owner_kind=[1])
    ctx.lc.add(geometry=[poly], code=[LC_PAVED])
    u = inner[1] - inner[0]
    t = u / np.linalg.norm(u)
    nrm = np.array([-t[1], t[0]])
    mid = inner.mean(axis=0)
    centres = np.array([mid - nrm * 12.0, mid + nrm * 22.0 + t * 15.0])
    bw = np.array([rng.uniform(40, 60), rng.uniform(25, 32)])
    bd = np.array([rng.uniform(13, 17), rng.uniform(18, 22)])
    func = np.array([3020 if rng.random() < 0.7 else 3000, 3000])
    _add_buildings(ctx, rng, centres, np.vstack([t, t]), bw, bd, np.array([0, 0]),
                   np.array([rng.integers(2, 4), 1]), func,
                   np.array([ROOF_GREY, ROOF_GREY]), [f"{street} 1"] * 2, flat_storey=3.6)
    pts = bilinear(inner, rng.uniform(0.05, 0.95, 10), rng.uniform(0.05, 0.95, 10))
    far = np.min(np.hypot(pts[:, None, 0] - centres[None, :, 0],
                          pts[:, None, 1] - centres[None, :, 1]), axis=1) > 35
    _add_trees(ctx, rng, pts[far], sp.PARK, rng.integers(10, 70, int(far.sum())), street=street,
               cadastre=True)


def _park(ctx: _Ctx, b: dict, inner: np.ndarray, rng: np.random.Generator) -> None:
    poly = shapely.Polygon(inner)
    side = int(np.argmax(b["hw"])) if b["hw"].max() > 0 else 0
    street = b["names"][side] or "Angerpark"
    kind = net.USE_NAMES[net.PARK] if b["use"] == net.PARK else "creekpark"
    ctx.parcels.add(geometry=[poly], kind=[kind], street=[street], hnr=[0], block=[b["k"]],
                    zaehler=[0], nenner=[0], gem=[-1], flur=[-1], owner_kind=[1])
    ctx.lc.add(geometry=[poly], code=[LC_PARK])
    area = poly.area
    # scattered free-standing trees: jittered grid, thinned
    sp_ = rng.uniform(17.0, 24.0)
    nu = max(1, int(np.linalg.norm(inner[1] - inner[0]) / sp_))
    nv = max(1, int(np.linalg.norm(inner[3] - inner[0]) / sp_))
    uu, vv = np.meshgrid((np.arange(nu) + 0.5) / nu, (np.arange(nv) + 0.5) / nv)
    uu = uu.ravel() + rng.uniform(-0.25, 0.25, uu.size) / nu
    vv = vv.ravel() + rng.uniform(-0.25, 0.25, vv.size) / nv
    keep = rng.random(uu.size) < 0.35
    pts = bilinear(inner, np.clip(uu[keep], 0.03, 0.97), np.clip(vv[keep], 0.03, 0.97))
    # groups (closed canopy clumps)
    groups = []
    for _ in range(rng.integers(1, 4) if area > 6000 else 0):
        centre = bilinear(inner, rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
        k = rng.integers(5, 13)
        ang = rng.uniform(0, 2 * np.pi, k)
        rad = 5.5 * np.sqrt(np.arange(k) + rng.random(k))
        groups.append(centre + np.column_stack([np.cos(ang) * rad, np.sin(ang) * rad]))
    if groups:
        g = np.vstack(groups)
        if len(pts):
            from scipy.spatial import cKDTree

            d, _ = cKDTree(g).query(pts)
            pts = pts[d > 9.0]
        pts = np.vstack([pts, g])
    pond = None
    if b["use"] == net.PARK and area > 12000 and rng.random() < 0.35:
        cen = inner.mean(axis=0)
        rx, ry = rng.uniform(15, 28), rng.uniform(9, 16)
        pond = shapely.affinity.rotate(
            shapely.affinity.scale(shapely.Point(cen).buffer(1.0, 24), rx, ry),
            rng.uniform(0, 180))
        ctx.lc.add(geometry=[pond], code=[LC_WATER])
        pts = pts[~shapely.dwithin(shapely.points(pts), pond, 2.0)] if len(pts) else pts
    # a path across the park
    v_path = np.array([rng.uniform(0.2, 0.8), 0.5, rng.uniform(0.2, 0.8)])
    path = shapely.LineString(bilinear(inner, np.array([0.0, 0.45, 1.0]), v_path))
    ctx.lc.add(geometry=[path.buffer(1.5)], code=[LC_PATH])
    if len(pts):
        pts = pts[~shapely.dwithin(shapely.points(pts), path, 2.5)]
    ages = rng.integers(8, 120, len(pts))
    setting_species = None
    if b["use"] == CREEKPARK and len(pts):
        setting_species = sp.pick_species(rng, sp.PARK, len(pts))
        alder = geo.creek_distance(pts[:, 0], pts[:, 1]) < 25
        setting_species[alder] = sp.NAME_DE.tolist().index("Schwarz-Erle")
    _add_trees(ctx, rng, pts, sp.PARK, ages, street=street, species=setting_species,
               felled=rng.random(len(pts)) < 0.04, cadastre=True)


def _forest(ctx: _Ctx, b: dict, inner: np.ndarray, rng: np.random.Generator) -> None:
    spacing = rng.uniform(5.2, 6.6)
    nu = max(1, int(np.linalg.norm(inner[1] - inner[0]) / spacing))
    nv = max(1, int(np.linalg.norm(inner[3] - inner[0]) / spacing))
    uu, vv = np.meshgrid((np.arange(nu) + 0.5) / nu, (np.arange(nv) + 0.5) / nv)
    uu = uu.ravel() + rng.uniform(-0.3, 0.3, uu.size) / nu
    vv = vv.ravel() + rng.uniform(-0.3, 0.3, vv.size) / nv
    keep = rng.random(uu.size) > 0.07  # gaps
    pts = bilinear(inner, uu[keep], vv[keep])
    m = len(pts)
    stand_age = rng.uniform(50, 120)
    ages = np.clip(stand_age + rng.normal(0, 15, m), 15, 200)
    young = rng.random(m) < 0.12  # understory
    ages[young] = rng.uniform(10, 25, int(young.sum()))
    _add_trees(ctx, rng, pts, sp.FOREST, ages.astype(int))


def _strips(ctx: _Ctx, b: dict, inner: np.ndarray, rng: np.random.Generator, kind: str,
            lc: int | None) -> None:
    k = int(rng.integers(1, 5) if kind == "forest" else rng.integers(2, 7))
    w = rng.uniform(0.6, 1.4, k)
    cuts = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    polys = quad_polys(inner, cuts[:-1], cuts[1:], 0.0, 1.0)
    side = int(np.argmax(b["hw"])) if b["hw"].max() > 0 else 0
    street = b["names"][side] or "Feldflur"
    ctx.parcels.add(geometry=list(polys), kind=[kind] * k, street=[street] * k,
                    hnr=np.zeros(k, int), block=np.full(k, b["k"]), zaehler=np.zeros(k, int),
                    nenner=np.zeros(k, int), gem=np.full(k, -1), flur=np.full(k, -1),
                    owner_kind=np.where(kind == "forest", 3, 0) * np.ones(k, int))
    codes = np.full(k, lc) if lc is not None else rng.choice(
        [LC_FIELD_SOIL, LC_FIELD_CROP, LC_FIELD_STUBBLE, LC_MEADOW], k, p=[0.3, 0.35, 0.15, 0.2])
    ctx.lc.add(geometry=list(polys), code=codes)


def _street_trees(ctx: _Ctx, edges: dict[str, np.ndarray]) -> None:
    rng = rng_for(ctx.seed, "street-trees", ctx.e, ctx.n)
    p_trees = {net.PRIMARY: 0.45, net.SECONDARY: 0.35, net.RESIDENTIAL_ST: 0.14,
               net.SERVICE: 0.06}
    for k in range(len(edges["i"])):
        klass = int(edges["klass"][k])
        h = hash_uniform(ctx.seed, "edge-trees", edges["i"][k], edges["j"][k], edges["d"][k])
        if h >= p_trees[klass]:
            continue
        p0 = np.array([edges["x0"][k], edges["y0"][k]])
        p1 = np.array([edges["x1"][k], edges["y1"][k]])
        length = float(np.linalg.norm(p1 - p0))
        spacing = rng.uniform(8.0, 15.0)
        s = np.arange(10.0, length - 9.0, spacing)
        if s.size == 0:
            continue
        t = (p1 - p0) / length
        nrm = np.array([-t[1], t[0]])
        both = rng.random() < (0.8 if klass >= net.SECONDARY else 0.45)
        sides = [1.0, -1.0] if both else [float(rng.choice([1.0, -1.0]))]
        off = net.HALF_WIDTH[klass] - 1.4 if klass != net.SERVICE else 4.0
        pos = np.vstack([p0 + np.outer(s + rng.normal(0, 0.3, s.size), t) + side * off * nrm
                         for side in sides])
        m = len(pos)
        main = sp.pick_species(rng, sp.STREET, 1)[0]
        spc = np.where(rng.random(m) < 0.88, main, sp.pick_species(rng, sp.STREET, m))
        planted = int(rng.integers(1955, ctx.year - 3))
        replanted = rng.random(m) < 0.1
        plant_years = np.where(replanted, rng.integers(max(planted, 1990), ctx.year - 1, m),
                               planted + rng.integers(-1, 2, m))
        plant_years = np.minimum(plant_years, ctx.year - 1)
        _add_trees(ctx, rng, pos, sp.STREET, ctx.year - plant_years, street=edges["name"][k],
                   species=spc, planted=plant_years, felled=rng.random(m) < 0.04,
                   cadastre=True)


def _street_landcover(ctx: _Ctx, edges: dict[str, np.ndarray]) -> None:
    if len(edges["i"]) == 0:
        return
    lines = shapely.linestrings(np.stack([np.c_[edges["x0"], edges["y0"]],
                                          np.c_[edges["x1"], edges["y1"]]], axis=1))
    polys = shapely.buffer(lines, net.CARRIAGE_HALF[edges["klass"]], cap_style="square")
    ctx.lc.add(geometry=list(polys), code=np.full(len(polys), LC_ASPHALT))


# ------------------------------------------------------------------------------- helpers

def neighbourhood(seed: int, year: int, e: int, n: int, ring: int = 1,
                  roofs: str = "flat_gabled") -> list[CellScene]:
    """The cell and its neighbours (for rendering a tile)."""
    return [cell_scene(seed, year, e + de, n + dn, roofs)
            for dn in range(-ring, ring + 1) for de in range(-ring, ring + 1)]


def concat(dicts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not dicts:
        return {}
    return {k: np.concatenate([d[k] for d in dicts]) for k in dicts[0]}


def building_polygons(b: dict[str, np.ndarray]) -> np.ndarray:
    """Footprints of oriented-rectangle buildings (vectorised)."""
    cu, su = np.cos(b["angle"]), np.sin(b["angle"])
    hu, hv = b["len_u"] / 2, b["len_v"] / 2
    corners = []
    for a, c in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        corners.append(np.column_stack([b["cx"] + a * hu * cu - c * hv * su,
                                        b["cy"] + a * hu * su + c * hv * cu]))
    return shapely.polygons(np.stack(corners, axis=1))


def creek_polygon(x0: float, x1: float) -> shapely.Geometry:
    xs = np.arange(x0 - 20.0, x1 + 20.0, 4.0)
    line = shapely.LineString(np.column_stack([xs, geo.creek_y(xs)]))
    return line.buffer(geo.CREEK_HALF_WIDTH)


def motorway_polygon() -> shapely.Geometry:
    return net.motorway_union().buffer(net.MOTORWAY_HALF_WIDTH)
