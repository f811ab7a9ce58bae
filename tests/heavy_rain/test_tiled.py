"""The tiled hydrology equals the one-mosaic computation cell by cell, across every seam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from pipelines.heavy_rain import tiled
from pipelines.heavy_rain.hydrology import accumulate, d8_receivers, priority_flood


def terrain(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hills and pits on a slope, with a hole of no terrain (float32, as the model reads)."""
    rng = np.random.default_rng(seed)
    z = 50 + ndimage.gaussian_filter(rng.normal(size=shape), 3) * 30 + 0.02 * np.arange(shape[1])
    valid = np.ones(shape, bool)
    valid[shape[0] // 3:shape[0] // 3 + 5, shape[1] // 2:shape[1] // 2 + 7] = False
    return z.astype(np.float32), valid


def mosaic_flood(z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, ...]:
    return priority_flood(np.where(valid, z, 0.0).astype(np.float64), valid)


def run_tiled(z: np.ndarray, valid: np.ndarray, tile: int, scratch: Path,
              runner: tiled.Runner = tiled.in_process) -> dict[str, np.ndarray]:
    job = tiled.Job(tiled.ArraySource(np.where(valid, z, np.nan)), tiled.Layout(z.shape, tile),
                    scratch, cell_area=0.25, receivers=True)
    tiled.run(job, runner)
    return {name: tiled.mosaic(job, name) for name in ("fill", "acc", "receiver", "dist")}


TILINGS = [((150, 210), 32, 1), ((97, 64), 17, 2), ((60, 60), 60, 3), ((120, 90), 11, 4)]


@pytest.mark.parametrize(("shape", "tile", "seed"), TILINGS)
def test_the_tiled_fill_equals_the_mosaic_fill_exactly(shape, tile, seed, tmp_path) -> None:
    z, valid = terrain(shape, seed)
    whole = mosaic_flood(z, valid)[0]
    cut = tiled.tiled_fill(z, valid, tile, tmp_path)
    assert np.array_equal(cut[valid], whole[valid])
    assert (whole[valid] > z[valid]).mean() > 0.05  # the case has pits to fill, across seams


def test_a_pit_spilling_through_three_tiles_fills_to_the_far_rim(tmp_path) -> None:
    z = np.full((30, 90), 10.0, np.float32)
    z[1:-1, 1:-1] = 1.0        # one basin across three tiles of 30
    z[15, 0] = 5.0             # its lowest rim cell, at the far west edge
    cut = tiled.tiled_fill(z, np.ones(z.shape, bool), 30, tmp_path)
    assert np.all(cut[1:-1, 1:-1] == 5.0)


@pytest.mark.parametrize(("shape", "tile", "seed"), TILINGS)
def test_tiled_d8_and_accumulation_equal_the_mosaic(shape, tile, seed, tmp_path) -> None:
    z, valid = terrain(shape, seed)
    whole = run_tiled(z, valid, max(shape), tmp_path / "one")
    cut = run_tiled(z, valid, tile, tmp_path / "cut")
    filled, parent, _ = mosaic_flood(z, valid)
    # fill, and so the sink depth, to the bit
    assert np.array_equal(cut["fill"][valid], filled[valid])
    assert np.array_equal((cut["fill"] - z)[valid], (filled - z)[valid])
    # D8 as the mosaic model's wherever a cell has a lower neighbour; flats by the tiled rule,
    # which does not depend on the tiling
    receiver = d8_receivers(filled, valid, parent).reshape(shape)
    flat = (cut["dist"] > 0) & valid
    assert np.array_equal(cut["receiver"][valid & ~flat], receiver[valid & ~flat])
    assert np.array_equal(cut["receiver"][valid], whole["receiver"][valid])
    assert np.array_equal(cut["dist"][valid], whole["dist"][valid])  # re-sweeps as from scratch
    assert flat.mean() > 0.02  # filled pits: flats that cross seams
    # the accumulation of those receivers, summed across seams, is the mosaic's sum
    cells = np.flatnonzero(valid.ravel())
    order = cells[np.lexsort((cut["dist"].ravel()[cells], cut["fill"].ravel()[cells]))]
    mosaic_acc = accumulate(cut["receiver"].ravel(), order, np.where(valid, 0.25, 0.0).ravel())
    assert np.array_equal(cut["acc"].ravel()[cells], mosaic_acc[cells])
    assert np.array_equal(cut["acc"][valid], whole["acc"][valid])


def test_on_a_tilted_plane_each_cell_drains_its_upslope_column(tmp_path) -> None:
    rows, cols = 40, 25
    z = np.repeat(np.arange(rows, 0, -1, dtype=np.float32)[:, None], cols, axis=1)
    acc = run_tiled(z, np.ones(z.shape, bool), 9, tmp_path)["acc"]
    expected = np.repeat(np.arange(1, rows + 1)[:, None] * 0.25, cols, axis=1)
    assert np.array_equal(acc, expected)


def test_dask_workers_give_the_same_tiles(tmp_path) -> None:
    z, valid = terrain((90, 70), 5)
    here = run_tiled(z, valid, 25, tmp_path / "here")
    with tiled.local_cluster(2) as runner:
        there = run_tiled(z, valid, 25, tmp_path / "dask", runner)
    for name in ("fill", "acc", "receiver"):
        assert np.array_equal(here[name][valid], there[name][valid])


def test_the_screening_in_tiles_finds_the_mosaics_sinks(tmp_path) -> None:
    from affine import Affine

    from pipelines.heavy_rain import model

    z, valid = terrain((120, 150), 6)
    z = np.where(valid, z, np.nan).astype(np.float32)
    houses = np.zeros(z.shape, bool)
    houses[40:48, 100:110] = True  # a building raised across a seam
    z[houses] += 10
    grid = model.Grid(Affine(0.5, 0, 0, 0, -0.5, 60), z.shape, "EPSG:25832")
    whole = model.analyse(z, grid, houses, 0.05, 1.0)
    with tiled.open_runner(None, 1) as runner:
        cut = tiled.analyse(z, grid, houses, 0.05, 1.0, 32, runner, tmp_path)
    assert cut.count == whole.count > 5
    assert np.array_equal(np.nan_to_num(cut.depth), np.nan_to_num(whole.depth))
    columns = ["max_depth_m", "volume_m3", "area_m2", "spill_level_m", "geometry"]
    mine, theirs = model.sink_table(cut), model.sink_table(whole)
    assert mine[columns].equals(theirs[columns])
    rain = np.where(valid, 0.04, 0.0).ravel()  # 40 mm everywhere: every drop is accounted for
    for h in (cut, whole):
        result = model.route_scenario(h, rain)
        total = result.stored.sum() + result.outflow_m3
        assert total == pytest.approx(rain.sum() * grid.cell_area, rel=1e-9)


def test_a_tiles_flood_result_holds_its_perimeter_not_its_area(tmp_path) -> None:
    """A Dask worker keeps every result until the driver gathers them all: a strip that is a
    view keeps the whole tile's label and fill arrays alive (on the city, 3.7 GiB per worker
    in the fill step)."""
    z, valid = terrain((300, 300), 6)
    job = tiled.Job(tiled.ArraySource(np.where(valid, z, np.nan)), tiled.Layout(z.shape, 150),
                    tmp_path, cell_area=0.25)
    part = tiled.flood_tile(job, 0, 0)
    held = sum((v if v.base is None else v.base).nbytes for v in part.values())
    strips = sum(v.nbytes for k, v in part.items() if k.split("_")[0] in tiled._SIDES)
    assert strips > 0
    assert held < strips + part["edges"].nbytes + part["outlets"].nbytes + 1024, held
