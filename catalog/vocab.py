"""Every mapping from the registry's own words onto the controlled vocabularies of DCAT-AP.de.

The registry speaks in the portal's terms (``environment``, ``annual``, ``gpkg``,
``dl-de/by-2-0``); harvesters such as GovData and data.europa.eu only understand the EU authority
tables and the DCAT-AP.de code lists. These tables are the one place where the two meet, so that
the RDF catalogue and the CKAN mapping can never disagree about what "environment" means.

A registry value without an entry here is a programming error that must surface before anything is
published, hence the ``*_uri`` helpers raise :class:`~catalog.errors.CatalogMappingError` instead
of silently emitting a made-up IRI.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Namespace

from catalog.errors import CatalogMappingError
from geoportal.core.formats import FORMATS, Format
from geoportal.core.registry import Frequency, License, Theme

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

EU_AUTHORITY = "http://publications.europa.eu/resource/authority"
EU_THEME = f"{EU_AUTHORITY}/data-theme/"
EU_FREQUENCY = f"{EU_AUTHORITY}/frequency/"
EU_FILE_TYPE = f"{EU_AUTHORITY}/file-type/"
EU_LANGUAGE = f"{EU_AUTHORITY}/language/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
DCATDE_LICENSES = "http://dcat-ap.de/def/licenses/"

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


def theme_uri(theme: Theme) -> str:
    return EU_THEME + _lookup(THEMES, theme, "theme")


def frequency_uri(frequency: Frequency) -> str:
    return EU_FREQUENCY + _lookup(FREQUENCIES, frequency, "update_frequency")


def license_uri(license_: License) -> str:
    return _lookup(LICENSES, license_, "license").uri


def license_title(license_: License) -> str:
    return _lookup(LICENSES, license_, "license").title


def file_type(fmt: str) -> Format:
    """The format's row of the formats table, if the EU file-type list has a code for it."""
    return _lookup(FILE_TYPES, fmt.lower(), "file format", "geoportal/core/formats.py")


def file_type_uri(fmt: str) -> str:
    return f"{EU_FILE_TYPE}{file_type(fmt).eu_code}"


def media_type_uri(media_type: str) -> str:
    """The IANA registry IRI of a media type; parameters (``; profile=…``) are not part of it."""
    return IANA_MEDIA_TYPES + media_type.split(";", 1)[0].strip()


def _lookup[K, V](table: dict[K, V], key: K, what: str, home: str = "catalog/vocab.py") -> V:
    try:
        return table[key]
    except KeyError:
        known = ", ".join(str(k) for k in table)
        raise CatalogMappingError(
            f"no DCAT-AP.de mapping for {what} {str(key)!r}; add it to {home} "
            f"(mapped: {known})"
        ) from None
