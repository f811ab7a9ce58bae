"""The web pages' numbers from issue #7, measured in headless Chromium against a peer.

Targets: the map's first meaningful paint under 2 s on localhost, and the page's own code and
styles under 1 MB transferred before map tiles.

Pages (each loaded ``--runs`` times in a fresh browser context, i.e. with a cold cache):
* ``/`` the citizens' map and ``/wirtschaft`` the economic-development page (ours);
* peer 1: ``/wirtschaft`` again with ``Accept-Encoding: identity``, i.e. the same page with
  MapLibre's and our files sent uncompressed (what the gzip step of ``/assets`` buys);
* peer 2: pygeoapi's own stock HTML map page of the collection
  (``/collections/commercial_spaces/items?f=html``, Leaflet). It loads Leaflet and its tiles
  from CDNs (unpkg, OpenStreetMap), which fail on this offline machine: its map never paints,
  the figures show what its page costs before that, and the failed requests are counted.

Measured per load, from the browser's own timing APIs:
* FCP: Paint Timing ``first-contentful-paint``;
* map load / map idle: MapLibre's first ``load`` event (style and first tiles rendered: the
  first meaningful paint of the map) and first ``idle`` (every visible tile drawn). The bench
  wraps the ``maplibregl.Map`` constructor in an init script, so the pages need no hooks;
* own bytes: Resource Timing ``transferSize`` of the document, scripts, styles and JSON (the
  web-map manifest), excluding map tiles and feature data (``/tiles/``, ``/items``).

Run:  .venv/bin/python bench/bench_webmap.py [--runs 5] [--url http://127.0.0.1:5000]
Without ``--url`` it generates the 'tiny' sample city, builds it into a temporary folder and
starts its own server (about a minute). Needs Debian's chromium and Playwright (dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from testkit import served_sample  # noqa: E402
from testkit.webmap import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

BUDGET_BYTES = 1_000_000
PAINT_TARGET_S = 2.0

#: Wraps maplibregl.Map so that every map marks its first 'load' and 'idle' on the
#: performance timeline (the UMD bundle assigns window.maplibregl, which the setter catches).
HOOK = """
(() => {
  let lib;
  Object.defineProperty(window, 'maplibregl', {
    configurable: true,
    get() { return lib; },
    set(value) {
      const Original = value.Map;
      class TimedMap extends Original {
        constructor(...args) {
          super(...args);
          this.once('load', () => performance.mark('map-load'));
          this.once('idle', () => performance.mark('map-idle'));
        }
      }
      lib = new Proxy(value, { get: (t, k) => (k === 'Map' ? TimedMap : t[k]) });
    },
  });
})();
"""

MEASURE = """
() => {
  const mark = (name) => {
    const m = performance.getEntriesByName(name);
    return m.length ? m[0].startTime : null;
  };
  const fcp = performance.getEntriesByName('first-contentful-paint');
  const entries = [performance.getEntriesByType('navigation')[0],
                   ...performance.getEntriesByType('resource')];
  return {
    fcp: fcp.length ? fcp[0].startTime : null,
    mapLoad: mark('map-load'), mapIdle: mark('map-idle'),
    resources: entries.map((e) => ({name: e.name, size: e.transferSize,
                                    body: e.decodedBodySize, type: e.initiatorType})),
  };
}
"""


def load_once(browser: Any, url: str, wait_map: bool, headers: dict[str, str] | None) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="de-DE",
                                  extra_http_headers=headers or {})
    context.add_init_script(HOOK)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    start = time.perf_counter()
    page.goto(url, wait_until="load", timeout=60_000)
    if wait_map:
        page.wait_for_function("performance.getEntriesByName('map-idle').length > 0",
                               timeout=60_000)
    else:
        page.wait_for_timeout(1500)  # let a page without MapLibre try its CDNs
    wall = time.perf_counter() - start
    result = page.evaluate(MEASURE)
    context.close()
    origin = "/".join(url.split("/", 3)[:3])
    own = [r for r in result["resources"] if r["name"].startswith(origin)
           and "/tiles/" not in r["name"] and "/items" not in r["name"]]
    # the document itself may be an /items page (the pygeoapi peer): always count it
    if result["resources"] and result["resources"][0] not in own:
        own.insert(0, result["resources"][0])
    return {
        "fcp_ms": result["fcp"], "map_load_ms": result["mapLoad"],
        "map_idle_ms": result["mapIdle"], "wall_s": wall,
        "own_bytes": sum(r["size"] for r in own),
        "own_decoded_bytes": sum(r["body"] for r in own),
        "requests": len(result["resources"]), "failed": len(failed),
        "failed_hosts": sorted({f.split("/")[2] for f in failed}),
    }


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@contextmanager
def own_server() -> Iterator[str]:
    """The tiny sample city, built and served from a temporary folder."""
    with served_sample("bench-webmap-") as (settings, _):
        yield settings.url


def variants(url: str) -> list[tuple[str, str, bool, dict[str, str] | None]]:
    return [
        ("citizens' map /", f"{url}/", True, None),
        ("economy page /wirtschaft", f"{url}/wirtschaft", True, None),
        ("peer: /wirtschaft uncompressed", f"{url}/wirtschaft", True,
         {"Accept-Encoding": "identity"}),
        ("peer: pygeoapi items?f=html (Leaflet from CDN)",
         f"{url}/collections/commercial_spaces/items?f=html", False, None),
    ]


def run(url: str, runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        load_once(browser, f"{url}/wirtschaft", True, None)  # warm the server's caches
        for name, page_url, wait_map, headers in variants(url):
            loads = []
            for i in range(runs):
                loads.append(load_once(browser, page_url, wait_map, headers))
                print(f"  {name}: run {i + 1}/{runs} map load "
                      f"{loads[-1]['map_load_ms'] or 0:.0f} ms", flush=True)
            rows.append({
                "page": name,
                "fcp_ms": median([x["fcp_ms"] for x in loads]),
                "map_load_ms": median([x["map_load_ms"] for x in loads]),
                "map_load_max_ms": max((x["map_load_ms"] or 0) for x in loads) or None,
                "map_idle_ms": median([x["map_idle_ms"] for x in loads]),
                "own_kb": loads[0]["own_bytes"] / 1000,
                "own_decoded_kb": loads[0]["own_decoded_bytes"] / 1000,
                "failed_requests": loads[0]["failed"],
                "failed_hosts": loads[0]["failed_hosts"],
            })
        browser.close()
    return rows


def report(rows: list[dict[str, Any]], runs: int) -> None:
    fmt = lambda v: "–" if v is None else f"{v:.0f}"  # noqa: E731
    print(f"\nmedian of {runs} cold loads; load average {os.getloadavg()[0]:.2f} (2 cores)")
    print("| page | FCP ms | map load ms (max) | map idle ms | own bytes before tiles kB "
          "(decoded) | failed requests |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['page']} | {fmt(r['fcp_ms'])} | {fmt(r['map_load_ms'])} "
              f"({fmt(r['map_load_max_ms'])}) | {fmt(r['map_idle_ms'])} | "
              f"{r['own_kb']:.0f} ({r['own_decoded_kb']:.0f}) | {r['failed_requests']}"
              f"{' ' + ', '.join(r['failed_hosts']) if r['failed_hosts'] else ''} |")
    ours = [r for r in rows if not r["page"].startswith("peer")]
    for r in ours:
        paint_ok = r["map_load_max_ms"] is not None and r["map_load_max_ms"] < PAINT_TARGET_S * 1000
        print(f"{r['page']}: map paint < {PAINT_TARGET_S} s: {'yes' if paint_ok else 'NO'}; "
              f"own bytes < 1 MB: {'yes' if r['own_kb'] * 1000 < BUDGET_BYTES else 'NO'}")
    economy, raw = rows[1], rows[2]
    if raw["own_kb"]:
        print(f"gzip: the economy page transfers {economy['own_kb'] / raw['own_kb']:.2f}× the "
              f"bytes of its uncompressed peer; map load {economy['map_load_ms'] or 0:.0f} vs "
              f"{raw['map_load_ms'] or 0:.0f} ms")
    print(json.dumps(rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="a running portal (default: build and serve the sample)")
    args = parser.parse_args()
    if args.url:
        rows = run(args.url.rstrip("/"), args.runs)
    else:
        with own_server() as url:
            rows = run(url, args.runs)
    report(rows, args.runs)


if __name__ == "__main__":
    main()
