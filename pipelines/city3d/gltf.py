"""Binary glTF 2.0 (GLB) content for 3D Tiles 1.1, written with pygltflib.

Buildings are one flat-shaded mesh per tile whose vertices carry the building's number
(``_FEATURE_ID_0``, ``EXT_mesh_features``) into a property table (``EXT_structural_metadata``)
with its id and heights: a client picking a wall knows the building without another request.
Trees are two unit meshes (a trunk cylinder, a crown sphere) drawn once per tree with its own
position and size (``EXT_mesh_gpu_instancing``): a city's trees cost two meshes, not 100,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pygltflib as g

from geoportal.core.publish import atomic_path

INSTANCING = "EXT_mesh_gpu_instancing"
FEATURES = "EXT_mesh_features"
METADATA = "EXT_structural_metadata"


@dataclass
class Part:
    """One mesh: triangles as vertex triples (glTF axes, metres), its colour, and either the
    feature number of each vertex or the translation and scale of each instance."""

    positions: np.ndarray
    normals: np.ndarray
    colour: tuple[float, float, float, float]
    feature_ids: np.ndarray | None = None
    instances: tuple[np.ndarray, np.ndarray] | None = None  # translations, scales (k, 3)
    indices: np.ndarray | None = None


@dataclass
class _Buffer:
    """The GLB's binary chunk as it grows, with its buffer views and accessors."""

    gltf: g.GLTF2
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    def view(self, data: bytes, target: int | None = None) -> int:
        pad = (-self.size) % 8  # 8-byte aligned: what EXT_structural_metadata asks of values
        self.chunks.append(b"\0" * pad)
        self.size += pad
        self.gltf.bufferViews.append(g.BufferView(buffer=0, byteOffset=self.size,
                                                  byteLength=len(data), target=target))
        self.chunks.append(data)
        self.size += len(data)
        return len(self.gltf.bufferViews) - 1

    def accessor(self, values: np.ndarray, kind: str, target: int | None = None,
                 bounds: bool = False) -> int:
        values = np.ascontiguousarray(values)
        component = g.UNSIGNED_INT if values.dtype == np.uint32 else g.FLOAT
        view = self.view(values.tobytes(), target)
        accessor = g.Accessor(bufferView=view, componentType=component,
                              count=len(values), type=kind)
        if bounds:
            flat = values.reshape(len(values), -1)
            accessor.min = [float(v) for v in flat.min(axis=0)]
            accessor.max = [float(v) for v in flat.max(axis=0)]
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1


def write_glb(path: Path, parts: list[Part],
              properties: dict[str, np.ndarray] | None = None) -> None:
    """Write ``parts`` (and the per-feature ``properties`` table) as one GLB, atomically."""
    gltf = g.GLTF2(asset=g.Asset(version="2.0", generator="geoportal Ratingen"),
                   scene=0, scenes=[g.Scene(nodes=[])])
    buffer = _Buffer(gltf)
    used: set[str] = set()
    for part in parts:
        node = _add_part(buffer, part, used, properties is not None)
        gltf.scenes[0].nodes.append(node)
    if properties is not None:
        gltf.extensions[METADATA] = _property_table(buffer, properties)
        used.add(METADATA)
    gltf.extensionsUsed = sorted(used)
    if INSTANCING in used:  # without it a client would draw every tree at the origin once
        gltf.extensionsRequired = [INSTANCING]
    blob = b"".join(buffer.chunks)
    blob += b"\0" * ((-len(blob)) % 4)
    gltf.buffers = [g.Buffer(byteLength=len(blob))]
    gltf.set_binary_blob(blob)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(b"".join(gltf.save_to_bytes()))


