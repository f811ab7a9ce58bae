"""A geocoder over the published layers: streets, ALKIS addresses ("Werdener Straße 12"),
cadastral parcels by their designation ("Flur 37 Flurstück 5/2", "Ratingen 37 5/2" or the
20-character Flurstückskennzeichen), districts and places ("Rathaus", "Lintorf"), tree species
("Tilia", "Linde": the genus with its count), and the named features of every other
searchable layer (issue 21.3).

The index is a list of entries built from the published GeoPackages; a query is folded the
same way as every entry (one folding, :func:`fold`, here only: the map's search box sends the
raw text), so "Werdner Strase 12", "werdener str. 12" and "Werdener Straße 12" find the same
address. Ranking: an address that matches street and number first, then the street, the
place, the species, the other features; within a kind, exact before prefix before substring
before a typo match. Parcels are found only by a designation, never by a fuzzy name (every
parcel's title holds its Gemarkung, so "Ratingen" would otherwise list all of them). The
index is rebuilt only when a layer it reads has been published anew
(:func:`ensure_index`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from geoportal.core.publish import METADATA_FILE, atomic_write_text

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Kinds in the order they rank.
KINDS = ("address", "parcel", "street", "place", "species", "poi")
#: How close a misspelt name must be to count (difflib ratio on the folded text).
TYPO_RATIO = 0.8
NUMBER = re.compile(r"^(?P<street>.*?)\s*(?P<number>\d+\s?[a-z]?)$")
#: The layers read for their own kind; every other searchable layer gives its named features.
STREETS, BUILDINGS, PLACES, PARCELS = "streets", "buildings", "places", "parcels"
#: Bumped when the index's form or content rules change, so an older file is rebuilt.
INDEX_VERSION = 3
#: A parcel designation as people write it (folded, "/" kept): "[Gemarkung] Ratingen[,]
#: [Flur] 37[,] [Flurstück|Flst.] 5[/2]". Without the word "Flur" a designation needs a
#: Gemarkung, the word Flurstück or a slash, so a bare "12" stays a number.
PARCEL = re.compile(
    r"^(?:(?:gemarkung\s+)?(?!flur|flst|fst)(?P<district>[a-z][a-z\s-]*?)\s*,?\s+)?"
    r"(?:(?P<flur_word>flur\s*)?(?P<flur>\d{1,3})\s*,?\s+)?"
    r"(?:(?P<word>flurstueck|flurst|flst|fst)\.?\s*)?"
    r"(?P<numerator>\d{1,5})(?:\s*/\s*(?P<denominator>\d{1,4}))?$")
#: The Flurstückskennzeichen (ALKIS): Land(2) Gemarkung(4) Flur(3) Zähler(5) Nenner(4, "_"
#: if none) "__"; a query of six or more of its characters is read as its beginning.
KENNZEICHEN = re.compile(r"^\d{6}[\d_]{0,14}$")


def fold(text: str) -> str:
    """The searchable form of a name: lower case, ß → ss, umlauts spelt out, "str." and
    "strasse" alike, spaces squeezed."""
    text = str(text).lower().replace("ß", "ss").replace("ä", "ae").replace("ö", "oe")
    text = text.replace("ü", "ue")
    text = re.sub(r"\bstr\b\.?", "strasse", text)
    text = re.sub(r"str\.(?=\s|\d|$)", "strasse", text)
    text = re.sub(r"[^\w\s-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Entry:
    kind: str  # one of KINDS
    title: str  # as shown: "Werdener Straße 12", "Linde (Tilia)"
    layer: str  # the layer the hit comes from
    feature_id: str | None
    lon: float
    lat: float
    detail: str = ""  # shown under the title: a POI's address, a genus's species
    count: int = 1  # how many features the entry stands for (a genus: its trees)
    also: tuple[str, ...] = ()  # other names it is found by ("Winter-Linde", "Tilia cordata")
    filter: str | None = None  # CQL2 text selecting its features (a genus in its layer)
    bbox: tuple[float, float, float, float] | None = None  # their extent (WGS84)

    @property
    def key(self) -> str:
        return fold(self.title)

    @property
    def keys(self) -> list[str]:
        return [self.key, *(fold(a) for a in self.also)]


@dataclass(frozen=True)
class Hit:
    entry: Entry
    fit: int  # 0 exact, 1 prefix, 2 substring, 3 typo


def split_number(folded: str) -> tuple[str, str | None]:
    """("werdener strasse", "12") for "werdener strasse 12"; the number is None without one."""
    found = NUMBER.match(folded)
    if found and found["street"]:
        return found["street"], found["number"].replace(" ", "")
    return folded, None


def name_fit(name: str, wanted: str) -> int | None:
    """How ``name`` (folded) fits ``wanted`` (folded): 0–3, or None if not at all."""
    if name == wanted:
        return 0
    if name.startswith(wanted):
        return 1
    if wanted in name:
        return 2
    if len(wanted) >= 4 and SequenceMatcher(None, name, wanted).ratio() >= TYPO_RATIO:
        return 3
    prefix = name[:len(wanted)]
    if len(wanted) >= 5 and SequenceMatcher(None, prefix, wanted).ratio() >= TYPO_RATIO:
        return 3
    return None


@dataclass(frozen=True)
class ParcelQuery:
    """A parcel designation asked for; None parts were not given."""

    district: str | None
    flur: int | None
    numerator: int | None
    denominator: int | None
    kennzeichen: str | None = None


def parcel_query(query: str) -> ParcelQuery | None:
    """The designation in ``query``, or None when it is not one (see :data:`PARCEL`)."""
    text = re.sub(r"\s*/\s*", "/", str(query).lower().replace("ü", "ue")).strip()
    compact = text.replace(" ", "")
    if KENNZEICHEN.match(compact):
        return ParcelQuery(None, None, None, None, kennzeichen=compact)
    found = PARCEL.match(re.sub(r"[^\w\s/-]", " ", text).strip().replace("  ", " "))
    if not found:
        return None
    has_flur = found["flur"] is not None
    if not (found["flur_word"] or found["word"] or found["denominator"] or found["district"]):
        return None
    if found["district"] and not (has_flur or found["word"] or found["denominator"]):
        return None  # "Lintorf 12" is a street or a place with a number, not a parcel
    return ParcelQuery(fold(found["district"]) if found["district"] else None,
                       int(found["flur"]) if has_flur else None, int(found["numerator"]),
                       int(found["denominator"]) if found["denominator"] else None)


def kennzeichen_parts(kennzeichen: str) -> tuple[int, int, int | None]:
    """(Flur, Zähler, Nenner or None) of a Flurstückskennzeichen."""
    nenner = kennzeichen[14:18].strip("_")
    return int(kennzeichen[6:9]), int(kennzeichen[9:14]), int(nenner) if nenner else None


def parcel_fit(entry: Entry, wanted: ParcelQuery) -> int | None:
    """0 when the parcel is the one asked for, 1 when it is one of them (no Nenner asked, or
    the beginning of a Kennzeichen), None otherwise."""
    kennzeichen, district = entry.also[0], entry.also[1]
    if wanted.kennzeichen:
        return 0 if kennzeichen == wanted.kennzeichen else \
            1 if kennzeichen.startswith(wanted.kennzeichen) else None
    if kennzeichen[9:14] != f"{wanted.numerator:05d}":  # most parcels: one slice, no parsing
        return None
    flur, numerator, denominator = kennzeichen_parts(kennzeichen)
    if wanted.district and name_fit(fold(district), wanted.district) is None:
        return None
    if (wanted.flur is not None and wanted.flur != flur) or wanted.numerator != numerator:
        return None
    if wanted.denominator is not None:
        return 0 if wanted.denominator == denominator else None
    return 0 if denominator is None else 1


def search(entries: list[Entry], query: str, limit: int = 10) -> dict[str, list[Hit]]:
    """The hits for ``query`` grouped by kind (address, parcel, street, …), best first."""
    wanted = fold(query)
    if len(wanted) < 2:
        return {}
    street, number = split_number(wanted)
    parcel = parcel_query(query)
    groups: dict[str, list[Hit]] = {kind: [] for kind in KINDS}
    for entry in entries:
        if entry.kind == "parcel":
            fit = parcel_fit(entry, parcel) if parcel else None
        elif entry.kind == "address":
            if number is None:
                continue
            entry_street, entry_number = split_number(entry.key)
            fit = name_fit(entry_street, street) if entry_number == number else None
        else:
            wanted_here = street if number and entry.kind == "street" else wanted
            fits = [f for f in (name_fit(k, wanted_here) for k in entry.keys) if f is not None]
            fit = min(fits) if fits else None
        if fit is not None:
            groups[entry.kind].append(Hit(entry, fit))
    for kind, hits in groups.items():
        hits.sort(key=lambda h: (h.fit, -h.entry.count, h.entry.title))
        if hits and hits[0].fit < 3:  # a typo match only when nothing is spelt as typed
            groups[kind] = [h for h in hits if h.fit < 3]
    return {kind: hits for kind, hits in groups.items() if hits}


INDEX_FILE = "search-index.json"


def indexed_layers(layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The web map's layers (manifest entries) the index reads: those with features and text
    to search."""
    return {rid: layer for rid, layer in layers.items()
            if layer.get("items") and layer.get("search_fields")}


