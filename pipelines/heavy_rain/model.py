"""The heavy-rain screening model: conditioned terrain → sinks, flow paths → scenario depths.

This is a *screening* in the sense of the NRW guideline (Arbeitshilfe kommunales
Starkregenrisikomanagement, 2018, "topografische Analyse"): no 2-D hydrodynamic model, no
time, no velocities, no sewer. Each sink receives the run-off volume of its catchment
(rain × run-off coefficient × area); a sink that cannot hold it spills the rest at its pour
point into the next sink downstream (fill–spill cascade). A partly filled sink holds its water
as one level pool over its lowest cells. docs/starkregen.md states what follows from that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from scipy import ndimage

from geoportal.core.errors import SourceError
from pipelines.heavy_rain.hydrology import (
    accumulate,
    d8_receivers,
    first_sink_downstream,
    pour_points,
    priority_flood,
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Grid:
    """A north-up raster frame in a projected CRS in metres."""

    transform: Affine
    shape: tuple[int, int]
    crs: str

    @property
    def resolution(self) -> float:
        return float(self.transform.a)

    @property
    def cell_area(self) -> float:
        return self.resolution ** 2

    def centres(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.divmod(flat, self.shape[1])
        x, y = self.transform @ (cols + 0.5, rows + 0.5)
        return np.asarray(x), np.asarray(y)


def read_dtm(path: Path, resolution: float) -> tuple[np.ndarray, Grid]:
    """The terrain at ``resolution`` (cell means of the finer DTM; NaN where there is none).

    Refuses, naming the file, a missing DTM and one not in a projected CRS in metres: depths,
    volumes and areas would silently be in degrees or feet.
    """
    if not path.exists():
        raise SourceError(f"{path}: the terrain model (DTM) is missing; build terrain_dtm first")
    with rasterio.open(path) as src:
        if src.crs is None:
            raise SourceError(f"{path}: the DTM has no CRS; expected a projected CRS in metres")
        crs = CRS.from_user_input(src.crs)
        axis = crs.axis_info[0] if crs.axis_info else None
        if not crs.is_projected or axis is None or axis.unit_conversion_factor != 1.0:
            unit = axis.unit_name if axis else "?"
            raise SourceError(f"{path}: the DTM is in {crs.name} (unit {unit}); the heavy-rain "
                              f"model needs a projected CRS in metres such as EPSG:25832")
        factor = resolution / src.res[0]
        if factor < 1 or abs(factor - round(factor)) > 1e-6:
            raise SourceError(f"{path}: the DTM's {src.res[0]} m cells do not aggregate to "
                              f"{resolution} m (resolution must be a multiple of it)")
        shape = (round(src.height / factor), round(src.width / factor))
        data = src.read(1, out_shape=shape, resampling=Resampling.average, masked=True,
                        out_dtype="float32")
        transform = src.transform @ Affine.scale(src.width / shape[1], src.height / shape[0])
        epsg = crs.to_epsg()
        grid = Grid(transform, shape, f"EPSG:{epsg}" if epsg else crs.to_wkt())
    return np.ma.filled(data.astype(np.float32), np.nan), grid


def rasterize(shapes: gpd.GeoSeries, grid: Grid, all_touched: bool = False) -> np.ndarray:
    """Cells whose centre (or any part, ``all_touched``) lies in ``shapes``."""
    geoms = [g for g in shapes.values if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(grid.shape, bool)
    return rasterio.features.rasterize(geoms, out_shape=grid.shape, transform=grid.transform,
                                       fill=0, default_value=1, all_touched=all_touched,
                                       dtype="uint8").astype(bool)


def raise_buildings(z: np.ndarray, grid: Grid, footprints: gpd.GeoSeries,
                    raise_m: float) -> tuple[np.ndarray, np.ndarray]:
    """The terrain with every footprint raised by ``raise_m`` (water flows around houses),
    and the footprints' cells."""
    houses = rasterize(footprints, grid)
    return np.where(houses & np.isfinite(z), z + np.float32(raise_m), z), houses


