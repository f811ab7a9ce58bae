"""The portal's own pages (Impressum, Datenschutz, Barrierefreiheit, Kontakt und Hilfe), which a
German public body must link from every page: reached by a click from the map and the finder,
in German and English, naming the publisher as ``_portal.yml`` does, no request leaving the
server; and the privacy statement's promise kept: no client IP address in the access log."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from testkit.webmap import open_page

from geoportal.app.pages import PAGES
from geoportal.core.registry import load_portal
from geoportal.core.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]

#: What each page must say beyond the portal's facts (German, English).
MUST_SAY = {
    "impressum": ("Digitale-Dienste-Gesetz", "Digital Services Act"),
    "datenschutz": ("nicht** gespeichert", "not** stored"),
    "barrierefreiheit": ("Ombudsstelle", "ombudsperson"),
    "hilfe": ("Tabelle", "Table"),
}


def visit(page: Any, server: str, url: str, link: str) -> list[str]:
    """Open ``url``, click the link named ``link``; return every host the new page asked."""
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(urlsplit(r.url).netloc))
    with page.expect_navigation():
        page.get_by_role("link", name=link, exact=True).click()
    page.wait_for_load_state("load")
    return hosts


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_page_is_a_click_from_the_map_and_names_the_publisher(
        browser: Any, server: str, portal: Settings, lang: str) -> None:
    facts = load_portal(portal.datasets_dir)
    page, log = open_page(browser)
    for spec in PAGES:
        hosts = visit(page, server, f"{server}/?lang={lang}", spec.title[lang])
        assert urlsplit(page.url).path == f"/{spec.slug}"
        assert page.locator("html").get_attribute("lang") == lang
        text = page.locator("main").inner_text()
        assert page.locator("h1").count() == 1
        assert facts.publisher.name in text or facts.contact.name in text, spec.slug
        assert facts.contact.email in text or facts.publisher.email in text, spec.slug
        said = MUST_SAY[spec.slug][lang == "en"].replace("**", "")
        assert said in text, (spec.slug, text[:300])
        assert "{" not in text, "a placeholder was left unfilled"
        assert set(hosts) <= {urlsplit(server).netloc}, hosts  # nothing from elsewhere
        # the page's own footer links every page, the current one marked
        current = page.locator("footer a[aria-current=page]")
        assert current.inner_text() == spec.title[lang]
    impressum = requests.get(f"{server}/impressum", timeout=30).text
    assert facts.publisher.address and facts.publisher.address in impressum
    assert not log.problems(), log.problems()
    page.context.close()


@pytest.mark.parametrize("path, lang", [("wirtschaft", "de"), ("economy", "en")])
def test_the_finder_links_every_page_in_its_language(browser: Any, server: str, path: str,
                                                     lang: str) -> None:
    page, log = open_page(browser)
    hosts = visit(page, server, f"{server}/{path}", PAGES[0].title[lang])
    assert urlsplit(page.url).path == f"/{PAGES[0].slug}"
    assert page.locator("html").get_attribute("lang") == lang
    assert set(hosts) <= {urlsplit(server).netloc}, hosts
    page.go_back()
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    shown = page.locator("footer a[data-page]").all_inner_texts()
    assert shown == [p.title[lang] for p in PAGES]
    assert not log.problems(), log.problems()
    page.context.close()


def test_a_page_that_does_not_exist_is_404(server: str) -> None:
    assert requests.get(f"{server}/impressum/more", timeout=30).status_code == 404


def test_the_access_log_keeps_no_client_address(server: str, portal: Settings) -> None:
    """What the privacy statement promises: a request is logged without the IP address."""
    marker = "privacy-log-probe"
    requests.get(f"{server}/datenschutz?{marker}=1", timeout=30)
    log = (portal.data_dir / "server.log").read_text(encoding="utf-8", errors="replace")
    lines = [line for line in log.splitlines() if marker in line]
    assert lines, log[-1000:]
    assert not any("127.0.0.1" in line for line in lines), lines
    assert all('"GET /datenschutz?' in line and " 200 " in line for line in lines), lines
