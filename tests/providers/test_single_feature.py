"""A layer with a single point (a district with one public toilet) must still be served."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from geoportal.app.providers.geopackage import GeoPackageProvider


def test_a_one_point_layer_is_served(tmp_path: Path) -> None:
    path = tmp_path / "one.gpkg"
    gpd.GeoDataFrame({"wc_id": ["WC-1"]}, geometry=[shapely.Point(350500.0, 5685500.0)],
                     crs="EPSG:25832").to_file(path, layer="one", engine="pyogrio")
    provider = GeoPackageProvider({"name": "GeoPackage", "type": "feature", "data": str(path),
                                   "id_field": "wc_id"})
    inside = provider.query(bbox=[6.8, 51.2, 6.9, 51.4], limit=10)
    outside = provider.query(bbox=[7.5, 51.9, 7.6, 52.0], limit=10)
    assert [f["id"] for f in inside["features"]] == ["WC-1"]
    assert inside["numberMatched"] == 1 and outside["numberMatched"] == 0
