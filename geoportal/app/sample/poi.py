"""Points of interest, the free commercial space list and reference layers (routing network).

Per-cell POIs are drawn from the cell's own scene (a school sits on a public block, a toilet in
a park or the centre), so they stay consistent with the scene and independent of the extent.
City-wide facts (libraries, stations, junctions, airport) are fixed lists clipped to the extent.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from . import geography as geo
from . import network as net
from . import scene as sc
from .rng import hash_uniform, rng_for

CRS = "EPSG:25832"
_TO_WGS = Transformer.from_crs(25832, 4326, always_xy=True)


def to_lonlat(x, y):
    lon, lat = _TO_WGS.transform(np.asarray(x, float), np.asarray(y, float))
    return np.round(lon, 7), np.round(lat, 7)


def point_features(rows: list[dict], x: list[float], y: list[float]) -> list[dict]:
    lon, lat = to_lonlat(x, y)
    return [{"type": "Feature", "properties": r,
             "geometry": {"type": "Point", "coordinates": [float(a), float(b)]}}
            for r, a, b in zip(rows, np.atleast_1d(lon), np.atleast_1d(lat), strict=True)]


def _block_centre(b: dict) -> np.ndarray:
    return b["corners"].mean(axis=0)


def cell_pois(c: sc.CellScene, seed: int, year: int) -> dict[str, list]:
    """POIs owned by one cell as {layer: [(props, x, y), ...]}."""
    rng = rng_for(seed, "poi", c.e, c.n)
    out: dict[str, list] = {k: [] for k in ("toilets", "schools", "sports", "monuments",
                                            "busstops", "green", "bplan", "trails")}
    schulformen = ["Grundschule"] * 5 + ["Gymnasium", "Realschule", "Gesamtschule",
                                         "Förderschule", "Berufskolleg"]
    for b in c.blocks:
        centre = _block_centre(b)
        street = next((s for s in b["names"] if s), "Grünanlage")
        u = float(hash_uniform(seed, "poi-block", b["i0"], b["j0"]))
        if b["use"] == sc.PUBLIC and u < 0.75:
            form = schulformen[int(u / 0.75 * len(schulformen))]
            out["schools"].append(({"name": f"{form} {street.replace('straße', '')}".strip(),
                                    "schulform": form, "adresse": f"{street} 1, 40878 Ratingen",
                                    "traeger": "Stadt Ratingen" if form != "Berufskolleg"
                                    else "Kreis Mettmann",
                                    "schueler": int(180 + u * 1200)}, *centre))
        elif b["use"] == sc.PUBLIC:
            out["sports"].append(({"name": f"Sporthalle {street}", "art": "Sporthalle",
                                   "adresse": f"{street} 3, 40878 Ratingen"}, *centre))
        if b["use"] in (net.PARK, sc.CREEKPARK, net.CENTRE) and u > 0.92:
            out["toilets"].append(({
                "id": f"WC-{b['i0']}-{b['j0']}",
                "name": f"Öffentliche Toilette {street}", "adresse": f"{street}, 40878 Ratingen",
                "oeffnungszeiten": "Mo-Su 07:00-20:00" if u > 0.98 else "24/7",
                "barrierefrei": "ja" if u > 0.975 else "nein",
                "gebuehr": "kostenlos" if u > 0.985 else "0,50 €",
                "wickeltisch": "ja" if u > 0.97 else "nein"}, *centre))
        if b["use"] in (net.PARK, sc.CREEKPARK):
            poly = shapely.Polygon(b["corners"])
            name = "Angerpark" if b["use"] == sc.CREEKPARK else f"Grünanlage {street}"
            art = "Grünzug" if b["use"] == sc.CREEKPARK else ("Spielplatz" if u < 0.3 else "Park")
            out["green"].append(({"name": name, "art": art}, poly))
            if u < 0.12 and b["use"] == net.PARK:
                out["sports"].append(({"name": f"Sportplatz {street}", "art": "Sportplatz",
                                       "adresse": f"{street}, 40878 Ratingen"}, *centre))
    # monuments: a few old centre houses
    bl = c.buildings
    old = np.flatnonzero((bl["func"] != 2000) & (hash_uniform(seed, "denkmal", bl["bid"])
                                                 < np.where(bl["func"] == 1100, 0.05, 0.003)))
    for k in old:
        by = int(1450 + hash_uniform(seed, "baujahr", bl["bid"][k]) * 470)
        out["monuments"].append(({"name": f"Wohn- und Geschäftshaus {bl['address'][k]}",
                                  "denkmalnummer": f"A {100 + int(bl['bid'][k] % 900)}",
                                  "adresse": f"{bl['address'][k]}, 40878 Ratingen",
                                  "baujahr": by,
                                  "beschreibung": "Traufständiges Gebäude, Putzfassade"
                                  if by > 1800 else "Fachwerkhaus, Satteldach"},
                                 bl["cx"][k], bl["cy"][k]))
    # bus stops at arterial crossings in built-up areas
    e = c.edges
    art = np.flatnonzero((e["klass"] >= net.SECONDARY) & (e["i"] % 4 == 0) & (e["j"] % 4 == 0)
                         & (e["d"] == 0))
    for k in art:
        if hash_uniform(seed, "bus", e["i"][k], e["j"][k]) < 0.55:
            lines = ["759", "760", "761", "771", "773", "SB 51", "O 13"]
            nl = int(1 + hash_uniform(seed, "bus-l", e["i"][k]) * 3)
            out["busstops"].append(({"name": f"{e['name'][k]}", "linien": ", ".join(
                lines[(int(e["j"][k]) + q) % len(lines)] for q in range(nl))},
                e["x0"][k] + 15.0, e["y0"][k] + 8.0))
    # B-Pläne: built-up macro blocks of the cell
    for mx in (2 * c.e, 2 * c.e + 1):
        for my in (2 * c.n, 2 * c.n + 1):
            use = int(net.macro_use(np.array([mx]), np.array([my]), seed)[0])
            h = float(hash_uniform(seed, "bplan", mx, my))
            if use in net.BUILT and h < 0.45:
                x, y = net.node_xy(np.array([4 * mx, 4 * mx + 4, 4 * mx + 4, 4 * mx]),
                                   np.array([4 * my, 4 * my, 4 * my + 4, 4 * my + 4]), seed)
                nr = f"{mx % 100:02d}{my % 100:02d}"
                date = pd.Timestamp("1965-01-01") + pd.Timedelta(days=int(h / 0.45 * 21000))
                out["bplan"].append(({"plannummer": f"R {nr}", "name": f"Bebauungsplan R {nr}",
                                      "rechtskraft": date.strftime("%Y-%m-%d"),
                                      "dokument": f"https://www.ratingen.de/bplan/R{nr}.pdf"},
                                     shapely.Polygon(np.column_stack([x, y]))))
    # hiking trail along the Anger and through forest
    xs = np.arange(c.e * 1000.0, c.e * 1000.0 + 1001.0, 10.0)
    ys = geo.creek_y(xs) + 14.0
    inside = (ys >= c.n * 1000.0) & (ys < c.n * 1000.0 + 1000.0)
    if inside.sum() > 2:
        out["trails"].append(({"name": "Angertalweg", "markierung": "A", "laenge_km": None},
                              shapely.LineString(np.column_stack([xs[inside], ys[inside]]))))
    for b in c.blocks:
        if b["use"] == net.FOREST and hash_uniform(seed, "trail", b["i0"], b["j0"]) < 0.5:
            p = sc.bilinear(b["corners"], np.array([0.0, 0.5, 1.0]), np.array([0.5, 0.45, 0.5]))
            out["trails"].append(({"name": f"Rundweg {1 + (b['i0'] + b['j0']) % 9}",
                                   "markierung": f"R{1 + (b['i0'] + b['j0']) % 9}",
                                   "laenge_km": None}, shapely.LineString(p)))
    del rng
    return out


#: amenities (category, name stem, probability per building) by building function:
#: centre houses with shops below flats, a few in housing estates and on business parks
AMENITY_MIX = {
    1100: [("restaurant", "Restaurant", 0.08), ("cafe", "Café", 0.06), ("shop", "Geschäft", 0.16),
           ("pharmacy", "Apotheke", 0.02), ("childcare", "Kita", 0.01)],
    1000: [("childcare", "Kita", 0.012), ("shop", "Bäckerei", 0.006),
           ("restaurant", "Gaststätte", 0.004)],
    2000: [("restaurant", "Kantine", 0.03), ("childcare", "Betriebskita", 0.015),
           ("shop", "Fachmarkt", 0.03), ("cafe", "Bistro", 0.01)],
}


def amenity_rows(c: sc.CellScene, seed: int) -> list[list]:
    """Restaurants, cafés, shops, pharmacies and childcare in the cell's buildings.

    Each sits in a building (so on a lot fronting a street) chosen by a hash of the building id:
    deterministic and independent of the extent. Coordinates are the building's centre.
    """
    bl = c.buildings
    rows = []
    u = hash_uniform(seed, "amenity", bl["bid"])
    for k in range(len(bl["bid"])):
        below = 0.0
        for category, stem, p in AMENITY_MIX.get(int(bl["func"][k]), []):
            if below <= u[k] < below + p:
                street = bl["address"][k]
                rows.append([f"AM-{int(bl['bid'][k])}", f"{stem} {street}", category,
                             f"{street}, 40878 Ratingen", f"{bl['cx'][k]:.2f}",
                             f"{bl['cy'][k]:.2f}"])
                break
            below += p
    return rows


def gewerbe_rows(c: sc.CellScene, parcels: gpd.GeoDataFrame, seed: int, year: int) -> list[list]:
    """Free commercial space offers on business (and some centre) parcels of the cell."""
    rows = []
    sel = parcels[(parcels["cell"] == c.code)
                  & parcels["kind"].isin(["business", "centre"])]
    h = hash_uniform(seed, "gewerbe", sel["flstkennz"].map(lambda s: int(s[2:14])).to_numpy())
    p_offer = np.where(sel["kind"] == "business", 0.75, 0.06)
    for (_, r), u, p in zip(sel.iterrows(), h, p_offer, strict=True):
        if u >= p:
            continue
        v = u / p
        art = "Büro" if (r["kind"] == "centre" or v < 0.35) else ("Halle" if v < 0.75
                                                                   else "Grundstück")
        zoning = ("MK", "Kerngebiet") if r["kind"] == "centre" else (
            ("GI", "Industriegebiet") if v > 0.85 else ("GE", "Gewerbegebiet"))
        if r["kind"] == "business" and 0.3 < v < 0.36:
            zoning = ("MI", "Mischgebiet")
        if 0.6 < v < 0.63:
            zoning = ("SO", "Sondergebiet")
        area = float(r["flaeche"])
        flaeche = {"Büro": 120 + v * 1800, "Halle": 0.3 * area * (0.5 + v),
                   "Grundstück": area}[art]
        preis = {"Büro": 11.5 + 6 * v, "Halle": 5.0 + 3 * v, "Grundstück": 180 + 160 * v}[art]
        pt = r.geometry.representative_point()
        avail = pd.Timestamp(f"{year}-01-01") + pd.Timedelta(days=int(v * 540))
        rows.append([None, f"{art} {r['lagebeztxt']}", art, round(flaeche), round(preis, 2),
                     zoning[0], zoning[1], avail.strftime("%Y-%m-%d"),
                     f"{r['lagebeztxt']}, 40878 Ratingen", r["flstkennz"], round(pt.x, 2),
                     round(pt.y, 2)])
    return rows


# ----------------------------------------------------------------------------- network

def street_network(cells: list[sc.CellScene], tiles: list[tuple[int, int]], seed: int
                   ) -> gpd.GeoDataFrame:
    """Routable network: local streets of the cells, the city-wide arterial grid, motorways,
    links from every junction to the nearest arterial node, and the airport access road."""
    e0 = min(geo.CITY_E_KM[0], min(t[0] for t in tiles)) - 1
    e1 = max(geo.CITY_E_KM[1], max(t[0] for t in tiles) + 1) + 1
    n0 = min(geo.CITY_N_KM[0], min(t[1] for t in tiles)) - 1
    n1 = max(geo.CITY_N_KM[1], max(t[1] for t in tiles) + 1) + 1
    parts = []
    # arterial grid (lines every 4 lattice steps)
    i = np.arange(8 * e0, 8 * e1 + 1)
    j = np.arange(8 * n0, 8 * n1 + 1)
    ii, jj = np.meshgrid(i, j[j % 4 == 0])
    h = _edges(ii.ravel(), jj.ravel(), 0, seed, 8 * e1)
    ii, jj = np.meshgrid(i[i % 4 == 0], j)
    v = _edges(ii.ravel(), jj.ravel(), 1, seed, 8 * n1, vertical=True)
    parts += [h, v]
    for c in cells:
        e = c.edges
        parts.append(pd.DataFrame({"i": e["i"], "j": e["j"], "d": e["d"], "klass": e["klass"],
                                   "x0": e["x0"], "y0": e["y0"], "x1": e["x1"], "y1": e["y1"],
                                   "name": e["name"]}))
    df = pd.concat(parts, ignore_index=True).drop_duplicates(["i", "j", "d"]).sort_values(
        ["j", "i", "d"], kind="stable")
    df = df[df["klass"] != net.NONE]
    geoms = shapely.linestrings(np.stack([df[["x0", "y0"]].to_numpy(),
                                          df[["x1", "y1"]].to_numpy()], axis=1))
    local = gpd.GeoDataFrame({
        "name": df["name"].to_numpy(),
        "strassenklasse": [net.CLASS_NAMES[int(k)] for k in df["klass"]],
        "maxspeed": [net.MAXSPEED[int(k)] for k in df["klass"]],
        "oneway": False}, geometry=geoms, crs=CRS)
    nodes = np.unique(np.vstack([df[["x0", "y0"]].to_numpy(), df[["x1", "y1"]].to_numpy()]),
                      axis=0)
    art_mask = np.isin(df["klass"].to_numpy(), [net.PRIMARY, net.SECONDARY])
    art_nodes = np.unique(np.vstack([df[["x0", "y0"]].to_numpy()[art_mask],
                                     df[["x1", "y1"]].to_numpy()[art_mask]]), axis=0)
    rows = []
    for name, verts in geo.MOTORWAYS.items():
        for a, b in itertools.pairwise(verts):
            rows.append({"name": name, "strassenklasse": "motorway", "maxspeed": 130,
                         "oneway": False, "geometry": shapely.LineString([a, b])})
    for name, _motorways, x, y in geo.JUNCTIONS:
        d = np.hypot(art_nodes[:, 0] - x, art_nodes[:, 1] - y)
        k = int(np.argmin(d))
        rows.append({"name": f"Zubringer {name}", "strassenklasse": "primary", "maxspeed": 70,
                     "oneway": False,
                     "geometry": shapely.LineString([(x, y), tuple(art_nodes[k])])})
    ax, ay = geo.AIRPORT[1], geo.AIRPORT[2]
    jx, jy = next((x, y) for nm, _, x, y in geo.JUNCTIONS if nm == "AS Düsseldorf-Flughafen")
    rows.append({"name": "Flughafenstraße", "strassenklasse": "primary", "maxspeed": 70,
                 "oneway": False, "geometry": shapely.LineString([(jx, jy), (ax, ay)])})
    del nodes
    extra = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    return gpd.GeoDataFrame(pd.concat([local, extra], ignore_index=True), crs=CRS)


def _edges(i, j, d, seed, limit, vertical=False) -> pd.DataFrame:
    m = (j < limit) if vertical else (i < limit)
    i, j = i[m], j[m]
    k = net.edge_class(i, j, np.full(i.shape, d), seed)
    x0, y0 = net.node_xy(i, j, seed)
    x1, y1 = net.node_xy(i + (d == 0), j + (d == 1), seed)
    line = j if d == 0 else i
    along = i if d == 0 else j
    name = net.line_street_name(np.full(i.shape, d), line, along, k, seed)
    return pd.DataFrame({"i": i, "j": j, "d": d, "klass": k, "x0": x0, "y0": y0, "x1": x1,
                         "y1": y1, "name": name})


def in_extent(x: float, y: float, tiles: list[tuple[int, int]]) -> bool:
    return (int(x // 1000), int(y // 1000)) in set(tiles)


# ----------------------------------------------------------------------------- places

PLACE_HEADER = ["name", "art", "stadtteil", "rechtswert", "hochwert"]


def district_of(x: float, y: float) -> str:
    """The Stadtteil a point belongs to: the one whose name point is nearest."""
    return min(geo.STADTTEILE, key=lambda d: (d[1] - x) ** 2 + (d[2] - y) ** 2)[0]


def place_rows(tiles: list[tuple[int, int]]) -> list[list]:
    """The districts and named places whose point lies in the extent, as rows of
    ``PLACE_HEADER`` (districts first, then places; fixed order, so the file is the same
    for the same extent)."""
    rows = [[name, "Stadtteil", name, f"{x:.2f}", f"{y:.2f}"]
            for name, x, y in geo.STADTTEILE if in_extent(x, y, tiles)]
    rows += [[name, kind, district_of(x, y), f"{x:.2f}", f"{y:.2f}"]
             for name, kind, x, y in geo.PLACES if in_extent(x, y, tiles)]
    return rows


def transport_features() -> list[dict]:
    """The airport, the motorway junctions and the S-Bahn stations in one list (``art`` tells
    them apart): the targets the finder measures its offers against and marks on its map.
    City-wide, not clipped: an offer's nearest junction may lie outside the district."""
    rows = [{"name": geo.AIRPORT[0], "art": "Flughafen", "autobahn": None, "linien": None,
             "iata": "DUS"}]
    rows += [{"name": name, "art": "Autobahnanschluss", "autobahn": motorways, "linien": None,
              "iata": None} for name, motorways, _, _ in geo.JUNCTIONS]
    rows += [{"name": name, "art": "S-Bahn-Haltestelle", "autobahn": None, "linien": lines,
              "iata": None} for name, lines, _, _ in geo.STATIONS]
    xs = [geo.AIRPORT[1]] + [j[2] for j in geo.JUNCTIONS] + [s[2] for s in geo.STATIONS]
    ys = [geo.AIRPORT[2]] + [j[3] for j in geo.JUNCTIONS] + [s[3] for s in geo.STATIONS]
    return point_features(rows, xs, ys)
