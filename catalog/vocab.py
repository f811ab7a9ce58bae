"""Every mapping from the registry's own words onto the controlled vocabularies of DCAT-AP.de.

The registry speaks in the portal's terms (``environment``, ``annual``, ``gpkg``,
``dl-de/by-2-0``); harvesters such as GovData and data.europa.eu only understand the EU authority
tables and the DCAT-AP.de code lists. These tables are the one place where the two meet, so that
the RDF catalogue and the CKAN mapping can never disagree about what "environment" means.

A registry value without an entry here is a programming error that must surface before anything is
published, hence the ``*_uri`` helpers raise :class:`~catalog.errors.CatalogMappingError` instead
of silently emitting a made-up IRI.

The tables below only *map* the registry's words onto codes. Which codes exist is read from the
code-list files shipped in ``catalog/shapes/vocabularies/`` (:func:`concepts`), the same files the
SHACL validation looks values up in: a code missing there (a typo, a withdrawn code) is refused by
the ``*_uri`` helpers too, before any SHACL run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rdflib import RDF, Graph, Namespace, URIRef

from catalog.errors import CatalogMappingError
from geoportal.core.formats import FORMATS, Format
from geoportal.core.registry import Frequency, Language, License, Theme

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
DCATAP = Namespace("http://data.europa.eu/r5r/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
GEODCATAP = Namespace("http://data.europa.eu/930/")

EU_AUTHORITY = "http://publications.europa.eu/resource/authority"
EU_THEME = f"{EU_AUTHORITY}/data-theme/"
EU_FREQUENCY = f"{EU_AUTHORITY}/frequency/"
EU_FILE_TYPE = f"{EU_AUTHORITY}/file-type/"
EU_LANGUAGE = f"{EU_AUTHORITY}/language/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
DCATDE_LICENSES = "http://dcat-ap.de/def/licenses/"
DCATDE_CONTRIBUTORS = "http://dcat-ap.de/def/contributors/"
POLITICAL_GEOCODING = "http://dcat-ap.de/def/politicalGeocoding/"
DCATDE_HASH_ALGORITHMS = "http://dcat-ap.de/def/hashAlgorithms/"

VOCABULARY_DIR = Path(__file__).with_name("shapes") / "vocabularies"
#: Code lists the shapes look values up in (skos:inScheme); see the README beside them.
VOCABULARY_FILES = (
    "dcat-ap-de-licenses-open.rdf",  # official DCAT-AP.de file, complete
    "dcat-ap-de-contributors.rdf",  # official DCAT-AP.de file, complete
    "code-list-excerpt.ttl",  # hand-typed: no offline copy of the EU files exists
)
#: Code lists shipped complete: a code missing from them is a proven error.
COMPLETE_CODE_LISTS = (
    EU_THEME,
    DCATDE_LICENSES,
    DCATDE_CONTRIBUTORS,
    f"{POLITICAL_GEOCODING}Level/",
)
#: Code lists shipped in part (hand-typed) or not at all: the EU Publications Office's files are in
#: no package this project can install offline, nor are the full geocoding key lists or ADMS. A
#: foreign catalogue's code from one of these that is missing here is "not checkable offline",
#: not a proven violation (:mod:`catalog.check`).
PARTIAL_CODE_LISTS = (
    f"{EU_AUTHORITY}/",  # file-type, language, frequency (in part); access-right, ... (not at all)
    POLITICAL_GEOCODING,  # only Ratingen's own keys
    "http://purl.org/adms/",  # publisher types and the 2.0 status list: not shipped
)

#: DCAT-AP.de "Datenbereitsteller" code list: Ratingen delivers through the state portal Open.NRW.
#: The list has no entry per municipality, and the shapes only accept IRIs from it.
CONTRIBUTOR_ID = "http://dcat-ap.de/def/contributors/openNRW"

#: The OGC API - Features standard a feature service conforms to (DCAT dct:conformsTo).
OGC_API_FEATURES = "http://www.opengis.net/spec/ogcapi-features-1/1.0"
OGC_API_FEATURES_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"

#: Portal theme → EU data theme. Several portal themes share one EU theme: the EU list is coarse.
THEMES: dict[Theme, str] = {
    Theme.EVERYDAY: "SOCI",  # Population and society
    Theme.EDUCATION: "EDUC",  # Education, culture and sport
    Theme.LEISURE: "EDUC",
    Theme.ENVIRONMENT: "ENVI",
    Theme.ECONOMY: "ECON",
    Theme.CADASTRE: "REGI",  # Regions and cities
    Theme.TERRAIN: "REGI",
    Theme.IMAGERY: "REGI",
    Theme.MOBILITY: "TRAN",
}

#: Registry update frequency → EU frequency authority table code.
FREQUENCIES: dict[Frequency, str] = {
    Frequency.CONTINUOUS: "CONT",
    Frequency.DAILY: "DAILY",
    Frequency.WEEKLY: "WEEKLY",
    Frequency.MONTHLY: "MONTHLY",
    Frequency.QUARTERLY: "QUARTERLY",
    Frequency.ANNUAL: "ANNUAL",
    Frequency.IRREGULAR: "IRREG",
    Frequency.NEVER: "NEVER",
}


@dataclass(frozen=True)
class LicenseTerms:
    """How one registry licence is named in each target vocabulary."""

    uri: str  # DCAT-AP.de licence code list (dct:license)
    title: str  # shown by CKAN next to the licence id


LICENSES: dict[License, LicenseTerms] = {
    License.DL_BY_DE_2_0: LicenseTerms(
        uri=f"{DCATDE_LICENSES}dl-by-de/2.0", title="Datenlizenz Deutschland – Namensnennung – 2.0"
    ),
    License.DL_ZERO_DE_2_0: LicenseTerms(
        uri=f"{DCATDE_LICENSES}dl-zero-de/2.0", title="Datenlizenz Deutschland – Zero – 2.0"
    ),
}


#: Registry language → EU language authority table code.
LANGUAGES: dict[Language, str] = {
    Language.DE: "DEU",
    Language.EN: "ENG",
    Language.FR: "FRA",
    Language.NL: "NLD",
    Language.IT: "ITA",
    Language.ES: "SPA",
    Language.PL: "POL",
    Language.TR: "TUR",
}


#: Output format (the ``format`` of a file in metadata.json) → its row of the formats table, for
#: the formats the EU file-type list has a code for (vector tiles have none).
FILE_TYPES: dict[str, Format] = {name: f for name, f in FORMATS.items() if f.eu_code}

#: Formats that are served (OGC API Tiles), never offered as downloadable files.
SERVED_ONLY = frozenset(name for name, f in FORMATS.items() if f.served_only)

#: OGC API Features answers in GeoJSON by default: the access distribution is described as such.
FEATURES_FILE_TYPE = FILE_TYPES["geojson"]


@dataclass(frozen=True)
class ApiKind:
    """An OGC API a layer is served through, described as a DCAT data service."""

    key: str
    label: str
    path: str  # below /collections/<id>
    conforms_to: str
    file_type: Format  # what a client receives by default


#: Layers served as raster tiles or coverages get a data-service distribution each, like features.
#: (Vector tiles have no code in the EU file-type list; they are not described as a service yet.)
API_KINDS = {
    "features": ApiKind("ogcapi-features", "OGC API Features", "", OGC_API_FEATURES,
                        FEATURES_FILE_TYPE),
    "raster_tiles": ApiKind("ogcapi-tiles", "OGC API Tiles", "/tiles",
                            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0", FILE_TYPES["jpeg"]),
    "coverage": ApiKind("ogcapi-coverages", "OGC API Coverages", "/coverage",
                        "http://www.opengis.net/spec/ogcapi-coverages-1/1.0", FILE_TYPES["tif"]),
}


@lru_cache(maxsize=1)
def vocabulary_graph() -> Graph:
    """The shipped code lists, parsed once per process."""
    graph = Graph()
    for name in VOCABULARY_FILES:
        path = VOCABULARY_DIR / name
        graph.parse(path, format="xml" if path.suffix == ".rdf" else "turtle")
    return graph


@lru_cache(maxsize=16)
def concepts(scheme: str) -> frozenset[str]:
    """The IRIs the shipped code lists place in ``scheme`` (its IRI, with or without the
    trailing slash the concept IRIs carry)."""
    graph = vocabulary_graph()
    found: set[str] = set()
    for candidate in {scheme, scheme.rstrip("/")}:
        found.update(str(c) for c in graph.subjects(SKOS.inScheme, URIRef(candidate)))
    return frozenset(found)


def is_known(iri: str) -> bool:
    """Whether ``iri`` is a concept of any shipped code list (or a typed SPDX algorithm)."""
    graph = vocabulary_graph()
    node = URIRef(iri)
    return (node, SKOS.inScheme, None) in graph or (node, RDF.type, None) in graph


def in_partial_code_list(iri: str) -> bool:
    """Whether ``iri`` belongs to a code list of which only an excerpt (or nothing) ships."""
    return iri.startswith(PARTIAL_CODE_LISTS) and not iri.startswith(COMPLETE_CODE_LISTS)


def theme_uri(theme: Theme) -> str:
    return _checked(EU_THEME + _lookup(THEMES, theme, "theme"), EU_THEME, "theme", theme)


def frequency_uri(frequency: Frequency) -> str:
    code = _lookup(FREQUENCIES, frequency, "update_frequency")
    return _checked(EU_FREQUENCY + code, EU_FREQUENCY, "update_frequency", frequency)


def language_uri(language: Language) -> str:
    code = _lookup(LANGUAGES, language, "language")
    return _checked(EU_LANGUAGE + code, EU_LANGUAGE, "language", language)


def license_uri(license_: License) -> str:
    uri = _lookup(LICENSES, license_, "license").uri
    return _checked(uri, "http://dcat-ap.de/def/licenses", "license", license_)


def license_title(license_: License) -> str:
    return _lookup(LICENSES, license_, "license").title


def file_type(fmt: str) -> Format:
    """The format's row of the formats table, if the EU file-type list has a code for it."""
    return _lookup(FILE_TYPES, fmt.lower(), "file format", "geoportal/core/formats.py")


