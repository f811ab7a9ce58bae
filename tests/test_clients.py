"""The client matrix (docs/clients.md): every served collection read by the clients people use.

For each collection of the registry, each client that should read it is one test, run against
the real server under gunicorn (``tests/conftest.py``'s ``server``), with the id
``<collection>-<client>``:

- ``ogrinfo-features``: GDAL's OGC API Features driver (``OAPIF:``) reads every feature, paging
  past the first page (a page is a third of the layer), and a filter on the id field reaches
  the server as CQL2 text;
- ``gdal-tiles``: map tiles through GDAL's OGC API driver, pixel for pixel the tile the server
  sends; vector tiles through GDAL's MVT driver, georeferenced, holding the layer's features;
- ``gdal-coverage``: GDAL's OGC API driver lays out the coverage's real grid (size and transform
  of the published COG mosaic) and reads its values; the GeoTIFF answer says EPSG:25832, and
  the mosaic itself opens over HTTP (``/vsicurl/…/downloads/<id>/<id>.vrt``);
- ``owslib-features``, ``owslib-coverage``: OWSLib pages through the features and filters with
  CQL2; it cuts, scales and reads a coverage whose CoverageJSON grid and values are the COG's;
- ``http-no-f``, ``http-accept-any``: the collection, its items / a tile / a coverage window,
  and the URL ``geoportal serve`` prints for it, without ``f=`` and with ``Accept: */*``.

Clients that cannot read a kind of layer at all (OWSLib has no Tiles client) have no test; the
table in docs/clients.md says why, and :func:`test_the_documented_matrix_is_the_tested_one`
keeps the table and the tests the same.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import morecantile
import numpy as np
import pyogrio
import pytest
import rasterio
import requests
from pyproj import Transformer
from rasterio.io import MemoryFile

from geoportal.core.publish import read_metadata
from geoportal.core.registry import Dataset, load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings

DOCS = PROJECT_ROOT / "docs" / "clients.md"
MERCATOR = morecantile.tms.get("WebMercatorQuad")
TIMEOUT = 60
#: The clients of the matrix, in the order of the table's columns.
CLIENTS = ("ogrinfo-features", "gdal-tiles", "gdal-coverage", "owslib-features",
           "owslib-tiles", "owslib-coverage", "http-no-f", "http-accept-any")
#: Cells that are not tested, with why, as docs/clients.md says (checked against the table).
UNTESTED = {"owslib-tiles": "OWSLib has no OGC API Tiles client"}


@dataclass(frozen=True)
class Cell:
    dataset: Dataset
    client: str

    @property
    def id(self) -> str:
        return f"{self.dataset.id}-{self.client}"


def served(d: Dataset) -> bool:
    return bool(d.serve.features or d.serve.tiles or d.serve.coverage)


def clients_of(d: Dataset) -> list[str]:
    """The clients that should read a collection, by what it serves."""
    wanted = []
    if d.serve.features:
        wanted += ["ogrinfo-features", "owslib-features"]
    if d.serve.tiles:
        wanted += ["gdal-tiles", "owslib-tiles"]
    if d.serve.coverage:
        wanted += ["gdal-coverage", "owslib-coverage"]
    return [c for c in CLIENTS if c in wanted or c.startswith("http-")]


REGISTRY = [d for d in load_registry(PROJECT_ROOT / "datasets") if served(d)]
CELLS = [Cell(d, c) for d in REGISTRY for c in clients_of(d) if c not in UNTESTED]


# ---------------------------------------------------------------------------------------------
# The matrix


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_client_reads_the_collection(cell: Cell, server: str, portal: Settings,
                                     gdal_tools: str) -> None:
    READERS[cell.client](cell.dataset, server, portal)


def test_the_documented_matrix_is_the_tested_one() -> None:
    """docs/clients.md's table has a row per served collection and a column per client; a cell
    is ✓ exactly where a test reads it, a reason where the client cannot, — where the
    collection does not offer that kind of API."""
    table = documented_matrix(DOCS.read_text(encoding="utf-8"))
    assert set(table) == {d.id for d in REGISTRY}, "a row per served collection"
    tested = {c.id for c in CELLS}
    for d in REGISTRY:
        for client in CLIENTS:
            text = table[d.id][client]
            if f"{d.id}-{client}" in tested:
                assert text.startswith("✓"), (d.id, client, text)
            elif client in clients_of(d):
                assert text and text not in {"✓", "—"}, f"{d.id}/{client}: say why"
            else:
                assert text == "—", (d.id, client, text)


def documented_matrix(markdown: str) -> dict[str, dict[str, str]]:
    """The matrix table of docs/clients.md: collection → client → cell text."""
    lines = [line for line in markdown.splitlines() if line.startswith("| `")]
    table = {}
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(CLIENTS) + 1:
            continue
        table[cells[0].strip("`")] = dict(zip(CLIENTS, cells[1:], strict=True))
    return table


# ---------------------------------------------------------------------------------------------
# GDAL


def run(command: list[str], portal: Settings,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A GDAL command; its tile cache (GDAL's WMS driver writes ``./gdalwmscache``) goes into the
    test's data folder, not the checkout."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=portal.data_dir, env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def ogrinfo_features(d: Dataset, server: str, portal: Settings) -> None:
    ids = published_ids(portal, d)
    page = max(1, math.ceil(len(ids) / 3))
    id_field = d.schema.id_field
    url = f"OAPIF:{server}/collections/{d.id}"
    every = run(["ogrinfo", "-ro", "-q", "-oo", f"PAGE_SIZE={page}", "-sql",
                 f"SELECT COUNT(DISTINCT {id_field}) AS n FROM {d.id}", url], portal,
                env={"CPL_CURL_VERBOSE": "YES"})
    assert f"n (Integer) = {len(ids)}" in every.stdout, every.stdout[-500:]
    pages = re.findall(r"GET /collections/[^ ]+/items\?[^ ]*offset=\d+", every.stderr)
    assert len(ids) < 2 or pages, "read past the first page"
    one = ids[len(ids) // 2]
    literal = f"'{one}'" if isinstance(one, str) else str(one)
    # GDAL 3.6 sends CQL text only when told to; filter-lang=cql-text is CQL2 text here
    filtered = run(["ogrinfo", "-ro", "-q", "-al", "-where", f"{id_field} = {literal}", url],
                   portal, env={"CPL_CURL_VERBOSE": "YES", "OGR_OAPIF_ALLOW_CQL_TEXT": "YES"})
    assert re.search(r"GET /collections/[^ ]+/items\?[^ ]*filter=", filtered.stderr), \
        "the filter went to the server"
    assert filtered.stdout.count(f"OGRFeature({d.id})") == 1, filtered.stdout[-500:]


def gdal_tiles(d: Dataset, server: str, portal: Settings) -> None:
    zooms = tileset_zooms(server, d.id)
    if d.serve.tiles == "vector":
        vector_tile_through_gdal(d, server, portal, zooms)
    else:
        map_tile_through_gdal(d, server, portal, zooms)


def map_tile_through_gdal(d: Dataset, server: str, portal: Settings, zooms: list[int]) -> None:
    """The OGC API driver's pixels over one tile are the tile's. GDAL 3.6 reads the
    collection's lon/lat extent as metres of the tile matrix set: the window is given in
    EPSG:3857 (MINX…MAXY), as docs/clients.md says."""
    z = min(max(16, zooms[0]), zooms[-1])
    tile = MERCATOR.tile(*a_place_with_data(portal, d), z)
    left, bottom, right, top = MERCATOR.xy_bounds(tile)
    out = portal.data_dir / f"clients-{d.id}.tif"
    run(["gdal_translate", "-q", "-oo", "API=TILES", "-oo", f"TILEMATRIX={z}",
         *window_options(left, bottom, right, top),
         "-projwin", str(left), str(top), str(right), str(bottom),
         f"OGCAPI:{server}/collections/{d.id}", str(out)], portal)
    direct = requests.get(f"{server}/collections/{d.id}/tiles/WebMercatorQuad/{z}/{tile.y}/"
                          f"{tile.x}", timeout=TIMEOUT)
    assert direct.status_code == 200, direct.text[:300]
    with rasterio.open(out) as read, MemoryFile(direct.content) as mem, mem.open() as sent:
        assert read.crs.to_epsg() == 3857
        assert read.transform.a == pytest.approx((right - left) / 256)
        pixels, expected = read.read(), sent.read()
    assert pixels.std() > 0, "a picture, not a blank"
    assert np.array_equal(pixels, as_rgb(expected)[:pixels.shape[0]])


def as_rgb(bands: np.ndarray) -> np.ndarray:
    """A tile's bands as GDAL presents them: grey as red = green = blue (alpha kept)."""
    if len(bands) in (1, 2):
        return np.concatenate([np.repeat(bands[:1], 3, axis=0), bands[1:]])
    return bands


