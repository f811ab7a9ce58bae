"""Fixtures of the catalogue tests: the real registry, a realistic published folder, a real CKAN."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from geoportal.publish import LayerMetadata, file_record
from geoportal.registry import Registry, load_registry
from geoportal.settings import PROJECT_ROOT
from tests.conftest import missing

BASE_URL = "https://geoportal.ratingen.example"
CKAN_BASE = Path(os.environ.get("GEOPORTAL_CKAN_BASE", "/tmp/geoportal-ckan"))
# Ratingen's extent in WGS84, as a build of a city-wide layer reports it.
RATINGEN_BBOX = [6.78, 51.26, 6.94, 51.34]


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(PROJECT_ROOT / "datasets")


def build_layer(published: Path, dataset_id: str, outputs: list[str], modified: str) -> None:
    """Write small output files and the metadata.json a pipeline build would write for them."""
    folder = published / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for fmt in outputs:
        path = folder / f"{dataset_id}.{fmt}"
        path.write_text(f"{dataset_id} as {fmt}\n" * 50, encoding="utf-8")
        records.append(file_record(path, fmt))
    metadata = LayerMetadata(
        id=dataset_id,
        built_at=modified,
        modified=modified,
        feature_count=1234,
        rejected_count=3,
        bbox_wgs84=RATINGEN_BBOX,
        bbox_native=[344000.0, 5682000.0, 356000.0, 5691000.0],
        crs_native="EPSG:25832",
        source_sha256="0" * 64,
        files=records,
    )
    (folder / "metadata.json").write_text(
        json.dumps(asdict(metadata), indent=2), encoding="utf-8"
    )


@pytest.fixture
def published(tmp_path: Path, registry: Registry) -> Path:
    """A published folder in which every registry dataset has been built."""
    root = tmp_path / "published"
    for dataset in registry:
        build_layer(root, dataset.id, list(dataset.outputs), "2026-11-20T08:00:00+00:00")
    return root


# ---------------------------------------------------------------------------------------------
# A real CKAN (../shared/ckan), started once per session


def _shared_dir() -> Path:
    return Path(os.environ.get("GEOPORTAL_SHARED", PROJECT_ROOT.parent / "shared"))


def _unavailable(reason: str) -> None:
    missing(f"no CKAN for integration tests: {reason}")


def _read_env(env_file: Path) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", f'source "{env_file}" && echo "$CKAN_URL" && echo "$CKAN_API_TOKEN"'],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    return {"CKAN_URL": out[0], "CKAN_API_TOKEN": out[1]}


def _alive(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/api/3/action/status_show", timeout=3).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def ckan() -> Iterator[dict[str, str]]:
    """CKAN_URL and CKAN_API_TOKEN of a running CKAN; started here (and stopped) if needed."""
    env_file = CKAN_BASE / "env.sh"
    started = False
    if not (env_file.exists() and _alive(_read_env(env_file)["CKAN_URL"])):
        script = _shared_dir() / "ckan" / "ckan-up.sh"
        if not script.exists():
            _unavailable(f"{script} not found (set GEOPORTAL_SHARED)")
        # Leftovers of an earlier run (a PostgreSQL still holding the port, stale PID files)
        # make ckan-up.sh fail; ckan-down.sh stops exactly what an earlier ckan-up.sh started.
        subprocess.run(["bash", str(script.with_name("ckan-down.sh")), str(CKAN_BASE)],
                       capture_output=True, check=False, timeout=120)
        proc = subprocess.run(
            ["bash", str(script), str(CKAN_BASE)], capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0 or not env_file.exists():
            _unavailable(f"ckan-up.sh failed ({proc.returncode}): {proc.stdout[-800:]}")
        started = True
    env = _read_env(env_file)
    if not _alive(env["CKAN_URL"]):
        _unavailable(f"CKAN at {env['CKAN_URL']} does not answer")
    yield env
    if started:
        subprocess.run(["bash", str(_shared_dir() / "ckan" / "ckan-down.sh"), str(CKAN_BASE)],
                       capture_output=True, check=False)


@pytest.fixture
def run_id() -> str:
    """A short unique id, so that reruns against the same CKAN never collide."""
    return uuid.uuid4().hex[:8]
