"""Heavy-rain hydrology: ours (numba priority-flood, D8, accumulation) vs WhiteboxTools.

On the same terrain at the model's resolution, in one run:

1. ``ours``: :func:`priority_flood` + :func:`d8_receivers` + :func:`accumulate`
   (``pipelines/heavy_rain/hydrology.py``), after one warm-up call (numba compiles once);
2. ``whitebox``: ``FillDepressions`` (no flat fix, for the depths) and ``FillDepressions``
   with flat fix + ``D8FlowAccumulation`` (cells), run by the ``--whitebox-python`` of a
   bench-only venv (``python3.12 -m venv wb && wb/bin/pip install whitebox-workflows``; never a
   project dependency), timed inside that process (reading and writing excluded).

Reports both times, their ratio, and cell-by-cell agreement: filled surfaces within 1 mm and
D8 accumulation equal (flats differ by design: Whitebox adds an ε-slope, we drain flats
towards the flood's outlet).

    python bench/bench_heavy_rain.py var/published/terrain_dtm/terrain_dtm.vrt \
        --whitebox-python /tmp/wb/bin/python [--resolution 1.0] [--whitebox-procs 1] \
        [--open-edges]

``--open-edges`` surrounds Whitebox's terrain with a ring of low cells: its FillDepressions
treats the grid's edge as a wall, ours lets water leave there; with the ring the filled
surfaces agree on every cell of the real NRW tile (docs/benchmarks.md).

``--dynamic`` times the dynamic model instead (pipelines/heavy_rain/dynamic.py) on the same
terrain at ``--resolution`` (5 m: the YAML's), a block rain of ``--rain-mm`` over
``--minutes``: the numba step and the numpy reference step in one run, as cell updates per
second on one core (the kernel is single-threaded), and, with ``--anuga-python`` (a bench-only
venv: ``python3 -m venv an && an/bin/pip install anuga==4.1.0``, never a project dependency),
ANUGA's finite-volume solver on the same grid (4 triangles per cell, the same rain and
Manning n, reflective walls), timed inside that process:

    python bench/bench_heavy_rain.py <dtm.vrt> --dynamic --resolution 5 --minutes 10 \
        [--anuga-python /tmp/an/bin/python]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import rasterio

from pipelines.heavy_rain.hydrology import accumulate, d8_receivers, priority_flood
from pipelines.heavy_rain.model import read_dtm

WHITEBOX = textwrap.dedent("""
    import sys, time, whitebox_workflows as wbw
    wbe = wbw.WbEnvironment()
    wbe.max_procs = int(sys.argv[4])  # 1: per core, like ours
    h = wbe.hydrology
    dem = wbe.read_raster(sys.argv[1])
    t = time.perf_counter()
    filled = h.fill_depressions(dem=dem, fix_flats=False)
    t1 = time.perf_counter()
    flat = h.fill_depressions(dem=dem, fix_flats=True)
    acc = h.d8_flow_accum(input=flat, out_type="cells")
    t2 = time.perf_counter()
    print(f"{t1 - t:.4f} {t2 - t1:.4f}")
    wbe.write_raster(filled, sys.argv[2])
    wbe.write_raster(acc, sys.argv[3])
""")


def ours(z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    valid = np.isfinite(z)
    zz = np.where(valid, z, 0).astype(np.float64)
    _hydrology(zz[:50, :50].copy(), valid[:50, :50].copy())  # every kernel compiled (or
    start = time.perf_counter()                                # loaded) outside the clock
    filled, acc = _hydrology(zz, valid)
    return time.perf_counter() - start, filled, acc.reshape(z.shape)


def _hydrology(z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The timed path: fill, D8 receivers, accumulation (cells)."""
    filled, parent, order = priority_flood(z, valid)
    receiver = d8_receivers(filled, valid, parent)
    return filled, accumulate(receiver, order, np.ones(z.size))


ANUGA = textwrap.dedent("""
    import sys, time, numpy as np, anuga
    z = np.load(sys.argv[1]); dx, seconds, rate, n = (float(v) for v in sys.argv[2:6])
    rows, cols = z.shape
    domain = anuga.rectangular_cross_domain(cols, rows, len1=cols * dx, len2=rows * dx)
    domain.set_store(False)
    domain.set_quantity("elevation", lambda x, y: z[np.clip((rows * dx - y) // dx, 0,
        rows - 1).astype(int), np.clip(x // dx, 0, cols - 1).astype(int)], location="centroids")
    domain.set_quantity("friction", n)
    domain.set_quantity("stage", expression="elevation")
    domain.set_boundary({t: anuga.Reflective_boundary(domain) for t in domain.get_boundary_tags()})
    anuga.Rate_operator(domain, rate=rate)
    start = time.perf_counter(); steps = 0
    for _ in domain.evolve(yieldstep=seconds / 4, finaltime=seconds):
        pass
    took = time.perf_counter() - start
    q = domain.quantities
    depth = q["stage"].centroid_values - q["elevation"].centroid_values
    volume = float((depth * domain.areas).sum())
    print(took, len(domain), float(depth.max()), volume)
""")


