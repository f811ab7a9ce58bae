"""Personal data that must never reach a published output.

The internal cadastre (ALKIS with owner data, "Eigentümerangaben") carries names, addresses and
birth dates of private persons. They are dropped by every reader *at read time*, before any
validation, repair or writing code sees them, and the registry refuses a schema that asks for
them. Two independent barriers, because one forgotten ``select`` must not leak an owner's name.
"""

from __future__ import annotations

import re

# Field-name stems used for owner data in ALKIS exports (NAS, "vereinfacht", and municipal
# variants). Matched case-insensitively against the start of a column name, after removing
# umlauts, so "Eigentümer_Name", "eigentuemer", "EIGENTUEMER_ANSCHRIFT" all match.
PERSONAL_FIELD_PATTERNS: tuple[str, ...] = (
    r"eigentuemer",
    r"eigentumer",
    r"eigentum_",
    r"owner",
    r"namensnummer",
    r"buchungsblatt",
    r"person",
    r"vorname",
    r"nachname",
    r"familienname",
    r"geburts",
    r"anschrift",
    r"wohnort",
    r"erbbau",
)

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_PERSONAL = re.compile("|".join(f"(?:{p})" for p in PERSONAL_FIELD_PATTERNS))


def is_personal_field(name: str) -> bool:
    """True when a column name is one of the known owner/person fields."""
    normalised = name.lower().translate(_UMLAUTS)
    return _PERSONAL.match(normalised) is not None


def personal_fields(columns: list[str]) -> list[str]:
    """The columns of a raw input that are personal data and must be dropped."""
    return [c for c in columns if is_personal_field(c)]
