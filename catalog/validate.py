"""Offline SHACL validation of the catalogue against the DCAT-AP.de shapes.

The shapes ship with the package (``catalog/shapes/``, see its README for provenance and
licences), so validation needs no network: the official shapes import their code lists from the
web, which a CI runner or the city's build server cannot be relied on to reach.

Policy: a *Warning* fails too (``fail_on="Warning"``). DCAT-AP.de marks "SOLL" rules as warnings —
for example a licence outside the DCAT-AP.de licence list — and GovData rates such records down;
the city's own records have no reason to break a SOLL rule. ``fail_on="Violation"`` gives the
official, laxer reading.

Results are attributed to datasets: a problem on a distribution, a contact point or a licence IRI
counts against every dataset that reaches that node, so one broken dataset is refused while the
others are still published.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal as TypingLiteral

from pyshacl import validate as shacl_validate
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from catalog.dcat import DEFAULT_PROFILE, Profile, catalog_graph, new_graph
from catalog.errors import CatalogValidationError, Violation
from catalog.model import Record
from catalog.vocab import DCAT, vocabulary_graph

SH = Namespace("http://www.w3.org/ns/shacl#")
SHAPES_DIR = Path(__file__).with_name("shapes")

Severity = TypingLiteral["Violation", "Warning"]
_RANK = {"Info": 0, "Warning": 1, "Violation": 2}

#: The official shape files per profile, unmodified, as GovData's validator combines them
#: ("Spezifikation" profile).
OFFICIAL_SHAPE_FILES: dict[str, tuple[str, ...]] = {
    "3.0": (
        "v3.0/dcat-ap-spec-german-additions.ttl",
        "v3.0/dcat-ap-de-controlledvocabularies.ttl",
        "v3.0/dcat-ap-de-deprecated.ttl",
    ),
    "2.0": (
        "v2.0/dcat-ap_2.1.1_shacl_shapes.ttl",
        "v2.0/dcat-ap-spec-german-messages.ttl",
        "v2.0/dcat-ap-spec-german-additions.ttl",
        "v2.0/dcat-ap-de-deprecated.ttl",
    ),
}
#: This project's own rules (see the file's header), checked on top of the official shapes.
PROJECT_SHAPE_FILES: tuple[str, ...] = ("project/ratingen-shapes.ttl",)

Rules = TypingLiteral["all", "official", "project"]


def shape_files(profile: Profile, rules: Rules = "all") -> tuple[str, ...]:
    """The shape files of one profile: the official ones, the project's, or both."""
    official = OFFICIAL_SHAPE_FILES[profile] if rules in ("all", "official") else ()
    project = PROJECT_SHAPE_FILES if rules in ("all", "project") else ()
    return official + project


@dataclass
class ValidationReport:
    """The outcome of validating a set of records: which may be published, and why not the rest."""

    valid: list[Record]
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def refused(self) -> list[str]:
        return sorted({v.dataset_id for v in self.violations if v.dataset_id})

    @property
    def catalogue_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.dataset_id is None]

    def raise_for_violations(self) -> None:
        if self.violations:
            raise CatalogValidationError(self.violations)


@lru_cache(maxsize=3 * len(OFFICIAL_SHAPE_FILES))
def shapes_graph(profile: Profile = DEFAULT_PROFILE, rules: Rules = "all") -> Graph:
    """The shapes of one profile, parsed once per process (parsing dominates small validations)."""
    graph = Graph()
    for name in shape_files(profile, rules):
        graph.parse(SHAPES_DIR / name)
    return graph


def validate_graph(
    graph: Graph,
    *,
    profile: Profile = DEFAULT_PROFILE,
    fail_on: Severity = "Warning",
    rules: Rules = "all",
) -> list[Violation]:
    """Validate a DCAT graph; return the results at or above ``fail_on``, by dataset.

    ``rules`` picks the official DCAT-AP.de shapes, the project's own, or both (the default, the
    publishing policy).
    """
    # The code lists are added to a copy of the data: pyshacl only mixes an ont_graph in when it
    # runs inference, which would also add triples the shapes then (wrongly) accept.
    data = Graph()
    data += graph
    data += vocabulary_graph()
    _conforms, results, _text = shacl_validate(
        data,
        shacl_graph=shapes_graph(profile, rules),
        inference="none",
        abort_on_first=False,
        allow_infos=True,
        allow_warnings=True,
    )
    owners = _dataset_owners(graph)
    threshold = _RANK[fail_on]
    violations = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        severity = _local(results.value(result, SH.resultSeverity))
        if _RANK.get(severity, 2) < threshold:
            continue
        violations.extend(_violations(graph, results, result, severity, owners))
    return sorted(set(violations), key=lambda v: (v.dataset_id or "", v.path, v.message))


