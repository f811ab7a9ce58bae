"""The catalogue for SDI harvesters: CSW 2.0.2 with ISO 19139 records (pycsw) at ``/csw``.

The GDI-DE and geoportal.de harvest through CSW. pycsw answers the protocol (GetCapabilities,
DescribeRecord, GetRecords with OGC filters or CQL, GetRecordById, GetDomain) from an SQLite
repository that :func:`write_repository` fills at start-up (:func:`geoportal.app.server.prepare`)
with the ISO records of :mod:`catalog.iso`, made from the same :class:`~catalog.model.Record`
as the DCAT-AP.de catalogue: a dataset is described once, in ``datasets/<id>.yml``.

pycsw 3.0's own repository class speaks SQLAlchemy 1.4 (``declarative_base(bind=...)``,
``MetaData(engine)``), and the server runs SQLAlchemy 2 (pygeoapi's). :class:`Repository`
binds pycsw's query code to the table the SQLAlchemy 2 way; pycsw loads it as a custom
repository (``repository.source``), its documented extension point. The repository is
read-only: no CSW-T, no harvesting of other catalogues.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pycsw.core import repository as pycsw_repository
from pycsw.core.config import StaticContext
from sqlalchemy import Column, Engine, MetaData, Table, Text, create_engine, event, func
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.pool import NullPool

from catalog.iso import iso_record
from catalog.model import Record
from geoportal.core.publish import atomic_path, atomic_write_text
from geoportal.core.registry import Organisation
from geoportal.core.settings import Settings

log = logging.getLogger(__name__)
TABLE = "records"
DB_FILE = "csw.sqlite"
CONFIG_FILE = "pycsw.json"
#: The server process's repository file, set by :func:`configure` (gunicorn imports this module
#: in every worker; the file name comes from the settings there).
REPOSITORY_ENV = "GEOPORTAL_CSW_DB"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def capabilities_schema() -> Path:
    """The CSW 2.0.2 discovery schema as pycsw ships it (offline validation of its answers)."""
    import pycsw

    return Path(pycsw.__file__).parent / "core/schemas/ogc/csw/2.0.2/CSW-discovery.xsd"


def repository_path(settings: Settings) -> Path:
    return settings.data_dir / DB_FILE


class Repository(pycsw_repository.Repository):
    """pycsw's repository (queries, paging, sorting, spatial functions) on SQLAlchemy 2."""

    def __init__(self, context: StaticContext, repo_filter: str | None = None,
                 database: str | None = None) -> None:
        self.context = context
        self.filter = repo_filter
        self.fts = False
        self.database = database or f"sqlite:///{os.environ[REPOSITORY_ENV]}"
        self.table = TABLE
        self.engine = _engine(self.database)
        base = declarative_base()
        table = Table(TABLE, base.metadata, autoload_with=self.engine)
        self.dataset = type("dataset", (base,), {"__table__": table})
        self.dbtype = self.engine.name
        self.session = Session(self.engine)
        self.func = func
        self.postgis_geometry_column = None
        self.query_mappings = {name: getattr(self.dataset, column) for name, column in {
            "identifier": "identifier", "type": "type", "typename": "typename",
            "parentidentifier": "parentidentifier", "collections": "parentidentifier",
            "updated": "insert_date", "title": "title", "description": "abstract",
            "keywords": "keywords", "edition": "edition", "anytext": "anytext",
            "bbox": "wkt_geometry", "date": "date", "time_begin": "time_begin",
            "time_end": "time_end", "platform": "platform", "instrument": "instrument",
            "sensortype": "sensortype"}.items()}
        self.queryables: dict[str, dict[str, Any]] = {}
        for typename in context.model["typenames"].values():
            for name, queryables in typename["queryables"].items():
                self.queryables.setdefault(name, {}).update(queryables)
        self.queryables["_all"] = {key: value for group in list(self.queryables.values())
                                   for key, value in group.items()}
        self.queryables["_all"].update(context.md_core_model["mappings"])


@lru_cache(maxsize=8)
def _engine(database: str) -> Engine:
    """An engine that opens the file anew for every request (no pool): a rebuild replaces the
    file (:func:`write_repository`), and a pooled connection would keep reading the old one.
    Each connection gets pycsw's SQL functions (query_spatial, get_anytext, …)."""
    engine = create_engine(database, poolclass=NullPool)
    event.listen(engine, "connect", lambda connection, _record:
                 pycsw_repository.create_custom_sql_functions(connection))
    return engine


def _create_table(database: str) -> None:
    """pycsw's record table: one text column per field of its core model (``mappings``)."""
    columns = sorted(set(StaticContext().md_core_model["mappings"].values()) - {"identifier"})
    table = Table(TABLE, MetaData(), Column("identifier", Text, primary_key=True),
                  *(Column(name, Text) for name in columns))
    engine = create_engine(database)
    table.create(engine)
    engine.dispose()


