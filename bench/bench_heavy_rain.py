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

``--tiled district|city`` times the tiled hydrology (pipelines/heavy_rain/tiled.py: fill,
sink depth, D8, accumulation) on a LocalCluster of ``--workers`` single-threaded Dask
workers, on the sample city's terrain function (``geoportal.app.sample.terrain``, the ground
the generator scans) at 0.5 m plus a seamless ±``--noise-m`` hash noise per cell (the
micro-relief of a real DTM: pits and flats), generated tile by tile by the workers. With
``district`` (the 4 km² default district) the mosaic is computed in the same run and compared
cell by cell for every ``--tile``; with ``city`` (99 km², 396 M cells) only the tiled run, on
the first 1/``--fraction`` of the rows, with wall time and the peak RSS of driver + workers:

    python bench/bench_heavy_rain.py --tiled district --tile 1000 --tile 2000
    python bench/bench_heavy_rain.py --tiled city --fraction 8 --tile 2000
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SampleTerrain:
    """The sample city's ground at ``res`` from the top-left corner, plus a seamless noise."""

    left: float
    top: float
    res: float
    shape: tuple[int, int]
    noise_m: float
    seed: int = 42

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        from geoportal.app.sample.terrain import terrain_height

        rows = np.arange(r0, r1, dtype=np.uint64)[:, None]
        cols = np.arange(c0, c1, dtype=np.uint64)[None, :]
        x = self.left + (cols.astype(float) + 0.5) * self.res
        y = self.top - (rows.astype(float) + 0.5) * self.res
        h = rows * np.uint64(0x9E3779B97F4A7C15) ^ cols * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        noise = (h >> np.uint64(11)).astype(float) / 2.0 ** 53 * 2 - 1
        return (terrain_height(x, y, self.seed) + self.noise_m * noise).astype(np.float32)


def extent(district: str, res: float) -> tuple[float, float, tuple[int, int]]:
    """Top-left corner and shape of a sample district's 1 km tiles at ``res``."""
    from geoportal.app.sample import DISTRICTS

    es, ns = zip(*DISTRICTS["default" if district == "district" else district], strict=True)
    left, top = min(es) * 1000.0, (max(ns) + 1) * 1000.0
    rows, cols = (max(ns) + 1 - min(ns)) * 1000 / res, (max(es) + 1 - min(es)) * 1000 / res
    return left, top, (round(rows), round(cols))


