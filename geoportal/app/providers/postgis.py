"""pygeoapi's PostgreSQL provider, with the fixes it needs to answer like the embedded back end.

What :class:`pygeoapi.provider.sql.PostgreSQLProvider` (0.24) gets wrong, and what is done here:

* CQL2 filters are handed to pygeofilter's SQLAlchemy back end unchecked: an unknown property or
  a string compared with a number becomes a database error, i.e. a 500. The tree is checked with
  :func:`geoportal.app.providers.cql2.check` first (the same rules as the GeoPackage provider), and
  any remaining database error is reported as a query error, not a stack trace.
* ``sortby`` on a column with ties orders nothing else, so pages overlap and skip features. The
  order is completed with a unique key (``order_key``, by default the loader's ``fid``, which
  keeps the GeoPackage row order, so both back ends return pages in the same order); NULLs sort
  first ascending and last descending, as in SQLite.
* The unique key column is not published as a property.
* A ``bbox`` arrives as the two corners transformed into the storage CRS, and the provider
  queries the rectangle they span: in UTM that is not the requested lon/lat box (it cuts off
  or adds slivers along the edges). The requested box is queried instead, its edges densified
  and projected as the GeoPackage provider does, so both back ends select the same features.

Configuration: as pygeoapi's provider, plus ``order_key`` (optional)::

    name: geoportal.app.providers.postgis.PostGISProvider
    type: feature
    data: {host: 127.0.0.1, port: 5432, dbname: geoportal, user: postgres}
    table: parcels
    id_field: parcel_id
    geom_field: geom
    storage_crs: http://www.opengis.net/def/crs/EPSG/0/25832
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyproj
import shapely
from geoalchemy2.functions import ST_GeomFromText, ST_Intersects
from pygeoapi.crs import get_crs, get_srid
from pygeoapi.provider.base import ProviderQueryError
from pygeoapi.provider.sql import PostgreSQLProvider
from sqlalchemy import asc, desc
from sqlalchemy.exc import SQLAlchemyError

from geoportal.app import pygeoapi_patches
from geoportal.app.providers import cql2
from geoportal.app.providers.errors import translate_errors
from geoportal.core.geometry import projected_ring

DEFAULT_ORDER_KEY = "fid"


@translate_errors
class PostGISProvider(PostgreSQLProvider):
    """PostgreSQL/PostGIS feature provider with checked CQL2 and stable sorted paging."""

    def __init__(self, provider_def: dict) -> None:
        self.order_key = provider_def.get("order_key", DEFAULT_ORDER_KEY)
        super().__init__(provider_def)

    def get_fields(self) -> dict[str, dict[str, Any]]:
        fields = super().get_fields()
        if self.order_key != self.id_field:
            fields.pop(self.order_key, None)
        self._fields = fields
        return fields

    def query(self, *args: Any, filterq: Any = None, **kwargs: Any) -> dict:
        if filterq is not None:
            cql2.check(filterq, self.fields, {self.geom})
        try:
            return super().query(*args, filterq=filterq, **kwargs)
        except SQLAlchemyError as err:
            msg = f"{self.table}: query failed: {err.__class__.__name__}"
            raise ProviderQueryError(msg) from err

    def _get_order_by_clauses(self, sort_by: list[dict], table_model: Any) -> list:
        clauses = []
        for item in sort_by or ():
            column = getattr(table_model, item["property"])
            if item.get("order", "+") == "-":
                clauses.append(desc(column).nulls_last())
            else:
                clauses.append(asc(column).nulls_first())
        key = self.order_key if hasattr(table_model, self.order_key) else self.id_field
        clauses.append(asc(getattr(table_model, key)))
        return clauses

    def _get_bbox_filter(self, bbox: list[float]) -> Any:
        asked = pygeoapi_patches.asked_bbox(bbox) if bbox else None
        if asked is None:
            return super()._get_bbox_filter(bbox)
        box, crs, always_xy = asked
        polygon = densified_box(box, crs, self.storage_crs, always_xy)
        geom_column = getattr(self.table_model, self.geom)
        return ST_Intersects(ST_GeomFromText(polygon.wkt, get_srid(self.storage_crs)),
                             geom_column)


def densified_box(box: list[float], crs: str, storage_crs: str,
                  always_xy: bool = False) -> shapely.Polygon:
    """The box's outline in ``storage_crs``, each edge split in steps of about 50 m."""
    half = len(box) // 2  # 4 numbers, or 6 with heights
    corners = (box[0], box[1], box[half], box[half + 1])
    transformer = pyproj.Transformer.from_crs(get_crs(crs), get_crs(storage_crs), always_xy)
    return shapely.Polygon(np.column_stack(projected_ring(corners, transformer)))
