"""Shared fixtures: the real public files, a generated sample city, a built portal, a live server.

Expensive fixtures are session-scoped and build into a temporary folder, never into the checkout.
Where a real component or file is missing, tests skip with the reason on a developer's machine and
*fail* in CI (``CI=true``), so nothing is skipped silently where it counts.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from geoportal.core.settings import PROJECT_ROOT, Settings

IN_CI = os.environ.get("CI", "").lower() == "true"
CKAN_BASE = Path(os.environ.get("GEOPORTAL_CKAN_BASE", "/tmp/geoportal-ckan"))
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a missing service or file must not pass unnoticed there."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public sample files (``../shared/data``, or ``$GEOPORTAL_SHARED_DATA``)."""
    path = Path(os.environ.get("GEOPORTAL_SHARED_DATA", _shared_dir() / "data"))
    if not path.is_dir():
        missing(f"real sample data not found at {path} (set GEOPORTAL_SHARED_DATA)")
    return path


def make_settings(base: Path, url: str = "http://127.0.0.1:5000",
                  workers: int | None = None) -> Settings:
    return Settings.from_env({
        "GEOPORTAL_HOME": str(PROJECT_ROOT),
        "GEOPORTAL_DATA_DIR": str(base),
        "GEOPORTAL_RAW_DIR": str(base / "raw"),
        "GEOPORTAL_TILES_DIR": str(base / "tiles"),
        "GEOPORTAL_URL": url,
        **({"GEOPORTAL_WORKERS": str(workers)} if workers else {}),
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


#: Offers the finder example of the README must find (industrial, 500-2000 m², ≤ 3 km to a
#: motorway junction, ≤ 1 km to an S-Bahn station along the roads: 794-835 m to Ratingen West),
#: and two beside them it must not (commercial zoning; too large). The tiny district's own
#: offers are all farther than 1 km from a station, so without these the finder tests compared
#: empty lists.
FINDER_MATCHES = ("GF-9001", "GF-9002")
PLANTED_OFFERS = [
    'GF-9001,Grundstück Am Westbahnhof,Grundstück,1200,195.0,GI,Industriegebiet,2026-03-01,'
    '"Am Westbahnhof 1, 40878 Ratingen",,350050.0,5685950.0',
    'GF-9002,Halle Am Westbahnhof,Halle,900,6.2,GI,Industriegebiet,2026-05-01,'
    '"Am Westbahnhof 3, 40878 Ratingen",,350020.0,5685980.0',
    'GF-9003,Halle Am Westbahnhof,Halle,1200,6.4,GE,Gewerbegebiet,2026-05-01,'
    '"Am Westbahnhof 5, 40878 Ratingen",,350030.0,5685970.0',
    'GF-9004,Grundstück Am Westbahnhof,Grundstück,2400,190.0,GI,Industriegebiet,2026-03-01,'
    '"Am Westbahnhof 7, 40878 Ratingen",,350040.0,5685960.0',
]


def plant_finder_offers(raw: Path) -> None:
    """Append :data:`PLANTED_OFFERS` to the sample's commercial space list (once)."""
    path = raw / "gewerbeflaechen" / "freie_gewerbeflaechen.csv"
    text = path.read_text(encoding="utf-8")
    if "GF-9001," not in text:
        path.write_text(text.rstrip("\n") + "\n" + "\n".join(PLANTED_OFFERS) + "\n",
                        encoding="utf-8")


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
def server(portal: Settings) -> Iterator[str]:
    """pygeoapi under gunicorn on a free local port, serving the built portal."""
    from geoportal.app.server import start, stop

    host, port = "127.0.0.1", int(portal.url.rsplit(":", 1)[1])
    proc = start(portal, host, port, workers=2, log=portal.data_dir / "server.log")
    try:
        yield portal.url
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def ogrinfo() -> str:
    """GDAL's command-line client, an independent reader of our OGC API."""
    try:
        subprocess.run(["ogrinfo", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        missing("ogrinfo (Debian gdal-bin) is not installed; scripts/install-system-deps.sh")
    return "ogrinfo"


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
