"""GeoPackage binary geometries decoded for a whole page, and cached CRS transformers.

Part of the GeoPackage provider (:mod:`geoportal.app.providers.geopackage`): the header is
parsed here and the WKB handed to :func:`shapely.from_wkb` in one call per page.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyproj
import shapely

CRS84 = "OGC:CRS84"

#: Envelope sizes in bytes by the envelope indicator of the GeoPackage binary header (bits 1-3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_FLAG_EMPTY = 0b0001_0000



# --------------------------------------------------------------------------------------------
# GeoPackage binary geometries
# --------------------------------------------------------------------------------------------


def wkb_offset(blob: bytes) -> int | None:
    """Return where the WKB starts inside a GeoPackage geometry blob, or None if there is none.

    None means "no geometry": the empty flag is set, or the blob is not GeoPackage binary (we
    would rather serve a feature without geometry than fail the whole page).
    """
    if len(blob) < 8 or blob[0] != 0x47 or blob[1] != 0x50:  # b"GP"
        return None
    flags = blob[3]
    if flags & _FLAG_EMPTY:
        return None
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 0b111)
    if envelope is None:
        return None
    return 8 + envelope


def decode_geometries(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Decode GeoPackage blobs to an object array of shapely geometries (None where absent)."""
    wkb = np.empty(len(blobs), dtype=object)
    for i, blob in enumerate(blobs):
        start = None if blob is None else wkb_offset(blob)
        wkb[i] = None if start is None else bytes(blob[start:])
    return shapely.from_wkb(wkb, on_invalid="ignore")


# --------------------------------------------------------------------------------------------
# Coordinate transformation
# --------------------------------------------------------------------------------------------

_TRANSFORMERS: dict[tuple[str, str, bool, int], pyproj.Transformer] = {}
_TRANSFORMERS_LOCK = threading.Lock()


def get_transformer(src: str, dst: str, always_xy: bool = True) -> pyproj.Transformer:
    """Return a cached transformer, lon/lat-ordered unless ``always_xy`` is False.

    Building one costs milliseconds, so they are cached; the cache is per thread because pyproj
    transformers must not be shared between threads.
    """
    key = (src, dst, always_xy, threading.get_ident())
    transformer = _TRANSFORMERS.get(key)
    if transformer is None:
        transformer = pyproj.Transformer.from_crs(
            pyproj.CRS.from_user_input(src), pyproj.CRS.from_user_input(dst), always_xy=always_xy
        )
        with _TRANSFORMERS_LOCK:
            _TRANSFORMERS[key] = transformer
    return transformer


def reproject(geoms: np.ndarray, transformer: pyproj.Transformer) -> np.ndarray:
    """Transform an array of geometries in one vectorised call, keeping Z where present."""

    def apply(coords: np.ndarray) -> np.ndarray:
        columns = transformer.transform(*(coords[:, i] for i in range(coords.shape[1])))
        return np.column_stack(columns)

    return shapely.transform(geoms, apply, include_z=None)
