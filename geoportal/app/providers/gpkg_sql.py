"""WHERE clauses, value coercion and paging for the GeoPackage provider's SQL."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geoportal.app.providers.cql2 import sqlite_number
from geoportal.app.providers.gpkg_layer import (
    Column,
)
from geoportal.core.errors import InvalidQueryError

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
            return sqlite_number(int(value))
        if kind == "number":
            return float(value)
    except (TypeError, ValueError) as err:
        raise InvalidQueryError(
            f"invalid value {value!r} for property {column.name!r} ({kind})"
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
