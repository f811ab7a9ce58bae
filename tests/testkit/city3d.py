"""Reading the 3D outputs back as a client would: GLB accessors, the property table, the
Khronos glTF validator (npm gltf-validator, vendored in web/node_modules)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib as g
from testkit import missing

from geoportal.core.settings import PROJECT_ROOT

VALIDATOR = PROJECT_ROOT / "web" / "node_modules" / "gltf-validator"
_SCRIPT = """
const validator = require(process.argv[1]);
const data = new Uint8Array(require('fs').readFileSync(process.argv[2]));
validator.validateBytes(data, {maxIssues: 100})
  .then(r => console.log(JSON.stringify(r.issues)))
  .catch(e => { console.error(String(e)); process.exit(2); });
"""


def gltf_validator(path: Path) -> dict:
    """The validator's issues (``numErrors``, ``numWarnings``, ``messages``) for a GLB."""
    node = shutil.which("node")
    if node is None or not VALIDATOR.is_dir():
        missing("node or web/node_modules/gltf-validator missing (scripts/bootstrap.sh)")
    out = subprocess.run([node, "-e", _SCRIPT, str(VALIDATOR), str(path)], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)


class Glb:
    """A GLB's accessors and extensions, decoded."""

    def __init__(self, path: Path) -> None:
        self.gltf = g.GLTF2().load_binary(str(path))
        self.blob = self.gltf.binary_blob()

    def accessor(self, index: int) -> np.ndarray:
        accessor = self.gltf.accessors[index]
        view = self.gltf.bufferViews[accessor.bufferView]
        width = {"SCALAR": 1, "VEC3": 3}[accessor.type]
        dtype = np.uint32 if accessor.componentType == g.UNSIGNED_INT else np.float32
        data = np.frombuffer(self.blob, dtype, accessor.count * width, view.byteOffset)
        return data.reshape(accessor.count, width) if width > 1 else data

    def view(self, index: int) -> bytes:
        view = self.gltf.bufferViews[index]
        return self.blob[view.byteOffset:view.byteOffset + view.byteLength]

    def primitive(self, mesh: int = 0) -> g.Primitive:
        return self.gltf.meshes[mesh].primitives[0]

    def positions(self, mesh: int = 0) -> np.ndarray:
        return self.accessor(self.primitive(mesh).attributes.POSITION)

    def feature_ids(self, mesh: int = 0) -> np.ndarray:
        return self.accessor(self.primitive(mesh).attributes._FEATURE_ID_0)

    def table(self) -> dict[str, list]:
        """The EXT_structural_metadata property table: strings and float32 columns."""
        meta = self.gltf.extensions["EXT_structural_metadata"]
        (table,) = meta["propertyTables"]
        schema = meta["schema"]["classes"][table["class"]]["properties"]
        out: dict[str, list] = {}
        for name, column in table["properties"].items():
            values = self.view(column["values"])
            if schema[name]["type"] == "STRING":
                offsets = np.frombuffer(self.view(column["stringOffsets"]), np.uint32)
                out[name] = [values[a:b].decode() for a, b in itertools.pairwise(offsets)]
            else:
                out[name] = np.frombuffer(values, np.float32).tolist()
        return out

    def instances(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        attributes = self.gltf.nodes[node].extensions["EXT_mesh_gpu_instancing"]["attributes"]
        return self.accessor(attributes["TRANSLATION"]), self.accessor(attributes["SCALE"])


def client_ecef(gltf_points: np.ndarray, transform: list[float]) -> np.ndarray:
    """What a 3D Tiles client does with a tile's glTF vertices: y-up → z-up, then the tile's
    column-major ``transform``."""
    z_up = np.column_stack([gltf_points[:, 0], -gltf_points[:, 2], gltf_points[:, 1]])
    matrix = np.asarray(transform, dtype=float).reshape(4, 4).T
    return z_up @ matrix[:3, :3].T + matrix[:3, 3]
