"""Another city's tree cadastre, onboarded by YAML only: right result or clear refusal.

The delivery is what a parks department's GIS exports: a Shapefile in DHDN / Gauss-Krüger zone 3
(EPSG:31467) whose DBF has 10-character headers and no ``.cpg`` (its UTF-8 must be declared), a
natural id made of two columns (object number + tree number), a status column with felled and
dead trees, an area-type code and one column holding "botanical, German" names. It is derived
from the real Münster cadastre (``../shared/data/muenster-baumkataster``): 400 rows, their
EPSG:25832 points moved to Gauss-Krüger with the BETA2007 grid, so every published value and
position is checked against the Münster file itself. The status column is added (the real
"Standort ohne Baum" rows are felled, every 20th other one is marked dead) and so is the code.

Every variant runs a real ``geoportal build`` (the CLI) on a temporary registry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml
from click.testing import CliRunner
from testkit import make_settings
from testkit.raw import GOOD_TOILETS, write_toilets

from geoportal.app.cli import main
from geoportal.core.crs import SYSTEM_GRID_DIRS, plan_transformation, use_grid_dirs
from geoportal.core.publish import read_metadata
from geoportal.core.settings import PROJECT_ROOT, Settings

ROWS = 400
SHAPEFILE = "baumkataster_gk/baeume.shp"
GK3 = "EPSG:31467"
MUENSTER_LONLAT = (7.55, 51.90, 7.70, 52.00)
#: The area-type code in front of Münster's object names, and its label.
AREA_CODES = {"VG": "Verkehrsgrün", "ÖG": "Öffentliche Grünfläche", "SP": "Spielplatz",
              "KITA": "Kindertagesstätte", "WEG": "Weg", "SCH": "Schulgelände"}
STATUS_LIVING, STATUS_DEAD, STATUS_FELLED = "L", "A", "G"

TREES_GK = {
    "id": "trees_gk",
    "title": {"de": "Stadtbäume (Gauß-Krüger-Lieferung)", "en": "City trees (GK delivery)"},
    "description": {"de": "Baumkataster im Gauß-Krüger-System.", "en": "Tree cadastre."},
    "theme": "environment",
    "keywords": {"de": ["Baum"]},
    "license": "dl-de/zero-2-0",
    "update_frequency": "annual",
    "source": {"path": SHAPEFILE, "crs": GK3, "encoding": "utf-8",
               "where": {"STATUS": STATUS_LIVING}},
    "pipeline": {"kind": "vector"},
    "schema": {
        "geometry": "Point",
        "id_field": "tree_id",
        "title_field": "species_de",
        "properties": [
            {"name": "tree_id", "source": ["STRASSE_NR", "BAUM_NR"], "separator": "-",
             "required": True, "title": {"de": "Baum-ID"}},
            {"name": "species_botanical", "source": "BAUMART_BO",
             "split": {"separator": ",", "part": 1, "parts": 2},
             "title": {"de": "Baumart botanisch"}},
            {"name": "species_de", "source": "BAUMART_BO",
             "split": {"separator": ",", "part": 2, "parts": 2}, "title": {"de": "Baumart"}},
            {"name": "planting_year", "source": "PFLANZJAHR", "type": "integer",
             "minimum": 1700, "maximum": 2030, "title": {"de": "Pflanzjahr"}},
            {"name": "location", "source": "STANDORT_N", "title": {"de": "Standort"}},
            {"name": "area_type", "source": "FLAECHE_CD", "codes": AREA_CODES,
             "title": {"de": "Flächenart"}},
        ],
    },
}
#: The id a hasty YAML names: the object (street) number alone, which a street's trees share.
STREET_NUMBER_AS_ID = {"name": "tree_id", "source": "STRASSE_NR", "required": True,
                       "title": {"de": "Baum-ID"}}


# ------------------------------------------------------------------------------ the delivery


def _area_code(name: str) -> str:
    first = name.split(" ")[0]
    return "SCH" if first.endswith(",") else first  # "LUDWIG-ERHARD-SCHULE, …": a school


@pytest.fixture(scope="module")
def muenster(shared_data: Path) -> gpd.GeoDataFrame:
    """The first 400 rows of the real Münster cadastre with readable WKT, in EPSG:25832."""
    frame = pd.read_csv(shared_data / "muenster-baumkataster" / "baumkataster_muenster.csv",
                        sep=";", encoding="latin-1", dtype=str, keep_default_na=False)
    points = []
    for wkt in frame["gis_komplex_UTM"]:
        try:
            points.append(shapely.from_wkt(wkt))
        except shapely.errors.GEOSException:  # decimal commas: the readers' test covers them
            points.append(None)
    readable = np.array([p is not None for p in points])
    frame = frame[readable].head(ROWS).reset_index(drop=True)
    geometry = [p for p in points if p is not None][:ROWS]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:25832")


@pytest.fixture(scope="module")
def delivery(muenster: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The Münster rows as the Gauss-Krüger Shapefile's attribute table (with the UTM points)."""
    felled = muenster["ref_Baumart_botanisch"] == "Standort ohne Baum"
    status = np.where(felled, STATUS_FELLED, STATUS_LIVING).astype(object)
    others = np.flatnonzero(~felled.to_numpy())
    status[others[::20]] = STATUS_DEAD
    german = muenster["ref_Baumart"]
    species = muenster["ref_Baumart_botanisch"].where(
        german == "", muenster["ref_Baumart_botanisch"].str.strip() + ", " + german)
    return gpd.GeoDataFrame({
        "STRASSE_NR": muenster["ref_Objekt_Number"],
        "BAUM_NR": muenster["Standort-Nr"],
        "BAUMART_BO": species,
        "PFLANZJAHR": pd.to_numeric(muenster["Pflanzjahr"].replace("", None)).astype("Int64"),
        "STANDORT_N": muenster["ref_Objekt_Name"],
        "FLAECHE_CD": muenster["ref_Objekt_Name"].map(_area_code),
        "STATUS": status,
        "MS_ID": muenster["ID"],
    }, geometry=muenster.geometry, crs="EPSG:25832")


