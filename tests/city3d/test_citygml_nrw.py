"""Issue 19, item 1, "report the scores on the real NRW buildings as far as they can be
checked": the surveying office's own LoD2 (a real Geobasis NRW CityGML extract, 4 buildings in
6 units) read, and the roof model fitted on a surface drawn from its roof planes. The real
LiDAR tile has no footprints, so this is the check real data allows: real roof shapes, real
footprints, the office's roof type codes and measured heights as the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoportal.core.errors import SourceError
from pipelines.city3d.citygml import read_lod2, roof_dsm
from pipelines.solar.roofmodel import fit_footprints

LOD2 = "nrw-alkis/LoD2_32_338_5706_1_NW_extract.gml"
RES = 0.5
NOISE_M = 0.05  # the DSM's height noise drawn onto the office's planes (seeded)


@pytest.fixture(scope="module")
def units(shared_data: Path) -> list:
    return read_lod2(shared_data / LOD2)


def test_the_offices_lod2_is_read_unit_by_unit_with_its_roof_type_and_height(units) -> None:
    assert len(units) == 6 and len({u.building_id for u in units}) == 4
    assert sorted(u.adv_roof_type for u in units) == ["1000", "3100", "3100", "3100", "5000",
                                                      "5000"]
    for unit in units:  # the geometry read agrees with the office's measured height
        assert unit.ridge_z - unit.ground_z == pytest.approx(unit.measured_height_m, abs=0.01)
        assert 29 < unit.ground_z < 31 and unit.footprint.area > 10
    flat = next(u for u in units if u.adv_roof_type == "1000")
    assert flat.roof_type == "flat" and flat.slope_deg == pytest.approx(0, abs=0.1)


def test_the_roof_model_finds_the_offices_flat_and_gabled_roofs(units) -> None:
    """Each unit whose AdV type is one of the model's shapes and whose footprint holds a roof
    to fit (≥ 25 m²): its type, ridge within 0.3 m and slope within 3° (issue 19's targets)."""
    dsm, dtm, origin, labels = roof_dsm(units, RES)
    dsm = dsm + np.random.default_rng(19).normal(0, NOISE_M, dsm.shape)
    roofs = fit_footprints(dsm, dtm, labels, [u.footprint for u in units], RES, origin, 1.0)
    checked = [(k, u) for k, u in enumerate(units)
               if u.roof_type != "complex" and u.footprint.area >= 25]
    assert len(checked) == 3
    for k, unit in checked:
        fit = roofs.fits[k]
        assert fit.roof_type == unit.roof_type, unit.unit_id
        assert fit.ridge_z == pytest.approx(unit.ridge_z, abs=0.3), unit.unit_id
        assert fit.slope_deg == pytest.approx(unit.slope_deg, abs=3), unit.unit_id
        assert roofs.ground[k] == pytest.approx(unit.ground_z, abs=0.01)


def test_a_file_that_is_not_lod2_is_refused_with_its_name(tmp_path: Path, units) -> None:
    broken = tmp_path / "LoD2_32_350_5685_1_NW.gml"
    broken.write_text("<core:CityModel", encoding="utf-8")
    with pytest.raises(SourceError, match=r"LoD2_32_350_5685_1_NW\.gml: not a readable CityGML"):
        read_lod2(broken)
    empty = tmp_path / "empty.gml"
    empty.write_text('<CityModel xmlns="http://www.opengis.net/citygml/1.0"/>', encoding="utf-8")
    with pytest.raises(SourceError, match=r"empty\.gml: no bldg:Building"):
        read_lod2(empty)


def test_a_unit_without_roof_surfaces_is_named(tmp_path: Path, shared_data: Path) -> None:
    text = (shared_data / LOD2).read_text(encoding="utf-8")
    stripped = text.replace("bldg:RoofSurface", "bldg:OuterCeilingSurface")
    path = tmp_path / "no_roofs.gml"
    path.write_text(stripped, encoding="utf-8")
    with pytest.raises(SourceError, match=r"no_roofs\.gml: unit \S+: expected bldg:roofType, "
                                          r"GroundSurface and RoofSurface .*0 roof polygons"):
        read_lod2(path)
