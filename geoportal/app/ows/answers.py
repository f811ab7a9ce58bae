"""What the WMS/WMTS answer when a request is wrong or the renderer fails.

MapProxy answers every refused request with HTTP 500 (its WMS exception handlers' default), a
parameter it cannot parse (``BBOX=a,b,c,d``, ``TILEROW=x``, ``BGCOLOR=zzz``) with a bare 500
"internal error", and a failing source with a message holding the renderer's command line
(the mapfile's path on the server). This wrapper makes them what a client and the issue's
robustness rules expect: a refused request is a 400 with the reason, a renderer failure a 502
without server paths (the details are in the server log), and an ``INFO_FORMAT`` the service
does not offer a 400 before MapServer sees it (MapServer would answer a 200 with its error).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from geoportal.app.ows.mapfile import INFO_FORMATS, MAX_IMAGE_PX

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: MapProxy's messages for a source (MapServer) that failed: the request itself was valid.
SOURCE_FAILURE = re.compile(r"no (image|json) returned from source|Could not get any sources|"
                            r"CGI (call|script)|No permission for CGI")
#: An absolute path of two or more parts (``/usr/bin/mapserv``, ``/srv/…/mapserver.map``).
SERVER_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.~-]+/)+[\w.~-]*")
UNREADABLE = ("invalid request: a parameter could not be read — BBOX is four numbers, WIDTH, "
              "HEIGHT, I, J, TILEROW and TILECOL are integers, BGCOLOR is 0xRRGGBB; a WMTS "
              "tile is /wmts/<layer>/<tile matrix set>/<level>/<col>/<row>.<jpeg|png>")
RENDERER_FAILED = "the map renderer failed for this request; the server log has the details"
EXCEPTION_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<ServiceExceptionReport '
                 'version="1.3.0" xmlns="http://www.opengis.net/ogc">\n<ServiceException'
                 '{code}>{text}</ServiceException>\n</ServiceExceptionReport>\n')


def client_errors(app: WSGIApp) -> WSGIApp:
    """Wrap MapProxy: the statuses and messages described in the module's docstring."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        pairs = [(k.upper(), v) for k, v in
                 parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)]
        refused = _unoffered_info_format(pairs)
        if refused:
            return _send(start_response, "400 BAD REQUEST", refused, "InvalidFormat")
        refused = _bad_size(pairs)
        if refused:
            return _send(start_response, "400 BAD REQUEST", refused, "InvalidParameterValue")
        held: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            if not status.startswith("500"):
                return start_response(status, headers, *exc)
            held["status"], held["headers"] = status, headers
            return lambda data: None

        body = app(environ, start)
        if not held:
            return body
        text = b"".join(body).decode("utf-8", "replace")
        if hasattr(body, "close"):
            body.close()
        return _rewritten(start_response, text, held["headers"])

    return wrapped


def _rewritten(start_response: Callable[..., Any], text: str,
               headers: list[tuple[str, str]]) -> list[bytes]:
    """A MapProxy 500 as 400 (the request was refused) or 502 (the renderer failed)."""
    if SOURCE_FAILURE.search(text):
        return _send(start_response, "502 BAD GATEWAY", RENDERER_FAILED, "")
    if text.startswith("internal error"):
        return _send(start_response, "400 BAD REQUEST", UNREADABLE, "InvalidParameterValue")
    body = SERVER_PATH.sub("…", text).encode()
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response("400 BAD REQUEST", [*kept, ("Content-Length", str(len(body)))])
    return [body]


def _bad_size(pairs: list[tuple[str, str]]) -> str | None:
    """WIDTH/HEIGHT outside 1…MAX_IMAGE_PX: MapProxy limits the pixel count only and hands a
    negative or 100,000 px wide image to MapServer, whose refusal would look like a failure."""
    for key, value in pairs:
        if key in {"WIDTH", "HEIGHT"} and not (value.isdigit() and
                                               1 <= int(value) <= MAX_IMAGE_PX):
            return f"{key} is a whole number of pixels from 1 to {MAX_IMAGE_PX}, not {value!r}"
    return None


def _unoffered_info_format(pairs: list[tuple[str, str]]) -> str | None:
    if not any(k == "REQUEST" and v.lower() == "getfeatureinfo" for k, v in pairs):
        return None
    asked = [v for k, v in pairs if k == "INFO_FORMAT"]
    if not asked or (len(asked) == 1 and asked[0] in INFO_FORMATS):
        return None  # none asked: MapProxy's default (the first offered)
    return (f"INFO_FORMAT {','.join(asked)!r} is not offered; give one of "
            f"{', '.join(INFO_FORMATS)}")


def _send(start_response: Callable[..., Any], status: str, text: str,
          code: str) -> list[bytes]:
    from html import escape

    attribute = f' code="{code}"' if code else ""
    body = EXCEPTION_XML.format(code=attribute, text=escape(text)).encode()
    start_response(status, [("Content-Type", "text/xml; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("Access-Control-Allow-Origin", "*")])
    return [body]
