"""The contract every pipeline fulfils: plan the work units, build one unit, publish atomically.

Keeping the three steps apart is what lets one executor run any pipeline — sequentially, on the
local cores, or on a Dask cluster — and lets a pipeline skip units whose inputs have not changed.
A small vector layer plans a single unit; a LiDAR pipeline plans one unit per 1 km tile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoportal.core.publish import LayerMetadata
from geoportal.core.registry import Dataset
from geoportal.core.settings import Settings


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


class Pipeline(ABC):
    """Base class of all pipelines; subclasses are registered in :mod:`geoportal.core.plugin`."""

    def __init__(self, dataset: Dataset, settings: Settings) -> None:
        self.dataset = dataset
        self.settings = settings
        self.params = dataset.pipeline.params

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

    @abstractmethod
    def finish(self, results: list[Any], staging: Path) -> BuildResult:
        """Combine the units' results in ``staging`` into the layer's outputs and metadata."""
