"""NRW LoD2 buildings as Geobasis NRW delivers them: CityGML 1.0 (AdV profile), one file per
1 km tile (``LoD2_32_<E>_<N>_1_NW.gml``), heights in DHHN2016.

NRW publishes LoD2 for the whole state, so a city's own roof models can be checked against
the surveying office's (``tests/city3d/test_citygml_nrw.py``, docs/3d.md): each *unit* — a
``bldg:Building`` without parts, or each ``bldg:BuildingPart`` — carries its AdV roof type
code, its measured height and its own bounding surfaces. The reader keeps what a roof check
needs: the unit's footprint (its ground surfaces), its roof polygons in 3D, and the AdV code
mapped onto the five roof types the roof model knows (:data:`ADV_ROOF_TYPES`). Anything else
in the file (addresses, functions, storeys) is not read; a file that is not CityGML, or a unit
without roof or ground surfaces, is refused with the file and the unit named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from lxml import etree

from geoportal.core.errors import SourceError

#: CityGML 1.0 and 2.0 building and GML namespaces: NRW delivers 1.0, other states 2.0.
BLDG = ("http://www.opengis.net/citygml/building/1.0", "http://www.opengis.net/citygml/building/2.0")
GML = "http://www.opengis.net/gml"
#: AdV roof type codes (AX_Dachform) → the roof model's types. Pult- and versetztes Pultdach
#: are shed roofs, Walm- and Krüppelwalmdach hipped; Mansard, Zelt-, Kegel-, Kuppel-, Shed-,
#: Bogen-, Turmdach, Mischform (5000) and Sonstiges fall to "complex", as the model does.
ADV_ROOF_TYPES = {"1000": "flat", "2100": "shed", "2200": "shed", "3100": "gabled",
                  "3200": "hipped", "3300": "hipped"}


@dataclass(frozen=True)
class RoofPolygon:
    """One planar roof surface: its ring (n × 3, metres) and plane z = a·x + b·y + c."""

    ring: np.ndarray

    @property
    def plane(self) -> tuple[float, float, float]:
        design = np.column_stack([self.ring[:, 0], self.ring[:, 1], np.ones(len(self.ring))])
        (a, b, c), *_ = np.linalg.lstsq(design, self.ring[:, 2], rcond=None)
        return float(a), float(b), float(c)

    @property
    def tilt_deg(self) -> float:
        a, b, _ = self.plane
        return float(np.degrees(np.arctan(np.hypot(a, b))))

    @property
    def area_2d(self) -> float:
        return float(shapely.Polygon(self.ring[:, :2]).area)


@dataclass(frozen=True)
class LoD2Unit:
    """A building or building part of an LoD2 file, as far as a roof check reads it."""

    unit_id: str
    building_id: str
    adv_roof_type: str
    measured_height_m: float
    footprint: shapely.Polygon | shapely.MultiPolygon
    ground_z: float
    roofs: tuple[RoofPolygon, ...]

    @property
    def roof_type(self) -> str:
        """The roof model's type of the AdV code (:data:`ADV_ROOF_TYPES`)."""
        return ADV_ROOF_TYPES.get(self.adv_roof_type, "complex")

    @property
    def ridge_z(self) -> float:
        return float(max(r.ring[:, 2].max() for r in self.roofs))

    @property
    def slope_deg(self) -> float:
        """The area-weighted tilt of its roof surfaces (flat ones count as 0°)."""
        areas = np.array([r.area_2d for r in self.roofs])
        tilts = np.array([r.tilt_deg for r in self.roofs])
        return float((areas * tilts).sum() / areas.sum())


