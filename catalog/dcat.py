"""Render catalogue records as a DCAT-AP.de graph (rdflib).

DCAT-AP.de 3.0 is the default. ``profile="2.0"`` writes the differences a 2.0 harvester expects:
the municipality's regional key as ``dcatde:politicalGeocodingURI`` (deprecated in 3.0, where the
same IRI goes into ``dct:spatial``), and the registry's maintainer and originator as
``dcatde:maintainer`` / ``dcatde:originator``, which 3.0 deprecates in favour of GeoDCAT-AP's
``geodcatap:custodian`` / ``geodcatap:originator`` (the 3.0 shapes check those).

Publisher and contact point are blank nodes per dataset rather than shared IRIs: a dataset file
may override the portal's contact, and a blank node can never claim that two differently
described agents are one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal as TypingLiteral

from rdflib import RDF, XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from catalog import vocab
from catalog.errors import CatalogMappingError
from catalog.model import Distribution, Record, Service, catalog_uri
from catalog.vocab import DCAT, DCATAP, DCATDE, DCT, FOAF, GEODCATAP, GSP, LOCN, SPDX, VCARD
from geoportal.core.registry import Contact, Dataset, Organisation, Period

Profile = TypingLiteral["3.0", "2.0"]
PROFILES: tuple[Profile, ...] = ("3.0", "2.0")
DEFAULT_PROFILE: Profile = "3.0"

SHA256 = SPDX.checksumAlgorithm_sha256
SHA256_DCATDE_2 = URIRef("http://dcat-ap.de/def/hashAlgorithms/sha/256")  # 2.0 code list
LANGUAGES = {"de": vocab.EU_LANGUAGE + "DEU", "en": vocab.EU_LANGUAGE + "ENG"}


def new_graph() -> Graph:
    """An empty graph with the prefixes readers of the Turtle file expect."""
    graph = Graph()
    for prefix, namespace in {
        "dcat": DCAT,
        "dct": DCT,
        "dcatde": DCATDE,
        "dcatap": DCATAP,
        "foaf": FOAF,
        "vcard": VCARD,
        "spdx": SPDX,
        "locn": LOCN,
        "gsp": GSP,
        "geodcatap": GEODCATAP,
    }.items():
        graph.bind(prefix, namespace, override=True)
    return graph


def dataset_graph(record: Record, *, profile: Profile = DEFAULT_PROFILE) -> Graph:
    """One dataset with its distributions and services, without the catalogue around it."""
    graph = new_graph()
    add_dataset(graph, record, profile=profile)
    return graph


def catalog_graph(
    records: Iterable[Record],
    base_url: str,
    *,
    publisher: Organisation | None = None,
    profile: Profile = DEFAULT_PROFILE,
) -> Graph:
    """The whole catalogue: a dcat:Catalog linking every dataset.

    The catalogue's publisher defaults to the first dataset's publisher, which is the portal-wide
    one from ``_portal.yml`` unless that dataset overrides it.
    """
    _check_profile(profile)
    records = list(records)
    if publisher is None:
        if not records:
            raise CatalogMappingError("an empty catalogue needs an explicit publisher")
        publisher = records[0].dataset.publisher
    graph = new_graph()
    catalog = URIRef(catalog_uri(base_url))
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCT.title, Literal(f"Offene Geodaten – {publisher.name}", lang="de")))
    graph.add((catalog, DCT.title, Literal(f"Open geodata – {publisher.name}", lang="en")))
    graph.add((catalog, DCT.description, Literal(
        f"Geodaten von {publisher.name}: Downloads und OGC-API-Dienste.", lang="de")))
    graph.add((catalog, DCT.description, Literal(
        f"Geodata published by {publisher.name}: downloads and OGC API services.", lang="en")))
    graph.add((catalog, DCT.publisher, _agent(graph, publisher)))
    graph.add((catalog, FOAF.homepage, URIRef(base_url.rstrip("/"))))
    graph.add((catalog, DCT.language, URIRef(LANGUAGES["de"])))
    modified = [r.modified for r in records if r.modified]
    if modified:
        graph.add((catalog, DCT.modified, _datetime(max(modified))))
    for record in records:
        graph.add((catalog, DCAT.dataset, add_dataset(graph, record, profile=profile)))
    return graph


def add_dataset(graph: Graph, record: Record, *, profile: Profile = DEFAULT_PROFILE) -> URIRef:
    """Add one dataset's triples to ``graph``; returns the dataset's IRI."""
    _check_profile(profile)
    d = record.dataset
    node = URIRef(record.uri)
    add = graph.add
    add((node, RDF.type, DCAT.Dataset))
    add((node, DCT.identifier, Literal(record.uri)))
    _add_text(graph, node, DCT.title, d.title.de, d.title.en)
    _add_text(graph, node, DCT.description, d.description.de, d.description.en)
    for lang, words in (("de", d.keywords.de), ("en", d.keywords.en)):
        for word in words:
            add((node, DCAT.keyword, Literal(word, lang=lang)))
    add((node, DCAT.theme, URIRef(record.theme_uri)))
    add((node, DCT.accrualPeriodicity, URIRef(record.frequency_uri)))
    for language in record.language_uris or (LANGUAGES["de"],):
        add((node, DCT.language, URIRef(language)))
    add((node, DCAT.landingPage, URIRef(record.landing_page)))
    add((node, DCT.publisher, _agent(graph, d.publisher)))
    add((node, DCAT.contactPoint, _contact(graph, d.contact)))
    add((node, DCATDE.contributorID, URIRef(vocab.CONTRIBUTOR_ID)))
    _add_geocoding(graph, node, d, profile)
    if record.bbox_wgs84:
        add((node, DCT.spatial, _bbox_location(graph, record.bbox_wgs84)))
    _add_roles(graph, node, d, profile)
    if record.temporal:
        add((node, DCT.temporal, _period(graph, record.temporal)))
    if record.issued:
        add((node, DCT.issued, Literal(record.issued.isoformat(), datatype=XSD.date)))
    if record.modified:
        add((node, DCT.modified, _datetime(record.modified)))
    for distribution in record.distributions:
        dist_node = _add_distribution(graph, record, distribution, node, profile)
        add((node, DCAT.distribution, dist_node))
    return node


def _add_distribution(
    graph: Graph, record: Record, dist: Distribution, dataset_node: URIRef, profile: Profile
) -> URIRef:
    d = record.dataset
    node = URIRef(dist.uri)
    add = graph.add
    add((node, RDF.type, DCAT.Distribution))
    _add_text(graph, node, DCT.title, dist.title_de, dist.title_en)
    if dist.description_de:
        _add_text(graph, node, DCT.description, dist.description_de, dist.description_en)
    for language in dist.language_uris:
        add((node, DCT.language, URIRef(language)))
    if dist.issued:
        add((node, DCT.issued, Literal(dist.issued.isoformat(), datatype=XSD.date)))
    add((node, DCAT.accessURL, URIRef(dist.access_url)))
    if dist.download_url:
        add((node, DCAT.downloadURL, URIRef(dist.download_url)))
    add((node, DCT["format"], URIRef(dist.format_uri)))
    add((node, DCAT.mediaType, URIRef(dist.media_type_uri)))
    add((node, DCT.license, URIRef(record.license_uri)))
    if d.license.requires_attribution and d.attribution:
        add((node, DCATDE.licenseAttributionByText, Literal(d.attribution)))
    if dist.byte_size is not None:
        # DCAT-AP 3 ranges byteSize over xsd:nonNegativeInteger, DCAT-AP 2.1 over xsd:decimal
        datatype = XSD.decimal if profile == "2.0" else XSD.nonNegativeInteger
        add((node, DCAT.byteSize, Literal(str(dist.byte_size), datatype=datatype)))
    if dist.sha256:
        checksum = BNode()
        add((checksum, RDF.type, SPDX.Checksum))
        add((checksum, SPDX.algorithm, SHA256_DCATDE_2 if profile == "2.0" else SHA256))
        add((checksum, SPDX.checksumValue, Literal(dist.sha256, datatype=XSD.hexBinary)))
        add((node, SPDX.checksum, checksum))
    if dist.modified:
        add((node, DCT.modified, _datetime(dist.modified)))
    if dist.service:
        add((node, DCAT.accessService, _add_service(graph, record, dist.service, dataset_node)))
    return node


def _add_service(
    graph: Graph, record: Record, service: Service, dataset_node: URIRef
) -> URIRef:
    d = record.dataset
    node = URIRef(service.uri)
    add = graph.add
    add((node, RDF.type, DCAT.DataService))
    _add_text(graph, node, DCT.title, service.title_de, service.title_en)
    add((node, DCAT.endpointURL, URIRef(service.endpoint_url)))
    add((node, DCAT.endpointDescription, URIRef(service.endpoint_description)))
    add((node, DCT.conformsTo, URIRef(service.conforms_to)))
    add((node, DCAT.servesDataset, dataset_node))
    add((node, DCT.license, URIRef(record.license_uri)))
    add((node, DCT.publisher, _agent(graph, d.publisher)))
    add((node, DCAT.contactPoint, _contact(graph, d.contact)))
    return node


def _add_text(graph: Graph, node: Node, predicate: URIRef, de: str, en: str | None) -> None:
    graph.add((node, predicate, Literal(de, lang="de")))
    if en:
        graph.add((node, predicate, Literal(en, lang="en")))


def _agent(graph: Graph, org: Organisation) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, RDF.type, FOAF.Organization))
    graph.add((node, FOAF.name, Literal(org.name, lang="de")))
    if org.url:
        graph.add((node, FOAF.homepage, URIRef(org.url)))
    if org.email:
        graph.add((node, FOAF.mbox, URIRef(f"mailto:{org.email}")))
    return node


def _add_roles(graph: Graph, node: URIRef, dataset: Dataset, profile: Profile) -> None:
    """Maintainer and originator, under the property each profile's shapes know."""
    roles = (
        (dataset.maintainer, DCATDE.maintainer if profile == "2.0" else GEODCATAP.custodian),
        (dataset.originator, DCATDE.originator if profile == "2.0" else GEODCATAP.originator),
    )
    for org, predicate in roles:
        if org is not None:
            graph.add((node, predicate, _agent(graph, org)))


