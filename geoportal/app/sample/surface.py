"""What a sensor sees from above a tile: the top surface of terrain, roofs and crowns.

``TileSurface`` rasterises the 3×3-cell neighbourhood once per tile (building ids at 0.25 m,
top-crown ids and land cover at 0.5 m, terrain at 1 m) and then answers vectorised queries at
arbitrary points with exact analytic roof planes and crown surfaces. LiDAR pulses and orthophoto
pixels both go through ``top()``, which is what keeps the two products consistent.
"""

from __future__ import annotations

import numpy as np
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_origin

from . import scene as sc
from . import species as sp
from .terrain import bilinear, terrain_grid

GROUND, WATER, ROOF, TREE = 0, 1, 2, 3
B_RES = 0.25
T_RES = 0.5
LC_PRIORITY = {sc.LC_SIDEWALK: 1, sc.LC_PATH: 2, sc.LC_ASPHALT: 3, sc.LC_WATER: 4}


def crown_height(h: np.ndarray, r: np.ndarray, base: np.ndarray, conifer: np.ndarray,
                 d: np.ndarray) -> np.ndarray:
    """Height above ground of the crown's upper surface at distance ``d`` from the stem.

    Broadleaf crowns are paraboloids (apex at the tree height), conifers near-cones; the
    visible depth is capped so the crown edge never drops below the crown base.
    """
    depth = np.where(conifer, np.minimum(h - base, 2.5 * r), np.minimum(0.8 * (h - base), 1.1 * r))
    p = np.where(conifer, 1.15, 2.0)
    return h - depth * (d / r) ** p


