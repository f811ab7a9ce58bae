"""Conform a raw table to its published schema: rename, derive, type, check, reproject.

Only the properties the registry's schema lists are kept — an allow-list, so an unexpected column
in next year's delivery (or a personal field under a new name) cannot slip into an output.

A property's value may be derived from the source as its YAML says: several columns joined (a
composite id), one part of a column split, a code mapped to its label. Every value that cannot be
derived is noted like an unreadable one, so a mapping that fits the delivery badly shows up in
the rejects report (and, past the dataset's limit, fails the build: :mod:`pipelines.vector`).

Reprojection to EPSG:25832 uses the most accurate transformation PROJ knows for the data's
area (:mod:`geoportal.core.crs`); if that needs a grid that is not installed, the layer is
refused unless its YAML allows the approximate one, which is then a warning of the build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoportal.core.crs import plan_for_box
from geoportal.core.errors import SourceFormatError, TransformationError
from geoportal.core.registry import Dataset, Property, Source
from pipelines.readers import RawTable, as_text, parse_number
from pipelines.rejects import RejectsReport

STORAGE_CRS = "EPSG:25832"

TRUE_WORDS = {"ja", "j", "yes", "y", "true", "wahr", "1", "x"}
FALSE_WORDS = {"nein", "n", "no", "false", "falsch", "0", ""}

Converter = Callable[[object, str], object]  # (raw value, the source's decimal mark)


def conform(table: RawTable, dataset: Dataset, report: RejectsReport) -> gpd.GeoDataFrame:
    """Return the publishable rows, typed and in the storage CRS; record everything dropped."""
    _require_columns(table, dataset)
    rejected = report.rejected_lines
    keep = np.array([g is not None and int(ln) not in rejected
                     for g, ln in zip(table.geometry, table.lines, strict=True)], dtype=bool)
    columns = {}
    for prop in dataset.schema.properties:
        if prop.generated or prop.computed:
            continue
        values, missing_required = _convert_column(table, prop, report)
        keep &= ~missing_required
        columns[prop.name] = values
    frame = pd.DataFrame(columns)[keep].reset_index(drop=True)
    geometry = to_storage_crs(np.asarray(table.geometry[keep], dtype=object), table.crs,
                              dataset.source, dataset.id, report)
    out = gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_CRS)
    out = _generate_keys(out, dataset)
    out = _drop_duplicate_ids(out, dataset, table.lines[keep], report)
    out = _coerce_geometry_type(out, dataset)
    report.rows_published = len(out)
    return out


def _require_columns(table: RawTable, dataset: Dataset) -> None:
    available = list(table.frame.columns)
    missing = [c for p in dataset.schema.properties if not (p.generated or p.computed)
               for c in p.source_columns if c not in available]
    missing = list(dict.fromkeys(missing))
    if missing and len(table) == 0:
        # An empty GeoJSON FeatureCollection cannot name its columns: publish an empty layer.
        for column in missing:
            table.frame[column] = pd.Series([], dtype=object)
        return
    if missing:
        raise SourceFormatError(
            f"{dataset.source.path}: column(s) {missing} named in datasets/{dataset.id}.yml "
            f"are not in the source; it has {available}" + _dbf_hint(missing, available)
        )


DBF_NAME_LENGTH = 10


def _dbf_hint(missing: list[str], available: list[str]) -> str:
    """A Shapefile's DBF keeps 10 characters of a column name: name the cut one it holds."""
    cut = {c: c[:DBF_NAME_LENGTH] for c in missing if len(c) > DBF_NAME_LENGTH}
    found = [f"{c!r} is {short!r}" for c, short in cut.items() if short in available]
    if not found:
        return ""
    return (f" — a DBF keeps only {DBF_NAME_LENGTH} characters of a name: "
            + ", ".join(found))


