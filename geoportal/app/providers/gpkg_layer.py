"""What a GeoPackage table is: its columns, CRS, extent and indexes, read once per file version.

Part of the GeoPackage provider; cached by the file's identity, so an atomic swap of the
published version is seen by the next request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pygeoapi.provider.base import (
    ProviderConnectionError,
)

from geoportal.app.providers.gpkg_geometry import (
    CRS84,
    get_transformer,
)

LOGGER = logging.getLogger(__name__)

#: Margin added to the layer's lon/lat extent; only ever makes the clip box larger, never wrong.
_EXTENT_MARGIN_DEG = 0.001

_LAYER_CACHE_SIZE = 64



# --------------------------------------------------------------------------------------------
# Layer description (cached per file version)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """An attribute column and how it is published."""

    name: str
    declared: str
    schema: dict[str, str]

    @property
    def json_type(self) -> str:
        return self.schema["type"]


@dataclass(frozen=True)
class Layer:
    """What one feature table of one GeoPackage file looks like; immutable per file version."""

    table: str
    geom_column: str
    pk: str
    columns: dict[str, Column]
    crs: str
    rtree: str | None
    extent_lonlat: tuple[float, float, float, float] | None
    rows: int
    indexed_columns: frozenset[str]
    version: tuple


def json_schema_for(declared: str) -> dict[str, str]:
    """Map a GeoPackage column type to a JSON Schema fragment.

    Dates are ``string`` with a ``format`` (as pygeoapi's OGR provider does) so that queryables,
    /schema and the OpenAPI document stay valid JSON Schema.
    """
    base = declared.upper().split("(")[0].strip()
    if base == "BOOLEAN":
        return {"type": "boolean"}
    if base in {"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT"}:
        return {"type": "integer"}
    if base in {"REAL", "DOUBLE", "FLOAT", "NUMERIC", "DECIMAL"}:
        return {"type": "number"}
    if base == "DATE":
        return {"type": "string", "format": "date"}
    if base in {"DATETIME", "TIMESTAMP"}:
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}


def quote(identifier: str) -> str:
    """Quote an SQL identifier (table and column names come from files and configs)."""
    return '"' + identifier.replace('"', '""') + '"'


_LAYERS: OrderedDict[tuple, Layer] = OrderedDict()
_LAYERS_LOCK = threading.Lock()


def describe_layer(conn: sqlite3.Connection, path: Path, table: str | None, key: tuple) -> Layer:
    """Return the cached description of a feature table, reading it on the first use."""
    with _LAYERS_LOCK:
        layer = _LAYERS.get(key)
        if layer is not None:
            _LAYERS.move_to_end(key)
            return layer
    layer = _read_layer(conn, path, table, key)
    with _LAYERS_LOCK:
        _LAYERS[key] = layer
        while len(_LAYERS) > _LAYER_CACHE_SIZE:
            _LAYERS.popitem(last=False)
    return layer


def _read_layer(conn: sqlite3.Connection, path: Path, table: str | None, version: tuple) -> Layer:
    try:
        table, geom_column, srs_id = _feature_table(conn, table)
    except sqlite3.DatabaseError as err:
        raise ProviderConnectionError(f"{path}: not a readable GeoPackage ({err})") from err
    info = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
    pk = next((row[1] for row in info if row[5]), None) or "fid"
    columns = {
        name: Column(name, declared or "", json_schema_for(declared or ""))
        for _, name, declared, *_ in info
        if name != geom_column
    }
    crs = _table_crs(conn, srs_id)
    rtree = f"rtree_{table}_{geom_column}"
    has_rtree = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (rtree,)
    ).fetchone()
    rtree_name = rtree if has_rtree else None
    return Layer(
        table=table,
        geom_column=geom_column,
        pk=pk,
        columns=columns,
        crs=crs,
        rtree=rtree_name,
        extent_lonlat=_extent_lonlat(conn, table, rtree_name, crs),
        rows=conn.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0],
        indexed_columns=_indexed_columns(conn, table),
        version=version,
    )


def _feature_table(conn: sqlite3.Connection, table: str | None) -> tuple[str, str, int]:
    sql = (
        "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c "
        "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
        "WHERE c.data_type = 'features'"
    )
    params: tuple = ()
    if table:
        sql += " AND c.table_name = ?"
        params = (table,)
    row = conn.execute(sql + " ORDER BY c.rowid LIMIT 1", params).fetchone()
    if row is None:
        what = f"feature table {table!r}" if table else "feature table"
        raise sqlite3.DatabaseError(f"no {what} in gpkg_contents")
    return row


def _table_crs(conn: sqlite3.Connection, srs_id: int) -> str:
    """The table's CRS as a string pyproj understands; undefined systems are taken as CRS84."""
    row = conn.execute(
        "SELECT organization, organization_coordsys_id, definition "
        "FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
        (srs_id,),
    ).fetchone()
    if row is None or srs_id in (0, -1):
        LOGGER.warning("srs_id %s undefined; assuming lon/lat (CRS84)", srs_id)
        return CRS84
    organization, code, definition = row
    if organization and organization.upper() == "EPSG":
        return f"EPSG:{code}"
    return definition


def _extent_lonlat(
    conn: sqlite3.Connection, table: str, rtree: str | None, crs: str
) -> tuple[float, float, float, float] | None:
    """A lon/lat box that certainly contains every feature, or None if it cannot be known.

    Query boxes are clipped to it before they are projected: far outside its area of use a
    projection is inaccurate or undefined, and no feature lies there anyway.
    """
    if rtree is not None:
        sql = f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {quote(rtree)}"
        row = conn.execute(sql).fetchone()
    else:  # gpkg_contents holds an extent too, but nothing forces writers to keep it current
        return None
    if row is None or row[0] is None:
        return None
    # A single point (or a straight line) has a degenerate box; widen it so it has an area.
    minx, miny, maxx, maxy = row
    pad = 1.0 if maxx - minx < 1.0 or maxy - miny < 1.0 else 0.0
    box = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    ring = shapely.segmentize(box, max((maxx - minx + 2 * pad) / 64, 1e-9)).exterior
    lon, lat = get_transformer(crs, CRS84).transform(*np.asarray(ring.coords).T)
    m = _EXTENT_MARGIN_DEG
    return (
        max(-180.0, float(np.min(lon)) - m),
        max(-90.0, float(np.min(lat)) - m),
        min(180.0, float(np.max(lon)) + m),
        min(90.0, float(np.max(lat)) + m),
    )


def _indexed_columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    names = set()
    for index in conn.execute(f"PRAGMA index_list({quote(table)})").fetchall():
        first = conn.execute(f"PRAGMA index_info({quote(index[1])})").fetchone()
        if first is not None:
            names.add(first[2])
    return frozenset(names)


_ID_MAPS: OrderedDict[tuple, dict[Any, int]] = OrderedDict()
_ID_MAPS_SIZE = 8


def id_map(conn: sqlite3.Connection, layer: Layer, id_field: str) -> dict[Any, int]:
    """Map id values to primary keys, built once per file version.

    A GeoPackage written by GDAL has no index on the id column, and the server cannot add one to
    a read-only file; a full scan costs 1.5-2 ms per request on 40,000 rows, the map 10 ms once.
    The first row wins for duplicate ids, as with ``ORDER BY pk LIMIT 1``.
    """
    key = (layer.version, id_field)
    with _LAYERS_LOCK:
        mapping = _ID_MAPS.get(key)
        if mapping is not None:
            _ID_MAPS.move_to_end(key)
            return mapping
    sql = f"SELECT {quote(id_field)}, {quote(layer.pk)} FROM {quote(layer.table)}"
    mapping = {}
    for value, pk in conn.execute(sql + f" ORDER BY {quote(layer.pk)} DESC"):
        mapping[value] = pk
    with _LAYERS_LOCK:
        _ID_MAPS[key] = mapping
        while len(_ID_MAPS) > _ID_MAPS_SIZE:
            _ID_MAPS.popitem(last=False)
    return mapping
