"""Validate a DCAT-AP.de file the portal did not write: ``geoportal catalog validate FILE``.

A harvested or hand-written catalogue is read as Turtle, RDF/XML or JSON-LD (by the file's
extension, else by sniffing its first bytes), checked against the official DCAT-AP.de shapes and,
separately, against this project's own rules, so that a reader can tell "GovData would refuse
this" from "Ratingen's policy is stricter here".

Results are split three ways:

* ``official``: the unmodified DCAT-AP.de shapes of the chosen (or detected) version;
* ``project``: ``catalog/shapes/project/`` (the DCAT-AP 3.0 mandatory properties the shipped 3.0
  copy lacks, and the portal's policy, see that file's header);
* ``unverified``: a code-list check that failed only because the code list ships as an excerpt
  (:data:`catalog.vocab.PARTIAL_CODE_LISTS`): without the EU Publications Office's files offline,
  an unknown file type or language code is not proof of a violation.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.sax import SAXParseException

from rdflib import RDF, Graph, URIRef
from rdflib.plugins.parsers.notation3 import BadSyntax

from catalog import vocab
from catalog.dcat import Profile
from catalog.errors import CatalogParseError, Violation
from catalog.validate import PROJECT_SHAPE_FILES, Rules, Severity, validate_graph
from catalog.vocab import DCAT, DCATAP, DCATDE, GEODCATAP, SPDX

#: RDF serialisation per file extension; anything else is sniffed.
SUFFIX_FORMATS = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".rdf": "xml",
    ".xml": "xml",
    ".owl": "xml",
    ".jsonld": "json-ld",
    ".json": "json-ld",
    ".nt": "nt",
}
FORMAT_NAMES = {"turtle": "Turtle", "xml": "RDF/XML", "json-ld": "JSON-LD", "nt": "N-Triples"}

#: Terms only DCAT-AP.de 2.0 uses (3.0 deprecates them), and terms only 3.0 introduces.
V2_TERMS = (
    DCATDE.politicalGeocodingURI,
    DCATDE.maintainer,
    DCATDE.originator,
    DCATDE.geocodingDescription,
    DCATDE.legalBasis,
)
V3_TERMS = (
    DCAT.DatasetSeries,
    DCAT.inSeries,
    DCATAP.applicableLegislation,
    DCATAP.hvdCategory,
    GEODCATAP.originator,
    GEODCATAP.custodian,
)
#: 3.0 names checksum algorithms by SPDX IRIs, 2.0 by its own code list.
SPDX_ALGORITHMS = "http://spdx.org/rdf/terms#checksumAlgorithm_"


@dataclass
class FileReport:
    """What ``geoportal catalog validate`` found in one file."""

    path: str
    format: str
    profile: Profile
    profile_reason: str
    triples: int
    datasets: int
    rules: Rules
    official: list[Violation] = field(default_factory=list)
    project: list[Violation] = field(default_factory=list)
    unverified: list[Violation] = field(default_factory=list)

    def failures(self, fail_on: Severity = "Violation") -> list[Violation]:
        """The results that make the file invalid: violations, and warnings if asked."""
        wanted = {"Violation"} if fail_on == "Violation" else {"Violation", "Warning"}
        return [v for v in (*self.official, *self.project) if v.severity in wanted]

    def to_json(self, fail_on: Severity = "Violation") -> dict[str, Any]:
        def section(items: list[Violation]) -> dict[str, list[dict[str, Any]]]:
            return {
                "violations": [asdict(v) for v in items if v.severity == "Violation"],
                "warnings": [asdict(v) for v in items if v.severity == "Warning"],
            }

        return {
            "file": self.path,
            "format": self.format,
            "profile": self.profile,
            "profile_reason": self.profile_reason,
            "triples": self.triples,
            "datasets": self.datasets,
            "rules": self.rules,
            "official": section(self.official),
            "project": section(self.project),
            "unverified": [asdict(v) for v in self.unverified],
            "valid": not self.failures(fail_on),
        }


def rdf_format(path: Path, head: bytes) -> str:
    """The serialisation of ``path``: by extension, else from its first non-blank bytes."""
    by_suffix = SUFFIX_FORMATS.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start in (b"{", b"["):
        return "json-ld"
    if start == b"<" and not head.lstrip().startswith(b"<http"):
        return "xml"
    return "turtle"


def read_catalogue(path: Path) -> tuple[Graph, str]:
    """Parse ``path``; a syntax error is one :class:`CatalogParseError` naming file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogParseError(path, None, f"cannot read the file: {exc.strerror}") from None
    fmt = rdf_format(path, data[:512])
    graph = Graph()
    try:
        graph.parse(data=data, format=fmt, publicID=path.resolve().as_uri())
    except Exception as exc:  # rdflib's parsers raise whatever their backend raises
        line, reason = _error_position(exc)
        raise CatalogParseError(path, line, f"not valid {FORMAT_NAMES[fmt]}: {reason}") from None
    return graph, FORMAT_NAMES[fmt]


