"""The street lattice: nodes, land use of 500 m macro blocks, and which edges are streets.

Streets live on a global jittered lattice with 125 m spacing (8 lines per km, so cells and
tiles contain whole lattice quads). Every 4th line is an arterial (a 500 m grid of main roads
that also crosses fields and forest, so the whole network is one connected component).
Inside built-up macro blocks the lines at 250 m are residential streets, and the 125 m lines in
between exist per 250 m group depending on a per-group mode; that gives irregular blocks of
125×125, 125×250 or 250×250 m. Only nodes on the 250 m grid are jittered freely; the others
slide along the straight line between their neighbours, so merged blocks have straight sides.
Everything here is a pure function of lattice indices and the seed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely

from . import geography as geo
from .rng import hash_uniform

S = 125.0  #: lattice spacing (m)
LINES_PER_KM = 8

# macro-block land use codes
FIELD, FOREST, PARK, RESIDENTIAL, CENTRE, BUSINESS, VERGE = range(7)
USE_NAMES = ["field", "forest", "park", "residential", "centre", "business", "verge"]
BUILT = (RESIDENTIAL, CENTRE, BUSINESS)

# edge classes
NONE, SERVICE, RESIDENTIAL_ST, SECONDARY, PRIMARY = range(5)
CLASS_NAMES = {SERVICE: "service", RESIDENTIAL_ST: "residential", SECONDARY: "secondary",
               PRIMARY: "primary"}
HALF_WIDTH = np.array([0.0, 3.0, 6.0, 9.0, 11.0])  #: corridor half width incl. sidewalk
CARRIAGE_HALF = np.array([0.0, 2.5, 3.25, 4.5, 6.0])
MAXSPEED = {SERVICE: 30, RESIDENTIAL_ST: 30, SECONDARY: 50, PRIMARY: 50}


def node_xy(i: np.ndarray, j: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of lattice nodes (vectorised over integer index arrays)."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    i, j = np.broadcast_arrays(i, j)
    x = np.empty(i.shape)
    y = np.empty(i.shape)
    ei, ej = i % 2 == 0, j % 2 == 0
    m = ei & ej
    x[m], y[m] = _even_xy(i[m], j[m], seed)
    m = ~ei & ej  # on a horizontal line between two even nodes
    if m.any():
        x[m], y[m] = _slide(i[m] - 1, j[m], i[m] + 1, j[m], seed, "slide-h", i[m], j[m])
    m = ei & ~ej
    if m.any():
        x[m], y[m] = _slide(i[m], j[m] - 1, i[m], j[m] + 1, seed, "slide-v", i[m], j[m])
    m = ~ei & ~ej
    if m.any():
        ii, jj = i[m], j[m]
        bx, by = _slide(ii, jj - 1 - 0, ii, jj - 1, seed, "", ii, jj, only_h=True)
        tx, ty = _slide(ii, jj + 1, ii, jj + 1, seed, "", ii, jj, only_h=True)
        lx, ly = _slide(ii - 1, jj, ii - 1, jj, seed, "", ii, jj, only_v=True)
        rx, ry = _slide(ii + 1, jj, ii + 1, jj, seed, "", ii, jj, only_v=True)
        x[m], y[m] = _intersect(bx, by, tx, ty, lx, ly, rx, ry)
    return x, y


def _even_xy(i: np.ndarray, j: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    jx = (hash_uniform(seed, "node-x", i, j) - 0.5) * 36.0
    jy = (hash_uniform(seed, "node-y", i, j) - 0.5) * 36.0
    return i * S + jx, j * S + jy


def _slide(i0, j0, i1, j1, seed, stream, ki, kj, only_h=False, only_v=False):
    """Point on the segment between even nodes; used for odd nodes and odd-odd helpers."""
    if only_h:  # (odd i, even j) node, recomputed
        x0, y0 = _even_xy(i0 - 1, j0, seed)
        x1, y1 = _even_xy(i0 + 1, j0, seed)
        t = 0.5 + 0.3 * (hash_uniform(seed, "slide-h", i0, j0) - 0.5)
    elif only_v:  # (even i, odd j)
        x0, y0 = _even_xy(i0, j0 - 1, seed)
        x1, y1 = _even_xy(i0, j0 + 1, seed)
        t = 0.5 + 0.3 * (hash_uniform(seed, "slide-v", i0, j0) - 0.5)
    else:
        x0, y0 = _even_xy(i0, j0, seed)
        x1, y1 = _even_xy(i1, j1, seed)
        t = 0.5 + 0.3 * (hash_uniform(seed, stream, ki, kj) - 0.5)
    return x0 + t * (x1 - x0), y0 + t * (y1 - y0)


def _intersect(ax, ay, bx, by, cx, cy, dx, dy):
    """Intersection of segment a–b with segment c–d (they cross inside a convex quad)."""
    r_x, r_y = bx - ax, by - ay
    s_x, s_y = dx - cx, dy - cy
    den = r_x * s_y - r_y * s_x
    t = ((cx - ax) * s_y - (cy - ay) * s_x) / den
    return ax + t * r_x, ay + t * r_y


# ---------------------------------------------------------------- land use of macro blocks

MOTORWAY_HALF_WIDTH = 15.0  #: paved half width of a 2×3-lane motorway
MOTORWAY_CLEAR = 32.0  #: no buildings, parcels' trees or local streets closer than this


@lru_cache(maxsize=4)
def motorway_zone() -> shapely.Geometry:
    zone = motorway_union().buffer(MOTORWAY_CLEAR)
    shapely.prepare(zone)
    return zone


@lru_cache(maxsize=4)
def motorway_union() -> shapely.Geometry:
    geom = shapely.union_all([shapely.LineString(v) for v in geo.MOTORWAYS.values()])
    shapely.prepare(geom)
    return geom


URBAN_THRESHOLD = 0.3


def macro_use(mx: np.ndarray, my: np.ndarray, seed: int) -> np.ndarray:
    """Land use code of 500 m macro blocks (index = lattice index // 4)."""
    mx = np.asarray(mx, dtype=np.int64)
    my = np.asarray(my, dtype=np.int64)
    cx = (mx + 0.5) * 4 * S
    cy = (my + 0.5) * 4 * S
    u = geo.urbanness(cx, cy)
    b = geo.business_score(cx, cy)
    f = geo.forest_score(cx, cy)
    c = geo.centre_score(cx, cy)
    n1 = hash_uniform(seed, "macro-use", mx, my)
    n2 = hash_uniform(seed, "macro-park", mx, my)
    use = np.full(mx.shape, FIELD)
    urban = u + 0.35 * (n1 - 0.5) > URBAN_THRESHOLD
    use[urban] = RESIDENTIAL
    use[urban & (c > 0.45)] = CENTRE
    use[(f + 0.3 * (n2 - 0.5) > 0.55) & ~(urban & (u > 0.9))] = FOREST
    use[(use == FIELD) & (u > 0.3) & (n2 < 0.35)] = PARK
    use[(use == RESIDENTIAL) & (n2 > 0.93)] = PARK
    use[(b > 0.25) & (use != FOREST)] = BUSINESS
    return use


def is_built(use: np.ndarray) -> np.ndarray:
    return np.isin(use, BUILT)


def group_mode(gi: np.ndarray, gj: np.ndarray, seed: int) -> np.ndarray:
    """Per 250 m group: 0 = four 125 m blocks, 1 = no horizontal mid street, 2 = no vertical."""
    h = hash_uniform(seed, "group-mode", gi, gj)
    return np.where(h < 0.5, 0, np.where(h < 0.75, 1, 2))


def edge_class(i: np.ndarray, j: np.ndarray, d: np.ndarray, seed: int) -> np.ndarray:
    """Street class of the lattice edge from node (i, j) in direction d (0 = +x, 1 = +y).

    Returns ``NONE`` where the edge is not a street.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    i, j, d = np.broadcast_arrays(i, j, d)
    line = np.where(d == 0, j, i)  # the lattice line the edge lies on
    along = np.where(d == 0, i, j)
    out = np.full(i.shape, NONE)
    art = line % 4 == 0
    # macros on both sides of an arterial edge
    ma = along // 4
    mb_lo = line // 4 - 1
    mb_hi = line // 4
    mx_lo = np.where(d == 0, ma, mb_lo)
    my_lo = np.where(d == 0, mb_lo, ma)
    mx_hi = np.where(d == 0, ma, mb_hi)
    my_hi = np.where(d == 0, mb_hi, ma)
    use_lo = macro_use(mx_lo, my_lo, seed)
    use_hi = macro_use(mx_hi, my_hi, seed)
    quiet = ~is_built(use_lo) & ~is_built(use_hi)
    out[art] = np.where(line[art] % 8 == 0, PRIMARY, SECONDARY)
    out[art & quiet & (line % 8 != 0)] = SERVICE
    # interior lines: the macro containing the edge
    mx = np.where(d == 0, i // 4, i // 4)
    my = np.where(d == 0, j // 4, j // 4)
    use = macro_use(mx, my, seed)
    built = is_built(use)
    even = line % 2 == 0
    out[~art & built & even] = RESIDENTIAL_ST
    odd = ~even & built & (use != BUSINESS)
    mode = group_mode(i // 2, j // 2, seed)
    keep_odd = np.where(d == 0, mode != 1, mode != 2)
    out[~art & odd & keep_odd] = RESIDENTIAL_ST
    local = out == RESIDENTIAL_ST
    if local.any():
        xi, yi = i[local] * S, j[local] * S
        near = _near_motorway(xi, yi, 3 * S)
        if near.any():
            idx = np.flatnonzero(local)[near]
            x0, y0 = node_xy(i[idx], j[idx], seed)
            x1, y1 = node_xy(i[idx] + (d[idx] == 0), j[idx] + (d[idx] == 1), seed)
            segs = shapely.linestrings(np.stack([np.c_[x0, y0], np.c_[x1, y1]], axis=1))
            out[idx[shapely.intersects(segs, motorway_zone())]] = NONE
    return out


def _near_motorway(x: np.ndarray, y: np.ndarray, dist: float) -> np.ndarray:
    """Cheap pre-filter: within ``dist`` of a motorway vertex chain (bounding test)."""
    pts = shapely.points(x, y)
    return shapely.dwithin(pts, motorway_union(), dist)


def line_street_name(d: np.ndarray, line: np.ndarray, along: np.ndarray, klass: np.ndarray,
                     seed: int) -> np.ndarray:
    """Street name of an edge: arterials keep a name for 1 km, others per macro block."""
    from .names import ARTERIAL_NAMES, BUSINESS_NAMES, RESIDENTIAL_NAMES, SERVICE_NAMES

    d = np.asarray(d)
    seg = np.where(klass >= SECONDARY, along // 8, along // 4)
    h = hash_uniform(seed, "street-name", d, line, seg)
    out = np.empty(d.shape, dtype=object)
    for k, pool in ((PRIMARY, ARTERIAL_NAMES), (SECONDARY, ARTERIAL_NAMES),
                    (SERVICE, SERVICE_NAMES), (RESIDENTIAL_ST, RESIDENTIAL_NAMES)):
        m = klass == k
        out[m] = np.asarray(pool, dtype=object)[(h[m] * len(pool)).astype(int)]
    # streets inside business parks get business-park names
    mx = np.where(d == 0, along // 4, line // 4)
    my = np.where(d == 0, line // 4, along // 4)
    m = (klass == RESIDENTIAL_ST) & (macro_use(mx, my, seed) == BUSINESS)
    out[m] = np.asarray(BUSINESS_NAMES, dtype=object)[(h[m] * len(BUSINESS_NAMES)).astype(int)]
    return out


def edges_from(i0: int, i1: int, j0: int, j1: int, seed: int) -> dict[str, np.ndarray]:
    """All street edges whose start node lies in index ranges [i0, i1) × [j0, j1)."""
    ii, jj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="xy")
    ii = np.concatenate([ii.ravel(), ii.ravel()])
    jj = np.concatenate([jj.ravel(), jj.ravel()])
    dd = np.repeat([0, 1], ii.size // 2)
    k = edge_class(ii, jj, dd, seed)
    m = k != NONE
    ii, jj, dd, k = ii[m], jj[m], dd[m], k[m]
    order = np.lexsort((dd, ii, jj))
    ii, jj, dd, k = ii[order], jj[order], dd[order], k[order]
    x0, y0 = node_xy(ii, jj, seed)
    x1, y1 = node_xy(ii + (dd == 0), jj + (dd == 1), seed)
    line = np.where(dd == 0, jj, ii)
    along = np.where(dd == 0, ii, jj)
    names = line_street_name(dd, line, along, k, seed)
    return {"i": ii, "j": jj, "d": dd, "klass": k, "x0": x0, "y0": y0, "x1": x1, "y1": y1,
            "name": names}
