"""The imagery tests' two-tile orthophoto delivery and the reading of served JPEG tiles."""

from __future__ import annotations

import warnings

import numpy as np
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

TILES = [(350, 5685), (351, 5685)]
RES = 2.0
YEAR = 2025


def decode(jpeg: bytes) -> np.ndarray:
    """The pixels of a served 256 px web tile as integers (bands first), read by GDAL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(jpeg) as mem, mem.open() as img:
            assert (img.width, img.height) == (256, 256)
            return img.read().astype(int)
