#!/usr/bin/env bash
# Create (or reuse) the project's Python 3.12 virtual environment and install the project into it.
#   scripts/bootstrap.sh          runtime dependencies
#   scripts/bootstrap.sh dev      plus test and lint tools, and the Debian packages the tests use
# Why 3.12: pygeoapi >= 0.22 needs it. Here pyenv has it (only answers when asked by version);
# elsewhere a plain python3.12 on PATH works.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GEOPORTAL_VENV:-.venv}

find_python() {
    if command -v pyenv >/dev/null 2>&1; then
        local v
        v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -V | tail -n1 || true)
        if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python3.12"; return; fi
    fi
    for p in python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            command -v "$p"; return
        fi
    done
    echo "error: Python 3.12 not found (pygeoapi >= 0.22 needs it). Install python3.12 or add it to pyenv." >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    py=$(find_python)
    echo "==> creating $VENV with $py"
    "$py" -m venv "$VENV"
fi

extra=""
if [ "${1:-}" = "dev" ]; then
    extra="[dev]"
    scripts/install-system-deps.sh
else
    # the WMS/WMTS renderer and the labels' font; without MapServer the portal serves everything
    # else and /wms says why; without the font the server refuses to start and names the package
    scripts/install-system-deps.sh serve || echo "warning: mapserver-bin or fonts-dejavu-core could not be installed: /wms and /wmts answer 503 without the first, the server does not start without the second" >&2
fi
stamp="$VENV/.installed$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing the project into $VENV (pip, wheels only)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -e ".$extra" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
    "$VENV/bin/python" -c "import geoportal" # fail loudly when the install did not work
    touch "$stamp"
fi

# The web pages' JavaScript libraries (MapLibre GL JS, Swagger UI) come from npm, pinned by
# web/package-lock.json; the server hands them out from web/node_modules (the machines are offline:
# no CDN). --ignore-scripts: no package runs code at install (@scarf/scarf would phone home).
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    command -v npm >/dev/null 2>&1 || { echo "error: npm not found; install Node.js (Debian: apt-get install npm)" >&2; exit 1; }
    echo "==> installing the web map's JavaScript libraries (npm ci in web/)"
    (cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
# copc (the point-cloud view's COPC reader) ships as CommonJS: bundled into one ES module
# (node_modules/.vendor/copc.js, esbuild from the same lock file); npm ci removes it, so redo it
if [ ! -f web/node_modules/.vendor/copc.js ] || [ web/package-lock.json -nt web/node_modules/.vendor/copc.js ]; then
    (cd web && npm run --silent vendor)
fi
