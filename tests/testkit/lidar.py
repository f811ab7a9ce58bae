"""The LiDAR tests' two-tile sample and builds of its layers into a folder of their own."""

from __future__ import annotations

from pathlib import Path

from testkit import make_settings

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import BuildSummary, build_all

TWO_TILES = [(350, 5685), (351, 5685)]
#: A row of three: changing the first tile leaves the third's buffer (and products) alone.
THREE_TILES = [(350, 5685), (351, 5685), (352, 5685)]
LIDAR_IDS = ["terrain_dtm", "surface_dsm", "canopy_height", "hillshade", "trees_lidar",
             "building_heights"]


def settings_for(base: Path, raw: Path) -> Settings:
    """A data folder of its own over a shared raw delivery (linked, not copied: it is large)."""
    base.mkdir(parents=True, exist_ok=True)
    if not (base / "raw").exists():
        (base / "raw").symlink_to(raw)
    return make_settings(base)


def build(settings: Settings, ids: list[str], scheduler: str | None = None
          ) -> tuple[BuildSummary, str]:
    """Build ``ids`` from the checkout's registry; the summary and the log a user would read."""
    lines: list[str] = []
    registry = load_registry(PROJECT_ROOT / "datasets")
    summary = build_all(registry, settings, ids, echo=lines.append, scheduler=scheduler)
    return summary, "\n".join(lines)
