"""Running a pipeline's work units: in-process, on the local cores, or on a Dask cluster.

The pipeline contract (plan → build units → finish) makes units independent, so the executor
only maps ``pipeline.build`` over them. A single unit (every vector layer) runs in-process;
several units (LiDAR tiles) go to a process pool, or to a ``dask.distributed`` cluster when a
scheduler address is given (``tcp://host:8786``, or ``local`` for a LocalCluster on this
machine). Workers of a remote cluster must see the same raw, cache and staging folders.

Progress — units done/total, points/s when units report ``decoded`` points, megapixels/s when
they report ``megapixels`` (orthophoto tiles), ETA — is printed as units complete, whichever
executor runs them. A pipeline may cap the local processes with a ``workers`` attribute; one
worker runs the units in-process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from geoportal.core.settings import temporary_environment
from pipelines.base import Pipeline, WorkUnit

Echo = Callable[[str], None]

#: glibc malloc settings for local pool workers: keep freed memory in the heap for the next
#: array instead of returning every large block to the kernel. A LiDAR tile allocates and
#: frees a few GB of 100 MB arrays; with glibc's defaults each one was a fresh mmap whose pages
#: the kernel zeroed on first touch: 2–4 s of system time per 15-million-point tile, gone with
#: these (a worker's peak stays that of its largest tile, measured in docs/benchmarks.md).
WORKER_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(64 << 30)}


def _build_one(pipeline: Pipeline, unit: WorkUnit, staging: Path) -> Any:
    return pipeline.build(unit, staging)


class Progress:
    """Units done/total, points per second and an ETA, one line per finished unit."""

    def __init__(self, total: int, echo: Echo) -> None:
        self.total, self.echo = total, echo
        self.done = 0
        self.points = 0
        self.megapixels = 0.0
        self.started = time.perf_counter()

    def update(self, key: str, result: Any) -> None:
        self.done += 1
        self.points += int(getattr(result, "decoded", 0) or 0)
        self.megapixels += float(getattr(result, "megapixels", 0) or 0)
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        eta = elapsed / self.done * (self.total - self.done)
        rate = f", {self.points / elapsed / 1e6:.2f} M decoded points/s" if self.points else ""
        if self.megapixels:
            rate += f", {self.megapixels:,.0f} MP, {self.megapixels / elapsed:.1f} MP/s"
        self.echo(f"    {self.done}/{self.total} {key} ({elapsed:.1f} s{rate}, ETA {eta:.0f} s)")


def run_units(pipeline: Pipeline, units: list[WorkUnit], staging: Path,
              scheduler: str | None = None, workers: int | None = None,
              echo: Echo | None = None) -> list[Any]:
    """Build every unit and return the results in plan order."""
    say = echo or (lambda _: None)
    progress = Progress(len(units), say)
    workers = workers or getattr(pipeline, "workers", None)
    if (len(units) <= 1 or workers == 1) and scheduler is None:
        results = []
        for unit in units:
            results.append(_build_one(pipeline, unit, staging))
            progress.update(unit.key, results[-1])
        return results
    runner = _dask if scheduler else _pool
    order = pipeline.submission_order(units, workers or os.cpu_count() or 1)
    by_key: dict[str, Any] = {}
    for unit, result in runner(pipeline, order, staging, scheduler, workers):
        by_key[unit.key] = result
        progress.update(unit.key, result)
    return [by_key[u.key] for u in units]


def _pool(pipeline: Pipeline, units: list[WorkUnit], staging: Path, _scheduler: str | None,
          workers: int | None) -> Iterator[tuple[WorkUnit, Any]]:
    count = min(workers or os.cpu_count() or 1, len(units))
    # Never plain fork: it copies a multi-threaded parent's held locks into the workers (a LiDAR
    # worker hung on one in a full test run). forkserver forks from a clean single-threaded
    # server; a pipeline may ask for "spawn" instead.
    method = getattr(pipeline, "start_method", None) or "forkserver"
    if method == "forkserver":
        _start_forkserver()
    context = mp.get_context(method)
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = {pool.submit(_build_one, pipeline, u, staging): u for u in units}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _start_forkserver() -> None:
    """Start this process's fork server (once) with :data:`WORKER_MALLOC` in its environment.

    glibc reads those variables when a program starts, and pool workers are forked from the
    server, so they inherit the settings; the parent's own environment is left as it was.
    """
    from multiprocessing import forkserver

    with temporary_environment(WORKER_MALLOC):
        forkserver.ensure_running()


def _dask(pipeline: Pipeline, units: list[WorkUnit], staging: Path, scheduler: str | None,
          workers: int | None) -> Iterator[tuple[WorkUnit, Any]]:
    from dask.distributed import Client, LocalCluster
    from dask.distributed import as_completed as dask_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = {client.submit(_build_one, pipeline, u, staging, key=f"unit-{u.key}-{id(u)}",
                                 pure=False): u for u in units}
        for future in dask_completed(list(futures)):
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