def file_type_uri(fmt: str) -> str:
    return _checked(f"{EU_FILE_TYPE}{file_type(fmt).eu_code}", EU_FILE_TYPE, "file format", fmt)


def media_type_uri(media_type: str) -> str:
    """The IANA registry IRI of a media type; parameters (``; profile=…``) are not part of it."""
    return IANA_MEDIA_TYPES + media_type.split(";", 1)[0].strip()


def _checked(uri: str, scheme: str, what: str, value: object) -> str:
    """``uri`` if the shipped code list of ``scheme`` holds it; else the mapping is wrong."""
    if uri not in concepts(scheme):
        raise CatalogMappingError(
            f"{what} {str(value)!r} maps to {uri}, which is not in the code list {scheme} "
            f"shipped in {VOCABULARY_DIR.relative_to(VOCABULARY_DIR.parents[2])}; "
            "fix the mapping in catalog/vocab.py or geoportal/core/formats.py"
        )
    return uri


def _lookup[K, V](table: dict[K, V], key: K, what: str, home: str = "catalog/vocab.py") -> V:
    try:
        return table[key]
    except KeyError:
        known = ", ".join(str(k) for k in table)
        raise CatalogMappingError(
            f"no DCAT-AP.de mapping for {what} {str(key)!r}; add it to {home} "
            f"(mapped: {known})"
        ) from None
