"""Exceptions of the catalogue publisher.

They follow the project's style (see :mod:`geoportal.core.errors`): each derives from
:class:`~geoportal.core.errors.GeoportalError` and from the standard-library type a caller
would catch.
Messages name the dataset and the field, and never contain a credential: they end up in CI logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.core.errors import GeoportalError


class CatalogError(GeoportalError):
    """Base class of the catalogue publisher's errors."""


class CatalogMappingError(CatalogError, ValueError):
    """A registry value has no counterpart in a DCAT-AP.de vocabulary or in CKAN's limits."""


@dataclass(frozen=True)
class Violation:
    """One SHACL result, reduced to what a GIS officer needs to fix the registry entry."""

    dataset_id: str | None  # None: the catalogue itself, not one dataset
    path: str  # the property, e.g. "dcat:contactPoint" or "dcat:distribution/dct:license"
    message: str
    severity: str  # "Violation" or "Warning"
    focus: str
    value: str | None = None

    def __str__(self) -> str:
        where = self.dataset_id or "catalogue"
        value = f" (value: {self.value})" if self.value else ""
        return f"{where}: {self.path}: {self.message} [{self.severity}]{value}"


class CatalogValidationError(CatalogError, ValueError):
    """The DCAT-AP.de description of one or more datasets breaks the SHACL shapes."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        self.dataset_ids = sorted({v.dataset_id or "catalogue" for v in violations})
        listing = "\n".join(f"  - {v}" for v in violations)
        super().__init__(
            f"DCAT-AP.de validation failed for {', '.join(self.dataset_ids)}:\n{listing}"
        )


class CatalogParseError(CatalogError, ValueError):
    """A catalogue file is not the RDF its name or content says (Turtle, RDF/XML, JSON-LD)."""

    def __init__(self, path: object, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {' '.join(reason.split())}")


class CkanError(CatalogError, RuntimeError):
    """CKAN refused or could not process a request for one dataset."""

    def __init__(self, dataset_id: str, message: str) -> None:
        self.dataset_id = dataset_id
        super().__init__(f"{dataset_id}: {message}")


class CkanUnavailableError(CatalogError, ConnectionError):
    """CKAN could not be reached, or kept failing, after every retry."""
