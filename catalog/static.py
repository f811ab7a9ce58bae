"""The static catalogue: ``catalog.ttl`` and ``catalog.jsonld`` in the published folder.

The server hands both out under ``/downloads/``; a harvester that cannot speak CKAN's API reads
them directly. Only datasets that pass validation are written; the refused ones are reported in the
returned :class:`~catalog.validate.ValidationReport`, and the previous files stay untouched if
nothing could be written (each file is replaced atomically).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from catalog.dcat import DEFAULT_PROFILE, Profile, catalog_graph
from catalog.model import describe_all
from catalog.validate import Severity, ValidationReport, validate_records
from geoportal.core.publish import atomic_write_text
from geoportal.core.registry import Dataset

log = logging.getLogger(__name__)

TURTLE_FILE = "catalog.ttl"
JSONLD_FILE = "catalog.jsonld"


@dataclass
class StaticCatalog:
    """What :func:`write_static_catalog` wrote, and what it refused."""

    paths: list[Path]
    report: ValidationReport
    #: Registry datasets left out because they have never been built (no ``metadata.json``).
    not_built: list[str] = field(default_factory=list)


def write_static_catalog(
    datasets: Iterable[Dataset],
    published_dir: Path,
    base_url: str,
    *,
    profile: Profile = DEFAULT_PROFILE,
    fail_on: Severity = "Warning",
) -> StaticCatalog:
    """Validate every dataset, then write the catalogue of the valid ones in Turtle and JSON-LD.

    Refused datasets are left out (and logged); the caller decides whether that fails the run,
    typically by checking ``result.report.violations``.
    """
    published_dir = Path(published_dir)
    datasets = list(datasets)
    records = describe_all(datasets, published_dir, base_url, built_only=True)
    not_built = sorted({d.id for d in datasets} - {r.id for r in records})
    for dataset_id in not_built:
        log.warning("%s is not built: left out of the catalogue", dataset_id)
    report = validate_records(records, base_url, profile=profile, fail_on=fail_on)
    for violation in report.violations:
        log.error("refused for the catalogue: %s", violation)
    if report.catalogue_violations:
        report.raise_for_violations()  # the catalogue node itself is broken: write nothing
    if not report.valid:
        return StaticCatalog([], report, not_built)
    graph = catalog_graph(report.valid, base_url, profile=profile)
    turtle = published_dir / TURTLE_FILE
    jsonld = published_dir / JSONLD_FILE
    atomic_write_text(turtle, graph.serialize(format="turtle"))
    atomic_write_text(jsonld, _jsonld(graph))
    log.info(
        "wrote %s and %s: %d dataset(s), validated in %.2f s",
        turtle, jsonld, len(report.valid), report.seconds,
    )
    return StaticCatalog([turtle, jsonld], report, not_built)


def _jsonld(graph) -> str:
    """JSON-LD with the catalogue's prefixes as context, pretty-printed for diffing."""
    context = {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix}
    text = graph.serialize(format="json-ld", context=context, auto_compact=True)
    return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
