"""Every operation of the server's own OpenAPI document, fuzzed: no request is a server error.

schemathesis generates valid and invalid requests for all operations ``/openapi`` lists (items,
single features, queryables, tiles, tile sets, coverages, POST queries, OPTIONS) from each
parameter's schema, plus its boundary and "negative" cases (wrong types, missing or extra
values). A 5xx is a bug: a client's mistake must be a 4xx that says what, and anything else a
2xx. The run is bounded (a few cases per operation, deterministic generation, fixed seed), so a
failure reproduces; the report's ``curl`` line reproduces it by hand. The gunicorn workers must
be the same processes afterwards: a crash, a hang past the timeout or an out-of-memory kill
makes gunicorn start a new one, which a status code alone would not show.

The probe that found the fixes (more cases, every check) is in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from testkit import missing
from testkit.openapi import offline

from geoportal.app.server import worker_pids
from geoportal.core.settings import Settings

pytestmark = [pytest.mark.server, pytest.mark.slow]

#: Cases per operation and phase; 167 operations on the tiny sample take about a minute.
EXAMPLES = 4
SEED = 20


def schemathesis_cli() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        missing("schemathesis is not installed (pip install -e '.[dev]')")
    return str(found)


def run_schemathesis(server: str, folder: Path) -> dict:
    """Fuzz the whole API once with the server-error check; the run's JSON report."""
    spec = requests.get(f"{server}/openapi?f=json", timeout=60).json()
    (folder / "openapi.json").write_text(json.dumps(offline(spec)), encoding="utf-8")
    report = folder / "report.json"
    proc = subprocess.run([
        schemathesis_cli(), "run", str(folder / "openapi.json"), "--url", server,
        "--checks", "not_a_server_error", "--phases", "coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        "--workers", "2", "--request-timeout", "60",
        "--no-color", "--report", "json", "--report-json-path", str(report),
    ], capture_output=True, text=True, timeout=300, cwd=folder)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(report.read_text(encoding="utf-8"))
    result["output"] = proc.stdout
    return result


def test_no_request_is_a_server_error_or_kills_a_worker(
        server: str, server_process: subprocess.Popen[bytes], portal: Settings,
        tmp_path: Path) -> None:
    log = portal.data_dir / "server.log"
    workers, log_size = worker_pids(server_process.pid), log.stat().st_size
    assert len(workers) == 2, workers

    result = run_schemathesis(server, tmp_path)

    operations = result["operations"]
    assert operations["tested"] == operations["total"] > 100, operations
    assert result["errors"] == [], result["output"][-3000:]
    assert result["failures"] == [], result["output"][-6000:]  # with the reproducing curl
    assert result["test_cases"]["generated"] > 1000, result["test_cases"]
    assert worker_pids(server_process.pid) == workers, "a gunicorn worker was restarted"
    with log.open("rb") as fh:
        fh.seek(log_size)
        written = fh.read().decode("utf-8", errors="replace")
    for sign in ("WORKER TIMEOUT", "was sent SIG", "exited with code", "Traceback"):
        assert sign not in written, written[written.index(sign) - 1500:][:3000]
    assert requests.get(f"{server}/conformance?f=json", timeout=30).status_code == 200
