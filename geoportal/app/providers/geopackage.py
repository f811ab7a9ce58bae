"""A pygeoapi feature provider that reads GeoPackage files with the standard library only.

Why not pygeoapi's own providers: the OGR provider returns duplicates when a bbox is paged with
limit/offset and widens the bbox when it converts it to the storage CRS, and the SQLiteGPKG
provider needs a SQLite that can load SpatiaLite, which the project's Python builds lack.

How it works:

* One read-only SQLite connection per call, opened on the *resolved* path, so that an atomic swap
  of ``published/<id>`` (a symbolic link) is picked up by the next request and a request in
  flight keeps reading the complete old version.
* Geometry blobs are GeoPackage binary: an 8-byte header, an optional envelope, then WKB. The
  header is parsed here and the WKB is decoded with :func:`shapely.from_wkb` for a whole page.
* Bounding boxes arrive in CRS84 (the collection's ``storage_crs`` is left at its default, so
  pygeoapi does not touch them). The box is densified and projected into the table's CRS, and a
  feature matches iff it intersects that polygon. The GeoPackage R-tree answers the easy cases:
  entries whose envelope lies inside a rectangle inscribed in the polygon match for certain and
  are counted by SQLite; only the entries in the thin ring between that rectangle and the
  polygon's bounds are decoded and tested with :func:`shapely.intersects`. Those that fail are
  excluded by id, so SQLite does the ordering, counting and paging over an exact set:
  ``ORDER BY <sortby>, <primary key>`` makes pages stable and free of duplicates.
* Geometries are returned in CRS84; :func:`pygeoapi.crs.crs_transform` then handles ``crs=``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from pygeoapi.crs import crs_transform
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
    SchemaType,
)

from geoportal.app.providers import cql2

LOGGER = logging.getLogger(__name__)

CRS84 = "OGC:CRS84"

#: Envelope sizes in bytes by the envelope indicator of the GeoPackage binary header (bits 1-3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_FLAG_EMPTY = 0b0001_0000

#: Densification of the query box before projecting it: a parallel is curved in a transverse
#: Mercator projection; with 0.0005° (≈ 35-55 m) segments the chord error is below 0.1 mm.
_DENSIFY_STEP_DEG = 0.0005
_MAX_SEGMENTS_PER_EDGE = 1024
#: Margin added to the layer's lon/lat extent; only ever makes the clip box larger, never wrong.
_EXTENT_MARGIN_DEG = 0.001

_LAYER_CACHE_SIZE = 64

#: Valid CRS84 coordinates; a bbox outside them is a client error, not an empty answer.
_LON_RANGE, _LAT_RANGE = (-180.0, 180.0), (-90.0, 90.0)


# --------------------------------------------------------------------------------------------
# GeoPackage binary geometries
# --------------------------------------------------------------------------------------------


def wkb_offset(blob: bytes) -> int | None:
    """Return where the WKB starts inside a GeoPackage geometry blob, or None if there is none.

    None means "no geometry": the empty flag is set, or the blob is not GeoPackage binary (we
    would rather serve a feature without geometry than fail the whole page).
    """
    if len(blob) < 8 or blob[0] != 0x47 or blob[1] != 0x50:  # b"GP"
        return None
    flags = blob[3]
    if flags & _FLAG_EMPTY:
        return None
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 0b111)
    if envelope is None:
        return None
    return 8 + envelope


def decode_geometries(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Decode GeoPackage blobs to an object array of shapely geometries (None where absent)."""
    wkb = np.empty(len(blobs), dtype=object)
    for i, blob in enumerate(blobs):
        start = None if blob is None else wkb_offset(blob)
        wkb[i] = None if start is None else bytes(blob[start:])
    return shapely.from_wkb(wkb, on_invalid="ignore")


# --------------------------------------------------------------------------------------------
# Coordinate transformation
# --------------------------------------------------------------------------------------------

_TRANSFORMERS: dict[tuple[str, str, bool, int], pyproj.Transformer] = {}
_TRANSFORMERS_LOCK = threading.Lock()


