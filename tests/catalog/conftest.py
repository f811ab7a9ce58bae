"""Fixtures of the catalogue tests: the real registry, a realistic published folder, a real CKAN."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest

from catalog.vocab import SERVED_ONLY
from geoportal.core.publish import LayerMetadata, file_record
from geoportal.core.registry import Registry, load_registry
from geoportal.core.settings import PROJECT_ROOT

BASE_URL = "https://geoportal.ratingen.example"
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
        files = [fmt for fmt in dataset.outputs if fmt not in SERVED_ONLY]  # tiles are no files
        build_layer(root, dataset.id, files, "2026-11-20T08:00:00+00:00")
    return root


@pytest.fixture
def run_id() -> str:
    """A short unique id, so that reruns against the same CKAN never collide."""
    return uuid.uuid4().hex[:8]
