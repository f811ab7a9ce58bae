"""LoD2 buildings (issue 19): the fitted roof models as CityJSON solids and glTF meshes, read
back from the vertices as a client would."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from testkit.city3d import Glb, client_ecef, gltf_validator

from geoportal.app.sample.truth import roof_truth
from geoportal.core.settings import Settings
from pipelines.city3d import cityjson
from pipelines.city3d.lod2 import RoofModel, building_solids
from pipelines.city3d.tileset import globe_frame
from pipelines.solar.roofmodel import Frame, RoofFit, Shape, model_planes

#: a 14 × 9 m house turned 30° from east, its floor at 50 m, eave at 56 m
FRAME = Frame(cx=350500.0, cy=5685500.0, theta=np.radians(30.0), half_u=7.0, half_v=4.5)
GROUND, EAVE = 50.0, 56.0


def sample_roof(kind: str, slope_deg: float, param: float) -> tuple[RoofModel, float]:
    """A fitted roof as ``roof_solar`` publishes it (its planes) and its true ridge."""
    s = np.tan(np.radians(slope_deg))
    ridge = EAVE + s * (FRAME.half_v - abs(param) if kind == "gabled" else FRAME.half_v)
    fit = RoofFit(kind, ridge, EAVE, 60.0, slope_deg, 0.1, 1.0, Shape(kind, FRAME, param),
                  (ridge, s))
    return RoofModel(kind, np.array(model_planes(fit))), ridge


def house(frame: Frame = FRAME) -> shapely.Polygon:
    c, s = np.cos(frame.theta), np.sin(frame.theta)
    return shapely.Polygon([(frame.cx + u * c - v * s, frame.cy + u * s + v * c) for u, v in
                            [(-7, -4.5), (7, -4.5), (7, 4.5), (-7, 4.5)]])


def lod2_of(doc: dict, oid: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """A city object's LoD2 vertices in metres and its roof faces' outer rings."""
    real = np.asarray(doc["vertices"]) * doc["transform"]["scale"] + \
        doc["transform"]["translate"]
    (geometry,) = [g for g in doc["CityObjects"][oid]["geometry"] if g["lod"] == "2"]
    surfaces = geometry["semantics"]["surfaces"]
    roofs = [real[face[0]] for shell, values in zip(geometry["boundaries"],
                                                    geometry["semantics"]["values"],
                                                    strict=True)
             for face, v in zip(shell, values, strict=True)
             if surfaces[v]["type"] == "RoofSurface"]
    points = real[sorted({i for shell in geometry["boundaries"] for face in shell
                          for ring in face for i in ring})]
    return points, roofs


def slope_of(ring: np.ndarray) -> float:
    """A face's tilt from its vertices (Newell's normal)."""
    normal = np.cross(ring - ring.mean(0), np.roll(ring, -1, 0) - ring.mean(0)).sum(0)
    return float(np.degrees(np.arccos(normal[2] / np.linalg.norm(normal))))


@pytest.mark.parametrize(("kind", "slope", "param", "faces"),
                         [("gabled", 38.0, 0.5, 2), ("hipped", 30.0, 2.5, 4)])
def test_a_gabled_and_a_hipped_roof_round_trip_through_cityjson(kind, slope, param, faces,
                                                                 tmp_path: Path):
    model, ridge = sample_roof(kind, slope, param)
    solids = building_solids(house(), GROUND, model)
    assert solids is not None
    doc = cityjson.document([cityjson.Building("b1", house(), GROUND, EAVE + 1, {}, solids)],
                            "test", 25832, "2026-12-07")
    path = tmp_path / "lod2.city.json"
    cityjson.write(path, doc)
    report = cityjson.validate(path)
    assert report.valid and not report.warnings, report.errors
    points, roofs = lod2_of(json.loads(path.read_text()), "b1")
    assert len(roofs) == faces
    assert points[:, 2].max() - GROUND == pytest.approx(ridge - GROUND, abs=0.005)
    assert points[:, 2].min() == pytest.approx(GROUND, abs=0.001)
    assert [slope_of(r) for r in roofs] == pytest.approx([slope] * faces, abs=0.1)
    footprint = shapely.get_coordinates(house())
    eaves = sorted(r[:, 2].min() for r in roofs)
    low = EAVE - 2 * param * np.tan(np.radians(slope)) if kind == "gabled" else EAVE
    assert eaves[-1] == pytest.approx(EAVE, abs=0.005)  # off the centre, one eave is lower
    assert eaves[0] == pytest.approx(low, abs=0.005)
    assert shapely.union_all([shapely.Polygon(r[:, :2]) for r in roofs]).area == \
        pytest.approx(shapely.Polygon(footprint).area, rel=1e-4), "the roof covers the house"


def test_an_l_shaped_footprint_under_a_gabled_model_is_closed(tmp_path: Path):
    model, _ = sample_roof("gabled", 40.0, 0.0)
    ell = shapely.union(house(), shapely.box(350490, 5685490, 350499, 5685497))
    solids = building_solids(ell, GROUND, model)
    assert solids is not None
    doc = cityjson.document([cityjson.Building("b1", ell, GROUND, EAVE, {}, solids)],
                            "test", 25832, "2026-12-07")
    assert cityjson.check(doc) == ([], [])


def test_the_checker_refuses_broken_lod2_semantics():
    model, _ = sample_roof("hipped", 30.0, 2.5)
    doc = cityjson.document([cityjson.Building("b1", house(), GROUND, EAVE, {},
                                               building_solids(house(), GROUND, model))],
                            "test", 25832, "2026-12-07")
    assert cityjson.check(doc) == ([], [])

    def lod2(d: dict) -> dict:
        return d["CityObjects"]["b1"]["geometry"][1]

    def lift_ridge(d: dict) -> None:  # the ridge 0.3 m above the fitted planes
        top = max(range(len(d["vertices"])), key=lambda i: d["vertices"][i][2])
        d["vertices"][top][2] += 300

    def roof_as_ground(d: dict) -> None:
        values = lod2(d)["semantics"]["values"][0]
        values[values.index(2)] = 0

    def plane_moved(d: dict) -> None:
        lod2(d)["semantics"]["surfaces"][2]["plane"][2] += 0.5

    def unknown_surface(d: dict) -> None:
        lod2(d)["semantics"]["surfaces"][1]["type"] = "TrafficArea"

    for spoil in (lift_ridge, roof_as_ground, plane_moved, unknown_surface):
        broken = json.loads(json.dumps(doc))
        spoil(broken)
        errors, _ = cityjson.check(broken)
        assert errors, spoil.__name__


def test_a_roof_below_the_floor_keeps_the_block():
    model, _ = sample_roof("gabled", 38.0, 0.0)
    assert building_solids(house(), EAVE + 1.0, model) is None
    assert building_solids(house(), GROUND, None) is None


# --- the built sample city ---------------------------------------------------------------


def _published(settings: Settings, dataset: str) -> Path:
    return settings.published_dir / dataset


def test_the_sample_citys_lod2_roofs_match_the_generators_truth(portal: Settings):
    truth = roof_truth(portal.raw_dir)
    truth = truth[truth["in_alkis"]].reset_index(drop=True)
    errors: dict[str, list[float]] = {"ridge": [], "slope": []}
    lod2 = total = 0
    for path in sorted((_published(portal, "buildings_3d") / "cityjson").glob("*.json")):
        doc = json.loads(path.read_text())
        for oid, obj in doc["CityObjects"].items():
            total += 1
            if len(obj["geometry"]) < 2:
                continue
            lod2 += 1
            points, roofs = lod2_of(doc, oid)
            inside = shapely.Point(points[:, :2].mean(0))
            match = truth[truth.contains(inside)]
            if len(match) != 1 or match.iloc[0]["roof_type"] != obj["attributes"]["roofType"]:
                continue
            true = match.iloc[0]
            errors["ridge"].append(points[:, 2].max() - true["ridge_z"])
            if true["roof_type"] == "gabled":
                errors["slope"].extend(slope_of(r) - true["slope_deg"] for r in roofs)
    assert lod2 >= 0.95 * total, (lod2, total)
    rmse = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in errors.items()}
    assert len(errors["ridge"]) >= 0.9 * len(truth)
    assert rmse["ridge"] <= 0.3 and rmse["slope"] <= 3.0, rmse


def test_lod2_glb_reaches_the_ridges_and_passes_the_validator(portal: Settings):
    folder = _published(portal, "buildings_3d")
    tileset = json.loads((folder / "3dtiles" / "tileset.json").read_text())
    blocks = gpd.read_file(folder / "buildings_3d.gpkg").set_index("building_id")
    frame = globe_frame()
    above = 0
    for child in tileset["root"]["children"]:
        path = folder / "3dtiles" / child["content"]["uri"]
        issues = gltf_validator(path)
        assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"][:5]
        glb = Glb(path)
        utm = frame.from_ecef(client_ecef(glb.positions().astype(float), child["transform"]))
        ids, table = glb.feature_ids().astype(int), glb.table()
        for n in np.unique(ids):
            if table["roof_type"][n] != "gabled":
                continue
            block = blocks.loc[table["building_id"][n]]
            top = utm[ids == n, 2].max()
            above += top > block.roof_m + 0.2  # the ridge above the LoD1 roof (95th pct.)
    assert above >= 50, "gabled roofs are drawn with their ridges"
