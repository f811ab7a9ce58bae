"""The error hierarchy and its one translation into pygeoapi's answers.

Every :class:`GeoportalError` declares the HTTP status and OGC code the server answers with; the
client's mistakes are 4xx, everything else (a build, the catalogue, the server's own files) 500.
"""

from __future__ import annotations

import importlib
import logging
import sys
from http import HTTPStatus

import pytest
import yaml
from pygeoapi.provider.base import (
    ProviderConnectionError,
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geoportal.app.providers.errors import (
    MARK,
    OneLineClientErrors,
    provider_error,
    translate_errors,
)
from geoportal.core.errors import GeoportalError, InvalidQueryError, ItemNotFoundError
from geoportal.core.settings import PROJECT_ROOT

#: The mistakes a client can make, with the status and OGC code each one must answer.
CLIENT_ERRORS = {
    InvalidQueryError: (HTTPStatus.BAD_REQUEST, "InvalidParameterValue"),
    ItemNotFoundError: (HTTPStatus.NOT_FOUND, "NotFound"),
}
#: The modules that define GeoportalError subclasses (``grep -rn "(GeoportalError\|Error)"``).
ERROR_MODULES = ["geoportal.core.errors", "geoportal.app.postgis", "catalog.errors",
                 "pipelines.lidar.copc", "pipelines.readers"]


def all_error_classes() -> list[type[GeoportalError]]:
    """Every GeoportalError subclass of the modules that define errors."""
    for name in ERROR_MODULES:
        importlib.import_module(name)
    found, todo = [], [GeoportalError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_declares_a_status_for_its_meaning(cls: type[GeoportalError]) -> None:
    assert isinstance(cls.http_status, HTTPStatus)
    assert isinstance(cls.ogc_code, str) and cls.ogc_code
    if cls in CLIENT_ERRORS:
        assert (cls.http_status, cls.ogc_code) == CLIENT_ERRORS[cls]
    else:  # nothing a request names: the server's or the build's fault
        assert cls.http_status == HTTPStatus.INTERNAL_SERVER_ERROR, cls


def test_client_errors_derive_from_the_stdlib_types() -> None:
    assert issubclass(InvalidQueryError, ValueError)
    assert issubclass(ItemNotFoundError, LookupError)


@pytest.mark.parametrize("cls,pygeoapi_cls", [(InvalidQueryError, ProviderInvalidQueryError),
                                              (ItemNotFoundError, ProviderItemNotFoundError)])
def test_a_client_error_becomes_the_pygeoapi_error_of_the_same_meaning(cls, pygeoapi_cls) -> None:
    translated = provider_error(cls("bbox must contain numbers"))
    assert isinstance(translated, pygeoapi_cls)
    assert translated.http_status_code == cls.http_status
    assert translated.ogc_exception_code == cls.ogc_code
    assert translated.message == "bbox must contain numbers"


def test_a_server_fault_keeps_its_details_for_the_log() -> None:
    translated = provider_error(GeoportalError("/srv/secret/path: disk full"))
    assert translated.http_status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "/srv" not in translated.message and "/srv" in str(translated)


@translate_errors
class _Provider:
    def __init__(self, fail: bool = False) -> None:
        if fail:
            raise InvalidQueryError("bad option")

    def query(self, error: Exception) -> None:
        raise error

    def _helper(self) -> None:
        raise InvalidQueryError("private helpers are not wrapped; their callers are")


def test_translate_errors_wraps_public_methods_and_init() -> None:
    with pytest.raises(ProviderInvalidQueryError, match="bad option"):
        _Provider(fail=True)
    with pytest.raises(ProviderItemNotFoundError) as err:
        _Provider().query(ItemNotFoundError("no feature 'x'"))
    assert isinstance(err.value.__cause__, ItemNotFoundError)
    pygeoapi_own = ProviderConnectionError("down")
    with pytest.raises(ProviderConnectionError) as err:
        _Provider().query(pygeoapi_own)
    assert err.value is pygeoapi_own
    with pytest.raises(InvalidQueryError):
        _Provider()._helper()


def test_every_provider_of_ours_translates_errors() -> None:
    """A provider class that forgets the decorator would let a GeoportalError become a 500."""
    config = yaml.safe_load((PROJECT_ROOT / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    names = {p["name"] for res in config["resources"].values() for p in res.get("providers", [])
             if p["name"].startswith("geoportal.")}
    names.add("geoportal.app.providers.postgis.PostGISProvider")  # the query tests' back end
    assert len(names) >= 4
    for name in sorted(names):
        module, _, cls = name.rpartition(".")
        assert getattr(getattr(importlib.import_module(module), cls), MARK, False), name


def test_client_errors_are_logged_as_one_line() -> None:
    def record(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            return logging.LogRecord("pygeoapi.api", logging.ERROR, __file__, 1, str(exc), None,
                                     sys.exc_info())

    client = record(provider_error(InvalidQueryError("bbox must contain numbers")))
    fault = record(ProviderGenericError("database down"))
    assert OneLineClientErrors().filter(client) and client.exc_info is None
    assert OneLineClientErrors().filter(fault) and fault.exc_info is not None
