"""Build the registry's datasets: run each pipeline and publish its output atomically.

``geoportal build X`` builds what X reads first: every dataset X depends on (``depends_on`` and
the :class:`~geoportal.core.registry.OutputRef` parameters), transitively, is built before it in
the same run — say so in the progress — so X is never published from an absent or stale input.
The pipelines' caches make an unchanged dependency cheap to rebuild (LiDAR tiles are not
decoded again; a rebuild with identical content keeps its ``modified`` date). A pipeline that
can name its inputs without reading them (:meth:`~pipelines.base.Pipeline.inputs_key`: the LiDAR
products, from file stamps) is not rebuilt at all while they match the published version's.

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
from geoportal.core.plugin import load_plugin
from geoportal.core.publish import (
    METADATA_FILE,
    LayerMetadata,
    atomic_write_text,
    publish_version,
    read_metadata,
    staging,
)
from geoportal.core.registry import Dataset, Registry, build_order, type_params
from geoportal.core.settings import Settings
from pipelines.base import BuildResult, Pipeline, PipelineContext

Echo = Callable[[str], None]
#: Beside a published version's metadata: the pipeline's :meth:`~pipelines.base.Pipeline.inputs_key`
#: it was built from (not a download; the catalogue lists ``metadata.files`` only).
INPUTS_KEY_FILE = ".inputs_key"


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
        for r in self.built:
            n = len(r.warnings)
            status = f"ok with {n} warning{'s' if n > 1 else ''}" if n else "ok"
            out.append(f"  {status:<7} {r.dataset_id}: {r.headline}")
            out += [f"    warning: {w}" for w in r.warnings]
        out += [f"  FAILED  {i}: {reason}" for i, reason in self.failed.items()]
        return out


def build_all(registry: Registry, settings: Settings, ids: list[str] | None = None,
              echo: Echo = print, scheduler: str | None = None) -> BuildSummary:
    """Build the selected datasets (all by default), printing progress and a summary."""
    summary = BuildSummary()
    started = time.perf_counter()
    context = PipelineContext(registry, settings)
    datasets, needed_by = with_dependencies(registry, ids)
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    for n, dataset in enumerate(datasets, 1):
        why = f", needed by {', '.join(needed_by[dataset.id])}" if dataset.id in needed_by else ""
        echo(f"[{n}/{len(datasets)}] {dataset.id} ({dataset.pipeline.kind}{why}) …")
        broken = [i for i in dataset.pipeline.dependencies if i in summary.failed]
        if broken:  # it would read a stale version of what it depends on: keep its old one too
            summary.failed[dataset.id] = f"not built: it depends on {broken}, which failed"
            echo(f"    FAILED: {summary.failed[dataset.id]}")
            continue
        try:
            result = build_dataset(dataset, context, scheduler, echo)
        except (GeoportalError, OSError, ValueError) as exc:
            summary.failed[dataset.id] = str(exc)
            echo(f"    FAILED: {exc}")
            continue
        except Exception as exc:  # a bug: say so, with the trace, and go on with the others
            summary.failed[dataset.id] = f"internal error: {exc!r}"
            echo(f"    FAILED with an internal error:\n{traceback.format_exc()}")
            continue
        if result.incomplete:  # published, but not what was delivered: the run must say so
            summary.failed[dataset.id] = incomplete_reason(result)
            echo(f"    {result.headline} ({result.seconds:.1f} s), published; FAILED: "
                 f"{summary.failed[dataset.id]}")
            continue
        summary.built.append(result)
        echo(f"    {result.headline} ({result.seconds:.1f} s)")
        for warning in result.warnings:
            echo(f"    warning: {warning}")
    summary.seconds = time.perf_counter() - started
    for line in summary.lines():
        echo(line)
    return summary


def incomplete_reason(result: BuildResult) -> str:
    """Why a published build still failed: the units whose input failed, and what is served."""
    units = result.incomplete
    return (f"{len(units)} unit(s) failed, the others are published: "
            + "; ".join(units.values()))


def with_dependencies(registry: Registry, ids: list[str] | None
                      ) -> tuple[list[Dataset], dict[str, list[str]]]:
    """The datasets to build in order: the selected ones (all by default) and, before them,
    every dataset they read, transitively; and for each added one, which selected ones need it.
    """
    if not ids:
        return registry.select(None), {}
    chosen = [registry[i] for i in ids]
    needed_by: dict[str, list[str]] = {}
    todo = [(dep, d.id) for d in chosen for dep in d.pipeline.dependencies]
    while todo:
        dep, user = todo.pop(0)
        if dep in ids or user in needed_by.get(dep, []):
            continue
        needed_by.setdefault(dep, []).append(user)
        todo += [(further, dep) for further in registry[dep].pipeline.dependencies]
    extra = [registry[i] for i in needed_by]
    return build_order([*extra, *chosen]), needed_by


def make_pipeline(dataset: Dataset, context: PipelineContext) -> Pipeline:
    """The dataset's pipeline, its parameters typed (a dataset loaded alone gets them here)."""
    type_params(dataset)
    pipeline_class = load_plugin("pipeline", dataset.pipeline.kind)
    return pipeline_class(dataset, context)


