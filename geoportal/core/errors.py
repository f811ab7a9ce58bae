"""The project's exceptions.

A flat hierarchy in rasterio's style: every class derives from :class:`GeoportalError` *and* from
the standard-library type a caller would naturally catch, so ``except ValueError`` still works for
code that does not know this package. Each class also carries the HTTP status and OGC exception
code it maps to, in pygeoapi's style, so the serving layer never has to guess.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path


class GeoportalError(Exception):
    """Base class of every error this package raises on purpose."""

    http_status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    ogc_code: str = "NoApplicableCode"


class RegistryError(GeoportalError, ValueError):
    """A dataset description in ``datasets/`` is malformed or inconsistent.

    The message always names the file and the field, and says what was expected, because the
    person reading it is a GIS officer editing YAML, not a Python developer.
    """

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{self.path}: invalid dataset description:\n{listing}")


class SourceError(GeoportalError, OSError):
    """A raw input named by the registry is missing or unreadable as a whole."""

    http_status = HTTPStatus.NOT_FOUND


class SourceFormatError(GeoportalError, ValueError):
    """A raw input can be opened but does not have the structure its registry entry promises."""


class CRSMismatchError(GeoportalError, ValueError):
    """Inputs that must share a coordinate reference system do not."""


class PipelineError(GeoportalError, RuntimeError):
    """A pipeline could not build one of its work units."""


class PublishError(GeoportalError, OSError):
    """Publishing (the atomic swap of a finished output) failed; the previous output stays."""


class InvalidQueryError(GeoportalError, ValueError):
    """A request parameter is out of range or malformed."""

    http_status = HTTPStatus.BAD_REQUEST
    ogc_code = "InvalidParameterValue"