def get_transformer(src: str, dst: str, always_xy: bool = True) -> pyproj.Transformer:
    """Return a cached transformer, lon/lat-ordered unless ``always_xy`` is False.

    Building one costs milliseconds, so they are cached; the cache is per thread because pyproj
    transformers must not be shared between threads.
    """
    key = (src, dst, always_xy, threading.get_ident())
    transformer = _TRANSFORMERS.get(key)
    if transformer is None:
        transformer = pyproj.Transformer.from_crs(
            pyproj.CRS.from_user_input(src), pyproj.CRS.from_user_input(dst), always_xy=always_xy
        )
        with _TRANSFORMERS_LOCK:
            _TRANSFORMERS[key] = transformer
    return transformer


def reproject(geoms: np.ndarray, transformer: pyproj.Transformer) -> np.ndarray:
    """Transform an array of geometries in one vectorised call, keeping Z where present."""

    def apply(coords: np.ndarray) -> np.ndarray:
        columns = transformer.transform(*(coords[:, i] for i in range(coords.shape[1])))
        return np.column_stack(columns)

    return shapely.transform(geoms, apply, include_z=None)


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


# --------------------------------------------------------------------------------------------
# Bounding boxes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BboxFilter:
    """A CRS84 box as a polygon in the table's CRS, plus the rectangles used with the R-tree."""

    polygon: shapely.Geometry | None
    outer: tuple[float, float, float, float]
    inner: tuple[float, float, float, float] | None


def parse_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """Validate a 4- or 6-number CRS84 bbox and return its horizontal part."""
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError) as err:
        raise ProviderInvalidQueryError(user_msg="bbox must contain numbers") from err
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ProviderInvalidQueryError(user_msg="bbox must have 4 (or 6) finite numbers")
    minx, miny, maxx, maxy = values
    lon_ok = all(_LON_RANGE[0] <= v <= _LON_RANGE[1] for v in (minx, maxx))
    if not (lon_ok and all(_LAT_RANGE[0] <= v <= _LAT_RANGE[1] for v in (miny, maxy))):
        raise ProviderInvalidQueryError(
            user_msg=f"bbox {values} is out of range: longitudes must lie in [-180, 180] and "
            "latitudes in [-90, 90] (bbox is minLon,minLat,maxLon,maxLat in CRS84)"
        )
    if minx > maxx or miny > maxy:
        raise ProviderInvalidQueryError(
            user_msg="bbox must be minLon,minLat,maxLon,maxLat with min <= max "
            "(boxes crossing the antimeridian are not supported)"
        )
    return minx, miny, maxx, maxy


def project_bbox(box: tuple[float, float, float, float], layer: Layer) -> BboxFilter | None:
    """Project a CRS84 box to the table's CRS; None if no feature can intersect it.

    The box is first clipped to the layer's lon/lat extent (which changes no answer, as every
    feature lies inside it) so that a world-wide box is never projected into a UTM zone. Each
    edge is densified and projected on its own, which also yields the inscribed rectangle.
    """
    if layer.extent_lonlat is not None:
        ex0, ey0, ex1, ey1 = layer.extent_lonlat
        box = (max(box[0], ex0), max(box[1], ey0), min(box[2], ex1), min(box[3], ey1))
        if box[0] > box[2] or box[1] > box[3]:
            return None
    west, south, east, north = box[0], max(box[1], -90.0), box[2], min(box[3], 90.0)
    longest = max(east - west, north - south)
    n = min(_MAX_SEGMENTS_PER_EDGE, max(1, math.ceil(longest / _DENSIFY_STEP_DEG)))
    steps = np.linspace(0.0, 1.0, n + 1)[:-1]
    lons = np.concatenate(
        [
            west + (east - west) * steps,
            np.full(n, east),
            east - (east - west) * steps,
            np.full(n, west),
        ]
    )
    lats = np.concatenate(
        [
            np.full(n, south),
            south + (north - south) * steps,
            np.full(n, north),
            north - (north - south) * steps,
        ]
    )
    x, y = get_transformer(CRS84, layer.crs).transform(lons, lats)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ProviderInvalidQueryError(user_msg="bbox lies outside the area this layer covers")
    polygon = shapely.Polygon(np.column_stack([x, y]))
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    shapely.prepare(polygon)
    edge = [slice(i * n, (i + 1) * n + 1) for i in range(4)]
    xr, yr = np.append(x, x[0]), np.append(y, y[0])
    inner = (xr[edge[3]].max(), yr[edge[0]].max(), xr[edge[1]].min(), yr[edge[2]].min())
    return BboxFilter(polygon, tuple(polygon.bounds), _checked_inner(polygon, inner))


