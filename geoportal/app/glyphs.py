"""The map's label fonts as MapLibre glyph files, made from an open font on this machine.

MapLibre draws text from signed-distance-field (SDF) glyphs it fetches in ranges of 256 code
points, ``/assets/fonts/{fontstack}/{start}-{end}.pbf`` (the style's ``glyphs`` URL). No npm or
PyPI package ships such files for an open font, and a font CDN is out of the question (the
portal is offline and must not leak its visitors' requests), so the portal makes them itself
when it is prepared (:func:`geoportal.app.server.prepare`): DejaVu Sans (Debian's
``fonts-dejavu-core``, free licence) rendered by FreeType, turned into distance fields with
SciPy, written as the protobuf MapLibre reads. The parameters are the ones MapLibre's own
glyphs use (24 px, a 3 px border, radius 8, cutoff 0.25: the text's edge at 192/255).

Only the ranges a German and European city map needs are rendered (Latin, Latin Extended,
general punctuation, the euro sign); any other range is answered with a valid empty range, so
an unexpected character costs a missing glyph, not a failed request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt
from werkzeug.exceptions import NotFound
from werkzeug.utils import send_file

from geoportal.core.publish import atomic_path

#: The font stacks the map's style may name, and their font files.
FONT_FILES: dict[str, str] = {
    "DejaVu Sans": "DejaVuSans.ttf",
    "DejaVu Sans Bold": "DejaVuSans-Bold.ttf",
}
FONT_DIRS = (Path(os.environ.get("GEOPORTAL_FONT_DIR", "/usr/share/fonts/truetype/dejavu")),)
#: First code points of the rendered ranges: Latin-1, Latin Extended-A/B, Latin Extended
#: Additional, general punctuation (dashes, quotes), currency signs (€).
RANGES = (0, 256, 512, 7680, 8192)
SIZE, BUFFER, RADIUS, CUTOFF = 24, 3, 8.0, 0.25
GLYPH_DIR = "glyphs"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def font_file(stack: str) -> Path:
    """The font file behind ``stack``; FileNotFoundError says which package installs it."""
    for folder in FONT_DIRS:
        path = folder / FONT_FILES[stack]
        if path.is_file():
            return path
    raise FileNotFoundError(f"{FONT_FILES[stack]} not found in {[str(d) for d in FONT_DIRS]}: "
                            "install Debian's fonts-dejavu-core (scripts/install-system-deps.sh)")


def range_name(start: int) -> str:
    return f"{start}-{start + 255}"


def write_glyphs(out: Path) -> list[Path]:
    """Render every font stack's ranges into ``out/<stack>/<start>-<end>.pbf`` (skipped when
    already there and newer than the font); return the files."""
    written = []
    for stack in FONT_FILES:
        font = font_file(stack)
        for start in RANGES:
            path = out / stack / f"{range_name(start)}.pbf"
            if not path.is_file() or path.stat().st_mtime < font.stat().st_mtime:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    tmp.write_bytes(glyph_range(font, stack, start))
            written.append(path)
    return written


def glyph_range(font: Path, stack: str, start: int) -> bytes:
    """One range as MapLibre's glyph protobuf: the glyphs the font has in it."""
    import freetype  # the PyPI wheel ships FreeType itself

    face = freetype.Face(str(font))
    face.set_pixel_sizes(0, SIZE)
    ascender = int(np.ceil(face.size.ascender / 64))
    glyphs = b"".join(_message(3, _glyph(face, code, ascender))
                      for code in range(start, start + 256) if face.get_char_index(code))
    return empty_range(stack, start, glyphs)


def empty_range(stack: str, start: int, glyphs: bytes = b"") -> bytes:
    """A range message (``glyphs`` already encoded); with none, the answer for a range the
    font has nothing for."""
    stack_message = (_message(1, stack.encode()) + _message(2, range_name(start).encode())
                     + glyphs)
    return _message(1, stack_message)


def _glyph(face: object, code: int, ascender: int) -> bytes:
    face.load_char(chr(code))  # type: ignore[attr-defined]
    slot = face.glyph  # type: ignore[attr-defined]
    bitmap = slot.bitmap
    width, height = bitmap.width, bitmap.rows
    fields = _varint_field(1, code)
    if width and height:
        alpha = np.array(bitmap.buffer, dtype=np.uint8).reshape(height, bitmap.pitch)[:, :width]
        fields += _message(2, sdf(alpha))
    fields += (_varint_field(3, width) + _varint_field(4, height)
               + _varint_field(5, _zigzag(slot.bitmap_left))
               + _varint_field(6, _zigzag(slot.bitmap_top - ascender))
               + _varint_field(7, slot.advance.x >> 6))
    return fields


def sdf(alpha: np.ndarray) -> bytes:
    """The signed distance field of a glyph's coverage (0–255), with a ``BUFFER`` border, in
    MapLibre's encoding: 255 − 255·(d/RADIUS + CUTOFF), d the distance outside the outline
    (negative inside), refined by the coverage of the pixels on the edge."""
    a = np.pad(alpha.astype(np.float64) / 255.0, BUFFER)
    inside = a >= 0.5
    outer = distance_transform_edt(~inside)  # outside pixels: distance to the glyph
    inner = distance_transform_edt(inside)  # inside pixels: distance to the outside
    d = np.where(inside, -(inner - 0.5), outer - 0.5) + np.where((a > 0) & (a < 1), 0.5 - a, 0)
    value = np.clip(np.round(255 - 255 * (d / RADIUS + CUTOFF)), 0, 255)
    return value.astype(np.uint8).tobytes()


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _message(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a string, bytes or an embedded message)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def stacks_in(path_info: str) -> Iterator[tuple[str, int]]:
    """The (font stack, range start) of a glyph request ``/<stack>/<start>-<end>.pbf``;
    MapLibre asks for a comma-separated list of stacks, each of which we may have."""
    stack, _, name = path_info.strip("/").rpartition("/")
    first = name.removesuffix(".pbf").split("-")[0]
    if not first.isdigit() or int(first) % 256:
        return
    for one in stack.split(","):
        if one.strip() in FONT_FILES:
            yield one.strip(), int(first)


def glyph_server(folder: Path) -> WSGIApp:
    """``/assets/fonts/<stacks>/<start>-<end>.pbf``: the first named stack we have rendered,
    else an empty range for a stack we know (a character outside the rendered ranges), else 404.
    Cached for a day: the glyphs change only with the font."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = list(stacks_in(environ.get("PATH_INFO", "")))
        if not found:
            return NotFound()(environ, start_response)
        for stack, start in found:
            path = folder / stack / f"{range_name(start)}.pbf"
            if path.is_file():
                response = send_file(str(path), environ, mimetype="application/x-protobuf",
                                     conditional=True, max_age=86400)
                return response(environ, start_response)
        body = empty_range(*found[0])
        start_response("200 OK", [("Content-Type", "application/x-protobuf"),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "public, max-age=86400")])
        return [body]

    return app
