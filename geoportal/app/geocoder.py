"""A geocoder over the published layers: streets, ALKIS addresses ("Werdener Straße 12"),
and named places and points of interest (issue 21.3).

The index is a list of entries built once from the published GeoPackages; a query is folded
the same way as every entry (one folding: :func:`fold`), so "Werdner Strase 12", "werdener
str. 12" and "Werdener Straße 12" find the same address. Ranking: an address that matches
street and number first, then the street, then places and POIs; within a kind, exact before
prefix before substring before a typo match.
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

from geoportal.core.publish import atomic_write_text

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Kinds in the order they rank.
KINDS = ("address", "street", "poi")
#: How close a misspelt name must be to count (difflib ratio on the folded text).
TYPO_RATIO = 0.8
NUMBER = re.compile(r"^(?P<street>.*?)\s*(?P<number>\d+\s?[a-z]?)$")


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
    kind: str  # "address", "street" or "poi"
    title: str  # as shown: "Werdener Straße 12"
    layer: str  # the layer the hit comes from
    feature_id: str | None
    lon: float
    lat: float

    @property
    def key(self) -> str:
        return fold(self.title)


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


def search(entries: list[Entry], query: str, limit: int = 10) -> dict[str, list[Hit]]:
    """The hits for ``query`` grouped by kind (address, street, poi), best first."""
    wanted = fold(query)
    if len(wanted) < 2:
        return {}
    street, number = split_number(wanted)
    groups: dict[str, list[Hit]] = {kind: [] for kind in KINDS}
    for entry in entries:
        if entry.kind == "address":
            if number is None:
                continue
            entry_street, entry_number = split_number(entry.key)
            fit = name_fit(entry_street, street) if entry_number == number else None
        else:
            fit = name_fit(entry.key, street if number and entry.kind == "street" else wanted)
        if fit is not None:
            groups[entry.kind].append(Hit(entry, fit))
    for kind, hits in groups.items():
        hits.sort(key=lambda h: (h.fit, h.entry.title))
        if hits and hits[0].fit < 3:  # a typo match only when nothing is spelt as typed
            groups[kind] = [h for h in hits if h.fit < 3]
    return {kind: hits for kind, hits in groups.items() if hits}


INDEX_FILE = "search-index.json"


def build_index(published: Path, poi_layers: list[str]) -> list[Entry]:
    """The entries from the published layers: each street once (its longest segment's middle),
    every building address, every named feature of ``poi_layers``."""
    entries: list[Entry] = []
    streets = _read(published, "streets")
    if streets is not None:
        streets = streets[streets["name"].notna()]
        for name, parts in streets.groupby("name"):
            longest = parts.loc[parts.length.idxmax()]
            entries.append(_entry("street", str(name), "streets", longest, streets.crs))
    buildings = _read(published, "buildings")
    if buildings is not None:
        addressed = buildings[buildings["address"].fillna("").str.contains(r"\d")]
        for _, row in addressed.drop_duplicates("address").iterrows():
            entries.append(_entry("address", str(row["address"]), "buildings", row,
                                  buildings.crs, row.get("building_id")))
    for layer in poi_layers:
        frame = _read(published, layer)
        if frame is None or "name" not in frame:
            continue
        for _, row in frame[frame["name"].notna()].iterrows():
            entries.append(_entry("poi", str(row["name"]), layer, row, frame.crs))
    return entries


def _read(published: Path, layer: str) -> Any:
    import geopandas as gpd

    path = published / layer / f"{layer}.gpkg"
    return gpd.read_file(path) if path.is_file() else None


def _entry(kind: str, title: str, layer: str, row: Any, crs: Any,
           feature_id: Any = None) -> Entry:
    import geopandas as gpd

    point = row.geometry.representative_point() if row.geometry.geom_type != "LineString" \
        else row.geometry.interpolate(0.5, normalized=True)
    lonlat = gpd.GeoSeries([point], crs=crs).to_crs("EPSG:4326").iloc[0]
    return Entry(kind, title, layer, None if feature_id is None else str(feature_id),
                 round(lonlat.x, 6), round(lonlat.y, 6))


def write_index(out: Path, entries: list[Entry]) -> None:
    atomic_write_text(out, json.dumps([asdict(e) for e in entries], ensure_ascii=False))


def read_index(path: Path) -> list[Entry]:
    return [Entry(**e) for e in json.loads(path.read_text(encoding="utf-8"))]


def answer(entries: list[Entry], query: str, limit: int = 5) -> dict[str, Any]:
    """The JSON answer of ``/search?q=``: groups in rank order, each with its total count and
    its first ``limit`` hits."""
    groups = search(entries, query)
    return {"query": query, "groups": [
        {"kind": kind, "matched": len(hits),
         "hits": [asdict(h.entry) | {"fit": h.fit} for h in hits[:limit]]}
        for kind, hits in groups.items()]}


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
