"""One delivered tile → one COG, as a self-contained task any executor can run.

The task takes only picklable values and never raises for bad input: it returns an outcome with
the reason, so one corrupt tile does not stop its siblings in a process pool (or on a Dask
cluster). Finished COGs live in a per-dataset cache keyed by the source file's fingerprint and
the output spec: a rerun, or a run resumed after a crash, skips every tile already converted.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rio_cogeo.cogeo import cog_validate

from geoportal.core.errors import GeoportalError
from geoportal.core.publish import atomic_path, atomic_write_text, sha256_file
from pipelines.imagery.encoders import CogSpec, select_encoder
from pipelines.imagery.sources import OrthoTile, check_tile


@dataclass(frozen=True)
class TileTask:
    tile: OrthoTile
    product: str
    cache_dir: Path
    spec: CogSpec
    encoder: str
    crs: str
    resolution: float | None

    @property
    def output(self) -> Path:
        return self.cache_dir / f"{self.product}_{self.tile.key}.tif"

    def fingerprint(self) -> dict[str, object]:
        """What the cached COG was made from: the source's name, size and mtime, the spec."""
        stat = self.tile.path.stat()
        record = {"source": self.tile.path.name, "bytes": stat.st_size,
                  "mtime_ns": stat.st_mtime_ns, "spec": asdict(self.spec)}
        return json.loads(json.dumps(record))  # as it reads back from the sidecar


@dataclass(frozen=True)
class TileOutcome:
    key: str
    source: str
    path: Path | None = None
    sha256: str = ""
    megapixels: float = 0.0
    seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    resolution: float = 0.0


def convert_tile(task: TileTask) -> TileOutcome:
    """Check and convert one tile (or reuse its cached COG); report failures, never raise them."""
    started = time.perf_counter()
    name = task.tile.path.name
    try:
        check = check_tile(task.tile, task.crs, max(task.spec.bands), task.resolution)
        megapixels = check.width * check.height / 1e6
        sidecar = task.output.with_suffix(".json")
        fingerprint = task.fingerprint()
        cached = _cached(sidecar, fingerprint, task.output)
        if cached is None:
            cached = _encode(task, fingerprint, sidecar)
            was_cached = False
        else:
            was_cached = True
    except (GeoportalError, OSError, ValueError) as exc:
        return TileOutcome(task.tile.key, name, error=str(exc),
                           seconds=time.perf_counter() - started)
    return TileOutcome(task.tile.key, name, task.output, cached, megapixels,
                       time.perf_counter() - started, was_cached, resolution=check.resolution)


def _cached(sidecar: Path, fingerprint: dict[str, object], output: Path) -> str | None:
    if not (sidecar.exists() and output.exists()):
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint:
        return None
    return str(record["sha256"])


def _encode(task: TileTask, fingerprint: dict[str, object], sidecar: Path) -> str:
    """Encode into a temporary name, validate as COG, then rename: a crash leaves no half file."""
    task.cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(task.output) as tmp:
        select_encoder(task.encoder).encode(task.tile.path, tmp, task.spec)
        valid, errors, _ = cog_validate(str(tmp), quiet=True)
        if not valid:
            raise ValueError(f"{task.tile.path.name}: output is not a valid COG: {errors}")
        digest = sha256_file(tmp)
    record = {"fingerprint": fingerprint, "sha256": digest}
    atomic_write_text(sidecar, json.dumps(record, indent=1))
    return digest