def burn_in(z: np.ndarray, grid: Grid,
            lines: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    """Lower the cells along each line (a culvert, a bridge opening) to a straight grade
    between the terrain at its two ends, so water passes under the embankment or the deck.

    A cell is only ever lowered, never raised. The line is sampled every half cell, so each
    cell it crosses gets the grade at that place.
    """
    out = z.copy()
    inverse = ~grid.transform
    rows, cols = grid.shape
    for coords in lines:
        line = shapely.LineString(coords)
        steps = max(2, int(np.ceil(line.length / (grid.resolution / 2))) + 1)
        points = shapely.line_interpolate_point(line, np.linspace(0, line.length, steps))
        xy = shapely.get_coordinates(points)
        c, r = inverse @ (xy[:, 0], xy[:, 1])
        r, c = np.floor(r).astype(int), np.floor(c).astype(int)
        inside = (r >= 0) & (c >= 0) & (r < rows) & (c < cols)
        if not inside.any():
            continue
        r, c = r[inside], c[inside]
        ends = z[r[[0, -1]], c[[0, -1]]]
        grade = np.interp(np.linspace(0, 1, r.size), [0, 1], ends)
        np.minimum.at(out, (r, c), grade.astype(out.dtype))
    return out


@dataclass
class Hydrology:
    """The conditioned terrain's flow: filled surface, receivers, order, sinks, catchments."""

    grid: Grid
    z: np.ndarray          # conditioned terrain (buildings raised, lines burnt in)
    filled: np.ndarray     # every depression filled to its spill level
    receiver: np.ndarray   # flat D8 receiver, -1 where water leaves the grid
    order: np.ndarray      # flat cell indices, receivers before donors
    accumulation: np.ndarray  # upstream area in m² per cell (flat)
    sink: np.ndarray       # flat sink label 1..n (0: not in a kept sink)
    catchment: np.ndarray  # flat label of the first sink downstream (0: none)
    pour: np.ndarray       # per label the flat cell it spills into
    count: int

    @property
    def depth(self) -> np.ndarray:
        """Depression depth (filled minus terrain) in m, NaN outside the terrain."""
        return self.filled - self.z


def analyse(z: np.ndarray, grid: Grid, obstacles: np.ndarray, min_depth_m: float,
            min_area_m2: float) -> Hydrology:
    """Fill, route and label: the sinks are the connected cells of positive depth whose
    deepest cell reaches ``min_depth_m`` and whose area reaches ``min_area_m2``; raised
    buildings are never part of a sink (a courtyard between them may be)."""
    valid = np.isfinite(z)
    filled, parent, order = priority_flood(np.where(valid, z, 0).astype(np.float64), valid)
    filled = np.where(valid, filled, np.nan)
    receiver = d8_receivers(np.nan_to_num(filled), valid, parent)
    weight = np.where(valid.ravel(), grid.cell_area, 0.0)
    return with_sinks(z, grid, obstacles, min_depth_m, min_area_m2, filled, receiver, order,
                      accumulate(receiver, order, weight))


def with_sinks(z: np.ndarray, grid: Grid, obstacles: np.ndarray, min_depth_m: float,
               min_area_m2: float, filled: np.ndarray, receiver: np.ndarray, order: np.ndarray,
               accumulation: np.ndarray) -> Hydrology:
    """The sinks, catchments and pour points of a routed terrain (the mosaic's flood, or
    the tiled run's: ``pipelines/heavy_rain/tiled.py``)."""
    valid = np.isfinite(z)
    depth = np.where(valid & ~obstacles, filled - z, 0)
    labels, n = ndimage.label(depth > 1e-4, structure=np.ones((3, 3), bool))
    if n:
        idx = np.arange(1, n + 1)
        deepest = ndimage.maximum(depth, labels, idx)
        cells = ndimage.sum(np.ones_like(depth), labels, idx)
        keep = (deepest >= min_depth_m) & (cells * grid.cell_area >= min_area_m2)
        relabel = np.zeros(n + 1, np.int64)
        relabel[idx[keep]] = np.arange(1, keep.sum() + 1)
        labels, n = relabel[labels], int(keep.sum())
    sink = labels.ravel().astype(np.int64)
    return Hydrology(grid=grid, z=z, filled=filled, receiver=receiver, order=order,
                     accumulation=accumulation, sink=sink,
                     catchment=first_sink_downstream(sink, receiver, order),
                     pour=pour_points(sink, receiver, n), count=n)


def sink_table(h: Hydrology) -> gpd.GeoDataFrame:
    """One polygon per sink: maximum depth, volume, area, spill level, pour point, catchment."""
    columns = ["sink_id", "max_depth_m", "volume_m3", "area_m2", "spill_level_m",
               "pour_x", "pour_y", "catchment_area_m2", "downstream_sink_id", "geometry"]
    if h.count == 0:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=h.grid.crs)
    labels = h.sink.reshape(h.grid.shape)
    depth = np.nan_to_num(h.depth)
    idx = np.arange(1, h.count + 1)
    area = ndimage.sum(np.ones_like(depth), labels, idx) * h.grid.cell_area
    shapes = rasterio.features.shapes(labels.astype(np.int32), mask=labels > 0,
                                      transform=h.grid.transform, connectivity=8)
    parts: dict[int, list] = {}
    for geom, value in shapes:
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    polygons = [shapely.union_all(parts[i]) for i in idx]
    px, py = h.grid.centres(np.maximum(h.pour[1:], 0))
    catch = np.bincount(h.catchment, minlength=h.count + 1)[1:] * h.grid.cell_area
    down = np.where(h.pour[1:] >= 0, h.catchment[np.maximum(h.pour[1:], 0)], 0)
    return gpd.GeoDataFrame({
        "sink_id": [f"S{i:05d}" for i in idx],
        "max_depth_m": np.round(ndimage.maximum(depth, labels, idx), 3),
        "volume_m3": np.round(ndimage.sum(depth, labels, idx) * h.grid.cell_area, 1),
        "area_m2": np.round(area, 1),
        "spill_level_m": np.round(ndimage.maximum(np.nan_to_num(h.filled), labels, idx), 3),
        "pour_x": np.round(px, 2), "pour_y": np.round(py, 2),
        "catchment_area_m2": np.round(catch, 1),
        "downstream_sink_id": [f"S{d:05d}" if d else None for d in down],
    }, geometry=polygons, crs=h.grid.crs)


