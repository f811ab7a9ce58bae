"""A footprint and two heights as the faces of a closed prism: the LoD1 block.

CityJSON stores the faces as polygons (with holes for courtyards), glTF as triangles; both are
made from the same :class:`Surface` list, so the two downloads cannot disagree. Every face is
oriented counter-clockwise seen from outside the solid (its normal points out), as CityJSON's
``Solid`` and glTF's back-face culling both expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

GROUND, ROOF, WALL = "GroundSurface", "RoofSurface", "WallSurface"


@dataclass(frozen=True)
class Surface:
    """One planar face: its semantic type and rings (outer first), each an open (n, 3) array;
    a LoD2 roof face also names its fitted plane (a, b, c): z = a·x + b·y + c."""

    kind: str
    rings: tuple[np.ndarray, ...]
    plane: tuple[float, float, float] | None = None


def clean_polygon(polygon: shapely.Polygon) -> shapely.Polygon:
    """Exterior counter-clockwise, holes clockwise, no repeated vertex (CityJSON refuses
    duplicates; a zero-length edge would make a degenerate wall)."""
    polygon = shapely.remove_repeated_points(polygon, 0.001)
    return shapely.orient_polygons(polygon, exterior_cw=False)


def _open_ring(ring: shapely.LinearRing) -> np.ndarray:
    return np.asarray(ring.coords)[:-1, :2]


def _at(xy: np.ndarray, z: float) -> np.ndarray:
    return np.column_stack([xy, np.full(len(xy), z)])


def prism(polygon: shapely.Polygon, ground: float, roof: float) -> list[Surface]:
    """The block's faces: floor at ``ground``, flat roof at ``roof``, one wall per edge."""
    polygon = clean_polygon(polygon)
    rings = [_open_ring(polygon.exterior), *(_open_ring(r) for r in polygon.interiors)]
    faces = [Surface(GROUND, tuple(_at(r[::-1], ground) for r in rings)),
             Surface(ROOF, tuple(_at(r, roof) for r in rings))]
    for ring in rings:
        following = np.roll(ring, -1, axis=0)
        low, high = np.full((len(ring), 1), ground), np.full((len(ring), 1), roof)
        quads = np.stack([np.hstack([ring, low]), np.hstack([following, low]),
                          np.hstack([following, high]), np.hstack([ring, high])], axis=1)
        faces.extend(Surface(WALL, (quad,)) for quad in quads)
    return faces


def triangles(surface: Surface) -> np.ndarray:
    """The face as (k, 3, 3) triangles, counter-clockwise from outside like the face.

    A wall is convex (a quad, or a LoD2 wall under a roof profile that is a minimum of
    planes): a fan from its first corner. A floor or roof with any number of vertices and
    holes is cut by a constrained Delaunay triangulation of its plan (GEOS), whose triangles use
    the polygon's own vertices (each keeps its height: a LoD2 roof face is tilted), then turned
    to the face's orientation.
    """
    outer = surface.rings[0]
    if surface.kind == WALL:
        return np.stack([np.stack([outer[0], outer[i], outer[i + 1]])
                         for i in range(1, len(outer) - 1)])
    corners = np.vstack(surface.rings)
    polygon = shapely.Polygon(outer[:, :2], [r[:, :2] for r in surface.rings[1:]])
    parts = shapely.get_parts(shapely.constrained_delaunay_triangles(polygon))
    tris = np.stack([np.asarray(t.exterior.coords)[:3] for t in parts]) if len(parts) else \
        np.zeros((0, 3, 2))
    flat = tris.reshape(-1, 2)
    nearest = np.argmin(((flat[:, None] - corners[None, :, :2]) ** 2).sum(axis=2), axis=1) \
        if len(flat) else np.zeros(0, int)
    tris = np.concatenate([tris, corners[nearest, 2].reshape(*tris.shape[:2], 1)], axis=2)
    up = _signed_area(outer) > 0  # the face looks up (roof) or down (floor)
    flip = (_triangle_areas(tris) > 0) != up
    tris[flip] = tris[flip][:, ::-1]
    return tris


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _triangle_areas(tris: np.ndarray) -> np.ndarray:
    ab, ac = tris[:, 1, :2] - tris[:, 0, :2], tris[:, 2, :2] - tris[:, 0, :2]
    return 0.5 * (ab[:, 0] * ac[:, 1] - ac[:, 0] * ab[:, 1])


def mesh(faces: list[Surface]) -> tuple[np.ndarray, np.ndarray]:
    """All faces as flat-shaded triangles: (3k, 3) vertices and (3k, 3) unit normals.

    The quad walls (most faces) are cut into two triangles each in one array operation."""
    quad = [f.kind == WALL and len(f.rings[0]) == 4 for f in faces]
    walls = np.stack([f.rings[0] for f, q in zip(faces, quad, strict=True) if q]) \
        if any(quad) else np.zeros((0, 4, 3))
    others = [triangles(f) for f, q in zip(faces, quad, strict=True) if not q]
    tris = np.concatenate([*others, walls[:, [0, 1, 2]], walls[:, [0, 2, 3]]])
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    return tris.reshape(-1, 3), np.repeat(normals, 3, axis=0)
