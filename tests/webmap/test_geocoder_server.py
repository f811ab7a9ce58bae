"""/search, the geocoder the portal builds from its published layers at start (issue 21.3)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import requests

from geoportal.core.settings import Settings

pytestmark = [pytest.mark.server]


def test_an_address_typed_with_typos_and_abbreviation_is_found_first(
        server: str, portal: Settings) -> None:
    buildings = gpd.read_file(portal.published_dir / "buildings" / "buildings.gpkg")
    address = str(buildings["address"].dropna().loc[lambda a: a.str.contains(r"\d")].iloc[0])
    street, number = address.rsplit(" ", 1)
    typed = street.replace("straße", "str.").replace("Straße", "Str.") + f" {number}"
    answer = requests.get(f"{server}/search", params={"q": typed}, timeout=10).json()
    first = answer["groups"][0]
    assert first["kind"] == "address" and first["hits"][0]["title"] == address
    assert answer["groups"][1]["kind"] == "street" and answer["groups"][1]["hits"][0]["title"] \
        == street
    assert all(g["matched"] >= len(g["hits"]) for g in answer["groups"])
