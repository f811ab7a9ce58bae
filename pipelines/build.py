"""Build the registry's datasets: run each pipeline and publish its output atomically.

One dataset failing (a missing file, a broken column mapping) does not stop the others: its error
is reported with the reason, the previously published version stays served, and the run ends
non-zero so that a scheduler notices.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from geoportal.core.errors import GeoportalError
from geoportal.core.plugin import PluginError, load_plugin
from geoportal.core.publish import (
    METADATA_FILE,
    LayerMetadata,
    publish_version,
    read_metadata,
    staging,
)
from geoportal.core.registry import Dataset, Registry
from geoportal.core.settings import Settings
from pipelines.base import BuildResult, Pipeline

Echo = Callable[[str], None]


@dataclass
class BuildSummary:
    built: list[BuildResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [f"built {len(self.built)} dataset(s), {len(self.failed)} failed "
               f"in {self.seconds:.1f} s"]
        out += [f"  ok      {r.dataset_id}: {r.headline}" for r in self.built]
        out += [f"  FAILED  {i}: {reason}" for i, reason in self.failed.items()]
        return out


def build_all(registry: Registry, settings: Settings, ids: list[str] | None = None,
              echo: Echo = print, scheduler: str | None = None) -> BuildSummary:
    """Build the selected datasets (all by default), printing progress and a summary."""
    summary = BuildSummary()
    started = time.perf_counter()
    datasets = registry.select(ids)
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    for n, dataset in enumerate(datasets, 1):
        echo(f"[{n}/{len(datasets)}] {dataset.id} ({dataset.pipeline.kind}) …")
        broken = [i for i in dataset.pipeline.depends_on if i in summary.failed]
        if broken:  # it would read a stale version of what it depends on: keep its old one too
            summary.failed[dataset.id] = f"not built: it depends on {broken}, which failed"
            echo(f"    FAILED: {summary.failed[dataset.id]}")
            continue
        try:
            result = build_dataset(dataset, settings, scheduler, echo)
        except (GeoportalError, PluginError, OSError, ValueError) as exc:
            summary.failed[dataset.id] = str(exc)
            echo(f"    FAILED: {exc}")
            continue
        except Exception as exc:  # a bug: say so, with the trace, and go on with the others
            summary.failed[dataset.id] = f"internal error: {exc!r}"
            echo(f"    FAILED with an internal error:\n{traceback.format_exc()}")
            continue
        summary.built.append(result)
        echo(f"    {result.headline} ({result.seconds:.1f} s)")
    summary.seconds = time.perf_counter() - started
    for line in summary.lines():
        echo(line)
    return summary


def build_dataset(dataset: Dataset, settings: Settings, scheduler: str | None = None,
                  echo: Echo | None = None) -> BuildResult:
    """Plan, build and publish one dataset; the old version stays if anything fails.

    Units run through :func:`pipelines.executor.run_units`: in-process for a single unit, on
    the local cores or on a Dask cluster (``scheduler``) for many (LiDAR tiles).
    """
    from pipelines.executor import run_units

    started = time.perf_counter()
    pipeline_class = load_plugin("pipeline", dataset.pipeline.kind)
    pipeline: Pipeline = pipeline_class(dataset, settings)
    units = pipeline.plan()
    with staging(settings.published_dir, dataset.id) as folder:
        results = run_units(pipeline, units, folder, scheduler, echo=echo)
        result = pipeline.finish(results, folder)
        _keep_modified_if_unchanged(result.metadata, read_metadata(settings.published_dir,
                                                                   dataset.id))
        (folder / METADATA_FILE).write_text(result.metadata.to_json(), encoding="utf-8")
        publish_version(settings.published_dir, dataset.id, folder)
    result.seconds = time.perf_counter() - started
    return result


def _keep_modified_if_unchanged(new: LayerMetadata, old: LayerMetadata | None) -> None:
    """A rebuild with identical content keeps its ``modified`` date (catalogue idempotence)."""
    if old is not None and old.content_key() == new.content_key():
        new.modified = old.modified
