"""The orthophoto pipeline: delivered DOP tiles → per-tile COGs, a mosaic VRT, web tile archive.

One dataset is one *product* of the same deliveries, chosen by ``pipeline.params.bands``: true
colour (1, 2, 3), colour infrared (4, 1, 2: NIR shown as red, vegetation vitality) or NIR alone
(4). Tiles are converted in parallel; a tile that fails its checks is reported with the reason
while the others still convert (into the cache, so the next run resumes), and then the build
fails so that the previously published mosaic stays served and the run exits non-zero.

Each delivered tile is one work unit, so :mod:`pipelines.executor` runs the same pipeline
in-process, on the local cores or on a Dask cluster (``geoportal build --scheduler``): ``build()``
converts one tile with :func:`~pipelines.imagery.convert.convert_tile` (a self-contained task
that reports bad input instead of raising) into the shared cache; ``finish()``, on the driver,
checks the tiles against each other, links the COGs into the version folder and writes the
mosaic and the web tile archive.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import rasterio
from pydantic import Field, field_validator, model_validator

from geoportal.core import formats
from geoportal.core.errors import PipelineError, SourceError
from geoportal.core.geometry import transform_bounds
from geoportal.core.publish import FileRecord, LayerMetadata, link_or_copy, now_iso
from geoportal.core.registry import MapCRS, Params, RasterTiles
from pipelines.base import BuildResult, Pipeline, WorkUnit
from pipelines.imagery import vrt, webtiles
from pipelines.imagery.convert import TileOutcome, TileTask, convert_tile
from pipelines.imagery.encoders import ENCODERS, CogSpec, has_mask, select_encoder
from pipelines.imagery.scenes import read_scene, scene_tiles
from pipelines.imagery.sources import ROLES, Role, find_files, split_delivery, square_of

Echo = Callable[[str], None]
ARCHIVE = "tiles.pmtiles"
MOSAIC = "mosaic.vrt"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class OrthophotoParams(Params):
    """One product of the delivered orthophoto tiles.

    ``bands``: the delivered bands, in output order, by number (1-based: 1, 2, 3 true colour;
    4, 1, 2 colour infrared; 4 NIR alone) or by role (``[nir, red, green]``); a role's band is
    ``band_roles``' (``{red: 3, green: 2, blue: 1, nir: 4}``), else the file's (its colour
    interpretation, band descriptions or NRW name); ``product``: the cache's name for the
    product (default the dataset id); ``resolution``: the expected pixel size in metres (else
    the first tile's; scenes are resampled to it, else kept at their own); ``year``: the flight
    year of scenes (else from the file name or its TIFF date tag); ``scene_crs``: the CRS of
    scenes whose file has none (else they are refused; a file's own CRS always wins, and one
    contradicting ``scene_crs`` is refused). The product's grid is ``source.crs``;
    ``min_zoom``/``max_zoom``: the served web tiles, of which ``prerender_max_zoom`` and below
    are pre-rendered into the archive (default: three levels below the native zoom).
    """

    bands: tuple[Annotated[int, Field(ge=1, le=64)] | Role, ...] = Field(
        default=(1, 2, 3), min_length=1, max_length=4)
    band_roles: dict[Role, Annotated[int, Field(ge=1, le=64)]] | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    scene_crs: MapCRS | None = None
    product: str | None = None
    compress: Literal["JPEG", "DEFLATE", "ZSTD", "LZW", "WEBP"] = "JPEG"
    quality: int = Field(default=85, ge=1, le=100)
    encoder: str = "auto"
    workers: int | None = Field(default=None, ge=1)
    resolution: float | None = Field(default=None, gt=0)
    min_zoom: int = Field(default=10, ge=0, le=24)
    max_zoom: int = Field(default=21, ge=0, le=24)
    prerender_max_zoom: int | None = Field(default=None, ge=0, le=24)

    @field_validator("compress", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, value: str) -> str:
        if value != "auto" and value not in ENCODERS:
            raise ValueError(f"expected one of {['auto', *ENCODERS]}")
        return value

    @field_validator("bands", mode="before")
    @classmethod
    def _band_or_role(cls, value: Any) -> Any:
        """One message per wrong band (a union would give one per type it tried)."""
        for band in value if isinstance(value, list | tuple) else ():
            ok = band in ROLES if isinstance(band, str) else (
                isinstance(band, int) and not isinstance(band, bool) and 1 <= band <= 64)
            if not ok:
                raise ValueError(f"{band!r} is not a band: expected a band number 1–64 or one "
                                 f"of {', '.join(ROLES)}")
        return value

    @model_validator(mode="after")
    def _roles_given(self) -> OrthophotoParams:
        if self.band_roles is not None:
            missing = [b for b in self.bands if isinstance(b, str) and b not in self.band_roles]
            if missing:
                raise ValueError(f"bands names {missing}, which band_roles does not give")
        return self

    def raster_tiles(self) -> RasterTiles:
        return RasterTiles(min_zoom=self.min_zoom, max_zoom=self.max_zoom, quality=self.quality)


class OrthophotoPipeline(Pipeline):
    """Builds one orthophoto product (true colour, CIR or NIR) from the delivered tiles."""

    Params = OrthophotoParams

    echo: Echo = staticmethod(_stderr)  # type: ignore[assignment]
    start_method = "spawn"  # local tile processes start clean: no GDAL state copied by fork

    def plan(self) -> list[WorkUnit]:
        """One unit per kilometre square: a delivered NRW tile (the JPEG 2000 or GeoTIFF chosen
        by ``split_delivery``) or a square cut from the scenes (any other raster)."""
        source = self.dataset.source
        self.notes: list[str] = []  # what scenes needed converting or assuming: the warnings
        paths = find_files(self.settings.raw_dir, source.path)
        tiles, scene_paths = split_delivery(paths, prefer=source.format or "jp2")
        units = [WorkUnit(key=t.key, inputs=(t.path,), params={"tile": t}) for t in tiles]
        if scene_paths:
            units += self._scene_units(scene_paths, {t.key: t for t in tiles})
        scenes = f" ({len(scene_paths)} scene(s) cut into squares)" if scene_paths else ""
        self.echo(f"  {self.dataset.id}: {len(units)} tile(s){scenes}, encoder "
                  f"{select_encoder(self.encoder).name}, {self.workers} local worker(s)")
        return units

    def _scene_units(self, paths: list[Path], named: dict[str, Any]) -> list[WorkUnit]:
        """Squares cut from the scenes, at ``resolution`` or the finest scene's pixel size."""
        source = self.dataset.source
        params = self.params
        scenes = [read_scene(p, source.crs, params.scene_crs, params.bands, params.band_roles,
                             params.year) for p in paths]
        resolution = params.resolution or min(s.resolution for s in scenes)
        self.notes = [n for s in scenes for n in s.notes] + [
            f"{s.part.path.name}: resampled from {s.resolution:g} m to {resolution:g} m pixels"
            for s in scenes if not math.isclose(s.resolution, resolution, rel_tol=1e-6)]
        units = []
        for tile in scene_tiles(scenes, source.crs):
            if tile.key in named:
                raise SourceError(f"{tile.scenes[0].path.name} and {named[tile.key].path.name} "
                                  f"both deliver the square {tile.e_km}/{tile.n_km} km of "
                                  f"{tile.year}; keep one of them in {source.path}")
            units.append(WorkUnit(key=tile.key, inputs=tuple(p.path for p in tile.scenes),
                                  params={"tile": tile, "resolution": resolution}))
        return units

    @property
    def spec(self) -> CogSpec:
        """The COGs' encoding; which bands is decided per file (:func:`convert_tile`)."""
        return CogSpec(bands=(), compress=self.params.compress, quality=self.params.quality)

    @property
    def encoder(self) -> str:
        return self.params.encoder

    @property
    def workers(self) -> int:
        """Local processes (``params.workers``, else ``GEOPORTAL_WORKERS``, else the cores)."""
        return self.params.workers or self.settings.workers or os.cpu_count() or 1

    def task(self, unit: WorkUnit) -> TileTask:
        cache = self.context.cache_dir("imagery") / self.dataset.id
        return TileTask(unit.params["tile"], self.params.product or self.dataset.id,
                        cache, self.spec, select_encoder(self.encoder).name,
                        self.dataset.source.crs,
                        unit.params.get("resolution", self.params.resolution),
                        self.params.bands, tuple((self.params.band_roles or {}).items()))

    def build(self, unit: WorkUnit, staging: Path) -> TileOutcome:
        """Convert one tile into the cache (or find it there); failures come back as outcomes."""
        return convert_tile(self.task(unit))

    def check(self, outcomes: list[TileOutcome]) -> list[TileOutcome]:
        """The tiles with pixels; fail naming every tile when none converted. Failed tiles
        come back as outcomes: :meth:`finish` keeps their previously published COGs."""
        outcomes = [o for o in outcomes if not o.empty]  # squares no scene has pixels for
        if not outcomes:
            raise PipelineError(f"{self.dataset.source.path}: no pixels in the delivery (every "
                                "scene is nodata where it lies)")
        _check_resolutions(outcomes, self._published_resolution())
        failed = [o for o in outcomes if o.error]
        if len(failed) == len(outcomes):
            listing = "\n".join(f"  - {o.error}" for o in failed)
            raise PipelineError(f"all {len(outcomes)} orthophoto tile(s) failed (the published "
                                f"mosaic is unchanged):\n{listing}")
        return outcomes

    def _published_resolution(self) -> float | None:
        """The pixel size of the mosaic being served: a new delivery must match it."""
        mosaic = self.settings.published_dir / self.dataset.id / MOSAIC
        if not mosaic.exists():
            return None
        with rasterio.open(mosaic) as src:
            return float(src.res[0])

    def finish(self, results: list[Any], staging: Path) -> BuildResult:
        outcomes = self.check(results)
        cog = formats.get("tif").media_type
        files, incomplete = [], {}
        for o in outcomes:
            if o.error:
                kept, incomplete[o.key] = self.keep_previous(square_of(o.key), o.error,
                                                             staging)
                files += kept
                continue
            link_or_copy(o.path, staging / o.path.name)  # type: ignore[arg-type]
            files.append(FileRecord("tif", o.path.name, cog,  # type: ignore[union-attr]
                                    (staging / o.path.name).stat().st_size, o.sha256,  # type: ignore
                                    unit=square_of(o.key)))
        files.sort(key=lambda f: f.path)
        facts, crs_wkt = _facts([staging / f.path for f in files])
        (staging / MOSAIC).write_text(vrt.mosaic(facts, crs_wkt, staging), encoding="utf-8")
        bbox_native = [min(f.bounds[0] for f in facts), min(f.bounds[1] for f in facts),
                       max(f.bounds[2] for f in facts), max(f.bounds[3] for f in facts)]
        bbox_wgs84 = _to_wgs84(bbox_native, self.dataset.source.crs)
        tile_counts = self._prerender(staging, facts, bbox_wgs84)
        stamp = now_iso()
        metadata = LayerMetadata(id=self.dataset.id, built_at=stamp, modified=stamp,
                                 feature_count=len(files), rejected_count=0,
                                 bbox_wgs84=bbox_wgs84, bbox_native=bbox_native,
                                 crs_native=self.dataset.source.crs, source_sha256=None,
                                 files=files)
        good = [o for o in outcomes if not o.error]
        cached = sum(o.cached for o in good)
        mp_total = sum(o.megapixels for o in good)
        headline = (f"{len(good)} tile(s), {mp_total:,.1f} MP as COG ({cached} unchanged, "
                    f"reused); web tiles z{min(map(int, tile_counts))}–"
                    f"z{max(map(int, tile_counts))}: {sum(tile_counts.values())} pre-rendered")
        return BuildResult(self.dataset.id, metadata, headline, warnings=list(self.notes),
                           incomplete=incomplete)

    def _prerender(self, staging: Path, facts: list[vrt.RasterFacts],
                   bbox_wgs84: list[float]) -> dict[str, int]:
        resolution = (facts[0].bounds[2] - facts[0].bounds[0]) / facts[0].width
        lat = (bbox_wgs84[1] + bbox_wgs84[3]) / 2
        native = webtiles.native_zoom(resolution, lat)
        min_zoom = self.params.min_zoom
        top = self.params.prerender_max_zoom
        top = max(min_zoom, native - 3) if top is None else top
        blocks = 4 ** max(0, top - max(min_zoom, top - 3))
        with local_executor(self.workers, blocks) as pool:
            return webtiles.prerender(staging / MOSAIC, staging / ARCHIVE, min_zoom, top, pool,
                                      quality=self.spec.quality)


@contextmanager
def local_executor(workers: int, tasks: int) -> Iterator[Executor | None]:
    """A process pool when there is more than one task and one worker; else run inline."""
    if workers <= 1 or tasks <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=min(workers, tasks),
                             mp_context=mp.get_context("spawn")) as pool:
        yield pool


