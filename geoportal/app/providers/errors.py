"""The one place where the project's errors become pygeoapi's: status, OGC code and message.

pygeoapi answers a provider's failure only if it is a :class:`ProviderGenericError`, reading its
``http_status_code``, ``ogc_exception_code`` and ``message``; anything else escapes to Flask as a
bare 500. Our providers raise :class:`~geoportal.core.errors.GeoportalError` subclasses (which
``geoportal.core`` defines without knowing pygeoapi), and :func:`translate_errors` on each
provider class re-raises them as the pygeoapi error carrying the class's own status and code.

The translated error is an instance of the pygeoapi class of the same meaning (400 →
:class:`ProviderInvalidQueryError`, 404 → :class:`ProviderItemNotFoundError`), so code that
catches those, pygeoapi's or a caller's, still does. A client error sends its message; a server
fault sends pygeoapi's "check logs" text and keeps the details for the log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from http import HTTPStatus
from types import FunctionType
from typing import Any

from pygeoapi.provider.base import (
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geoportal.core.errors import GeoportalError

#: The pygeoapi class a translated error derives from, by status (else the generic one).
PYGEOAPI_CLASSES: dict[HTTPStatus, type[ProviderGenericError]] = {
    HTTPStatus.BAD_REQUEST: ProviderInvalidQueryError,
    HTTPStatus.NOT_FOUND: ProviderItemNotFoundError,
}
#: Marks a class :func:`translate_errors` has wrapped (tests check every provider has it).
MARK = "_geoportal_translates_errors"


def is_client_error(status: int) -> bool:
    return 400 <= status < 500


def provider_error(err: GeoportalError) -> ProviderGenericError:
    """The pygeoapi error that makes pygeoapi answer ``err``'s status, OGC code and message."""
    base = PYGEOAPI_CLASSES.get(err.http_status, ProviderGenericError)
    client = is_client_error(err.http_status)
    translated = base(str(err), user_msg=str(err) if client else None)
    translated.http_status_code = err.http_status
    translated.ogc_exception_code = err.ogc_code
    return translated


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except GeoportalError as err:
            raise provider_error(err) from err

    return wrapped


def translate_errors[T: type](cls: T) -> T:
    """Class decorator: every public method (and ``__init__``) of a provider class re-raises a
    :class:`GeoportalError` as :func:`provider_error` makes it; pygeoapi's own errors pass."""
    for name, value in list(vars(cls).items()):
        if isinstance(value, FunctionType) and (name == "__init__" or not name.startswith("_")):
            setattr(cls, name, _translating(value))
    setattr(cls, MARK, True)
    return cls


#: The status of the exception answer pygeoapi is composing (set by :func:`logged_by_status`).
ANSWERING: ContextVar[int | None] = ContextVar("answering", default=None)


class OneLineClientErrors(logging.Filter):
    """Log pygeoapi's record of a client error as one WARNING line, without a traceback.

    pygeoapi logs every exception answer at ERROR with the exception being handled; for a 4xx
    that is a client's typo, and an ERROR with a stack trace for it buries the server's real
    faults (an operator's alert on ERROR would fire for every mistyped bbox).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        status = ANSWERING.get()
        if isinstance(exc, ProviderGenericError):
            status = exc.http_status_code
        if status is not None and is_client_error(status):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def logged_by_status(get_exception: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``API.get_exception`` so that its log record knows the status it answers with."""

    @functools.wraps(get_exception)
    def wrapped(self: Any, status: int, *args: Any, **kwargs: Any) -> Any:
        token = ANSWERING.set(int(status))
        try:
            return get_exception(self, status, *args, **kwargs)
        finally:
            ANSWERING.reset(token)

    return wrapped


def logged_as_bad_request(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a method that logs a client's mistake itself before answering it with a 400.

    pygeoapi's ``API.get_format_exception`` (an unknown ``f=``) writes its own ERROR line first;
    inside this wrapper that line is a client error too, for :class:`OneLineClientErrors`.
    """
    if getattr(method, "_logged_as_bad_request", False):  # apply() may run twice
        return method

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = ANSWERING.set(HTTPStatus.BAD_REQUEST)
        try:
            return method(*args, **kwargs)
        finally:
            ANSWERING.reset(token)

    wrapped._logged_as_bad_request = True  # type: ignore[attr-defined]
    return wrapped


def quiet_client_errors(logger_name: str = "pygeoapi.api") -> None:
    """Install :class:`OneLineClientErrors` on pygeoapi's API logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, OneLineClientErrors) for f in logger.filters):
        logger.addFilter(OneLineClientErrors())
