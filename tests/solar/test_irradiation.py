"""Yearly irradiation on roof planes against pvlib (issue 19.4): an unshaded plane within 2 %
of pvlib's plane-of-array sum over all 8,760 hours, and a plane behind a wall of known height
against the same sum with the wall's exact horizon taken out."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pvlib
import pytest
import rasterio
import shapely

from pipelines.solar.pipeline import RoofSolarParams, roof_solar
from pipelines.solar.roofs import horizon
from pipelines.solar.sky import irradiation, make_sky, typical_year

GHI, DIFFUSE, ALBEDO = 1000.0, 0.5, 0.2
RES = 0.5


def hourly_year() -> pd.DataFrame:
    """The typical year hour by hour (the middle of every hour of 2023)."""
    times = pd.date_range("2023-01-01 00:30", periods=8760, freq="h", tz="UTC")
    return typical_year(times, GHI, DIFFUSE)


def pvlib_poa(tilt: float, azimuth: float, blocked=None, sky_view: float = 1.0) -> float:
    """pvlib's isotropic plane-of-array sum (kWh/m²): beam zeroed where ``blocked(elevation,
    azimuth)`` says the sun is behind an obstacle, sky diffuse times ``sky_view``."""
    year = hourly_year()
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, year["apparent_zenith"], year["azimuth"], year["dni"], year["ghi"],
        year["dhi"], albedo=ALBEDO, model="isotropic")
    beam = poa["poa_direct"].fillna(0).to_numpy()
    if blocked is not None:
        beam = np.where(blocked(90 - year["apparent_zenith"].to_numpy(),
                                year["azimuth"].to_numpy()), 0.0, beam)
    total = beam + poa["poa_sky_diffuse"].to_numpy() * sky_view + \
        poa["poa_ground_diffuse"].to_numpy()
    return float(total.sum() / 1000)


@pytest.mark.parametrize(("tilt", "azimuth"), [(35, 180), (0, 180), (45, 90), (25, 270),
                                               (40, 0)])
def test_an_unshaded_plane_gets_what_pvlib_gives_it(tilt, azimuth):
    sky = make_sky(GHI, DIFFUSE, ALBEDO)
    ours = irradiation(sky, np.array([float(tilt)]), np.array([float(azimuth)]),
                       np.array([0]), np.zeros((1, 36)))[0]
    assert ours == pytest.approx(pvlib_poa(tilt, azimuth), rel=0.02)


def test_a_wall_to_the_south_takes_its_horizon_out_of_the_sun():
    """A 20 m high, 400 m long wall 23.8 m south of a flat roof point: 40° above the horizon
    due south, lower to the sides (atan(H·cos φ / D)), nothing beyond its ends."""
    height, distance, half_length = 20.0, 20.0 / np.tan(np.radians(40.0)), 200.0
    size = 1000
    dsm = np.zeros((size, size))
    row0, col0 = size // 2, size // 2
    wall_row = row0 + round(distance / RES)  # rows run southwards
    dsm[wall_row:wall_row + 4, col0 - int(half_length / RES):col0 + int(half_length / RES)] = \
        height
    seen = horizon(dsm, RES, np.array([float(row0)]), np.array([float(col0)]),
                   np.array([0.0]), 72, 240.0)
    sky = make_sky(GHI, DIFFUSE, ALBEDO)
    ours = irradiation(sky, np.array([0.0]), np.array([180.0]), np.array([0]), seen)[0]

    def wall(azimuth: np.ndarray) -> np.ndarray:
        """The wall's true elevation angle (degrees) seen in direction ``azimuth``."""
        phi = np.radians(azimuth - 180.0)
        front = (np.cos(phi) > 0) & (np.abs(distance * np.tan(phi)) <= half_length)
        return np.where(front, np.degrees(np.arctan(height * np.cos(phi) / distance)), 0.0)

    fine = np.arange(0.05, 360, 0.1)
    view = float(np.mean(np.cos(np.radians(wall(fine))) ** 2))
    expected = pvlib_poa(0, 180, lambda elev, az: elev < wall(az), view)
    open_sky = pvlib_poa(0, 180)
    assert expected < 0.85 * open_sky  # a real shade (winter sun), not a rounding
    assert ours == pytest.approx(expected, rel=0.02), (ours, expected, open_sky)


def test_a_lone_gabled_house_gets_pvlibs_sum_on_its_south_roof(tmp_path: Path):
    """End to end on rasters: a 12 × 10 m house (ridge east–west, 35°) on open flat ground;
    the fitted south plane's mean irradiation is pvlib's for 35° south within 2 %."""
    x0, y0, size = 350000.0, 5685000.0, 400
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    x, y = x0 + (cols + 0.5) * RES, y0 + size * RES - (rows + 0.5) * RES
    cx, cy, half_u, half_v, eave = x0 + 100, y0 + 100, 6.0, 5.0, 6.0
    inside = (np.abs(x - cx) < half_u) & (np.abs(y - cy) < half_v)
    ground = np.full((size, size), 40.0)
    dsm = np.where(inside, 40 + eave + np.tan(np.radians(35)) * (half_v - np.abs(y - cy)),
                   ground)
    paths = {}
    for name, data in (("dsm", dsm), ("dtm", ground)):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=size, height=size, count=1,
                           dtype="float32", crs="EPSG:25832", nodata=-9999,
                           transform=rasterio.transform.from_origin(x0, y0 + size * RES, RES,
                                                                    RES)) as out:
            out.write(data.astype("float32"), 1)
    houses = gpd.GeoDataFrame({"building_id": ["house"]}, crs="EPSG:25832", geometry=[
        shapely.box(cx - half_u, cy - half_v, cx + half_u, cy + half_v)])
    tile = (x0 + 50, y0 + 50, x0 + 150, y0 + 150)
    planes = roof_solar(paths["dsm"], paths["dtm"], houses, np.array([True]), tile,
                        RoofSolarParams(max_distance_m=40.0))
    south = planes[planes["orientation"] == "south"].iloc[0]
    assert planes["roof_type"].tolist() == ["gabled", "gabled"]
    assert south["tilt_deg"] == pytest.approx(35, abs=0.5)
    assert south["irradiation_kwh_m2"] == pytest.approx(pvlib_poa(35, 180), rel=0.02)
    assert south["shading_loss_pct"] <= 1.0
    # a south roof of ~73 m² well over the module setback is suitable and rated
    assert south["suitability"] == "very good"
    assert south["kwp"] == pytest.approx(south["suitable_area_m2"] * 0.2, rel=0.01)
