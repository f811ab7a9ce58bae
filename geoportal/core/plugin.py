"""The plugin registry: pipelines and providers by short name, or any importable dotted path.

As in pygeoapi, a registry entry may name a plugin that ships with the project (``vector``) or a
class of its own (``mypackage.pipelines.Special``), so a new kind of source needs no change here.
"""

from __future__ import annotations

import importlib
from typing import Any

from geoportal.core.errors import PluginError

PLUGINS: dict[str, dict[str, str]] = {
    "pipeline": {
        "vector": "pipelines.vector.VectorPipeline",
        "lidar_raster": "pipelines.lidar.pipeline.LidarRasterPipeline",
        "lidar_trees": "pipelines.lidar.pipeline.LidarTreesPipeline",
        "building_heights": "pipelines.lidar.pipeline.BuildingHeightsPipeline",
        "lidar_copc": "pipelines.lidar.pipeline.CopcPipeline",
        "tree_conflation": "pipelines.lidar.conflation.TreeConflationPipeline",
        "trees_not_in_cadastre": "pipelines.lidar.conflation.TreesNotInCadastrePipeline",
        "parcels": "pipelines.parcels.ParcelsPipeline",
        "commercial": "pipelines.commercial.CommercialPipeline",
        "orthophoto": "pipelines.imagery.OrthophotoPipeline",
        "heavy_rain": "pipelines.heavy_rain.pipeline.HeavyRainPipeline",
        "lod1_buildings": "pipelines.city3d.pipeline.Lod1BuildingsPipeline",
        "trees_3d": "pipelines.city3d.pipeline.Trees3dPipeline",
        "roof_solar": "pipelines.solar.pipeline.RoofSolarPipeline",
    },
    "provider": {
        "GeoPackage": "geoportal.app.providers.geopackage.GeoPackageProvider",
        "RasterTiles": "geoportal.app.providers.rastertiles.RasterTileProvider",
    },
}


def load_plugin(kind: str, name: str) -> Any:
    """Return the class registered as ``name`` for ``kind``, or imported from a dotted path."""
    registered = PLUGINS.get(kind, {})
    dotted = registered.get(name, name)
    if "." not in dotted:
        known = ", ".join(sorted(registered)) or "none"
        raise PluginError(f"unknown {kind} {name!r}; expected one of {known} or a dotted path")
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot load {kind} {dotted!r}: {exc}") from exc
