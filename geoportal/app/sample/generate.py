"""Orchestration: render tiles (optionally in worker processes), write vector layers, manifest."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np

from geoportal.core.publish import atomic_write_bytes, sha256_file

from . import cadastre, lidar, ortho, poi
from . import geography as geo
from . import scene as sc
from .spec import SampleSpec
from .surface import TileSurface
from .writers import write_csv, write_geojson, write_gpkg

GENERATOR_VERSION = "1.3.0"
Progress = Callable[[str, int, int], None]


def _render_tile(spec: SampleSpec, e: int, n: int, out_dir: str, parallel: bool) -> dict:
    surface = TileSurface(spec.seed, spec.year, e, n, spec.roofs)
    lpath = Path(out_dir) / "lidar" / lidar.lidar_filename(e, n)
    points = lidar.write_tile(surface, lpath, spec.lidar_density, spec.seed, spec.year,
                              parallel=parallel)
    opath = Path(out_dir) / "dop" / ortho.ortho_filename(e, n, spec.year, spec.ortho_bands)
    jp2 = Path(out_dir) / "dop" / ortho.jp2_filename(e, n, spec.year) if spec.ortho_jp2 else None
    ortho.write_tile(surface, opath, float(spec.ortho_resolution), spec.ortho_bands, spec.seed,
                     jp2_path=jp2)
    tile = {"tile": [e, n], "lidar": str(lpath.relative_to(out_dir)), "points": points,
            "ortho": str(opath.relative_to(out_dir))}
    if jp2 is not None:
        tile["ortho_jp2"] = str(jp2.relative_to(out_dir))
    return tile


def generate(spec: SampleSpec, out_dir: Path, progress: Progress | None = None,
             workers: int = 1) -> dict:
    """Generate the sample city's raw inputs for ``spec`` under ``out_dir``; return the manifest.

    The same spec always yields byte-identical files, and a tile's content does not depend on
    which other tiles are requested.
    """
    out_dir = Path(out_dir)
    for sub in ("lidar", "dop", "alkis", "baumkataster", "poi", "gewerbeflaechen", "reference",
                "truth"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    report = progress or (lambda stage, done, total: None)
    t0 = time.perf_counter()
    tiles = _render_tiles(spec, out_dir, report, workers)
    counts: dict[str, int] = {}
    _write_vectors(spec, out_dir, report, counts)
    files = {}
    for p in sorted(out_dir.rglob("*")):
        if p.is_file() and p.name != "manifest.json" and ".tmp" not in p.name:
            rel = str(p.relative_to(out_dir))
            files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            if rel in counts:
                files[rel]["rows"] = counts[rel]
    for t in tiles:
        files[t["lidar"]]["points"] = t["points"]
    es = [t[0] for t in spec.tiles]
    ns = [t[1] for t in spec.tiles]
    manifest = {
        "generator": "geoportal.app.sample", "generator_version": GENERATOR_VERSION,
        "spec": spec.as_dict(), "crs": "EPSG:25832", "vertical_crs": "DHHN2016 (EPSG:7837)",
        "extent": [min(es) * 1000, min(ns) * 1000, (max(es) + 1) * 1000, (max(ns) + 1) * 1000],
        "tiles": tiles, "total_points": int(sum(t["points"] for t in tiles)), "files": files,
    }
    atomic_write_bytes(out_dir / "manifest.json",
                 json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
    report("done", 1, 1)
    del t0
    return manifest


def _render_tiles(spec: SampleSpec, out_dir: Path, report: Progress, workers: int) -> list:
    total = len(spec.tiles)
    report("tiles", 0, total)
    results = []
    if workers <= 1 or total == 1:
        for k, (e, n) in enumerate(spec.tiles):
            results.append(_render_tile(spec, e, n, str(out_dir), parallel=True))
            report("tiles", k + 1, total)
        return results
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_render_tile, spec, e, n, str(out_dir), False)
                   for e, n in spec.tiles]
        for k, f in enumerate(futures):
            results.append(f.result())
            report("tiles", k + 1, total)
    return results


def _write_vectors(spec: SampleSpec, out: Path, report: Progress, counts: dict) -> None:
    seed, year = spec.seed, spec.year
    stamp = f"{year}-01-31T00:00:00Z"
    cells = []
    for k, (e, n) in enumerate(spec.tiles):
        cells.append(sc.cell_scene(seed, year, e, n, spec.roofs))
        report("scene", k + 1, len(spec.tiles))
    # ALKIS
    parcels = cadastre.parcels_frame(cells, seed, year)
    raw = parcels.drop(columns=[c for c in ("cell", "kind") if c in parcels.columns])
    counts["alkis/flurstuecke.gpkg"] = write_gpkg(out / "alkis/flurstuecke.gpkg", raw,
                                                  "flurstueck", stamp)
    alkis_b, truth_b = cadastre.buildings_frames(cells)
    counts["alkis/gebaeude.gpkg"] = write_gpkg(out / "alkis/gebaeude.gpkg", alkis_b, "gebaeude",
                                               stamp)
    counts["truth/buildings.gpkg"] = write_gpkg(out / "truth/buildings.gpkg", truth_b,
                                                "buildings", stamp)
    report("alkis", 1, 1)
    # trees
    truth_t, cad_rows = cadastre.trees_frames(cells, seed, year)
    counts["truth/trees.gpkg"] = write_gpkg(out / "truth/trees.gpkg", truth_t, "trees", stamp)
    counts["baumkataster/baumkataster_ratingen.csv"] = write_csv(
        out / "baumkataster/baumkataster_ratingen.csv", cadastre.CADASTRE_HEADER, cad_rows,
        sep=";", encoding="cp1252")
    report("trees", 1, 1)
    _write_pois(spec, cells, parcels, out, counts, stamp)
    report("poi", 1, 1)


def _write_pois(spec: SampleSpec, cells: list, parcels: gpd.GeoDataFrame, out: Path,
                counts: dict, stamp: str) -> None:
    seed, year, tiles = spec.seed, spec.year, spec.tiles
    layers: dict[str, list] = {}
    gewerbe, amenities = [], []
    for c in cells:
        for k, v in poi.cell_pois(c, seed, year).items():
            layers.setdefault(k, []).extend(v)
        gewerbe += poi.gewerbe_rows(c, parcels, seed, year)
        amenities += poi.amenity_rows(c, seed)

    def pts(layer):
        rows = layers.get(layer, [])
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    # toilets: CSV with WGS84 lat/lon
    props, xs, ys = pts("toilets")
    lon, lat = poi.to_lonlat(xs, ys) if xs else ([], [])
    cols = ["id", "name", "adresse", "oeffnungszeiten", "barrierefrei", "gebuehr", "wickeltisch"]
    counts["poi/oeffentliche_toiletten.csv"] = write_csv(
        out / "poi/oeffentliche_toiletten.csv", [*cols, "breite", "laenge"],
        [[p[c] for c in cols] + [f"{b:.7f}", f"{a:.7f}"]
         for p, a, b in zip(props, lon, lat, strict=True)])
    for layer, fname in (("schools", "schulen.geojson"), ("sports", "sportstaetten.geojson")):
        props, xs, ys = pts(layer)
        counts[f"poi/{fname}"] = write_geojson(out / "poi" / fname,
                                               poi.point_features(props, xs, ys))
    # fixed city-wide lists clipped to the extent
    lib = [r for r in geo.LIBRARIES if poi.in_extent(r[2], r[3], tiles)]
    counts["poi/bibliotheken.csv"] = write_csv(
        out / "poi/bibliotheken.csv", ["name", "adresse", "oeffnungszeiten", "rechtswert",
                                       "hochwert"],
        [[r[0], f"{r[1]}, 40878 Ratingen", r[4], f"{r[2]:.2f}", f"{r[3]:.2f}"] for r in lib])
    vhs = [r for r in geo.VHS if poi.in_extent(r[2], r[3], tiles)]
    counts["poi/volkshochschule.csv"] = write_csv(
        out / "poi/volkshochschule.csv", ["name", "adresse", "rechtswert", "hochwert"],
        [[r[0], f"{r[1]}, 40878 Ratingen", f"{r[2]:.2f}", f"{r[3]:.2f}"] for r in vhs])
    props, xs, ys = pts("monuments")
    cols = ["name", "denkmalnummer", "adresse", "baujahr", "beschreibung"]
    counts["poi/denkmaeler.csv"] = write_csv(
        out / "poi/denkmaeler.csv", [*cols, "rechtswert", "hochwert"],
        [[p[c] for c in cols] + [f"{x:.2f}", f"{y:.2f}"]
         for p, x, y in zip(props, xs, ys, strict=True)])
    green = layers.get("green", [])
    g = gpd.GeoDataFrame([r[0] for r in green], geometry=[r[1] for r in green],
                         crs=poi.CRS) if green else gpd.GeoDataFrame(
        {"name": [], "art": []}, geometry=[], crs=poi.CRS)
    g["flaeche_m2"] = np.round(g.geometry.area).astype(np.int64)
    counts["poi/gruenflaechen.gpkg"] = write_gpkg(out / "poi/gruenflaechen.gpkg", g,
                                                  "gruenflaechen", stamp)
    trails = layers.get("trails", [])
    feats = []
    for p, line in trails:
        lon, lat = poi.to_lonlat(*np.asarray(line.coords).T)
        p = dict(p, laenge_km=round(line.length / 1000, 2))
        feats.append({"type": "Feature", "properties": p, "geometry": {
            "type": "LineString", "coordinates": np.column_stack([lon, lat]).tolist()}})
    counts["poi/wanderwege.geojson"] = write_geojson(out / "poi/wanderwege.geojson", feats)
    bp = layers.get("bplan", [])
    b = gpd.GeoDataFrame([r[0] for r in bp], geometry=[r[1] for r in bp],
                         crs=poi.CRS) if bp else gpd.GeoDataFrame(
        {"plannummer": []}, geometry=[], crs=poi.CRS)
    counts["poi/bebauungsplaene.gpkg"] = write_gpkg(out / "poi/bebauungsplaene.gpkg", b,
                                                    "bebauungsplaene", stamp)
    counts["poi/einrichtungen.csv"] = write_csv(
        out / "poi/einrichtungen.csv",
        ["id", "name", "kategorie", "adresse", "rechtswert", "hochwert"], amenities)
    # commercial space
    for k, r in enumerate(gewerbe):
        r[0] = f"GF-{k + 1:04d}"
    counts["gewerbeflaechen/freie_gewerbeflaechen.csv"] = write_csv(
        out / "gewerbeflaechen/freie_gewerbeflaechen.csv",
        ["id", "bezeichnung", "art", "flaeche_m2", "preis_eur_m2", "planungsrecht",
         "planungsrecht_text", "verfuegbar_ab", "adresse", "flstkennz", "rechtswert",
         "hochwert"], gewerbe)
    _write_reference(spec, cells, out, counts, stamp)


def _write_reference(spec, cells, out: Path, counts: dict, stamp: str) -> None:
    counts["reference/verkehrsknoten.geojson"] = write_geojson(
        out / "reference/verkehrsknoten.geojson", poi.transport_features())
    counts["reference/orte.csv"] = write_csv(out / "reference/orte.csv", poi.PLACE_HEADER,
                                             poi.place_rows(spec.tiles))
    bus = []
    for c in cells:
        bus += poi.cell_pois(c, spec.seed, spec.year)["busstops"]
    lon, lat = poi.to_lonlat([b[1] for b in bus], [b[2] for b in bus]) if bus else ([], [])
    counts["reference/bushaltestellen.csv"] = write_csv(
        out / "reference/bushaltestellen.csv", ["name", "linien", "rechtswert", "hochwert",
                                                "laenge", "breite"],
        [[b[0]["name"], b[0]["linien"], f"{b[1]:.2f}", f"{b[2]:.2f}", f"{a:.7f}", f"{c:.7f}"]
         for b, a, c in zip(bus, lon, lat, strict=True)])
    netw = poi.street_network(cells, spec.tiles, spec.seed)
    counts["reference/strassennetz.gpkg"] = write_gpkg(out / "reference/strassennetz.gpkg", netw,
                                                       "strassennetz", stamp)
