"""The contract every pipeline fulfils: plan the work units, build one unit, publish atomically.

Keeping the three steps apart is what lets one executor run any pipeline — sequentially, on the
local cores, or on a Dask cluster — and lets a pipeline skip units whose inputs have not changed.
A small vector layer plans a single unit; a LiDAR pipeline plans one unit per 1 km tile.

A pipeline is made from its dataset and a :class:`PipelineContext`: the registry (so it never
reads ``datasets/`` itself), the settings, and the published outputs of the datasets it names
as dependencies. Its parameters arrive typed: each kind declares a :class:`Params` model, which
the registry checks when it loads (see docs/architecture.md, "Adding a pipeline kind").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from geoportal.core.errors import SourceError
from geoportal.core.publish import (
    METADATA_FILE,
    FileRecord,
    LayerMetadata,
    link_or_copy,
    read_metadata,
)
from geoportal.core.registry import Dataset, Params, Registry
from geoportal.core.settings import Settings


@dataclass(frozen=True)
class PipelineContext:
    """What a pipeline may use besides its own dataset; picklable, so units can run on a
    process pool or a Dask cluster."""

    registry: Registry
    settings: Settings

    def cache_dir(self, name: str) -> Path:
        """A cache shared by the runs and the datasets of one kind (``cache/lidar``)."""
        return self.settings.data_dir / "cache" / name

    def published(self, dataset: Dataset, dependency: str) -> Path:
        """The published folder of ``dependency``, which ``dataset`` must declare.

        Reading another dataset's output without declaring it would let a build publish this
        one from a stale or absent input; an undeclared read is a bug, a missing output an
        input error naming what to build.
        """
        if dependency not in dataset.pipeline.dependencies:
            raise RuntimeError(f"{dataset.id} reads {dependency!r} without declaring it "
                               f"(an OutputRef parameter or pipeline.depends_on)")
        folder = self.settings.published_dir / dependency
        if not (folder / METADATA_FILE).exists():
            raise SourceError(f"{dataset.id} needs the published {dependency!r}, which is not "
                              f"built: run `geoportal build {dataset.id}` (it builds "
                              f"{dependency!r} first) or `geoportal build {dependency}`")
        return folder


@dataclass(frozen=True)
class WorkUnit:
    """One independently buildable piece of a dataset (a file, a tile)."""

    key: str
    inputs: tuple[Path, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    """What a finished build reports for the run summary."""

    dataset_id: str
    metadata: LayerMetadata
    headline: str
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    #: Units whose new input failed: key → the reason and what is served instead. When it is
    #: not empty the good units are published, but the run reports the dataset failed (exit
    #: status 1) and the datasets built from it are not rebuilt.
    incomplete: dict[str, str] = field(default_factory=dict)


class Pipeline(ABC):
    """Base class of all pipelines; subclasses are registered in :mod:`geoportal.core.plugin`.

    ``Params`` is the kind's parameter model; the registry has validated the dataset's
    ``pipeline.params`` against it, so ``self.params`` is an instance of it.
    """

    Params: ClassVar[type[Params]] = Params

    def __init__(self, dataset: Dataset, context: PipelineContext) -> None:
        self.dataset = dataset
        self.context = context
        self.settings = context.settings
        self.params: Any = dataset.pipeline.params
        if not isinstance(self.params, self.Params):
            raise TypeError(f"{dataset.id}: pipeline.params is not a {self.Params.__name__}; "
                            f"load datasets through geoportal.core.registry.load_registry")

    @abstractmethod
    def plan(self) -> list[WorkUnit]:
        """The units to build; raise :class:`~geoportal.core.errors.SourceError` when inputs
        are missing."""

    @abstractmethod
    def build(self, unit: WorkUnit, staging: Path) -> Any:
        """Build one unit into the private ``staging`` folder and return its partial result."""

    def submission_order(self, units: list[WorkUnit], workers: int) -> list[WorkUnit]:
        """The order in which a pool or a cluster is handed the units (plan order by default).

        Results still come back in plan order; this only decides which units run side by
        side, for pipelines whose units share inputs (LiDAR tiles need their neighbours).
        """
        return units

    def inputs_key(self) -> str | None:
        """A digest of everything this build reads, from file stamps and parameters alone, or
        None (the default): always build.

        When the published version was built from the same key, :mod:`pipelines.build` keeps
        it without planning a unit: a no-change rebuild of the city's LiDAR products would
        otherwise reopen every tile's cached products to publish the same files again.
        """
        return None

    @abstractmethod
    def finish(self, results: list[Any], staging: Path) -> BuildResult:
        """Combine the units' results in ``staging`` into the layer's outputs and metadata."""

    def keep_previous(self, key: str, reason: str, staging: Path) -> tuple[list[FileRecord], str]:
        """Link the published files of unit ``key``, whose new input failed, into ``staging``.

        One corrupt tile of a new delivery must neither hold back the good ones nor take a
        working tile off the map: the good tiles are published and the failed one keeps being
        served from the previous version. Returns those files' records (empty when no version
        has the unit) and the note for :attr:`BuildResult.incomplete`.
        """
        previous = read_metadata(self.settings.published_dir, self.dataset.id)
        records = [f for f in previous.files if f.unit == key] if previous else []
        served = self.settings.published_dir / self.dataset.id
        for record in records:
            target = staging / record.path
            target.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy((served / record.path).resolve(), target)
        if not records:
            return [], f"{reason}; not published (no earlier version has it)"
        return records, f"{reason}; the previously published file is served instead"
