"""The web map's climate theme: the heavy-rain layers in one group, with a scenario switch.

Every ``heavy_rain`` dataset belongs to the group; one with ``params.scenario`` is the map of
that scenario, so the map can offer the scenarios (rare, exceptional, extreme: the model's own
list, with its titles) and show one scenario's layers at a time (web/src/climate.js).
"""

from __future__ import annotations

from typing import Any

from geoportal.core.registry import Dataset, Registry

GROUP = "climate"
TITLE = {"de": "Klima", "en": "Climate"}


def is_climate(d: Dataset) -> bool:
    return d.pipeline.kind == "heavy_rain"


def scenario_of(d: Dataset) -> str | None:
    """The scenario a heavy-rain layer shows, None for the scenario-free ones (sinks, paths)."""
    return getattr(d.pipeline.params, "scenario", None) if is_climate(d) else None


def family_of(d: Dataset) -> str | None:
    """The layer's name without its scenario (``heavy_rain_flood_depth``): the switch swaps a
    visible layer for the same family's layer of the chosen scenario."""
    sid = scenario_of(d)
    return d.id.removesuffix(f"_{sid}") if sid else None


def scenarios(registry: Registry, shown: set[str]) -> list[dict[str, Any]]:
    """The model's scenarios that have a layer on the map, in the model's order."""
    found: list[dict[str, Any]] = []
    used = {scenario_of(d) for d in registry if d.id in shown}
    for d in registry:
        model = getattr(d.pipeline.params, "model", None) if is_climate(d) else None
        for s in getattr(model, "scenarios", []) or []:
            if s.id in used and s.id not in {f["id"] for f in found}:
                found.append({"id": s.id, "title": s.title.model_dump(), "rain_mm": s.rain_mm,
                              "sri": s.sri})
    return found


def annotate(registry: Registry, layers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mark each climate layer of the manifest with its scenario, family and scenario title;
    returns the manifest's ``climate`` part (the scenarios to switch between)."""
    found = scenarios(registry, set(layers))
    titles = {s["id"]: s["title"] for s in found}
    for d in registry:
        sid = scenario_of(d)
        if sid and d.id in layers:
            layers[d.id].update({"scenario": sid, "family": family_of(d),
                                 "scenario_title": titles.get(sid, {"de": sid, "en": sid})})
    return {"scenarios": found}
