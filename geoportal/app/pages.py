"""The portal's own pages: legal notice, privacy, accessibility statement, contact and help.

A German public body must publish an Impressum, a Datenschutzerklärung and an Erklärung zur
Barrierefreiheit (BITV 2.0 / BITVNRW), linked from every page. Their text is the city's, not
the code's: Markdown files in ``datasets/_pages/<slug>.<lang>.md`` beside ``_portal.yml``
(another city replaces the files), with the facts that already live in ``_portal.yml`` —
publisher, address, contact — filled in from there (``{publisher_name}``, ``{contact_email}``,
…), so an address is written once. ``?lang=en`` gives the English file, German otherwise,
like the map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from werkzeug.wrappers import Request, Response

from geoportal.core.registry import Portal, load_portal
from geoportal.core.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PAGES_FOLDER = "_pages"
#: The date the accessibility statement was last reviewed (BITV asks for it on the page).
STATEMENT_DATE = {"de": "7. Dezember 2026", "en": "7 December 2026"}


@dataclass(frozen=True)
class Page:
    slug: str
    title: dict[str, str]


#: The pages, in the order of the links in every page's footer.
PAGES = (
    Page("impressum", {"de": "Impressum", "en": "Legal notice"}),
    Page("datenschutz", {"de": "Datenschutz", "en": "Privacy"}),
    Page("barrierefreiheit", {"de": "Barrierefreiheit", "en": "Accessibility"}),
    Page("hilfe", {"de": "Kontakt und Hilfe", "en": "Contact and help"}),
)


def facts(portal: Portal, settings: Settings, lang: str) -> dict[str, str]:
    """What a page may name: the portal's facts, never repeated in the page files."""
    publisher, contact = portal.publisher, portal.contact
    return {
        "publisher_name": publisher.name, "publisher_address": publisher.address or "",
        "publisher_email": publisher.email or "", "publisher_url": publisher.url or "",
        "contact_name": contact.name, "contact_email": contact.email or "",
        "contact_url": contact.url or "", "portal_url": settings.url,
        "statement_date": STATEMENT_DATE[lang],
    }


def render_markdown(path: Path, values: dict[str, str]) -> str:
    """The page file as HTML; raw HTML in it is escaped (the text is data, not markup).

    A ``{name}`` the portal does not know fails loudly here, not as a gap in a legal text.
    """
    text = path.read_text(encoding="utf-8").format_map(values)
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).render(text)


def page_app(page: Page, settings: Settings, templates: Environment) -> WSGIApp:
    """The WSGI app of one page at ``/<slug>``."""
    folder = settings.datasets_dir / PAGES_FOLDER

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        lang = "en" if request.args.get("lang") == "en" else "de"
        source = folder / f"{page.slug}.{lang}.md"
        if environ.get("PATH_INFO", "") not in ("", "/") or not source.is_file():
            return Response("Not found", status=404)(environ, start_response)
        body = render_markdown(source, facts(load_portal(settings.datasets_dir), settings, lang))
        html = templates.get_template("page.html").render(
            lang=lang, page=page, pages=PAGES, body=body, url=settings.url)
        response = Response(html, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-cache"
        return response(environ, start_response)

    return app


def page_routes(settings: Settings) -> dict[str, WSGIApp]:
    """Mount points for :class:`werkzeug.middleware.dispatcher.DispatcherMiddleware`."""
    templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                            autoescape=select_autoescape(["html"]))
    return {f"/{page.slug}": page_app(page, settings, templates) for page in PAGES}