class PeakRss:
    """The highest sum of RSS over this process and its children, sampled every 0.2 s."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.me, self.peak, self.stop = psutil.Process(), 0, threading.Event()
        self.each: dict[str, int] = {}  # peak per process (pid and name)
        self.since: dict[str, int] = {}  # the same since the last lap
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while not self.stop.wait(0.2):
            total = 0
            for proc in [self.me, *self.me.children(recursive=True)]:
                with contextlib.suppress(Exception):  # a worker ending between the calls
                    rss = proc.memory_info().rss
                    total += rss
                    key = f"{proc.pid} {' '.join(proc.cmdline())[-60:]}"
                    self.each[key] = max(self.each.get(key, 0), rss)
                    self.since[key] = max(self.since.get(key, 0), rss)
            self.peak = max(self.peak, total)

    def lap(self) -> str:
        """Each process's peak since the last lap, largest first (GiB): which step holds the
        memory."""
        laps, self.since = self.since, {}
        return ", ".join(f"{rss / 2 ** 30:.2f}" for rss in sorted(laps.values(), reverse=True)
                         if rss > 2 ** 26)

    def done(self) -> float:
        self.stop.set()
        self.thread.join()
        return self.peak / 2 ** 30


def stamp(start: float, peak: PeakRss, message: str) -> None:
    print(f"  {time.perf_counter() - start:7.1f} s  {message}  (peak GiB per process in the "
          f"step: {peak.lap()})", flush=True)


def tiled_bench(args: argparse.Namespace) -> None:
    """The tiled hydrology on Dask: against the mosaic (district) or alone (city)."""
    from pipelines.heavy_rain import tiled

    res = 0.5
    left, top, shape = extent(args.tiled, res)
    if args.tiled == "city":
        shape = (-(-shape[0] // args.fraction), shape[1])
    source = SampleTerrain(left, top, res, shape, args.noise_m)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="tiled-bench-"))
    print(f"{args.tiled}: {shape[0]:,} x {shape[1]:,} = {shape[0] * shape[1]:,} cells at "
          f"{res} m, {args.workers} Dask workers, noise ±{args.noise_m} m")
    with tiled.local_cluster(args.workers) as runner:
        for tile in args.tile or [2000]:
            folder = scratch / f"t{tile}"
            job = tiled.Job(source, tiled.Layout(shape, tile), folder, cell_area=res * res,
                            receivers=args.tiled == "district")
            peak, start = PeakRss(), time.perf_counter()
            tiled.run(job, runner, functools.partial(stamp, start, peak))
            seconds, gib = time.perf_counter() - start, peak.done()
            for key, rss in sorted(peak.each.items(), key=lambda kv: -kv[1])[:6]:
                print(f"    peak {rss / 2 ** 30:5.2f} GiB  {key}")
            print(f"tile {tile}: {len(job.layout.tiles())} tiles, {seconds:.1f} s, "
                  f"{shape[0] * shape[1] / seconds / 1e6:.2f} M cells/s, peak RSS {gib:.2f} GiB"
                  f" (driver + workers)")
            if args.tiled == "district":
                compare_mosaic(job)
            shutil.rmtree(folder)
    if not args.scratch:
        shutil.rmtree(scratch)


def compare_mosaic(job) -> None:
    """The same hydrology on the one mosaic, in this process, cell by cell."""
    from pipelines.heavy_rain import tiled

    z = job.source.read(0, job.layout.shape[0], 0, job.layout.shape[1])
    valid = np.isfinite(z)
    start = time.perf_counter()
    filled, parent, order = priority_flood(z.astype(np.float64), valid)
    receiver = d8_receivers(filled, valid, parent)
    acc = accumulate(receiver, order, np.full(z.size, job.cell_area))
    seconds = time.perf_counter() - start
    fill, cut_acc = tiled.mosaic(job, "fill"), tiled.mosaic(job, "acc")
    cut_recv, dist = tiled.mosaic(job, "receiver"), tiled.mosaic(job, "dist")
    flat = dist > 0
    cells = np.flatnonzero(valid.ravel())
    topo = cells[np.lexsort((dist.ravel()[cells], fill.ravel()[cells]))]
    same_recv_acc = accumulate(cut_recv.ravel(), topo, np.full(z.size, job.cell_area))
    print(f"  mosaic (flood + D8 + accumulation, one process): {seconds:.1f} s")
    print(f"  fill equal to the bit:       {np.array_equal(fill, filled)} "
          f"({(filled > z).mean():.2%} of cells filled)")
    print(f"  sink depth equal to the bit: {np.array_equal(fill - z, filled - z)}")
    print(f"  D8 equal off flats:          "
          f"{np.array_equal(cut_recv.ravel()[~flat.ravel()], receiver[~flat.ravel()])} "
          f"(flats: {flat.mean():.2%} of cells; receivers there equal to the mosaic model's: "
          f"{(cut_recv.ravel()[flat.ravel()] == receiver[flat.ravel()]).mean():.1%})")
    print(f"  accumulation = accumulate() of the same receivers on the mosaic: "
          f"{np.array_equal(cut_acc.ravel(), same_recv_acc)}; equal to the mosaic model's "
          f"accumulation in {(cut_acc.ravel() == acc).mean():.2%} of cells")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dtm", type=Path, nargs="?")
    parser.add_argument("--tiled", choices=["district", "city"])
    parser.add_argument("--tile", type=int, action="append")
    parser.add_argument("--fraction", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noise-m", type=float, default=0.03)
    parser.add_argument("--scratch", type=Path)
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
    if args.tiled:
        tiled_bench(args)
        return
    if args.dtm is None:
        parser.error("the DTM is required (or --tiled)")
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