def write_shapefile(raw: Path, delivery: gpd.GeoDataFrame) -> Path:
    """The delivery in Gauss-Krüger, moved there with the BETA2007 grid; no .cpg beside it."""
    to_gk = plan_transformation("EPSG:25832", GK3, MUENSTER_LONLAT)
    assert to_gk.shortfall is None and "DHDN to ETRS89 (8)" in to_gk.description  # BETA2007
    gk = gpd.GeoDataFrame(delivery.drop(columns="geometry"),
                          geometry=to_gk.apply(delivery.geometry.values), crs=GK3)
    path = raw / SHAPEFILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(gk, path, encoding="utf-8")
    path.with_suffix(".cpg").unlink()  # a DBF that does not say its code page
    return path


def registry(folder: Path, *datasets: dict) -> Path:
    """A registry folder: the portal defaults, public toilets and the given datasets."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("_portal.yml", "public_toilets.yml"):
        shutil.copy(PROJECT_ROOT / "datasets" / name, folder / name)
    for spec in datasets:
        (folder / f"{spec['id']}.yml").write_text(yaml.safe_dump(spec, allow_unicode=True),
                                                  encoding="utf-8")
    return folder


@pytest.fixture
def city(tmp_path: Path, delivery: gpd.GeoDataFrame) -> Settings:
    settings = make_settings(tmp_path)
    write_shapefile(settings.raw_dir, delivery)
    write_toilets(settings.raw_dir, GOOD_TOILETS)
    return settings


def geoportal_build(settings: Settings, datasets: Path, *ids: str) -> tuple[int, str]:
    env = {**settings.as_env(), "GEOPORTAL_DATASETS_DIR": str(datasets)}
    result = CliRunner().invoke(main, ["build", *ids], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def published(settings: Settings, dataset_id: str) -> gpd.GeoDataFrame:
    return gpd.read_file(settings.published_dir / dataset_id / f"{dataset_id}.gpkg")


# ------------------------------------------------------------------------------ the variants


def test_natural_composite_id_publishes_the_living_trees_as_delivered(
        city: Settings, delivery: gpd.GeoDataFrame) -> None:
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", TREES_GK))
    assert code == 0, log
    living = delivery[delivery["STATUS"] == STATUS_LIVING]
    ids = living["STRASSE_NR"] + "-" + living["BAUM_NR"]
    duplicates = int(ids.duplicated().sum())  # the real file repeats a few tree numbers
    assert 0 < duplicates < 0.05 * len(living)

    report = json.loads((city.published_dir / "trees_gk" / "report.json").read_text("utf-8"))
    filtered = int((delivery["STATUS"] != STATUS_LIVING).sum())
    assert report["rows_read"] == ROWS and report["rows_filtered"] == filtered
    assert report["rows_rejected"] == duplicates
    assert report["by_reason"].get("rejected: duplicate id") == duplicates
    assert report["rows_published"] == len(living) - duplicates
    assert f"{len(living) - duplicates} of {ROWS} rows published, {filtered} filtered out, " \
           f"{duplicates} rejected" in log
    assert "ok      trees_gk" in log and "ok      public_toilets" in log

    layer = published(city, "trees_gk").set_index("tree_id")
    expected = living[~ids.duplicated()].set_index(ids[~ids.duplicated()])
    assert sorted(layer.index) == sorted(expected.index)  # no felled or dead tree among them
    botanical, _, german = expected["BAUMART_BO"].str.partition(",").T.to_numpy()
    assert list(layer.loc[expected.index, "species_botanical"]) == [b.strip() for b in botanical]
    assert list(layer.loc[expected.index, "species_de"].fillna("")) == [g.strip() for g in german]
    assert "Hänge-Birke, Weiß-Birke" in set(layer["species_de"])  # the rest keeps its comma
    assert list(layer.loc[expected.index, "area_type"]) == [
        AREA_CODES[c] for c in expected["FLAECHE_CD"]]
    assert list(layer.loc[expected.index, "location"]) == list(expected["STANDORT_N"])
    assert layer["location"].str.contains("Ö").any()  # UTF-8 DBF without .cpg, declared
    years = layer.loc[expected.index, "planting_year"]
    assert (years.fillna(-1).astype(int) == expected["PFLANZJAHR"].fillna(-1)).all()

    # Positions: back in EPSG:25832 within 1 cm of the Münster file's own points.
    assert layer.crs.to_epsg() == 25832
    offset = layer.loc[expected.index].geometry.distance(expected.geometry.set_crs(25832))
    assert offset.max() < 0.01


def test_a_colliding_yaml_id_fails_that_dataset_only(city: Settings,
                                                     delivery: gpd.GeoDataFrame) -> None:
    datasets = registry(city.data_dir / "datasets", TREES_GK)
    assert geoportal_build(city, datasets)[0] == 0
    before = read_metadata(city.published_dir, "trees_gk")
    gpkg = (city.published_dir / "trees_gk" / "trees_gk.gpkg").read_bytes()

    wrong = json.loads(json.dumps(TREES_GK))
    wrong["schema"]["properties"][0] = STREET_NUMBER_AS_ID
    registry(datasets, wrong)
    write_toilets(city.raw_dir, GOOD_TOILETS[:2])  # the other dataset changed too
    code, log = geoportal_build(city, datasets)

    assert code == 1
    living = delivery[delivery["STATUS"] == STATUS_LIVING]
    share = 100 * living["STRASSE_NR"].duplicated().sum() / len(living)
    assert share > 50
    failed = next(line for line in log.splitlines() if line.startswith("  FAILED  trees_gk"))
    report = city.data_dir / "rejects" / "trees_gk" / "rejects.csv"
    assert f"{share:.1f} % of the {len(living)} rows" in failed
    assert "more than the 5 % allowed" in failed and "max_rejected_pct" in failed
    assert str(report) in failed and "'rejected: duplicate id'" in failed
    rejects = pd.read_csv(report)
    assert (rejects["reason"] == "duplicate id").sum() == living["STRASSE_NR"].duplicated().sum()

    assert read_metadata(city.published_dir, "trees_gk") == before  # the old version stays
    assert (city.published_dir / "trees_gk" / "trees_gk.gpkg").read_bytes() == gpkg
    assert len(published(city, "public_toilets")) == 2  # built in the same run
    assert "ok      public_toilets" in log

    registry(datasets, TREES_GK)  # the YAML corrected: published, the refusal's report gone
    assert geoportal_build(city, datasets, "trees_gk")[0] == 0
    assert not report.parent.exists()


def test_a_higher_limit_in_the_yaml_lets_the_delivery_through(
        city: Settings, delivery: gpd.GeoDataFrame) -> None:
    lenient = json.loads(json.dumps(TREES_GK))
    lenient["schema"]["properties"][0] = STREET_NUMBER_AS_ID
    lenient["pipeline"]["params"] = {"max_rejected_pct": 100}
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", lenient), "trees_gk")
    assert code == 0, log
    layer = published(city, "trees_gk")
    streets = delivery.loc[delivery["STATUS"] == STATUS_LIVING, "STRASSE_NR"]
    assert sorted(layer["tree_id"]) == sorted(streets.unique())  # one tree per street: thin


def test_without_the_row_filter_dead_trees_are_published(city: Settings,
                                                        delivery: gpd.GeoDataFrame) -> None:
    everything = json.loads(json.dumps(TREES_GK))
    del everything["source"]["where"]
    everything["schema"]["properties"].append(
        {"name": "status", "source": "STATUS", "codes": {"L": "lebend", "A": "abgestorben",
                                                         "G": "gefällt"},
         "title": {"de": "Zustand"}})
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", everything))
    assert code == 0, log
    counts = published(city, "trees_gk")["status"].value_counts().to_dict()
    ids = delivery["STRASSE_NR"] + "-" + delivery["BAUM_NR"]
    unique = delivery[~ids.duplicated()]
    assert counts == {"lebend": int((unique["STATUS"] == "L").sum()),
                      "abgestorben": int((unique["STATUS"] == "A").sum()),
                      "gefällt": int((unique["STATUS"] == "G").sum())}
    assert "filtered out" not in log


def test_a_row_filter_on_a_missing_column_names_the_columns(city: Settings) -> None:
    typo = json.loads(json.dumps(TREES_GK))
    typo["source"]["where"] = {"ZUSTAND": "L"}
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", typo), "trees_gk")
    assert code == 1
    assert "the row filter (where) names the column 'ZUSTAND'" in log and "'STATUS'" in log


# --------------------------------------------------------------------------- DHDN and the grid


@pytest.fixture
def no_system_grids():
    """PROJ as pyproj's wheel alone has it: without /usr/share/proj, so without BETA2007."""
    use_grid_dirs([])
    yield
    use_grid_dirs(SYSTEM_GRID_DIRS)


