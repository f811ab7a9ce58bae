"""The dynamic model (2-D local-inertial shallow water) on cases whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.heavy_rain import dynamic

G = dynamic.G


def bumpy(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    """Terrain with hills and hollows (a smoothed random field on a gentle slope)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), 4) * 20
    return 50 + noise + 0.01 * np.arange(shape[1])[None, :]


def test_a_lake_at_rest_stays_at_rest() -> None:
    z = bumpy((60, 80))
    level = float(np.quantile(z, 0.6))   # a lake with islands and a dry shore
    h0 = np.maximum(level - z, 0)
    walls = np.zeros(z.shape, bool)
    walls[20:26, 30:40] = True           # and a house in it
    h0[walls] = 0
    result = dynamic.simulate(z, walls, 1.0, None, 0, 200, h0=h0, closed=True)
    assert result.steps > 100
    assert np.abs(result.depth - h0).max() < 1e-5  # float32 output of ~5 m depths
    assert result.max_speed.max() < 1e-9


def test_rain_in_equals_water_stored_plus_water_out() -> None:
    z = bumpy((80, 100), seed=7)
    z[30:40, 40:46] = np.nan             # a hole in the terrain: water leaves there too
    walls = np.zeros(z.shape, bool)
    walls[10:20, 10:30] = True
    coefficient = np.where(walls, 1.0, 0.5)
    rain = 0.09 / 3600 * coefficient     # 90 mm in one hour
    result = dynamic.simulate(z, walls, 1.0, rain, 900, 1200,
                              dynamic.Settings(manning_n=0.03))
    open_cells = np.isfinite(z)
    assert result.rain_m3 == pytest.approx(float(rain[open_cells].sum()) * 900, rel=1e-9)
    assert result.out_m3 > 0 and result.stored_m3 > 0
    assert abs(result.balance_error) < 1e-6
    assert float(result.depth[~open_cells].max()) == 0.0


def ritter(x: np.ndarray, t: float, h0: float) -> np.ndarray:
    """Ritter's (1892) dam break onto a dry, frictionless bed: the dam at x = 0."""
    c0 = np.sqrt(G * h0)
    h = np.clip((2 * c0 - x / t) / 3, 0, c0) ** 2 / G
    return np.where(x < -c0 * t, h0, h)


def test_a_dam_break_matches_ritters_solution_within_five_percent() -> None:
    dx, half, t, h0 = 1.0, 200, 20.0, 1.0
    x = (np.arange(int(2 * half / dx)) + 0.5) * dx - half
    z = np.zeros((3, x.size))
    start = np.where(x < 0, h0, 0.0)[None, :].repeat(3, axis=0)
    result = dynamic.simulate(z, np.zeros(z.shape, bool), dx, None, 0, t,
                              dynamic.Settings(manning_n=0.0), h0=start, closed=True)
    c0 = np.sqrt(G * h0)
    reach = (x >= -c0 * t) & (x <= 2 * c0 * t)  # the water that moved
    exact = ritter(x, t, h0)
    l1 = np.abs(result.depth[1] - exact)[reach].sum() / exact[reach].sum()
    assert l1 < 0.05
    assert result.depth[1][x < -c0 * t - 10] == pytest.approx(h0, abs=0.01)  # not yet reached


def test_water_flows_around_a_house_and_never_into_it() -> None:
    y, x = np.mgrid[0:40, 0:60]
    z = 10 - 0.05 * x.astype(float)      # a slope down to the east
    house = (np.abs(y - 20) < 5) & (np.abs(x - 25) < 4)
    rain = np.full(z.shape, 0.05 / 3600)
    result = dynamic.simulate(z, house, 1.0, rain, 1800, 2400)
    assert float(result.max_depth[house].max()) == 0.0
    below = result.max_depth[15:26, 30:34]   # in the lee of the house: the roof's water too
    beside = result.max_depth[[10, 30], 25]
    assert float(below.max()) > 0 and float(beside.min()) > 0
    assert abs(result.balance_error) < 1e-6


