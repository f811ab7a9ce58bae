#!/usr/bin/env bash
# Debian packages the test suite uses as independent clients and real components:
#   gdal-bin  ogrinfo's OAPIF driver reads our OGC API Features like a GIS desktop would.
#   chromium  headless browser for the web map tests (Playwright drives /usr/bin/chromium;
#             browser downloads are impossible offline).
#   postgresql-15-postgis-3  PostGIS back end: tests/query start a private cluster and compare
#             CQL2 answers with the embedded GeoPackage back end (pulls in postgresql-15).
#   mapserver-bin  MapServer 8, the renderer behind the WMS/WMTS (MapProxy runs its mapserv).
# With the argument "bench", also what bench/ needs beside them:
#   wrk       HTTP load generator (bench_features, bench_query, bench_imagery serving, bench_load).
# With the argument "serve", only what the server itself needs: `make demo`. That is
#   mapserver-bin (WMS/WMTS) and fonts-dejavu-core, the font the map's label glyphs are made from
#   at start-up (geoportal/app/glyphs.py).
set -euo pipefail
pkgs=(gdal-bin postgresql-15-postgis-3 chromium fonts-dejavu-core mapserver-bin)
[ "${1:-}" = "bench" ] && pkgs+=(wrk)
[ "${1:-}" = "serve" ] && pkgs=(mapserver-bin fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "==> apt-get install ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