def _convert_column(
    table: RawTable, prop: Property, report: RejectsReport
) -> tuple[pd.Series, np.ndarray]:
    """Convert one column; return the values and a mask of rows lacking a required value."""
    convert = CONVERTERS[prop.type]
    raw = source_values(table, prop, report)
    values: list[object] = []
    missing = np.zeros(len(raw), dtype=bool)
    for i, (value, line) in enumerate(zip(raw, table.lines, strict=True)):
        converted = _checked(convert, value, prop, table.decimal, int(line), report)
        if converted is None and prop.required:
            report.add(int(line), "rejected", f"required value {prop.name!r} missing or unreadable",
                       prop.source_column, value)
            missing[i] = True
        values.append(converted)
    return pd.Series(values, dtype=DTYPES[prop.type]), missing


def source_values(table: RawTable, prop: Property, report: RejectsReport) -> list[object]:
    """The property's raw values, one per row, derived as its YAML says (join, split, codes).

    Without a derivation these are the source column's cells unchanged, so typing sees exactly
    what the file holds. A derivation works on text and yields None where it has nothing to
    give, noting why when the row did hold something (a code not in the list, no second part).
    """
    columns = prop.source_columns
    if len(columns) == 1 and prop.split is None and prop.codes is None:
        return list(table.frame[columns[0]])
    separator = " " if prop.separator is None else prop.separator
    values: list[object] = []
    cells = zip(*(table.frame[c] for c in columns), strict=True)
    for parts, line in zip(cells, table.lines, strict=True):
        texts = [as_text(p) for p in parts]
        value: str | None = separator.join(texts) if all(texts) else None
        if value is not None and prop.split is not None:
            value = _part(value, prop, int(line), report)
        if value is not None and prop.codes is not None:
            label = prop.codes.get(value)
            if label is None:
                report.add(int(line), "nulled", f"code not listed in {prop.name}.codes",
                           prop.source_column, value)
            value = label
        values.append(value)
    return values


def _part(value: str, prop: Property, line: int, report: RejectsReport) -> str | None:
    split = prop.split
    assert split is not None
    maxsplit = split.parts - 1 if split.parts else -1
    parts = [p.strip() for p in value.split(split.separator, maxsplit)]
    if split.part > len(parts):
        report.add(line, "nulled", f"no part {split.part} after splitting at "
                   f"{split.separator!r}", prop.source_column, value)
        return None
    return parts[split.part - 1] or None


def to_storage_crs(geoms: np.ndarray, crs: CRS, source: Source, dataset_id: str,
                   report: RejectsReport) -> gpd.GeoSeries:
    """The geometries in EPSG:25832, by the most accurate transformation PROJ can run.

    When a better one exists but its grid is missing (DHDN Gauss-Krüger without BETA2007: 1–2 m
    off), the layer is refused, naming the grid; ``source.allow_approximate_transformation``
    publishes it anyway, with the shortfall as a warning of the build.
    """
    if len(geoms) == 0 or crs.equals(STORAGE_CRS):
        return gpd.GeoSeries(list(geoms), crs=STORAGE_CRS)
    plan = plan_for_box(crs, STORAGE_CRS, tuple(shapely.total_bounds(geoms)))
    if plan.shortfall is not None:
        problem = f"{source.path}: {crs.name} to {STORAGE_CRS}: {plan.shortfall}"
        if not source.allow_approximate_transformation:
            raise TransformationError(
                f"{problem}. Install the grid (Debian: apt install proj-data; or put it in a "
                f"folder of PROJ_DATA), or set source.allow_approximate_transformation: true "
                f"in datasets/{dataset_id}.yml to publish the less accurate positions")
        report.warnings.append(f"{problem}; published with it "
                               f"(source.allow_approximate_transformation)")
    return gpd.GeoSeries(plan.apply(geoms), crs=STORAGE_CRS)


def _checked(convert: Converter, value: object, prop: Property, decimal: str, line: int,
             report: RejectsReport) -> object:
    if _is_blank(value):
        return None
    try:
        converted = convert(value, decimal)
    except ValueError:
        report.add(line, "nulled", f"not a valid {prop.type}", prop.source_column, value)
        return None
    problem = _range_problem(converted, prop)
    if problem:
        report.add(line, "nulled", problem, prop.source_column, value)
        return None
    return converted


