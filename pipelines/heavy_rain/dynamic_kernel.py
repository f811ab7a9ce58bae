"""The dynamic model's time step compiled with numba: the same scheme as ``dynamic.step``.

The numpy step makes some 60 whole-array passes per time step (faces, limiter, continuity,
speed); this kernel makes four loops over the grid and updates the maxima on the way, about
ten times the cell updates per second on one core (bench/bench_heavy_rain.py --dynamic). The
numpy step stays the reference: tests/heavy_rain/test_dynamic.py runs both on the same case.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

G = 9.81


@_jit
def _faces(z: np.ndarray, h: np.ndarray, q: np.ndarray, is_open: np.ndarray,
           n2: np.ndarray, dt: float, dx: float, theta: float, h_min: float, h_adv: float,
           advection: bool, axis: int, hf: np.ndarray, flux: np.ndarray,
           old: np.ndarray) -> None:
    """New discharges of one family of faces in place (axis 1: between columns); ``hf``,
    ``flux`` and ``old`` are scratch arrays of ``q``'s shape (allocated once per run)."""
    rows, cols = q.shape
    for r in range(rows):
        for c in range(cols):
            r2, c2 = (r, c + 1) if axis == 1 else (r + 1, c)
            f = max(z[r, c] + h[r, c], z[r2, c2] + h[r2, c2]) - max(z[r, c], z[r2, c2])
            hf[r, c] = f if is_open[r, c] and f > h_min else 0.0
            flux[r, c] = q[r, c] * q[r, c] / f if advection and hf[r, c] > h_adv else 0.0
            old[r, c] = q[r, c]
    for r in range(rows):
        for c in range(cols):
            f = hf[r, c]
            if f <= 0.0:
                q[r, c] = 0.0
                continue
            r2, c2 = (r, c + 1) if axis == 1 else (r + 1, c)
            if axis == 1:
                b = old[r, c - 1] if c > 0 else old[r, c]
                a = old[r, c + 1] if c < cols - 1 else old[r, c]
                fb = flux[r, c - 1] if c > 0 else flux[r, c]
                fa = flux[r, c + 1] if c < cols - 1 else flux[r, c]
            else:
                b = old[r - 1, c] if r > 0 else old[r, c]
                a = old[r + 1, c] if r < rows - 1 else old[r, c]
                fb = flux[r - 1, c] if r > 0 else flux[r, c]
                fa = flux[r + 1, c] if r < rows - 1 else flux[r, c]
            qbar = theta * old[r, c] + 0.5 * (1 - theta) * (b + a)
            if advection:
                adv = flux[r, c] - fb if old[r, c] >= 0 else fa - flux[r, c]
                qbar -= dt * adv / dx
            slope = (z[r2, c2] + h[r2, c2] - z[r, c] - h[r, c]) / dx
            friction = 0.5 * (n2[r, c] + n2[r2, c2])
            q[r, c] = (qbar - G * f * dt * slope) / (
                1 + G * dt * friction * abs(old[r, c]) / (f * f * np.cbrt(f)))


def scratch(shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The kernel's scratch arrays for a padded grid of ``shape``."""
    rows, cols = shape
    x = [np.zeros((rows, cols - 1)) for _ in range(3)]
    y = [np.zeros((rows - 1, cols)) for _ in range(3)]
    return (*x, *y, np.ones(shape))


@_jit
def step(z: np.ndarray, h: np.ndarray, qx: np.ndarray, qy: np.ndarray, open_x: np.ndarray,
         open_y: np.ndarray, drain: np.ndarray, n2: np.ndarray, dt: float, dx: float,
         theta: float, source: np.ndarray, raining: bool, advection: bool, h_min: float,
         h_adv: float, max_depth: np.ndarray, max_speed: np.ndarray,
         scratch: tuple[np.ndarray, ...]) -> tuple[float, float, float]:
    """One step in place; returns the water (m per cell area) that left by drains and the
    fastest cell's speed and the deepest cell's depth. ``max_depth``/``max_speed`` (padded)
    take this step's maxima. ``scratch``: :func:`scratch` of the grid."""
    _faces(z, h, qx, open_x, n2, dt, dx, theta, h_min, h_adv, advection, 1, scratch[0],
           scratch[1], scratch[2])
    _faces(z, h, qy, open_y, n2, dt, dx, theta, h_min, h_adv, advection, 0, scratch[3],
           scratch[4], scratch[5])
    rows, cols = h.shape
    factor = scratch[6]
    for r in range(rows):  # a cell gives at most what it holds
        for c in range(cols):
            factor[r, c] = 1.0
            out = 0.0
            if c < cols - 1:
                out += max(qx[r, c], 0.0)
            if c > 0:
                out += max(-qx[r, c - 1], 0.0)
            if r < rows - 1:
                out += max(qy[r, c], 0.0)
            if r > 0:
                out += max(-qy[r - 1, c], 0.0)
            need = out * dt / dx
            if need > h[r, c]:
                factor[r, c] = h[r, c] / need
    for r in range(rows):
        for c in range(cols - 1):
            qx[r, c] *= factor[r, c] if qx[r, c] > 0 else factor[r, c + 1]
    for r in range(rows - 1):
        for c in range(cols):
            qy[r, c] *= factor[r, c] if qy[r, c] > 0 else factor[r + 1, c]
    gone, umax, hmax = 0.0, 0.0, 0.0
    for r in range(rows):
        for c in range(cols):
            net, ux, uy = 0.0, 0.0, 0.0
            if c < cols - 1:
                net -= qx[r, c]
                ux += 0.5 * qx[r, c]
            if c > 0:
                net += qx[r, c - 1]
                ux += 0.5 * qx[r, c - 1]
            if r < rows - 1:
                net -= qy[r, c]
                uy += 0.5 * qy[r, c]
            if r > 0:
                net += qy[r - 1, c]
                uy += 0.5 * qy[r - 1, c]
            value = h[r, c] + net * (dt / dx)
            if raining and 0 < r < rows - 1 and 0 < c < cols - 1:
                value += source[r - 1, c - 1] * dt
            value = max(value, 0.0)
            if drain[r, c]:
                gone += value
                value = 0.0
            h[r, c] = value
            hmax = max(hmax, value)
            if value > max_depth[r, c]:
                max_depth[r, c] = value
            if value > 0.01:
                u = np.sqrt(ux * ux + uy * uy) / value
                if u > max_speed[r, c]:
                    max_speed[r, c] = u
                if u > umax:
                    umax = u
    return gone, umax, hmax