def flow_paths(h: Hydrology, min_area_m2: float) -> gpd.GeoDataFrame:
    """Flow paths (Fließwege): the D8 lines of every cell draining at least ``min_area_m2``,
    merged between confluences, each with the upstream area at its lower end."""
    cells = np.flatnonzero((h.accumulation >= min_area_m2) & (h.receiver >= 0))
    columns = {"path_id": [], "upstream_area_m2": [], "length_m": []}
    if cells.size == 0:
        return gpd.GeoDataFrame(columns, geometry=[], crs=h.grid.crs)
    x0, y0 = h.grid.centres(cells)
    x1, y1 = h.grid.centres(h.receiver[cells])
    segments = shapely.linestrings(np.stack([np.c_[x0, y0], np.c_[x1, y1]], axis=1))
    merged = shapely.line_merge(shapely.multilinestrings(segments), directed=True)
    lines = list(shapely.get_parts(merged))
    inverse = ~h.grid.transform
    upstream = []
    for line in lines:
        x, y = shapely.get_coordinates(line)[-2]  # the path's own last cell, not the confluence
        col, row = inverse @ (x, y)
        upstream.append(h.accumulation[int(row) * h.grid.shape[1] + int(col)])
    order = np.argsort(upstream)[::-1]
    return gpd.GeoDataFrame({
        "path_id": [f"F{n:06d}" for n in range(1, len(lines) + 1)],
        "upstream_area_m2": np.round(np.asarray(upstream)[order], 1),
        "length_m": np.round([lines[i].length for i in order], 1),
    }, geometry=[lines[i] for i in order], crs=h.grid.crs)


@dataclass
class ScenarioResult:
    """One rain scenario routed through the sinks."""

    level: np.ndarray      # per sink label (index 0 unused) the water level in m
    stored: np.ndarray     # m³ held per sink
    inflow: np.ndarray     # m³ reaching each sink (own catchment plus spills from upstream)
    outflow_m3: float      # m³ leaving the area (over the grid's edge)
    depth: np.ndarray      # water depth per cell in m (2-D, 0 where dry)