def _check_resolutions(outcomes: list[TileOutcome], published: float | None) -> None:
    """Tiles of one mosaic must share a pixel size; the odd ones out become failures (in place).

    The expected size is the served mosaic's, else the one most tiles have.
    """
    sizes: dict[float, list[int]] = {}
    for k, o in enumerate(outcomes):
        if not o.error:
            sizes.setdefault(round(o.resolution, 9), []).append(k)
    if len(sizes) <= 1:
        return
    common = (round(published, 9) if published is not None
              else max(sizes, key=lambda r: len(sizes[r])))
    for res, indexes in sizes.items():
        if res == common:
            continue
        for k in indexes:
            o = outcomes[k]
            outcomes[k] = TileOutcome(o.key, o.source, error=(
                f"{o.source}: pixel size {res:g} m, expected {common:g} m "
                f"like the {'published mosaic' if published else 'other tiles'}"))




def _facts(paths: list[Path]) -> tuple[list[vrt.RasterFacts], str]:
    facts, crs_wkt = [], ""
    for path in paths:
        with rasterio.open(path) as src:
            facts.append(vrt.RasterFacts(path, src.width, src.height, tuple(src.bounds),
                                         src.count, src.block_shapes[0][0], has_mask(src)))
            crs_wkt = crs_wkt or src.crs.to_wkt()
    return facts, crs_wkt


def _to_wgs84(bbox: list[float], crs: str) -> list[float]:
    return [round(v, 7) for v in transform_bounds(bbox, crs, "EPSG:4326")]
