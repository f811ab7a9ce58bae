"""Aerial imagery: NRW orthophoto tiles → per-tile COGs, a mosaic, web map tiles (issue 4)."""

from pipelines.imagery.pipeline import OrthophotoPipeline

__all__ = ["OrthophotoPipeline"]
