"""The dynamic heavy-rain model: a 2-D local-inertial shallow-water simulation.

The screening (``model.py``) says where water collects; the maps cities buy from engineering
offices also say how deep it runs on its way and how fast. This is the scheme of Bates, Horritt
& Fewtrell (2010, J. Hydrol. 387) with the θ-weighted discharge of de Almeida, Bates, Freer &
Souvignet (2012, WRR 48): unit discharges ``q`` (m²/s) on the cell faces of a staggered grid,
water depth ``h`` in the cells,

    q⁺ = (θ q + (1−θ)/2 (q₋ + q₊) − g h_f Δt ∂η/∂x) / (1 + g Δt n² |q| / h_f^{7/3})
    h⁺ = h + Δt (Σ q_in − Σ q_out) / Δx + Δt r

with the flow depth ``h_f = max(η) − max(z)`` across the face (no flow where it is dry), the
Manning friction implicit, rain ``r`` as a source (the rain rate times the surface's run-off
coefficient) and the time step from the CFL condition ``Δt = α Δx / √(g h_max)``.

- Buildings are obstacles: no face touching one carries water. Rain on a roof is given to the
  open cells along the building's wall (the downpipes), so the roof's run-off is not lost.
- Water leaves over the grid's edge and into cells without terrain ("drains"): a drain is a
  dry cell at the height of its nearest terrain whose water is counted out after each step.
- A cell never gives more water than it holds: its outgoing discharges are scaled down in the
  step they would empty it (mass is conserved to round-off: rain in = stored + out).

On float64 (float32 would lose the mass balance over thousands of steps); the step is
vectorised numpy (``step``, the reference) or the same scheme compiled with numba
(``dynamic_kernel.step``, the default, about 2.5 times faster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipelines.heavy_rain import dynamic_kernel

G = 9.81
#: Depth below which a face carries no water (m): thinner films are numerical dust.
H_MIN = 1e-4
#: Depth below which no velocity is reported (m): |q|/h of a film is no flow anyone meets.
H_VELOCITY = 0.01


@dataclass(frozen=True)
class Settings:
    """Numerical settings of the simulation (``params.model.dynamic`` in the YAML)."""

    manning_n: float = 0.035      # s/m^(1/3); urban surfaces 0.013–0.05
    theta: float = 0.9            # de Almeida et al. (2012): 1 is Bates et al. (2010)
    alpha: float = 0.7            # CFL factor: Δt = α Δx / (|u| + √(g h)) at the fastest cell
    advection: bool = True        # keep ∂(qu)/∂x (upwind); False: the pure local-inertial form
    engine: str = "numba"         # or "numpy", the reference the kernel is tested against
    max_dt: float = 10.0          # s, while (almost) everything is dry


@dataclass
class Result:
    """Maxima over the simulated time and the water balance (m³)."""

    max_depth: np.ndarray       # m per cell (0 in obstacles)
    max_speed: np.ndarray       # m/s per cell (0 where never deeper than H_VELOCITY)
    depth: np.ndarray           # m per cell at the end
    rain_m3: float              # what the rain put on the open cells
    stored_m3: float            # on the grid at the end
    out_m3: float               # left over the edge or into drains
    steps: int
    cells: int                  # open cells updated per step

    @property
    def balance_error(self) -> float:
        """(rain − stored − out) / rain: 0 up to round-off."""
        return (self.rain_m3 - self.stored_m3 - self.out_m3) / max(self.rain_m3, 1e-30)


@dataclass
class State:
    """The padded grid the scheme steps on (one ring of drains around the terrain)."""

    z: np.ndarray        # terrain, drains at their nearest terrain's height
    h: np.ndarray        # water depth
    qx: np.ndarray       # unit discharge on the faces between columns (ny, nx-1)
    qy: np.ndarray       # unit discharge on the faces between rows (ny-1, nx)
    open_x: np.ndarray   # faces that may carry water (no obstacle on either side)
    open_y: np.ndarray
    drain: np.ndarray    # cells whose water leaves the model
    n2: np.ndarray       # Manning n² per cell


def prepare(z: np.ndarray, obstacles: np.ndarray, h0: np.ndarray | None = None,
            manning_n: float | np.ndarray = 0.035, closed: bool = False) -> State:
    """The padded state: NaN terrain and the outer ring become drains (or walls, ``closed``)."""
    valid = np.isfinite(z)
    drain = np.pad(~valid & ~obstacles, 1, constant_values=True)
    wall = np.pad(obstacles, 1, constant_values=False)
    if closed:
        wall |= drain
        drain = np.zeros_like(drain)
    zp = np.pad(np.where(valid, z, np.nan).astype(np.float64), 1, constant_values=np.nan)
    if np.isfinite(zp).any():
        nearest = ndimage.distance_transform_edt(~np.isfinite(zp), return_distances=False,
                                                 return_indices=True)
        zp = zp[tuple(nearest)]
    else:
        zp = np.zeros_like(zp)
    h = np.zeros_like(zp)
    if h0 is not None:
        h[1:-1, 1:-1] = np.where(valid & ~obstacles, h0, 0)
    free = ~wall
    n = np.broadcast_to(np.asarray(manning_n, np.float64), z.shape)
    n2 = np.pad(n, 1, mode="edge") ** 2
    return State(z=zp, h=h, qx=np.zeros((zp.shape[0], zp.shape[1] - 1)),
                 qy=np.zeros((zp.shape[0] - 1, zp.shape[1])),
                 open_x=free[:, :-1] & free[:, 1:], open_y=free[:-1, :] & free[1:, :],
                 drain=drain, n2=n2)


def _face_discharge(q: np.ndarray, eta_a: np.ndarray, eta_b: np.ndarray, z_a: np.ndarray,
                    z_b: np.ndarray, is_open: np.ndarray, n2: np.ndarray | float, dt: float,
                    dx: float, theta: float, axis: int, advection: bool = False) -> np.ndarray:
    """New discharges on one family of faces (from cell a to cell b is positive)."""
    hf = np.maximum(eta_a, eta_b) - np.maximum(z_a, z_b)
    wet = is_open & (hf > H_MIN)
    # θ-weighting with the two neighbouring faces along the flow (edge faces: themselves)
    edge = np.take(q, [0], axis=axis), np.take(q, [-1], axis=axis)
    before = np.concatenate([edge[0], np.delete(q, -1, axis=axis)], axis=axis)
    after = np.concatenate([np.delete(q, 0, axis=axis), edge[1]], axis=axis)
    qbar = theta * q + 0.5 * (1 - theta) * (before + after)
    hf_safe = np.where(wet, hf, 1.0)
    if advection:
        qbar = qbar - dt * _advection(q, hf, wet, dx, axis)
    new = (qbar - G * hf_safe * dt * (eta_b - eta_a) / dx) / (
        1 + G * dt * n2 * np.abs(q) / hf_safe ** (7 / 3))
    return np.where(wet, new, 0.0)


def _advection(q: np.ndarray, hf: np.ndarray, wet: np.ndarray, dx: float,
               axis: int) -> np.ndarray:
    """∂(q u)/∂x on the faces, first-order upwind (the term the local-inertial scheme drops)."""
    deep = wet & (hf > H_VELOCITY)
    flux = np.where(deep, q * q / np.where(deep, hf, 1.0), 0.0)
    edge = np.take(flux, [0], axis=axis), np.take(flux, [-1], axis=axis)
    before = np.concatenate([edge[0], np.delete(flux, -1, axis=axis)], axis=axis)
    after = np.concatenate([np.delete(flux, 0, axis=axis), edge[1]], axis=axis)
    return np.where(q >= 0, flux - before, after - flux) / dx


def _limit(s: State, dt: float, dx: float) -> None:
    """Scale each cell's outgoing discharges so it gives at most what it holds."""
    out = np.zeros_like(s.h)
    out[:, :-1] += np.maximum(s.qx, 0)
    out[:, 1:] += np.maximum(-s.qx, 0)
    out[:-1, :] += np.maximum(s.qy, 0)
    out[1:, :] += np.maximum(-s.qy, 0)
    need = out * dt / dx
    factor = np.divide(s.h, need, out=np.ones_like(need), where=need > s.h)
    if (factor < 1).any():
        s.qx *= np.where(s.qx > 0, factor[:, :-1], factor[:, 1:])
        s.qy *= np.where(s.qy > 0, factor[:-1, :], factor[1:, :])


