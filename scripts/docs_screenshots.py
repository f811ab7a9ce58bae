"""The screenshots of docs/webmap.md, made from the real server in Chromium.

Runs the browser tests that take them (a built sample portal and a live server, as in CI),
then copies ``test-artifacts/webmap/<prefix>*.png`` to ``docs/img/`` with 256 colours (a
screenshot of a map is a few hundred kB otherwise)::

    python scripts/docs_screenshots.py                      # issue 21's pictures
    python scripts/docs_screenshots.py --prefix legend- tests/webmap/test_legend_tools.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "webmap"
DOCS = ROOT / "docs" / "img"


def copy_shots(prefix: str) -> list[Path]:
    """Every screenshot named ``prefix…`` into docs/img, as a 256-colour PNG."""
    DOCS.mkdir(parents=True, exist_ok=True)
    written = []
    for shot in sorted(SHOTS.glob(f"{prefix}*.png")):
        out = DOCS / shot.name
        Image.open(shot).convert("RGB").quantize(256).save(out, optimize=True)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="issue21-")
    parser.add_argument("tests", nargs="*", default=["tests/webmap/test_search_places.py"])
    args = parser.parse_args(argv)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", *args.tests], cwd=ROOT)
    if run.returncode:
        return run.returncode
    for out in copy_shots(args.prefix):
        print(f"{out.relative_to(ROOT)}: {out.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
