"""Placing glTF content on the globe: EPSG:4978 (ECEF), the tile frames and ``tileset.json``.

3D Tiles (OGC 3D Tiles 1.1) want content in Earth-centred, Earth-fixed metres. Each 1 km tile's
glTF holds its vertices in a local east-north-up frame at the tile's centre (float32 keeps
millimetres there; ECEF coordinates in float32 would be off by decimetres), and the tile's
``transform`` takes that frame to ECEF. glTF is y-up: a local (e, n, u) is stored as
(e, u, −n), which the 3D Tiles y-up → z-up convention turns back.

The heights are DHHN2016 (the DTM's); ECEF needs ellipsoidal heights. PROJ uses the official
quasigeoid GCG2016 (``de_bkg_gcg2016.tif``) when it is installed; Debian's proj-data does not
ship it, and then the heights go through EGM96 (``egm96_15.gtx``, in proj-data): ellipsoidal
heights from a global geoid, whose difference to GCG2016 is nearly constant over the city (a
shift of the whole model, not a distortion). The build warns which one it used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from pyproj.exceptions import ProjError

from geoportal.core.publish import atomic_write_text

#: Source frames tried in order: ETRS89/UTM + DHHN2016 through GCG2016, then EGM96 heights.
VERTICAL_FRAMES = (("EPSG:25832+7837", "GCG2016 quasigeoid"),
                   ("EPSG:25832+5773", "EGM96 geoid (GCG2016 grid not installed)"))


@dataclass(frozen=True)
class GlobeFrame:
    """UTM + height ↔ ECEF, with the vertical reference PROJ could honour."""

    forward: Transformer
    inverse: Transformer
    geoid: str

    def to_ecef(self, xyz: np.ndarray) -> np.ndarray:
        x, y, z = self.forward.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        return np.column_stack([x, y, z])

    def from_ecef(self, xyz: np.ndarray) -> np.ndarray:
        x, y, z = self.inverse.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        return np.column_stack([x, y, z])

    def to_geodetic(self, xyz: np.ndarray) -> np.ndarray:
        """(lon°, lat°, ellipsoidal height) of UTM points, for region bounding volumes."""
        ecef = self.to_ecef(xyz)
        to_4979 = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
        lon, lat, h = to_4979.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        return np.column_stack([lon, lat, h])


def globe_frame(horizontal: str = "EPSG:25832") -> GlobeFrame:
    """The most accurate UTM-with-heights → ECEF transformation whose grids are installed
    (``only_best``: PROJ refuses rather than drop the geoid, which would put every building
    47 m too low on the ellipsoid)."""
    for source, geoid in VERTICAL_FRAMES:
        source = source.replace("EPSG:25832", horizontal)
        try:
            forward = Transformer.from_crs(source, "EPSG:4978", always_xy=True, only_best=True,
                                           allow_ballpark=False)
            inverse = Transformer.from_crs("EPSG:4978", source, always_xy=True,
                                           only_best=True, allow_ballpark=False)
        except ProjError:
            continue
        return GlobeFrame(forward, inverse, geoid)
    raise ProjError(f"no transformation from {horizontal} with heights to EPSG:4978: install "
                    "PROJ's de_bkg_gcg2016.tif or egm96_15.gtx (Debian proj-data)")


@dataclass(frozen=True)
class LocalFrame:
    """An east-north-up frame at ``origin`` (ECEF): its rotation's columns are e, n, u."""

    origin: np.ndarray
    rotation: np.ndarray

    @classmethod
    def at(cls, frame: GlobeFrame, point: tuple[float, float, float]) -> LocalFrame:
        origin = frame.to_ecef(np.array([point], dtype=float))[0]
        geodetic = frame.to_geodetic(np.array([point], dtype=float))[0]
        lon, lat = math.radians(geodetic[0]), math.radians(geodetic[1])
        east = np.array([-math.sin(lon), math.cos(lon), 0.0])
        north = np.array([-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon),
                          math.cos(lat)])
        up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon),
                       math.sin(lat)])
        return cls(origin, np.column_stack([east, north, up]))

    def to_local(self, ecef: np.ndarray) -> np.ndarray:
        return (ecef - self.origin) @ self.rotation

    def to_ecef(self, local: np.ndarray) -> np.ndarray:
        return local @ self.rotation.T + self.origin

    def transform(self) -> list[float]:
        """The tile's 4×4 ``transform``, column-major as 3D Tiles stores it."""
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = self.rotation, self.origin
        return [float(v) for v in matrix.T.ravel()]


def to_gltf_axes(local: np.ndarray) -> np.ndarray:
    """(e, n, u) → glTF's y-up (e, u, −n)."""
    return np.column_stack([local[:, 0], local[:, 2], -local[:, 1]])


def from_gltf_axes(gltf: np.ndarray) -> np.ndarray:
    """glTF's (x, y, z) → (e, n, u) = (x, −z, y): what a 3D Tiles client applies."""
    return np.column_stack([gltf[:, 0], -gltf[:, 2], gltf[:, 1]])


def box_volume(local: np.ndarray) -> list[float]:
    """An axis-aligned ``box`` in the tile frame around ``local`` (e, n, u) points."""
    low, high = local.min(axis=0), local.max(axis=0)
    centre, half = (low + high) / 2, np.maximum((high - low) / 2, 0.01)
    return [*map(float, centre), float(half[0]), 0.0, 0.0, 0.0, float(half[1]), 0.0,
            0.0, 0.0, float(half[2])]


def region_volume(frame: GlobeFrame, corners: np.ndarray) -> list[float]:
    """A ``region`` (west, south, east, north in radians; heights in metres) around UTM
    points: the root's volume, exact whatever the children's frames."""
    geo = frame.to_geodetic(corners)
    west, south = np.radians(geo[:, 0].min()), np.radians(geo[:, 1].min())
    east, north = np.radians(geo[:, 0].max()), np.radians(geo[:, 1].max())
    return [float(west), float(south), float(east), float(north),
            float(geo[:, 2].min()), float(geo[:, 2].max())]


@dataclass(frozen=True)
class TileEntry:
    """One content tile of the tileset: its GLB, frame and box (in that frame)."""

    uri: str
    transform: list[float]
    box: list[float]
    utm_bounds: tuple[float, float, float, float, float, float]  # x0 y0 z0 x1 y1 z1


def write_tileset(path: Path, frame: GlobeFrame, entries: list[TileEntry],
                  geometric_error: float, properties: dict[str, Any] | None = None) -> None:
    """``tileset.json`` (3D Tiles 1.1): a root without content over one leaf per 1 km tile.

    The root's geometric error is the error of showing nothing (``geometric_error``, the
    tile edge: a block model has no coarser level worth streaming), so a client draws the
    tiles from a few dozen kilometres on; the leaves are exact (0).
    """
    corners = np.array([[x, y, z] for e in entries for x in (e.utm_bounds[0], e.utm_bounds[3])
                        for y in (e.utm_bounds[1], e.utm_bounds[4])
                        for z in (e.utm_bounds[2], e.utm_bounds[5])])
    children = [{"boundingVolume": {"box": e.box}, "transform": e.transform,
                 "geometricError": 0.0, "content": {"uri": e.uri}} for e in entries]
    tileset = {
        "asset": {"version": "1.1", "generator": "geoportal Ratingen (pipelines/city3d)"},
        "geometricError": geometric_error,
        "root": {"boundingVolume": {"region": region_volume(frame, corners)},
                 "geometricError": geometric_error, "refine": "ADD", "children": children},
    }
    if properties:
        tileset["asset"]["extras"] = properties
    atomic_write_text(path, json.dumps(tileset, indent=1))
