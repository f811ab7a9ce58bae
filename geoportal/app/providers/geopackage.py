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

The parts live beside it: ``gpkg_geometry`` (binary geometries, transformers), ``gpkg_layer``
(table description), ``gpkg_bbox`` (boxes and R-tree rectangles), ``gpkg_sql`` (WHERE, values,
paging). This module is the provider class alone, somewhat over 500 lines: one pygeoapi
provider whose methods each build one part of a single query, read best together.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pygeoapi.crs import crs_transform
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderQueryError,
    SchemaType,
)

from geoportal.app.providers import cql2
from geoportal.app.providers.errors import translate_errors
from geoportal.app.providers.gpkg_bbox import (
    EVERYWHERE,
    BboxFilter,
    _rtree_inner,
    _rtree_outer,
    covers_layer,
    literal_in_layer_crs,
    parse_bbox,
    project_bbox,
)
from geoportal.app.providers.gpkg_geometry import (
    CRS84,
    decode_geometries,
    get_transformer,
    reproject,
)
from geoportal.app.providers.gpkg_layer import (
    Column,
    Layer,
    describe_layer,
    id_map,
    quote,
)
from geoportal.app.providers.gpkg_sql import (
    Page,
    Where,
    _interval,
    _like_pattern,
    _lower_contains,
    coerce_value,
    converter_for,
)
from geoportal.core.errors import InvalidQueryError, ItemNotFoundError

LOGGER = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


@translate_errors
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
            except InvalidQueryError as err:
                raise ItemNotFoundError(f"no feature {identifier!r}") from err
            where = Where()
            try:
                self._where_id(conn, layer, where, value)
                rows, names = self._select(
                    conn, layer, where, None, False, f"ORDER BY t.{quote(layer.pk)} LIMIT 1", ()
                )
            except sqlite3.Error as err:
                raise ProviderQueryError(f"{self._path()}: {err}") from err
            if not rows:
                raise ItemNotFoundError(f"no feature {identifier!r}")
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
            raise InvalidQueryError("offset and limit must be integers") from err
        if offset < 0 or limit < 0:
            raise InvalidQueryError("offset and limit must not be negative")
        # past 64 bits SQLite cannot bind it (OverflowError); every page that far is empty
        return min(offset, cql2.SQLITE_INT_MAX), min(limit, cql2.SQLITE_INT_MAX)

    def _column(self, layer: Layer, name: str, what: str) -> Column:
        fields = self._fields_of(layer)
        if name not in fields:
            raise InvalidQueryError(f"unknown {what} {name!r}; known: {', '.join(fields)}")
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
