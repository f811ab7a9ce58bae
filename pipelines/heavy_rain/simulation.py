"""The dynamic model inside the heavy-rain run: the grid it runs on and one run per scenario.

The screening's grid (1 m) is coarsened to ``model.dynamic.resolution`` (2 m by default): the
scheme's time step shrinks with the cell size and its cost grows with the cell count, so 1 m
costs eight times 2 m for the same hours of rain. A coarse cell is a building when most of its
fine cells are; its terrain is the mean of its open fine cells, its run-off coefficient the mean
of its fine cells'. docs/starkregen.md states what that loses (passages narrower than a cell).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from pipelines.heavy_rain import dynamic
from pipelines.heavy_rain.model import Grid


@dataclass
class Frame:
    """The inputs of the simulation on its own grid."""

    grid: Grid
    z: np.ndarray            # terrain (NaN: no terrain, water leaves there)
    obstacles: np.ndarray    # buildings
    coefficient: np.ndarray  # run-off share of the rain per cell


def coarsen(z: np.ndarray, obstacles: np.ndarray, coefficient: np.ndarray, grid: Grid,
            resolution: float) -> Frame:
    """The fine grid's terrain, buildings and run-off coefficients on cells of ``resolution``
    (a whole multiple of the fine cell size; the edge is padded with no terrain)."""
    k = resolution / grid.resolution
    if k < 1 or abs(k - round(k)) > 1e-6:
        raise ValueError(f"dynamic.resolution {resolution} m is not a whole multiple of the "
                         f"model's {grid.resolution} m")
    k = round(k)
    if k == 1:
        return Frame(grid, z, obstacles, coefficient)
    rows, cols = -(-grid.shape[0] // k), -(-grid.shape[1] // k)

    def blocks(a: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((rows * k, cols * k), fill, np.float64)
        out[:a.shape[0], :a.shape[1]] = a
        return out.reshape(rows, k, cols, k).swapaxes(1, 2).reshape(rows, cols, k * k)

    ground = np.where(obstacles, np.nan, z)
    zb, ob = blocks(ground, np.nan), blocks(obstacles.astype(float), 0.0)
    valid = np.isfinite(blocks(z, np.nan))
    counts = np.isfinite(zb).sum(axis=2)
    z_coarse = np.divide(np.nansum(zb, axis=2), counts, out=np.full((rows, cols), np.nan),
                         where=counts > 0)
    house = ob.mean(axis=2) > 0.5
    cb = blocks(coefficient, 0.0)
    n_valid = valid.sum(axis=2)
    coeff = np.divide(np.where(valid, cb, 0).sum(axis=2), n_valid,
                      out=np.zeros((rows, cols)), where=n_valid > 0)
    z_coarse = np.where(house & ~np.isfinite(z_coarse), 0.0, z_coarse)  # a house, not a hole
    transform = grid.transform @ Affine.scale(k, k)
    return Frame(Grid(transform, (rows, cols), grid.crs), z_coarse, house, coeff)


@dataclass
class Run:
    """One scenario's maxima and its numbers for summary.json."""

    max_depth: np.ndarray
    max_speed: np.ndarray
    stats: dict[str, Any]


def run_scenario(frame: Frame, rain_mm: float, duration_min: int, after_min: int,
                 settings: dynamic.Settings) -> Run:
    """A block rain of ``rain_mm`` over ``duration_min``, then ``after_min`` of run-off."""
    rain_seconds = duration_min * 60.0
    rate = rain_mm / 1000.0 / rain_seconds * frame.coefficient
    start = time.perf_counter()
    result = dynamic.simulate(frame.z, frame.obstacles, frame.grid.resolution, rate,
                              rain_seconds, rain_seconds + after_min * 60.0, settings)
    seconds = time.perf_counter() - start
    valid = np.isfinite(frame.z)
    depth = np.where(valid, result.max_depth, np.nan).astype(np.float32)
    speed = np.where(valid, result.max_speed, np.nan).astype(np.float32)
    updates = result.steps * result.cells
    return Run(depth, speed, {
        "steps": result.steps, "cells": result.cells, "seconds": round(seconds, 2),
        "cell_updates_per_second": round(updates / max(seconds, 1e-9)),
        "rain_m3": round(result.rain_m3, 1), "stored_m3": round(result.stored_m3, 1),
        "out_m3": round(result.out_m3, 1), "balance_error": result.balance_error,
        "max_depth_m": round(float(np.nanmax(depth)) if depth.size else 0.0, 3),
        "max_velocity_m_s": round(float(np.nanmax(speed)) if speed.size else 0.0, 3)})


def run_all(frame: Frame, scenarios: list[tuple[str, float, int]], after_min: int,
            settings: dynamic.Settings, write: Callable[[str, Run], None],
            say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Every scenario (id, rain in mm, duration in min) in turn; ``write`` publishes each."""
    stats = {}
    for sid, rain_mm, duration in scenarios:
        say(f"dynamic model, scenario {sid}: {int(np.isfinite(frame.z).sum()):,} cells of "
            f"{frame.grid.resolution} m, {duration} + {after_min} min")
        run = run_scenario(frame, rain_mm, duration, after_min, settings)
        write(sid, run)
        stats[sid] = run.stats
        say(f"scenario {sid}: {run.stats['steps']} steps in {run.stats['seconds']} s, "
            f"max depth {run.stats['max_depth_m']} m, max velocity "
            f"{run.stats['max_velocity_m_s']} m/s, mass balance {run.stats['balance_error']:.1e}")
    return stats