def detect_profile(graph: Graph) -> tuple[Profile, str]:
    """DCAT-AP.de 2.0 or 3.0, from terms only one of them uses; 3.0 when nothing tells.

    A 3.0 term wins over 2.0 ones: 3.0 files may still carry deprecated 2.0 terms (the official
    3.0 examples do), and the 3.0 shapes are the ones that warn about them.
    """
    used = set(graph.predicates()) | set(graph.objects(None, RDF.type))
    algorithms = {str(o) for o in graph.objects(None, SPDX.algorithm)}
    v3 = [_qname(graph, t) for t in V3_TERMS if t in used]
    v3 += [a for a in sorted(algorithms) if a.startswith(SPDX_ALGORITHMS)]
    if v3:
        return "3.0", f"detected: uses {v3[0]}"
    v2 = [_qname(graph, t) for t in V2_TERMS if t in used]
    v2 += [a for a in sorted(algorithms) if a.startswith(vocab.DCATDE_HASH_ALGORITHMS)]
    if v2:
        return "2.0", f"detected: uses {v2[0]}, deprecated in 3.0"
    return "3.0", "default: no version-specific term found"


def check_file(path: Path, *, profile: Profile | None = None, rules: Rules = "all") -> FileReport:
    """Read and validate one catalogue file against the official shapes and the project rules."""
    graph, fmt = read_catalogue(path)
    reason = "given"
    if profile is None:
        profile, reason = detect_profile(graph)
    report = FileReport(
        path=str(path),
        format=fmt,
        profile=profile,
        profile_reason=reason,
        triples=len(graph),
        datasets=len(set(graph.subjects(RDF.type, DCAT.Dataset))),
        rules=rules,
    )
    for part in ("official", "project"):
        if rules not in ("all", part):
            continue
        results = validate_graph(graph, profile=profile, fail_on="Warning", rules=part)
        for result in results:
            if _unverifiable(result):
                report.unverified.append(result)
            else:
                getattr(report, part).append(result)
    return report


def format_report(report: FileReport) -> str:
    """The human-readable report: one section per rule set, one line per result."""
    lines = [
        f"{report.path}: {report.format}, {report.triples} triples, {report.datasets} dataset(s); "
        f"DCAT-AP.de {report.profile} ({report.profile_reason})"
    ]
    sections = []
    if report.rules in ("all", "official"):
        sections.append((f"Official DCAT-AP.de {report.profile} SHACL shapes", report.official))
    if report.rules in ("all", "project"):
        sections.append((f"Project rules ({', '.join(PROJECT_SHAPE_FILES)})", report.project))
    for title, results in sections:
        lines.append(f"{title}: {_count(results)}")
        lines += [f"  {v.severity.lower()}: {v}{_node(v)}" for v in results]
    if report.unverified:
        lines.append(
            f"Not checkable offline ({len(report.unverified)}): the code list ships only in part "
            "(catalog/shapes/vocabularies/code-list-excerpt.ttl)"
        )
        lines += [f"  {v}{_node(v)}" for v in report.unverified]
    return "\n".join(lines)


def report_json(report: FileReport, fail_on: Severity) -> str:
    return json.dumps(report.to_json(fail_on), ensure_ascii=False, indent=2)


def _node(result: Violation) -> str:
    """The IRI a result is about, where the result names no value (e.g. a code's skos:inScheme)."""
    if result.value is None and result.focus.startswith(("http://", "https://")):
        return f" (node: {result.focus})"
    return ""


def _count(results: list[Violation]) -> str:
    violations = sum(v.severity == "Violation" for v in results)
    return f"{violations} violation(s), {len(results) - violations} warning(s)"


def _unverifiable(result: Violation) -> bool:
    """A failed code-list check on a code from a list of which only an excerpt ships."""
    for iri in (result.value, result.focus):
        if iri and vocab.in_partial_code_list(iri) and not vocab.is_known(iri):
            return True
    return False


def _error_position(exc: Exception) -> tuple[int | None, str]:
    """The 1-based line of a parser error and its reason, whichever parser raised it."""
    if isinstance(exc, BadSyntax):
        match = re.search(r"at line (\d+)", str(exc))
        return (int(match.group(1)) if match else None), exc._why
    if isinstance(exc, SAXParseException):
        return exc.getLineNumber(), exc.getMessage()
    if isinstance(exc, json.JSONDecodeError):
        return exc.lineno, exc.msg
    line = getattr(exc, "lineno", None) or getattr(exc, "line", None)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (line if isinstance(line, int) else None), first


def _qname(graph: Graph, term: URIRef) -> str:
    try:
        return graph.namespace_manager.normalizeUri(term)
    except ValueError:
        return str(term)
