"""One delivered tile → one COG, as a self-contained task any executor can run.

The task takes only picklable values and never raises for bad input: it returns an outcome with
the reason, so one corrupt tile does not stop its siblings in a process pool (or on a Dask
cluster). Finished COGs live in a per-dataset cache keyed by the source file's fingerprint and
the output spec: a rerun, or a run resumed after a crash, skips every tile already converted.

A square cut from scenes (or a tile in another CRS, such as EPSG:4647) is first warped into a
temporary GeoTIFF beside the cached COG (:func:`pipelines.imagery.scenes.cut_square`), then
encoded like a delivered tile.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import rasterio
from rio_cogeo.cogeo import cog_validate

from geoportal.core.errors import GeoportalError
from geoportal.core.publish import atomic_path, atomic_write_text, sha256_file
from pipelines.imagery.encoders import CogSpec, select_encoder
from pipelines.imagery.scenes import cut_square, square_size
from pipelines.imagery.sources import OrthoTile, ScenePart, TileCheck, check_tile
from pipelines.tiles import TILE_SIZE


@dataclass(frozen=True)
class TileTask:
    """One square to convert. ``spec.bands`` is filled per file from ``bands`` (numbers or
    roles, :func:`~pipelines.imagery.sources.band_indexes`) and ``roles`` (the YAML's)."""

    tile: OrthoTile
    product: str
    cache_dir: Path
    spec: CogSpec
    encoder: str
    crs: str
    resolution: float | None
    bands: tuple[int | str, ...] = (1, 2, 3)
    roles: tuple[tuple[str, int], ...] = ()

    @property
    def output(self) -> Path:
        return self.cache_dir / f"{self.product}_{self.tile.key}.tif"

    def fingerprint(self, spec: CogSpec, resolution: float | None = None) -> dict[str, object]:
        """What the cached COG was made from: each source's name, size and mtime, the spec
        (and, for a warped square, the grid's CRS and pixel size)."""
        paths = [p.path for p in self.tile.scenes] or [self.tile.path]
        stats = [(p.name, p.stat()) for p in paths]
        record: dict[str, object] = {"source": stats[0][0], "bytes": stats[0][1].st_size,
                                     "mtime_ns": stats[0][1].st_mtime_ns, "spec": asdict(spec)}
        if self.tile.scenes or resolution is not None:
            record["scenes"] = [[n, st.st_size, st.st_mtime_ns] for n, st in stats]
            record["grid"] = [self.crs, resolution]
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
    #: A square cut from scenes got no pixel from any (a scene's nodata border): not published.
    empty: bool = False


def convert_tile(task: TileTask) -> TileOutcome:
    """Check and convert one tile (or reuse its cached COG); report failures, never raise them."""
    started = time.perf_counter()
    name = task.tile.path.name
    try:
        check, tile = _check(task)
        warp = check.resolution if tile.scenes else None
        spec = replace(task.spec, bands=check.bands if warp is None
                       else tuple(range(1, len(check.bands) + 1)))
        megapixels = check.width * check.height / 1e6
        sidecar = task.output.with_suffix(".json")
        fingerprint = task.fingerprint(spec, warp)
        cached = _cached(sidecar, fingerprint, task.output)
        if cached is None:
            cached = _encode(replace(task, tile=tile, spec=spec), fingerprint, sidecar, warp)
            was_cached = False
        else:
            was_cached = True
    except (GeoportalError, OSError, ValueError) as exc:
        return TileOutcome(task.tile.key, name, error=str(exc),
                           seconds=time.perf_counter() - started)
    if cached == EMPTY:
        return TileOutcome(task.tile.key, name, seconds=time.perf_counter() - started,
                           cached=was_cached, empty=True)
    return TileOutcome(task.tile.key, name, task.output, cached, megapixels,
                       time.perf_counter() - started, was_cached, resolution=check.resolution)


def _check(task: TileTask) -> tuple[TileCheck, OrthoTile]:
    """The tile's check, and the tile as it is converted: a tile in another CRS becomes a
    square warped from itself, a square cut from scenes is checked by its plan already."""
    tile = task.tile
    if tile.scenes:
        size = square_size(task.resolution or 0.0)  # the plan sets a scene square's
        return TileCheck(tile, size, size, len(tile.scenes[0].bands), TILE_SIZE / size,
                         tile.scenes[0].bands, warp=True), tile
    check = check_tile(tile, task.crs, task.bands, task.resolution, dict(task.roles))
    if not check.warp:
        return check, tile
    with rasterio.open(tile.path) as src:
        part = ScenePart(tile.path, src.crs.to_wkt(), check.bands)
    size = square_size(task.resolution or check.resolution)
    warped = replace(tile, scenes=(part,))
    return replace(check, width=size, height=size, resolution=TILE_SIZE / size), warped


#: The cache's digest of a square that no scene reaches (it has no COG).
EMPTY = "empty"


def _cached(sidecar: Path, fingerprint: dict[str, object], output: Path) -> str | None:
    if not sidecar.exists():
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint:
        return None
    if record["sha256"] != EMPTY and not output.exists():
        return None
    return str(record["sha256"])


def _encode(task: TileTask, fingerprint: dict[str, object], sidecar: Path,
            warp: float | None = None) -> str:
    """Encode into a temporary name, validate as COG, then rename: a crash leaves no half file.

    A square to warp (``warp``: its pixel size) is cut into a temporary GeoTIFF first; one
    that no scene reaches is recorded as :data:`EMPTY` and has no COG.
    """
    task.cache_dir.mkdir(parents=True, exist_ok=True)
    source, cut = task.tile.path, None
    if warp is not None:
        cut = task.output.with_name(f".{task.output.stem}.cut-{uuid.uuid4().hex[:12]}.tif")
        source = cut
    try:
        if cut is not None and cut_square(task.tile, task.crs, warp, cut) == 0:  # type: ignore
            task.output.unlink(missing_ok=True)  # an older delivery's COG is stale
            digest = EMPTY
        else:
            with atomic_path(task.output) as tmp:
                select_encoder(task.encoder).encode(source, tmp, task.spec)
                valid, errors, _ = cog_validate(str(tmp), quiet=True)
                if not valid:
                    raise ValueError(f"{task.tile.path.name}: output is not a valid COG: "
                                     f"{errors}")
                digest = sha256_file(tmp)
    finally:
        if cut is not None:
            cut.unlink(missing_ok=True)
    record = {"fingerprint": fingerprint, "sha256": digest}
    atomic_write_text(sidecar, json.dumps(record, indent=1))
    return digest
