"""Helpers the tests share, under a package name of their own.

pygeoapi's wheel installs a top-level ``tests`` package, so ``from tests.conftest import …``
works only in pytest's default import mode (the checkout first on ``sys.path``). The helpers
live here instead (``pythonpath = ["tests"]`` in pyproject.toml); conftest.py keeps the fixtures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from geoportal.core.settings import PROJECT_ROOT, Settings

#: Ratingen's extent in WGS84 (lon/lat), as a build of a city-wide layer reports it
RATINGEN_BBOX = [6.78, 51.26, 6.94, 51.34]

#: CRS URIs as OGC API requests and pygeoapi's resources name them
EPSG_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"
EPSG_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

#: the maximum page size of the query tests' server, below the largest layer so that capping
#: a larger limit is visible
MAX_ITEMS = 500

IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a missing service or file must not pass unnoticed there."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


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


@contextmanager
def served_sample(prefix: str, workers: int = 2, offers: bool = False
                  ) -> Iterator[tuple[Settings, subprocess.Popen[bytes]]]:
    """The tiny sample city (with :data:`PLANTED_OFFERS` if ``offers``), built into a temporary
    folder and served by gunicorn on a free port: what the benchmarks measure against."""
    from catalog.static import write_static_catalog
    from geoportal.app.sample import DISTRICTS, SampleSpec, generate
    from geoportal.app.server import start, stop
    from geoportal.core.registry import load_registry
    from pipelines.build import build_all

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        base = Path(tmp)
        print("generating the tiny sample city and building it …", flush=True)
        generate(SampleSpec(tiles=DISTRICTS["tiny"], seed=42, lidar_density=2.0,
                            ortho_resolution=2.0), base / "raw")
        if offers:
            plant_finder_offers(base / "raw")
        port = free_port()
        settings = make_settings(base, f"http://127.0.0.1:{port}")
        registry = load_registry(settings.datasets_dir)
        summary = build_all(registry, settings, echo=lambda _: None)
        if not summary.ok:
            sys.exit("\n".join(summary.lines()))
        write_static_catalog(registry, settings.published_dir, settings.url)
        proc = start(settings, "127.0.0.1", port, workers=workers, log=base / "server.log")
        try:
            yield settings, proc
        finally:
            stop(proc)
