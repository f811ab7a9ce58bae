"""Deterministic generator of Ratingen's raw geodata inputs (the "sample city").

The city's real LiDAR, orthophotos, cadastre and registers cannot be shipped, so the product
generates the same kinds of files, in the real NRW formats and frame (EPSG:25832, DHHN2016),
from one consistent synthetic scene, together with its ground truth::

    from geoportal.app.sample import SampleSpec, generate, DISTRICTS
    manifest = generate(SampleSpec(tiles=DISTRICTS["default"]), Path("out"), workers=2)
"""

from .generate import GENERATOR_VERSION, generate
from .spec import DISTRICTS, SampleSpec

__all__ = ["DISTRICTS", "GENERATOR_VERSION", "SampleSpec", "generate"]