def _checked_inner(
    polygon: shapely.Geometry, rect: tuple[float, float, float, float]
) -> tuple[float, float, float, float] | None:
    """Keep the inscribed rectangle only if it really is inside the polygon.

    The projected box is a slightly rotated, slightly curved quadrilateral: the rectangle between
    the innermost points of its four edges lies inside it in every practical case, but this is
    verified rather than assumed; None makes every R-tree candidate go through the exact test.
    """
    if rect[0] >= rect[2] or rect[1] >= rect[3]:
        return None
    return rect if polygon.covers(shapely.box(*rect)) else None


@lru_cache(maxsize=64)
def same_crs(a: str, b: str) -> bool:
    """Whether two CRS names mean the same CRS (parsing them costs milliseconds: cached)."""
    return a == b or pyproj.CRS.from_user_input(a) == pyproj.CRS.from_user_input(b)


def literal_in_layer_crs(literal: dict, layer: Layer) -> shapely.Geometry:
    """A CQL2 geometry literal (GeoJSON, optionally with a ``crs`` name) in the table's CRS.

    pygeoapi has already moved it into the storage CRS and named that CRS (``crs`` member); a
    literal without one is CRS84, the CQL2 default. Vertices are transformed one by one, as
    pygeoapi and PostGIS do, so a polygon means the same on every back end.
    """
    crs = (literal.get("crs") or {}).get("properties", {}).get("name") or CRS84
    try:
        geometry = shapely.geometry.shape({k: v for k, v in literal.items() if k != "crs"})
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as err:
        msg = f"invalid geometry literal in filter: {err}"
        raise ProviderInvalidQueryError(user_msg=msg) from err
    if geometry.is_empty:
        raise ProviderInvalidQueryError(user_msg="empty geometry literal in filter")
    if not same_crs(crs, layer.crs):
        transformer = get_transformer(crs, layer.crs, always_xy=False)
        geometry = reproject(np.array([geometry], dtype=object), transformer)[0]
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise ProviderInvalidQueryError(
            user_msg="a geometry literal in the filter lies outside the area this layer covers"
        )
    return geometry


def covers_layer(box: tuple[float, float, float, float], layer: Layer) -> bool:
    """True if the CRS84 box contains the whole layer, so it filters nothing."""
    if layer.extent_lonlat is None:
        return False
    ex0, ey0, ex1, ey1 = layer.extent_lonlat
    return box[0] <= ex0 and box[1] <= ey0 and box[2] >= ex1 and box[3] >= ey1


# --------------------------------------------------------------------------------------------
# SQL building
# --------------------------------------------------------------------------------------------


