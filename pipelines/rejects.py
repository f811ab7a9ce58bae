"""The rejects report: every row a pipeline could not publish, and every value it had to drop.

Nothing is dropped silently. A row that cannot be placed on the map (no readable coordinates, a
required value missing) is *rejected*; a row whose optional value is unreadable or out of range is
published with that value emptied and the fact *noted*; a value that could be read only after an
unambiguous fix (decimal commas inside WKT) is *repaired* and noted. The report keeps counts per
reason and a few examples each, so the data owner can fix the source.

Rows left out on purpose by the registry's row filter (``source.where``: only living trees) are
not problems: they are counted as *filtered*, apart from the rejects, and their issues dropped.
Warnings about the layer as a whole (a less accurate CRS transformation) travel with the report
to the build summary and the layer's metadata.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

# "flagged": published as it is, but implausible (a parcel whose area disagrees with ALKIS)
Severity = Literal["rejected", "nulled", "repaired", "flagged"]
EXAMPLES_PER_REASON = 5


@dataclass(frozen=True)
class Issue:
    """One problem found in one row of a raw input."""

    line: int
    severity: Severity
    reason: str
    column: str | None = None
    value: str | None = None


@dataclass
class RejectsReport:
    """Collects issues while a source is read and conformed; written next to the output."""

    dataset_id: str
    source: str
    rows_read: int = 0
    rows_published: int = 0
    rows_filtered: int = 0
    issues: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(
        self,
        line: int,
        severity: Severity,
        reason: str,
        column: str | None = None,
        value: object = None,
    ) -> None:
        shown = None if value is None else str(value)[:200]
        self.issues.append(Issue(int(line), severity, reason, column, shown))

    def count(self, severity: Severity) -> int:
        return sum(1 for i in self.issues if i.severity == severity)

    @property
    def rejected_lines(self) -> set[int]:
        return {i.line for i in self.issues if i.severity == "rejected"}

    def filtered(self, lines: set[int]) -> None:
        """Count ``lines`` as left out by the row filter and forget what was noted about them."""
        self.rows_filtered += len(lines)
        self.issues = [i for i in self.issues if i.line not in lines]

    @property
    def rejected_share(self) -> float:
        """Rejected rows as a share of the rows the filter kept (0 for an empty source)."""
        considered = self.rows_read - self.rows_filtered
        return len(self.rejected_lines) / considered if considered > 0 else 0.0

    def summary(self) -> dict[str, object]:
        by_reason = Counter((i.severity, i.reason) for i in self.issues)
        examples: dict[str, list[dict[str, object]]] = {}
        for issue in self.issues:
            key = f"{issue.severity}: {issue.reason}"
            bucket = examples.setdefault(key, [])
            if len(bucket) < EXAMPLES_PER_REASON:
                bucket.append({"line": issue.line, "column": issue.column, "value": issue.value})
        return {
            "dataset": self.dataset_id,
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_published": self.rows_published,
            "rows_filtered": self.rows_filtered,
            "rows_rejected": len(self.rejected_lines),
            "values_nulled": self.count("nulled"),
            "values_repaired": self.count("repaired"),
            "by_reason": {f"{s}: {r}": n for (s, r), n in sorted(by_reason.items())},
            "examples": examples,
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["line", "severity", "reason", "column", "value"])
        for i in sorted(self.issues, key=lambda i: (i.line, i.severity)):
            writer.writerow([i.line, i.severity, i.reason, i.column or "", i.value or ""])
        return out.getvalue()

    def headline(self) -> str:
        s = self.summary()
        filtered = f", {s['rows_filtered']} filtered out" if s["rows_filtered"] else ""
        return (
            f"{s['rows_published']} of {s['rows_read']} rows published{filtered}, "
            f"{s['rows_rejected']} rejected, {s['values_nulled']} values emptied, "
            f"{s['values_repaired']} repaired"
        )
