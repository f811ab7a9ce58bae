"""The heavy-rain model on synthetic terrain whose answer is known by hand or analytically."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from geoportal.core.errors import SourceError
from pipelines.heavy_rain import model
from pipelines.heavy_rain.hydrology import accumulate, d8_receivers, priority_flood


def grid_for(z: np.ndarray, res: float = 1.0) -> model.Grid:
    return model.Grid(Affine(res, 0, 0, 0, -res, z.shape[0] * res), z.shape, "EPSG:25832")


def run(z: np.ndarray, obstacles: np.ndarray | None = None, min_depth: float = 0.01):
    grid = grid_for(z)
    mask = np.zeros(z.shape, bool) if obstacles is None else obstacles
    return model.analyse(z.astype(np.float32), grid, mask, min_depth, 0.0)


def test_priority_flood_fills_a_hand_made_pit_to_its_spill_level() -> None:
    z = np.array([[5, 5, 5, 5, 5],
                  [5, 2, 3, 1, 5],
                  [5, 3, 4, 3, 5],
                  [5, 5, 5, 5, 4]], float)
    filled, _, order = priority_flood(z, np.ones(z.shape, bool))
    expected = z.copy()
    expected[1:3, 1:4] = 4  # the pit spills over the corner cell at 4
    assert np.array_equal(filled, expected)
    assert sorted(order) == list(range(z.size))


def test_bowl_volume_matches_the_paraboloid_within_one_percent() -> None:
    y, x = np.mgrid[0:121, 0:121] - 60
    r2 = (x ** 2 + y ** 2).astype(float)
    radius, k = 25.0, 1 / 25  # z = k r², rim height k R²
    z = 100 + np.minimum(k * r2, k * radius ** 2)
    h = run(z)
    sinks = model.sink_table(h)
    assert len(sinks) == 1
    analytic = np.pi * radius ** 2 * (k * radius ** 2) / 2  # paraboloid: half the cylinder
    assert sinks.volume_m3[0] == pytest.approx(analytic, rel=0.01)
    assert sinks.max_depth_m[0] == pytest.approx(k * radius ** 2, abs=0.05)
    # a scenario's water (1 m over 100 cells) stands as the paraboloid's level for that volume
    runoff = np.zeros(z.size)
    runoff[:100] = 1.0
    result = model.route_scenario(h, runoff)
    catchment_share = np.isin(np.arange(z.size)[:100], np.flatnonzero(h.catchment == 1)).sum()
    level = np.sqrt(2 * catchment_share / (np.pi * k))  # V = π h² / (2k)
    assert result.level[1] - 100 == pytest.approx(level, rel=0.02)
    assert model.sink_water_depth(h, result)[0] == pytest.approx(level, rel=0.02)


def test_tilted_plane_accumulates_the_upslope_cell_count_exactly() -> None:
    rows, cols = 30, 12
    z = np.repeat(np.arange(rows, 0, -1, dtype=float)[:, None], cols, axis=1)  # falls south
    valid = np.ones(z.shape, bool)
    filled, parent, order = priority_flood(z, valid)
    receiver = d8_receivers(filled, valid, parent)
    acc = accumulate(receiver, order, np.ones(z.size)).reshape(z.shape)
    assert np.array_equal(acc, np.repeat(np.arange(1, rows + 1, dtype=float)[:, None], cols, 1))


def test_a_building_on_a_slope_sends_the_water_around_it() -> None:
    rows, cols = 40, 41
    z = np.repeat(np.arange(rows, 0, -1, dtype=float)[:, None] * 0.2, cols, axis=1)
    grid = grid_for(z)
    house = gpd.GeoSeries([shapely.box(15, 15, 26, 25)], crs=grid.crs)  # x 15-26, rows 15-25
    raised, cells = model.raise_buildings(z.astype(np.float32), grid, house, 10.0)
    h = model.analyse(raised, grid, cells, 0.01, 0.0)
    start = 5 * cols + 20  # upslope of the house, on its centre line
    path, i = [], start
    while i >= 0:
        path.append(i)
        i = h.receiver[i]
    assert not cells.ravel()[path].any()  # the water never crosses the footprint
    assert path[-1] // cols == rows - 1    # and still reaches the foot of the slope
    plain = run(z)
    below = (30, 20)  # straight below the house
    assert h.accumulation.reshape(z.shape)[below] < plain.accumulation.reshape(z.shape)[below]
    assert model.sink_table(h).empty  # a raised footprint is no sink


def valley_with_dam() -> np.ndarray:
    """A valley falling south with a 3 m embankment across it at row 20."""
    rows, cols = 40, 21
    fall = np.arange(rows, 0, -1, dtype=float)[:, None] * 0.1
    sides = np.abs(np.arange(cols) - 10)[None, :] * 0.5
    z = fall + sides
    z[20, :] += 3.0
    return z


def test_a_burn_in_line_lets_the_water_through_the_dam() -> None:
    z = valley_with_dam()
    grid = grid_for(z)
    dammed = run(z, min_depth=0.05)
    assert len(model.sink_table(dammed)) == 1  # the valley ponds behind the dam
    culvert = [(10.5, grid.shape[0] - 18.5), (10.5, grid.shape[0] - 22.5)]  # rows 18 → 22
    opened = model.burn_in(z.astype(np.float32), grid, [culvert])
    assert opened[20, 10] < z[19, 10]  # the embankment cell is now below the valley upstream
    h = model.analyse(opened, grid, np.zeros(z.shape, bool), 0.05, 0.0)
    assert model.sink_table(h).empty
    assert h.accumulation.reshape(z.shape)[25, 10] > dammed.accumulation.reshape(z.shape)[25, 10]


def two_sinks_in_cascade() -> np.ndarray:
    """A slope falling east with an upper pit (spills at 9) and a lower one (spills at 4)."""
    z = np.tile(np.linspace(12, 0.5, 24), (9, 1))
    z[0, :] = z[-1, :] = 20  # walls north and south
    z[3:6, 4:7] = 7.0        # upper pit, rim from the slope ≈ 9.5
    z[3:6, 14:17] = 1.0      # lower pit
    return z


def test_two_sinks_in_cascade_fill_upstream_first_and_spill_the_rest_down() -> None:
    z = two_sinks_in_cascade()
    h = run(z)
    sinks = model.sink_table(h)
    assert len(sinks) == 2
    upper, lower = (sinks.sort_values("spill_level_m", ascending=False).index)
    assert sinks.downstream_sink_id[upper] == sinks.sink_id[lower]
    capacity = sinks.volume_m3.to_numpy()
    little = model.route_scenario(h, np.full(z.size, 1e-3))
    assert little.stored[1:] == pytest.approx(little.inflow[1:])  # nothing spills yet
    much = model.route_scenario(h, np.full(z.size, 1.0))
    u, lo = upper + 1, lower + 1
    assert much.stored[u] == pytest.approx(capacity[upper], rel=1e-3)
    spilt = much.inflow[u] - much.stored[u]
    own = np.bincount(h.catchment, minlength=3)[lo] * 1.0
    assert much.inflow[lo] == pytest.approx(own + spilt)
    total = z.size * 1.0
    assert much.outflow_m3 + much.stored[1:].sum() == pytest.approx(total)  # mass is kept


def write_tif(path: Path, crs: str, res: float = 0.5) -> Path:
    data = np.ones((20, 20), np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1,
                       dtype="float32", crs=crs,
                       transform=Affine(res, 0, 350000, 0, -res, 5686000)) as dst:
        dst.write(data, 1)
    return path


def test_bad_terrain_input_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "terrain_dtm.vrt"
    with pytest.raises(SourceError, match=r"terrain_dtm.vrt: the terrain model .* missing"):
        model.read_dtm(missing, 1.0)
    degrees = write_tif(tmp_path / "wgs84.tif", "EPSG:4326", 0.0001)
    with pytest.raises(SourceError, match=r"wgs84.tif: .*unit degree.*metres"):
        model.read_dtm(degrees, 1.0)
    feet = write_tif(tmp_path / "feet.tif", "EPSG:2263")  # New York, US survey feet
    with pytest.raises(SourceError, match=r"feet.tif: .*foot.*metres"):
        model.read_dtm(feet, 1.0)
    odd = write_tif(tmp_path / "odd.tif", "EPSG:25832")
    with pytest.raises(SourceError, match=r"odd.tif: .*do not aggregate to 0.7 m"):
        model.read_dtm(odd, 0.7)


def test_water_depth_tiles_draw_each_class_in_its_colour_and_dry_cells_transparent() -> None:
    from pipelines.imagery.webtiles import WATER_DEPTH_CLASSES, water_depth

    depths = np.array([[[0.0, 0.04, 0.07, 0.2, 0.4, 0.7, 2.5, np.nan]]], np.float32)
    rgb, alpha = water_depth(depths, np.full(depths.shape[1:], 255, np.uint8))
    assert alpha.tolist() == [[0, 0, 255, 255, 255, 255, 255, 0]]
    colours = [tuple(int(v) for v in rgb[:, 0, i]) for i in range(2, 7)]
    assert colours == [c for _, c in WATER_DEPTH_CLASSES]


def test_a_mistake_in_the_model_is_one_line_naming_the_file_and_key(tmp_path: Path) -> None:
    import shutil

    from geoportal.core.errors import RegistryError
    from geoportal.core.registry import load_registry
    from geoportal.core.settings import PROJECT_ROOT

    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / "datasets", datasets)
    sinks = datasets / "heavy_rain_sinks.yml"
    text = sinks.read_text(encoding="utf-8")
    sinks.write_text(text.replace("depth_classes: [0.05, 0.1, 0.3, 0.5, 1.0]",
                                  "depth_classes: [0.1, 0.05]"), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"heavy_rain_sinks.yml.*pipeline.params.model."
                                            r"depth_classes: expected ascending depths"):
        load_registry(datasets)
    sinks.write_text(text.replace("product: sinks", "product: water_depth\n    scenario: heavy"),
                     encoding="utf-8")
    with pytest.raises(RegistryError, match=r"scenario 'heavy' is not one of model.scenarios"):
        load_registry(datasets)


def test_flow_paths_run_down_the_slope_with_their_upstream_area() -> None:
    rows, cols = 30, 12
    z = np.repeat(np.arange(rows, 0, -1, dtype=float)[:, None], cols, axis=1)  # falls south
    paths = model.flow_paths(run(z), min_area_m2=20)
    assert len(paths) == cols  # one per column, from the 20th cell down to the edge
    assert set(paths.length_m) == {10.0}
    assert set(paths.upstream_area_m2) == {29.0}  # the path's own last cell drains 29 cells
    start, end = shapely.get_coordinates(paths.geometry.iloc[0])[[0, -1]]
    assert start[1] > end[1]  # drawn in the direction the water flows (south)
