"""CQL2 filters for the portal's feature providers: one checked syntax tree, two back ends.

pygeoapi parses ``filter=`` (CQL2 text) and CQL2 JSON bodies with pygeofilter, moves geometry
literals from ``filter-crs`` into the collection's storage CRS (:func:`pygeoapi.crs.
modify_pygeofilter`) and hands the provider the tree as ``filterq``. This module supplies what
that leaves open:

* :func:`install` replaces the two parse functions pygeoapi's items endpoint calls. The
  replacements (a) accept *standard* CQL2 JSON — pygeofilter 0.4 reads ``between`` as
  ``[prop, [low, high]]`` and a ``{"bbox": [...]}`` literal with its axes swapped; (b) turn every
  bounding-box literal into a polygon densified along its edges, so that pygeoapi moves it into
  the storage CRS like any other geometry and a lon/lat box means the same on every back end;
  (c) keep the parser's message: pygeoapi replaces any exception by "Bad CQL text", so a syntax
  error is returned as an :class:`InvalidFilter` node that the provider reports as a 400.
* :func:`check` validates a tree against the collection's properties — unknown property, type
  mismatch, unsupported operator: a 400 naming it, never a 500 from deep inside a database.
* :class:`SQLiteCompiler` translates a checked tree into an SQLite ``WHERE`` clause. Spatial
  predicates are delegated to a callback (the GeoPackage provider answers them exactly with its
  R-tree plus shapely) and come back as SQL on primary keys, so AND/OR/NOT nest freely.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as _parse_json
from pygeofilter.parsers.cql2_text import parse as _parse_text

from geoportal.core.errors import InvalidQueryError
from geoportal.core.geometry import box_ring

#: Segments per edge of a densified bounding-box literal: a lon/lat box edge of 10 km becomes
#: ~300 m chords whose sagitta in UTM is a few millimetres.
ENVELOPE_SEGMENTS = 32

SPATIAL_OPS = {
    ast.GeometryIntersects: "intersects",
    ast.GeometryDisjoint: "disjoint",
    ast.GeometryContains: "contains",
    ast.GeometryWithin: "within",
    ast.GeometryTouches: "touches",
    ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps",
    ast.GeometryEquals: "equals",
}
#: The predicate that holds with the operands swapped (literal first, property second).
CONVERSE = {"contains": "within", "within": "contains"}

#: JSON Schema types of queryables and the Python literal types a comparison accepts for them.
LITERAL_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int, float),
    "number": (int, float),
    "boolean": (bool,),
}


# --------------------------------------------------------------------------------------------
# Parsing (installed into pygeoapi)
# --------------------------------------------------------------------------------------------


class InvalidFilter(ast.Node):
    """A filter that did not parse; carried to the provider so the 400 can say why."""

    def __init__(self, message: str) -> None:
        self.message = message

    def get_sub_nodes(self) -> list:
        return []

    def get_template(self) -> str:
        return f"INVALID({self.message!r})"


def parse_text(text: str) -> ast.Node:
    """Parse CQL2 text; a syntax error becomes an :class:`InvalidFilter` with the position."""
    try:
        tree = _parse_text(text)
    except Exception as err:  # lark raises several unrelated exception types
        return InvalidFilter(f"invalid CQL2 text: {_first_line(err)}")
    return normalise(tree)


def parse_json(text: str | bytes | dict) -> ast.Node:
    """Parse standard CQL2 JSON (as a string, bytes or an already decoded object)."""
    try:
        document = json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError as err:
        return InvalidFilter(f"invalid CQL2 JSON: not JSON ({err})")
    try:
        tree = _parse_json(_to_pygeofilter_json(document))
    except KeyError as err:
        return InvalidFilter(f"invalid CQL2 JSON: missing member {err}")
    except Exception as err:
        return InvalidFilter(f"invalid CQL2 JSON: {_first_line(err)}")
    return normalise(tree)


def install() -> None:
    """Make pygeoapi's items endpoint use :func:`parse_text` and :func:`parse_json`."""
    from pygeoapi.api import itemtypes

    itemtypes.parse_cql2_text = parse_text  # type: ignore[attr-defined]
    itemtypes.parse_cql2_json = parse_json  # type: ignore[attr-defined]


def _first_line(err: Exception) -> str:
    text = " ".join(str(err).split("\n\n")[:1]).strip() or type(err).__name__
    return text.splitlines()[0] if "Expected" not in text else text.split("Expected")[0].strip()


