"""The project's exceptions.

A flat hierarchy in rasterio's style: every class derives from :class:`GeoportalError` *and* from
the standard-library type a caller would naturally catch, so ``except ValueError`` still works for
code that does not know this package. Each class also carries the HTTP status and OGC exception
code it maps to, in pygeoapi's style, so the serving layer never has to guess: the providers
raise these, and :mod:`geoportal.app.providers.errors` turns them into the answer pygeoapi sends.
A 4xx class is a mistake a client can make (its message goes to the client); every other class is
a fault of the build or the server and keeps the default 500.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from pathlib import Path


def display_path(path: Path | str) -> str:
    """A path as a person reads it in a message: relative to the working folder when inside
    it (``datasets/trees.yml``), else as given."""
    text = os.fspath(path)
    try:
        relative = os.path.relpath(text)
    except ValueError:
        return text
    return text if relative.startswith("..") else relative


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
        where = display_path(self.path)
        if len(problems) == 1:  # one line: a person (and a CI log) reads it at a glance
            super().__init__(f"{where}: {problems[0]}")
            return
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{where}: {len(problems)} problems:\n{listing}")


class SourceError(GeoportalError, OSError):
    """A raw input named by the registry is missing or unreadable as a whole.

    A 500, not a 404: no request names a raw input, so its absence is the operator's to fix.
    """


class SourceFormatError(GeoportalError, ValueError):
    """A raw input can be opened but does not have the structure its registry entry promises."""


class CRSMismatchError(GeoportalError, ValueError):
    """Inputs that must share a coordinate reference system do not."""


class TransformationError(CRSMismatchError):
    """A source CRS can reach the storage CRS only less accurately than PROJ knows how to (a
    datum grid such as BETA2007 is not installed) or not at all."""


class TooManyRejectsError(SourceFormatError):
    """More of a delivery's rows were rejected than the dataset allows: the delivery (or its
    column mapping) is wrong as a whole, so nothing is published and the old version stays."""


class PipelineError(GeoportalError, RuntimeError):
    """A pipeline could not build one of its work units."""


class PluginError(GeoportalError, ImportError):
    """A plugin key or dotted path (a pipeline kind, a provider) that cannot be loaded."""


class TilesError(GeoportalError, RuntimeError):
    """The tile builder (tippecanoe) is missing or failed; the message carries its own words."""


class PublishError(GeoportalError, OSError):
    """Publishing (the atomic swap of a finished output) failed; the previous output stays."""


class InvalidQueryError(GeoportalError, ValueError):
    """A request parameter is out of range or malformed."""

    http_status = HTTPStatus.BAD_REQUEST
    ogc_code = "InvalidParameterValue"


class UnknownFormatError(GeoportalError, KeyError):
    """A file format (name or extension) that the formats table (``geoportal/core/formats.py``)
    does not describe."""

    def __str__(self) -> str:  # KeyError would print the message in quotes, as a repr
        return str(self.args[0]) if self.args else ""


class ItemNotFoundError(GeoportalError, LookupError):
    """The request names something (a feature id, a tile) that the collection does not have."""

    http_status = HTTPStatus.NOT_FOUND
    ogc_code = "NotFound"
