"""The commercial-space finder: network distances checked by hand on a small graph, and the whole
dataset built from the sample city (consistent distances, correct names, unreachable offers)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from testkit import make_settings

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings
from pipelines.build import build_all
from pipelines.network import ACCESS_SPEED_KMH, RoadNetwork

TARGETS = ["airport", "motorway_junction", "sbahn_station", "bus_stop"]
TERMINAL = (6.7668, 51.2895)  # Düsseldorf airport's terminal, lon/lat (WGS84)


def small_network() -> RoadNetwork:
    r"""A—B—C along x (1 km each), a fast bypass A—D—C, a one-way spur C→E, an island F—G.

        D (motorway 120 km/h, 1.5 km + 1.5 km)
       / \
      A—B—C→E         F—G (not connected)
    """
    lines = gpd.GeoDataFrame({
        "strassenklasse": ["residential", "residential", "motorway", "motorway", "residential",
                           "residential", "residential"],
        "maxspeed": [30, 30, 120, 120, 30, 30, 30],
        "oneway": [False, False, False, False, True, False, False],
    }, geometry=[
        shapely.LineString([(0, 0), (1000, 0)]),
        shapely.LineString([(1000, 0), (2000, 0)]),
        shapely.LineString([(0, 0), (1000, 1118.034)]),
        shapely.LineString([(1000, 1118.034), (2000, 0)]),
        shapely.LineString([(2000, 0), (3000, 0)]),  # drawn C → E: one way
        shapely.LineString([(9000, 0), (9500, 0)]),
        shapely.LineString([(9000, 0), (9500, 0)]),  # a parallel duplicate must not add up
    ], crs="EPSG:25832")
    return RoadNetwork(lines)


def test_fastest_route_by_hand() -> None:
    net = small_network()
    # from A to C: the bypass (2 × 1500 m at 120 km/h = 1.5 min) beats A—B—C (2 km at 30 = 4 min)
    found = net.nearest(np.array([[0.0, 0.0]]), np.array([[2000.0, 0.0]]), max_snap_m=100)
    assert found.target[0] == 0
    assert found.network_m[0] == pytest.approx(3000.0, abs=0.01)
    assert found.minutes[0] == pytest.approx(1.5, abs=1e-3)
    assert found.straight_m[0] == pytest.approx(2000.0)


def test_nearest_of_several_targets_with_snap_legs() -> None:
    net = small_network()
    # origin 30 m off B; targets: B itself (via 0 m) and F on the island
    origins = np.array([[1000.0, 30.0]])
    found = net.nearest(origins, np.array([[9000.0, 0.0], [1000.0, 0.0]]), max_snap_m=100)
    assert found.target[0] == 1
    assert found.network_m[0] == pytest.approx(30.0)
    assert found.minutes[0] == pytest.approx(30 / (ACCESS_SPEED_KMH / 3.6) / 60)
    assert found.network_m[0] >= found.straight_m[0]


def test_one_way_and_unreachable() -> None:
    net = small_network()
    # E can be reached from C (drawn C → E) but C cannot be reached from E
    to_e = net.nearest(np.array([[2000.0, 0.0]]), np.array([[3000.0, 0.0]]), max_snap_m=100)
    from_e = net.nearest(np.array([[3000.0, 0.0]]), np.array([[2000.0, 0.0]]), max_snap_m=100)
    assert to_e.network_m[0] == pytest.approx(1000.0) and from_e.target[0] == -1
    assert np.isnan(from_e.network_m[0])
    island = net.nearest(np.array([[9500.0, 0.0]]), np.array([[0.0, 0.0]]), max_snap_m=100)
    assert island.target[0] == -1
    far = net.nearest(np.array([[0.0, 5000.0]]), np.array([[0.0, 0.0]]), max_snap_m=100)
    assert far.target[0] == -1, "an origin 5 km off the network is not snapped to it"
    twin = net.nearest(np.array([[9000.0, 0.0]]), np.array([[9500.0, 0.0]]), max_snap_m=100)
    assert twin.network_m[0] == pytest.approx(500.0), "parallel lines must not add up"


def test_walking_counts_avoid_motorways() -> None:
    net = small_network()
    points = np.array([[1000.0, 0.0], [2000.0, 0.0], [1000.0, 1118.034]])
    # from A: B at 1000 m, C at 2000 m by road (the motorway is not walkable), D not walkable
    assert list(net.count_within(np.array([[0.0, 0.0]]), points, 1000.0)) == [1]
    assert list(net.count_within(np.array([[0.0, 0.0]]), points, 2000.0)) == [2]


@pytest.fixture(scope="module")
def offers(portal: Settings) -> gpd.GeoDataFrame:
    return gpd.read_file(portal.published_dir / "commercial_spaces" / "commercial_spaces.gpkg")


def test_every_offer_is_measured_consistently(offers: gpd.GeoDataFrame, sample_raw: Path
                                              ) -> None:
    raw = sample_raw / "gewerbeflaechen" / "freie_gewerbeflaechen.csv"
    assert len(offers) == len(raw.read_text(encoding="utf-8").splitlines()) - 1 > 0
    for target in TARGETS:
        network = offers[f"{target}_network_distance_m"]
        straight = offers[f"{target}_straight_line_distance_m"]
        assert network.notna().all(), target
        assert (network >= straight).all(), f"{target}: a road is never shorter than the line"
        assert (offers[f"{target}_travel_time_min"] > 0).all()


def test_the_airport_distance_is_to_duesseldorf_airport(offers: gpd.GeoDataFrame) -> None:
    """The published straight line ends at the real terminal (51.2895 N, 6.7668 E, to 4
    decimals: ±6 m), measured here on the ellipsoid; the UTM grid's scale near Ratingen
    (E 344-356 km) differs from it by under 0.02 %, 2 m in 10 km."""
    lon, lat = pyproj.Transformer.from_crs(offers.crs, "EPSG:4326", always_xy=True).transform(
        offers.geometry.x.to_numpy(), offers.geometry.y.to_numpy())
    _, _, metres = pyproj.Geod(ellps="GRS80").inv(lon, lat, np.full(len(offers), TERMINAL[0]),
                                                   np.full(len(offers), TERMINAL[1]))
    published = offers["airport_straight_line_distance_m"].to_numpy()
    assert metres.min() > 2000, "the offers lie in Ratingen, kilometres from the airport"
    np.testing.assert_allclose(published, metres, atol=10.0)


def test_straight_line_distances_point_at_named_targets(offers: gpd.GeoDataFrame,
                                                        sample_raw: Path) -> None:
    hubs = gpd.read_file(sample_raw / "reference" / "verkehrsknoten.geojson").to_crs(25832)
    junctions = hubs[hubs["art"] == "Autobahnanschluss"].set_index("name")
    stations = hubs[hubs["art"] == "S-Bahn-Haltestelle"].set_index("name")
    for _, offer in offers.iterrows():
        junction = junctions.loc[offer["motorway_junction_name"]]
        assert offer["motorway_junction_motorways"] == junction["autobahn"]
        assert offer["motorway_junction_straight_line_distance_m"] == pytest.approx(
            offer.geometry.distance(junction.geometry), abs=1.0)
        station = stations.loc[offer["sbahn_station_name"]]
        assert offer["sbahn_station_straight_line_distance_m"] == pytest.approx(
            offer.geometry.distance(station.geometry), abs=1.0)
    motorways = {m for value in offers["motorway_junction_motorways"] for m in value.split("/")}
    assert motorways <= {"A3", "A44", "A52", "A524"}


def test_walking_counts_match_the_bus_stops_nearby(offers: gpd.GeoDataFrame) -> None:
    """Every offer whose nearest bus stop is a short walk away counts at least that stop."""
    close = offers["bus_stop_network_distance_m"] <= 400
    assert close.any()
    assert (offers.loc[close, "bus_stops_within_walk"] >= 1).all()
    assert (offers["bus_stops_within_walk"] >= 0).all()


@pytest.fixture
def finder_input(tmp_path: Path, sample_raw: Path) -> Settings:
    settings = make_settings(tmp_path)
    for folder in ("reference", "poi", "gewerbeflaechen"):
        shutil.copytree(sample_raw / folder, settings.raw_dir / folder)
    return settings


def test_an_unreachable_offer_gets_empty_values_and_a_report_entry(finder_input: Settings
                                                                   ) -> None:
    path = finder_input.raw_dir / "gewerbeflaechen" / "freie_gewerbeflaechen.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append("GF-9999,Halle im Nirgendwo,Halle,800,6.5,GI,Industriegebiet,2026-01-01,"
                 '"Irgendwo 1, 40878 Ratingen",,380000.0,5700000.0')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = build_all(load_registry(PROJECT_ROOT / "datasets"), finder_input,
                        ["commercial_spaces"], echo=lambda _: None)
    assert summary.ok, summary.lines()
    folder = finder_input.published_dir / "commercial_spaces"
    layer = gpd.read_file(folder / "commercial_spaces.gpkg").set_index("offer_id")
    lost = layer.loc["GF-9999"]
    for target in TARGETS:
        assert lost[f"{target}_network_distance_m"] is None or np.isnan(
            lost[f"{target}_network_distance_m"])
    assert layer.drop(index="GF-9999")["airport_network_distance_m"].notna().all()
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    reasons = [r for r in report["by_reason"] if "no route" in r]
    assert len(reasons) == len(TARGETS)
    assert all(e["value"] == "GF-9999" for r in reasons for e in report["examples"][r])


def test_a_schema_without_the_computed_properties_is_explained(finder_input: Settings,
                                                              tmp_path: Path) -> None:
    def drop_libraries(text: str) -> str:
        start = text.index("    - name: libraries_within_walk")
        end = text.index("    - name:", start + 10)
        return text[:start] + text[end:]

    message = _build_failure(finder_input, tmp_path, drop_libraries)
    assert "commercial_spaces.yml" in message and "libraries_within_walk" in message


def _build_failure(settings: Settings, tmp_path: Path, edit: Callable[[str], str]) -> str:
    """Why ``commercial_spaces`` fails to build from a registry copy with its YAML edited."""
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / "datasets", datasets)
    path = datasets / "commercial_spaces.yml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    summary = build_all(load_registry(datasets), settings, ["commercial_spaces"],
                        echo=lambda _: None)
    return summary.failed["commercial_spaces"]


AMENITY_KINDS = {"restaurants": "restaurant", "cafes": "cafe", "shops": "shop",
                 "pharmacies": "pharmacy", "childcare": "childcare"}
WALK_M = 800.0


class Walk:
    """Plain Dijkstra (heapq) over the walkable street lines, written apart from the pipeline's
    SciPy search so that the two can disagree. Points snap to the nearest line end, as the
    pipeline documents (the snap leg counts as walked)."""

    def __init__(self, lines: gpd.GeoDataFrame) -> None:
        key = lambda c: tuple(np.round(np.asarray(c), 2))  # noqa: E731
        self.nodes = np.unique([key(g.coords[k]) for g in lines.geometry for k in (0, -1)],
                               axis=0)
        self.graph: dict[tuple, list] = {}
        for g, road in zip(lines.geometry, lines["strassenklasse"], strict=True):
            if road == "motorway":
                continue
            a, b = key(g.coords[0]), key(g.coords[-1])
            self.graph.setdefault(a, []).append((b, g.length))
            self.graph.setdefault(b, []).append((a, g.length))

    def snap(self, xy: np.ndarray) -> tuple[tuple, float]:
        distance = np.hypot(*(self.nodes - xy).T)
        k = int(np.argmin(distance))
        return tuple(self.nodes[k]), float(distance[k])

    def within(self, start: np.ndarray, limit: float) -> dict[tuple, float]:
        """Metres to every node reachable within ``limit``, the start's snap leg included."""
        import heapq

        first, leg = self.snap(start)
        best = {first: leg}
        queue = [(leg, first)]
        while queue:
            d, node = heapq.heappop(queue)
            if d > best.get(node, np.inf):
                continue
            for other, length in self.graph.get(node, []):
                if d + length <= limit and d + length < best.get(other, np.inf):
                    best[other] = d + length
                    heapq.heappush(queue, (d + length, other))
        return best