def vector_tile_through_gdal(d: Dataset, server: str, portal: Settings,
                             zooms: list[int]) -> None:
    """GDAL's MVT driver reads a tile in place: its features are the layer's, where they are."""
    z = min(max(15, zooms[0]), zooms[-1])
    tile = MERCATOR.tile(*a_place_with_data(portal, d), z)
    url = f"{server}/collections/{d.id}/tiles/WebMercatorQuad/{z}/{tile.y}/{tile.x}?f=mvt"
    result = run(["ogrinfo", "-ro", "-al", "-q", "-oo", f"Z={z}", "-oo", f"X={tile.x}",
                  "-oo", f"Y={tile.y}", f"MVT:/vsicurl/{url}"], portal)
    found = set(re.findall(rf"^\s+{d.schema.id_field} \(\w+\) = (\S+)", result.stdout, re.M))
    assert found and found <= {str(i) for i in published_ids(portal, d)}
    info = run(["ogrinfo", "-ro", "-al", "-so", "-oo", f"Z={z}", "-oo", f"X={tile.x}",
                "-oo", f"Y={tile.y}", f"MVT:/vsicurl/{url}"], portal).stdout
    x0, y0, x1, y1 = map(float, re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), "
                                          r"([-\d.]+)\)", info).groups())
    left, bottom, right, top = MERCATOR.xy_bounds(tile)
    margin = (right - left) / 16  # tippecanoe's buffer around the tile
    assert left - margin <= x0 < x1 <= right + margin and bottom - margin <= y0 < y1 <= top + margin


