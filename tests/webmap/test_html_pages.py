"""Every HTML page of the portal is the portal's own (issue 21, item 4): crawled from the map in
headless Chromium, none asks another host for anything or logs a console error, each speaks
German by default and English with ?lang=en, and each dataset page shows what the registry and
the build say: title, licence, last change, downloads that answer.

Expected values come from the registry and the published ``metadata.json``, never from the page.
pygeoapi's stock templates load Bootstrap, Leaflet and fonts from CDNs; the static tests keep any
of them from coming back (every stock page template has an override of ours).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit
from zoneinfo import ZoneInfo

import pygeoapi
import pytest
import requests
from testkit.webmap import assert_clean, open_page

from geoportal.app.pygeoapi_config import CATALOGUE
from geoportal.core.registry import Dataset, load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings

TEMPLATES = PROJECT_ROOT / "geoportal" / "app" / "templates"
STOCK_TEMPLATES = Path(pygeoapi.__file__).parent / "templates"
CDNS = ("https://unpkg.com", "cdn.jsdelivr", "cdnjs", "fonts.googleapis")
MONTHS_DE = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
#: Pages that draw a map and say when they are ready (the rest are done at "networkidle").
MAP_PAGES = {"/", "/wirtschaft", "/economy"}
#: The pages pygeoapi renders from our templates (the map, the finder and the legal pages
#: have tests of their own; they are crawled here only for requests to other hosts).
PYGEOAPI_KINDS = {"/collections", "/openapi", "/conformance", "/TileMatrixSets",
                  "/TileMatrixSets/*", "dataset", "items", "items-page-2", "item", "tiles",
                  "tileset", "queryables", "coverage"}


# --- static: nothing of pygeoapi's stock HTML is left -------------------------------------------

def test_no_template_of_ours_loads_from_a_cdn() -> None:
    offenders = [f"{path.relative_to(TEMPLATES)}: {cdn}" for path in TEMPLATES.rglob("*.html")
                 for cdn in CDNS if cdn in path.read_text(encoding="utf-8")]
    assert not offenders, offenders


def test_every_stock_page_template_is_replaced_by_ours() -> None:
    """pygeoapi looks in our folder first (server.templates.path), then in its own: a stock page
    without an override of ours would be reachable with its CDN links."""
    stock = {p.relative_to(STOCK_TEMPLATES) for p in STOCK_TEMPLATES.rglob("*.html")}
    assert len(stock) > 25, "pygeoapi's template folder moved: this test would check nothing"
    missing = sorted(str(p) for p in stock if not (TEMPLATES / p).is_file())
    assert not missing, f"stock templates without an override in {TEMPLATES}: {missing}"


# --- the crawl ------------------------------------------------------------------------------------

@dataclass
class Visit:
    url: str
    kind: str
    collection: str | None
    lang: str
    h1: str
    links: list[str]
    foreign: list[str]


@dataclass
class Crawl:
    visits: list[Visit] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    #: Console errors, page errors and failed requests (tests/webmap/conftest.py PageLog).
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def of_kind(self, kind: str) -> list[Visit]:
        return [v for v in self.visits if v.kind == kind]


def page_kind(path: str, query: dict[str, list[str]]) -> tuple[str, str | None]:
    """What a page is, and for which collection: the crawl opens each pair once (plus one
    second page of a table), which covers every template without opening 700 trees."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "collections":
        rest = parts[2:]
        kind = ("dataset" if not rest else "item" if rest[0] == "items" and len(rest) > 1
                else "tileset" if rest[0] == "tiles" and len(rest) > 1 else rest[0])
        if kind == "items" and "offset" in query:
            return "items-page-2", None
        return kind, parts[1]
    return (path if len(parts) != 2 else f"/{parts[0]}/*"), None


def is_data(url: str) -> bool:
    """A file or a data answer (a download, a script, GeoJSON, a GeoTIFF cut), not a page:
    checked for HTTP 200, not opened in the browser."""
    parts = urlsplit(url)
    formats = parse_qs(parts.query).get("f", [])
    if parts.path.startswith(("/downloads/", "/assets/")):
        return True
    return bool(formats) and formats[0] != "html"


