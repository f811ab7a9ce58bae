"""Writing one Cloud Optimised GeoTIFF: a small, swappable "encoder" part.

Both encoders use GDAL's COG driver with the same creation options, so their outputs are
interchangeable. They differ in *which* GDAL runs: Debian's ``gdal_translate`` (a subprocess
per tile) or the GDAL inside the rasterio wheel (in-process). ``../shared/stack-facts.md``
measured Debian's binary ~3× faster for one big image, but inside our per-tile process pool the
rasterio encoder measured faster both idle (32.9 vs 23.3 MP/s, 4 × 10000² px) and under load
(13.4 vs 8.2 MP/s; ``bench/bench_imagery.py``, ``docs/benchmarks.md``), so ``auto`` takes
rasterio — which also means the pipeline needs no system package at all. ``gdal_translate``
stays selectable by name.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import rasterio
import rasterio.shutil
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError

from geoportal.core.errors import PipelineError
from pipelines.imagery.vrt import RasterFacts, band_view

COLOR_NAMES = {1: "gray", 3: "red,green,blue"}
#: GDAL's block cache per tile process, in MB (encoding and pre-rendering). GDAL's default is 5 %
#: of the RAM per process (1.2 GB on a 24 GB machine); measured on 10000² tiles, 64 MB or 1.2 GB
#: encode equally fast (2.4–2.8 s per tile), so a small cache keeps every worker's memory flat
#: (docs/benchmarks.md).
CACHE_MB = 128


@dataclass(frozen=True)
class CogSpec:
    """What one output COG looks like: which source bands, how they are compressed."""

    bands: tuple[int, ...] = (1, 2, 3)
    compress: str = "JPEG"
    quality: int = 85
    blocksize: int = 512
    resampling: str = "AVERAGE"
    threads: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    def creation_options(self) -> dict[str, str]:
        """COG driver options. JPEG on three bands is written as YCbCr by the driver itself."""
        options = {
            "COMPRESS": self.compress,
            "BLOCKSIZE": str(self.blocksize),
            "OVERVIEW_RESAMPLING": self.resampling,
            "NUM_THREADS": str(self.threads),
            "BIGTIFF": "IF_SAFER",
            **self.extra,
        }
        if self.compress in ("JPEG", "WEBP"):
            options["QUALITY"] = str(self.quality)
        return options


class Encoder(Protocol):
    """Turns one source raster into one COG at ``dst`` (written in place; callers rename)."""

    name: str

    def encode(self, src: Path, dst: Path, spec: CogSpec) -> None: ...


class GdalTranslateEncoder:
    """Debian's ``gdal_translate -of COG`` (libjpeg-turbo): the fast path."""

    name = "gdal_translate"

    def __init__(self, executable: str = "gdal_translate") -> None:
        self.executable = executable

    @staticmethod
    def available(executable: str = "gdal_translate") -> bool:
        path = shutil.which(executable)
        if path is None:
            return False
        formats = subprocess.run([path, "--formats"], capture_output=True, text=True,
                                 check=False).stdout
        return " COG " in formats or "COG -raster-" in formats

    def encode(self, src: Path, dst: Path, spec: CogSpec) -> None:
        cmd = [self.executable, "-q", "-of", "COG", "--config", "GDAL_CACHEMAX", str(CACHE_MB)]
        for band in spec.bands:
            cmd += ["-b", str(band)]
        if len(spec.bands) in COLOR_NAMES:
            cmd += ["-colorinterp", COLOR_NAMES[len(spec.bands)]]
        for key, value in spec.creation_options().items():
            cmd += ["-co", f"{key}={value}"]
        cmd += [str(src), str(dst)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not dst.exists():
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise PipelineError(f"{src.name}: gdal_translate failed: {reason}")


class RasterioEncoder:
    """The GDAL inside the rasterio wheel: no system package needed, about 3× slower JPEG."""

    name = "rasterio"

    def encode(self, src: Path, dst: Path, spec: CogSpec) -> None:
        # An in-memory VRT selects the bands and names them Red/Green/Blue (a CIR tile's first
        # band is NIR, which GDAL would otherwise take for alpha).
        try:
            with rasterio.open(src) as source:
                facts = RasterFacts(src.resolve(), source.width, source.height,
                                    tuple(source.bounds), source.count,
                                    source.block_shapes[0][1], has_mask(source))
                doc = band_view(facts, spec.bands, source.crs.to_wkt())
            # rasterio hands GDAL_CACHEMAX to GDALSetCacheMax64: bytes, not megabytes
            with rasterio.Env(GDAL_NUM_THREADS=str(spec.threads),
                              GDAL_CACHEMAX=CACHE_MB * 2**20), \
                    rasterio.open(doc) as view:
                rasterio.shutil.copy(view, dst, driver="COG", **spec.creation_options())
        except (RasterioError, OSError) as exc:
            raise PipelineError(f"{src.name}: COG conversion failed: {exc}") from None


def has_mask(source: rasterio.DatasetReader) -> bool:
    """Whether the file carries a per-dataset mask (a square cut from a scene's edge)."""
    return MaskFlags.per_dataset in source.mask_flag_enums[0]


ENCODERS = {"gdal_translate": GdalTranslateEncoder, "rasterio": RasterioEncoder}


def select_encoder(name: str = "auto") -> Encoder:
    """``auto``: the rasterio encoder (measured faster here, see the module docstring)."""
    if name == "auto":
        return RasterioEncoder()
    if name not in ENCODERS:
        known = ", ".join(["auto", *ENCODERS])
        raise PipelineError(f"pipeline.params.encoder: expected one of {known}, got {name!r}")
    if name == "gdal_translate" and not GdalTranslateEncoder.available():
        raise PipelineError("pipeline.params.encoder: gdal_translate (Debian gdal-bin) is not "
                            "installed; run scripts/install-system-deps.sh or use 'auto'")
    return ENCODERS[name]()
