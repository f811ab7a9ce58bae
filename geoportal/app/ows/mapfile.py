"""MapServer's mapfile: how each map layer is drawn and queried (rendered, never hand-edited).

MapServer is only MapProxy's renderer (run as a CGI process with this file); clients never
reach it. Raster layers draw the published mosaics with the same colours as the OGC API tiles
(:mod:`pipelines.imagery.webtiles`), vector layers the GeoPackages in the web map's legend
colour; GetFeatureInfo answers with the schema's fields as GeoJSON, GML or plain text.
"""

from __future__ import annotations

import html
import re
from itertools import pairwise
from pathlib import Path

from geoportal.app.ows.layers import MapLayer
from pipelines.imagery.webtiles import CANOPY_STOPS

#: The CRSs MapServer draws in (MapProxy offers the same to clients).
SERVED_CRS = ("EPSG:25832", "EPSG:4326", "EPSG:3857", "EPSG:25833", "EPSG:4258")
#: A click within this many pixels of a point or line finds it (areas: the click must be in).
TOLERANCE_PX = {"point": 6, "line": 4, "polygon": 0}
#: The largest WMS image, pixels per side (MapProxy and MapServer are given the same).
MAX_IMAGE_PX = 4096
#: GetFeatureInfo answer types, as MapServer names them to MapProxy.
INFO_FORMATS = ("application/json", "text/xml", "text/plain", "text/html")
#: The HTML answer's frame (MapServer templates; each layer's rows are ``<id>.html``).
HTML_HEADER = "<!-- MapServer Template -->\n<!DOCTYPE html>\n<html lang=\"de\"><head>" \
    "<meta charset=\"utf-8\"><title>Geoportal Ratingen</title></head><body>\n"
HTML_FOOTER = "<!-- MapServer Template -->\n</body></html>\n"

HEADER = """MAP
  NAME "geoportal"
  EXTENT 280000 5600000 420000 5760000
  SIZE 256 256
  MAXSIZE {max_px}
  UNITS METERS
  IMAGECOLOR 255 255 255
  PROJECTION "init=epsg:25832" END
  CONFIG "MS_ERRORFILE" "stderr"
  OUTPUTFORMAT NAME "png" DRIVER "AGG/PNG" MIMETYPE "image/png" IMAGEMODE RGBA
    EXTENSION "png" TRANSPARENT ON END
  OUTPUTFORMAT NAME "jpeg" DRIVER "AGG/JPEG" MIMETYPE "image/jpeg" IMAGEMODE RGB
    EXTENSION "jpg" FORMATOPTION "QUALITY=90" END
  OUTPUTFORMAT NAME "geojson" DRIVER "OGR/GEOJSON" MIMETYPE "application/json"
    FORMATOPTION "FORM=SIMPLE" FORMATOPTION "STORAGE=memory" FORMATOPTION "LCO:RFC7946=YES"
    FORMATOPTION "LCO:WRITE_NAME=NO" END
  OUTPUTFORMAT NAME "gmlxml" DRIVER "OGR/GML" MIMETYPE "text/xml"
    FORMATOPTION "FORM=SIMPLE" FORMATOPTION "STORAGE=memory" FORMATOPTION "DSCO:FORMAT=GML3" END
  SYMBOL NAME "circle" TYPE ELLIPSE FILLED TRUE POINTS 1 1 END END
  WEB
    HEADER "header.html"
    FOOTER "footer.html"
    METADATA
      "wms_title" "Geoportal Ratingen (renderer)"
      "wms_onlineresource" "http://localhost/mapserv?"
      "wms_srs" "{srs}"
      "wms_enable_request" "*"
      "wms_getfeatureinfo_formatlist" "{info}"
      "wms_encoding" "UTF-8"
      "wms_feature_info_mime_type" "text/html"
    END
  END
"""


def render_mapfile(layers: list[MapLayer]) -> str:
    head = HEADER.format(srs=" ".join(SERVED_CRS), info=",".join(INFO_FORMATS),
                         max_px=MAX_IMAGE_PX)
    return head + "".join(_raster(x) if x.kind == "raster" else _vector(x) for x in layers) \
        + "END\n"