@dataclass
class Where:
    """SQL conditions joined with AND, with their parameters in order."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""

    def copy(self) -> Where:
        return Where(list(self.clauses), list(self.params))


def coerce_value(column: Column, value: Any) -> Any:
    """Turn a query-string value into what SQLite stores for that column type."""
    kind = column.json_type
    try:
        if kind == "boolean":
            text = str(value).strip().lower()
            if text in {"true", "1"}:
                return 1
            if text in {"false", "0"}:
                return 0
            raise ValueError(value)
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except (TypeError, ValueError) as err:
        raise ProviderInvalidQueryError(
            user_msg=f"invalid value {value!r} for property {column.name!r} ({kind})"
        ) from err
    return str(value)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _lower_contains(haystack: Any, needle: str) -> int:
    return int(haystack is not None and needle in str(haystack).lower())


def _interval(datetime_: str) -> tuple[str | None, str | None]:
    if "/" in datetime_:
        start, end = (part.strip() for part in datetime_.split("/", 1))
        return (None if start in {"", ".."} else start, None if end in {"", ".."} else end)
    return datetime_, datetime_


# --------------------------------------------------------------------------------------------
# Property values
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _boolean(value: Any) -> Any:
    return None if value is None else bool(value)


def converter_for(column: Column) -> Callable[[Any], Any]:
    """How a stored value becomes a JSON value: NaN/inf → null, 0/1 → booleans, blobs → base64."""
    return _boolean if column.json_type == "boolean" else _plain


@dataclass(frozen=True)
class Page:
    """The requested page, which decides how the bbox condition is best phrased in SQL."""

    offset: int
    limit: int
    sorted: bool


_FAR = 1e300
#: The bbox filter of a box that contains the whole layer: every R-tree entry matches.
EVERYWHERE = BboxFilter(None, (-_FAR, -_FAR, _FAR, _FAR), (-_FAR, -_FAR, _FAR, _FAR))


def _rtree_outer(outer: tuple[float, float, float, float]) -> tuple[str, tuple]:
    """Condition on R-tree entries that intersect a rectangle (xmin, ymin, xmax, ymax)."""
    sql = "minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
    return sql, (outer[2], outer[0], outer[3], outer[1])


def _rtree_inner(inner: tuple[float, float, float, float]) -> tuple[str, tuple]:
    """Condition on R-tree entries that lie inside a rectangle (xmin, ymin, xmax, ymax).

    Must stay the exact complement of the ring's four strips in :meth:`_ring`.
    """
    sql = "minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?"
    return sql, (inner[0], inner[2], inner[1], inner[3])


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


class GeoPackageProvider(BaseProvider):
    """pygeoapi feature provider for one feature table of a GeoPackage file.

    Configuration (``providers`` entry of a collection)::

        name: geoportal.app.providers.geopackage.GeoPackageProvider
        type: feature
        data: /srv/published/gebaeude/gebaeude.gpkg   # may go through a symbolic link
        id_field: objekt_id
        title_field: name          # optional
        table: gebaeude            # optional: default is the first feature table
        time_field: stichtag       # optional: enables datetime=

    Leave ``storage_crs`` at its default (CRS84): the provider converts between CRS84 and the
    table's own CRS itself, exactly.
    """

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.table = provider_def.get("table")
        with self._open() as (_, layer):
            self._check_config(layer)

    # -- pygeoapi API -----------------------------------------------------------------------

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON Schema types of the published properties."""
        with self._open() as (_, layer):
            return self._fields_of(layer)

    def get_schema(self, schema_type: SchemaType = SchemaType.item) -> tuple[str, dict]:
        """A JSON Schema of one feature, used by pygeoapi for the OpenAPI document."""
        return "application/geo+json", {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "string"},
                "geometry": {"$ref": "https://geojson.org/schema/Geometry.json"},
                "properties": {"type": "object", "properties": dict(self.fields)},
            },
        }

    @crs_transform
    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: Sequence[float] | None = None,
        datetime_: str | None = None,
        properties: Sequence[tuple[str, Any]] | None = None,
        sortby: Sequence[dict[str, str]] | None = None,
        select_properties: Sequence[str] | None = None,
        skip_geometry: bool = False,
        q: str | None = None,
        filterq: Any = None,
        crs_transform_spec: Any = None,
        **kwargs: Any,
    ) -> dict:
        """Query features; geometries come back in CRS84 (then transformed by the decorator)."""
        offset, limit = self._paging(offset, limit)
        with self._open() as (conn, layer):
            where = self._where(conn, layer, properties, q, datetime_)
            order = self._order_by(layer, sortby)
            page = Page(offset, limit, bool(sortby))
            try:
                if filterq is not None:
                    self._apply_filter(conn, layer, where, filterq)
                if bbox:
                    matched = self._apply_bbox(conn, layer, where, parse_bbox(bbox), page)
                else:
                    matched = self._count(conn, layer, where)
                if resulttype == "hits" or matched == 0:
                    return self._collection([], matched)
                rows, names = self._select(
                    conn,
                    layer,
                    where,
                    select_properties,
                    skip_geometry,
                    f"{order} LIMIT ? OFFSET ?",
                    (limit, offset),
                )
            except sqlite3.Error as err:
                raise ProviderQueryError(f"{self._path()}: {err}") from err
            features = self._features(layer, rows, names, skip_geometry)
        return self._collection(features, matched)

    @crs_transform
    def get(self, identifier: Any, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        """Return one feature by the value of ``id_field``."""
        with self._open() as (conn, layer):
            id_column = layer.columns.get(self._id_field(layer))
            try:
                value = coerce_value(id_column, identifier) if id_column else identifier
            except ProviderInvalidQueryError as err:
                raise ProviderItemNotFoundError(user_msg=f"no feature {identifier!r}") from err
            where = Where()
            try:
                self._where_id(conn, layer, where, value)
                rows, names = self._select(
                    conn, layer, where, None, False, f"ORDER BY t.{quote(layer.pk)} LIMIT 1", ()
                )
            except sqlite3.Error as err:
                raise ProviderQueryError(f"{self._path()}: {err}") from err
            if not rows:
                raise ProviderItemNotFoundError(user_msg=f"no feature {identifier!r}")
            return self._features(layer, rows, names, False)[0]

    def __repr__(self) -> str:
        return f"<GeoPackageProvider> {self.data}"

    # -- connection and layer ----------------------------------------------------------------

    def _path(self) -> Path:
        """The file behind ``data`` *now*: resolved on every call, so symlink swaps are seen."""
        return Path(os.path.realpath(self.data))

    @contextmanager
    def _open(self) -> Iterator[tuple[sqlite3.Connection, Layer]]:
        path = self._path()
        try:
            stat = path.stat()
        except OSError as err:
            raise ProviderConnectionError(f"GeoPackage not found: {path}") from err
        uri = f"{path.as_uri()}?mode=ro&immutable=0"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as err:
            raise ProviderConnectionError(f"cannot open GeoPackage {path}: {err}") from err
        with closing(conn):
            key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size, self.table)
            try:
                layer = describe_layer(conn, path, self.table, key)
            except sqlite3.Error as err:
                raise ProviderConnectionError(f"{path}: not a readable GeoPackage ({err})") from err
            self._fields = self._fields_of(layer)
            yield conn, layer

    def _where_id(self, conn: sqlite3.Connection, layer: Layer, where: Where, value: Any) -> None:
        """Select one feature by id: through an index if the file has one, else an id map."""
        id_field = self._id_field(layer)
        if id_field == layer.pk or id_field in layer.indexed_columns:
            where.add(f"t.{quote(id_field)} = ?", value)
        else:
            where.add(f"t.{quote(layer.pk)} = ?", id_map(conn, layer, id_field).get(value))

    def _check_config(self, layer: Layer) -> None:
        for role, name in (
            ("id_field", self.id_field),
            ("title_field", self.title_field),
            ("time_field", self.time_field),
        ):
            if name and name not in layer.columns:
                raise ProviderConnectionError(
                    f"{self._path()}: {role} {name!r} is not a column of table {layer.table!r}"
                )

    def _id_field(self, layer: Layer) -> str:
        return self.id_field or layer.pk

    def _published(self, layer: Layer) -> list[Column]:
        """Attribute columns in table order; the primary key only if it is the id field."""
        id_field = self._id_field(layer)
        return [c for c in layer.columns.values() if c.name != layer.pk or c.name == id_field]

    def _fields_of(self, layer: Layer) -> dict[str, dict[str, str]]:
        return {c.name: dict(c.schema) for c in self._published(layer)}

    # -- query building ----------------------------------------------------------------------

    @staticmethod
    def _paging(offset: Any, limit: Any) -> tuple[int, int]:
        try:
            offset, limit = int(offset or 0), int(limit if limit is not None else 10)
        except (TypeError, ValueError) as err:
            raise ProviderInvalidQueryError(user_msg="offset and limit must be integers") from err
        if offset < 0 or limit < 0:
            raise ProviderInvalidQueryError(user_msg="offset and limit must not be negative")
        return offset, limit

    def _column(self, layer: Layer, name: str, what: str) -> Column:
        fields = self._fields_of(layer)
        if name not in fields:
            raise ProviderInvalidQueryError(
                user_msg=f"unknown {what} {name!r}; known: {', '.join(fields)}"
            )
        return layer.columns[name]

    def _where(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        properties: Sequence[tuple[str, Any]] | None,
        q: str | None,
        datetime_: str | None,
    ) -> Where:
        where = Where()
        for name, value in properties or ():
            column = self._column(layer, name, "property")
            where.add(f"t.{quote(name)} = ?", coerce_value(column, value))
        if q:
            self._add_q(conn, layer, where, q)
        if datetime_ and self.time_field:
            start, end = _interval(str(datetime_))
            column = f"julianday(t.{quote(self.time_field)})"
            if start:
                where.add(f"{column} >= julianday(?)", start)
            if end:
                where.add(f"{column} <= julianday(?)", end)
        return where

    def _apply_filter(
        self, conn: sqlite3.Connection, layer: Layer, where: Where, filterq: Any
    ) -> None:
        """Add a CQL2 filter: attribute predicates in SQL, spatial ones as exact key sets."""
        conn.create_function("gp_lower", 1, cql2.unicode_lower, deterministic=True)
        checker = cql2.Checker(self._fields_of(layer), {"geometry", layer.geom_column})

        def spatial(op: str, literal: dict) -> tuple[str, list[Any]]:
            return self._spatial_sql(conn, layer, op, literal)

        sql, params = cql2.SQLiteCompiler(checker, spatial).compile(filterq)
        where.add(sql, *params)

    def _spatial_sql(
        self, conn: sqlite3.Connection, layer: Layer, op: str, literal: dict
    ) -> tuple[str, list[Any]]:
        """Evaluate one spatial predicate exactly; return it as a condition on primary keys.

        R-tree entries whose envelope meets the literal's envelope are the candidates of every
        predicate here (each one implies "intersects", except disjoint, which is its negation);
        shapely decides on the candidates in one vectorised call.
        """
        geometry = literal_in_layer_crs(literal, layer)
        shapely.prepare(geometry)
        test = shapely.intersects if op == "disjoint" else getattr(shapely, op)
        candidates = Where()
        if layer.rtree is not None:
            sql, params = _rtree_outer(tuple(geometry.bounds))
            candidates.add(
                f"t.{quote(layer.pk)} IN (SELECT id FROM {quote(layer.rtree)} WHERE {sql})",
                *params,
            )
        keys, geoms = self._geometries(conn, layer, candidates)
        hits = keys[np.asarray(test(geoms, geometry), dtype=bool)]
        pk, ids = f"t.{quote(layer.pk)}", json.dumps(hits.tolist())
        if op == "disjoint":
            return f"({pk} NOT IN (SELECT value FROM json_each(?)) AND "\
                f"t.{quote(layer.geom_column)} IS NOT NULL)", [ids]
        return f"{pk} IN (SELECT value FROM json_each(?))", [ids]

    def _add_q(self, conn: sqlite3.Connection, layer: Layer, where: Where, q: str) -> None:
        """Free text: case-insensitive substring over the text columns.

        SQLite's LIKE folds ASCII letters only. For a term with other letters (ä, Ö…) LIKE with
        those letters as ``_`` wildcards narrows the rows down in C first, and a Python function
        comparing ``str.lower()`` decides on the rest.
        """
        texts = [c.name for c in self._published(layer) if c.json_type == "string"]
        if not texts:
            where.add("0")
            return
        like = " OR ".join(f"t.{quote(n)} LIKE ? ESCAPE '\\'" for n in texts)
        pattern = _like_pattern("".join(c if c.isascii() else "\x00" for c in q))
        where.add(f"({like})", *[pattern.replace("\x00", "_")] * len(texts))
        if not q.isascii():
            conn.create_function("gp_contains", 2, _lower_contains, deterministic=True)
            clause = " OR ".join(f"gp_contains(t.{quote(n)}, ?)" for n in texts)
            where.add(f"({clause})", *[q.lower()] * len(texts))

    def _order_by(self, layer: Layer, sortby: Sequence[dict[str, str]] | None) -> str:
        """ORDER BY the requested keys, then the primary key: stable, duplicate-free paging."""
        keys = []
        for item in sortby or ():
            name = item.get("property") if isinstance(item, dict) else None
            self._column(layer, str(name), "sortby property")
            direction = "DESC" if item.get("order", "+") == "-" else "ASC"
            keys.append(f"t.{quote(name)} {direction}")
        keys.append(f"t.{quote(layer.pk)} ASC")
        return "ORDER BY " + ", ".join(keys)

    def _apply_bbox(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        where: Where,
        box: tuple[float, float, float, float],
        page: Page,
    ) -> int:
        """Restrict ``where`` to the features that intersect the box; return how many match.

        R-tree entries inside the inscribed rectangle match for certain and are counted by SQLite;
        only the ring between that rectangle and the polygon's bounds is decoded and tested.
        """
        if layer.rtree is None:
            return self._scan_bbox(conn, layer, where, box)
        if covers_layer(box, layer):
            bbox_filter = EVERYWHERE
        else:
            bbox_filter = project_bbox(box, layer)
            if bbox_filter is None:
                return 0
        keys, hits = self._ring(conn, layer, where, bbox_filter)
        matched = self._count_inner(conn, layer, where, bbox_filter.inner) + int(hits.sum())
        failing = keys[~hits]
        self._restrict_to_outer(layer, where, bbox_filter.outer, matched + failing.size, page)
        if failing.size:
            where.add(
                f"t.{quote(layer.pk)} NOT IN (SELECT value FROM json_each(?))",
                json.dumps(failing.tolist()),
            )
        return matched

    def _ring(
        self, conn: sqlite3.Connection, layer: Layer, where: Where, bbox_filter: BboxFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        """Primary keys of the candidates outside the inscribed rectangle, and which ones hit."""
        if bbox_filter.polygon is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
        rtree = quote(layer.rtree or "")
        outer_sql, outer_params = _rtree_outer(bbox_filter.outer)
        if bbox_filter.inner is None:
            sql, params = f"SELECT id FROM {rtree} WHERE {outer_sql}", outer_params
        else:
            # four strips, each one an R-tree range query, beat one "NOT inside" test per entry
            x0, y0, x1, y1 = bbox_filter.inner
            strips = [("minx < ?", x0), ("maxx > ?", x1), ("miny < ?", y0), ("maxy > ?", y1)]
            sql = " UNION ".join(
                f"SELECT id FROM {rtree} WHERE {outer_sql} AND {cond}" for cond, _ in strips
            )
            params = tuple(p for _, value in strips for p in (*outer_params, value))
        ring = where.copy()
        ring.add(f"t.{quote(layer.pk)} IN ({sql})", *params)
        return self._test_geometries(conn, layer, ring, bbox_filter)

    def _count_inner(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        where: Where,
        inner: tuple[float, float, float, float] | None,
    ) -> int:
        """Count the features whose R-tree entry lies inside the inscribed rectangle."""
        if inner is None:
            return 0
        inner_sql, params = _rtree_inner(inner)
        if not where.clauses:  # straight from the R-tree: no table lookups at all
            sql = f"SELECT count(*) FROM {quote(layer.rtree or '')} WHERE {inner_sql}"
            return conn.execute(sql, params).fetchone()[0]
        counted = where.copy()
        counted.add(
            f"t.{quote(layer.pk)} IN (SELECT id FROM {quote(layer.rtree or '')} WHERE {inner_sql})",
            *params,
        )
        return self._count(conn, layer, counted)

    @staticmethod
    def _restrict_to_outer(
        layer: Layer,
        where: Where,
        outer: tuple[float, float, float, float],
        candidates: int,
        page: Page,
    ) -> None:
        """Add "has an R-tree entry in the outer rectangle" in the form that is cheaper here.

        ``pk IN (R-tree query)`` costs per candidate; a correlated ``EXISTS`` costs per table row
        scanned in key order, and that scan stops early when most rows match and no sort is asked.
        """
        rows = max(layer.rows, 1)
        matched = max(candidates, 1)
        scanned = rows if page.sorted else min(rows, (page.offset + page.limit) * rows / matched)
        sql, params = _rtree_outer(outer)
        rtree, pk = quote(layer.rtree or ""), quote(layer.pk)
        if scanned < 2 * candidates:
            where.add(f"EXISTS (SELECT 1 FROM {rtree} WHERE id = t.{pk} AND {sql})", *params)
        else:
            where.add(f"t.{pk} IN (SELECT id FROM {rtree} WHERE {sql})", *params)

    def _scan_bbox(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        where: Where,
        box: tuple[float, float, float, float],
    ) -> int:
        """Without an R-tree: test every geometry (slow, but still exact)."""
        bbox_filter = project_bbox(box, layer)
        if bbox_filter is None:
            return 0
        keys, hits = self._test_geometries(conn, layer, where, bbox_filter)
        included = keys[hits].tolist()
        where.add(f"t.{quote(layer.pk)} IN (SELECT value FROM json_each(?))", json.dumps(included))
        return len(included)

    @classmethod
    def _test_geometries(
        cls, conn: sqlite3.Connection, layer: Layer, where: Where, bbox_filter: BboxFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        keys, geoms = cls._geometries(conn, layer, where)
        hits = shapely.intersects(bbox_filter.polygon, geoms)
        return keys, np.asarray(hits, dtype=bool)

    @staticmethod
    def _geometries(
        conn: sqlite3.Connection, layer: Layer, where: Where
    ) -> tuple[np.ndarray, np.ndarray]:
        """Primary keys and decoded geometries of the rows matching ``where``."""
        sql = (
            f"SELECT t.{quote(layer.pk)}, t.{quote(layer.geom_column)} "
            f"FROM {quote(layer.table)} AS t{where.sql()}"
        )
        rows = conn.execute(sql, where.params).fetchall()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return keys, decode_geometries([r[1] for r in rows])

    def _count(self, conn: sqlite3.Connection, layer: Layer, where: Where) -> int:
        if not where.clauses:
            return layer.rows
        sql = f"SELECT count(*) FROM {quote(layer.table)} AS t{where.sql()}"
        return conn.execute(sql, where.params).fetchone()[0]

    def _select(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        where: Where,
        select_properties: Sequence[str] | None,
        skip_geometry: bool,
        tail: str,
        tail_params: tuple,
    ) -> tuple[list[tuple], list[str]]:
        """Run the page query; the first column is the id, the last one the geometry (if any)."""
        if select_properties:
            names = [self._column(layer, n, "property").name for n in select_properties]
        else:
            names = [c.name for c in self._published(layer)]
        columns = [f"t.{quote(self._id_field(layer))}"] + [f"t.{quote(n)}" for n in names]
        if not skip_geometry:
            columns.append(f"t.{quote(layer.geom_column)}")
        sql = f"SELECT {', '.join(columns)} FROM {quote(layer.table)} AS t{where.sql()} {tail}"
        return conn.execute(sql, [*where.params, *tail_params]).fetchall(), names

    # -- output ------------------------------------------------------------------------------

    def _features(
        self, layer: Layer, rows: list[tuple], names: list[str], skip_geometry: bool
    ) -> list[dict]:
        geometries: list[Any] = [None] * len(rows)
        if not skip_geometry and rows:
            geoms = decode_geometries([row[-1] for row in rows])
            if layer.crs != CRS84:
                geoms = reproject(geoms, get_transformer(layer.crs, CRS84))
            geometries = [
                None if text is None else json.loads(text) for text in shapely.to_geojson(geoms)
            ]
        converters = [converter_for(layer.columns[n]) for n in names]
        features = []
        for row, geometry in zip(rows, geometries, strict=True):
            values = row[1 : 1 + len(names)]
            features.append(
                {
                    "type": "Feature",
                    "id": str(row[0]),
                    "geometry": geometry,
                    "properties": {
                        n: convert(v)
                        for n, convert, v in zip(names, converters, values, strict=True)
                    },
                }
            )
        return features

    @staticmethod
    def _collection(features: list[dict], matched: int) -> dict:
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
        }