def build_dataset(dataset: Dataset, context: PipelineContext | Settings,
                  scheduler: str | None = None, echo: Echo | None = None) -> BuildResult:
    """Plan, build and publish one dataset; the old version stays if anything fails.

    Units run through :func:`pipelines.executor.run_units`: in-process for a single unit, on
    the local cores or on a Dask cluster (``scheduler``) for many (LiDAR tiles). Given bare
    settings, the context's registry is the settings' ``datasets/`` with this dataset in it.
    """
    from pipelines.executor import run_units

    if isinstance(context, Settings):
        context = PipelineContext(_registry_with(dataset, context), context)
    settings = context.settings
    started = time.perf_counter()
    pipeline = make_pipeline(dataset, context)
    key = pipeline.inputs_key()
    kept = unchanged_version(settings, dataset.id, key)
    if kept is not None:
        result = BuildResult(dataset.id, kept, f"unchanged since {kept.built_at} (inputs and "
                             f"parameters identical), kept", warnings=list(kept.warnings))
        result.seconds = time.perf_counter() - started
        return result
    units = pipeline.plan()
    with staging(settings.published_dir, dataset.id) as folder:
        results = run_units(pipeline, units, folder, scheduler, echo=echo)
        result = pipeline.finish(results, folder)
        # what the summary says, kept in metadata.json (a public download: no server paths)
        result.metadata.warnings = [without_server_paths(w, settings) for w in result.warnings]
        result.metadata.incomplete = {k: without_server_paths(v, settings)
                                      for k, v in result.incomplete.items()}
        _keep_modified_if_unchanged(result.metadata, read_metadata(settings.published_dir,
                                                                   dataset.id))
        if key is not None:
            (folder / INPUTS_KEY_FILE).write_text(key, encoding="utf-8")
        # written last and atomically: a folder with metadata is a complete version
        atomic_write_text(folder / METADATA_FILE, result.metadata.to_json())
        publish_version(settings.published_dir, dataset.id, folder)
    result.seconds = time.perf_counter() - started
    return result


def unchanged_version(settings: Settings, dataset_id: str,
                      key: str | None) -> LayerMetadata | None:
    """The published version's metadata if it was built, complete, from inputs ``key``.

    A version that served a failed unit's previous file (``incomplete``) is rebuilt: the run
    must go on reporting the failure until the input is fixed.
    """
    if key is None:
        return None
    stored = settings.published_dir / dataset_id / INPUTS_KEY_FILE
    try:
        if stored.read_text(encoding="utf-8") != key:
            return None
    except OSError:
        return None
    previous = read_metadata(settings.published_dir, dataset_id)
    return previous if previous is not None and not previous.incomplete else None


def without_server_paths(text: str, settings: Settings) -> str:
    """``text`` without the server's folders: inputs named as in the delivery (``lidar/x.laz``)."""
    for folder in (settings.raw_dir, settings.data_dir):
        text = text.replace(f"{folder}/", "").replace(f"{folder.resolve()}/", "")
    return text


def _keep_modified_if_unchanged(new: LayerMetadata, old: LayerMetadata | None) -> None:
    """A rebuild with identical content keeps its ``modified`` date (catalogue idempotence)."""
    if old is not None and old.content_key() == new.content_key():
        new.modified = old.modified


def _registry_with(dataset: Dataset, settings: Settings) -> Registry:
    from geoportal.core.registry import load_registry

    others = load_registry(settings.datasets_dir) if settings.datasets_dir.is_dir() else []
    return Registry([*[d for d in others if d.id != dataset.id], type_params(dataset)],
                    root=settings.datasets_dir)