class TileSurface:
    def __init__(self, seed: int, year: int, e: int, n: int, roofs: str = "flat_gabled"):
        self.seed, self.e, self.n = seed, year, e
        self.e, self.n = e, n
        self.x0, self.y0 = e * 1000.0, n * 1000.0
        cells = sc.neighbourhood(seed, year, e, n, roofs=roofs)
        self.cells = cells
        self.zgrid = terrain_grid(self.x0, self.y0, 1000.0, 1.0, seed)
        self._init_buildings(cells)
        self._init_trees(cells)
        self._init_landcover(cells)

    # ------------------------------------------------------------------ setup
    def _bbox_mask(self, x, y, pad):
        return ((x > self.x0 - pad) & (x < self.x0 + 1000 + pad) & (y > self.y0 - pad)
                & (y < self.y0 + 1000 + pad))

    def _init_buildings(self, cells) -> None:
        b = sc.concat([c.buildings for c in cells])
        m = self._bbox_mask(b["cx"], b["cy"], 40.0)
        self.b = {k: v[m] for k, v in b.items()}
        polys = sc.building_polygons(self.b)
        size = round(1000 / B_RES)
        tr = from_origin(self.x0, self.y0 + 1000.0, B_RES, B_RES)
        if len(polys):
            self.braster = rasterize(zip(polys, np.arange(1, len(polys) + 1), strict=True),
                                     out_shape=(size, size), transform=tr, fill=0,
                                     dtype="int32") - 1
        else:
            self.braster = np.full((size, size), -1, dtype=np.int32)

    def _init_trees(self, cells) -> None:
        t = sc.concat([c.trees for c in cells])
        m = ~t["felled"] & self._bbox_mask(t["x"], t["y"], 12.0)
        self.t = {k: v[m] for k, v in t.items()}
        self.t_conifer = sp.CONIFER[self.t["species"]]
        size = round(1000 / T_RES)
        flat = np.full(size * size, -1, dtype=np.int64)
        x, y, r = self.t["x"], self.t["y"], self.t["r"]
        rpx = np.ceil(r / T_RES).astype(np.int64)
        for k in np.unique(rpx):
            idx = np.flatnonzero(rpx == k)
            off = np.arange(-k, k + 1)
            ox, oy = np.meshgrid(off, off)
            ox, oy = ox.ravel(), oy.ravel()
            ci = np.floor((x[idx] - self.x0) / T_RES).astype(np.int64)
            cj = np.floor((self.y0 + 1000.0 - y[idx]) / T_RES).astype(np.int64)
            col = ci[:, None] + ox[None, :]
            row = cj[:, None] + oy[None, :]
            px = self.x0 + (col + 0.5) * T_RES
            py = self.y0 + 1000.0 - (row + 0.5) * T_RES
            d = np.hypot(px - x[idx, None], py - y[idx, None])
            ok = (d < r[idx, None]) & (col >= 0) & (col < size) & (row >= 0) & (row < size)
            tid = np.broadcast_to(idx[:, None], ok.shape)[ok]
            z = crown_height(self.t["h"][tid], r[tid], self.t["base"][tid],
                             self.t_conifer[tid], d[ok])
            key = (np.round(z * 100).astype(np.int64) << 32) | tid
            np.maximum.at(flat, row[ok] * size + col[ok], key)
        self.traster = np.where(flat >= 0, flat & 0xFFFFFFFF, -1).reshape(size, size)

    def _init_landcover(self, cells) -> None:
        lc = sc.concat([c.landcover for c in cells])
        bbox = shapely.box(self.x0 - 5, self.y0 - 5, self.x0 + 1005, self.y0 + 1005)
        m = shapely.intersects(lc["geometry"], bbox)
        geoms, codes = lc["geometry"][m], lc["code"][m]
        rank = np.array([LC_PRIORITY.get(int(c), 0) for c in codes])
        order = np.argsort(rank, kind="stable")
        shapes = list(zip(geoms[order], codes[order], strict=True))
        creek = sc.creek_polygon(self.x0, self.x0 + 1000).intersection(bbox)
        if not creek.is_empty:
            shapes.append((creek, sc.LC_WATER))
        mw = sc.motorway_polygon().intersection(bbox)
        if not mw.is_empty:
            shapes.append((mw, sc.LC_ASPHALT))
        size = round(1000 / T_RES)
        tr = from_origin(self.x0, self.y0 + 1000.0, T_RES, T_RES)
        self.lc = rasterize(shapes, out_shape=(size, size), transform=tr, fill=sc.LC_MEADOW,
                            dtype="uint8") if shapes else np.full((size, size), sc.LC_MEADOW,
                                                                  np.uint8)

    # ------------------------------------------------------------------ queries
    def _pix(self, x, y, res, size):
        col = np.clip(((x - self.x0) / res).astype(np.int64), 0, size - 1)
        row = np.clip(((self.y0 + 1000.0 - y) / res).astype(np.int64), 0, size - 1)
        return row, col

    def top(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Top surface at points: kind, z, ground z, land cover, object index, crown distance."""
        zg = bilinear(self.zgrid, self.x0, self.y0, 1.0, x, y)
        row, col = self._pix(x, y, T_RES, self.lc.shape[0])
        lc = self.lc[row, col]
        kind = np.where(lc == sc.LC_WATER, WATER, GROUND).astype(np.int8)
        z = zg.copy()
        # roofs
        brow, bcol = self._pix(x, y, B_RES, self.braster.shape[0])
        bi = self.braster[brow, bcol]
        hasb = bi >= 0
        zr = np.full(x.shape, -np.inf)
        facet = np.zeros(x.shape, dtype=np.int8)
        if hasb.any():
            k = bi[hasb]
            b = self.b
            dx, dy = x[hasb] - b["cx"][k], y[hasb] - b["cy"][k]
            v = -dx * np.sin(b["angle"][k]) + dy * np.cos(b["angle"][k])
            u = dx * np.cos(b["angle"][k]) + dy * np.sin(b["angle"][k])
            rel, facet[hasb] = sc.roof_heights(b, k, u, v)
            zr[hasb] = b["ground"][k] + rel
            kind[hasb] = ROOF
            z[hasb] = zr[hasb]
        # crowns
        ti = self.traster[row, col]
        dist = np.full(x.shape, np.inf)
        hast = ti >= 0
        if hast.any():
            k = ti[hast]
            t = self.t
            d = np.hypot(x[hast] - t["x"][k], y[hast] - t["y"][k])
            inside = d < t["r"][k]
            zt = zg[hast] + crown_height(t["h"][k], t["r"][k], t["base"][k], self.t_conifer[k],
                                         np.minimum(d, t["r"][k]))
            win = inside & (zt > zr[hast])
            idx = np.flatnonzero(hast)[win]
            kind[idx] = TREE
            z[idx] = zt[win]
            dist[idx] = d[win]
            ti = np.where(hast, ti, -1)
            ti[np.flatnonzero(hast)[~win]] = -1
        else:
            ti = np.full(x.shape, -1)
        return {"kind": kind, "z": z, "zg": zg, "lc": lc, "tree": ti, "bld": bi, "zroof": zr,
                "dist": dist, "facet": facet}
