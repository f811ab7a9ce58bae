"""The WMS/WMTS legends (GetLegendGraphic): PNGs drawn from the web map's legend entries.

MapServer draws an empty legend for layers that have no named classes, and most of ours are
drawn from a style, not from classes. The web map already describes every layer's legend from
the dataset's ``style`` and the data's own value range (:func:`geoportal.app.webmap.legend`), so
the WMS draws the same description into an image: one source of truth, and a desktop GIS shows
the legend a citizen sees in the browser. MapProxy answers GetLegendGraphic from these files
(``legendurl: file://…``) and lists them as ``LegendURL`` in both capabilities documents.

The file name carries a hash of the picture: MapProxy keeps legends it has served in its own
cache, so a changed legend (a rebuilt terrain model with another height range) gets a new name.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from geoportal.app.glyphs import FONT_DIRS
from geoportal.app.ows.mapfile import hex_rgb
from geoportal.core.publish import atomic_write_bytes

WIDTH = 240
PAD = 6
ROW = 22
SWATCH = 16
BAR = (16, 120)
TEXT = (33, 33, 33)
#: Area fills are drawn at this opacity, as in the web map and the WMS images.
AREA_ALPHA = 64
FONT_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}
FONT_PX = 12
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def write_legends(folder: Path, manifest: dict[str, Any], language: str = "de") -> dict[str, Path]:
    """Draw each layer's legend into ``folder``; return the file per layer id.

    Files of earlier legends are removed, so the folder holds the current pictures only."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for layer_id, layer in manifest["layers"].items():
        if not layer.get("legend"):
            continue
        png = legend_png(layer["title"][language], layer["legend"], language)
        path = folder / f"{layer_id}-{hashlib.sha256(png).hexdigest()[:12]}.png"
        if not path.exists():
            atomic_write_bytes(path, png)
        written[layer_id] = path
    keep = set(written.values())
    for old in folder.glob("*.png"):
        if old not in keep:
            old.unlink(missing_ok=True)
    return written


def legend_png(title: str, legend: dict[str, Any], language: str = "de") -> bytes:
    """One layer's legend as a PNG: its title, then the symbols, classes or colour ramp."""
    rows = list(_rows(legend, language))
    ramp = legend.get("kind") in {"ramp", "shade", "range"}
    height = PAD * 2 + ROW + (BAR[1] + PAD if ramp else ROW * len(rows))
    image = Image.new("RGBA", (_width(title, rows, legend, language), height),
                      (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), title, fill=TEXT, font=_font("bold"))
    top = PAD + ROW
    if ramp:
        _draw_ramp(draw, legend, top, language)
    else:
        for index, (colour, label, symbol) in enumerate(rows):
            y = top + index * ROW
            _draw_symbol(image, symbol, colour, (PAD, y, PAD + SWATCH, y + SWATCH))
            draw.text((PAD * 2 + SWATCH, y + 1), label, fill=TEXT, font=_font("regular"))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _width(title: str, rows: list[tuple[str, str, str]], legend: dict[str, Any],
           language: str) -> int:
    """Wide enough for the longest text (a long German title is not cut off)."""
    texts = [label for _, label, _ in rows]
    if legend.get("label"):
        texts.append(legend["label"][language])
    longest = max([_font("regular").getlength(t) for t in texts] or [0])
    return int(max(WIDTH, _font("bold").getlength(title) + 2 * PAD,
                   longest + 3 * PAD + max(SWATCH, BAR[0])))


def _rows(legend: dict[str, Any], language: str) -> Iterable[tuple[str, str, str]]:
    """(colour, label, symbol) per line of a class legend."""
    kind = legend.get("kind")
    if kind in {"symbols", "swatches"}:
        symbol = legend.get("symbol", "circle") if kind == "symbols" else "square"
        for entry in legend["classes"]:
            yield entry["colour"], entry["label"][language], symbol
    elif kind in {"line", "area"}:
        yield legend["colour"], "", kind


def _draw_symbol(image: Image.Image, symbol: str, colour: str,
                 box: tuple[int, int, int, int]) -> None:
    """The symbol shapes of the web map (web/src/symbols.js) at legend size."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    fill = _rgb(colour)
    outline = (255, 255, 255, 255)
    if symbol == "circle":
        draw.ellipse(box, fill=fill, outline=outline)
    elif symbol == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill, outline=outline)
    elif symbol == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill, outline=outline)
    elif symbol == "line":
        draw.line([(x0, y1 - 3), (x1, y0 + 3)], fill=fill, width=3)
    elif symbol == "area":
        draw.rectangle(box, fill=(*fill[:3], AREA_ALPHA), outline=fill, width=2)
    elif symbol == "toilet":
        draw.rectangle(box, fill=fill)
        draw.text((x0 + 1, y0 + 2), "WC", fill=outline, font=_font("bold", 8))
    else:  # square
        draw.rectangle(box, fill=fill, outline=outline)
    image.alpha_composite(overlay)


def _draw_ramp(draw: ImageDraw.ImageDraw, legend: dict[str, Any], top: int,
               language: str) -> None:
    """A vertical colour bar, highest value on top, labelled at its ends."""
    stops = [(float(at), _rgb(colour)) for at, colour in legend["stops"]]
    low, high = stops[0][0], stops[-1][0]
    width, height = BAR
    for row in range(height):
        at = high - (high - low) * row / max(1, height - 1)
        draw.line([(PAD, top + row), (PAD + width, top + row)], fill=_interpolate(stops, at))
    draw.rectangle((PAD - 1, top - 1, PAD + width + 1, top + height), outline=TEXT)
    top_label, bottom_label = _ramp_labels(legend, language)
    font = _font("regular")
    draw.text((PAD * 2 + width, top), top_label, fill=TEXT, font=font)
    draw.text((PAD * 2 + width, top + height - FONT_PX - 2), bottom_label, fill=TEXT, font=font)
    if legend.get("label"):
        draw.text((PAD * 2 + width, top + height // 2 - FONT_PX // 2), legend["label"][language],
                  fill=TEXT, font=font)


def _ramp_labels(legend: dict[str, Any], language: str) -> tuple[str, str]:
    """The texts at the bar's top and bottom: values with unit, or the shade's two words."""
    if legend["kind"] == "shade":
        return legend["labels"]["high"][language], legend["labels"]["low"][language]
    unit = legend.get("unit", "")
    if legend["kind"] == "range":
        if not legend.get("range"):
            return "", ""
        low, high = legend["range"]
    else:
        low, high = legend["stops"][0][0], legend["stops"][-1][0]
    return f"{_number(high, language)} {unit}".strip(), f"{_number(low, language)} {unit}".strip()


def _number(value: float, language: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if language == "de" else text


def _interpolate(stops: list[tuple[float, tuple[int, ...]]], at: float) -> tuple[int, ...]:
    for (a, c0), (b, c1) in pairwise(stops):
        if a <= at <= b:
            t = 0.0 if b == a else (at - a) / (b - a)
            return tuple(round(u + (v - u) * t) for u, v in zip(c0, c1, strict=True))
    return stops[-1][1] if at > stops[-1][0] else stops[0][1]


def _rgb(colour: str) -> tuple[int, int, int, int]:
    return (*hex_rgb(colour), 255)


def _font(weight: str, size: int = FONT_PX) -> Font:
    """DejaVu Sans (Debian fonts-dejavu-core, also the map labels' font); Pillow's own bitmap
    font where it is missing, so a legend is still drawn."""
    for folder in FONT_DIRS:
        path = folder / FONT_FILES[weight]
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()
