"""The generator's input: which tiles, how dense, which seed."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Named extents. "tiny" is the test fixture, "default" Ratingen's centre, "city" all of Ratingen.
DISTRICTS: dict[str, list[tuple[int, int]]] = {
    "tiny": [(350, 5685)],
    "default": [(e, n) for n in (5685, 5686) for e in (350, 351)],
    "city": [(e, n) for n in range(5683, 5692) for e in range(349, 360)],
}

#: UTM zone 32 eastings/northings (km) that make sense for NRW; outside them the generated
#: scene would no longer be "in Ratingen's real frame".
_E_RANGE = (280, 920)
_N_RANGE = (5560, 5850)


#: Which roofs the generator draws: the default flat and gabled ones (what the outputs other
#: tests rely on were made with), or ``"all"`` (opt-in): every type a roof model can find.
ROOF_SETS = ("flat_gabled", "all")


@dataclass(frozen=True)
class SampleSpec:
    """What to generate. Frozen so that it can key caches and be written to the manifest.

    tiles: lower-left corners of 1 km tiles in km (EPSG:25832), e.g. ``(350, 5685)``.
    lidar_density: points per m² (NRW delivers about 15–25).
    ortho_resolution: metres per pixel; must divide 1000 m evenly so tiles abut exactly.
    ortho_bands: ``"rgb"`` or ``"rgbi"`` (adds near infrared like the real DOP10 RGBI).
    ortho_jp2: also write NRW's delivery format, ``dop10rgbi_…jp2`` (JPEG 2000, RGB + NIR).
    roofs: ``"flat_gabled"`` (default) or ``"all"``: also hipped, shed and stepped ("complex")
    roofs, for scoring roof models (opt-in: the default sample stays byte-identical).
    """

    tiles: list[tuple[int, int]] = field(default_factory=lambda: list(DISTRICTS["tiny"]))
    seed: int = 42
    lidar_density: float = 15.0
    ortho_resolution: float = 0.5
    ortho_bands: str = "rgb"
    ortho_jp2: bool = True
    year: int = 2025
    roofs: str = "flat_gabled"

    def __post_init__(self) -> None:
        tiles = self.tiles
        if isinstance(tiles, str) or not hasattr(tiles, "__iter__"):
            raise ValueError(f"tiles: expected a list of (E_km, N_km) pairs, got {tiles!r}")
        norm: list[tuple[int, int]] = []
        for t in tiles:
            try:
                e, n = t
            except (TypeError, ValueError):
                raise ValueError(f"tiles: expected (E_km, N_km) pairs, got {t!r}") from None
            if not (isinstance(e, int) and isinstance(n, int)) or isinstance(e, bool):
                raise ValueError(f"tiles: expected integer kilometres, got {t!r}")
            if not (_E_RANGE[0] <= e <= _E_RANGE[1] and _N_RANGE[0] <= n <= _N_RANGE[1]):
                raise ValueError(
                    f"tiles: {t!r} is outside NRW in EPSG:25832 km "
                    f"(E {_E_RANGE[0]}–{_E_RANGE[1]}, N {_N_RANGE[0]}–{_N_RANGE[1]})"
                )
            norm.append((e, n))
        if not norm:
            raise ValueError("tiles: expected at least one tile")
        if len(set(norm)) != len(norm):
            raise ValueError("tiles: expected each tile once, got duplicates")
        object.__setattr__(self, "tiles", sorted(norm, key=lambda t: (t[1], t[0])))
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {self.seed!r}")
        if not (0.1 <= float(self.lidar_density) <= 100.0):
            raise ValueError(
                f"lidar_density: expected 0.1–100 points per m², got {self.lidar_density!r}"
            )
        res = float(self.ortho_resolution)
        px = 1000.0 / res if res > 0 else 0.0
        if not (0.05 <= res <= 10.0) or abs(px - round(px)) > 1e-6:
            raise ValueError(
                "ortho_resolution: expected metres per pixel in 0.05–10 that divide 1000 m "
                f"evenly (e.g. 0.1, 0.2, 0.5, 1), got {self.ortho_resolution!r}"
            )
        if self.ortho_bands not in ("rgb", "rgbi"):
            raise ValueError(f"ortho_bands: expected 'rgb' or 'rgbi', got {self.ortho_bands!r}")
        if self.roofs not in ROOF_SETS:
            raise ValueError(f"roofs: expected one of {ROOF_SETS}, got {self.roofs!r}")
        if not isinstance(self.year, int) or not (2000 <= self.year <= 2100):
            raise ValueError(f"year: expected an integer year 2000–2100, got {self.year!r}")

    @property
    def ortho_pixels(self) -> int:
        """Pixels per tile side."""
        return round(1000.0 / float(self.ortho_resolution))

    def as_dict(self) -> dict:
        return {
            "tiles": [list(t) for t in self.tiles],
            "seed": self.seed,
            "lidar_density": float(self.lidar_density),
            "ortho_resolution": float(self.ortho_resolution),
            "ortho_bands": self.ortho_bands,
            "ortho_jp2": self.ortho_jp2,
            "year": self.year,
            # only when asked for: the default sample's manifest stays byte-identical
            **({"roofs": self.roofs} if self.roofs != "flat_gabled" else {}),
        }