def read_lod2(path: Path) -> list[LoD2Unit]:
    """Every unit with a roof type of a CityGML LoD2 file (see the module's docstring)."""
    try:
        root = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as error:
        raise SourceError(f"{path}: not a readable CityGML file ({error})") from error
    units = []
    for ns in BLDG:
        for building in root.iter(f"{{{ns}}}Building"):
            parts = list(building.iter(f"{{{ns}}}BuildingPart"))
            for element in parts or [building]:
                units.append(_unit(path, element, building, ns))
    if not units:
        raise SourceError(f"{path}: no bldg:Building of CityGML 1.0 or 2.0 in the file")
    return units


def _unit(path: Path, element: etree._Element, building: etree._Element, ns: str) -> LoD2Unit:
    unit_id = element.get(f"{{{GML}}}id", "?")
    where = f"{path}: unit {unit_id}"
    roof_type = element.findtext(f"{{{ns}}}roofType")
    height = element.findtext(f"{{{ns}}}measuredHeight")
    grounds = _rings(element, f"{{{ns}}}GroundSurface", ns)
    roofs = _rings(element, f"{{{ns}}}RoofSurface", ns)
    if roof_type is None or not grounds or not roofs:
        raise SourceError(f"{where}: expected bldg:roofType, GroundSurface and RoofSurface "
                          f"polygons (found roofType={roof_type!r}, {len(grounds)} ground and "
                          f"{len(roofs)} roof polygons)")
    footprint = shapely.union_all([shapely.Polygon(r[:, :2]) for r in grounds])
    return LoD2Unit(unit_id, building.get(f"{{{GML}}}id", unit_id), roof_type.strip(),
                    float(height) if height else float("nan"), footprint,
                    float(np.median(np.concatenate([r[:, 2] for r in grounds]))),
                    tuple(RoofPolygon(r) for r in roofs))


def _rings(element: etree._Element, surface_tag: str, ns: str) -> list[np.ndarray]:
    """The exterior rings (n × 3) of the unit's own surfaces of one kind (not its parts')."""
    rings = []
    for bounded in element.findall(f"{{{ns}}}boundedBy"):
        for surface in bounded.findall(surface_tag):
            for pos in surface.iter(f"{{{GML}}}posList"):
                if pos.getparent().tag != f"{{{GML}}}LinearRing" or \
                        pos.getparent().getparent().tag != f"{{{GML}}}exterior":
                    continue
                values = np.array(pos.text.split(), float)
                rings.append(values.reshape(-1, int(pos.get("srsDimension", "3"))))
    return rings


def roof_dsm(units: list[LoD2Unit], res: float, margin_m: float = 3.0
             ) -> tuple[np.ndarray, np.ndarray, tuple[float, float], np.ndarray]:
    """A surface model drawn from the units' roof planes (the highest roof at each cell
    centre), the terrain under them (each unit's ground height, elsewhere the lowest), the
    grid's origin (west, north) and a raster of unit numbers (1-based, 0 = none), so the
    roof model can be fitted on the surveying office's own geometry."""
    west, south, east, north = shapely.union_all([u.footprint for u in units]).bounds
    west, south, east, north = west - margin_m, south - margin_m, east + margin_m, north + margin_m
    cols, rows = int(np.ceil((east - west) / res)), int(np.ceil((north - south) / res))
    x = west + (np.arange(cols) + 0.5) * res
    y = north - (np.arange(rows) + 0.5) * res
    gx, gy = np.meshgrid(x, y)
    ground = min(u.ground_z for u in units)
    dsm = np.full((rows, cols), ground)
    dtm = np.full((rows, cols), ground)
    labels = np.zeros((rows, cols), np.int32)
    for number, unit in enumerate(units, start=1):
        inside = shapely.contains_xy(unit.footprint, gx, gy)
        labels[inside] = number
        dtm[inside] = unit.ground_z
        for roof in unit.roofs:
            on = shapely.contains_xy(shapely.Polygon(roof.ring[:, :2]), gx, gy)
            a, b, c = roof.plane
            dsm[on] = np.maximum(dsm[on], a * gx[on] + b * gy[on] + c)
    return dsm, dtm, (west, north), labels
