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

CQL_NOT_SUPPORTED = (
    "CQL2 filters (filter=...) are not yet supported for this collection; "
    "use bbox, q, sortby and property=value parameters instead"
)


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

_TRANSFORMERS: dict[tuple[str, str, int], pyproj.Transformer] = {}
_TRANSFORMERS_LOCK = threading.Lock()


def get_transformer(src: str, dst: str) -> pyproj.Transformer:
    """Return a cached lon/lat-ordered transformer.

    Building one costs milliseconds, so they are cached; the cache is per thread because pyproj
    transformers must not be shared between threads.
    """
    key = (src, dst, threading.get_ident())
    transformer = _TRANSFORMERS.get(key)
    if transformer is None:
        transformer = pyproj.Transformer.from_crs(
            pyproj.CRS.from_user_input(src), pyproj.CRS.from_user_input(dst), always_xy=True
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
    indexed_columns: frozenset[str] = field(default_factory=frozenset)


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
    layer = _read_layer(conn, path, table)
    with _LAYERS_LOCK:
        _LAYERS[key] = layer
        while len(_LAYERS) > _LAYER_CACHE_SIZE:
            _LAYERS.popitem(last=False)
    return layer


def _read_layer(conn: sqlite3.Connection, path: Path, table: str | None) -> Layer:
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
        extent_lonlat=_extent_lonlat(conn, rtree_name, crs),
        indexed_columns=_indexed_columns(conn, table),
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
    conn: sqlite3.Connection, rtree: str | None, crs: str
) -> tuple[float, float, float, float] | None:
    """A lon/lat box that certainly contains every feature, or None if it cannot be known.

    Query boxes are clipped to it before they are projected: far outside its area of use a
    projection is inaccurate or undefined, and no feature lies there anyway.
    """
    if rtree is None:
        return None
    row = conn.execute(
        f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {quote(rtree)}"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    ring = shapely.segmentize(shapely.box(*row), max((row[2] - row[0]) / 64, 1e-9)).exterior
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


# --------------------------------------------------------------------------------------------
# Bounding boxes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BboxFilter:
    """A CRS84 box as a polygon in the table's CRS, plus the rectangles used with the R-tree."""

    polygon: shapely.Polygon
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
    if minx > maxx or miny > maxy:
        raise ProviderInvalidQueryError(
            user_msg="bbox must be minLon,minLat,maxLon,maxLat with min <= max "
            "(boxes crossing the antimeridian are not supported)"
        )
    return minx, miny, maxx, maxy


def project_bbox(box: tuple[float, float, float, float], layer: Layer) -> BboxFilter | None:
    """Project a CRS84 box to the table's CRS; None if no feature can intersect it.

    The box is first clipped to the layer's lon/lat extent (which changes no answer, as every
    feature lies inside it) so that a world-wide box is never projected into a UTM zone.
    """
    if layer.extent_lonlat is not None:
        ex0, ey0, ex1, ey1 = layer.extent_lonlat
        box = (max(box[0], ex0), max(box[1], ey0), min(box[2], ex1), min(box[3], ey1))
        if box[0] > box[2] or box[1] > box[3]:
            return None
    box = (box[0], max(box[1], -90.0), box[2], min(box[3], 90.0))
    longest = max(box[2] - box[0], box[3] - box[1])
    segments = min(_MAX_SEGMENTS_PER_EDGE, max(1, math.ceil(longest / _DENSIFY_STEP_DEG)))
    lonlat = shapely.segmentize(shapely.box(*box), max(longest / segments, 1e-12))
    polygon = reproject(np.array([lonlat]), get_transformer(CRS84, layer.crs))[0]
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    shapely.prepare(polygon)
    return BboxFilter(polygon, tuple(polygon.bounds), _inscribed_rectangle(polygon))


def covers_layer(box: tuple[float, float, float, float], layer: Layer) -> bool:
    """True if the CRS84 box contains the whole layer, so it filters nothing."""
    if layer.extent_lonlat is None:
        return False
    ex0, ey0, ex1, ey1 = layer.extent_lonlat
    return box[0] <= ex0 and box[1] <= ey0 and box[2] >= ex1 and box[3] >= ey1


def _inscribed_rectangle(polygon: shapely.Polygon) -> tuple[float, float, float, float] | None:
    """An axis-parallel rectangle inside the projected box, to settle most R-tree hits in SQL.

    The projected box is a slightly rotated, slightly curved quadrilateral; trimming its bounds by
    the extreme coordinates of its vertices on each side gives a rectangle that is inside it in
    every practical case. It is verified, and None (test every candidate) is returned otherwise.
    """
    coords = np.asarray(polygon.exterior.coords) if polygon.geom_type == "Polygon" else None
    if coords is None or len(coords) < 5:
        return None
    x, y = coords[:, 0], coords[:, 1]
    cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
    left, right, low, high = x < cx, x >= cx, y < cy, y >= cy
    rect = (x[left].max(), y[low].max(), x[right].min(), y[high].min())
    if rect[0] >= rect[2] or rect[1] >= rect[3]:
        return None
    return rect if polygon.covers(shapely.box(*rect)) else None


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


def _casefold_contains(haystack: Any, needle: str) -> int:
    return int(haystack is not None and needle in str(haystack).casefold())


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


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


class GeoPackageProvider(BaseProvider):
    """pygeoapi feature provider for one feature table of a GeoPackage file.

    Configuration (``providers`` entry of a collection)::

        name: geoportal.providers.geopackage.GeoPackageProvider
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
        if filterq is not None:
            raise ProviderInvalidQueryError(user_msg=CQL_NOT_SUPPORTED)
        offset, limit = self._paging(offset, limit)
        with self._open() as (conn, layer):
            where = self._where(conn, layer, properties, q, datetime_)
            order = self._order_by(layer, sortby)
            try:
                if bbox and not self._apply_bbox(conn, layer, where, parse_bbox(bbox)):
                    return self._collection([], 0)
                matched = self._count(conn, layer, where)
                if resulttype == "hits":
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
            where.add(f"t.{quote(self._id_field(layer))} = ?", value)
            try:
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

    def _add_q(self, conn: sqlite3.Connection, layer: Layer, where: Where, q: str) -> None:
        """Free text: case-insensitive substring over the text columns.

        SQLite's LIKE folds ASCII only; a search term with other letters (ä, Ö, ß…) goes through
        a Python function that uses ``str.casefold`` instead, which is slower but correct.
        """
        texts = [c.name for c in self._published(layer) if c.json_type == "string"]
        if not texts:
            where.add("0")
            return
        if q.isascii():
            clause = " OR ".join(f"t.{quote(n)} LIKE ? ESCAPE '\\'" for n in texts)
            where.add(f"({clause})", *[_like_pattern(q)] * len(texts))
        else:
            conn.create_function("gp_contains", 2, _casefold_contains, deterministic=True)
            clause = " OR ".join(f"gp_contains(t.{quote(n)}, ?)" for n in texts)
            where.add(f"({clause})", *[q.casefold()] * len(texts))

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
    ) -> bool:
        """Add the exact bbox condition to ``where``; False if nothing can match."""
        if covers_layer(box, layer):
            where.add(f"t.{quote(layer.geom_column)} IS NOT NULL")
            return True
        bbox_filter = project_bbox(box, layer)
        if bbox_filter is None:
            return False
        if layer.rtree is None:
            included = self._exact_matches(conn, layer, where, bbox_filter)
            where.add(
                f"t.{quote(layer.pk)} IN (SELECT value FROM json_each(?))", json.dumps(included)
            )
            return True
        rtree, outer = quote(layer.rtree), bbox_filter.outer
        candidates = (
            f"SELECT id FROM {rtree} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
        )
        outer_params = (outer[2], outer[0], outer[3], outer[1])
        ring, ring_params = candidates, outer_params
        if bbox_filter.inner is not None:
            ring += " AND NOT (minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?)"
            inner = bbox_filter.inner
            ring_params = (*outer_params, inner[0], inner[2], inner[1], inner[3])
        failing = self._exact_misses(conn, layer, where, (ring, ring_params), bbox_filter)
        where.add(f"t.{quote(layer.pk)} IN ({candidates})", *outer_params)
        if failing:
            where.add(
                f"t.{quote(layer.pk)} NOT IN (SELECT value FROM json_each(?))", json.dumps(failing)
            )
        return True

    def _exact_misses(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        where: Where,
        ring: tuple[str, tuple],
        bbox_filter: BboxFilter,
    ) -> list[int]:
        """Primary keys of R-tree candidates (outside the inscribed rectangle) that miss the box."""
        ring_where = where.copy()
        ring_where.add(f"t.{quote(layer.pk)} IN ({ring[0]})", *ring[1])
        keys, hits = self._test_geometries(conn, layer, ring_where, bbox_filter)
        return keys[~hits].tolist()

    def _exact_matches(
        self,
        conn: sqlite3.Connection,
        layer: Layer,
        where: Where,
        bbox_filter: BboxFilter,
    ) -> list[int]:
        """Without an R-tree: the primary keys of all features that intersect (a full scan)."""
        keys, hits = self._test_geometries(conn, layer, where, bbox_filter)
        return keys[hits].tolist()

    @staticmethod
    def _test_geometries(
        conn: sqlite3.Connection, layer: Layer, where: Where, bbox_filter: BboxFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        sql = (
            f"SELECT t.{quote(layer.pk)}, t.{quote(layer.geom_column)} "
            f"FROM {quote(layer.table)} AS t{where.sql()}"
        )
        rows = conn.execute(sql, where.params).fetchall()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        geoms = decode_geometries([r[1] for r in rows])
        hits = shapely.intersects(bbox_filter.polygon, geoms)
        return keys, np.asarray(hits, dtype=bool)

    def _count(self, conn: sqlite3.Connection, layer: Layer, where: Where) -> int:
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
