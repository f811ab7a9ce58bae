"""pygeoapi's PostgreSQL provider, with the fixes it needs to answer like the embedded back end.

What :class:`pygeoapi.provider.sql.PostgreSQLProvider` (0.24) gets wrong, and what is done here:

* CQL2 filters are handed to pygeofilter's SQLAlchemy back end unchecked: an unknown property or
  a string compared with a number becomes a database error, i.e. a 500. The tree is checked with
  :func:`geoportal.providers.cql2.check` first (the same rules as the GeoPackage provider), and
  any remaining database error is reported as a query error, not a stack trace.
* ``sortby`` on a column with ties orders nothing else, so pages overlap and skip features. The
  order is completed with a unique key (``order_key``, by default the loader's ``fid``, which
  keeps the GeoPackage row order, so both back ends return pages in the same order); NULLs sort
  first ascending and last descending, as in SQLite.
* The unique key column is not published as a property.

Configuration: as pygeoapi's provider, plus ``order_key`` (optional)::

    name: geoportal.providers.postgis.PostGISProvider
    type: feature
    data: {host: 127.0.0.1, port: 5432, dbname: geoportal, user: postgres}
    table: parcels
    id_field: parcel_id
    geom_field: geom
    storage_crs: http://www.opengis.net/def/crs/EPSG/0/25832
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import ProviderInvalidQueryError, ProviderQueryError
from pygeoapi.provider.sql import PostgreSQLProvider
from sqlalchemy import asc, desc
from sqlalchemy.exc import SQLAlchemyError

from geoportal.providers import cql2

DEFAULT_ORDER_KEY = "fid"


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
        except ProviderInvalidQueryError:
            raise
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
