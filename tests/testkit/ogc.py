"""OGC XML checked offline against the official schemas, and images compared with the COGs.

MapProxy's wheel ships the OGC schemas it is tested with (``mapproxy/test/schemas``: WMS 1.3.0,
WMTS 1.0, OWS 1.1, xlink, SLD). A resolver maps their ``http://schemas.opengis.net/`` and W3C
imports to those files, and the parser may not use the network, so validation works on the
offline build machines and cannot pass by skipping an import.
"""

from __future__ import annotations

import io
from importlib.resources import files
from pathlib import Path

import numpy as np
import rasterio
from lxml import etree
from PIL import Image
from rasterio.transform import from_bounds
from rasterio.warp import Resampling, reproject

SCHEMAS = Path(str(files("mapproxy"))) / "test" / "schemas"
WMS_130 = SCHEMAS / "wms" / "1.3.0" / "capabilities_1_3_0.xsd"
WMTS_100 = SCHEMAS / "wmts" / "1.0" / "wmtsGetCapabilities_response.xsd"
#: SLD 1.1.0's capabilities extension: WMS capabilities that offer GetLegendGraphic use it.
SLD_110 = SCHEMAS / "sld" / "1.1.0" / "sld_capabilities.xsd"
#: Remote schema locations → local copies (a folder for a prefix, a file for one document).
LOCAL = {"http://schemas.opengis.net/": SCHEMAS,
         "http://www.w3.org/2001/xml.xsd": SCHEMAS / "xml.xsd",
         "http://www.w3.org/1999/xlink.xsd": SCHEMAS / "xlink" / "1.0.0" / "xlinks.xsd"}


class LocalSchemas(etree.Resolver):
    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        for prefix, local in LOCAL.items():
            if system_url.startswith(prefix):
                target = local / system_url[len(prefix):] if local.is_dir() else local
                return self.resolve_filename(str(target), context)
        if not system_url.startswith(("http:", "https:")):
            return None  # a local file: lxml reads it
        raise AssertionError(f"schema import without a local copy: {system_url}")


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    parser.resolvers.add(LocalSchemas())
    return parser


def schema_errors(document: bytes, xsd: Path, *extensions: Path) -> list[str]:
    """The schema violations of an XML document (empty when valid); ``extensions`` are schemas
    of other namespaces the document may use (SLD's GetLegendGraphic in WMS capabilities)."""
    parser = _parser()
    schema = etree.XMLSchema(_combined(xsd, extensions, parser))
    schema.validate(etree.fromstring(document, parser))
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def _combined(xsd: Path, extensions: tuple[Path, ...], parser: etree.XMLParser) -> object:
    """One schema that imports the main one and its extensions, each by its public URL, so a
    schema both import (SLD imports WMS) is read once."""
    if not extensions:
        return etree.parse(str(xsd), parser)
    imports = []
    for path in (xsd, *extensions):
        namespace = etree.parse(str(path), parser).getroot().get("targetNamespace")
        url = "http://schemas.opengis.net/" + path.relative_to(SCHEMAS).as_posix()
        imports.append(f'<xs:import namespace="{namespace}" schemaLocation="{url}"/>')
    wrapper = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
               + "".join(imports) + "</xs:schema>")
    return etree.fromstring(wrapper.encode(), parser).getroottree()


def decode_rgba(image: bytes) -> np.ndarray:
    """A served PNG/JPEG as height × width × RGBA integers."""
    return np.asarray(Image.open(io.BytesIO(image)).convert("RGBA")).astype(np.int16)


def expected_image(mosaic: Path, crs: str, bbox: tuple[float, float, float, float],
                   width: int, height: int) -> np.ndarray:
    """The mosaic drawn on a ``width`` × ``height`` grid over ``bbox`` (x/y order, in ``crs``)
    by rasterio, bilinear: what a map server should send, height × width × bands."""
    with rasterio.open(mosaic) as src:
        out = np.zeros((src.count, height, width), np.float32)
        for band in range(src.count):
            reproject(rasterio.band(src, band + 1), out[band],
                      dst_transform=from_bounds(*bbox, width, height), dst_crs=crs,
                      resampling=Resampling.bilinear)
    return np.moveaxis(out, 0, -1)


def mean_difference(served: np.ndarray, expected: np.ndarray) -> float:
    """Mean absolute difference of the colour bands (one band: compared with red)."""
    bands = expected.shape[-1]
    got = served[..., :3] if bands >= 3 else served[..., :1]
    return float(np.abs(got.astype(np.float32) - expected[..., :got.shape[-1]]).mean())
