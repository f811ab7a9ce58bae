"""Fixtures for the query tests: a private PostGIS cluster holding the portal's published
layers, and one pygeoapi server that serves every feature layer twice — ``<id>`` from the
published GeoPackage (embedded back end) and ``<id>_pg`` from PostGIS (pygeoapi's PostgreSQL
provider with our fixes) — so both answer the same HTTP requests in the same process setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from testkit import EPSG_25832, MAX_ITEMS, free_port, missing

from geoportal.core.settings import Settings


@pytest.fixture(scope="session")
def pg() -> Iterator[object]:
    """A throw-away PostgreSQL 15 + PostGIS cluster on a free local port."""
    from geoportal.app.postgis import Cluster, PostGISError
    from geoportal.core.settings import Settings

    if not (Settings.from_env().pg_bin / "initdb").exists() or shutil.which("ogr2ogr") is None:
        missing("PostgreSQL 15 / ogr2ogr not installed; run scripts/install-system-deps.sh")
    # not under pytest's tmp folders: those are private to root, and PostgreSQL runs as postgres
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="geoportal-pg-")), free_port())
    try:
        conn = cluster.start()
    except PostGISError as err:
        cluster.stop()
        missing(str(err))
    try:
        yield conn
    finally:
        cluster.stop()


def feature_layers(settings: Settings) -> dict[str, dict]:
    """The runtime pygeoapi resources that serve features from a published GeoPackage."""
    from geoportal.app.server import prepare

    runtime = prepare(settings)
    config = yaml.safe_load(runtime.config.read_text(encoding="utf-8"))
    return config, {
        rid: res for rid, res in config["resources"].items()
        if any(p.get("name", "").endswith("GeoPackageProvider") for p in res["providers"])
    }


@pytest.fixture(scope="session")
def dual_server(portal: Settings, pg) -> Iterator[str]:
    """pygeoapi serving each feature layer from the GeoPackage and (as ``<id>_pg``) PostGIS."""
    from pygeoapi.openapi import generate_openapi_document

    from geoportal.app.postgis import load_layer
    from geoportal.app.providers.postgis import PostGISProvider
    from geoportal.app.server import gunicorn_command, stop, wait_until_ready

    config, layers = feature_layers(portal)
    for rid, resource in layers.items():
        gpkg = portal.published_dir / rid / f"{rid}.gpkg"
        load_layer(gpkg, pg, rid)
        source = next(p for p in resource["providers"] if p["type"] == "feature")
        twin = {**resource, "providers": [{
            "type": "feature",
            "name": f"{PostGISProvider.__module__}.{PostGISProvider.__name__}",
            "data": pg.provider_data(),
            "table": rid,
            "id_field": source["id_field"],
            "geom_field": "geom",
            "storage_crs": EPSG_25832,
            "crs": source["crs"],
        }]}
        config["resources"][f"{rid}_pg"] = twin
    # a maximum page size below the largest layer, so that capping a larger limit is visible
    config["server"]["limits"] = {**config["server"].get("limits", {}), "max_items": MAX_ITEMS}
    port = free_port()
    config["server"]["url"] = f"http://127.0.0.1:{port}"
    runtime = portal.data_dir / "pygeoapi-dual.yml"
    runtime.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    openapi = portal.data_dir / "openapi-dual.yml"
    openapi.write_text(generate_openapi_document(runtime, "yaml"))
    env = {**os.environ, **portal.as_env(), "PYGEOAPI_CONFIG": str(runtime),
           "PYGEOAPI_OPENAPI": str(openapi)}
    log = open(portal.data_dir / "dual-server.log", "ab")  # noqa: SIM115 - lives with the server
    proc = subprocess.Popen(gunicorn_command("127.0.0.1", port, 2), env=env, cwd=portal.root,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/conformance?f=json", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()