def build_index(published: Path, layers: dict[str, dict[str, Any]]) -> list[Entry]:
    """The entries from the published layers (``layers``: the web map's manifest entries):
    each street once (its longest segment's middle), every building address, every parcel
    by its designation, every place, each tree genus of a layer with species, and every named
    feature of the other layers."""
    entries: list[Entry] = []
    for rid, layer in indexed_layers(layers).items():
        frame = _read(published, rid)
        if frame is None or frame.empty:
            continue
        if rid == STREETS:
            entries += _streets(frame)
        elif rid == BUILDINGS:
            entries += _addresses(frame, layer)
        elif rid == PARCELS:
            entries += _parcels(frame)
        elif "species_botanical" in frame:
            entries += _genera(frame, rid)
        else:
            entries += _named(frame, rid, layer, "place" if rid == PLACES else "poi")
    return entries


def _streets(frame: Any) -> list[Entry]:
    frame = frame[frame["name"].notna()]
    return [_entry("street", str(name), STREETS, parts.loc[parts.length.idxmax()], frame.crs)
            for name, parts in frame.groupby("name")]


def _addresses(frame: Any, layer: dict[str, Any]) -> list[Entry]:
    addressed = frame[frame["address"].fillna("").str.contains(r"\d")]
    return [_entry("address", str(row["address"]), BUILDINGS, row, frame.crs,
                   row.get(layer.get("id_field") or "building_id"))
            for _, row in addressed.drop_duplicates("address").iterrows()]


