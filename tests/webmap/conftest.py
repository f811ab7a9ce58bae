"""A real browser for the web map: Debian's headless Chromium, driven by Playwright.

Browser downloads are impossible on the project's machines, so Playwright launches the system
``/usr/bin/chromium`` (``scripts/install-system-deps.sh`` installs it). Every page the tests open
records console errors and failed requests; :func:`assert_clean` fails a test that produced any.
Screenshots of each step go to ``test-artifacts/webmap/`` (CI keeps them; look at them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from testkit.webmap import PageLog, open_page


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, PageLog]]:
    page, log = open_page(browser)
    yield page, log
    page.context.close()