def validate_records(
    records: Iterable[Record],
    base_url: str,
    *,
    profile: Profile = DEFAULT_PROFILE,
    fail_on: Severity = "Warning",
) -> ValidationReport:
    """Validate the catalogue made of ``records`` in one SHACL run; split valid from refused."""
    records = list(records)
    started = time.perf_counter()
    graph = catalog_graph(records, base_url, profile=profile) if records else new_graph()
    violations = validate_graph(graph, profile=profile, fail_on=fail_on)
    refused = {v.dataset_id for v in violations}
    valid = [r for r in records if r.id not in refused]
    return ValidationReport(valid, violations, time.perf_counter() - started)


def _violations(
    graph: Graph, results: Graph, result: Node, severity: str, owners: dict[Node, set[str]]
) -> list[Violation]:
    focus = results.value(result, SH.focusNode)
    path = results.value(result, SH.resultPath)
    value = results.value(result, SH.value)
    message = _message(results, result)
    ids = owners.get(focus) or {None}
    found = []
    for dataset_id in sorted(ids, key=lambda i: i or ""):
        route = _route(graph, dataset_id, focus)
        steps = [*route, _qname(graph, path)] if path is not None else route
        found.append(
            Violation(
                dataset_id=dataset_id,
                path="/".join(s for s in steps if s) or "(node)",
                message=message,
                severity=severity,
                focus=str(focus),
                value=str(value) if value is not None and value != focus else None,
            )
        )
    return found


def _message(results: Graph, result: Node) -> str:
    """The shape's own message, German preferred (the shapes' language), else any."""
    messages = list(results.objects(result, SH.resultMessage))
    for message in messages:
        if getattr(message, "language", None) == "de":
            return str(message)
    return str(messages[0]) if messages else "constraint not met"


def _dataset_owners(graph: Graph) -> dict[Node, set[str]]:
    """Every node reachable from a dcat:Dataset, mapped to the ids of the datasets reaching it."""
    owners: dict[Node, set[str]] = {}
    for dataset in graph.subjects(RDF.type, DCAT.Dataset):
        dataset_id = str(dataset).rstrip("/").rsplit("/", 1)[-1]
        for node in _reachable(graph, dataset):
            owners.setdefault(node, set()).add(dataset_id)
    return owners


def _reachable(graph: Graph, start: Node) -> set[Node]:
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for obj in graph.objects(node, None):
            if obj in seen or isinstance(obj, Literal):
                continue
            if (obj, RDF.type, DCAT.Dataset) in graph:
                continue  # a service's dcat:servesDataset leads back to a dataset, not below it
            seen.add(obj)
            queue.append(obj)
    return seen


def _route(graph: Graph, dataset_id: str | None, focus: Node) -> list[str]:
    """The property path from the dataset to the node a result is about, e.g. dcat:distribution."""
    if dataset_id is None:
        return []
    start = next(
        (d for d in graph.subjects(RDF.type, DCAT.Dataset) if str(d).endswith("/" + dataset_id)),
        None,
    )
    if start is None or start == focus:
        return []
    previous: dict[Node, tuple[Node, Node]] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for predicate, obj in graph.predicate_objects(node):
            if obj in previous or obj == start:
                continue
            previous[obj] = (node, predicate)
            if obj == focus:
                return _unwind(graph, previous, start, focus)
            queue.append(obj)
    return []


def _unwind(
    graph: Graph, previous: dict[Node, tuple[Node, Node]], start: Node, focus: Node
) -> list[str]:
    steps = []
    node = focus
    while node != start:
        node, predicate = previous[node]
        steps.append(_qname(graph, predicate))
    return steps[::-1]


def _qname(graph: Graph, node: Node | None) -> str:
    if node is None:
        return ""
    if isinstance(node, URIRef):
        try:
            return graph.namespace_manager.normalizeUri(node)
        except ValueError:
            return str(node)
    return str(node)  # a complex SHACL path (blank node): shown as is


def _local(node: Node | None) -> str:
    return str(node).rsplit("#", 1)[-1] if node is not None else "Violation"