def _parcels(frame: Any) -> list[Entry]:
    """Every parcel with a valid Kennzeichen, titled "Ratingen, Flur 37, Flurstück 5/2", its
    location (Lage) as detail. Points are transformed at once: a city has 39,000 parcels."""
    import geopandas as gpd

    frame = frame[frame["parcel_id"].fillna("").str.fullmatch(r"\d{14}[\d_]{4}__?")]
    points = gpd.GeoSeries(frame.geometry.representative_point().values, crs=frame.crs)
    lonlat = points.to_crs("EPSG:4326")
    entries = []
    for (_, row), point in zip(frame.iterrows(), lonlat, strict=True):
        flur, numerator, denominator = kennzeichen_parts(row["parcel_id"])
        district = str(row.get("cadastral_district") or row["parcel_id"][2:6])
        number = f"{numerator}/{denominator}" if denominator is not None else str(numerator)
        location = row.get("location")
        entries.append(Entry(
            "parcel", f"{district}, Flur {flur}, Flurstück {number}", PARCELS,
            str(row["parcel_id"]), round(point.x, 6), round(point.y, 6),
            detail=str(location) if isinstance(location, str) else "",
            also=(str(row["parcel_id"]), district)))
    return entries


def _genera(frame: Any, rid: str) -> list[Entry]:
    """One entry per genus of the layer's trees: "Linde (Tilia)" with its count, its species
    as further names, the CQL2 filter and the extent of all of them."""
    import geopandas as gpd

    frame = frame[frame["species_botanical"].notna()]
    genus = frame["species_botanical"].astype(str).str.split().str[0]
    entries = []
    for name, trees in frame.groupby(genus):
        species = sorted(set(trees["species_botanical"].astype(str)))
        german = sorted(set(trees.get("species_de", trees["species_botanical"]).dropna()
                            .astype(str)))
        common = _common_name(german)
        wgs = gpd.GeoSeries(trees.geometry.values, crs=frame.crs).to_crs("EPSG:4326")
        west, south, east, north = (round(float(v), 6) for v in wgs.total_bounds)
        centre = wgs.union_all().centroid
        entries.append(Entry(
            "species", f"{common} ({name})" if common else str(name), rid, None,
            round(centre.x, 6), round(centre.y, 6),
            detail=", ".join(f"{de}" for de in german), count=len(trees),
            also=(*german, *species),
            filter=" OR ".join(f"species_botanical = '{sp.replace(chr(39), chr(39) * 2)}'"
                               for sp in species),
            bbox=(west, south, east, north)))
    return entries


def _common_name(german: list[str]) -> str:
    """The genus's German name from its species' names: the part they end in ("Winter-Linde",
    "Sommer-Linde" → "Linde"; "Gewöhnliche Rosskastanie" → "Rosskastanie")."""
    tails = {re.split(r"[\s-]", name)[-1] for name in german}
    return tails.pop() if len(tails) == 1 else ""


