"""Render catalogue records as ISO 19139 metadata (``gmd:MD_Metadata``) for CSW harvesters.

The GDI-DE and geoportal.de harvest ISO 19139 through CSW 2.0.2, not DCAT. The record is the
same :class:`~catalog.model.Record` the DCAT-AP.de writer renders, so a title, licence or
download link changed in ``datasets/<id>.yml`` reaches both catalogues with the next rebuild.

The element order follows the ISO 19139 (2007-04-17) schemas, which are validated offline in
the tests (:func:`schema`). Conventions of the GDI-DE ("Konventionen zu Metadaten"): the
licence as ``otherConstraints`` in words and as the JSON object the GDI-DE reads, a topic
category and, where a portal theme matches one, a keyword from the INSPIRE themes thesaurus
(GEMET) with its ``gmx:Anchor``.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path

from lxml import etree

from catalog.model import Distribution, Record
from geoportal.core.registry import Frequency, Organisation, Theme

GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
GMX = "http://www.isotc211.org/2005/gmx"
GML = "http://www.opengis.net/gml/3.2"
XLINK = "http://www.w3.org/1999/xlink"
NSMAP = {"gmd": GMD, "gco": GCO, "gmx": GMX, "gml": GML, "xlink": XLINK}
CODELISTS = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml"
#: What the pipelines publish in unless a build said otherwise (records of unbuilt datasets).
DEFAULT_CRS = "EPSG:25832"
#: The outputSchema a harvester names to get these records from the CSW.
OUTPUT_SCHEMA = GMD

#: Portal theme → ISO 19115 topic category (MD_TopicCategoryCode); every theme has one.
TOPIC_CATEGORIES: dict[Theme, str] = {
    Theme.EVERYDAY: "society",
    Theme.EDUCATION: "society",
    Theme.LEISURE: "society",
    Theme.ENVIRONMENT: "environment",
    Theme.ECONOMY: "economy",
    Theme.CADASTRE: "planningCadastre",
    Theme.TERRAIN: "elevation",
    Theme.IMAGERY: "imageryBaseMapsEarthCover",
    Theme.MOBILITY: "transportation",
}
INSPIRE_THEMES_THESAURUS = ("GEMET - INSPIRE themes, version 1.0", date(2008, 6, 1),
                            "http://www.eionet.europa.eu/gemet/inspire_themes")
#: Portal theme → INSPIRE theme (German label, registry IRI), only where the whole portal theme
#: is that INSPIRE theme; the others (cadastre holds parcels *and* buildings) get none.
INSPIRE_THEMES: dict[Theme, tuple[str, str]] = {
    Theme.TERRAIN: ("Höhe", "http://inspire.ec.europa.eu/theme/el"),
    Theme.IMAGERY: ("Orthofotografie", "http://inspire.ec.europa.eu/theme/oi"),
    Theme.MOBILITY: ("Verkehrsnetze", "http://inspire.ec.europa.eu/theme/tn"),
}
#: Registry update frequency → MD_MaintenanceFrequencyCode.
MAINTENANCE: dict[Frequency, str] = {
    Frequency.CONTINUOUS: "continual",
    Frequency.DAILY: "daily",
    Frequency.WEEKLY: "weekly",
    Frequency.MONTHLY: "monthly",
    Frequency.QUARTERLY: "quarterly",
    Frequency.ANNUAL: "annually",
    Frequency.IRREGULAR: "irregular",
    Frequency.NEVER: "notPlanned",
}
#: Registry language → ISO 639-2/B code (LanguageCode).
ISO_LANGUAGES = {"de": "ger", "en": "eng", "fr": "fre", "nl": "dut", "it": "ita", "es": "spa",
                 "pl": "pol", "tr": "tur"}


def _e(parent: etree._Element, ns: str, tag: str, text: str | None = None,
       **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _string(parent: etree._Element, tag: str, text: str) -> etree._Element:
    """``<gmd:tag><gco:CharacterString>text</gco:CharacterString></gmd:tag>``."""
    wrapper = _e(parent, GMD, tag)
    _e(wrapper, GCO, "CharacterString", text)
    return wrapper


def _anchor(parent: etree._Element, tag: str, text: str, href: str) -> etree._Element:
    wrapper = _e(parent, GMD, tag)
    _e(wrapper, GMX, "Anchor", text, **{f"{{{XLINK}}}href": href})
    return wrapper


def _code(parent: etree._Element, tag: str, code_list: str, value: str) -> etree._Element:
    wrapper = _e(parent, GMD, tag)
    _e(wrapper, GMD, code_list, value, codeList=f"{CODELISTS}#{code_list}",
       codeListValue=value)
    return wrapper


def _date(parent: etree._Element, when: str, kind: str) -> None:
    """A ``gmd:date`` of a citation: ``when`` as YYYY-MM-DD, ``kind`` a CI_DateTypeCode."""
    ci_date = _e(_e(parent, GMD, "date"), GMD, "CI_Date")
    _e(_e(ci_date, GMD, "date"), GCO, "Date", when[:10])
    _code(ci_date, "dateType", "CI_DateTypeCode", kind)


def _party(parent: etree._Element, tag: str, org: Organisation, role: str) -> None:
    """A CI_ResponsibleParty of an organisation only: no person's name (no personal data)."""
    party = _e(_e(parent, GMD, tag), GMD, "CI_ResponsibleParty")
    _string(party, "organisationName", org.name)
    contact = _e(_e(party, GMD, "contactInfo"), GMD, "CI_Contact")
    address = _e(_e(contact, GMD, "address"), GMD, "CI_Address")
    if org.address:
        street, _, town = org.address.partition(",")
        postcode, _, city = town.strip().partition(" ")
        _string(address, "deliveryPoint", street.strip())
        if city:
            _string(address, "city", city)
            _string(address, "postalCode", postcode)
        _string(address, "country", "Deutschland")
    if org.email:
        _string(address, "electronicMailAddress", org.email)
    if org.url:
        resource = _e(_e(contact, GMD, "onlineResource"), GMD, "CI_OnlineResource")
        _e(_e(resource, GMD, "linkage"), GMD, "URL", org.url)
    _code(party, "role", "CI_RoleCode", role)


