"""``geoportal serve`` as an operator runs it: the command, its start-up text, its links.

The session's ``server`` fixture starts gunicorn through the library; this starts the CLI itself,
on a port of its own, over a published folder in which one layer was never built.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from testkit import free_port

from geoportal.app.server import stop, wait_until_ready
from geoportal.app.webmap import missing_web_libraries
from geoportal.core.settings import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]
NOT_BUILT = "monuments"


@pytest.fixture(scope="module")
def served(portal: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Path]]:
    """``geoportal serve --port P`` without GEOPORTAL_URL, every layer but one published."""
    base = tmp_path_factory.mktemp("serve-cli")
    published = base / "published"
    published.mkdir()
    for entry in portal.published_dir.iterdir():
        if entry.name != NOT_BUILT:
            (published / entry.name).symlink_to(entry.resolve())
    env = {k: v for k, v in {**os.environ, **portal.as_env()}.items() if k != "GEOPORTAL_URL"}
    env |= {"GEOPORTAL_DATA_DIR": str(base), "GEOPORTAL_PUBLISHED_DIR": str(published)}
    port = free_port()
    log = base / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "geoportal.app.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/conformance?f=json", proc, timeout=90)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop(proc)


def test_a_layer_never_built_is_left_out_with_a_warning(served) -> None:
    url, log = served
    text = log.read_text(encoding="utf-8")
    assert f"warning: {NOT_BUILT} is not built yet and is not served" in text
    assert requests.get(f"{url}/collections/{NOT_BUILT}?f=json", timeout=30).status_code == 404
    assert requests.get(f"{url}/collections/trees/items?f=json&limit=1",
                        timeout=30).status_code == 200


def test_links_point_to_the_port_it_serves_on(served) -> None:
    """Without GEOPORTAL_URL the public URL is the one served (was :5000 whatever --port)."""
    url, log = served
    assert "Serving " in log.read_text(encoding="utf-8")
    assert f"  trees         {url}/collections/trees/items" in log.read_text(encoding="utf-8")
    links = requests.get(f"{url}/collections/trees?f=json", timeout=30).json()["links"]
    files = [link["href"] for link in links if "/downloads/" in link["href"]]
    assert files and all(href.startswith(f"{url}/downloads/") for href in files)
    downloads = [link["href"] for link in links if link["rel"] == "enclosure"]
    assert downloads and all(href.startswith(f"{url}/downloads/trees/") for href in downloads)
    assert requests.get(downloads[0], timeout=30).status_code == 200


def test_a_web_library_not_installed_is_named_at_start_up(tmp_path: Path) -> None:
    """Without swagger-ui-dist every request still answers, but /openapi?f=html stays blank in
    the browser: ``serve`` names the missing folder and how to install it."""
    for library in ("maplibre-gl/dist", "deck.gl", ".vendor", "laz-perf/lib/web"):
        (tmp_path / "web" / "node_modules" / library).mkdir(parents=True)
    (tmp_path / "web" / "src").mkdir()
    assert missing_web_libraries(tmp_path) == [tmp_path / "web/node_modules/swagger-ui-dist"]
    assert missing_web_libraries(PROJECT_ROOT) == []  # the checkout's bootstrap installed them
