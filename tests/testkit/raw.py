"""Raw inputs as the city delivers them, written by the build tests: toilets and trees.

Three good toilets; five trees, two of them broken on purpose for the rejects report (B3 has
no easting, B4's has a letter in it); B2's planting year 1522 is below the schema's minimum
(the tree is published, the year is not).
"""

from __future__ import annotations

from pathlib import Path

TOILETS_HEADER = "id,name,adresse,oeffnungszeiten,barrierefrei,gebuehr,wickeltisch,breite,laenge"
TREES_HEADER = ("Baum-ID;Baumnummer;Art deutsch;Art botanisch;Pflanzjahr;Stammumfang (cm);"
                "Kronendurchmesser (m);Baumhöhe (m);Straße;Rechtswert;Hochwert")


def write_toilets(raw: Path, rows: list[str]) -> None:
    """The toilets list as the city exports it: UTF-8, comma-separated, lat/lon columns."""
    path = raw / "poi" / "oeffentliche_toiletten.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([TOILETS_HEADER, *rows]) + "\n", encoding="utf-8")


def write_trees(raw: Path, rows: list[str], encoding: str = "cp1252") -> None:
    """The tree cadastre as its software exports it: Windows-1252, ``;``, CRLF, UTM columns."""
    path = raw / "baumkataster" / "baumkataster_ratingen.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join([TREES_HEADER, *rows]) + "\r\n").encode(encoding))


GOOD_TOILETS = [
    "WC1,Markt,Markt 1,Mo-Fr 08:00-18:00,ja,kostenlos,ja,51.2970,6.8490",
    "WC2,Bahnhof Ost,Bahnhofstraße 2,24/7,nein,\"0,50 €\",nein,51.2990,6.8700",
    "WC3,Stadtpark,,,ja,kostenlos,,51.3000,6.8550",
]
GOOD_TREES = [
    "B1;1;Winter-Linde;Tilia cordata;1985;120;8,5;14,0;Düsseldorfer Straße;350123,45;5685321,10",
    "B2;2;Spitz-Ahorn;Acer platanoides;1522;95;6,0;11,5;Lintorfer Straße;350200,00;5685400,00",
    "B3;3;Stiel-Eiche;Quercus robur;1950;210;12,0;22,0;Am Stadtpark;;5685500,00",
    "B4;4;Hainbuche;Carpinus betulus;2010;40;3,5;7,0;Am Stadtpark;350300,5x;5685500,00",
    "B5;5;Platane;Platanus × hispanica;1975;180;10,0;20,0;Mülheimer Straße;350400,00;5685600,00",
]