def _range_problem(value: object, prop: Property) -> str | None:
    if prop.minimum is not None and isinstance(value, int | float) and value < prop.minimum:
        return f"below the minimum {prop.minimum:g}"
    if prop.maximum is not None and isinstance(value, int | float) and value > prop.maximum:
        return f"above the maximum {prop.maximum:g}"
    if prop.enum is not None and value not in prop.enum:
        return f"not one of {prop.enum}"
    return None


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _to_string(value: object, _decimal: str) -> str:
    return as_text(value)


def _to_number(value: object, decimal: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    number = parse_number(value, decimal)
    if number is None:
        raise ValueError(value)
    return number


def _to_integer(value: object, decimal: str) -> int:
    number = _to_number(value, decimal)
    if not float(number).is_integer():
        raise ValueError(value)
    return int(number)


def _to_boolean(value: object, _decimal: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(value)


def _to_date(value: object, _decimal: str) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for parse in (date.fromisoformat, _german_date):
        try:
            return parse(text)
        except ValueError:
            continue
    raise ValueError(value)


def _german_date(text: str) -> date:
    day, month, year = text.split(".")
    return date(int(year), int(month), int(day))


CONVERTERS: dict[str, Converter] = {
    "string": _to_string,
    "number": _to_number,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "date": _to_date,
}
DTYPES = {"string": object, "number": "Float64", "integer": "Int64", "boolean": "boolean",
          "date": object}


def _drop_duplicate_ids(out: gpd.GeoDataFrame, dataset: Dataset, lines: np.ndarray,
                        report: RejectsReport) -> gpd.GeoDataFrame:
    """Feature ids must be unique for /items/{id}; later duplicates are rejected, not merged."""
    duplicated = out[dataset.schema.id_field].duplicated(keep="first").to_numpy()
    for line, value in zip(lines[duplicated], out[dataset.schema.id_field][duplicated],
                           strict=True):
        report.add(int(line), "rejected", "duplicate id", dataset.schema.id_field, value)
    return out[~duplicated].reset_index(drop=True)


def _generate_keys(out: gpd.GeoDataFrame, dataset: Dataset) -> gpd.GeoDataFrame:
    """Fill ``generated`` properties with a key from the position (1 m) and the title.

    Lists of schools or monuments rarely carry an identifier, but ``/items/{id}`` needs one that
    survives the next delivery; a row number would change whenever a row is inserted above.
    """
    generated = [p.name for p in dataset.schema.properties if p.generated]
    if not generated:
        return out
    title = dataset.schema.title_field
    titles = out[title].astype(str) if title and title not in generated else [""] * len(out)
    centres = shapely.centroid(out.geometry.values)
    xs, ys = shapely.get_x(centres), shapely.get_y(centres)
    keys = [hashlib.sha1(f"{t}|{x:.0f}|{y:.0f}".encode()).hexdigest()[:12]
            for t, x, y in zip(titles, xs, ys, strict=True)]
    for name in generated:
        out[name] = pd.Series(keys, dtype=object, index=out.index)
    return order_like_schema(out, dataset)


def order_like_schema(layer: gpd.GeoDataFrame, dataset: Dataset) -> gpd.GeoDataFrame:
    """Columns in the schema's order (computed ones included), then the geometry."""
    names = [p.name for p in dataset.schema.properties if p.name in layer.columns]
    return layer[[*names, layer.geometry.name]]


def _coerce_geometry_type(out: gpd.GeoDataFrame, dataset: Dataset) -> gpd.GeoDataFrame:
    """Promote single to multi parts where the schema says multi, so the layer has one type."""
    if dataset.schema.geometry.startswith("Multi"):
        geoms = out.geometry.values
        single = shapely.get_type_id(geoms) < 4
        promoted = np.array(geoms, dtype=object)
        promoted[single] = [shapely.multipolygons([g]) if g.geom_type == "Polygon"
                            else shapely.multilinestrings([g]) if g.geom_type == "LineString"
                            else shapely.multipoints([g]) for g in promoted[single]]
        out = out.set_geometry(gpd.GeoSeries(promoted, crs=out.crs).values)
    return out
