"""Deterministic randomness keyed by global coordinates.

Every random draw in the sample city is keyed by the master seed plus *where* it happens
(a lattice node, a 1 km cell, a tile) and *what* it is for (a stream tag). That is what makes
the scene independent of the requested extent: a cell draws the same numbers whether it is
generated alone or as part of the whole city.
"""

from __future__ import annotations

import zlib

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def tag(name: str) -> int:
    """Stable integer for a stream name (Python's ``hash`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def rng_for(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A generator for one stream at one place, e.g. ``rng_for(seed, "trees", e, n)``."""
    material = [int(seed) & 0xFFFFFFFF, tag(stream), *[int(k) & 0xFFFFFFFF for k in keys]]
    return np.random.default_rng(np.random.SeedSequence(material))


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def hash_uniform(seed: int, stream: str, *keys: np.ndarray | int) -> np.ndarray:
    """Vectorised uniform [0, 1) value per element of the broadcast integer ``keys``.

    Used where a per-object draw must not depend on how many objects are drawn together
    (lattice node jitter, per-edge decisions): a counter-based hash instead of a stream.
    """
    with np.errstate(over="ignore"):
        h = _splitmix(np.uint64(int(seed) & 0xFFFFFFFF) ^ (np.uint64(tag(stream)) << np.uint64(32)))
        for k in keys:
            kk = np.asarray(k).astype(np.int64).astype(np.uint64)
            h = _splitmix(h ^ kk)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