def write_repository(records: Iterable[Record], path: Path) -> int:
    """Fill a new SQLite repository with one ISO record per dataset, then swap it in.

    pycsw's own ISO parser (``parse_record``) extracts the queryables (title, abstract,
    keywords, bbox, …) from the XML, exactly as it would for a harvested record; a worker that
    is answering meanwhile keeps the old file open until its request ends.
    """
    from pycsw.core import metadata, util

    count = 0
    with atomic_path(path) as staging:
        database = f"sqlite:///{staging}"
        _create_table(database)
        context = StaticContext()
        repo = Repository(context, database=database)
        for record in records:
            for parsed in metadata.parse_record(context, iso_record(record), repo):
                repo.insert(parsed, "local", util.get_today_and_now())
                count += 1
        repo.session.close()
    return count


def pycsw_config(settings: Settings, contact: Organisation | None,
                 publisher: Organisation | None) -> dict[str, Any]:
    """pycsw's configuration: the portal's URL, the city as provider, no transactions."""
    name = publisher.name if publisher else "Stadt Ratingen"
    return {
        # language: of pycsw's own (English) messages; pycsw's exception reports need one
        "server": {"url": f"{settings.url.rstrip('/')}/csw", "mimetype":
                   "application/xml; charset=UTF-8", "encoding": "UTF-8", "language": "en-US",
                   "maxrecords": 100, "pretty_print": True, "domainquerytype": "list",
                   "domaincounts": False, "profiles": ["apiso"]},
        "logging": {"level": "ERROR"},
        "profiles": ["apiso"],
        "manager": {"transactions": False, "allowed_ips": []},
        "metadata": {
            "identification": {
                "title": "Geoportal Ratingen – Katalog (CSW)",
                "description": "Metadaten der offenen Geodaten der Stadt Ratingen (ISO 19139)",
                "keywords": ["Geodaten", "Ratingen", "Open Data", "Metadaten"],
                "keywords_type": "theme", "fees": "keine", "accessconstraints": "keine"},
            "provider": {"name": name, "url": publisher.url if publisher else ""},
            "contact": {"name": contact.name if contact else name, "position": "",
                        "address": publisher.address if publisher and publisher.address else "",
                        "city": "Ratingen", "stateorprovince": "Nordrhein-Westfalen",
                        "postalcode": "", "country": "Deutschland", "phone": "", "fax": "",
                        "email": contact.email if contact and contact.email else "",
                        "url": contact.url if contact and contact.url else "",
                        "hours": "", "instructions": "", "role": "pointOfContact"},
            "inspire": {"enabled": False},
        },
        "repository": {"database": f"sqlite:///{repository_path(settings)}", "table": TABLE,
                       "source": f"{__name__}.Repository"},
    }


def write_config(settings: Settings, contact: Organisation | None,
                 publisher: Organisation | None) -> Path:
    """Write :func:`pycsw_config` beside the repository, for the server's workers to read."""
    path = settings.data_dir / CONFIG_FILE
    atomic_write_text(path, json.dumps(pycsw_config(settings, contact, publisher),
                                       ensure_ascii=False, indent=1))
    return path


@lru_cache(maxsize=4)
def _read_config(path: str, mtime_ns: int) -> dict[str, Any]:
    """The config file's contents, read once per version of the file (``mtime_ns``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def csw_app(settings: Settings) -> WSGIApp:
    """pycsw's CSW as a WSGI app; one :class:`pycsw.server.Csw` per request, as pycsw's own."""
    from pycsw import server

    database = repository_path(settings)
    config_path = settings.data_dir / CONFIG_FILE
    os.environ[REPOSITORY_ENV] = str(database)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not database.is_file() or not config_path.is_file():
            start_response("503 SERVICE UNAVAILABLE", [("Content-Type", "text/plain")])
            return [b"the catalogue has not been written yet (geoportal serve writes it)\n"]
        config = _read_config(str(config_path), config_path.stat().st_mtime_ns)
        csw = server.Csw({**config, "server": dict(config["server"])}, dict(environ))
        csw.orm = "sqlalchemy"  # the filters become SQLAlchemy text() with bound parameters
        try:
            status, contents = csw.dispatch_wsgi()
        finally:
            if getattr(csw, "repository", None) is not None:
                csw.repository.session.close()
        start_response(status, [("Content-Type", str(csw.contenttype)),
                                ("Content-Length", str(len(contents))),
                                ("Access-Control-Allow-Origin", "*")])
        return [contents]

    return app
