"""A geocoder over the published layers: streets, ALKIS addresses ("Werdener Straße 12"),
and named places and points of interest (issue 21.3).

The index is a list of entries built once from the published GeoPackages; a query is folded
the same way as every entry (one folding: :func:`fold`), so "Werdner Strase 12", "werdener
str. 12" and "Werdener Straße 12" find the same address. Ranking: an address that matches
street and number first, then the street, then places and POIs; within a kind, exact before
prefix before substring before a typo match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

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
    for hits in groups.values():
        hits.sort(key=lambda h: (h.fit, h.entry.title))
    return {kind: hits for kind, hits in groups.items() if hits}
