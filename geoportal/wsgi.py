"""The WSGI application gunicorn serves: pygeoapi, plus the published files under /downloads.

pygeoapi reads ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` when its Flask module is imported,
which :func:`geoportal.server.prepare` sets up; importing this module elsewhere is a mistake.
"""

from __future__ import annotations

from pygeoapi.flask_app import APP
from werkzeug.middleware.shared_data import SharedDataMiddleware

from geoportal.settings import Settings

settings = Settings.from_env()
APP.wsgi_app = SharedDataMiddleware(  # type: ignore[method-assign]
    APP.wsgi_app, {"/downloads": str(settings.published_dir)}, cache_timeout=300
)
app = APP
