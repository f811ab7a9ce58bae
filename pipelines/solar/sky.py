"""Sun positions and a typical year's irradiance from pvlib, and their sum on a roof plane.

The sky model (docs/solar.md): pvlib's Ineichen clear sky, with the monthly Linke turbidity
pvlib ships for the site, gives the *shape* of the year — when the sun shines from where, and
how beam and diffuse light vary over the day and the seasons. No measured typical year of the
Lower Rhine can be read offline here, so the clear-sky beam and diffuse series are scaled to a
typical year's sums, given in the dataset's YAML: the yearly global horizontal irradiation and
its diffuse share (DWD's long-term means for the region are about 1,000 kWh/m² and 50 %).
Cloudiness is therefore one factor for the whole year, not a month-by-month one.

The year is sampled, not run hour by hour: every ``day_step``-th day at ``minutes`` steps, each
sample standing for its share of the year. The test compares the sum with pvlib's own
plane-of-array result over all 8,760 hours (within 2 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

#: Ratingen's centre (WGS84) and height above sea level: where the sun is computed.
RATINGEN = (51.2975, 6.8494, 60.0)


@dataclass(frozen=True)
class Sky:
    """The sampled year: one entry per daytime sample (sun above the horizontal)."""

    elevation: np.ndarray  # apparent sun elevation, degrees
    azimuth: np.ndarray  # degrees clockwise from north
    dni: np.ndarray  # direct normal irradiance, W/m²
    dhi: np.ndarray  # diffuse horizontal irradiance, W/m²
    ghi: np.ndarray  # global horizontal irradiance, W/m²
    hours: np.ndarray  # hours of the year each sample stands for
    albedo: float

    @property
    def diffuse_kwh(self) -> float:
        """Yearly diffuse horizontal irradiation, kWh/m²."""
        return float((self.dhi * self.hours).sum() / 1000)

    @property
    def global_kwh(self) -> float:
        """Yearly global horizontal irradiation, kWh/m²."""
        return float((self.ghi * self.hours).sum() / 1000)


def typical_year(times: pd.DatetimeIndex, ghi_kwh_m2: float, diffuse_share: float,
                 site: tuple[float, float, float] = RATINGEN) -> pd.DataFrame:
    """Sun position and scaled clear-sky irradiance at ``times`` (UTC) for ``site``.

    ``times`` must cover the year evenly (the scale factors are sums over them). Returns the
    columns ``apparent_zenith``, ``azimuth``, ``dni``, ``dhi``, ``ghi`` (W/m²); at night all
    irradiance is 0.
    """
    lat, lon, alt = site
    location = pvlib.location.Location(lat, lon, tz="UTC", altitude=alt)
    sun = location.get_solarposition(times)
    clear = location.get_clearsky(times, model="ineichen", solar_position=sun)
    cos_zenith = np.clip(np.cos(np.radians(sun["apparent_zenith"].to_numpy())), 0, None)
    hours = _hours_per_sample(times)
    beam_clear = float((clear["dni"].to_numpy() * cos_zenith).sum() * hours / 1000)
    shape = float(clear["ghi"].to_numpy().sum() * hours / 1000)
    dni = clear["dni"].to_numpy() * ghi_kwh_m2 * (1 - diffuse_share) / beam_clear
    # Under clouds diffuse light follows the sun's height like the clear-sky global does.
    dhi = clear["ghi"].to_numpy() * ghi_kwh_m2 * diffuse_share / shape
    return pd.DataFrame({"apparent_zenith": sun["apparent_zenith"], "azimuth": sun["azimuth"],
                         "dni": dni, "dhi": dhi, "ghi": dni * cos_zenith + dhi}, index=times)


def _hours_per_sample(times: pd.DatetimeIndex) -> float:
    """The hours each of the evenly spaced ``times`` stands for in a 365-day year."""
    return 365 * 24 / len(times)


def sample_times(day_step: int, minutes: int, year: int = 2023) -> pd.DatetimeIndex:
    """Every ``day_step``-th day (from the middle of the first interval) at ``minutes`` steps,
    each at the middle of its interval."""
    start = pd.Timestamp(f"{year}-01-01", tz="UTC")
    days = np.arange(day_step // 2, 365, day_step)
    offsets = np.arange(minutes / 2, 24 * 60, minutes)
    stamps = start + pd.to_timedelta((days[:, None] * 1440 + offsets[None, :]).ravel(), unit="min")
    return pd.DatetimeIndex(stamps)


def make_sky(ghi_kwh_m2: float, diffuse_share: float, albedo: float, day_step: int = 6,
             minutes: int = 20, site: tuple[float, float, float] = RATINGEN) -> Sky:
    """The sampled typical year, daytime samples only."""
    times = sample_times(day_step, minutes)
    year = typical_year(times, ghi_kwh_m2, diffuse_share, site)
    day = (year["apparent_zenith"] < 90).to_numpy()
    hours = np.full(int(day.sum()), _hours_per_sample(times))
    return Sky(elevation=90 - year["apparent_zenith"].to_numpy()[day],
               azimuth=year["azimuth"].to_numpy()[day], dni=year["dni"].to_numpy()[day],
               dhi=year["dhi"].to_numpy()[day], ghi=year["ghi"].to_numpy()[day], hours=hours,
               albedo=albedo)


def irradiation(sky: Sky, tilt: np.ndarray, azimuth: np.ndarray, plane: np.ndarray,
                horizon: np.ndarray) -> np.ndarray:
    """Yearly irradiation (kWh/m²) on the plane of each point, shaded by its horizon.

    ``tilt``, ``azimuth``: per plane (degrees; azimuth the direction the plane faces, clockwise
    from north); ``plane``: each point's plane index; ``horizon``: per point the horizon's
    elevation (degrees) in K equal azimuth sectors, the first centred on north.

    Beam light counts while the sun stands above the point's horizon in its sector; to avoid a
    points × samples comparison, each sector's samples are sorted by sun elevation once, and a
    point's beam sum is a look-up in its plane's running sum at the count of samples above its
    horizon. Sky diffuse is isotropic (pvlib's ``isotropic`` model) times the share of the sky
    the horizon leaves open (the mean of cos² of the horizon angles); ground-reflected light
    is not shaded.
    """
    k = horizon.shape[1]
    width = 360 / k
    sector = (((sky.azimuth + width / 2) % 360) // width).astype(int)
    projection = pvlib.irradiance.aoi_projection(tilt[:, None], azimuth[:, None],
                                                 90 - sky.elevation[None, :],
                                                 sky.azimuth[None, :])
    beam = np.clip(projection, 0, None) * (sky.dni * sky.hours)[None, :]
    total = np.zeros(len(plane))
    for s in range(k):
        idx = np.flatnonzero(sector == s)
        if not len(idx):
            continue
        idx = idx[np.argsort(-sky.elevation[idx], kind="stable")]
        running = np.concatenate([np.zeros((len(tilt), 1)), np.cumsum(beam[:, idx], axis=1)],
                                 axis=1)
        above = np.searchsorted(-sky.elevation[idx], -horizon[:, s], side="left")
        total += running[plane, above]
    open_sky = sky_view(horizon, tilt[plane], azimuth[plane])
    cos_tilt = np.cos(np.radians(tilt[plane]))
    diffuse = sky.diffuse_kwh * 1000 * (1 + cos_tilt) / 2 * open_sky
    ground = sky.global_kwh * 1000 * sky.albedo * (1 - cos_tilt) / 2
    return (total + diffuse + ground) / 1000


def sky_view(horizon: np.ndarray, tilt: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """The share of the sky a tilted plane sees that its horizon leaves open, per point.

    Over a horizontal plane the isotropic sky view factor is the mean of cos² of the horizon
    angles. A tilted plane cannot see the sky behind it anyway: in a direction φ its own
    surface rises to β(φ) = atan(−tan(tilt)·cos(φ − azimuth)), so only what a horizon hides
    above β counts (the roof's own ridge seen from its lower part hides nothing). The hidden
    band sin²(max(h, β)) − sin²(β) is taken as a share of the visible sky Σ cos²(β); for a
    flat roof this is exactly the horizontal view factor.
    """
    k = horizon.shape[1]
    phi = np.radians(np.arange(k) * 360 / k)
    rise = -np.tan(np.radians(tilt))[:, None] * np.cos(phi[None, :] - np.radians(azimuth)[:, None])
    own = np.clip(np.arctan(rise), 0, None)
    hidden = np.sin(np.maximum(np.radians(np.clip(horizon, 0, 90)), own)) ** 2 - np.sin(own) ** 2
    return 1 - hidden.sum(axis=1) / (np.cos(own) ** 2).sum(axis=1)
