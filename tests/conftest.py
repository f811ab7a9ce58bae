"""Shared fixtures: the real public files, a generated sample city, a built portal, a live server.

Expensive fixtures are session-scoped and build into a temporary folder, never into the checkout.
Where a real component or file is missing, tests skip with the reason on a developer's machine and
*fail* in CI (``CI=true``), so nothing is skipped silently where it counts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import free_port, make_settings, missing, plant_finder_offers
from testkit.webmap import CHROMIUM, CHROMIUM_ARGS, SHOTS

from geoportal.core.settings import PROJECT_ROOT, Settings

CKAN_BASE = Path(os.environ.get("GEOPORTAL_CKAN_BASE", "/tmp/geoportal-ckan"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public sample files (``../shared/data``, or ``$GEOPORTAL_SHARED_DATA``)."""
    path = Path(os.environ.get("GEOPORTAL_SHARED_DATA", _shared_dir() / "data"))
    if not path.is_dir():
        missing(f"real sample data not found at {path} (set GEOPORTAL_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 'tiny' sample district (1 km², low density), generated once per test session.

    ``GEOPORTAL_TEST_RAW`` points at an already generated raw folder to save the time locally.
    """
    if os.environ.get("GEOPORTAL_TEST_RAW"):
        return Path(os.environ["GEOPORTAL_TEST_RAW"])
    from geoportal.app.sample import DISTRICTS, SampleSpec, generate

    out = tmp_path_factory.mktemp("sample") / "raw"
    generate(SampleSpec(tiles=DISTRICTS["tiny"], seed=42, lidar_density=2.0,
                        ortho_resolution=2.0), out)
    plant_finder_offers(out)
    return out


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory, sample_raw: Path) -> Settings:
    """Every registry dataset built from the tiny sample city into a temporary data folder."""
    from catalog.static import write_static_catalog
    from geoportal.core.registry import load_registry
    from pipelines.build import build_all

    port = free_port()
    base = tmp_path_factory.mktemp("portal")
    (base / "raw").symlink_to(sample_raw)
    settings = make_settings(base, f"http://127.0.0.1:{port}")
    registry = load_registry(settings.datasets_dir)
    summary = build_all(registry, settings, echo=lambda _: None)
    assert summary.ok, summary.lines()
    # a dataset refused by the shapes would silently drop out of catalog.ttl: fail on any
    static = write_static_catalog(registry, settings.published_dir, settings.url)
    assert static.report.violations == [], static.report.violations
    assert len(static.report.valid) == len(registry)
    return settings


@pytest.fixture(scope="session")
def server_process(portal: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn's master process serving the built portal (its workers are its children:
    :func:`geoportal.app.server.worker_pids`); the log is ``portal.data_dir / "server.log"``."""
    from geoportal.app.server import start, stop

    host, port = "127.0.0.1", int(portal.url.rsplit(":", 1)[1])
    proc = start(portal, host, port, workers=2, log=portal.data_dir / "server.log")
    try:
        yield proc
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def server(portal: Settings, server_process: subprocess.Popen[bytes]) -> str:
    """pygeoapi under gunicorn on a free local port, serving the built portal."""
    return portal.url


@pytest.fixture(scope="session")
def ogrinfo() -> str:
    """GDAL's command-line client, an independent reader of our OGC API."""
    try:
        subprocess.run(["ogrinfo", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        missing("ogrinfo (Debian gdal-bin) is not installed; scripts/install-system-deps.sh")
    return "ogrinfo"


@pytest.fixture(scope="session")
def gdal_tools(ogrinfo: str) -> str:
    """GDAL's raster command-line clients (gdalinfo, gdal_translate) beside ogrinfo."""
    for tool in ("gdalinfo", "gdal_translate"):
        try:
            subprocess.run([tool, "--version"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            missing(f"{tool} (Debian gdal-bin) is not installed; scripts/install-system-deps.sh")
    return "gdalinfo"


# ---------------------------------------------------------------------------------------------
# A real CKAN (../shared/ckan), started once per session


def _shared_dir() -> Path:
    return Path(os.environ.get("GEOPORTAL_SHARED", PROJECT_ROOT.parent / "shared"))


def _unavailable(reason: str) -> None:
    missing(f"no CKAN for integration tests: {reason}")


def _read_env(env_file: Path) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", f'source "{env_file}" && echo "$CKAN_URL" && echo "$CKAN_API_TOKEN"'],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    return {"CKAN_URL": out[0], "CKAN_API_TOKEN": out[1]}


def _alive(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/api/3/action/status_show", timeout=3).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def ckan() -> Iterator[dict[str, str]]:
    """CKAN_URL and CKAN_API_TOKEN of a running CKAN; started here (and stopped) if needed."""
    env_file = CKAN_BASE / "env.sh"
    started = False
    if not (env_file.exists() and _alive(_read_env(env_file)["CKAN_URL"])):
        script = _shared_dir() / "ckan" / "ckan-up.sh"
        if not script.exists():
            _unavailable(f"{script} not found (set GEOPORTAL_SHARED)")
        # Leftovers of an earlier run (a PostgreSQL still holding the port, stale PID files)
        # make ckan-up.sh fail; ckan-down.sh stops exactly what an earlier ckan-up.sh started.
        subprocess.run(["bash", str(script.with_name("ckan-down.sh")), str(CKAN_BASE)],
                       capture_output=True, check=False, timeout=120)
        proc = subprocess.run(
            ["bash", str(script), str(CKAN_BASE)], capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0 or not env_file.exists():
            _unavailable(f"ckan-up.sh failed ({proc.returncode}): {proc.stdout[-800:]}")
        started = True
    env = _read_env(env_file)
    if not _alive(env["CKAN_URL"]):
        _unavailable(f"CKAN at {env['CKAN_URL']} does not answer")
    yield env
    if started:
        subprocess.run(["bash", str(_shared_dir() / "ckan" / "ckan-down.sh"), str(CKAN_BASE)],
                       capture_output=True, check=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium for the web map tests (tests/webmap, tests/solar, ...)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing(f"{CHROMIUM} not found: scripts/install-system-deps.sh installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[dev]')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