def _named(frame: Any, rid: str, layer: dict[str, Any], kind: str) -> list[Entry]:
    title = layer.get("title_field") or "name"
    if title not in frame:
        return []
    fields = [f for f in layer.get("search_fields", []) if f != title and f in frame]
    id_field = layer.get("id_field")
    entries = []
    for _, row in frame[frame[title].notna()].iterrows():
        others = tuple(str(row[f]) for f in fields if row[f] is not None and str(row[f]))
        # a place says what and where it is: "Rathaus, Ratingen-Mitte"
        about = [str(row[f]) for f in ("kind", "district") if kind == "place" and f in frame
                 and row[f] is not None and str(row[f]) != str(row[title])]
        entries.append(_entry(kind, str(row[title]), rid, row, frame.crs,
                              row.get(id_field) if id_field else None,
                              detail=", ".join([*about, *others]), also=others))
    return entries


def _read(published: Path, layer: str) -> Any:
    import geopandas as gpd

    path = published / layer / f"{layer}.gpkg"
    return gpd.read_file(path) if path.is_file() else None


def _entry(kind: str, title: str, layer: str, row: Any, crs: Any,
           feature_id: Any = None, **more: Any) -> Entry:
    import geopandas as gpd

    point = row.geometry.representative_point() if "LineString" not in row.geometry.geom_type \
        else row.geometry.interpolate(0.5, normalized=True)
    lonlat = gpd.GeoSeries([point], crs=crs).to_crs("EPSG:4326").iloc[0]
    return Entry(kind, title, layer, None if feature_id is None else str(feature_id),
                 round(lonlat.x, 6), round(lonlat.y, 6), **more)


def write_index(out: Path, entries: list[Entry], layers: list[str] | None = None) -> None:
    """The index file (its version, the layers it was built from, the entries), then its head
    (version and layers alone, :func:`head_path`): a start-up check reads a few bytes, not a
    whole city's index. The head is written last, so a head names a complete index."""
    head = {"version": INDEX_VERSION, "layers": sorted(layers or [])}
    atomic_write_text(out, json.dumps({**head, "entries": [asdict(e) for e in entries]},
                                      ensure_ascii=False))
    atomic_write_text(head_path(out), json.dumps(head))


def head_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.head.json")


def read_index(path: Path) -> list[Entry]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Entry(**{**e, "also": tuple(e.get("also", ())),
                     "bbox": tuple(e["bbox"]) if e.get("bbox") else None})
            for e in data["entries"]]


def index_is_current(out: Path, published: Path, layers: list[str]) -> bool:
    """Whether the index at ``out`` was built by this version from exactly ``layers`` after
    each of them was last published (its ``metadata.json`` is written last by a build)."""
    if not out.is_file():
        return False
    try:
        head = json.loads(head_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if head.get("version") != INDEX_VERSION or head.get("layers") != sorted(layers):
        return False
    built = min(out.stat().st_mtime_ns, head_path(out).stat().st_mtime_ns)
    stamps = [published / rid / METADATA_FILE for rid in layers]
    return all(p.is_file() and p.stat().st_mtime_ns < built for p in stamps)


def ensure_index(out: Path, published: Path, layers: dict[str, dict[str, Any]]) -> bool:
    """Build the index unless it is current (:func:`index_is_current`); True if it was built.
    A server start with unchanged layers then costs no reading of every GeoPackage."""
    wanted = sorted(indexed_layers(layers))
    if index_is_current(out, published, wanted):
        return False
    write_index(out, build_index(published, layers), wanted)
    return True


def answer(entries: list[Entry], query: str, limit: int = 5) -> dict[str, Any]:
    """The JSON answer of ``/search?q=``: groups in rank order (the other features one group
    per layer), each with its total count and its first ``limit`` hits."""
    out = []
    for kind, hits in search(entries, query).items():
        by_layer: dict[str, list[Hit]] = {}
        for hit in hits:
            by_layer.setdefault(hit.entry.layer if kind == "poi" else "", []).append(hit)
        for layer, some in by_layer.items():
            out.append({"kind": kind, "layer": layer or some[0].entry.layer,
                        "matched": len(some),
                        "hits": [asdict(h.entry) | {"fit": h.fit} for h in some[:limit]]})
    return {"query": query, "groups": out}


def search_server(path: Path) -> WSGIApp:
    """``/search?q=…``: the geocoder's answer as JSON (the index is re-read when it changes)."""
    cache: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0]
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        if cache.get("stamp") != stamp:
            cache.update(stamp=stamp, entries=read_index(path) if stamp else [])
        body = json.dumps(answer(cache["entries"], query), ensure_ascii=False).encode()
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app
