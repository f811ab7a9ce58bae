"""The formats table (geoportal/core/formats.py) is what the server, the builds, the catalogue and
the web map say about a format: one media type per file, whoever states it."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import get_args

import geopandas as gpd
import pytest
import shapely

from catalog import vocab
from catalog.errors import CatalogMappingError
from geoportal.app import webmap
from geoportal.app.pygeoapi_config import render_config
from geoportal.core import formats
from geoportal.core.errors import GeoportalError, UnknownFormatError
from geoportal.core.publish import file_record, read_metadata
from geoportal.core.registry import OutputFormat, load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.writers import WRITERS

REGISTRY = load_registry(PROJECT_ROOT / "datasets")
RESOURCES = render_config(REGISTRY)["resources"]


def test_every_format_the_registry_can_name_has_an_entry() -> None:
    named = {fmt for d in REGISTRY for fmt in d.outputs}
    named |= {d.pipeline.params.raster_tiles().format for d in REGISTRY
              if d.serve.tiles == "raster"}
    assert named <= set(formats.FORMATS)
    assert set(get_args(OutputFormat)) <= set(formats.FORMATS), "a registry word has no row"


def test_downloads_are_served_with_the_tables_media_type() -> None:
    """``/downloads`` guesses from the suffix: after the server's registration the guess is the
    table's, also for the suffixes the machine's own list lacks (GeoParquet, LAZ)."""
    formats.register_mimetypes()
    for name in ("gpkg", "geojson", "csv", "parquet", "laz", "tif"):
        fmt = formats.get(name)
        assert mimetypes.guess_type(f"layer{fmt.extension}")[0] == fmt.plain_media_type, name
    assert mimetypes.guess_type("trees.gpkg")[0] == "application/geopackage+sqlite3"


def test_download_links_name_the_file_the_writers_write(tmp_path: Path) -> None:
    """Each enclosure link of the server points at the file name a vector build writes, with the
    table's media type and title."""
    layer = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.Point(350000, 5685000)],
                             crs="EPSG:25832")
    trees = REGISTRY["trees"]
    links = [x for x in RESOURCES["trees"]["links"] if x["rel"] == "enclosure"]
    assert len(links) == len(trees.outputs)
    for fmt_name, link in zip(trees.outputs, links, strict=True):
        fmt = formats.get(fmt_name)
        written = WRITERS[fmt_name](layer, tmp_path, trees.id)
        assert link["href"].endswith(f"/downloads/trees/{written.name}")
        assert link["type"] == fmt.media_type
        assert link["title"] == f"Download {fmt.download_title}"


def test_metadata_catalogue_and_map_agree_on_a_file(tmp_path: Path) -> None:
    cog = tmp_path / "tile.tif"
    cog.write_bytes(b"II*\x00")
    record = file_record(cog, "tif")
    assert record.media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert vocab.file_type("tif").plain_media_type == "image/tiff"
    assert vocab.file_type_uri("gpkg").endswith("/file-type/GPKG")
    assert vocab.file_type("parquet").catalogue_label == "Parquet"  # CKAN's word
    labels = {x["format"] for x in webmap._downloads(REGISTRY["commercial_spaces"],
                                                     RESOURCES["commercial_spaces"])}
    assert labels == {"GeoPackage", "CSV", "GeoJSON", "GeoParquet"}


def test_pygeoapi_providers_take_their_format_from_the_table() -> None:
    providers = {(p["type"], p["name"]): p for r in RESOURCES.values() for p in r["providers"]}
    coverage = providers["coverage", "geoportal.app.providers.coverage.CoverageProvider"]
    assert coverage["format"] == {"name": "GTiff", "mimetype": "application/x-geotiff"}
    mvt = providers["tile", "MVT-tippecanoe"]
    assert mvt["format"] == {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"}
    ortho = next(p for p in RESOURCES["orthophoto"]["providers"] if p["type"] == "tile")
    assert ortho["format"] == {"name": "jpeg", "mimetype": "image/jpeg"}


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError, match=r"'xlsx'.*geoportal/core/formats\.py") as caught:
        formats.get("xlsx")
    assert isinstance(caught.value, GeoportalError) and isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("unknown file format 'xlsx'")  # no repr quotes
    with pytest.raises(UnknownFormatError, match=r"'\.xlsx'"):
        formats.by_extension("xlsx")
    sheet = tmp_path / "trees.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(UnknownFormatError):  # was silently application/octet-stream
        file_record(sheet, "xlsx")
    with pytest.raises(CatalogMappingError, match="file format 'mvt'"):
        vocab.file_type("mvt")  # vector tiles have no EU file-type code


def test_lookups_by_name_and_extension() -> None:
    assert formats.get("GPKG") is formats.FORMATS["gpkg"]
    assert formats.by_extension(".jpg").name == "jpeg"
    assert formats.by_extension("tif").name == "tif"  # not its COG alias
    assert {f.name for f in formats.FORMATS.values() if f.served_only} == vocab.SERVED_ONLY


def test_gdal_knows_every_driver_named() -> None:
    import pyogrio
    import rasterio

    with rasterio.Env() as env:
        known = set(env.drivers()) | set(pyogrio.list_drivers())
    named = {f.gdal_driver for f in formats.FORMATS.values() if f.gdal_driver}
    assert named - known <= {"Parquet"}  # the wheels' GDAL is built without Arrow


@pytest.mark.slow
@pytest.mark.server
def test_served_downloads_carry_the_media_type_of_their_metadata(server: str,
                                                                 portal: Settings) -> None:
    import requests

    for dataset_id in ("trees", "commercial_spaces"):
        metadata = read_metadata(portal.published_dir, dataset_id)
        assert metadata is not None
        for record in metadata.files:
            response = requests.head(f"{server}/downloads/{dataset_id}/{record.path}",
                                     timeout=30)
            served = response.headers["Content-Type"].split(";", 1)[0]
            assert served == formats.get(record.format).plain_media_type, record.path
