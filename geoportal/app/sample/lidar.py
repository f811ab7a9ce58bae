"""NRW-style airborne laser scanning tiles (LAS 1.2, point format 1, LAZ) from the scene.

Pulses are laid out in scan lines across west–east flight strips (so the file is in time order
and compresses like a real tile). Each pulse hits the top surface from ``TileSurface``; pulses
into crowns may pass through gaps or produce several returns, roofs give one. Classes follow
the NRW delivery: 2 ground, 9 water, 18 noise, 20 last return above ground, 1 first or
intermediate return above ground.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import laspy
import numpy as np

from geoportal.core.publish import atomic_path

from . import scene as sc
from .rng import rng_for
from .surface import ROOF, TREE, WATER, TileSurface

STRIP_WIDTH = 500.0
FLIGHT_HEIGHT = 1000.0
SPEED = 65.0  # m/s

# intensity mean/sd by land cover (index = land cover code) and by roof colour
_LC_INTENSITY = np.array([
    (1400, 250), (2600, 400), (2000, 300), (2800, 400), (2700, 400), (1500, 350),
    (700, 120), (1300, 200), (150, 60), (1100, 200), (2800, 400), (1600, 250)], dtype=float)
_ROOF_INTENSITY = np.array([(1700, 250), (800, 150), (1400, 200), (2600, 300), (1200, 200)],
                           dtype=float)


def gps_base(year: int) -> float:
    """Adjusted standard GPS time (GPS seconds − 1e9) of a spring flight day in ``year``."""
    epoch = dt.datetime(1980, 1, 6)
    day = dt.datetime(year, 3, 20, 9, 0, 0)
    return (day - epoch).total_seconds() + 18 - 1e9


def lidar_filename(e: int, n: int) -> str:
    return f"3dm_32_{e}_{n}_1_nw.laz"


def make_header(e: int, n: int, year: int) -> laspy.LasHeader:
    h = laspy.LasHeader(point_format=1, version="1.2")
    h.scales = np.array([0.01, 0.01, 0.01])
    h.offsets = np.array([e * 1000.0, n * 1000.0, 0.0])
    h.system_identifier = "geoportal sample city"
    h.generating_software = "geoportal.app.sample"
    h.creation_date = dt.date(year, 4, 15)
    return h


def write_tile(surface: TileSurface, path: Path, density: float, seed: int, year: int,
               parallel: bool = False, chunk_lines: int = 600) -> int:
    """Write one LiDAR tile; returns the number of points written."""
    e, n = surface.e, surface.n
    rng = rng_for(seed, "lidar", e, n)
    tree_cover = float((surface.traster >= 0).mean())
    pulses = density * 1e6 / (1.0 + 1.25 * tree_cover)
    spacing = 1.0 / np.sqrt(pulses / 1e6)
    n_lines = max(1, round(1000.0 / spacing))
    per_line = max(1, round(pulses / n_lines))
    header = make_header(e, n, year)
    backend = laspy.LazBackend.LazrsParallel if parallel else laspy.LazBackend.Lazrs
    total = 0
    # Compression follows the suffix, which the temporary name keeps; said explicitly anyway.
    with atomic_path(path) as tmp, laspy.open(
            tmp, mode="w", header=header, do_compress=path.suffix.lower() == ".laz",
            laz_backend=backend) as writer:
        for first in range(0, n_lines, chunk_lines):
            lines = np.arange(first, min(n_lines, first + chunk_lines))
            rec = _chunk(surface, rng, lines, n_lines, per_line, header, year)
            writer.write_points(rec)
            total += len(rec)
    return total


def _chunk(s: TileSurface, rng, lines, n_lines, per_line, header, year
           ) -> laspy.ScaleAwarePointRecord:
    x0, y0 = s.x0, s.y0
    nl = len(lines)
    lx = x0 + (lines + rng.uniform(0.1, 0.9, nl)) * (1000.0 / n_lines)
    # a strip flies west→east; within the tile, scan lines sweep south→north
    ys = np.sort(rng.random((nl, per_line)), axis=1) * 1000.0 + y0
    xs = lx[:, None] + rng.normal(0.0, 0.08 * 1000.0 / n_lines, (nl, per_line))
    xs = np.clip(xs, x0, x0 + 999.999)
    x = xs.ravel()
    y = ys.ravel()
    top = s.top(x, y)
    kind = top["kind"]
    # water absorbs most pulses
    keep = (kind != WATER) | (rng.random(x.size, dtype=np.float32) < 0.35)
    x, y = x[keep], y[keep]
    top = {k: v[keep] for k, v in top.items()}
    kind = top["kind"]
    m = x.size
    # under-surface below a crown: roof, water or ground
    under_z = np.where(np.isfinite(top["zroof"]), top["zroof"], top["zg"])
    under_cls = np.where(np.isfinite(top["zroof"]), 20, np.where(top["lc"] == sc.LC_WATER, 9, 2))
    tree = kind == TREE
    ti = np.where(tree, top["tree"], 0)
    rr = np.where(tree, top["dist"] / s.t["r"][ti], 1.0) if len(s.t["r"]) else np.ones(m)
    gap = tree & (rng.random(m) < 0.10 + 0.35 * rr**2)
    hit = tree & ~gap
    nret = np.ones(m, dtype=np.int64)
    nret[hit] = rng.choice([1, 2, 3, 4], size=int(hit.sum()), p=[0.22, 0.38, 0.28, 0.12])
    rep = np.repeat(np.arange(m), nret)
    starts = np.cumsum(nret) - nret
    rn = np.arange(rep.size) - starts[rep] + 1
    nr = nret[rep]
    k = kind[rep]
    hitr = hit[rep]
    gapr = gap[rep]
    under_zr = under_z[rep]
    under_cr = under_cls[rep]
    zt = top["z"][rep]
    z = np.where(gapr, under_zr, zt)
    cls = np.full(rep.size, 2, dtype=np.uint8)
    cls[(k == WATER) & ~hitr] = 9
    cls[(k == ROOF) & ~hitr] = 20
    cls[gapr] = under_cr[gapr]
    # crown returns (only the returns of crown-hitting pulses are touched)
    h_idx = np.flatnonzero(hitr)
    if h_idx.size:
        rn_h, nr_h, zt_h, uz_h = rn[h_idx], nr[h_idx], zt[h_idx], under_zr[h_idx]
        zh = zt_h - np.abs(rng.normal(0, 0.15, h_idx.size))
        ch = np.where(nr_h == 1, 20, 1).astype(np.uint8)
        last = (rn_h == nr_h) & (nr_h > 1)
        to_under = last & (rng.random(h_idx.size) < 0.7)
        zh[to_under] = uz_h[to_under]
        ch[to_under] = under_cr[h_idx][to_under]
        mid = (rn_h > 1) & ~to_under
        lo = np.maximum(top["zg"][rep[h_idx]] + s.t["base"][ti[rep[h_idx]]], uz_h + 0.5)
        hi = np.maximum(zt_h - 0.3, lo + 0.1)
        zh[mid] = lo[mid] + rng.random(int(mid.sum())) * (hi[mid] - lo[mid])
        ch[mid] = 1
        ch[last & ~to_under] = 20
        z[h_idx] = zh
        cls[h_idx] = ch
    z += rng.standard_normal(rep.size, dtype=np.float32) * 0.025
    # intensity
    lc = top["lc"][rep]
    mean = _LC_INTENSITY[lc, 0]
    sd = _LC_INTENSITY[lc, 1]
    roof_pt = (cls == 20) & (k == ROOF) & ~hitr
    if roof_pt.any():
        col = s.b["colour"][top["bld"][rep][roof_pt]]
        mean[roof_pt], sd[roof_pt] = _ROOF_INTENSITY[col, 0], _ROOF_INTENSITY[col, 1]
    veg = hitr & ~((rn == nr) & (cls != 1) & (cls != 20))
    mean[veg] = np.where(rn[veg] == 1, 2300.0, 1200.0)
    sd[veg] = 600.0
    noise_i = rng.standard_normal(rep.size, dtype=np.float32)
    inten = np.clip((mean + sd * noise_i) / np.sqrt(nr), 0, 65535).astype(np.uint16)
    # a few noise points (birds, multipath)
    noise = rng.random(rep.size, dtype=np.float32) < 2e-5
    z[noise] += np.where(rng.random(int(noise.sum())) < 0.7, rng.uniform(30, 90, int(noise.sum())),
                         -rng.uniform(5, 25, int(noise.sum())))
    cls[noise] = 18
    xr, yr = x[rep], y[rep]
    strip = np.floor(yr / STRIP_WIDTH)
    gps = (gps_base(year) + (strip - 11360) * 240.0 + (xr - 340000.0) / SPEED
           + (yr - strip * STRIP_WIDTH) * 1e-5)
    rec = laspy.ScaleAwarePointRecord.zeros(rep.size, header=header)
    rec.x, rec.y, rec.z = xr, yr, z
    rec.intensity = inten
    rec.return_number = rn.astype(np.uint8)
    rec.number_of_returns = nr.astype(np.uint8)
    rec.classification = cls
    rec.scan_angle_rank = np.clip(
        np.degrees(np.arctan((yr - (strip + 0.5) * STRIP_WIDTH) / FLIGHT_HEIGHT)), -90, 90
    ).astype(np.int8)
    rec.point_source_id = (strip.astype(np.int64) % 65536).astype(np.uint16)
    rec.gps_time = gps
    return rec
