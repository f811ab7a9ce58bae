"""Fixed geography of Ratingen: what does not depend on the seed.

Positions are approximate but in the right places relative to each other (EPSG:25832, m):
the centre in tile 350/5685, Lintorf and Breitscheid to the north, Hösel and Homberg to the
east, the Anger crossing from the eastern hills towards the Rhine plain, the A3/A44/A52/A524
around the town and Düsseldorf airport to the south-west.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The city's tile range (km), as in the real DOP tile index.
CITY_E_KM = (349, 360)
CITY_N_KM = (5683, 5692)

AIRPORT = ("Flughafen Düsseldorf", 344283.0, 5684388.0)


def creek_y(x: np.ndarray | float) -> np.ndarray:
    """Northing of the Anger's centre line at easting ``x`` (the creek runs west–east)."""
    x = np.asarray(x, dtype=np.float64)
    return (
        5685480.0
        + 420.0 * np.sin((x - 346000.0) / 1700.0)
        + 110.0 * np.sin((x - 349500.0) / 430.0)
        + 25.0 * np.sin(x / 97.0)
    )


def creek_slope(x: np.ndarray | float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (
        420.0 / 1700.0 * np.cos((x - 346000.0) / 1700.0)
        + 110.0 / 430.0 * np.cos((x - 349500.0) / 430.0)
        + 25.0 / 97.0 * np.cos(x / 97.0)
    )


def creek_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Approximate perpendicular distance (m) to the creek centre line, vectorised."""
    dy = np.asarray(y, dtype=np.float64) - creek_y(x)
    return np.abs(dy) / np.sqrt(1.0 + creek_slope(x) ** 2)


CREEK_HALF_WIDTH = 3.5
CREEK_NAME = "Anger"


@dataclass(frozen=True)
class Centre:
    name: str
    x: float
    y: float
    sigma: float
    weight: float = 1.0


#: Settlement centres: urbanness is a sum of Gaussians around them.
DISTRICT_CENTRES = [
    Centre("Ratingen-Mitte", 350450, 5685450, 1050, 1.25),
    Centre("Ratingen-West", 348950, 5686200, 650, 1.05),
    Centre("Tiefenbroich", 349500, 5684200, 650, 0.95),
    Centre("Ratingen-Süd", 351100, 5684100, 600, 0.95),
    Centre("Ratingen-Ost", 352200, 5686000, 420, 0.55),
    Centre("Lintorf", 350900, 5689500, 900, 1.1),
    Centre("Breitscheid", 353300, 5690300, 500, 0.95),
    Centre("Hösel", 355700, 5688400, 700, 1.0),
    Centre("Eggerscheidt", 354000, 5686700, 330, 0.85),
    Centre("Homberg", 356600, 5684800, 600, 1.0),
    Centre("Meiersberg", 358400, 5684000, 280, 0.8),
]

#: Business parks (Gewerbegebiete).
BUSINESS_CENTRES = [
    Centre("Gewerbegebiet Tiefenbroich", 349700, 5684900, 420),
    Centre("Gewerbegebiet Ratingen-Ost", 351950, 5685250, 330),
    Centre("Gewerbegebiet Lintorf", 350400, 5688650, 300),
    Centre("Gewerbegebiet Breitscheid", 353700, 5689500, 280),
    Centre("Gewerbegebiet West", 348600, 5687100, 330),
]

#: Forest cores (Ratingen's east and north are wooded).
FOREST_CENTRES = [
    Centre("Stadtwald Ost", 351750, 5686800, 330),
    Centre("Angertal", 356000, 5686500, 1200),
    Centre("Hösel Wald", 357800, 5688000, 900),
    Centre("Lintorfer Wald", 352200, 5688600, 800),
    Centre("Breitscheider Wald", 354800, 5691200, 700),
    Centre("Homberger Wald", 358500, 5685800, 800),
    Centre("Grindsmark", 349500, 5691000, 600),
]

#: Motorways as polylines (m); junction positions are vertices of their polylines so that the
#: network shares nodes exactly.
MOTORWAYS: dict[str, list[tuple[float, float]]] = {
    "A3": [(353900, 5693000), (353600, 5690000), (353100, 5687500), (352800, 5685500),
           (352500, 5682500)],
    "A44": [(343000, 5685200), (344900, 5685000), (348300, 5684220), (350500, 5683600),
            (352800, 5685500), (356000, 5684900), (360500, 5685600)],
    "A52": [(353600, 5690000), (351500, 5688800), (350550, 5688000), (349600, 5687200),
            (348910, 5685310), (348300, 5684220)],
    "A524": [(353600, 5690000), (351000, 5690600), (350000, 5690733), (348000, 5691000),
             (344000, 5691300)],
}

#: (name, motorways, x, y) — every position is a vertex of the listed motorways.
JUNCTIONS = [
    ("AK Breitscheid", "A3/A52/A524", 353600.0, 5690000.0),
    ("AK Ratingen-Ost", "A3/A44", 352800.0, 5685500.0),
    ("AS Ratingen-Schwarzbach", "A44", 356000.0, 5684900.0),
    ("AK Düsseldorf-Nord", "A44/A52", 348300.0, 5684220.0),
    ("AS Düsseldorf-Flughafen", "A44", 344900.0, 5685000.0),
    ("AS Ratingen", "A52", 350550.0, 5688000.0),
    ("AS Ratingen-Tiefenbroich", "A52", 348910.0, 5685310.0),
    ("AS Lintorf", "A524", 350000.0, 5690733.0),
    ("AS Ratingen-Breitscheid", "A3", 353100.0, 5687500.0),
]

#: S-Bahn / regional stations: (name, lines, x, y).
STATIONS = [
    ("Ratingen Ost", "S6", 352060.0, 5685900.0),
    ("Hösel", "S6", 355420.0, 5688600.0),
    ("Ratingen West", "S 28 (geplant)", 349250.0, 5686050.0),
    ("Lintorf", "S 28 (Reaktivierung geplant)", 350620.0, 5689300.0),
    ("Ratingen-Tiefenbroich", "S 28 (geplant)", 349350.0, 5684600.0),
]

#: Ratingen's Stadtteile (districts) with the point their name is written at: (name, x, y).
#: The sample publishes a district when that point lies in the generated extent (a 1 km
#: district is no place to name Lintorf in).
STADTTEILE = [
    ("Ratingen-Mitte", 350450.0, 5685450.0),
    ("Ratingen-Ost", 352200.0, 5686000.0),
    ("Ratingen-West", 349250.0, 5686300.0),
    ("Ratingen-Süd", 351100.0, 5684100.0),
    ("Tiefenbroich", 349500.0, 5684200.0),
    ("Eckamp", 350300.0, 5687100.0),
    ("Lintorf", 350900.0, 5689500.0),
    ("Breitscheid", 353300.0, 5690300.0),
    ("Hösel", 355700.0, 5688400.0),
    ("Eggerscheidt", 354000.0, 5686700.0),
    ("Homberg", 356600.0, 5684800.0),
    ("Schwarzbach", 355200.0, 5683900.0),
]

#: Named places: (name, kind, x, y). The centre's around the Marktplatz (Rathaus, church,
#: museum), the stations of ``STATIONS`` and a few places every Ratinger knows.
PLACES = [
    ("Marktplatz", "Platz", 350470.0, 5685440.0),
    ("Rathaus Ratingen", "Rathaus", 350400.0, 5685525.0),
    ("St. Peter und Paul", "Kirche", 350455.0, 5685475.0),
    ("Museum Ratingen", "Museum", 350560.0, 5685390.0),
    ("Stadttheater Ratingen", "Theater", 350690.0, 5685240.0),
    ("Bahnhof Ratingen Ost", "Bahnhof", 352060.0, 5685900.0),
    ("Bahnhof Hösel", "Bahnhof", 355420.0, 5688600.0),
    ("Textilfabrik Cromford", "Museum", 351300.0, 5686250.0),
    ("Angerbad", "Schwimmbad", 351500.0, 5685350.0),
    ("Blauer See", "See", 352700.0, 5686900.0),
    ("Lintorfer Markt", "Platz", 350880.0, 5689450.0),
]

#: Gemarkungen: (name, number, Fluren, seed points). A macro block belongs to the Gemarkung
#: of its nearest seed point.
GEMARKUNGEN = [
    ("Ratingen", 3134, 58, [(350300, 5685300), (349300, 5684300), (351300, 5684100),
                            (349000, 5686500), (351800, 5686300)]),
    ("Lintorf", 3103, 29, [(350800, 5689300), (349700, 5690400), (351700, 5688300)]),
    ("Breitscheid", 3131, 23, [(353300, 5690600), (352600, 5691500)]),
    ("Eggerscheidt", 3112, 6, [(354000, 5686900)]),
    ("Homberg", 3113, 9, [(356500, 5684800), (355000, 5684000)]),
    ("Hösel", 3114, 7, [(356000, 5688400), (358000, 5689300), (355000, 5690500)]),
    ("Meiersberg", 3123, 4, [(358600, 5683700), (359300, 5685000)]),
]

LIBRARIES = [
    ("Stadtbibliothek Ratingen", "Peter-Brüning-Platz 1", 350420.0, 5685480.0,
     "Mo-Fr 10:00-18:00; Sa 10:00-14:00"),
    ("Stadtteilbibliothek Lintorf", "Speestraße 12", 350880.0, 5689480.0,
     "Di,Do 10:00-18:00; Fr 10:00-13:00"),
    ("Stadtteilbibliothek Ratingen West", "Berliner Platz 7", 348960.0, 5686180.0,
     "Di-Fr 10:00-17:00"),
    ("Stadtteilbibliothek Hösel", "Bahnhofstraße 141", 355650.0, 5688450.0, "Mi,Fr 14:00-18:00"),
]

VHS = [
    ("Volkshochschule Ratingen", "Minoritenstraße 3", 350380.0, 5685560.0),
    ("VHS Außenstelle Lintorf", "Konrad-Adenauer-Platz 20", 350950.0, 5689420.0),
    ("VHS Außenstelle Ratingen West", "Erfurter Straße 25", 348870.0, 5686260.0),
]


def urbanness(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0 (open land) … ~1.3 (town centre): how built-up a place is."""
    u = np.zeros(np.broadcast(x, y).shape)
    for c in DISTRICT_CENTRES:
        u = np.maximum(u, c.weight * np.exp(-((x - c.x) ** 2 + (y - c.y) ** 2) / (2 * c.sigma**2)))
    return u


def _score(centres: list[Centre], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = np.zeros(np.broadcast(x, y).shape)
    for c in centres:
        s = np.maximum(s, np.exp(-((x - c.x) ** 2 + (y - c.y) ** 2) / (2 * c.sigma**2)))
    return s


def business_score(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _score(BUSINESS_CENTRES, x, y)


def forest_score(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _score(FOREST_CENTRES, x, y)


def centre_score(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    c = DISTRICT_CENTRES[0]
    return np.exp(-((x - c.x) ** 2 + (y - c.y) ** 2) / (2 * 420.0**2))


def gemarkung_index(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index into ``GEMARKUNGEN`` of the Gemarkung a point lies in (nearest seed)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    best = np.full(x.shape, np.inf)
    idx = np.zeros(x.shape, dtype=np.int64)
    for gi, (_, _, _, seeds) in enumerate(GEMARKUNGEN):
        for sx, sy in seeds:
            d = (x - sx) ** 2 + (y - sy) ** 2
            better = d < best
            best = np.where(better, d, best)
            idx = np.where(better, gi, idx)
    return idx
