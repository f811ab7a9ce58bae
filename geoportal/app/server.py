"""Start the geoportal: prepare pygeoapi's runtime files, then run it under gunicorn.

The committed ``pygeoapi-config.yml`` lists every dataset of the registry. At start-up the layers
that have never been built are left out of the *runtime* copy (with a warning naming them), since
pygeoapi would otherwise fail on them while writing its OpenAPI document.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from geoportal.app.geocoder import INDEX_FILE, ensure_index
from geoportal.app.glyphs import GLYPH_DIR, write_glyphs
from geoportal.app.ows import write_ows_config
from geoportal.core.publish import LayerMetadata, atomic_write_text, read_metadata
from geoportal.core.registry import Dataset, Registry, load_registry
from geoportal.core.settings import Settings, temporary_environment

CONFIG_FILE = "pygeoapi-config.yml"
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Runtime:
    config: Path
    openapi: Path
    #: Served collection id → the path a person opens first (items, tiles or the collection).
    collections: dict[str, str]
    missing: list[str]
    #: MapProxy's configuration (WMS/WMTS), None without MapServer.
    ows: Path | None = None

    def env(self, settings: Settings) -> dict[str, str]:
        return {**settings.as_env(), "PYGEOAPI_CONFIG": str(self.config),
                "PYGEOAPI_OPENAPI": str(self.openapi)}


def prepare(settings: Settings) -> Runtime:
    """Write the runtime config (built layers only) and its OpenAPI document under ``data_dir``."""
    from pygeoapi.openapi import generate_openapi_document
    from pygeoapi.util import yaml_load

    registry = load_registry(settings.datasets_dir)
    write_catalogues(settings, registry)
    with temporary_environment(settings.as_env()):
        text = (settings.root / CONFIG_FILE).read_text(encoding="utf-8")
        config: dict[str, Any] = yaml_load(io.StringIO(text))
    missing = [rid for rid, res in config["resources"].items() if not _data_exists(res)]
    for rid in missing:
        del config["resources"][rid]
    built = {rid: read_metadata(settings.published_dir, rid) for rid in config["resources"]}
    for rid, resource in config["resources"].items():
        _add_published_facts(resource, built[rid])
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    manifest = write_webmap_manifest(settings, registry, config["resources"])
    write_glyphs(settings.data_dir / GLYPH_DIR)  # the map's label fonts (no font CDN)
    # the geocoder's index, rebuilt only when a layer it reads was published since
    ensure_index(settings.data_dir / INDEX_FILE, settings.published_dir, manifest["layers"])
    datasets = {d.id for d in registry}
    for rid, resource in config["resources"].items():
        if rid in datasets:  # the records catalogue is no dataset
            _add_page_facts(resource, registry[rid], built[rid], settings, manifest)
    ows = write_ows_config(settings, registry, config["resources"], manifest)
    runtime = settings.data_dir / "pygeoapi-runtime.yml"
    openapi = settings.data_dir / "openapi.yml"
    atomic_write_text(runtime, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    atomic_write_text(openapi, generate_openapi_document(runtime, "yaml"))
    entries = {rid: entry_path(rid, res) for rid, res in config["resources"].items()}
    return Runtime(runtime, openapi, entries, missing, ows)


def write_catalogues(settings: Settings, registry: Registry) -> None:
    """The catalogues a harvester reads, from the registry and the builds' ``metadata.json``:
    OGC API Records (pygeoapi's TinyDB file) and the CSW's ISO 19139 repository (SQLite).

    Like the DCAT-AP.de catalogue they describe the built datasets only (a record whose links
    do not answer misleads a harvester); each file is replaced atomically.
    """
    from catalog.model import describe_all
    from catalog.records import write_tinydb
    from geoportal.app.csw import repository_path, write_config, write_repository
    from geoportal.app.pygeoapi_config import CATALOGUE_FILE

    records = describe_all(registry, settings.published_dir, settings.url, built_only=True)
    write_tinydb(records, settings.data_dir / CATALOGUE_FILE)
    write_repository(records, repository_path(settings))
    first = next(iter(registry), None)
    write_config(settings, first.contact if first else None, first.publisher if first else None)


def entry_path(rid: str, resource: dict[str, Any]) -> str:
    """Where a collection is opened: its items if it has features, else its tiles, else the
    collection page (a coverage answers only with a ``subset``, which the page links to)."""
    kinds = {p.get("type") for p in resource.get("providers", [])}
    suffix = "/items" if kinds & {"feature", "record"} else "/tiles" if "tile" in kinds else ""
    return f"/collections/{rid}{suffix}"


def write_webmap_manifest(settings: Settings, registry: Registry,
                          resources: dict[str, Any]) -> dict[str, Any]:
    """The citizens' web map reads which layers exist from this file (``/assets/webmap.json``)."""
    from geoportal.app.webmap import write_manifest

    return write_manifest(registry, resources, settings)


def _add_page_facts(resource: dict[str, Any], dataset: Dataset, metadata: LayerMetadata | None,
                    settings: Settings, manifest: dict[str, Any]) -> None:
    """What the dataset's own page shows beyond pygeoapi's collection document, and the
    collection's links to its catalogue entries (:mod:`geoportal.app.dataset_pages`)."""
    from geoportal.app.dataset_pages import catalogue_links, portal_facts
    from geoportal.app.webmap import map_link

    resource["portal"] = portal_facts(dataset, metadata, settings,
                                      map_link(manifest, dataset.id))
    resource.setdefault("links", []).extend(catalogue_links(dataset, settings))


def _add_published_facts(resource: dict[str, Any], metadata: LayerMetadata | None) -> None:
    """Put what the build measured into the runtime config: download sizes and the real extent.

    Without a ``length``, pygeoapi sends a HEAD request to every download link on every
    /collections request (and silently drops links that do not answer within a second).
    """
    if metadata is None:
        return
    sizes = {f.path: f.bytes for f in metadata.files}
    for link in resource.get("links", []):
        name = str(link.get("href", "")).rsplit("/", 1)[-1]
        if link.get("rel") == "enclosure" and name in sizes:
            link["length"] = sizes[name]
    if metadata.bbox_wgs84:
        resource["extents"]["spatial"]["bbox"] = metadata.bbox_wgs84


def _data_exists(resource: dict[str, Any]) -> bool:
    return all(Path(p["data"]).exists() for p in resource.get("providers", [])
               if isinstance(p.get("data"), str))


#: One access-log line per request without the client's IP address or browser (gunicorn's
#: default logs both): what the privacy statement (datasets/_pages/datenschutz.*.md) promises.
ACCESS_LOG_FORMAT = '%(t)s "%(r)s" %(s)s %(B)s %(M)sms'


def gunicorn_command(host: str, port: int, workers: int) -> list[str]:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    return [gunicorn, "--workers", str(workers), "--bind", f"{host}:{port}",
            "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
            "--error-logfile", "-", "--log-level", "warning",
            "--timeout", "120", "geoportal.app.wsgi:app"]


def start(settings: Settings, host: str, port: int, workers: int = 2,
          log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start gunicorn in the background and return once it answers (for tests and `demo`)."""
    runtime = prepare(settings)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(gunicorn_command(host, port, workers),
                            env={**os.environ, **runtime.env(settings)}, cwd=settings.root,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until_ready(f"http://{host}:{port}/conformance?f=json", proc)
    return proc


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the server did not answer {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def worker_pids(master: int) -> set[int]:
    """The PIDs of a gunicorn master's workers: its child processes, read from Linux's /proc.

    gunicorn replaces a worker that crashed, was killed or timed out by a new process, so two
    reads that differ mean a worker was restarted (the master logs why at WARNING or above).
    """
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # the process ended while we looked
            continue
        if int(fields[1]) == master:
            pids.add(int(stat.parent.name))
    return pids


def serve_forever(settings: Settings, host: str, port: int, workers: int, echo: Echo) -> int:
    """Run gunicorn in the foreground until Ctrl+C, after printing where to look."""
    runtime = prepare(settings)
    for rid in runtime.missing:
        echo(f"warning: {rid} is not built yet and is not served (run `geoportal build {rid}`)")
    from geoportal.app.webmap import missing_web_libraries

    for path in missing_web_libraries(settings.root):
        echo(f"warning: {path} is missing, so the map and /openapi?f=html stay blank "
             "(run `npm ci --ignore-scripts` in web/, as scripts/bootstrap.sh does)")
    base = settings.url
    echo(f"Serving {len(runtime.collections)} layer(s) on {base}/ — press Ctrl+C to stop.")
    pages = [("landing page", "/"), ("collections", "/collections"),
             ("OpenAPI", "/openapi"), ("conformance", "/conformance"),
             ("CSW", "/csw?service=CSW&version=2.0.2&request=GetCapabilities")]
    if runtime.ows:
        pages += [("WMS", "/wms?SERVICE=WMS&REQUEST=GetCapabilities"),
                  ("WMTS", "/wmts/1.0.0/WMTSCapabilities.xml")]
    else:
        echo("warning: MapServer (Debian mapserver-bin) is not installed: no WMS/WMTS")
    for label, path in pages:
        echo(f"  {label:<13} {base}{path}")
    for rid, path in runtime.collections.items():
        echo(f"  {rid:<13} {base}{path}")
    env = {**os.environ, **runtime.env(settings)}
    try:
        return subprocess.call(gunicorn_command(host, port, workers), env=env, cwd=settings.root)
    except KeyboardInterrupt:
        return 0