def _period(graph: Graph, period: Period) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, DCT.PeriodOfTime))
    if period.start:
        graph.add((node, DCAT.startDate, Literal(period.start.isoformat(), datatype=XSD.date)))
    if period.end:
        graph.add((node, DCAT.endDate, Literal(period.end.isoformat(), datatype=XSD.date)))
    return node


def _contact(graph: Graph, contact: Contact) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, VCARD.Organization))
    graph.add((node, VCARD.fn, Literal(contact.name)))
    if contact.email:
        graph.add((node, VCARD.hasEmail, URIRef(f"mailto:{contact.email}")))
    if contact.url:
        graph.add((node, VCARD.hasURL, URIRef(contact.url)))
    if contact.phone:
        phone = "".join(ch for ch in contact.phone if ch.isdigit() or ch == "+")
        graph.add((node, VCARD.hasTelephone, URIRef(f"tel:{phone}")))
    return node


def _add_geocoding(graph: Graph, node: URIRef, dataset: Dataset, profile: Profile) -> None:
    geocoding = dataset.geocoding
    graph.add((node, DCATDE.politicalGeocodingLevelURI, URIRef(geocoding.level)))
    if profile == "2.0":
        graph.add((node, DCATDE.politicalGeocodingURI, URIRef(geocoding.uri)))
    else:  # 3.0 deprecates politicalGeocodingURI in favour of dct:spatial with the same IRI
        graph.add((node, DCT.spatial, URIRef(geocoding.uri)))


def bbox_wkt(bbox: tuple[float, float, float, float]) -> str:
    """A lon/lat bounding box as a closed WKT polygon (CRS84 axis order, as GeoSPARQL assumes)."""
    west, south, east, north = bbox
    ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    return "POLYGON((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in ring) + "))"


def _bbox_location(graph: Graph, bbox: tuple[float, float, float, float]) -> BNode:
    node = BNode()
    graph.add((node, RDF.type, DCT.Location))
    graph.add((node, DCAT.bbox, Literal(bbox_wkt(bbox), datatype=GSP.wktLiteral)))
    return node


def _datetime(value: str) -> Literal:
    """``modified`` as xsd:dateTime; a bare date from a hand-written metadata.json as xsd:date."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CatalogMappingError(f"expected an ISO 8601 date/time, got {value!r}") from None
    if len(value) <= 10:
        return Literal(parsed.date().isoformat(), datatype=XSD.date)
    return Literal(parsed.isoformat(), datatype=XSD.dateTime)


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise CatalogMappingError(
            f"unknown DCAT-AP.de profile {profile!r}; expected one of {', '.join(PROFILES)}"
        )