def test_the_compiled_step_computes_what_the_numpy_step_computes() -> None:
    z = bumpy((40, 50), seed=3)
    z[5:8, 5:9] = np.nan
    walls = np.zeros(z.shape, bool)
    walls[20:25, 20:30] = True
    rain = np.full(z.shape, 0.09 / 3600)
    runs = [dynamic.simulate(z, walls, 1.0, rain, 300, 400,
                             dynamic.Settings(manning_n=0.03, engine=engine))
            for engine in ("numpy", "numba")]
    assert runs[0].steps == runs[1].steps
    assert np.allclose(runs[0].max_depth, runs[1].max_depth, atol=1e-6)
    assert np.allclose(runs[0].max_speed, runs[1].max_speed, atol=1e-5)
    assert runs[0].out_m3 == pytest.approx(runs[1].out_m3, rel=1e-9)


def test_coarse_cells_keep_the_terrain_the_houses_and_the_holes() -> None:
    from affine import Affine

    from pipelines.heavy_rain import simulation
    from pipelines.heavy_rain.model import Grid

    z = np.arange(36, dtype=float).reshape(6, 6)
    z[0, 0] = np.nan
    houses = np.zeros(z.shape, bool)
    houses[3:6, 3:6] = True                      # one coarse cell all house, others a bit
    grid = Grid(Affine(1, 0, 0, 0, -1, 6), z.shape, "EPSG:25832")
    frame = simulation.coarsen(z, houses, np.full(z.shape, 0.5), grid, 3.0)
    assert frame.grid.resolution == 3.0 and frame.z.shape == (2, 2)
    assert frame.obstacles.tolist() == [[False, False], [False, True]]
    assert frame.z[0, 0] == pytest.approx(np.nanmean(z[0:3, 0:3]))  # the hole is left out
    assert frame.coefficient[0, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="whole multiple"):
        simulation.coarsen(z, houses, z, grid, 2.5)


def test_velocity_tiles_and_legend_show_the_hazard_map_classes() -> None:
    from pipelines.imagery.webtiles import FLOW_VELOCITY_CLASSES, flow_velocity, legend_classes

    speeds = np.array([[[0.1, 0.3, 0.7, 1.5, 3.0, np.nan]]], np.float32)
    rgb, alpha = flow_velocity(speeds, np.full(speeds.shape[1:], 255, np.uint8))
    assert alpha.tolist() == [[0, 255, 255, 255, 255, 0]]
    assert [tuple(int(v) for v in rgb[:, 0, i]) for i in range(1, 5)] == [
        c for _, c in FLOW_VELOCITY_CLASSES]
    legend = legend_classes("flow_velocity")
    assert [c["label"]["en"] for c in legend] == ["0.2–0.5 m/s", "0.5–1 m/s", "1–2 m/s",
                                                  "over 2 m/s"]
    assert legend_classes("water_depth")[0]["label"]["de"] == "0,05–0,1 m"


def test_a_dynamic_product_without_the_dynamic_model_is_refused(tmp_path: Path) -> None:
    import shutil

    from geoportal.core.errors import RegistryError
    from geoportal.core.registry import load_registry
    from geoportal.core.settings import PROJECT_ROOT

    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / "datasets", datasets)
    sinks = datasets / "heavy_rain_sinks.yml"
    text = sinks.read_text(encoding="utf-8")
    sinks.write_text(text.replace("product: sinks", "product: max_velocity").replace(
        "      dynamic:\n", "      no_dynamic:\n"), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"heavy_rain_sinks.yml.*no_dynamic"):
        load_registry(datasets)
    cut = text[:text.index("      dynamic:")] + text[text.index("outputs:"):]
    sinks.write_text(cut.replace("product: sinks", "product: max_velocity\n    scenario: rare"),
                     encoding="utf-8")
    with pytest.raises(RegistryError, match=r"product max_velocity needs model.dynamic"):
        load_registry(datasets)