def step(s: State, dt: float, dx: float, theta: float, source: np.ndarray | None,
         advection: bool = True) -> float:
    """One time step in place; returns the m of water (per cell area) that left by drains."""
    eta = s.z + s.h
    s.qx = _face_discharge(s.qx, eta[:, :-1], eta[:, 1:], s.z[:, :-1], s.z[:, 1:], s.open_x,
                           _faces(s.n2, 1), dt, dx, theta, 1, advection)
    s.qy = _face_discharge(s.qy, eta[:-1, :], eta[1:, :], s.z[:-1, :], s.z[1:, :], s.open_y,
                           _faces(s.n2, 0), dt, dx, theta, 0, advection)
    _limit(s, dt, dx)
    net = np.zeros_like(s.h)
    net[:, :-1] -= s.qx
    net[:, 1:] += s.qx
    net[:-1, :] -= s.qy
    net[1:, :] += s.qy
    s.h += net * (dt / dx)
    if source is not None:
        s.h[1:-1, 1:-1] += source * dt
    np.maximum(s.h, 0.0, out=s.h)  # round-off only: the limiter keeps it ≥ 0
    gone = float(s.h[s.drain].sum())
    s.h[s.drain] = 0.0
    return gone


def _faces(n2: np.ndarray, axis: int) -> np.ndarray:
    """Manning n² on the faces: the mean of the two cells'."""
    return 0.5 * (np.delete(n2, -1, axis=axis) + np.delete(n2, 0, axis=axis))