def test_gauss_krueger_is_moved_with_the_beta2007_grid(city: Settings,
                                                       delivery: gpd.GeoDataFrame) -> None:
    gk = pyogrio.read_dataframe(city.raw_dir / SHAPEFILE, columns=["MS_ID"])
    grid = plan_transformation(GK3, "EPSG:25832", MUENSTER_LONLAT)
    assert "de_adv_BETA2007" in grid.transformer.definition
    with_grid = grid.apply(gk.geometry.values)
    # What the build did before PROJ found the grid (a plain to_crs): PROJ's Helmert fallback
    # for 50°20'-52°20'N, "DHDN to ETRS89 (4)", measured 0.44-0.45 m off here (the nationwide
    # "(2)" that tools without an area of interest pick is 1.4 m off).
    use_grid_dirs([])
    try:
        helmert = gk.geometry.to_crs("EPSG:25832").values
        nationwide = plan_transformation(GK3, "EPSG:25832")
    finally:
        use_grid_dirs(SYSTEM_GRID_DIRS)
    apart = shapely.distance(with_grid, helmert)
    assert apart.min() > 0.4 and apart.max() < 0.5
    assert "DHDN to ETRS89 (2)" in nationwide.description
    far = shapely.distance(with_grid, nationwide.apply(gk.geometry.values))
    assert far.min() > 1.3 and far.max() < 1.5

    code, log = geoportal_build(city, registry(city.data_dir / "datasets", TREES_GK),
                                "trees_gk")
    assert code == 0, log
    layer = published(city, "trees_gk").set_index("tree_id")
    living = (delivery["STATUS"] == STATUS_LIVING).to_numpy()
    ids = (delivery["STRASSE_NR"] + "-" + delivery["BAUM_NR"])[living]
    first = ~ids.duplicated().to_numpy()
    by_id = pd.Series(with_grid[living][first], index=ids[first])
    assert shapely.distance(layer.geometry.values, by_id.loc[layer.index].values).max() < 0.01
    metadata = read_metadata(city.published_dir, "trees_gk")
    assert metadata is not None and metadata.warnings == []


