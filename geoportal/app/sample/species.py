"""Tree species: German municipal mix, growth and crown shape parameters."""

from __future__ import annotations

import numpy as np

# name_de, botanical, h_max (m), tau (growth years), crown diameter/height, conifer,
# crown RGB in the orthophoto, weights: street, park, forest, garden
SPECIES: list[tuple] = [
    ("Winter-Linde", "Tilia cordata", 28, 35, 0.60, False, (62, 98, 45), 25, 14, 0, 5),
    ("Spitz-Ahorn", "Acer platanoides", 24, 30, 0.65, False, (70, 105, 48), 20, 10, 3, 8),
    ("Ahornblättrige Platane", "Platanus × hispanica", 30, 40, 0.70, False, (78, 110, 55),
     12, 6, 0, 0),
    ("Stiel-Eiche", "Quercus robur", 30, 45, 0.65, False, (60, 90, 42), 6, 12, 18, 3),
    ("Gewöhnliche Rosskastanie", "Aesculus hippocastanum", 25, 30, 0.70, False, (58, 95, 40),
     6, 8, 0, 3),
    ("Hänge-Birke", "Betula pendula", 22, 20, 0.45, False, (90, 120, 60), 4, 8, 8, 10),
    ("Hainbuche", "Carpinus betulus", 20, 30, 0.60, False, (65, 100, 47), 8, 6, 8, 4),
    ("Rotbuche", "Fagus sylvatica", 32, 40, 0.55, False, (66, 104, 44), 2, 10, 35, 4),
    ("Gewöhnliche Esche", "Fraxinus excelsior", 30, 35, 0.55, False, (74, 106, 52), 3, 5, 6, 0),
    ("Wald-Kiefer", "Pinus sylvestris", 26, 35, 0.35, True, (48, 75, 45), 0, 3, 10, 3),
    ("Gemeine Fichte", "Picea abies", 32, 35, 0.30, True, (38, 66, 40), 0, 2, 12, 3),
    ("Japanische Blütenkirsche", "Prunus serrulata", 8, 15, 0.90, False, (95, 110, 60),
     5, 3, 0, 12),
    ("Robinie", "Robinia pseudoacacia", 22, 25, 0.55, False, (85, 115, 58), 4, 3, 0, 2),
    ("Kultur-Apfel", "Malus domestica", 8, 15, 0.90, False, (80, 105, 50), 0, 0, 0, 15),
    ("Schwarz-Erle", "Alnus glutinosa", 22, 25, 0.50, False, (55, 88, 42), 0, 6, 4, 0),
]

NAME_DE = np.array([s[0] for s in SPECIES], dtype=object)
BOTANICAL = np.array([s[1] for s in SPECIES], dtype=object)
H_MAX = np.array([s[2] for s in SPECIES], dtype=np.float64)
TAU = np.array([s[3] for s in SPECIES], dtype=np.float64)
CROWN_RATIO = np.array([s[4] for s in SPECIES], dtype=np.float64)
CONIFER = np.array([s[5] for s in SPECIES], dtype=bool)
COLOUR = np.array([s[6] for s in SPECIES], dtype=np.float64)

# settings
STREET, PARK, FOREST, GARDEN = range(4)
SETTING_NAMES = np.array(["street", "park", "forest", "garden"], dtype=object)
_WEIGHTS = np.array([s[7:11] for s in SPECIES], dtype=np.float64)  # (species, setting)


def pick_species(rng: np.random.Generator, setting: int, n: int) -> np.ndarray:
    w = _WEIGHTS[:, setting]
    return rng.choice(len(SPECIES), size=n, p=w / w.sum())


def grow(rng: np.random.Generator, species: np.ndarray, age: np.ndarray, setting: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height, crown radius and crown base height for trees of a given age (years)."""
    n = species.size
    h = H_MAX[species] * (1 - np.exp(-np.maximum(age, 1) / TAU[species]))
    h *= rng.uniform(0.85, 1.12, n)
    if setting == STREET:
        h *= 0.85  # pruned, compacted soil
    h = np.clip(h, 4.0, 30.0)
    r = 0.5 * np.clip(h * CROWN_RATIO[species] * rng.uniform(0.85, 1.15, n), 2.5, 20.0)
    lo, hi = (0.45, 0.65) if setting == FOREST else (0.25, 0.45)
    base = h * rng.uniform(lo, hi, n)
    base = np.where(CONIFER[species], h * rng.uniform(0.2, 0.4, n), base)
    return h, r, base


def stem_circumference(rng: np.random.Generator, h: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Stem circumference at 1 m (cm): grows ~2.5 cm per year early, slower when old."""
    c = 2.2 * age**0.95 * (0.6 + 0.02 * h) * rng.uniform(0.8, 1.2, h.size)
    return np.clip(c, 15, 450)