def speed(s: State) -> np.ndarray:
    """Flow speed per (padded) cell: the mean of its faces' discharges over its depth."""
    qx = np.zeros_like(s.h)
    qy = np.zeros_like(s.h)
    qx[:, :-1] += 0.5 * s.qx
    qx[:, 1:] += 0.5 * s.qx
    qy[:-1, :] += 0.5 * s.qy
    qy[1:, :] += 0.5 * s.qy
    deep = s.h > H_VELOCITY
    return np.where(deep, np.hypot(qx, qy) / np.where(deep, s.h, 1.0), 0.0)


def roof_to_walls(rain: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
    """The rain field with every building's roof run-off moved to the open cells along its
    walls (8-neighbourhood), shared equally: downpipes empty beside the house."""
    labels, n = ndimage.label(obstacles)
    if n == 0:
        return rain
    out = np.where(obstacles, 0.0, rain)
    roof = ndimage.sum(np.nan_to_num(rain), labels, np.arange(1, n + 1))
    ring_label = ndimage.grey_dilation(labels, size=(3, 3))
    ring = (ring_label > 0) & ~obstacles & np.isfinite(rain)
    count = np.bincount(ring_label[ring], minlength=n + 1)[1:]
    share = np.zeros(n + 1)
    share[1:] = np.where(count > 0, roof / np.maximum(count, 1), 0.0)
    out[ring] += share[ring_label[ring]]
    return out


def _time_step(hmax: float, umax: float, dx: float, settings: Settings, rain: float) -> float:
    """The CFL step for the fastest wave (|u| + √(g h)), counting the depth this step's rain
    adds; ``max_dt`` while everything is dry."""
    dt = settings.max_dt
    for _ in range(2):  # the rain's depth depends on the step: one fixed-point pass suffices
        wave = umax + np.sqrt(G * (hmax + rain * dt))
        if wave > 0:
            dt = min(settings.max_dt, settings.alpha * dx / wave)
    return dt


def simulate(z: np.ndarray, obstacles: np.ndarray, dx: float, rain_rate: np.ndarray | None,
             rain_seconds: float, total_seconds: float, settings: Settings = Settings(),
             h0: np.ndarray | None = None, closed: bool = False,
             on_step: Callable[[float, State], None] | None = None) -> Result:
    """Run from dry (or ``h0``) for ``total_seconds``; rain ``rain_rate`` (m/s per cell, the
    run-off share already applied) falls for the first ``rain_seconds``.

    ``closed`` makes the grid's edge and the NaN cells walls instead of drains (test cases).
    """
    s = prepare(z, obstacles, h0, settings.manning_n, closed)
    inner = (slice(1, -1), slice(1, -1))
    open_cells = np.isfinite(z) & ~obstacles
    source = None
    if rain_rate is not None:
        source = np.where(open_cells, roof_to_walls(np.where(np.isfinite(z), rain_rate, 0),
                                                    obstacles), 0.0)
    stored0 = float(s.h.sum())
    peak_depth, peak_speed = s.h.copy(), np.zeros_like(s.h)
    t, steps, out, rain, umax = 0.0, 0, 0.0, 0.0, 0.0
    peak = float(source.max()) if source is not None else 0.0
    per_second = float(source.sum()) if source is not None else 0.0
    hmax = float(s.h.max())
    work = dynamic_kernel.scratch(s.h.shape)
    while t < total_seconds - 1e-9:
        raining = source is not None and t < rain_seconds - 1e-9
        dt = _time_step(hmax, umax, dx, settings, peak if raining else 0.0)
        if raining:
            dt = min(dt, rain_seconds - t)
        dt = min(dt, total_seconds - t)
        if settings.engine == "numba":
            gone, umax, hmax = dynamic_kernel.step(
                s.z, s.h, s.qx, s.qy, s.open_x, s.open_y, s.drain, s.n2, dt, dx,
                settings.theta, source if source is not None else np.zeros((1, 1)), raining,
                settings.advection, H_MIN, H_VELOCITY, peak_depth, peak_speed, work)
            out += gone
        else:
            out += step(s, dt, dx, settings.theta, source if raining else None,
                        settings.advection)
            np.maximum(peak_depth, s.h, out=peak_depth)
            now = speed(s)
            umax, hmax = float(now.max()), float(s.h.max())
            np.maximum(peak_speed, now, out=peak_speed)
        if raining:
            rain += per_second * dt
        t += dt
        steps += 1
        if on_step:
            on_step(t, s)
    area = dx * dx
    stored = float(s.h.sum()) - stored0
    return Result(max_depth=np.where(obstacles, 0, peak_depth[inner]).astype(np.float32),
                  max_speed=np.where(obstacles, 0, peak_speed[inner]).astype(np.float32),
                  depth=s.h[inner].astype(np.float32), rain_m3=rain * area,
                  stored_m3=stored * area, out_m3=out * area, steps=steps,
                  cells=int(open_cells.sum()))