def gdal_coverage(d: Dataset, server: str, portal: Settings) -> None:
    """The OGC API driver's raster is the published grid, and its cells are the COG's. Its CRS
    label is GDAL's own EPSG:4326 (hard-coded for every coverage): set it with -a_srs."""
    mosaic = portal.published_dir / d.id / f"{d.id}.vrt"
    info = json.loads(run(["gdalinfo", "-json", f"OGCAPI:{server}/collections/{d.id}"],
                          portal).stdout)
    with rasterio.open(mosaic) as src:
        assert info["size"] == [src.width, src.height]
        assert info["geoTransform"] == pytest.approx(list(src.transform.to_gdal()))
        cell = src.res[0]  # up to 256 × 256 cells, up to 200 cells in from the corner
        off = min(200, src.width // 4, src.height // 4)  # a 5 m grid of 1 km has 200 cells
        n = min(256, src.width - 2 * off, src.height - 2 * off)
        x0, y1 = src.bounds.left + off * cell, src.bounds.top - off * cell
        window = src.read(1, window=((off, off + n), (off, off + n)))
    side = n * cell
    out = portal.data_dir / f"clients-{d.id}-coverage.tif"
    run(["gdal_translate", "-q", "-a_srs", "EPSG:25832", "-projwin", str(x0), str(y1),
         str(x0 + side), str(y1 - side), f"OGCAPI:{server}/collections/{d.id}", str(out)],
        portal)
    with rasterio.open(out) as read:
        assert read.shape == (n, n) and (read.transform.c, read.transform.f) == (x0, y1)
        assert np.array_equal(read.read(1).astype(window.dtype), window, equal_nan=True)
    geotiff = (f"/vsicurl_streaming/{server}/collections/{d.id}/coverage?f=GTiff"
               f"&subset=x({x0}:{x0 + side}),y({y1 - side}:{y1})")
    answer = json.loads(run(["gdalinfo", "-json", geotiff], portal).stdout)
    assert answer["coordinateSystem"]["wkt"].rstrip().endswith('ID["EPSG",25832]]')
    assert answer["geoTransform"][:1] == [x0] and answer["size"] == [n, n]
    whole = json.loads(run(["gdalinfo", "-json",
                            f"/vsicurl/{server}/downloads/{d.id}/{d.id}.vrt"], portal).stdout)
    assert whole["size"] == info["size"] and whole["geoTransform"] == info["geoTransform"]


def window_options(left: float, bottom: float, right: float, top: float) -> list[str]:
    return [arg for name, value in (("MINX", left), ("MINY", bottom), ("MAXX", right),
                                    ("MAXY", top)) for arg in ("-oo", f"{name}={value}")]


# ---------------------------------------------------------------------------------------------
# OWSLib


def owslib_features(d: Dataset, server: str, portal: Settings) -> None:
    from owslib.ogcapi.features import Features

    ids = published_ids(portal, d)
    page = max(1, math.ceil(len(ids) / 3))
    api = Features(server, timeout=TIMEOUT)
    read, offset = [], 0
    while offset < len(ids):
        items = api.collection_items(d.id, limit=page, offset=offset)
        assert items["numberMatched"] == len(ids)
        read += [f["properties"].get(d.schema.id_field, f.get("id")) for f in items["features"]]
        offset += page
    assert sorted(map(str, read)) == sorted(map(str, ids))
    one = ids[len(ids) // 2]
    literal = f"'{one}'" if isinstance(one, str) else str(one)
    found = api.collection_items(d.id, filter=f"{d.schema.id_field} = {literal}",
                                 **{"filter-lang": "cql2-text"})
    assert [str(f["properties"].get(d.schema.id_field, f.get("id")))
            for f in found["features"]] == [str(one)]


def owslib_coverage(d: Dataset, server: str, portal: Settings) -> None:
    from owslib.ogcapi.coverages import Coverages

    api = Coverages(server, timeout=TIMEOUT)
    assert d.id in api.coverages()
    with rasterio.open(portal.published_dir / d.id / f"{d.id}.vrt") as src:
        cell = src.res[0]
        x0, y0 = src.bounds.left + 200, src.bounds.bottom + 200
        native = src.read(1, window=src.window(x0, y0, x0 + 10, y0 + 10)).astype(float)
        nodata = src.nodata
    cells = round(10 / cell)  # a 10 m square: 20 cells of 0.5 m, 10 of 1 m
    cut = json.load(api.coverage(d.id, subset={"x": (x0, x0 + 10), "y": (y0, y0 + 10)}))
    axes = cut["domain"]["axes"]
    assert (axes["x"]["start"], axes["x"]["num"]) == (x0 + cell / 2, cells)
    assert (axes["y"]["start"], axes["y"]["num"]) == (y0 + 10 - cell / 2, cells)
    values = np.array([nodata if v is None else v for v in cut["ranges"]["1"]["values"]])
    assert np.allclose(values.reshape(cells, cells), native, equal_nan=True)
    halved = json.load(api.coverage(d.id, subset={"x": (x0, x0 + 10), "y": (y0, y0 + 10)},
                                    scale_factor=2))["domain"]["axes"]
    assert (halved["x"]["start"], halved["x"]["num"]) == (x0 + cell, cells // 2)


# ---------------------------------------------------------------------------------------------
# Plain HTTP


def http_no_f(d: Dataset, server: str, portal: Settings) -> None:
    plain_http(d, server, portal, {})


def http_accept_any(d: Dataset, server: str, portal: Settings) -> None:
    plain_http(d, server, portal, {"Accept": "*/*"})


def plain_http(d: Dataset, server: str, portal: Settings, headers: dict[str, str]) -> None:
    """Every endpoint of the collection answers without f=, in its default format."""
    from geoportal.app.server import entry_path

    runtime = runtime_resource(portal, d.id)
    expected = {f"/collections/{d.id}": "application/json",
                entry_path(d.id, runtime): None}
    if d.serve.features:  # pygeoapi labels GeoJSON application/json, with f=json too
        expected[f"/collections/{d.id}/items?limit=2"] = "application/json"
    if d.serve.tiles:
        z = tileset_zooms(server, d.id)[-1]
        tile = MERCATOR.tile(*a_place_with_data(portal, d), z)
        default = runtime_tile_type(runtime)
        expected[f"/collections/{d.id}/tiles/WebMercatorQuad/{z}/{tile.y}/{tile.x}"] = default
    if d.serve.coverage:
        with rasterio.open(portal.published_dir / d.id / f"{d.id}.vrt") as src:
            x0, y0 = src.bounds.left, src.bounds.bottom
        expected[f"/collections/{d.id}/coverage?subset=x({x0}:{x0 + 5}),y({y0}:{y0 + 5})"] = \
            "application/prs.coverage+json"
    for path, media_type in expected.items():
        answer = requests.get(f"{server}{path}", headers=headers, timeout=TIMEOUT)
        assert answer.status_code == 200, (path, answer.text[:300])
        if media_type:
            assert answer.headers["Content-Type"].startswith(media_type), path


READERS = {"ogrinfo-features": ogrinfo_features, "gdal-tiles": gdal_tiles,
           "gdal-coverage": gdal_coverage, "owslib-features": owslib_features,
           "owslib-coverage": owslib_coverage, "http-no-f": http_no_f,
           "http-accept-any": http_accept_any}


# ---------------------------------------------------------------------------------------------
# What the published data says


def published_ids(portal: Settings, d: Dataset) -> list:
    frame = pyogrio.read_dataframe(portal.published_dir / d.id / f"{d.id}.gpkg",
                                   columns=[d.schema.id_field], read_geometry=False)
    return sorted(frame[d.schema.id_field].tolist())


def a_place_with_data(portal: Settings, d: Dataset) -> tuple[float, float]:
    """Lon/lat where the layer has data: a feature's inside, else the middle of its extent."""
    if d.serve.features:
        frame = pyogrio.read_dataframe(portal.published_dir / d.id / f"{d.id}.gpkg",
                                       columns=[], max_features=50).to_crs(4326)
        point = frame.geometry.iloc[len(frame) // 2].representative_point()
        return point.x, point.y
    mosaic = portal.published_dir / d.id / f"{d.id}.vrt"
    if mosaic.exists():  # the valid cell nearest the middle: a water depth is mostly empty
        return _valid_cell_near_middle(mosaic)
    metadata = read_metadata(portal.published_dir, d.id)
    assert metadata is not None and metadata.bbox_wgs84
    west, south, east, north = metadata.bbox_wgs84
    return (west + east) / 2, (south + north) / 2


def _valid_cell_near_middle(mosaic: Path) -> tuple[float, float]:
    """Lon/lat of the cell with data nearest the raster's middle (on a 200 × 200 overview)."""
    with rasterio.open(mosaic) as src:
        grid = src.read(1, out_shape=(200, 200), masked=True)
        rows, cols = np.nonzero(~np.ma.getmaskarray(grid) & (grid.filled(0) != 0))
        assert len(rows), f"{mosaic}: no cell with data"
        nearest = np.argmin((rows - 100) ** 2 + (cols - 100) ** 2)
        x = src.bounds.left + (cols[nearest] + 0.5) * src.width / 200 * src.res[0]
        y = src.bounds.top - (rows[nearest] + 0.5) * src.height / 200 * src.res[1]
        crs = src.crs
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    return lon, lat


def tileset_zooms(server: str, dataset_id: str) -> list[int]:
    """The zooms the tileset states (``tileMatrixSetLimits``), lowest first."""
    tileset = requests.get(f"{server}/collections/{dataset_id}/tiles/WebMercatorQuad?f=json",
                           timeout=TIMEOUT).json()
    return sorted(int(limit["tileMatrix"]) for limit in tileset["tileMatrixSetLimits"])


@cache
def _runtime(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def runtime_resource(portal: Settings, dataset_id: str) -> dict:
    return _runtime(portal.data_dir / "pygeoapi-runtime.yml")["resources"][dataset_id]


def runtime_tile_type(resource: dict) -> str:
    tile = next(p for p in resource["providers"] if p["type"] == "tile")
    return str(tile["format"]["mimetype"])