def test_amenities_within_walk_are_counted_per_kind(offers: gpd.GeoDataFrame,
                                                    sample_raw: Path) -> None:
    """Restaurants, cafés, shops, pharmacies and childcare: each offer's count per kind equals a
    brute-force walk on the street lines, and never exceeds the count within the same
    straight-line distance."""
    import pandas as pd

    walk = Walk(gpd.read_file(sample_raw / "reference" / "strassennetz.gpkg").to_crs(25832))
    amenities = pd.read_csv(sample_raw / "poi" / "einrichtungen.csv")
    assert set(amenities["kategorie"]) == set(AMENITY_KINDS.values())
    xy = amenities[["rechtswert", "hochwert"]].to_numpy(float)
    snapped = [walk.snap(p) for p in xy]
    seen = dict.fromkeys(AMENITY_KINDS, 0)
    for _, offer in offers.iterrows():
        start = np.array([offer.geometry.x, offer.geometry.y])
        reach = walk.within(start, WALK_M)
        for key, kind in AMENITY_KINDS.items():
            mine = np.flatnonzero((amenities["kategorie"] == kind).to_numpy())
            walked = sum(reach.get(snapped[k][0], np.inf) + snapped[k][1] <= WALK_M + 0.01
                         for k in mine)
            straight = int((np.hypot(*(xy[mine] - start).T) <= WALK_M).sum())
            got = offer[f"{key}_within_walk"]
            assert got == walked, (offer["offer_id"], key, got, walked)
            assert got <= straight
            seen[key] += got
    assert seen["restaurants"] > 0 and seen["shops"] > 0, seen


def test_an_amenity_filter_on_a_missing_column_is_explained(finder_input: Settings,
                                                            tmp_path: Path) -> None:
    def misspell(text: str) -> str:
        assert "where: {kategorie: cafe}" in text
        return text.replace("where: {kategorie: cafe}", "where: {kategory: cafe}")

    message = _build_failure(finder_input, tmp_path, misspell)
    assert "commercial_spaces.yml" in message and "amenities.cafes.where" in message
    assert "'kategory'" in message and "kategorie" in message