def load(page: Any, url: str) -> None:
    """Open a page and wait until it has made its requests: the static pages are done at
    "load" (their stylesheet), the maps when they say so, the OpenAPI page when Swagger UI
    has drawn the document it fetched."""
    page.goto(url, wait_until="load")
    path = urlsplit(url).path
    if path in MAP_PAGES:
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    elif path == "/openapi":
        page.wait_for_selector("#swagger-ui .opblock", timeout=30_000)
        page.wait_for_load_state("networkidle")


def crawl(browser: Any, server: str, start: str) -> Crawl:
    """Open ``start`` and every page of ours it leads to, each kind of page once."""
    host = urlsplit(server).netloc
    result, began = Crawl(), time.monotonic()
    queue, seen_kinds, seen_urls = [start], set(), set()
    page, log = open_page(browser, locale="en-US")  # an English browser: German all the same
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    while queue:
        url = queue.pop(0).split("#", 1)[0]
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        key = page_kind(parts.path, query)
        if url in seen_urls or key in seen_kinds:
            continue
        seen_urls.add(url)
        seen_kinds.add(key)
        requested.clear()
        load(page, url)
        links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
        result.visits.append(Visit(
            url=url, kind=key[0], collection=key[1],
            lang=page.locator("html").get_attribute("lang") or "",
            h1=page.locator("h1").first.inner_text() if page.locator("h1").count() else "",
            links=links,
            foreign=[r for r in requested if urlsplit(r).scheme in ("http", "https")
                     and urlsplit(r).netloc != host]))
        for link in links:
            target = urlsplit(urljoin(url, link))._replace(fragment="")
            if target.netloc != host or "lang=en" in target.query:
                continue
            if is_data(target.geturl()):
                result.files.add(target.geturl())
            else:
                queue.append(target.geturl())
    result.problems = log.problems()
    page.context.close()
    result.seconds = time.monotonic() - began
    return result


@pytest.fixture(scope="module")
def german(browser: Any, server: str) -> Crawl:
    found = crawl(browser, server, f"{server}/")
    print(f"crawled {len(found.visits)} pages from / in {found.seconds:.1f} s; "
          f"{len(found.files)} file and data links")
    return found


@pytest.fixture(scope="module")
def registry(portal: Settings) -> Any:
    return load_registry(portal.datasets_dir)


@pytest.mark.slow
@pytest.mark.server
def test_no_page_reachable_from_the_map_asks_another_host_or_logs_an_error(
        german: Crawl, registry: Any) -> None:
    kinds = {v.kind for v in german.visits}
    expected = {"/", "/collections", "dataset", "items", "item", "items-page-2", "tiles",
                "tileset", "queryables", "coverage", "/openapi", "/conformance",
                "/TileMatrixSets", "/TileMatrixSets/*"}
    assert expected <= kinds, f"not reached from the map: {sorted(expected - kinds)}"
    served = {v.collection for v in german.of_kind("dataset")}
    # every served dataset, and the catalogue of all of them (OGC API Records)
    assert served == {d.id for d in registry if d.serve.features or d.serve.tiles
                      or d.serve.coverage} | {CATALOGUE}
    leaks = {v.url: v.foreign for v in german.visits if v.foreign}
    assert not leaks, leaks
    assert not german.problems, "\n".join(german.problems)  # console errors, failed requests


@pytest.mark.slow
@pytest.mark.server
def test_every_page_is_german_for_an_english_browser(german: Crawl) -> None:
    # /economy is the finder's English address
    not_german = [(v.url, v.lang) for v in german.visits
                  if v.lang != ("en" if v.kind == "/economy" else "de")]
    assert not not_german, not_german


@pytest.mark.slow
@pytest.mark.server
def test_the_maps_catalogue_link_of_each_layer_opens_its_dataset_page(german: Crawl,
                                                                     server: str) -> None:
    map_page = german.visits[0]
    catalogue = {urlsplit(link).path for link in map_page.links
                 if re.fullmatch(r"/collections/[a-z0-9_]+", urlsplit(link).path)}
    assert catalogue == {f"/collections/{v.collection}" for v in german.of_kind("dataset")}


@pytest.mark.slow
@pytest.mark.server
def test_every_download_and_data_link_answers(german: Crawl) -> None:
    broken = []
    for url in sorted(german.files):
        if "{" in url:  # a URL template shown as text, not a link
            continue
        with requests.get(url, timeout=60, stream=True) as answer:
            if answer.status_code != 200:
                broken.append((url, answer.status_code))
    assert not broken, broken