def _add_part(buffer: _Buffer, part: Part, used: set[str], with_table: bool) -> int:
    gltf = buffer.gltf
    attributes = g.Attributes(
        POSITION=buffer.accessor(part.positions.astype(np.float32), g.VEC3, g.ARRAY_BUFFER,
                                 bounds=True),
        NORMAL=buffer.accessor(part.normals.astype(np.float32), g.VEC3, g.ARRAY_BUFFER))
    primitive = g.Primitive(attributes=attributes, mode=g.TRIANGLES,
                            material=len(gltf.materials))
    if part.indices is not None:
        primitive.indices = buffer.accessor(part.indices.astype(np.uint32), g.SCALAR,
                                            g.ELEMENT_ARRAY_BUFFER)
    if part.feature_ids is not None:
        attributes._FEATURE_ID_0 = buffer.accessor(part.feature_ids.astype(np.float32),
                                                   g.SCALAR, g.ARRAY_BUFFER)
        ids = {"featureCount": int(part.feature_ids.max()) + 1, "attribute": 0}
        if with_table:
            ids["propertyTable"] = 0
        primitive.extensions = {FEATURES: {"featureIds": [ids]}}
        used.add(FEATURES)
    gltf.materials.append(g.Material(
        pbrMetallicRoughness=g.PbrMetallicRoughness(baseColorFactor=list(part.colour),
                                                    metallicFactor=0.0, roughnessFactor=0.9)))
    gltf.meshes.append(g.Mesh(primitives=[primitive]))
    node = g.Node(mesh=len(gltf.meshes) - 1)
    if part.instances is not None:
        translations, scales = part.instances
        node.extensions = {INSTANCING: {"attributes": {
            "TRANSLATION": buffer.accessor(translations.astype(np.float32), g.VEC3),
            "SCALE": buffer.accessor(scales.astype(np.float32), g.VEC3)}}}
        used.add(INSTANCING)
    gltf.nodes.append(node)
    return len(gltf.nodes) - 1


def _property_table(buffer: _Buffer, properties: dict[str, np.ndarray]) -> dict:
    """One class ``feature`` whose table has a row per feature: strings or float32 numbers."""
    schema, table = {}, {}
    count = len(next(iter(properties.values())))
    for name, values in properties.items():
        if values.dtype.kind in "OUS":
            encoded = [str(v).encode() for v in values]
            offsets = np.cumsum([0, *map(len, encoded)]).astype(np.uint32)
            table[name] = {"values": buffer.view(b"".join(encoded)),
                           "stringOffsets": buffer.view(offsets.tobytes())}
            schema[name] = {"type": "STRING"}
        else:
            table[name] = {"values": buffer.view(values.astype(np.float32).tobytes())}
            schema[name] = {"type": "SCALAR", "componentType": "FLOAT32"}
    return {"schema": {"id": "geoportal", "classes": {"feature": {"properties": schema}}},
            "propertyTables": [{"class": "feature", "count": count, "properties": table}]}


def read_positions(path: Path) -> list[np.ndarray]:
    """Each mesh's POSITION values of a GLB (for checks: tests, the benchmark)."""
    gltf = g.GLTF2().load_binary(str(path))
    blob = gltf.binary_blob()
    out = []
    for mesh in gltf.meshes:
        accessor = gltf.accessors[mesh.primitives[0].attributes.POSITION]
        view = gltf.bufferViews[accessor.bufferView]
        data = np.frombuffer(blob, np.float32, accessor.count * 3, view.byteOffset)
        out.append(data.reshape(-1, 3))
    return out


def unit_cylinder(segments: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cylinder of radius 1 from y = 0 to y = 1 (glTF's up): positions, normals, indices."""
    angle = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.column_stack([np.cos(angle), np.zeros(segments), np.sin(angle)])
    positions = np.vstack([ring, ring + np.array([0.0, 1.0, 0.0])])
    normals = np.vstack([ring, ring])
    i = np.arange(segments)
    j = (i + 1) % segments
    # counter-clockwise seen from outside (glTF front faces)
    indices = np.column_stack([i, i + segments, j, j, i + segments, j + segments]).reshape(-1, 3)
    return positions, normals, indices.ravel()


def unit_sphere(rings: int = 8, segments: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sphere of radius 1 at the origin: positions (= normals) and indices."""
    theta = np.linspace(0, np.pi, rings + 1)
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    positions = np.column_stack([(np.sin(t) * np.cos(p)).ravel(), np.cos(t).ravel(),
                                 (np.sin(t) * np.sin(p)).ravel()])
    tris = []
    for r in range(rings):
        for s in range(segments):
            a, b = r * segments + s, r * segments + (s + 1) % segments
            c, d = a + segments, b + segments
            if r > 0:  # at the poles one of the two triangles has no area
                tris.append((a, b, c))
            if r < rings - 1:
                tris.append((b, d, c))
    return positions, positions.copy(), np.array(tris, dtype=np.uint32).ravel()
