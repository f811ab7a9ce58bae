"""The WSGI application gunicorn serves: pygeoapi, plus the published files under /downloads.

pygeoapi reads ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` when its Flask module is imported,
which :func:`geoportal.server.prepare` sets up; importing this module elsewhere is a mistake.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from typing import Any

from pygeoapi.flask_app import APP
from werkzeug.middleware.shared_data import SharedDataMiddleware

from geoportal import pygeoapi_patches
from geoportal.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TEXT_TYPES = ("text/html", "text/csv")
MEDIA_TYPES = [("application/geopackage+sqlite3", ".gpkg"), ("application/geo+json", ".geojson"),
               ("text/turtle", ".ttl"), ("application/ld+json", ".jsonld")]


def declare_utf8(app: WSGIApp) -> WSGIApp:
    """Add ``charset=utf-8`` to text responses that lack it.

    pygeoapi writes HTML and CSV in UTF-8 but sends a bare ``text/html``; clients that follow
    HTTP's old default (ISO-8859-1), ``requests`` among them, would garble every umlaut.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            fixed = [(k, f"{v}; charset=utf-8")
                     if k.lower() == "content-type" and v.startswith(TEXT_TYPES)
                     and "charset" not in v else (k, v) for k, v in headers]
            return start_response(status, fixed, *exc)

        return app(environ, start)

    return wrapped


pygeoapi_patches.apply()
for media_type, suffix in MEDIA_TYPES:  # the download server guesses types from suffixes
    mimetypes.add_type(media_type, suffix)
settings = Settings.from_env()
APP.wsgi_app = declare_utf8(SharedDataMiddleware(  # type: ignore[method-assign]
    APP.wsgi_app, {"/downloads": str(settings.published_dir)}, cache_timeout=300
))
app = APP
