"""Terrain as a smooth deterministic function of global coordinates (DHHN2016 heights).

Ratingen lies at the edge of the Lower Rhine plain (~45 m in the west) and the Bergisches Land
(~100–110 m in the east). The Anger has cut a valley; along it the terrain follows a smooth
west-falling profile so that the creek always flows downhill.
"""

from __future__ import annotations

import numpy as np

from .geography import creek_distance
from .rng import rng_for

_N_WAVES = 9


def _waves(seed: int) -> np.ndarray:
    """(k, 5) array: direction x, direction y, wavelength, phase, amplitude."""
    rng = rng_for(seed, "terrain-waves")
    ang = rng.uniform(0, np.pi, _N_WAVES)
    wl = np.geomspace(3200.0, 380.0, _N_WAVES) * rng.uniform(0.85, 1.15, _N_WAVES)
    amp = 0.0022 * wl * rng.uniform(0.7, 1.2, _N_WAVES)
    ph = rng.uniform(0, 2 * np.pi, _N_WAVES)
    return np.column_stack([np.cos(ang), np.sin(ang), wl, ph, amp])


_WAVE_CACHE: dict[int, np.ndarray] = {}


def terrain_height(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Ground height (m) at global coordinates; vectorised, float64."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    waves = _WAVE_CACHE.get(seed)
    if waves is None:
        waves = _WAVE_CACHE.setdefault(seed, _waves(seed))
    t = np.clip((x - 347500.0) / 12500.0, 0.0, 1.0)
    base = 45.0 + 52.0 * t**1.25 + 0.0006 * (y - 5687000.0)
    hills = np.zeros(np.broadcast(x, y).shape)
    for dx, dy, wl, ph, amp in waves:
        hills += amp * np.sin((dx * x + dy * y) * (2 * np.pi / wl) + ph)
    hills *= 0.25 + 0.75 * t
    d = creek_distance(x, y)
    valley = np.exp(-((d / 260.0) ** 2))
    z = base + hills * (1.0 - valley) - 3.5 * valley
    # the channel itself: ~1 m below the banks, flat-bottomed
    z -= 1.2 * np.exp(-((d / 5.0) ** 4))
    return z


def terrain_grid(x0: float, y0: float, size: float, step: float, seed: int) -> np.ndarray:
    """Heights on a regular grid with nodes at x0 + i*step (i = 0..size/step), rows = y."""
    n = round(size / step) + 1
    xs = x0 + step * np.arange(n)
    ys = y0 + step * np.arange(n)
    return terrain_height(xs[None, :], ys[:, None], seed)


def bilinear(grid: np.ndarray, x0: float, y0: float, step: float, x: np.ndarray,
             y: np.ndarray) -> np.ndarray:
    """Bilinear interpolation in a ``terrain_grid`` (much cheaper than the analytic function)."""
    fx = (x - x0) / step
    fy = (y - y0) / step
    n = grid.shape[0] - 1
    ix = np.clip(fx.astype(np.int64), 0, n - 1)
    iy = np.clip(fy.astype(np.int64), 0, n - 1)
    tx = fx - ix
    ty = fy - iy
    z00 = grid[iy, ix]
    z10 = grid[iy, ix + 1]
    z01 = grid[iy + 1, ix]
    z11 = grid[iy + 1, ix + 1]
    return (z00 * (1 - tx) + z10 * tx) * (1 - ty) + (z01 * (1 - tx) + z11 * tx) * ty
