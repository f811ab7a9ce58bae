"""Pages of a real Chromium that record what went wrong on them, and their screenshots."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit import ARTIFACTS

CHROMIUM = os.environ.get("GEOPORTAL_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# offline machine refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--use-gl=angle", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader"]
SHOTS = ARTIFACTS / "webmap"


@dataclass
class PageLog:
    """What went wrong while a page was open: console errors, page errors, failed requests."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console_errors + self.failed_requests


def open_page(browser: Any, *, viewport: tuple[int, int] = (1280, 800),
              locale: str = "de-DE", **context_options: Any) -> tuple[Any, PageLog]:
    """A fresh page in its own context that logs console errors and failed requests."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  locale=locale, **context_options)
    page = context.new_page()
    log = PageLog()
    page.on("console", lambda m: log.console_errors.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: log.console_errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: None if _cancelled(r.failure) else
            log.failed_requests.append(f"failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: log.failed_requests.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    return page, log


def _cancelled(failure: str | None) -> bool:
    """A request the page itself aborted: MapLibre cancels the tiles a moved view no longer needs.

    That is the map working as intended, not a failed request; a refused connection, a DNS
    failure or an HTTP error still counts.
    """
    return (failure or "") == "net::ERR_ABORTED"


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of the current step as a test artifact."""
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def assert_clean(log: PageLog) -> None:
    assert not log.problems(), "\n".join(log.problems())


#: axe-core from npm (web/package.json devDependencies), injected into the page under test.
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def load(page: Any, url: str) -> None:
    """Open the map and wait for its first frame."""
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def idle(page: Any) -> None:
    """Wait until the map has drawn everything and stands still."""
    page.wait_for_function("window.geoportal.map.loaded() && !window.geoportal.map.isMoving()",
                           timeout=30_000)


def wait_loaded(page: Any, layer_id: str) -> None:
    """Wait until a feature layer's items for the view have arrived and are drawn."""
    page.wait_for_function(f"window.geoportal.layers.status.get('{layer_id}') === 'ok'",
                           timeout=30_000)
    page.wait_for_timeout(300)  # the frame that draws the new data


def click_at(page: Any, lon: float, lat: float, dx: float = 0, dy: float = 0) -> None:
    """Click the map at a longitude/latitude (plus a pixel offset)."""
    box = page.locator("#map canvas").bounding_box()
    xy = page.evaluate(f"window.geoportal.map.project([{lon}, {lat}])")
    page.mouse.click(box["x"] + xy["x"] + dx, box["y"] + xy["y"] + dy)


def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.2 A/AA violations on the page as it is now, one line each."""
    if not AXE.is_file():
        from testkit import missing
        missing(f"{AXE} missing: npm ci in web/ installs axe-core")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})).violations
        .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)""")
    return list(found)