# --- the dataset pages -------------------------------------------------------------------------

def long_date(timestamp: str, lang: str) -> str:
    day = datetime.fromisoformat(timestamp).astimezone(ZoneInfo("Europe/Berlin")).date()
    if lang == "de":
        return f"{day.day}. {MONTHS_DE[day.month - 1]} {day.year}"
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def served(registry: Any) -> Iterator[Dataset]:
    return (d for d in registry if d.serve.features or d.serve.tiles or d.serve.coverage)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("lang", ["de", "en"])
def test_each_dataset_page_shows_licence_last_change_and_working_downloads(
        browser: Any, server: str, portal: Settings, registry: Any, lang: str) -> None:
    page, log = open_page(browser)
    for d in served(registry):
        metadata = json.loads((portal.published_dir / d.id / "metadata.json").read_text("utf-8"))
        load(page, f"{server}/collections/{d.id}" + ("?lang=en" if lang == "en" else ""))
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("h1").inner_text() == (d.title.de if lang == "de"
                                                   else d.title.get("en"))
        licence = page.locator("dd.license a")
        assert licence.inner_text() == d.license.title[lang]
        assert licence.get_attribute("href") == d.license.page
        assert page.locator("time.modified").inner_text() == long_date(metadata["modified"], lang)
        links = page.locator("table.downloads a")
        hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
        wanted = {f"{server}/downloads/{d.id}/{f['path']}" for f in metadata["files"]}
        assert hrefs == wanted, d.id
        sizes = page.locator("table.downloads td[data-bytes]").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.bytes))")
        assert sorted(sizes) == sorted(f["bytes"] for f in metadata["files"])
        for href in sorted(hrefs):
            answer = requests.head(href, timeout=30)
            assert answer.status_code == 200, href
            assert int(answer.headers["Content-Length"]) in sizes, href
        if d.serve.features:
            count = page.locator("dd.count").inner_text()
            assert count.replace(".", "").replace(",", "") == str(metadata["feature_count"])
    assert_clean(log)
    page.context.close()


@pytest.mark.slow
@pytest.mark.server
def test_each_kind_of_page_speaks_english_when_asked(browser: Any, server: str,
                                                    german: Crawl) -> None:
    """One page of each kind again with ?lang=en: html lang, a translated heading, and links
    that keep the language (every dataset page in English: the test above)."""
    page, log = open_page(browser, locale="de-DE")  # a German browser asking for English
    kinds: set[str] = set()
    for visit in german.visits:
        if visit.kind not in PYGEOAPI_KINDS or visit.kind in kinds:
            continue
        kinds.add(visit.kind)
        url = visit.url + ("&" if "?" in visit.url else "?") + "lang=en"
        load(page, url)
        assert page.locator("html").get_attribute("lang") == "en", url
        english = page.locator("h1").first.inner_text()
        if visit.kind != "item":  # an item's heading is its name
            assert english != visit.h1, f"{url}: the heading is not translated ({english!r})"
        ours = [h for h in page.eval_on_selector_all(
                    "main a[href]:not(#swagger-ui a)", "as => as.map(a => a.href)")
                if urlsplit(h).netloc == urlsplit(server).netloc and not is_data(h)]
        assert all("lang=en" in h for h in ours), (url, [h for h in ours if "lang=en" not in h])
    assert kinds == PYGEOAPI_KINDS
    assert_clean(log)
    page.context.close()


@pytest.mark.slow
@pytest.mark.server
def test_an_english_browser_gets_german_pages_and_json_in_its_language(server: str) -> None:
    english = {"Accept-Language": "en-US,en;q=0.9", "Accept": "text/html"}
    page = requests.get(f"{server}/collections/trees", headers=english, timeout=30)
    assert '<html lang="de">' in page.text and "<h1>Stadtbäume</h1>" in page.text
    asked = requests.get(f"{server}/collections/trees?lang=en", headers=english, timeout=30)
    assert '<html lang="en">' in asked.text and "<h1>City trees</h1>" in asked.text
    data = requests.get(f"{server}/collections/trees?f=json", timeout=30,
                        headers={"Accept-Language": "en"}).json()
    assert data["title"] == "City trees"  # a client's explicit choice still counts