def _to_pygeofilter_json(node: Any) -> Any:
    """Rewrite the two spots where pygeofilter 0.4 reads an older CQL2 JSON draft."""
    if isinstance(node, list):
        return [_to_pygeofilter_json(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and len(node) == 1:
        return _envelope_literal(node["bbox"])
    node = {k: _to_pygeofilter_json(v) for k, v in node.items()}
    args = node.get("args")
    if node.get("op") == "between" and isinstance(args, list) and len(args) == 3:
        node["args"] = [args[0], [args[1], args[2]]]
    return node


def _envelope_literal(box: Any) -> values.Geometry:
    try:
        numbers = [float(v) for v in box]
    except (TypeError, ValueError) as err:
        raise ValueError(f"bbox literal must be numbers, got {box!r}") from err
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise ValueError(f"bbox literal needs 4 (or 6) numbers, got {len(numbers)}")
    return densified_box(*numbers)


def densified_box(minx: float, miny: float, maxx: float, maxy: float) -> values.Geometry:
    """A bounding box as a polygon with :data:`ENVELOPE_SEGMENTS` vertices per edge."""
    if minx > maxx or miny > maxy:
        raise ValueError(f"bbox literal needs min <= max, got {[minx, miny, maxx, maxy]}")
    xs, ys = box_ring((minx, miny, maxx, maxy), ENVELOPE_SEGMENTS)
    ring = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
    ring.append([float(minx), float(miny)])
    return values.Geometry({"type": "Polygon", "coordinates": [ring]})


def normalise(node: Any) -> Any:
    """Replace bounding-box literals and ``BBOX(prop, ...)`` predicates by polygon geometries."""
    if isinstance(node, values.Envelope):  # pygeofilter's own (x1, x2, y1, y2) envelope
        return densified_box(node.x1, node.y1, node.x2, node.y2)
    if isinstance(node, ast.Function) and node.name.lower() == "bbox":
        return _envelope_literal(node.arguments)
    if isinstance(node, ast.BBox):
        box = densified_box(node.minx, node.miny, node.maxx, node.maxy)
        if node.crs:
            box.geometry["crs"] = {"properties": {"name": str(node.crs)}}
        return ast.GeometryIntersects(normalise(node.lhs), box)
    if isinstance(node, ast.Node) and hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            value = getattr(node, name)
            if isinstance(value, list):
                setattr(node, name, [normalise(v) for v in value])
            elif isinstance(value, ast.Node | values.Envelope):
                setattr(node, name, normalise(value))
    return node


# --------------------------------------------------------------------------------------------
# Checking against the queryables
# --------------------------------------------------------------------------------------------


def invalid(message: str) -> InvalidQueryError:
    return InvalidQueryError(message)


@dataclass
class Checker:
    """Validates a filter tree against the collection's properties (name → JSON Schema)."""

    fields: dict[str, dict[str, Any]]
    geometry_names: set[str] = field(default_factory=lambda: {"geometry"})

    def check(self, node: Any) -> None:
        if isinstance(node, InvalidFilter):
            raise invalid(node.message)
        if isinstance(node, ast.Not):
            self.check(node.sub_node)
        elif isinstance(node, ast.Combination):
            self.check(node.lhs)
            self.check(node.rhs)
        elif isinstance(node, ast.Include):
            return
        elif isinstance(node, ast.Comparison):
            self._compatible(node.lhs, [node.rhs], node.op.value)
        elif isinstance(node, ast.Between):
            if self.kind(node.lhs) in {"string", "boolean"}:
                raise invalid(f"BETWEEN needs a numeric or date property, not {self._name(node)}")
            self._compatible(node.lhs, [node.low, node.high], "BETWEEN")
        elif isinstance(node, ast.In):
            self._compatible(node.lhs, list(node.sub_nodes), "IN")
        elif isinstance(node, ast.Like):
            if self.kind(node.lhs) != "string":
                raise invalid(f"LIKE needs a text property, not {self._name(node)}")
            self._compatible(node.lhs, [node.pattern], "LIKE")
        elif isinstance(node, ast.IsNull):
            self.kind(node.lhs)
        elif isinstance(node, ast.SpatialComparisonPredicate):
            self._spatial(node)
        else:
            raise invalid(f"unsupported in filters here: {_describe(node)}")

    def kind(self, operand: Any) -> str:
        """The type of an operand: a JSON Schema type, 'date', 'geometry' or 'null'."""
        if isinstance(operand, ast.Attribute):
            if operand.name in self.geometry_names:
                return "geometry"
            schema = self.fields.get(operand.name)
            if schema is None:
                raise invalid(f"unknown property {operand.name!r} in filter; queryables: "
                              f"{', '.join(self.fields)}")
            if schema.get("format") in {"date", "date-time"}:
                return "date"
            return str(schema.get("type", "string"))
        if isinstance(operand, ast.Function):
            if operand.name != "lower" or len(operand.arguments) != 1:
                raise invalid(f"unsupported function {operand.name.upper()}() in filter")
            if self.kind(operand.arguments[0]) != "string":
                raise invalid("CASEI() needs a text operand")
            return "string"
        if isinstance(operand, bool):
            return "boolean"
        if isinstance(operand, int | float):
            return "number"
        if isinstance(operand, str):
            return "string"
        if isinstance(operand, dt.date):
            return "date"
        if isinstance(operand, values.Geometry):
            return "geometry"
        if operand is None:
            return "null"
        raise invalid(f"unsupported in filters here: {_describe(operand)}")

    def _compatible(self, lhs: Any, others: list[Any], op: str) -> None:
        left = self.kind(lhs)
        if left == "geometry":
            raise invalid(f"{op} cannot compare geometries; use S_INTERSECTS etc.")
        for other in others:
            right = self.kind(other)
            if not _comparable(left, right, other):
                raise invalid(f"type mismatch in filter: {_operand(lhs)} is {left}, "
                              f"compared ({op}) with {right} {_operand(other)}")

    def _spatial(self, node: ast.SpatialComparisonPredicate) -> None:
        kinds = [self.kind(node.lhs), self.kind(node.rhs)]
        if kinds != ["geometry", "geometry"]:
            raise invalid(f"{_describe(node)} needs a geometry property and a geometry literal")
        if not any(isinstance(o, values.Geometry) for o in (node.lhs, node.rhs)):
            raise invalid("spatial predicates between two properties are not supported")

    @staticmethod
    def _name(node: Any) -> str:
        return _operand(getattr(node, "lhs", node))


def _comparable(left: str, right: str, literal: Any) -> bool:
    numeric = {"integer", "number"}
    if left in numeric and right in numeric:
        return True
    if left == "date" and right == "string":
        return _iso_date(literal) is not None
    return left == right


def _iso_date(value: Any) -> str | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _operand(operand: Any) -> str:
    if isinstance(operand, ast.Attribute):
        return repr(operand.name)
    if isinstance(operand, ast.Function):
        return f"{operand.name}(...)"
    return repr(operand)


def _describe(node: Any) -> str:
    name = type(node).__name__
    template = {"TimeAfter": "T_AFTER", "DistanceWithin": "S_DWITHIN", "Relate": "S_RELATE"}
    return template.get(name, name)


def check(node: Any, fields: dict[str, dict[str, Any]], geometry_names: set[str]) -> None:
    """Raise a provider 400 if the filter does not fit the collection's properties."""
    Checker(fields, set(geometry_names) | {"geometry"}).check(node)


# --------------------------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------------------------

#: SQLite's INTEGER is 64 bits; a larger Python int raises OverflowError when bound (a 500).
SQLITE_INT_MAX = 2**63 - 1


def sqlite_number(value: int) -> int | float:
    """An integer SQLite can bind: as it is, or as a REAL beyond 64 bits.

    SQLite compares INTEGER and REAL by value, so ``pupils < 10**20`` still matches every row
    and ``pupils = 10**20`` none, as the filter means.
    """
    return value if -SQLITE_INT_MAX - 1 <= value <= SQLITE_INT_MAX else float(value)


#: Evaluates one spatial predicate exactly: (operation, GeoJSON literal with optional 'crs')
#: → SQL on the table alias ``t`` and its parameters.
SpatialEvaluator = Callable[[str, dict], tuple[str, list[Any]]]


@dataclass
class SQLiteCompiler:
    """Translates a checked filter tree into an SQLite condition on the table alias ``t``."""

    checker: Checker
    spatial: SpatialEvaluator
    params: list[Any] = field(default_factory=list)

    def compile(self, node: Any) -> tuple[str, list[Any]]:
        self.checker.check(node)
        self.params = []
        return self._node(node), self.params

    def _node(self, node: Any) -> str:
        if isinstance(node, ast.Not):
            return f"NOT ({self._node(node.sub_node)})"
        if isinstance(node, ast.And | ast.Or):
            word = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self._node(node.lhs)} {word} {self._node(node.rhs)})"
        if isinstance(node, ast.Include):
            return "0" if node.not_ else "1"
        if isinstance(node, ast.Comparison):
            op = "<>" if node.op.value == "<>" else node.op.value
            left, right = self._pair(node.lhs, node.rhs)
            return f"{left} {op} {right}"
        if isinstance(node, ast.Between):
            kind = self.checker.kind(node.lhs)
            low, high = self._literal(node.low, kind), self._literal(node.high, kind)
            return f"{self._expr(node.lhs)} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high}"
        if isinstance(node, ast.In):
            kind = self.checker.kind(node.lhs)
            items = ", ".join(self._literal(v, kind) for v in node.sub_nodes) or "NULL"
            return f"{self._expr(node.lhs)} {'NOT ' if node.not_ else ''}IN ({items})"
        if isinstance(node, ast.IsNull):
            return f"{self._expr(node.lhs)} IS {'NOT ' if node.not_ else ''}NULL"
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(node)
        raise invalid(f"unsupported in filters here: {_describe(node)}")

    def _pair(self, lhs: Any, rhs: Any) -> tuple[str, str]:
        kinds = self.checker.kind(lhs), self.checker.kind(rhs)
        return self._operand(lhs, kinds[1]), self._operand(rhs, kinds[0])

    def _operand(self, operand: Any, other_kind: str) -> str:
        if isinstance(operand, ast.Attribute | ast.Function):
            return self._expr(operand)
        return self._literal(operand, other_kind)

    def _expr(self, operand: Any) -> str:
        if isinstance(operand, ast.Function):  # only CASEI (lower) passes the checker
            return f"gp_lower({self._expr(operand.arguments[0])})"
        if isinstance(operand, ast.Attribute):
            return f't."{operand.name.replace(chr(34), chr(34) * 2)}"'
        return self._literal(operand, self.checker.kind(operand))

    def _literal(self, value: Any, kind: str) -> str:
        if isinstance(value, ast.Function):
            return self._expr(value)
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, int):
            value = sqlite_number(value)
        elif isinstance(value, dt.date):  # dates are stored as ISO 8601 text in GeoPackage
            value = value.isoformat()
        self.params.append(value)
        return "?"

    def _like(self, node: ast.Like) -> str:
        pattern = node.pattern
        lower = isinstance(pattern, ast.Function)
        if lower:
            pattern = pattern.arguments[0]
        if not isinstance(pattern, str):
            raise invalid("LIKE needs a text pattern")
        glob = like_to_glob(pattern.lower() if lower else pattern, node.escapechar or "\\")
        self.params.append(glob)
        return f"{self._expr(node.lhs)} {'NOT ' if node.not_ else ''}GLOB ?"

    def _spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        op = SPATIAL_OPS[type(node)]
        if isinstance(node.lhs, values.Geometry):  # literal first: swap operands
            op, literal = CONVERSE.get(op, op), node.lhs
        else:
            literal = node.rhs
        sql, params = self.spatial(op, dict(literal.geometry))
        self.params.extend(params)
        return sql


def like_to_glob(pattern: str, escape: str = "\\") -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, escape char) as a case-sensitive SQLite GLOB.

    SQLite's LIKE ignores ASCII case; CQL2's LIKE, like PostgreSQL's, does not. GLOB matches
    case-sensitively, with ``*`` and ``?``; its own special characters are put in brackets.
    """
    out: list[str] = []
    chars: Iterator[str] = iter(pattern)
    for c in chars:
        if c == escape:
            c = next(chars, escape)
            out.append(_glob_literal(c))
        elif c == "%":
            out.append("*")
        elif c == "_":
            out.append("?")
        else:
            out.append(_glob_literal(c))
    return "".join(out)


def _glob_literal(c: str) -> str:
    return f"[{c}]" if c in "*?[" else c


def unicode_lower(value: Any) -> Any:
    """SQLite's lower() folds ASCII only; CASEI must fold ä/Ö/ß-like letters too."""
    return value.lower() if isinstance(value, str) else value