def html_templates(layers: list[MapLayer]) -> dict[str, str]:
    """The HTML GetFeatureInfo templates by file name: the page frame, and per layer a heading
    and one table per feature with the fields' German titles (values HTML-escaped)."""
    files = {"header.html": HTML_HEADER, "footer.html": HTML_FOOTER,
             "layer-footer.html": "<!-- MapServer Template -->\n"}
    for layer in layers:
        if not layer.queryable:
            continue
        files[f"{layer.id}.header.html"] = ("<!-- MapServer Template -->\n"
                                            f"<h2>{html.escape(layer.title)}</h2>\n")
        rows = "".join(f"<tr><th>{html.escape(title)}</th>"
                       f'<td>[item name="{name}" escape="html"]</td></tr>\n'
                       for name, title in layer.fields)
        files[f"{layer.id}.html"] = ("<!-- MapServer Template -->\n"
                                     f'<table class="feature">\n{rows}</table>\n')
    return files


def render_mapserver_config(mapfile: Path) -> str:
    """MapServer 8's own configuration: it opens this one mapfile and no other."""
    pattern = "^" + re.escape(str(mapfile)).replace('"', '\\"') + "$"
    return f'CONFIG\n  ENV\n    MS_MAP_PATTERN "{pattern}"\n    MS_NO_VERSION "1"\n  END\nEND\n'


def _raster(layer: MapLayer) -> str:
    lines = [f'  LAYER NAME {_q(layer.id)} TYPE RASTER STATUS ON',
             f'    DATA {_q(str(layer.data))}',
             '    PROJECTION "init=epsg:25832" END',
             '    PROCESSING "RESAMPLE=BILINEAR"',
             f'    METADATA "wms_title" {_q(layer.title)} END']
    if layer.style == "canopy":
        lines += _canopy_classes()
    elif layer.bands >= 3:
        lines.append('    PROCESSING "BANDS=1,2,3"')
    lines.append("  END\n")
    return "\n".join(lines)


def _canopy_classes() -> list[str]:
    """The canopy heights' green ramp of the OGC API tiles (transparent below the first stop)."""
    lines = ['    PROCESSING "SCALE=0,100"', '    PROCESSING "SCALE_BUCKETS=10000"']
    for (low, c0), (high, c1) in pairwise(CANOPY_STOPS):
        lines.append(f"    CLASS EXPRESSION ([pixel] >= {low} AND [pixel] < {high}) STYLE "
                     f"COLORRANGE {_rgb(c0)} {_rgb(c1)} DATARANGE {low} {high} END END")
    top, colour = CANOPY_STOPS[-1]
    lines.append(f"    CLASS EXPRESSION ([pixel] >= {top}) STYLE COLOR {_rgb(colour)} END END")
    return lines


def _vector(layer: MapLayer) -> str:
    fields = ",".join(name for name, _ in layer.fields)
    lines = [f"  LAYER NAME {_q(layer.id)} TYPE {layer.kind.upper()} STATUS ON",
             "    CONNECTIONTYPE OGR",
             f"    CONNECTION {_q(str(layer.data))}",
             f"    DATA {_q(layer.table or layer.id)}",
             '    PROJECTION "init=epsg:25832" END',
             f'    TEMPLATE {_q(layer.id + ".html")}',
             f'    HEADER {_q(layer.id + ".header.html")}',
             '    FOOTER "layer-footer.html"',
             f"    TOLERANCE {TOLERANCE_PX[layer.kind]} TOLERANCEUNITS PIXELS",
             "    METADATA",
             f'      "wms_title" {_q(layer.title)}',
             f'      "wms_include_items" {_q(fields)}',
             f'      "gml_include_items" {_q(fields)}',
             f'      "gml_featureid" {_q(layer.id_field or "")}',
             '      "gml_types" "auto"',
             "    END",
             f"    CLASS {_style(layer)} END",
             "  END\n"]
    return "\n".join(lines)


def _style(layer: MapLayer) -> str:
    rgb = _rgb(hex_rgb(layer.colour))
    if layer.kind == "point":
        return f'STYLE SYMBOL "circle" SIZE 9 COLOR {rgb} OUTLINECOLOR 255 255 255 WIDTH 1 END'
    if layer.kind == "line":
        return f"STYLE COLOR {rgb} WIDTH 2 END"
    return f"STYLE COLOR {rgb} OPACITY 25 END STYLE OUTLINECOLOR {rgb} WIDTH 1 END"


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` (the registry's colours) as red, green, blue."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _rgb(colour: tuple[int, int, int]) -> str:
    return " ".join(str(int(c)) for c in colour)


def _q(text: str) -> str:
    """A mapfile string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