def route_scenario(h: Hydrology, runoff_m: np.ndarray) -> ScenarioResult:
    """Route each cell's run-off (m of water, flat) into its sink, spilling full sinks into the
    next one downstream in cascade order (upstream sinks first)."""
    n = h.count
    volume = np.bincount(h.catchment, weights=runoff_m * h.grid.cell_area, minlength=n + 1)
    outflow = float(volume[0])
    capacity, cells_z = _hypsometry(h)
    downstream = np.where(h.pour >= 0, h.catchment[np.maximum(h.pour, 0)], 0)
    inflow, stored = volume.copy(), np.zeros(n + 1)
    for s in upstream_first(downstream):
        stored[s] = min(inflow[s], capacity[s])
        spill = inflow[s] - stored[s]
        if downstream[s] > 0:
            inflow[downstream[s]] += spill
        else:
            outflow += spill
    level = np.full(n + 1, np.nan)
    for s in range(1, n + 1):
        level[s] = _level_for(cells_z[s], stored[s] / h.grid.cell_area)
    labels = h.sink
    z = h.z.ravel()
    water = np.where(labels > 0, np.maximum(level[labels] - z, 0), 0)
    water = np.nan_to_num(water).reshape(h.grid.shape)
    return ScenarioResult(level, stored, inflow, outflow, water.astype(np.float32))


def upstream_first(downstream: np.ndarray) -> list[int]:
    """The sinks 1..n (``downstream[s]``: the sink ``s`` spills into, 0 none) ordered so
    that each comes before the one it spills into: by hops to the end of its cascade, most
    first. Any flow order of the cells gives the same (the tiled run has no flood order)."""
    n = downstream.size - 1
    hops = np.full(n + 1, -1, np.int64)
    for s in range(1, n + 1):
        path, t = [], s
        while t > 0 and hops[t] < 0 and len(path) <= n:  # bounded even on a cycle
            path.append(t)
            t = downstream[t]
        known = hops[t] if t > 0 and hops[t] >= 0 else -1
        for k, cell in enumerate(reversed(path)):  # a walk ends at a known sink or the end
            hops[cell] = known + 1 + k
    return sorted(range(1, n + 1), key=lambda s: -hops[s])


def sink_water_depth(h: Hydrology, result: ScenarioResult) -> np.ndarray:
    """Per sink (labels 1..n) the deepest water in m: its level above its lowest cell."""
    if h.count == 0:
        return np.zeros(0)
    idx = np.arange(1, h.count + 1)
    lowest = ndimage.minimum(h.z, h.sink.reshape(h.grid.shape), idx)
    return np.maximum(np.nan_to_num(result.level[1:] - lowest), 0.0)


def _hypsometry(h: Hydrology) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per sink its full volume (m³) and its cells' terrain heights, sorted."""
    cells = np.flatnonzero(h.sink > 0)
    labels = h.sink[cells]
    z = h.z.ravel()[cells].astype(np.float64)
    order = np.lexsort((z, labels))
    labels, z = labels[order], z[order]
    bounds = np.searchsorted(labels, np.arange(1, h.count + 2))
    heights = [np.empty(0)] + [z[bounds[i]:bounds[i + 1]] for i in range(h.count)]
    spill = np.zeros(h.count + 1)
    spill[labels] = np.nan_to_num(h.filled.ravel()[cells][order])
    capacity = np.zeros(h.count + 1)
    capacity[1:] = [np.sum(spill[s] - heights[s]) * h.grid.cell_area
                    for s in range(1, h.count + 1)]
    return capacity, heights


def _level_for(heights: np.ndarray, water_m_cells: float) -> float:
    """The level of a pool over cells of sorted ``heights`` holding ``water_m_cells`` (volume
    in cell units, m³ per cell area): the lowest cells fill first."""
    if heights.size == 0 or water_m_cells <= 0:
        return float(heights[0]) if heights.size else float("nan")
    k = np.arange(1, heights.size + 1)
    held = k * heights - np.cumsum(heights)  # volume when the level reaches heights[k-1]
    i = int(np.searchsorted(held, water_m_cells, side="right"))  # cells flooded: i
    i = max(i, 1)
    return float((water_m_cells + np.sum(heights[:i])) / i)


def classify(depth: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    """Depth class per value: 0 below the first bound, k for bounds[k-1] ≤ d < bounds[k]."""
    return np.digitize(depth, np.asarray(bounds, float))
