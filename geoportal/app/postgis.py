"""Copy published layers into PostgreSQL/PostGIS, and run a private PostGIS cluster.

A city that runs PostgreSQL can serve the same layers from it with
:class:`geoportal.app.providers.postgis.PostGISProvider`. :func:`load_layer` copies one published
GeoPackage table with GDAL's ``ogr2ogr`` (Debian ``gdal-bin``): same columns and types, the
geometry in the file's CRS (EPSG:25832) with a GiST index, and the GeoPackage row id kept as
``fid`` — the provider's tie-breaker, so pages come in the same order as from the file.
The copy goes into a new table that replaces the old one in one transaction, so readers see
the old or the new layer, never half of one.

Dates (``type: date`` in the registry) arrive as ``text`` columns holding ISO ``YYYY-MM-DD``,
because the published GeoPackage stores them as TEXT (pyogrio writes Python dates so). Both
back ends therefore compare them as ISO strings, which orders like dates, and give the same
answers (``tests/query``); a ``date`` column type would need the GeoPackage writer to declare
DATE first, a change to every output, left for later.

:class:`Cluster` starts a throw-away cluster (``initdb`` + ``pg_ctl`` as the ``postgres`` user
when run as root) on a local port: the project's tests and benchmarks use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geoportal.core.errors import GeoportalError
from geoportal.core.settings import Settings


class PostGISError(GeoportalError, RuntimeError):
    """PostgreSQL/PostGIS is missing, did not start, or refused a load."""


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    dbname: str
    user: str = "postgres"

    def ogr(self) -> str:
        return f"PG:host={self.host} port={self.port} dbname={self.dbname} user={self.user}"

    def provider_data(self) -> dict[str, object]:
        """The ``data`` member of a pygeoapi PostgreSQL provider definition."""
        return {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user}

    def psql(self, sql: str) -> str:
        cmd = ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.dbname,
               "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise PostGISError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()


def load_layer(gpkg: Path, conn: Connection, table: str) -> int:
    """Copy the first feature table of ``gpkg`` into ``table``; return its row count."""
    if shutil.which("ogr2ogr") is None:
        raise PostGISError("ogr2ogr not found (Debian gdal-bin; scripts/install-system-deps.sh)")
    staging = f"{table}__loading"
    cmd = ["ogr2ogr", "-f", "PostgreSQL", conn.ogr(), str(Path(gpkg).resolve()),
           "-nln", staging, "-overwrite", "-preserve_fid", "-lco", "FID=fid",
           "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST", "-lco", "LAUNDER=NO",
           "--config", "PG_USE_COPY", "YES"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise PostGISError(f"ogr2ogr {gpkg} -> {table}: {done.stderr.strip()}")
    conn.psql(
        f'BEGIN; DROP TABLE IF EXISTS "{table}"; ALTER TABLE "{staging}" RENAME TO "{table}"; '
        f'ANALYZE "{table}"; COMMIT;'
    )
    return int(conn.psql(f'SELECT count(*) FROM "{table}"'))


class Cluster:
    """A private PostgreSQL cluster with PostGIS in ``base`` on ``port`` (stop() removes it)."""

    def __init__(self, base: Path, port: int, dbname: str = "geoportal",
                 pg_bin: Path | None = None) -> None:
        self.base, self.port, self.dbname = Path(base), port, dbname
        self.pg_bin = pg_bin or Settings.from_env().pg_bin
        self.data = self.base / "pgdata"
        self.conn = Connection("127.0.0.1", port, dbname)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.pg_bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True)

    def start(self) -> Connection:
        if not (self.pg_bin / "initdb").exists():
            raise PostGISError(f"PostgreSQL not found in {self.pg_bin} (Debian postgresql-15)")
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        steps = [
            ("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8"),
            ("pg_ctl", "-D", str(self.data), "-l", str(self.base / "pg.log"), "-w", "-t", "60",
             "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off "
             "-c full_page_writes=off -c synchronous_commit=off", "start"),
        ]
        for step in steps:
            done = self._run(*step)
            if done.returncode:
                raise PostGISError(f"{step[0]} failed: {done.stderr.strip() or done.stdout}")
        postgres = Connection("127.0.0.1", self.port, "postgres")
        for _ in range(50):
            try:
                postgres.psql(f'CREATE DATABASE "{self.dbname}"')
                break
            except PostGISError:
                time.sleep(0.1)
        try:
            self.conn.psql("CREATE EXTENSION IF NOT EXISTS postgis")
        except PostGISError as err:
            raise PostGISError(f"{err} (Debian postgresql-15-postgis-3 installed?)") from err
        return self.conn

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)