def _keywords(parent: etree._Element, words: list[str]) -> None:
    block = _e(_e(parent, GMD, "descriptiveKeywords"), GMD, "MD_Keywords")
    for word in words:
        _string(block, "keyword", word)
    _code(block, "type", "MD_KeywordTypeCode", "theme")


def _inspire_keyword(parent: etree._Element, theme: Theme) -> None:
    if theme not in INSPIRE_THEMES:
        return
    label, iri = INSPIRE_THEMES[theme]
    name, published, thesaurus_iri = INSPIRE_THEMES_THESAURUS
    block = _e(_e(parent, GMD, "descriptiveKeywords"), GMD, "MD_Keywords")
    _anchor(block, "keyword", label, iri)
    citation = _e(_e(block, GMD, "thesaurusName"), GMD, "CI_Citation")
    _anchor(citation, "title", name, thesaurus_iri)
    _date(citation, published.isoformat(), "publication")


def _constraints(parent: etree._Element, record: Record) -> None:
    """The licence in words and as GDI-DE's JSON object; no limits on public access."""
    license_ = record.dataset.license
    use = _e(_e(parent, GMD, "resourceConstraints"), GMD, "MD_LegalConstraints")
    _code(use, "useConstraints", "MD_RestrictionCode", "otherRestrictions")
    _string(use, "otherConstraints", license_.title["de"])
    licence = {"id": record.license_uri.rsplit("/licenses/", 1)[-1],
               "name": license_.title["de"], "url": license_.page}
    if record.dataset.attribution:
        licence["quelle"] = record.dataset.attribution
    _string(use, "otherConstraints", json.dumps(licence, ensure_ascii=False))
    access = _e(_e(parent, GMD, "resourceConstraints"), GMD, "MD_LegalConstraints")
    _code(access, "accessConstraints", "MD_RestrictionCode", "otherRestrictions")
    _anchor(access, "otherConstraints", "Es gelten keine Zugriffsbeschränkungen",
            "http://inspire.ec.europa.eu/metadata-codelist/LimitationsOnPublicAccess/noLimitations")


def _identification(root: etree._Element, record: Record) -> None:
    dataset = record.dataset
    ident = _e(_e(root, GMD, "identificationInfo"), GMD, "MD_DataIdentification")
    citation = _e(_e(ident, GMD, "citation"), GMD, "CI_Citation")
    _string(citation, "title", dataset.title.de)
    if dataset.title.en:
        _string(citation, "alternateTitle", dataset.title.en)
    _date(citation, (dataset.issued or date.today()).isoformat(), "publication")
    if record.modified:
        _date(citation, record.modified, "revision")
    identifier = _e(_e(citation, GMD, "identifier"), GMD, "MD_Identifier")
    _string(identifier, "code", record.uri)
    _string(ident, "abstract", dataset.description.de)
    _party(ident, "pointOfContact", dataset.contact, "pointOfContact")
    _party(ident, "pointOfContact", dataset.publisher, "publisher")
    maintenance = _e(_e(ident, GMD, "resourceMaintenance"), GMD, "MD_MaintenanceInformation")
    _code(maintenance, "maintenanceAndUpdateFrequency", "MD_MaintenanceFrequencyCode",
          MAINTENANCE[dataset.update_frequency])
    _keywords(ident, [*dataset.keywords.de, *dataset.keywords.en])
    _inspire_keyword(ident, dataset.theme)
    _constraints(ident, record)
    for language in dataset.language:
        _code(ident, "language", "LanguageCode", ISO_LANGUAGES[language.value])
    _code(ident, "characterSet", "MD_CharacterSetCode", "utf8")
    _e(_e(ident, GMD, "topicCategory"), GMD, "MD_TopicCategoryCode",
       TOPIC_CATEGORIES[dataset.theme])
    if record.bbox_wgs84:
        west, south, east, north = record.bbox_wgs84
        extent = _e(_e(ident, GMD, "extent"), GMD, "EX_Extent")
        box = _e(_e(extent, GMD, "geographicElement"), GMD, "EX_GeographicBoundingBox")
        for tag, value in (("westBoundLongitude", west), ("eastBoundLongitude", east),
                           ("southBoundLatitude", south), ("northBoundLatitude", north)):
            _e(_e(box, GMD, tag), GCO, "Decimal", repr(float(value)))


