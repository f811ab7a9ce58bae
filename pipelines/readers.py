"""Readers for the vector inputs the city receives: CSV tables with coordinates, and anything OGR
reads (GeoJSON, GeoPackage, Shapefile, NAS/GML).

A reader turns a raw file into a :class:`RawTable` — attribute columns, one geometry per row in the
source CRS (``None`` where it could not be read, with the reason in the rejects report) and the
row's line number for messages. Personal fields are never read: OGR sources are opened with an
explicit column list that leaves them out, CSV columns are discarded before a row is built.

Real files are messy (see ``tests/test_readers_real.py``): Windows code pages, decimal commas,
WKT with decimal commas, GeoJSON in UTM without a ``crs`` member. The reader repairs what is
unambiguous, records the repair, and refuses what it would have to guess.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geoportal.core.errors import CRSMismatchError, SourceError, SourceFormatError
from geoportal.core.geometry import transform_bounds
from geoportal.core.privacy import personal_fields
from geoportal.core.registry import Source
from pipelines.rejects import RejectsReport


@dataclass
class RawTable:
    """A raw input as read, before it is conformed to the published schema."""

    frame: pd.DataFrame
    geometry: np.ndarray
    lines: np.ndarray
    crs: CRS
    dropped_personal: list[str] = field(default_factory=list)
    decimal: str = "."

    def __len__(self) -> int:
        return len(self.frame)


Reader = Callable[[Path, Source, RejectsReport], RawTable]


class RowFilterError(SourceFormatError):
    """The row filter (``where``) names a column the source does not have."""


def read_source(source: Source, raw_dir: Path, report: RejectsReport) -> RawTable:
    """Read the source a registry entry names; a clear error if the file as a whole is unusable."""
    path = (raw_dir / source.path).resolve()
    if not path.exists():
        raise SourceError(f"{path}: source file not found (registry source.path {source.path!r})")
    reader = READERS.get(source.format or "")
    if reader is None:
        raise SourceFormatError(f"{path}: no vector reader for format {source.format!r}")
    table = reader(path, source, report)
    report.rows_read = len(table)
    table = apply_row_filter(path, table, source, report)
    check_plausible_crs(path, table)
    return table


def apply_row_filter(path: Path, table: RawTable, source: Source,
                     report: RejectsReport) -> RawTable:
    """Keep the rows whose ``source.where`` columns hold one of the listed values.

    A value is compared as text, as it reads in the file (``2`` and ``"2"`` match an integer
    column's 2). The rows left out are counted, not rejected: the filter is the city's choice
    (only living trees), not a fault of the delivery.
    """
    if not source.where:
        return table
    keep = np.ones(len(table), dtype=bool)
    for column, wanted in source.where.items():
        if column not in table.frame.columns:
            raise RowFilterError(f"{path}: the row filter (where) names the column {column!r}, "
                                 f"which is not in the source; it has {list(table.frame.columns)}")
        allowed = {str(v).strip() for v in (wanted if isinstance(wanted, list) else [wanted])}
        keep &= np.array([as_text(v) in allowed for v in table.frame[column]], dtype=bool)
    report.filtered({int(line) for line in table.lines[~keep]})
    return RawTable(table.frame[keep].reset_index(drop=True), table.geometry[keep],
                    table.lines[keep], table.crs, table.dropped_personal, table.decimal)


def as_text(value: object) -> str:
    """A cell as text the way the file shows it: an OGR integer read as 2.0 is ``2``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --------------------------------------------------------------------------------------- CSV


def read_csv_points(path: Path, source: Source, report: RejectsReport) -> RawTable:
    """A delimited table with x/y or WKT columns, read as text so that nothing is guessed."""
    header, rows, lines = _read_delimited(path, source)
    keep = [i for i, name in enumerate(header) if name not in personal_fields(header)]
    columns = [header[i] for i in keep]
    frame = pd.DataFrame([[row[i] if i < len(row) else "" for i in keep] for row in rows],
                         columns=columns, dtype=object)
    geometry_columns = _geometry_columns(source)
    missing = [c for c in geometry_columns if c not in columns]
    if missing:
        raise SourceFormatError(
            f"{path}: geometry column(s) {missing} not found; the file has columns {columns}"
        )
    bad_shape = set()
    for line, row in zip(lines, rows, strict=True):
        if len(row) != len(header):
            report.add(line, "rejected", f"expected {len(header)} fields, found {len(row)}")
            bad_shape.add(line)
    geometry = _points_from_columns(frame, source, np.asarray(lines), report)
    geometry = np.array([None if ln in bad_shape else g
                         for ln, g in zip(lines, geometry, strict=True)], dtype=object)
    return RawTable(frame, geometry, np.asarray(lines), CRS.from_user_input(source.crs),
                    personal_fields(header), source.decimal)


def _read_delimited(path: Path, source: Source) -> tuple[list[str], list[list[str]], list[int]]:
    data = path.read_bytes()  # read once: sniffed for encoding mistakes, then parsed
    _check_encoding(path, data, source.encoding)
    try:
        text = data.decode(source.encoding)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        rows, lines = [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows.append([cell.strip() for cell in row])
            lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(
            f"{path}: not readable as {source.encoding} (byte {exc.start}); "
            "set source.encoding in the registry (e.g. cp1252 for Windows exports)"
        ) from None
    except csv.Error as exc:
        raise SourceFormatError(f"{path}: not a readable delimited file: {exc}") from None
    if len(header) < 2:
        raise SourceFormatError(
            f"{path}: found {len(header)} column(s) with delimiter {source.delimiter!r}; "
            "check source.delimiter in the registry"
        )
    return header, rows, lines


SINGLE_BYTE = {"cp1252", "windows-1252", "latin-1", "latin1", "iso-8859-1", "iso-8859-15"}


def _check_encoding(path: Path, data: bytes, encoding: str) -> None:
    """Catch the two encoding mistakes that decode without an error but garble every umlaut.

    A single-byte code page decodes *any* bytes, so a UTF-16 or UTF-8 file declared as cp1252
    would be read as nonsense; their signatures (NUL bytes; valid multi-byte UTF-8) give them away.
    """
    declared = encoding.lower()
    hint = "set source.encoding in the registry"
    if b"\x00" in data[:4096] and not declared.startswith("utf-16"):
        raise SourceFormatError(f"{path}: contains NUL bytes, it looks like UTF-16, not "
                                f"{encoding}; {hint}")
    if declared in SINGLE_BYTE and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return
        raise SourceFormatError(f"{path}: the text is UTF-8, not {encoding}; {hint}")


def _geometry_columns(source: Source) -> list[str]:
    g = source.geometry
    assert g is not None  # guaranteed by the registry model for CSV sources
    return [g.wkt] if g.wkt else [g.x, g.y]  # type: ignore[list-item]


def _points_from_columns(
    frame: pd.DataFrame, source: Source, lines: np.ndarray, report: RejectsReport
) -> np.ndarray:
    g = source.geometry
    assert g is not None
    if g.wkt:
        return np.array([_point_from_wkt(v, ln, g.wkt, report)
                         for v, ln in zip(frame[g.wkt], lines, strict=True)], dtype=object)
    xs = _numbers(frame[g.x], source.decimal, lines, g.x, report)
    ys = _numbers(frame[g.y], source.decimal, lines, g.y, report)
    ok = ~(np.isnan(xs) | np.isnan(ys))
    points = np.full(len(frame), None, dtype=object)
    points[ok] = shapely.points(xs[ok], ys[ok])
    return points


def _numbers(
    values: pd.Series, decimal: str, lines: np.ndarray, column: str, report: RejectsReport
) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, (raw, line) in enumerate(zip(values, lines, strict=True)):
        number = parse_number(raw, decimal)
        if number is None:
            reason = "coordinate missing" if not str(raw).strip() else "coordinate not a number"
            report.add(int(line), "rejected", reason, column, raw)
        else:
            out[i] = number
    return out


_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


def parse_number(raw: object, decimal: str = ".") -> float | None:
    """Parse a number written with the given decimal mark; None if it is not exactly a number."""
    text = str(raw).strip().replace("\u00a0", "").replace(" ", "")
    if decimal == ",":
        text = text.replace(".", "") if text.count(",") == 1 else text
        text = text.replace(",", ".")
    if not _NUMBER.match(text):
        return None
    return float(text)


_LOOSE_POINT = re.compile(
    r"^\s*POINT\s*\(\s*(-?\d+(?:[.,]\d+)?)\s*\)?\s*\(?\s*(-?\d+(?:[.,]\d+)?)\s*\)\s*$", re.I
)


def _point_from_wkt(raw: str, line: int, column: str, report: RejectsReport) -> object:
    if not raw.strip():
        report.add(line, "rejected", "geometry missing", column, raw)
        return None
    try:
        return shapely.from_wkt(raw)
    except shapely.errors.GEOSException:
        pass
    match = _LOOSE_POINT.match(raw)
    if match:
        x, y = (float(v.replace(",", ".")) for v in match.groups())
        report.add(line, "repaired", "WKT point written with decimal commas", column, raw)
        return shapely.Point(x, y)
    report.add(line, "rejected", "geometry not readable as WKT", column, raw)
    return None


# ---------------------------------------------------------------------------- CKAN datastore


def read_ckan_datastore(path: Path, source: Source, report: RejectsReport) -> RawTable:
    """A saved CKAN ``datastore_search`` answer: its ``result.records`` as a table of text.

    City portals running CKAN (Düsseldorf among them) publish their tables through the
    DataStore API; the saved answer is JSON whose records carry coordinates in columns, often
    as text and sometimes zone-prefixed (``32347877``, EPSG:4647). Values are read as the
    text they are, so the same conversions and checks as for a CSV apply.
    """
    records, columns = _datastore_records(path)
    personal = personal_fields(columns)
    kept = [c for c in columns if c not in personal]
    frame = pd.DataFrame([["" if r.get(c) is None else str(r.get(c)) for c in kept]
                          for r in records], columns=kept, dtype=object)
    missing = [c for c in _geometry_columns(source) if c not in kept]
    if missing:
        raise SourceFormatError(
            f"{path}: geometry column(s) {missing} not found; the records have fields {kept}")
    lines = np.arange(1, len(frame) + 1)  # the record's position in result.records
    geometry = _points_from_columns(frame, source, lines, report)
    return RawTable(frame, geometry, lines, CRS.from_user_input(source.crs), personal,
                    source.decimal)


def _datastore_records(path: Path) -> tuple[list[dict], list[str]]:
    try:
        answer = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceFormatError(f"{path}: not a JSON file ({exc})") from None
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("records"), list):
        raise SourceFormatError(
            f"{path}: not a CKAN datastore_search answer (expected an object with "
            f"result.records, as /api/3/action/datastore_search returns)")
    if result.get("total") is not None and result["total"] > len(result["records"]):
        raise SourceFormatError(
            f"{path}: holds {len(result['records'])} of {result['total']} records (one page of "
            f"a paged answer); save the whole table (limit >= total) so no row is lost")
    fields = [f["id"] for f in result.get("fields", []) if isinstance(f, dict) and "id" in f]
    columns = fields or list(dict.fromkeys(k for r in result["records"] for k in r))
    return result["records"], columns


# --------------------------------------------------------------------------------------- OGR


def read_ogr(path: Path, source: Source, report: RejectsReport) -> RawTable:
    """GeoJSON, GeoPackage, Shapefile, GML: read with pyogrio, leaving personal fields unread."""
    try:
        info = pyogrio.read_info(path, layer=source.layer)
    except Exception as exc:  # pyogrio raises DataSourceError/DataLayerError and friends
        raise SourceFormatError(f"{path}: cannot open as {source.format}: {exc}") from None
    fields = [str(f) for f in info["fields"]]
    personal = personal_fields(fields)
    wanted = [f for f in fields if f not in personal]
    # A shapefile's DBF without a .cpg does not say its code page: the registry's encoding is
    # used when the YAML gives one; otherwise GDAL decides (the .cpg, else ISO-8859-1).
    encoding = source.encoding if "encoding" in source.model_fields_set else None
    frame = pyogrio.read_dataframe(path, layer=source.layer, columns=wanted, encoding=encoding)
    _check_declared_crs(path, source, frame.crs)
    geometry = np.asarray(frame.geometry.values, dtype=object)
    lines = np.arange(1, len(frame) + 1)
    geometry = _repair_geometries(geometry, lines, report)
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return RawTable(attributes, geometry, lines, CRS.from_user_input(source.crs), personal)


def _check_declared_crs(path: Path, source: Source, declared: object) -> None:
    """A file that states its CRS must agree with the registry; GeoJSON's implicit WGS84 doesn't.

    GeoJSON files without a ``crs`` member are reported by GDAL as WGS84, although real municipal
    exports often hold UTM coordinates; there the registry decides (and the plausibility check
    catches a wrong decision).
    """
    if declared is None or source.format == "geojson":
        return
    expected = CRS.from_user_input(source.crs)
    found = CRS.from_user_input(declared)
    if not found.equals(expected, ignore_axis_order=True):
        raise CRSMismatchError(
            f"{path}: the file declares {found.to_string()} but the registry says {source.crs}; "
            "correct source.crs or reproject the file"
        )


def _repair_geometries(geometry: np.ndarray, lines: np.ndarray,
                       report: RejectsReport) -> np.ndarray:
    out = geometry.copy()
    for i, (geom, line) in enumerate(zip(geometry, lines, strict=True)):
        if geom is None or shapely.is_empty(geom):
            report.add(int(line), "rejected", "geometry missing")
            out[i] = None
        elif not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            out[i] = shapely.make_valid(geom)
            report.add(int(line), "repaired", f"invalid geometry made valid ({reason})")
    return out


def check_plausible_crs(path: Path, table: RawTable) -> None:
    """Refuse coordinates that cannot be in the declared CRS (UTM metres read as degrees, say)."""
    geoms = np.array([g for g in table.geometry if g is not None], dtype=object)
    if len(geoms) == 0:
        return
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    area = table.crs.area_of_use
    if area is None:
        return
    west, south, east, north = transform_bounds(area.bounds, "EPSG:4326", table.crs)
    margin = max(east - west, north - south) * 0.5
    outside = (minx < west - margin or maxx > east + margin
               or miny < south - margin or maxy > north + margin)
    if outside:
        raise CRSMismatchError(
            f"{path}: coordinates ({minx:.6g} {miny:.6g} … {maxx:.6g} {maxy:.6g}) lie outside the "
            f"area of {table.crs.name}; the registry's source.crs is probably wrong"
            + _zone_prefix_hint(table.crs, minx, maxx))


#: UTM CRSs whose eastings carry the zone number in front (``32347877`` for zone 32, E 347877).
ZONE_PREFIXED = {"EPSG:25832": "EPSG:4647", "EPSG:25833": "EPSG:5650"}


def _zone_prefix_hint(crs: CRS, minx: float, maxx: float) -> str:
    """Name the zone-prefixed CRS when the eastings are plain UTM with the zone in front."""
    epsg = f"EPSG:{crs.to_epsg()}"
    zone = epsg[-2:]
    prefixed = ZONE_PREFIXED.get(epsg)
    if prefixed and all(int(v) // 1_000_000 == int(zone) for v in (minx, maxx)):
        return (f" — the eastings start with the zone number {zone} ({int(minx)}): give "
                f"source.crs {prefixed!r}, the zone-prefixed form of {epsg}")
    return ""


READERS: dict[str, Reader] = {
    "csv": read_csv_points,
    "ckan-datastore": read_ckan_datastore,
    "geojson": read_ogr,
    "gpkg": read_ogr,
    "shp": read_ogr,
    "gml": read_ogr,
}
