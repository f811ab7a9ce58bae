"""A real browser for the web map: Debian's headless Chromium, driven by Playwright.

Browser downloads are impossible on the project's machines, so Playwright launches the system
``/usr/bin/chromium`` (``scripts/install-system-deps.sh`` installs it). Every page the tests open
records console errors and failed requests; :func:`assert_clean` fails a test that produced any.
Screenshots of each step go to ``test-artifacts/webmap/`` (CI keeps them; look at them).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import missing
from testkit.webmap import CHROMIUM, CHROMIUM_ARGS, SHOTS, PageLog, open_page


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, PageLog]]:
    page, log = open_page(browser)
    yield page, log
    page.context.close()
