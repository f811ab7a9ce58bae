"""CityJSON 2.0 files of the LoD1 buildings, and their validation.

One file per 1 km tile (``buildings_3d_<E>_<N>.city.json``): the city's 40,000 buildings in
one file would be 60 MB that few clients want whole. Vertices are integers in millimetres
(``transform``), shared between the faces of a building; each building is a ``Solid`` (a
``MultiSolid`` when its footprint has several parts) with semantic surfaces.

Validation: :func:`check` does what the official validator cjval checks for files like these
— the schema's structure, vertex indices, semantics, parents and children, duplicate and unused
vertices — and, beyond cjval, that every solid is closed and oriented outwards; cjval itself
(its Python binding cjvalpy) runs on top where it is installed. cjvalpy 0.4.1, the release that
knows CityJSON 2.0, ships wheels for macOS and Windows only and no source, so on the project's
Linux machines :func:`check` stands alone. The build runs it and refuses to publish a file
with errors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geoportal.core.publish import atomic_write_text
from pipelines.city3d.solids import GROUND, ROOF, WALL, Surface, prism

VERSION = "2.0"
SCALE = 0.001  # millimetres
OWN_CHECKS = "geoportal (cjval's checks, closed outward solids)"
SEMANTICS = [{"type": GROUND}, {"type": ROOF}, {"type": WALL}]
SEMANTIC_INDEX = {s["type"]: i for i, s in enumerate(SEMANTICS)}
#: CityJSON 2.0's city object types (first- and second-level) and geometry types.
CITY_OBJECT_TYPES = frozenset({
    "Bridge", "BridgePart", "BridgeInstallation", "BridgeConstructiveElement", "BridgeRoom",
    "BridgeFurniture", "Building", "BuildingPart", "BuildingInstallation",
    "BuildingConstructiveElement", "BuildingFurniture", "BuildingStorey", "BuildingRoom",
    "BuildingUnit", "CityFurniture", "CityObjectGroup", "LandUse", "OtherConstruction",
    "PlantCover", "SolitaryVegetationObject", "TINRelief", "TransportSquare", "Railway", "Road",
    "Tunnel", "TunnelPart", "TunnelInstallation", "TunnelConstructiveElement", "TunnelHollowSpace",
    "TunnelFurniture", "WaterBody", "Waterway"})
SECOND_LEVEL = frozenset(t for t in CITY_OBJECT_TYPES if t.endswith(
    ("Part", "Installation", "ConstructiveElement", "Room", "Furniture", "Storey", "Unit",
     "HollowSpace")) and t != "CityFurniture")
GEOMETRY_DEPTH = {"MultiPoint": 1, "MultiLineString": 2, "MultiSurface": 3,
                  "CompositeSurface": 3, "Solid": 4, "MultiSolid": 5, "CompositeSolid": 5}


@dataclass(frozen=True)
class Building:
    """What one city object needs: the LoD1 block's heights, and the LoD2 solids (one per
    footprint part, :func:`pipelines.city3d.lod2.building_solids`) where a roof model exists."""

    id: str
    footprint: shapely.Geometry
    ground: float
    roof: float
    attributes: dict[str, Any]
    lod2: list[list[Surface]] | None = None


class _Vertices:
    """Integer vertices (millimetres from ``translate``), each stored once."""

    def __init__(self, translate: np.ndarray) -> None:
        self.translate = translate
        self.index: dict[tuple[int, int, int], int] = {}

    def ring(self, points: np.ndarray) -> list[int]:
        ints = np.rint((points - self.translate) / SCALE).astype(np.int64)
        return [self.index.setdefault(tuple(map(int, p)), len(self.index)) for p in ints]

    def listed(self) -> list[list[int]]:
        return [list(v) for v in self.index]


def _shell(faces: list[Surface], vertices: _Vertices) -> tuple[list, list[int]]:
    boundaries = [[vertices.ring(r) for r in f.rings] for f in faces]
    return boundaries, [SEMANTIC_INDEX[f.kind] for f in faces]


def _geometry(building: Building, vertices: _Vertices) -> dict[str, Any]:
    parts = shapely.get_parts(building.footprint)
    shells = [_shell(prism(p, building.ground, building.roof), vertices) for p in parts]
    return _solid(shells, "1", SEMANTICS)


def _lod2_geometry(solids: list[list[Surface]], vertices: _Vertices) -> dict[str, Any]:
    """The LoD2 solid(s): ground and walls share one semantic object each, every roof plane
    has its own, carrying the plane (``plane``: a, b, c of z = a·x + b·y + c in the CRS's
    metres), its slope and the azimuth it faces, so a reader (and :func:`check`) knows which
    fitted plane each roof face lies on."""
    surfaces: list[dict[str, Any]] = [{"type": GROUND}, {"type": WALL}]
    planes: dict[tuple[float, float, float], int] = {}
    shells = []
    for faces in solids:
        values = []
        for face in faces:
            if face.kind != ROOF or face.plane is None:
                values.append(0 if face.kind == GROUND else 1)
                continue
            if face.plane not in planes:
                planes[face.plane] = len(surfaces)
                surfaces.append(_roof_object(face.plane))
            values.append(planes[face.plane])
        shells.append(([[vertices.ring(r) for r in f.rings] for f in faces], values))
    return _solid(shells, "2", surfaces)


def _roof_object(plane: tuple[float, float, float]) -> dict[str, Any]:
    a, b, _ = plane
    slope = float(np.degrees(np.arctan(np.hypot(a, b))))
    facing = float(np.degrees(np.arctan2(-a, -b)) % 360) if slope > 0.05 else None
    return {"type": ROOF, "plane": list(plane), "slope": round(slope, 2),
            "azimuth": None if facing is None else round(facing, 1)}


def _solid(shells: list[tuple[list, list[int]]], lod: str, surfaces: list[dict[str, Any]]
           ) -> dict[str, Any]:
    """A ``Solid`` (one shell) or ``MultiSolid`` geometry with its semantics."""
    if len(shells) == 1:
        (boundaries, values), = shells
        solid = {"type": "Solid", "boundaries": [boundaries], "values": [values]}
    else:
        solid = {"type": "MultiSolid", "boundaries": [[b] for b, _ in shells],
                 "values": [[v] for _, v in shells]}
    return {"type": solid["type"], "lod": lod, "boundaries": solid["boundaries"],
            "semantics": {"surfaces": surfaces, "values": solid["values"]}}


def document(buildings: Iterable[Building], title: str, crs_epsg: int,
             reference_date: str) -> dict[str, Any]:
    """The CityJSON 2.0 document of ``buildings`` (a footprint's parts are one object)."""
    buildings = list(buildings)
    bounds = np.array([[*b.footprint.bounds[:2], b.ground, *b.footprint.bounds[2:],
                        max(b.roof, _top(b.lod2))] for b in buildings]) if buildings \
        else np.zeros((1, 6))
    low = np.floor(bounds[:, :3].min(axis=0))
    vertices = _Vertices(low)
    objects = {b.id: {"type": "Building", "attributes": b.attributes,
                      "geometry": [_geometry(b, vertices)] + (
                          [_lod2_geometry(b.lod2, vertices)] if b.lod2 else [])}
               for b in buildings}
    extent = [*map(float, bounds[:, :3].min(axis=0)), *map(float, bounds[:, 3:].max(axis=0))]
    return {
        "type": "CityJSON", "version": VERSION,
        "transform": {"scale": [SCALE] * 3, "translate": [float(v) for v in low]},
        "metadata": {"title": title, "referenceDate": reference_date,
                     "referenceSystem": f"https://www.opengis.net/def/crs/EPSG/0/{crs_epsg}",
                     "geographicalExtent": [round(v, 3) for v in extent]},
        "CityObjects": objects,
        "vertices": vertices.listed(),
    }


def _top(solids: list[list[Surface]] | None) -> float:
    """The highest point of the LoD2 solids (the ridge), or −∞."""
    if not solids:
        return -np.inf
    return max(float(r[:, 2].max()) for faces in solids for f in faces for r in f.rings)


def write(path: Path, doc: dict[str, Any]) -> None:
    """Write the document compactly (a CityJSON file is read by programs), atomically."""
    atomic_write_text(path, json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


# --- validation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """The validator used, and what it found (an empty ``errors`` is a valid file)."""

    validator: str
    errors: list[str]
    warnings: list[str]

    @property
    def valid(self) -> bool:
        return not self.errors


def validate(path: Path) -> Validation:
    """Validate a CityJSON file: :func:`check` always (it also proves each solid closed and
    outward, which cjval does not look at), and cjval (cjvalpy) on top where installed."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return Validation(OWN_CHECKS, [f"not JSON: {exc}"], [])
    errors, warnings = check(doc)
    try:
        import cjvalpy  # type: ignore[import-not-found]
    except ImportError:
        return Validation(OWN_CHECKS, errors, warnings)
    validator = cjvalpy.CJValidator([text])
    if not validator.validate():
        errors.append(f"cjval: {validator.get_report()}")
    return Validation(f"cjvalpy + {OWN_CHECKS}", errors, warnings)


def check(doc: Any) -> tuple[list[str], list[str]]:
    """Errors and warnings of a CityJSON 2.0 document, named by city object.

    Errors: what the schema forbids (type, version, transform, object and geometry types,
    boundaries' nesting, semantics), indices out of range, a broken parent/child link, a
    solid that is not closed or points inwards; for LoD2 solids also what
    :func:`_check_lod2` finds (faces not planar, a surface type facing the wrong way, a roof
    face off its fitted plane). Warnings (cjval's too): duplicate and unused
    vertices.
    """
    errors = _check_root(doc)
    if errors:
        return errors, []
    count = len(doc["vertices"])
    used: set[int] = set()
    vertices = np.asarray(doc["vertices"], dtype=float).reshape(-1, 3)
    real = vertices * doc["transform"]["scale"] + doc["transform"]["translate"]
    for oid, obj in doc["CityObjects"].items():
        errors += _check_object(oid, obj, doc["CityObjects"])
        for n, geometry in enumerate(obj.get("geometry", [])):
            errors += _check_geometry(f"{oid} geometry {n}", geometry, count, used, vertices)
            if not errors and str(geometry.get("lod", "")).startswith("2"):
                errors += _check_lod2(f"{oid} geometry {n}", geometry, real)
    duplicates = sum(c - 1 for c in Counter(map(tuple, doc["vertices"])).values() if c > 1)
    warnings = [f"{duplicates} duplicate vertices"] if duplicates else []
    if len(used) < count:
        warnings.append(f"{count - len(used)} unused vertices")
    return errors, warnings


def _check_root(doc: Any) -> list[str]:
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        return ['"type" must be "CityJSON"']
    errors = []
    if doc.get("version") != VERSION:
        errors.append(f'"version" must be "{VERSION}", not {doc.get("version")!r}')
    transform = doc.get("transform", {})
    for key in ("scale", "translate"):
        value = transform.get(key) if isinstance(transform, dict) else None
        if not (isinstance(value, list) and len(value) == 3
                and all(isinstance(v, int | float) for v in value)):
            errors.append(f'"transform.{key}" must be three numbers')
    if not isinstance(doc.get("CityObjects"), dict):
        errors.append('"CityObjects" must be an object')
    vertices = doc.get("vertices")
    if not isinstance(vertices, list) or not all(
            isinstance(v, list) and len(v) == 3 and all(type(c) is int for c in v)
            for v in vertices):
        errors.append('"vertices" must be a list of three integers each')
    return errors


def _check_object(oid: str, obj: Any, objects: dict[str, Any]) -> list[str]:
    kind = obj.get("type") if isinstance(obj, dict) else obj
    if kind not in CITY_OBJECT_TYPES:
        return [f"{oid}: unknown city object type {kind!r}"]
    errors = []
    if obj["type"] in SECOND_LEVEL and not obj.get("parents"):
        errors.append(f"{oid}: a {obj['type']} needs a parent")
    for child in obj.get("children", []):
        if oid not in objects.get(child, {}).get("parents", []):
            errors.append(f"{oid}: child {child!r} does not name it as its parent")
    for parent in obj.get("parents", []):
        if oid not in objects.get(parent, {}).get("children", []):
            errors.append(f"{oid}: parent {parent!r} does not list it as a child")
    return errors


def _depth(value: Any) -> int:
    return 1 + _depth(value[0]) if isinstance(value, list) and value else int(
        isinstance(value, list))


def _check_geometry(where: str, geometry: Any, count: int, used: set[int],
                    vertices: np.ndarray) -> list[str]:
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in GEOMETRY_DEPTH:
        return [f"{where}: unknown geometry type {kind!r}"]
    if not isinstance(geometry.get("lod"), str):
        return [f"{where}: \"lod\" must be a string"]
    boundaries = geometry.get("boundaries")
    if _depth(boundaries) != GEOMETRY_DEPTH[kind]:
        return [f"{where}: a {kind}'s boundaries must be nested {GEOMETRY_DEPTH[kind]} deep"]
    flat = list(_indices(boundaries))
    bad = [i for i in flat if not isinstance(i, int) or not 0 <= i < count]
    if bad:
        return [f"{where}: vertex index {bad[0]} out of range (0..{count - 1})"]
    used.update(flat)
    errors = _check_semantics(where, geometry, kind)
    if kind in ("Solid", "MultiSolid", "CompositeSolid"):
        solids = [boundaries] if kind == "Solid" else boundaries
        for n, solid in enumerate(solids):
            errors += _check_closed(f"{where} solid {n}", solid[0], vertices)
    return errors


def _indices(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for v in value:
            yield from _indices(v)
    else:
        yield value


def _check_semantics(where: str, geometry: dict[str, Any], kind: str) -> list[str]:
    semantics = geometry.get("semantics")
    if semantics is None:
        return []
    surfaces, values = semantics.get("surfaces", []), semantics.get("values")
    depth = GEOMETRY_DEPTH[kind] - 2  # one value per surface: two levels fewer than rings
    if _depth(values) != depth:
        return [f"{where}: semantics.values must be nested {depth} deep"]
    surface_counts = [len(shell) for shell in _shells(geometry["boundaries"], kind)]
    value_counts = [len(shell) for shell in _shells(values, kind)]
    if surface_counts != value_counts:
        return [f"{where}: semantics.values do not match the surfaces"]
    wrong = [v for v in _indices(values) if v is not None and not 0 <= v < len(surfaces)]
    return [f"{where}: semantic index {wrong[0]} out of range"] if wrong else []


def _shells(value: list, kind: str) -> list[list]:
    """The geometry's lists of surfaces (one per shell)."""
    if kind in ("MultiSurface", "CompositeSurface"):
        return [value]
    if kind == "Solid":
        return list(value)
    return [shell for solid in value for shell in solid]


def _check_closed(where: str, shell: list, vertices: np.ndarray) -> list[str]:
    """Every edge used exactly once in each direction, and a positive volume (outward).

    The volume is the divergence sum over a fan of each ring (holes run the other way, so
    their fans subtract): exact for planar faces, one vectorised sum per shell."""
    edges: Counter = Counter()
    fans: list[tuple[int, int, int]] = []
    for surface in shell:
        for ring in surface:
            edges.update(zip(ring, ring[1:] + ring[:1], strict=True))
            fans.extend((ring[0], ring[i], ring[i + 1]) for i in range(1, len(ring) - 1))
    open_edges = [e for e, n in edges.items() if n != 1 or edges[(e[1], e[0])] != 1]
    if open_edges:
        return [f"{where}: not closed (edge {open_edges[0]} is not shared by exactly two faces)"]
    t = vertices[np.asarray(fans, dtype=int)]
    volume = float(np.einsum("ij,ij->", t[:, 0], np.cross(t[:, 1], t[:, 2]))) / 6
    return [] if volume > 0 else [f"{where}: faces point inwards (volume {volume:.3f})"]


#: The semantic surface types CityJSON 2.0 allows on a Building's geometry.
BUILDING_SURFACES = frozenset({
    GROUND, ROOF, WALL, "ClosureSurface", "OuterCeilingSurface", "OuterFloorSurface", "Window",
    "Door", "InteriorWallSurface", "CeilingSurface", "FloorSurface"})
#: How far a vertex may lie off its face's plane (val3dity's default planarity tolerance).
PLANE_TOLERANCE_M = 0.01


def _check_lod2(where: str, geometry: dict[str, Any], real: np.ndarray) -> list[str]:
    """A LoD2 solid's semantics, beyond the schema: every face planar within 1 cm, ground
    faces horizontal and facing down, walls vertical, roofs facing up and, where the roof's
    semantic object names its fitted ``plane``, every roof vertex on that plane within 1 cm;
    each shell has a ground and a roof."""
    semantics = geometry.get("semantics")
    if semantics is None:
        return [f"{where}: a LoD2 solid needs semantic surfaces"]
    surfaces = semantics["surfaces"]
    wrong = [s.get("type") for s in surfaces if s.get("type") not in BUILDING_SURFACES]
    if wrong:
        return [f"{where}: {wrong[0]!r} is no semantic surface of a Building"]
    errors: list[str] = []
    kind = geometry["type"]
    shells = _shells(geometry["boundaries"], kind)
    for n, (shell, values) in enumerate(zip(shells, _shells(semantics["values"], kind),
                                            strict=True)):
        types = {surfaces[v]["type"] for v in values if v is not None}
        if not {GROUND, ROOF} <= types:
            errors.append(f"{where} shell {n}: needs a GroundSurface and a RoofSurface")
        for m, (face, value) in enumerate(zip(shell, values, strict=True)):
            if value is not None:
                errors += _check_face(f"{where} shell {n} face {m}", face, surfaces[value],
                                      real)
    return errors


def _check_face(where: str, face: list[list[int]], surface: dict[str, Any], real: np.ndarray
                ) -> list[str]:
    points = real[np.asarray([i for ring in face for i in ring])]
    outer = real[np.asarray(face[0])]
    normal = np.cross(outer - outer.mean(axis=0), np.roll(outer, -1, axis=0) - outer.mean(
        axis=0)).sum(axis=0)  # Newell's normal: robust for any planar polygon
    length = float(np.linalg.norm(normal))
    if length == 0:
        return [f"{where}: the face has no area"]
    normal /= length
    off = np.abs((points - outer.mean(axis=0)) @ normal).max()
    if off > PLANE_TOLERANCE_M:
        return [f"{where}: not planar ({off:.3f} m off)"]
    kind = surface["type"]
    facing = {GROUND: normal[2] < -0.999, WALL: abs(normal[2]) < 0.01,
              ROOF: normal[2] > 0.01}.get(kind, True)
    if not facing:
        return [f"{where}: a {kind} facing {normal.round(2).tolist()}"]
    plane = surface.get("plane")
    if kind == ROOF and plane is not None:
        a, b, c = plane
        gap = np.abs(points[:, 2] - (a * points[:, 0] + b * points[:, 1] + c)).max()
        if gap > PLANE_TOLERANCE_M:
            return [f"{where}: a roof vertex lies {gap:.3f} m off its fitted plane"]
    return []
