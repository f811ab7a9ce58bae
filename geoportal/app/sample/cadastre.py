"""ALKIS parcels and buildings, the tree cadastre, and the ground-truth tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from . import geography as geo
from . import names
from . import scene as sc
from . import species as sp
from .rng import hash_uniform, rng_for

CRS = "EPSG:25832"
ADMIN = {"land": "Nordrhein-Westfalen", "landschl": "05", "regbezirk": "Düsseldorf",
         "regbezschl": "051", "kreis": "Mettmann", "kreisschl": "05158", "gemeinde": "Ratingen",
         "gmdschl": "05158028"}


def _flur_table(seed: int) -> dict[tuple[int, int], tuple[int, int, int]]:
    """(macro x, macro y) → (Gemarkung index, Flur, wrap) for the city's macro blocks."""
    mx, my = np.meshgrid(np.arange(2 * geo.CITY_E_KM[0], 2 * geo.CITY_E_KM[1]),
                         np.arange(2 * geo.CITY_N_KM[0], 2 * geo.CITY_N_KM[1]))
    mx, my = mx.ravel(), my.ravel()
    gem = geo.gemarkung_index((mx + 0.5) * 500.0, (my + 0.5) * 500.0)
    table = {}
    for g, (_, _, nfl, _) in enumerate(geo.GEMARKUNGEN):
        idx = np.flatnonzero(gem == g)
        order = idx[np.lexsort((mx[idx], -my[idx]))]
        for rank, k in enumerate(order):
            table[(int(mx[k]), int(my[k]))] = (g, rank % nfl + 1, rank // nfl)
    return table


_FLUR: dict[int, dict] = {}


def macro_flur(seed: int, mx: int, my: int) -> tuple[int, int, int]:
    table = _FLUR.setdefault(seed, _flur_table(seed))
    if (mx, my) in table:
        return table[(mx, my)]
    g = int(geo.gemarkung_index(np.array([(mx + 0.5) * 500.0]), np.array([(my + 0.5) * 500.0]))[0])
    nfl = geo.GEMARKUNGEN[g][2]
    return g, (mx * 7 + my * 13) % nfl + 1, 5 + (mx + my) % 10


def parcels_frame(cells: list[sc.CellScene], seed: int, year: int) -> gpd.GeoDataFrame:
    """ALKIS 'vereinfacht' parcels plus the internal owner fields."""
    frames = []
    for c in cells:
        p = c.parcels
        if len(p["kind"]) == 0:
            continue
        i0 = np.array([c.blocks[k]["i0"] for k in p["block"]])
        j0 = np.array([c.blocks[k]["j0"] for k in p["block"]])
        macro = list(zip((i0 // 4).tolist(), (j0 // 4).tolist(), strict=True))
        counters: dict[tuple[int, int], int] = {}
        gem, flur, zae = [], [], []
        for m in macro:
            g, f, wrap = macro_flur(seed, *m)
            q = counters.get(m, 0)
            counters[m] = q + 1
            gem.append(g)
            flur.append(f)
            zae.append(wrap * 2000 + q + 1)
        df = pd.DataFrame({"kind": p["kind"], "street": p["street"], "hnr": p["hnr"],
                           "gem": gem, "flur": flur, "zaehler": zae,
                           "owner_kind": p["owner_kind"]})
        df["geometry"] = p["geometry"]
        df["cell"] = c.code
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    key = df["cell"].to_numpy() * 100000 + np.arange(len(df)) % 100000
    h = hash_uniform(seed, "parcel", df["gem"].to_numpy(), df["flur"].to_numpy(),
                     df["zaehler"].to_numpy())
    nenner = np.where((df["kind"] != "street") & (h < 0.12), 1 + (h * 1000).astype(int) % 12, 0)
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs=CRS)
    area = gdf.geometry.area.to_numpy()
    h2 = hash_uniform(seed, "parcel-area", df["gem"].to_numpy(), df["flur"].to_numpy(),
                      df["zaehler"].to_numpy())
    factor = np.where(h2 < 0.005, np.where(h2 < 0.0025, 1.06 + 20 * h2, 0.94 - 20 * h2), 1.0)
    flaeche = np.maximum(1, np.round(area * factor)).astype(np.int64)
    gnum = np.array([geo.GEMARKUNGEN[g][1] for g in df["gem"]])
    gname = np.array([geo.GEMARKUNGEN[g][0] for g in df["gem"]], dtype=object)
    kennz = [f"05{gn:04d}{fl:03d}{z:05d}" + (f"{nn:04d}" if nn else "____") + "__"
             for gn, fl, z, nn in zip(gnum, df["flur"], df["zaehler"], nenner, strict=True)]
    oid = [f"DENW36AL{int(k):012X}"[:16] for k in
           (hash_uniform(seed, "oid", key) * 2**48).astype(np.int64)]
    days = (hash_uniform(seed, "aktualit", key) * 700).astype(int)
    aktualit = (pd.Timestamp(f"{year}-01-31") - pd.to_timedelta(days, unit="D")).strftime(
        "%Y-%m-%d")
    nutzung = [sc.NUTZUNG.get(k, "Landwirtschaft") for k in df["kind"]]
    lage = [s if h_ == 0 else f"{s} {h_}" for s, h_ in zip(df["street"], df["hnr"], strict=True)]
    out = gpd.GeoDataFrame({
        "oid": oid,
        "aktualit": list(aktualit),
        "idflurst": kennz,
        "flaeche": flaeche,
        "flstkennz": kennz,
        "land": ADMIN["land"], "landschl": ADMIN["landschl"],
        "gemarkung": gname, "gemaschl": [f"05{g:04d}" for g in gnum],
        "flur": df["flur"].to_numpy().astype(np.int64),
        "flurschl": [f"05{g:04d}{f:03d}" for g, f in zip(gnum, df["flur"], strict=True)],
        "flstnrzae": [str(z) for z in df["zaehler"]],
        "flstnrnen": [str(n_) if n_ else None for n_ in nenner],
        "regbezirk": ADMIN["regbezirk"], "regbezschl": ADMIN["regbezschl"],
        "kreis": ADMIN["kreis"], "kreisschl": ADMIN["kreisschl"],
        "gemeinde": ADMIN["gemeinde"], "gmdschl": ADMIN["gmdschl"],
        "abwrecht": None,
        "lagebeztxt": lage,
        "tntxt": [f"{nz};{fl}" for nz, fl in zip(nutzung, flaeche, strict=True)],
    }, geometry=gdf.geometry.to_numpy(), crs=CRS)
    _owners(out, df["owner_kind"].to_numpy(), key, seed)
    out["cell"] = df["cell"].to_numpy()
    out["kind"] = df["kind"].to_numpy()
    return out


def _owners(out: gpd.GeoDataFrame, kind: np.ndarray, key: np.ndarray, seed: int) -> None:
    """Synthetic, obviously fake owner data (the pipeline's privacy filter must drop it)."""
    h = hash_uniform(seed, "owner", key)
    h2 = hash_uniform(seed, "owner2", key)
    pick = lambda pool, u: [pool[int(v * len(pool))] for v in u]  # noqa: E731
    person = [f"{la}, {fi}" for la, fi in zip(pick(names.FAKE_LAST, h), pick(names.FAKE_FIRST, h2),
                                               strict=True)]
    addr = [f"{s} {1 + int(v * 99)}, {t}" for s, v, t in
            zip(pick(names.FAKE_STREETS, h2), h, pick(names.FAKE_TOWNS, h), strict=True)]
    birth = [f"{1930 + int(v * 75)}-{1 + int(w * 12):02d}-{1 + int(v * 977) % 28:02d}"
             for v, w in zip(h, h2, strict=True)]
    company = pick(names.FAKE_COMPANIES, h)
    owner = np.where(kind == 0, person, np.where(kind == 2, company, np.where(
        kind == 3, "Forstbetrieb Beispielwald (fiktiv)", "Stadt Ratingen")))
    out["eigentuemer"] = owner
    out["eigentuemer_anschrift"] = np.where(kind == 0, addr, np.where(
        kind == 1, "Minoritenstraße 2-6, 40878 Ratingen", "Postfach 0000, 00000 Beispielstadt"))
    out["eigentuemer_geburtsdatum"] = np.where(kind == 0, birth, None)


def buildings_frames(cells: list[sc.CellScene]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(ALKIS Gebäude, truth buildings)."""
    b = sc.concat([c.buildings for c in cells])
    polys = sc.building_polygons(b)
    truth = gpd.GeoDataFrame({
        "building_id": b["bid"],
        "roof_type": np.asarray(sc.ROOF_NAMES, dtype=object)[b["roof"]],
        "eave_height_m": np.round(b["eave"], 2),
        "ridge_height_m": np.round(b["ridge"], 2),
        "ground_height_m": np.round(b["ground"], 2),
        "gebaeudefunktion": b["func"],
        "in_alkis": b["in_alkis"],
    }, geometry=polys, crs=CRS)
    m = b["in_alkis"]
    alkis = gpd.GeoDataFrame({
        "oid": [f"DENW36AL{int(i):010d}"[:18] for i in b["bid"][m]],
        "gebaeudefunktion": b["func"][m],
        "funktion": [sc.FUNCTION_TEXT[int(f)] for f in b["func"][m]],
        "anzahl_geschosse": b["floors"][m],
        "lagebeztxt": b["address"][m],
    }, geometry=polys[m], crs=CRS)
    return alkis, truth


def trees_frames(cells_owned: list[sc.CellScene], seed: int, year: int
                 ) -> tuple[gpd.GeoDataFrame, list[list]]:
    """(truth trees, cadastre rows)."""
    truth_parts, cad_rows = [], []
    for c in cells_owned:
        t = c.trees
        hood = sc.concat([x.trees for x in sc.neighbourhood(seed, year, c.e, c.n)])
        alive = ~hood["felled"]
        hx, hy, hr = hood["x"][alive], hood["y"][alive], hood["r"][alive]
        tree = cKDTree(np.column_stack([hx, hy]))
        own = ~t["felled"]
        free = np.ones(int(own.sum()), bool)
        if own.any() and len(hx) > 1:
            k = min(7, len(hx))
            d, idx = tree.query(np.column_stack([t["x"][own], t["y"][own]]), k=k)
            overlap = (d[:, 1:] < (t["r"][own][:, None] + hr[idx[:, 1:]]) * 0.9)
            free = ~overlap.any(axis=1)
        truth_parts.append(pd.DataFrame({
            "tree_id": t["tid"][own], "x": np.round(t["x"][own], 2),
            "y": np.round(t["y"][own], 2), "height_m": np.round(t["h"][own], 2),
            "crown_diameter_m": np.round(2 * t["r"][own], 2),
            "crown_base_m": np.round(t["base"][own], 2),
            "species_de": sp.NAME_DE[t["species"][own]],
            "species_botanical": sp.BOTANICAL[t["species"][own]],
            "setting": sp.SETTING_NAMES[t["setting"][own]], "free_standing": free,
            "in_cadastre": t["in_cadastre"][own],
            "cadastre_id": np.where(t["in_cadastre"][own], t["cad_id"][own], -1)}))
        cad_rows += _cadastre_rows(c, seed, year)
    df = pd.concat(truth_parts, ignore_index=True)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"], df["y"]), crs=CRS)
    return gdf, cad_rows


CADASTRE_HEADER = ["Baum-ID", "Baumnummer", "Art deutsch", "Art botanisch", "Pflanzjahr",
                   "Stammumfang (cm)", "Kronendurchmesser (m)", "Baumhöhe (m)", "Straße",
                   "Rechtswert", "Hochwert"]


def _dec(v: float, nd: int) -> str:
    return f"{v:.{nd}f}".replace(".", ",")


def _cadastre_rows(c: sc.CellScene, seed: int, year: int) -> list[list]:
    t = c.trees
    m = np.flatnonzero(t["in_cadastre"])
    if m.size == 0:
        return []
    rng = rng_for(seed, "cadastre", c.e, c.n)
    k = m.size
    jit = rng.uniform(0.3, 1.5, k)
    ang = rng.uniform(0, 2 * np.pi, k)
    cx = t["x"][m] + jit * np.cos(ang)
    cy = t["y"][m] + jit * np.sin(ang)
    age = np.maximum(year - t["planted"][m], 1)
    circ = sp.stem_circumference(rng, t["h"][m], age)
    old_h = np.round(t["h"][m] * rng.uniform(0.7, 0.95, k))
    crown = np.round(2 * t["r"][m] * rng.uniform(0.85, 1.1, k), 1)
    messy = rng.random(k)
    mtype = rng.integers(0, 4, k)
    rows = []
    counter: dict[str, int] = {}
    for q in range(k):
        i = m[q]
        street = t["street"][i] or "Grünanlage"
        counter[street] = counter.get(street, 0) + 1
        row = [str(int(t["cad_id"][i])), f"{counter[street]}", sp.NAME_DE[t["species"][i]],
               sp.BOTANICAL[t["species"][i]], str(int(t["planted"][i])), str(int(circ[q])),
               _dec(crown[q], 1), _dec(old_h[q], 0), street, _dec(cx[q], 2), _dec(cy[q], 2)]
        if messy[q] < 0.01:
            kind = int(mtype[q])
            if kind == 0:
                row[9] = row[10] = ""
            elif kind == 1:
                row[10] = row[10][:3] + "O" + row[10][4:] if q % 2 else row[10] + "x"
            elif kind == 2:
                row[4] = "1522" if q % 2 else "2099"
            else:
                row[2] = row[3] = ""
        rows.append(row)
    return rows