def test_without_the_grid_gauss_krueger_is_refused(city: Settings, no_system_grids) -> None:
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", TREES_GK))
    assert code == 1
    failed = next(line for line in log.splitlines() if line.startswith("  FAILED  trees_gk"))
    assert "de_adv_BETA2007.tif" in failed and "apt install proj-data" in failed
    assert "source.allow_approximate_transformation: true" in failed
    assert not (city.published_dir / "trees_gk").exists()
    assert "ok      public_toilets" in log  # WGS84 → ETRS89 needs no grid


def test_an_allowed_approximate_transformation_is_a_warning(city: Settings,
                                                            no_system_grids) -> None:
    allowed = json.loads(json.dumps(TREES_GK))
    allowed["source"]["allow_approximate_transformation"] = True
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", allowed))
    assert code == 0, log
    assert "ok with 1 warning trees_gk" in log
    warning = next(line for line in log.splitlines() if line.startswith("    warning: "))
    assert "de_adv_BETA2007.tif" in warning and "published with it" in warning
    metadata = read_metadata(city.published_dir, "trees_gk")
    assert metadata is not None and len(metadata.warnings) == 1
    assert "de_adv_BETA2007.tif" in metadata.warnings[0]
    assert read_metadata(city.published_dir, "public_toilets").warnings == []


