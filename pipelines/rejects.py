"""The rejects report: every row a pipeline could not publish, and every value it had to drop.

Nothing is dropped silently. A row that cannot be placed on the map (no readable coordinates, a
required value missing) is *rejected*; a row whose optional value is unreadable or out of range is
published with that value emptied and the fact *noted*; a value that could be read only after an
unambiguous fix (decimal commas inside WKT) is *repaired* and noted. The report keeps counts per
reason and a few examples each, so the data owner can fix the source.
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
    issues: list[Issue] = field(default_factory=list)

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
            "rows_rejected": len(self.rejected_lines),
            "values_nulled": self.count("nulled"),
            "values_repaired": self.count("repaired"),
            "by_reason": {f"{s}: {r}": n for (s, r), n in sorted(by_reason.items())},
            "examples": examples,
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
        return (
            f"{s['rows_published']} of {s['rows_read']} rows published, "
            f"{s['rows_rejected']} rejected, {s['values_nulled']} values emptied, "
            f"{s['values_repaired']} repaired"
        )