def _reference_system(root: etree._Element, crs: str) -> None:
    code = crs.split(":")[-1]
    ref = _e(_e(root, GMD, "referenceSystemInfo"), GMD, "MD_ReferenceSystem")
    identifier = _e(_e(ref, GMD, "referenceSystemIdentifier"), GMD, "RS_Identifier")
    _anchor(identifier, "code", crs, f"http://www.opengis.net/def/crs/EPSG/0/{code}")


def _online(parent: etree._Element, distribution: Distribution) -> None:
    """One transfer option: the download URL of a file or the access URL of an OGC API."""
    options = _e(_e(parent, GMD, "transferOptions"), GMD, "MD_DigitalTransferOptions")
    resource = _e(_e(options, GMD, "onLine"), GMD, "CI_OnlineResource")
    _e(_e(resource, GMD, "linkage"), GMD, "URL",
       distribution.download_url or distribution.access_url)
    protocol = (distribution.service.conforms_to if distribution.service
                else "WWW:DOWNLOAD-1.0-http--download")
    _string(resource, "protocol", protocol)
    _string(resource, "name", distribution.title_de)
    if distribution.description_de:
        _string(resource, "description", distribution.description_de)
    _code(resource, "function", "CI_OnLineFunctionCode",
          "download" if distribution.download_url else "information")


def _distribution(root: etree._Element, record: Record) -> None:
    info = _e(_e(root, GMD, "distributionInfo"), GMD, "MD_Distribution")
    seen: set[str] = set()
    for distribution in record.distributions:
        if distribution.format_label in seen:
            continue
        seen.add(distribution.format_label)
        fmt = _e(_e(info, GMD, "distributionFormat"), GMD, "MD_Format")
        _string(fmt, "name", distribution.format_label)
        _e(fmt, GMD, "version").set(f"{{{GCO}}}nilReason", "unknown")
    for distribution in record.distributions:
        _online(info, distribution)


def iso_record(record: Record) -> etree._Element:
    """``gmd:MD_Metadata`` for one dataset (valid ISO 19139: :func:`validate`)."""
    root = etree.Element(f"{{{GMD}}}MD_Metadata", nsmap=NSMAP)
    _string(root, "fileIdentifier", record.uri)
    _code(root, "language", "LanguageCode", "ger")
    _code(root, "characterSet", "MD_CharacterSetCode", "utf8")
    _code(root, "hierarchyLevel", "MD_ScopeCode", "dataset")
    _party(root, "contact", record.dataset.contact, "pointOfContact")
    _e(_e(root, GMD, "dateStamp"), GCO, "Date", (record.modified or date.today().isoformat())[:10])
    _string(root, "metadataStandardName", "ISO 19115:2003/19139")
    _string(root, "metadataStandardVersion", "1.0")
    _string(root, "dataSetURI", record.landing_page)
    _reference_system(root, record.crs or DEFAULT_CRS)
    _identification(root, record)
    _distribution(root, record)
    return root


def iso_bytes(record: Record) -> bytes:
    return etree.tostring(iso_record(record), xml_declaration=True, encoding="UTF-8",
                          pretty_print=True)


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """The ISO 19139 (2007-04-17) schemas as pycsw ships them (gmx includes gmd, gco, GML 3.2),
    loaded from disk: no network needed to validate."""
    return etree.XMLSchema(etree.parse(str(schema_dir() / "gmx" / "gmx.xsd")))


def schema_dir() -> Path:
    import pycsw

    return (Path(pycsw.__file__).parent / "plugins" / "profiles" / "apiso" / "schemas" / "ogc"
            / "iso" / "19139" / "20070417")


def validate(element: etree._Element) -> list[str]:
    """The schema errors of one record (empty when valid), each with its line."""
    checker = schema()
    if checker.validate(element):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]  # type: ignore[attr-defined]