def dynamic_bench(args: argparse.Namespace) -> None:
    """Cell updates per second of the dynamic model, numba vs numpy (and ANUGA's time)."""
    from pipelines.heavy_rain import dynamic

    z, grid = read_dtm(args.dtm, args.resolution)
    walls = np.zeros(z.shape, bool)
    z = np.where(np.isfinite(z), z, np.nanmin(z))
    rate = np.full(z.shape, args.rain_mm / 1000 / 3600)
    seconds = args.minutes * 60.0
    dynamic.simulate(z[:20, :20], walls[:20, :20], grid.resolution, rate[:20, :20], 5, 5)
    print(f"{z.size:,} cells at {grid.resolution} m, {args.minutes} min of "
          f"{args.rain_mm} mm/h, n = 0.035, closed edges")
    runs = {}
    for engine in ("numba", "numpy"):
        start = time.perf_counter()
        result = dynamic.simulate(z, walls, grid.resolution, rate, seconds, seconds,
                                  dynamic.Settings(engine=engine), closed=True)
        took = time.perf_counter() - start
        runs[engine] = took
        print(f"ours {engine:6s} {took:8.2f} s  {result.steps:6d} steps  "
              f"{result.steps * result.cells / took / 1e6:6.2f} M cell updates/s  "
              f"mass balance {result.balance_error:.1e}  deepest at the end "
              f"{float(result.depth.max()):.3f} m, water {result.stored_m3:,.0f} m³")
    print(f"ratio numpy / numba  {runs['numpy'] / runs['numba']:.2f}")
    if args.anuga_python:
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "z.npy", z)
            out = subprocess.run([args.anuga_python, "-c", ANUGA, str(Path(tmp) / "z.npy"),
                                  str(grid.resolution), str(seconds),
                                  str(args.rain_mm / 1000 / 3600), "0.035"],
                                 capture_output=True, text=True, check=True).stdout.split()
        took, triangles, deepest, volume = float(out[-4]), int(out[-3]), *map(float, out[-2:])
        print(f"anuga        {took:8.2f} s  {triangles:,} triangles (4 per cell)  deepest at "
              f"the end {deepest:.3f} m, water {volume:,.0f} m³  "
              f"ratio anuga / ours numba {took / runs['numba']:.2f}")


def _open_edges(z: np.ndarray) -> np.ndarray:
    """``z`` in a ring of cells 100 m below its lowest cell.

    Whitebox's FillDepressions ends a depression only at a cell with a lower neighbour inside
    the grid: the grid's edge and no data are walls (its pits are interior cells, its region
    growing never leaves the grid), where ours lets water leave over every edge cell and every
    cell next to no data. The ring gives every edge cell a lower neighbour."""
    out = np.full((z.shape[0] + 2, z.shape[1] + 2), np.nanmin(z) - 100, np.float32)
    out[1:-1, 1:-1] = z
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dtm", type=Path)
    parser.add_argument("--whitebox-python")
    parser.add_argument("--resolution", type=float, default=1.0)
    parser.add_argument("--dynamic", action="store_true")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rain-mm", type=float, default=90.0)
    parser.add_argument("--anuga-python")
    parser.add_argument("--whitebox-procs", type=int, default=1,
                        help="Whitebox's threads (1: per core, like ours; -1: all)")
    parser.add_argument("--open-edges", action="store_true",
                        help="give Whitebox a ring of low cells around the terrain, so water "
                             "leaves over the edge as in ours (agreement only: 0.4 %% more cells)")
    args = parser.parse_args()
    if args.dynamic:
        dynamic_bench(args)
        return
    if not args.whitebox_python:
        parser.error("--whitebox-python is required (or --dynamic)")
    z, grid = read_dtm(args.dtm, args.resolution)
    with tempfile.TemporaryDirectory() as tmp:
        src, wf, wa = (Path(tmp) / n for n in ("dtm.tif", "filled.tif", "acc.tif"))
        theirs = _open_edges(z) if args.open_edges else z
        with rasterio.open(src, "w", driver="GTiff", width=theirs.shape[1],
                           height=theirs.shape[0], count=1, dtype="float32", crs=grid.crs,
                           transform=grid.transform, nodata=-9999) as dst:
            dst.write(np.nan_to_num(theirs, nan=-9999), 1)
        seconds, filled, acc = ours(z)
        out = subprocess.run([args.whitebox_python, "-c", WHITEBOX, str(src), str(wf), str(wa),
                              str(args.whitebox_procs)],
                             capture_output=True, text=True, check=True).stdout.split()
        wb_fill, wb_acc = float(out[-2]), float(out[-1])
        with rasterio.open(wf) as f, rasterio.open(wa) as a:
            theirs_filled, theirs_acc = f.read(1), a.read(1)
        if args.open_edges:
            theirs_filled, theirs_acc = theirs_filled[1:-1, 1:-1], theirs_acc[1:-1, 1:-1]
    valid = np.isfinite(z)
    same_fill = np.abs(filled - theirs_filled)[valid] < 1e-3
    same_acc = np.abs(acc - theirs_acc)[valid] < 0.5
    wb = wb_fill + wb_acc
    print(f"{z.size:,} cells at {args.resolution} m, whitebox threads {args.whitebox_procs}")
    print(f"ours (fill + D8 + accumulation)      {seconds:7.3f} s")
    print(f"whitebox (fill, fill+fix flats, D8)  {wb:7.3f} s  "
          f"(fill {wb_fill:.3f}, flats + accumulation {wb_acc:.3f})")
    print(f"ratio whitebox / ours                {wb / seconds:7.2f}")
    print(f"filled surface agrees within 1 mm    {same_fill.mean():7.2%} of cells")
    print(f"D8 accumulation equal                {same_acc.mean():7.2%} of cells")
    differ = ~same_fill
    if differ.any():
        from scipy import ndimage

        inner = np.zeros(z.shape, bool)
        inner[1:-1, 1:-1] = True
        near = ndimage.distance_transform_edt(inner & np.isfinite(z))[valid][differ] <= 100
        lower = (filled - theirs_filled)[valid][differ] < 0
        print(f"  where they differ: ours lower      {lower.mean():7.2%}; within 100 cells of "
              f"the edge or no-data {near.mean():.2%}")


if __name__ == "__main__":
    main()