def test_a_code_missing_from_the_yaml_is_emptied_and_reported(city: Settings,
                                                              delivery: gpd.GeoDataFrame) -> None:
    partial = json.loads(json.dumps(TREES_GK))
    codes = partial["schema"]["properties"][5]["codes"]
    del codes["SCH"]  # the school grounds were forgotten
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", partial), "trees_gk")
    assert code == 0, log
    living = delivery[delivery["STATUS"] == STATUS_LIVING]
    kept = living[~(living["STRASSE_NR"] + "-" + living["BAUM_NR"]).duplicated()]
    schools = int((kept["FLAECHE_CD"] == "SCH").sum())
    report = json.loads((city.published_dir / "trees_gk" / "report.json").read_text("utf-8"))
    # noted for every living row, the duplicates rejected later included
    noted = int((living["FLAECHE_CD"] == "SCH").sum())
    assert report["by_reason"]["nulled: code not listed in area_type.codes"] == noted > 0
    assert report["examples"]["nulled: code not listed in area_type.codes"][0]["value"] == "SCH"
    assert int(published(city, "trees_gk")["area_type"].isna().sum()) == schools


@pytest.mark.parametrize("edit, message", [
    ({"separator": "-"}, "schema.properties.1: 'separator' joins several source columns; "
                         "give 'source' a list"),
    ({"split": {"separator": ",", "part": 3, "parts": 2}},
     "schema.properties.1.split: part 3 of 2 parts does not exist"),
    ({"split": {"separator": ",", "part": 1, "prts": 2}},
     "schema.properties.1.split.prts: unknown key; did you mean 'parts'?"),
    ({"spilt": {"separator": ",", "part": 1}},
     "schema.properties.1.spilt: unknown key; did you mean 'split'?"),
])
def test_a_derivation_mistake_is_one_line_exit_2(city: Settings, edit: dict,
                                                 message: str) -> None:
    broken = json.loads(json.dumps(TREES_GK))
    broken["schema"]["properties"][1] = {**broken["schema"]["properties"][1], **edit}
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", broken))
    assert code == 2
    assert log.strip().endswith(f"trees_gk.yml: {message}"), log
    assert not (city.published_dir / "trees_gk").exists()


def test_numeric_codes_in_the_yaml_match_a_numeric_dbf_column(city: Settings,
                                                              delivery: gpd.GeoDataFrame) -> None:
    numbered = json.loads(json.dumps(TREES_GK))
    numbered["schema"]["properties"].append(  # PFLANZJAHR is a number column of the DBF
        {"name": "first_trees", "source": "PFLANZJAHR", "codes": {2020: "neu", 2021: "neu"},
         "title": {"de": "Neu gepflanzt"}})
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", numbered), "trees_gk")
    assert code == 0, log
    layer = published(city, "trees_gk")
    young = layer["planting_year"].isin([2020, 2021])
    assert young.any() and (layer.loc[young, "first_trees"] == "neu").all()
    assert layer.loc[~young, "first_trees"].isna().all()


def test_a_crs_without_its_datum_gets_only_a_ballpark_transformation_and_is_refused(
        city: Settings) -> None:
    """A PROJ string with the Bessel ellipsoid but no datum: PROJ can only ignore the datum
    shift (hundreds of metres); the file has no .prj to contradict the YAML."""
    (city.raw_dir / SHAPEFILE).with_suffix(".prj").unlink()
    bare = json.loads(json.dumps(TREES_GK))
    bare["source"]["crs"] = ("+proj=tmerc +lat_0=0 +lon_0=9 +k=1 +x_0=3500000 +y_0=0 "
                             "+ellps=bessel +units=m +no_defs")
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", bare), "trees_gk")
    assert code == 1
    failed = next(line for line in log.splitlines() if line.startswith("  FAILED  trees_gk"))
    assert "only a ballpark transformation exists" in failed
    assert "source.allow_approximate_transformation: true" in failed


def test_a_full_column_name_for_a_cut_dbf_header_names_the_cut_one(city: Settings) -> None:
    full = json.loads(json.dumps(TREES_GK))
    full["schema"]["properties"][4]["source"] = "STANDORT_NAME"  # as the city's docs spell it
    code, log = geoportal_build(city, registry(city.data_dir / "datasets", full), "trees_gk")
    assert code == 1
    assert ("a DBF keeps only 10 characters of a name: 'STANDORT_NAME' is 'STANDORT_N'"
            in log), log
